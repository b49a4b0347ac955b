#!/usr/bin/env python3
"""Master RSS during the full sync of a big stream (replication ships segment files from disk).

Starts a master (fresh temporary directory, 127.0.0.1, a free port), loads one stream of about
--mb megabytes (4 KB values, pipelined XADD), then starts a replica of it and samples the RSS of
both processes (/proc/PID/status VmRSS) every 50 ms until the replica reports its link up, with
a writer adding entries to the master during the transfer. Prints the master's RSS before and
its peak during the sync, the replica's peak, the payload size, the sync time and that both
streams have the same length.

usage: tests/bench/repl_sync_rss.py [--sluice build/release/sluice-server] [--mb 1024]
"""

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from sluice_harness import Server, wait_until  # noqa: E402


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def info(conn, section):
    out = {}
    for line in conn.call("INFO", section).decode().splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def mib(n):
    return f"{n / (1 << 20):.1f} MiB"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=None, help="sluice-server binary (default: harness's)")
    ap.add_argument("--mb", type=int, default=1024, help="stream size to load, in MB")
    args = ap.parse_args()
    master = Server("--stream-segment-bytes", "64mb", binary=args.sluice)
    try:
        m = master.conn()
        value = "x" * 4000
        entries = args.mb * 1_000_000 // 4100
        t0 = time.monotonic()
        for start in range(0, entries, 200):
            n = min(200, entries - start)
            m.pipeline(*[("XADD", "big", "*", "p", value) for _ in range(n)])
        load_s = time.monotonic() - t0
        disk = int(info(m, "streams")["stream_disk_bytes"])
        print(f"loaded {entries} entries, {mib(disk)} on disk, {load_s:.1f} s", flush=True)
        time.sleep(1)
        before = rss(master.pid)
        stop = threading.Event()
        writes = [0]

        def writer():
            w = master.conn()
            while not stop.is_set():
                w.call("XADD", "big", "*", "during", "sync")
                writes[0] += 1

        th = threading.Thread(target=writer, daemon=True)
        th.start()
        replica = Server("--replicaof", "127.0.0.1", master.port, binary=args.sluice)
        try:
            r = replica.conn()
            peak_m, peak_r = before, 0
            t1 = time.monotonic()
            while info(r, "replication").get("master_link_status") != "up":
                peak_m = max(peak_m, rss(master.pid))
                peak_r = max(peak_r, rss(replica.pid))
                time.sleep(0.05)
            sync_s = time.monotonic() - t1
            stop.set()
            th.join()
            m.call("WAIT", 1, 60000)
            wait_until(lambda: r.call("XLEN", "big") == m.call("XLEN", "big"), timeout=60)
            print(f"master RSS before the sync {mib(before)}, peak during it {mib(peak_m)} "
                  f"(+{mib(peak_m - before)})")
            print(f"replica RSS peak during the sync {mib(peak_r)}")
            print(f"sync took {sync_s:.1f} s for {mib(disk)}; {writes[0]} writes served meanwhile;"
                  f" XLEN equal: {r.call('XLEN', 'big')}")
        finally:
            replica.stop()
    finally:
        master.stop()


if __name__ == "__main__":
    main()
