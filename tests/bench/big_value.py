#!/usr/bin/python3
"""Big values against sluice-server and redis-server: how long one giant SET (or HSET, XADD)
takes, how another client's PINGs fare while it arrives, and the server's peak RSS.

For each server and size, in a fresh server with an empty directory:
  - a pinger process sends PING, waits for +PONG, and records each round trip, all the time;
  - the main process sends one command whose last argument is SIZE MiB (streamed with sendall
    from one buffer) and waits for its reply; that interval is the "total" time;
  - a sampler reads the server's VmRSS every 5 ms; "peak" is the server's VmHWM at the end,
    "base" its RSS before the command.
Then the value's length is checked (STRLEN / HSTRLEN / XLEN) and the server stopped.

    /usr/bin/python3 tests/bench/big_value.py                       # 64,256,512 MiB, both
    /usr/bin/python3 tests/bench/big_value.py --sizes 512 --servers sluice --repeat 3
    /usr/bin/python3 tests/bench/big_value.py --command hset --redis-aof

Servers: sluice-server as the integration tests find it ($SLUICE_SERVER or the newest
build/*/sluice-server) with its defaults (journal, appendfsync everysec); redis-server
($REDIS_SERVER or PATH) as the integration harness starts it (--save '' --appendonly no), or
with --redis-aof, with appendonly yes / appendfsync everysec (persistence closer to sluice's).
The machine is shared: run a few repeats and read the numbers as rough. Prints one line per run
and, with --json, the same as JSON lines.
"""

import argparse
import json
import multiprocessing
import os
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from sluice_harness import Server, raw_command  # noqa: E402


def rss_kib(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pinger(port, ready, stop, out):
    """Sends PING after PING until `stop` is set; puts (start, round trip) pairs (seconds,
    perf_counter, which is CLOCK_MONOTONIC and so comparable across processes) in `out`."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    ready.set()
    buf = b""
    while not stop.is_set():
        t0 = time.perf_counter()
        s.sendall(b"PING\r\n")
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                out.put(samples)
                return
            buf += chunk
        samples.append((t0, time.perf_counter() - t0))
        buf = buf[buf.index(b"\r\n") + 2:]
    s.close()
    out.put(samples)


def command_head(command, size):
    """RESP for the command up to the big argument's bytes, and what follows them."""
    if command == "set":
        args = [b"SET", b"big"]
    elif command == "hset":
        args = [b"HSET", b"bighash", b"field"]
    else:
        args = [b"XADD", b"bigstream", b"*", b"field"]
    head = b"*%d\r\n" % (len(args) + 1)
    for a in args:
        head += b"$%d\r\n%s\r\n" % (len(a), a)
    return head + b"$%d\r\n" % size


def check_value(s, command, size):
    if command == "set":
        reply = raw_command(s, "STRLEN", "big")
        return reply == b":%d\r\n" % size
    if command == "hset":
        return raw_command(s, "HSTRLEN", "bighash", "field") == b":%d\r\n" % size
    return raw_command(s, "XLEN", "bigstream") == b":1\r\n"


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def run_one(kind, size_mib, payload, args):
    extra = []
    if kind == "redis":
        extra = []
        if args.redis_aof:
            extra += ["--appendonly", "yes", "--appendfsync", "everysec"]
        srv = Server(*extra, redis=True, ready_timeout=30)
    else:
        srv = Server(*args.sluice_arg, ready_timeout=60)
    try:
        pid = srv.pid
        base = rss_kib(pid)
        ctx = multiprocessing.get_context("fork")
        ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
        p = ctx.Process(target=pinger, args=(srv.port, ready, stop, out))
        p.start()
        ready.wait(10)
        time.sleep(0.2)  # the pinger's first round trips are before the command

        samples = []
        sampling = True

        def sample():
            while sampling:
                samples.append((time.perf_counter(), rss_kib(pid)))
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        size = size_mib << 20
        s = socket.create_connection(("127.0.0.1", srv.port))
        t0 = time.perf_counter()
        s.sendall(command_head(args.command, size))
        s.sendall(memoryview(payload)[:size])
        s.sendall(b"\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        t1 = time.perf_counter()
        total = t1 - t0
        stop.set()
        # Round trips that overlap the command's interval (a PING sent before it but answered
        # during it counts too).
        window = [(start, rt) for start, rt in out.get(timeout=60)
                  if start + rt >= t0 and start <= t1]
        lat = sorted(rt for _, rt in window)
        if args.slow_ms:
            for start, rt in window:
                if rt * 1e3 >= args.slow_ms:
                    print(f"    slow PING at +{(start - t0) * 1e3:8.1f} ms: {rt * 1e3:8.1f} ms")
        p.join()
        sampling = False
        sampler.join()
        ok = reply[:1] in (b"+", b":", b"$") and check_value(s, args.command, size)
        peak = rss_kib(pid, "VmHWM")
        s.close()
        srv.stop(check=False)
        return {
            "server": kind, "command": args.command, "size_mib": size_mib, "ok": ok,
            "reply": reply[:60].decode(errors="replace").strip(), "total_s": round(total, 3),
            "pings": len(lat), "ping_p50_ms": round(percentile(lat, 50) * 1e3, 3),
            "ping_p99_ms": round(percentile(lat, 99) * 1e3, 3),
            "ping_max_ms": round((lat[-1] if lat else float("nan")) * 1e3, 3),
            "base_rss_mib": round(base / 1024, 1), "peak_rss_mib": round(peak / 1024, 1),
        }
    finally:
        srv.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="64,256,512", help="MiB, comma separated")
    ap.add_argument("--servers", default="sluice,redis")
    ap.add_argument("--command", choices=["set", "hset", "xadd"], default="set")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--redis-aof", action="store_true",
                    help="redis-server with appendonly yes, appendfsync everysec")
    ap.add_argument("--sluice-arg", action="append", default=[],
                    help="extra sluice-server argument (repeatable)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--slow-ms", type=float, default=0,
                    help="also list the PINGs slower than this, with when they started")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    payload = bytes(b"x") * (max(sizes) << 20)
    print(f"{'server':7} {'cmd':5} {'MiB':>4} {'total s':>8} {'pings':>6} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8} {'base MiB':>9} {'peak MiB':>9}  ok")
    for size in sizes:
        for _ in range(args.repeat):
            for kind in args.servers.split(","):
                r = run_one(kind, size, payload, args)
                print(f"{r['server']:7} {r['command']:5} {size:>4} {r['total_s']:>8.2f} "
                      f"{r['pings']:>6} {r['ping_p50_ms']:>8.3f} {r['ping_p99_ms']:>8.3f} "
                      f"{r['ping_max_ms']:>8.1f} {r['base_rss_mib']:>9.1f} "
                      f"{r['peak_rss_mib']:>9.1f}  {'ok' if r['ok'] else 'FAILED ' + r['reply']}",
                      flush=True)
                if args.json:
                    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
