#!/usr/bin/env python3
"""BullMQ end to end (npm `bullmq`, installed on first use under build/npm-cache): adds plain,
delayed and retried jobs and a Worker processes them, against a fresh sluice-server.

Not a ctest entry yet: BullMQ's scripts also use lists, sets and sorted sets, which are built on
other branches; run it by hand once those are merged:

    SLUICE_SERVER=build/dev/sluice-server /usr/bin/python3 tests/integration/run_bullmq.py
"""

import json
import sys

from node_modules import run_node
from sluice_harness import Server


def main():
    with Server() as srv:
        out = json.loads(run_node("bullmq_e2e.js", srv.port, packages=["bullmq@5"], timeout=300))
    print(json.dumps(out, indent=2))
    names = [d["name"] for d in out["done"]]
    ok = (names == ["delayed", "plain", "retried"] and out["counts"]["completed"] == 3 and
          out["counts"]["failed"] == 0 and
          next(d for d in out["done"] if d["name"] == "retried")["attemptsMade"] >= 2)
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
