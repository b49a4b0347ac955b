"""ioredis (npm, pinned in frameworks/node/package-lock.json, installed by scripts/npm-deps.sh)
running Lua scripts registered with defineCommand: EVALSHA with the NOSCRIPT fallback to EVAL,
pipelines, script errors."""

import json

from node_modules import run_node
from sluice_harness import *  # noqa: F401,F403


@test(timeout=120)
def ioredis_define_command_runs_a_rate_limiter_script():
    srv = shared_server()
    out = json.loads(run_node("ioredis_define_command.js", srv.port, packages=["ioredis"]))
    assert_eq(out["allowed"], [[1, 1], [1, 2], [1, 3], [0, 4], [0, 5]])
    assert_eq(out["ttlSet"], True)
    assert_eq(out["pipeline"], [[1, 1], [0, 2]])
    assert_eq(out["error"], "LIMIT exceeded")
    assert_eq(out["afterFlush"], [1, 1])


if __name__ == "__main__":
    main()
