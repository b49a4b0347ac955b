#!/usr/bin/env python3
"""Sorted sets, Sluice next to redis-server 7.0 on the same machine (a measurement, not a test).

    tests/bench/zset_bench.py rss [--members 1000000]
        RSS of one sorted set of N members ("member:<n>", random scores), loaded with pipelined
        ZADDs of 1000 members each: the server's RSS after the load minus before, per member.
    tests/bench/zset_bench.py throughput [--rounds 3] [--requests 300000]
        redis-benchmark -c 50 -P 16 -r 100000 -d 100 -t zadd, then -t zpopmin on the same server
        (the `types` workloads of shared/bench/compare), rounds interleaved reference/candidate,
        server pinned to CPU 0 and the load to CPU 1; ops/s and server cpu us/op per round.

Both sides start fresh in temporary directories: redis-server with appendonly yes, appendfsync
everysec (compare's reference), sluice-server with appendfsync everysec. SLUICE_SERVER selects
the binary (default: the newest build/*/sluice-server).
"""

import argparse
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from sluice_harness import free_port, server_binary  # noqa: E402


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


class Side:
    def __init__(self, name, argv_fn, cpus):
        self.name, self.argv_fn, self.cpus = name, argv_fn, cpus

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix=f"zset-bench-{self.name}-")
        self.port = free_port()
        argv = ["taskset", "-c", self.cpus] + self.argv_fn(self.port, self.dir)
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def redis_argv(port, d):
    return ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", d,
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
            "--logfile", ""]


def sluice_argv(port, d):
    return [os.environ.get("SLUICE_SERVER") or server_binary(), "--port", str(port), "--dir", d,
            "--appendfsync", "everysec"]


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def load_zset(port, members, batch=1000):
    rng = random.Random(1)
    with socket.create_connection(("127.0.0.1", port)) as s:
        sent = 0
        for start in range(0, members, batch):
            args = ["ZADD", "bench:zset"]
            for n in range(start, min(start + batch, members)):
                args += [repr(rng.random() * 1e6), f"member:{n}"]
            s.sendall(encode(*args))
            sent += 1
        got = b""
        while got.count(b"\r\n") < sent:
            got += s.recv(1 << 16)
        s.sendall(encode("ZCARD", "bench:zset"))
        reply = s.recv(64)
    return int(reply[1:].split(b"\r\n")[0])


def cmd_rss(args):
    print(f"one sorted set of {args.members:,} members ('member:<n>', random scores)")
    for name, argv in (("redis-server", redis_argv), ("sluice-server", sluice_argv)):
        with Side(name, argv, "0") as side:
            time.sleep(0.3)
            before = rss_bytes(side.proc.pid)
            card = load_zset(side.port, args.members)
            time.sleep(0.5)
            after = min(rss_bytes(side.proc.pid) for _ in range(5) if not time.sleep(0.1))
            grown = after - before
            print(f"  {name:14} ZCARD {card:,}  RSS {after / 2**20:8.1f} MiB  "
                  f"(+{grown / 2**20:7.1f} MiB)  {grown / args.members:6.1f} bytes/member")


def bench_round(side, test, requests):
    cpu0 = cpu_seconds(side.proc.pid)
    out = subprocess.run(["taskset", "-c", "1", "redis-benchmark", "-p", str(side.port), "-c",
                          "50", "-P", "16", "-r", "100000", "-d", "100", "-n", str(requests),
                          "-t", test, "-q"], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(side.proc.pid) - cpu0
    m = re.findall(r"([\d.]+) requests per second", out)
    if not m:
        raise RuntimeError(f"redis-benchmark said: {out!r}")
    rate = float(m[-1])
    return rate, cpu / requests * 1e6


def cmd_throughput(args):
    results = {}
    for r in range(args.rounds):
        for name, argv in (("redis-server", redis_argv), ("sluice-server", sluice_argv)):
            with Side(name, argv, "0") as side:
                for test in ("zadd", "zpopmin"):
                    rate, us = bench_round(side, test, args.requests)
                    results.setdefault((test, name), []).append((rate, us))
                    print(f"  round {r + 1} {name:14} {test:8} {rate:12,.0f} ops/s "
                          f"{us:6.2f} server cpu us/op", flush=True)
    print("median over rounds (ratio = sluice / redis; cpu ratio < 1 is better)")
    for test in ("zadd", "zpopmin"):
        ref = results[(test, "redis-server")]
        cand = results[(test, "sluice-server")]
        rr, cr = statistics.median(x for x, _ in ref), statistics.median(x for x, _ in cand)
        ru, cu = statistics.median(u for _, u in ref), statistics.median(u for _, u in cand)
        spread = (max(x for x, _ in cand) - min(x for x, _ in cand)) / cr * 50
        print(f"  {test:8} redis {rr:12,.0f}/s {ru:5.2f} us/op   sluice {cr:12,.0f}/s "
              f"{cu:5.2f} us/op   ratio {cr / rr:4.2f}x (±{spread:.0f}%)  cpu {cu / ru:4.2f}x")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("rss")
    a.add_argument("--members", type=int, default=1_000_000)
    b = sub.add_parser("throughput")
    b.add_argument("--rounds", type=int, default=3)
    b.add_argument("--requests", type=int, default=300_000)
    args = p.parse_args()
    {"rss": cmd_rss, "throughput": cmd_throughput}[args.cmd](args)


if __name__ == "__main__":
    main()
