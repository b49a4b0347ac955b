#!/usr/bin/env python3
"""A candidate wrapper for ../shared/bench/compare: the master it measures gets a replica.

    compare --only xadd-p16 --quick --candidate \
      "tests/bench/with_replica.py --lag-file /tmp/lag.jsonl build/release/sluice-server \
       --port {port} --dir {dir} --appendfsync everysec"

Starts a replica (same binary, a free port, its data in `<dir>.replica`, `--replicaof
127.0.0.1 <port>`, allowed on every CPU) and a sampler, then execs the master command line (so compare watches the
master's PID). Every 100 ms the sampler reads the master's master_repl_offset and the replica's
slave_repl_offset and appends `{"t": seconds, "master": offset, "replica": offset}` lines to
the lag file (with the sampler's PID as `run`); when the master is gone it stops the replica
and removes its directory.

    tests/bench/with_replica.py --report /tmp/lag.jsonl

prints the lag while the master's offset moved, once the replica's full sync is done: in bytes (master - replica at each sample) and
in seconds (from a sample until the replica's offset reached the master's offset of that
sample), max and p99.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Info:
    """A connection that asks INFO replication and reads one field."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=1)

    def ask(self):
        self.sock.sendall(b"*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n")

    def read(self, field):
        data = b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("closed")
            data += chunk
            head, _, body = data.partition(b"\r\n")
            if head.startswith(b"$") and len(body) >= int(head[1:]) + 2:
                break
        for line in data.decode(errors="replace").splitlines():
            if line.startswith(field + ":"):
                return int(line.split(":", 1)[1])
        return None


def sample(master_port, replica_port, lag_file, replica_pid, replica_dir):
    misses = 0
    sampled = False
    t0 = time.monotonic()
    conns = None
    run = os.getpid()
    with open(lag_file, "a") as out:
        # Until the first sample the servers may still be starting; after it, the master gone
        # (compare stopped it) ends the run at once, before a next master takes its port.
        while misses < (1 if sampled else 30):
            time.sleep(0.1)
            try:
                if conns is None:
                    conns = (Info(replica_port), Info(master_port))
                # The replica is asked first: the lag read is an upper bound.
                conns[0].ask()
                conns[1].ask()
                r = conns[0].read("slave_repl_offset")
                m = conns[1].read("master_repl_offset")
            except OSError:
                conns = None
                misses += 1
                continue
            misses = 0
            if m is not None and r is not None:
                sampled = True
                out.write(json.dumps({"run": run, "t": round(time.monotonic() - t0, 3),
                                      "master": m, "replica": r}) + "\n")
                out.flush()
    try:
        os.kill(replica_pid, 15)
        time.sleep(1)
        os.kill(replica_pid, 9)
    except ProcessLookupError:
        pass
    shutil.rmtree(replica_dir, ignore_errors=True)


def percentile(values, p):
    if not values:
        return 0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def report(lag_file):
    runs = {}
    for line in open(lag_file):
        row = json.loads(line)
        runs.setdefault(row["run"], []).append(row)
    lag_bytes, lag_s = [], []
    for rows in runs.values():
        # From the first sample where the replica had caught up (its full sync is done).
        first = next((i for i, r in enumerate(rows) if r["master"] > 0 and
                      r["replica"] >= r["master"]), len(rows))
        for i in range(first + 1, len(rows)):
            row = rows[i]
            if row["master"] == rows[i - 1]["master"]:
                continue  # the master was idle: nothing to lag behind
            lag_bytes.append(row["master"] - row["replica"])
            caught = next((r["t"] for r in rows[i:] if r["replica"] >= row["master"]), None)
            if caught is not None:
                lag_s.append(caught - row["t"])
    print(f"runs {len(runs)}, samples while writing {len(lag_bytes)}")
    print(f"lag bytes: max {max(lag_bytes, default=0)}, p99 {percentile(lag_bytes, 99)}")
    print(f"lag seconds (100 ms resolution): max {max(lag_s, default=0):.2f}, "
          f"p99 {percentile(lag_s, 99):.2f}")


def main():
    args = sys.argv[1:]
    if args[:1] == ["--report"]:
        return report(args[1])
    if args[:1] != ["--lag-file"]:
        sys.exit(__doc__)
    lag_file, master = args[1], args[2:]
    port = int(master[master.index("--port") + 1])
    data_dir = master[master.index("--dir") + 1].rstrip("/")
    replica_dir = data_dir + ".replica"
    os.makedirs(replica_dir, exist_ok=True)
    replica_port = free_port()
    replica = subprocess.Popen(
        [master[0], "--port", str(replica_port), "--dir", replica_dir, "--replicaof",
         "127.0.0.1", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
        # compare pins the master (and so this wrapper) to its server CPUs: the replica may
        # run on any CPU, as a replica on another machine would not take the master's.
        preexec_fn=lambda: os.sched_setaffinity(0, range(os.cpu_count())))
    if os.fork() == 0:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)  # compare may wait for the server's output to close
        sample(port, replica_port, lag_file, replica.pid, replica_dir)
        os._exit(0)
    os.execv(master[0], master)


if __name__ == "__main__":
    main()
