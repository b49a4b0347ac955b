"""Runs one example against a fresh sluice-server and checks its summary line.

usage: run_example.py --expect REGEX [--restart-on REGEX] -- EXAMPLE ARGS...

'{port}' in the example's arguments becomes the server's port. With --restart-on, the server
is restarted (SIGTERM, then started again on the same port and directory) the first time an
output line matches. Passes when the example exits 0, a line matches --expect, and the server
shuts down cleanly. Used by examples/CMakeLists.txt; SLUICE_SERVER names the server binary.
"""

import argparse
import re
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sluice_harness import Server  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--expect", required=True)
    parser.add_argument("--restart-on")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    opts = parser.parse_args()
    command = opts.command[1:] if opts.command[:1] == ["--"] else opts.command
    if not command:
        parser.error("no example command given")

    srv = Server()
    try:
        argv = [a.replace("{port}", str(srv.port)) for a in command]
        print("$ " + " ".join(argv), flush=True)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        timer = threading.Timer(opts.timeout, proc.kill)
        timer.start()
        restarted = False
        matched = False
        for line in proc.stdout:
            line = line.rstrip("\n")
            print(line, flush=True)
            if opts.restart_on and not restarted and re.search(opts.restart_on, line):
                print(f"--- restarting the server on port {srv.port}", flush=True)
                srv.restart()
                restarted = True
            if re.search(opts.expect, line):
                matched = True
        code = proc.wait()
        timer.cancel()
        srv.stop()
    finally:
        srv.cleanup()
    problems = []
    if code != 0:
        problems.append(f"example exited with status {code}")
    if not matched:
        problems.append(f"no output line matched {opts.expect!r}")
    if opts.restart_on and not restarted:
        problems.append(f"no output line matched --restart-on {opts.restart_on!r}")
    for p in problems:
        print(f"FAIL: {p}", flush=True)
    print("PASS" if not problems else "FAILED", flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
