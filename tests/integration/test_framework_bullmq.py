"""BullMQ (npm `bullmq`, on ioredis) runs unchanged against Sluice: a Worker processes plain,
delayed, retried and failing jobs added by a Queue, with QueueEvents streaming the outcomes
(frameworks/node/bullmq_check.js holds the checks). BullMQ does nearly everything through Lua
scripts (EVALSHA, with cmsgpack and cjson) over lists, sorted sets, hashes and streams.
scripts/npm-deps.sh installs the package into build/node (the test command runs it).

SLUICE_FW_REFERENCE=1 runs the same test against redis-server (to check the test itself)."""

import json
import os

from node_modules import run_node
from sluice_harness import Server, assert_eq, main, test


@test(timeout=120)
def bullmq_worker_processes_plain_delayed_retried_and_failing_jobs():
    with Server(redis=os.environ.get("SLUICE_FW_REFERENCE") == "1") as srv:
        out = run_node("bullmq_check.js", srv.port, packages=["bullmq"], timeout=90)
        summary = json.loads(out.strip().splitlines()[-1])
        assert_eq(summary["counts"]["completed"], 22)
        print(out.strip())


if __name__ == "__main__":
    main()
