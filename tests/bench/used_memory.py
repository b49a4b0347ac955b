#!/usr/bin/env python3
"""INFO used_memory of sluice-server and redis-server for the same key-value dataset.

Starts each server fresh (harness Server: temporary directory, 127.0.0.1), reads used_memory,
loads N keys in pipelined batches, reads it again and prints the growth per key and the ratio
sluice/redis. Datasets:
  strings  SET key:<n> <100-byte value>
  small    SET key:<n> <n> (integers)
  hashes   HSET h:<n> with 5 fields of 20-byte values

usage: tests/bench/used_memory.py [--sluice build/release/sluice-server] [--n 100000]
                                  [--kinds strings,small,hashes]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from sluice_harness import Server  # noqa: E402


def load(r, kind, n):
    for start in range(0, n, 1000):
        p = r.pipeline(transaction=False)
        for i in range(start, min(n, start + 1000)):
            if kind == "strings":
                p.set(f"key:{i}", (f"value:{i}:").ljust(100, "v"))
            elif kind == "small":
                p.set(f"key:{i}", i)
            else:
                p.hset(f"h:{i}", mapping={f"field{j}": f"{i}:{j}".ljust(20, "v") for j in range(5)})
        p.execute()


def growth(srv, kind, n):
    r = srv.client()
    before = r.info("memory")["used_memory"]
    load(r, kind, n)
    after = r.info("memory")["used_memory"]
    r.close()
    return after - before


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", help="sluice-server binary (default: the harness's choice)")
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--kinds", default="strings,small,hashes")
    args = ap.parse_args()
    print(f"{'dataset':10} {'sluice B/key':>13} {'redis B/key':>12} {'ratio':>6}")
    for kind in args.kinds.split(","):
        with Server(binary=args.sluice) as s:
            ours = growth(s, kind, args.n)
        with Server(redis=True) as rs:
            theirs = growth(rs, kind, args.n)
        print(f"{kind:10} {ours / args.n:13.1f} {theirs / args.n:12.1f} {ours / theirs:6.2f}")


if __name__ == "__main__":
    main()
