"""Cold replay while another connection runs GETs: what a replay of history that is not in the
page cache costs the other clients of the loop (broker/commands/cold_read.h).

    /usr/bin/python3 tests/bench/cold_replay.py --binary build/release/sluice-server \\
        --dir /tmp/cold-replay --fill-gb 2 [--binary other/sluice-server ...]

Fills (once, when --dir holds no data yet) one stream with entries of ~1 KiB with explicit IDs
1-1, 2-1, ..., then for each binary: starts it on --dir, drops the page cache
(`sync; echo 3 > /proc/sys/vm/drop_caches`, as root), replays the stream with XRANGE pages of
--count entries on one connection while a second process sends a GET every --get-interval-ms on
another (or, when a reply comes later, as soon as it came),
and prints the GET latency percentiles and the replay time. Stdlib only; the replay reader knows
each page's exact size (fixed-size entries), so it parses nothing."""

import argparse
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import time

VALUE = b"x" * 1000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def recv_exact(sock, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        r = sock.recv_into(view[got:], n - got)
        if r == 0:
            raise ConnectionError("server closed the connection")
        got += r
    return bytes(buf)


def recv_line(sock):
    out = b""
    while not out.endswith(b"\r\n"):
        out += sock.recv(1)
    return out


def entry_bytes(i):
    ident = b"%d-1" % i
    return len(b"*2\r\n$%d\r\n%s\r\n*2\r\n$1\r\nf\r\n$%d\r\n%s\r\n" %
               (len(ident), ident, len(VALUE), VALUE))


def start(binary, data_dir, port, realtime=False):
    log = open(os.path.join(os.path.dirname(data_dir.rstrip("/")), f"server-{port}.log"), "w")
    prefix = ["chrt", "-f", "20"] if realtime else []
    proc = subprocess.Popen(prefix + [binary, "--port", str(port), "--dir", data_dir,
                                      "--appendfsync", "everysec"],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 600  # recovery of a big directory may take a while
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(encode("PING"))
                if recv_line(s).startswith(b"+PONG"):
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def fill(port, entries):
    with socket.create_connection(("127.0.0.1", port)) as s:
        replies = s.makefile("rb")
        batch = 2000
        for first in range(1, entries + 1, batch):
            last = min(entries, first + batch - 1)
            s.sendall(b"".join(encode("XADD", "cold", f"{i}-1", "f", VALUE)
                               for i in range(first, last + 1)))
            for _ in range(first, last + 1):
                line = replies.readline()
                if not line.startswith(b"$"):
                    raise RuntimeError(f"XADD failed: {line!r}")
                replies.readline()
        s.sendall(encode("SET", "k", "v"))
        replies.readline()


def get_loop(port, stop_path, out_path, realtime, interval):
    if realtime:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(20))
    lat = []
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        req = encode("GET", "k")
        due = time.perf_counter()
        while not os.path.exists(stop_path):
            t0 = time.perf_counter()
            s.sendall(req)
            recv_exact(s, len(b"$1\r\nv\r\n"))
            done = time.perf_counter()
            lat.append(done - t0)
            due = max(due + interval, done)
            time.sleep(max(0.0, due - done))
    with open(out_path, "w") as f:
        f.write("\n".join(f"{x:.9f}" for x in lat))


def replay(port, entries, count):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for first in range(1, entries + 1, count):
            last = min(entries, first + count - 1)
            s.sendall(encode("XRANGE", "cold", f"{first}-1", f"{last}-1"))
            header = b"*%d\r\n" % (last - first + 1)
            size = len(header) + sum(entry_bytes(i) for i in range(first, last + 1))
            page = recv_exact(s, size)
            if not page.startswith(header):
                raise RuntimeError(f"unexpected page at {first}: {page[:60]!r}")


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def measure(binary, data_dir, entries, count, realtime, interval):
    port = free_port()
    proc = start(binary, data_dir, port, realtime)
    try:
        drop_caches()
        tmp = os.path.dirname(data_dir.rstrip("/"))
        stop_path = os.path.join(tmp, "stop")
        out_path = os.path.join(tmp, "lat")
        if os.path.exists(stop_path):
            os.unlink(stop_path)
        getter = multiprocessing.Process(target=get_loop,
                                         args=(port, stop_path, out_path, realtime, interval))
        getter.start()
        time.sleep(0.5)
        t0 = time.time()
        replay(port, entries, count)
        took = time.time() - t0
        open(stop_path, "w").close()
        getter.join()
        lat = sorted(float(x) for x in open(out_path).read().split())
        ms = lambda v: v * 1000  # noqa: E731
        mode = " (SCHED_FIFO)" if realtime else ""
        print(f"{binary}{mode}: replay of {entries} entries in {took:.1f} s; GET n={len(lat)} "
              f"p50={ms(percentile(lat, 0.50)):.3f} ms p99={ms(percentile(lat, 0.99)):.3f} ms "
              f"p99.9={ms(percentile(lat, 0.999)):.3f} ms max={ms(lat[-1]):.3f} ms", flush=True)
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", action="append", required=True)
    ap.add_argument("--dir", required=True, help="parent directory (its data/ is kept)")
    ap.add_argument("--fill-gb", type=float, default=2.0)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--remove", action="store_true", help="delete --dir at the end")
    ap.add_argument("--get-interval-ms", type=float, default=0.5,
                    help="a GET is sent this long after the previous one was sent (or at once "
                         "when its reply came later)")
    ap.add_argument("--realtime", action="store_true",
                    help="run the server and the GET loop under SCHED_FIFO, so that other "
                         "programs' CPU use does not show as GET latency (a busy machine)")
    args = ap.parse_args()
    data_dir = os.path.join(args.dir, "data")
    entries = int(args.fill_gb * (1 << 30) / entry_bytes(10 ** 6))
    if not os.path.isdir(data_dir):
        os.makedirs(data_dir)
        port = free_port()
        proc = start(args.binary[0], data_dir, port)
        t0 = time.time()
        fill(port, entries)
        print(f"filled {entries} entries in {time.time() - t0:.0f} s", flush=True)
        proc.terminate()
        proc.wait()
    for _ in range(args.rounds):
        for binary in args.binary:
            measure(binary, data_dir, entries, args.count, args.realtime,
                    args.get_interval_ms / 1000)
    if args.remove:
        shutil.rmtree(args.dir)


if __name__ == "__main__":
    sys.exit(main())
