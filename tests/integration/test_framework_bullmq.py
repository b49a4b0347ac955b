"""BullMQ (npm `bullmq`, on ioredis) runs unchanged against Sluice: a Worker processes plain,
delayed, retried and failing jobs added by a Queue, with QueueEvents streaming the outcomes
(frameworks/node/bullmq_check.js holds the checks). BullMQ does nearly everything through Lua
scripts (EVALSHA, with cmsgpack and cjson) over lists, sorted sets, hashes and streams.
scripts/npm-deps.sh installs the package into build/node (the test command runs it).

SLUICE_FW_REFERENCE=1 runs the same test against redis-server (to check the test itself)."""

import os
import subprocess

from sluice_harness import REPO_ROOT, Server, assert_eq, main, test

NODE_MODULES = REPO_ROOT / "build" / "node" / "node_modules"
CHECK = REPO_ROOT / "tests" / "integration" / "frameworks" / "node" / "bullmq_check.js"


@test(timeout=120)
def bullmq_worker_processes_plain_delayed_retried_and_failing_jobs():
    if not (NODE_MODULES / "bullmq").is_dir():
        raise AssertionError(f"bullmq is not installed in {NODE_MODULES}: run scripts/npm-deps.sh")
    with Server(redis=os.environ.get("SLUICE_FW_REFERENCE") == "1") as srv:
        proc = subprocess.run(["node", str(CHECK), str(srv.port)], capture_output=True, text=True,
                              timeout=90, env=dict(os.environ, NODE_PATH=str(NODE_MODULES)))
        assert_eq(proc.returncode, 0, f"bullmq check failed:\n{proc.stdout}\n{proc.stderr}")
        print(proc.stdout.strip())


if __name__ == "__main__":
    main()
