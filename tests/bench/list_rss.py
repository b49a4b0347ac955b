#!/usr/bin/env python3
"""RSS of one list with 1M elements in sluice-server and in redis-server, side by side.

Starts each server fresh (own temporary directory, 127.0.0.1, a free port), reads its RSS
(/proc/PID/status VmRSS), RPUSHes the elements in pipelined batches of 1000, waits for the
reading to settle, and prints RSS before, after, per element, and the ratio. Kinds of elements:
  short    10-20 byte strings ("item:000042" plus 0-9 more bytes)
  long     100-byte strings
  numbers  integers of 1-9 digits (job ids: both servers store them as integers)

usage: tests/bench/list_rss.py [--sluice build/release/sluice-server] [--n 1000000]
                               [--kinds short,long,numbers]
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from resp_codec import encode_command  # noqa: E402
from sluice_harness import read_reply  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def elements(kind, start, count):
    if kind == "short":
        return [(b"item:%06d" % i) + b"x" * (i % 10) for i in range(start, start + count)]
    if kind == "long":
        return [(b"item:%06d:" % i).ljust(100, b"v") for i in range(start, start + count)]
    return [b"%d" % ((i * 7919) % 1000000000) for i in range(start, start + count)]


def start(cmd, port):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(encode_command("PING"))
            if read_reply(s, 2) == b"+PONG\r\n":
                return proc, s
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"server did not start: {cmd}")


def settle(pid):
    """The smallest of a few readings once the load is done (allocator and kernel settle)."""
    time.sleep(0.3)
    return min(rss(pid) for _ in range(5) if time.sleep(0.1) is None)


def measure(name, cmd_for, kind, n):
    port = free_port()
    tmp = tempfile.mkdtemp(prefix=f"list-rss-{name}-")
    proc, s = start(cmd_for(port, tmp), port)
    try:
        before = settle(proc.pid)
        batch, pending = 1000, 0
        for i in range(0, n, batch):
            s.sendall(encode_command("RPUSH", "biglist", *elements(kind, i, min(batch, n - i))))
            pending += 1
            if pending == 32:
                for _ in range(pending):
                    read_reply(s, 30)
                pending = 0
        for _ in range(pending):
            read_reply(s, 30)
        s.sendall(encode_command("LLEN", "biglist"))
        assert read_reply(s, 30) == b":%d\r\n" % n
        after = settle(proc.pid)
        return before, after
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    root = Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sluice", default=str(root / "build/release/sluice-server"))
    ap.add_argument("--redis", default=shutil.which("redis-server") or "/usr/bin/redis-server")
    ap.add_argument("--n", type=int, default=1000000)
    ap.add_argument("--kinds", default="short,long,numbers")
    args = ap.parse_args()
    servers = {
        "redis-server": lambda port, d: [args.redis, "--port", str(port), "--bind", "127.0.0.1",
                                         "--dir", d, "--save", "", "--appendonly", "yes",
                                         "--appendfsync", "everysec", "--logfile", ""],
        "sluice-server": lambda port, d: [args.sluice, "--port", str(port), "--dir", d,
                                          "--appendfsync", "everysec"],
    }
    print(f"{'elements':8} {'server':14} {'RSS before':>11} {'RSS after':>11} {'bytes/elem':>11}")
    for kind in args.kinds.split(","):
        after = {}
        for name, cmd_for in servers.items():
            b, a = measure(name, cmd_for, kind, args.n)
            after[name] = a
            print(f"{kind:8} {name:14} {b / 1e6:9.1f}MB {a / 1e6:9.1f}MB {(a - b) / args.n:11.1f}")
        print(f"{kind:8} {'ratio':14} {'':11} {after['sluice-server'] / after['redis-server']:10.2f}x"
              f" (RSS after, sluice / redis)")


if __name__ == "__main__":
    main()
