#!/usr/bin/env python3
"""redis-cli's operations modes against Sluice (issue #14 item 8): --bigkeys and --scan give
redis-server's output on the same data, --memkeys and --hotkeys (under allkeys-lfu) find the
keys that are biggest and hottest, --stat and --latency print their reports."""

import re
import subprocess

from sluice_harness import Server, assert_eq, assert_true, main, shared_server, test


def load(c):
    c.flushall()
    c.mset({"user:1": "a", "user:2": "bb", "user:300": "x" * 300, "other": "o"})
    c.rpush("biglist", *range(40))
    c.rpush("smalllist", 1, 2)
    c.hset("hash", mapping={f"f{i}": i for i in range(12)})
    c.sadd("set", *[f"m{i}" for i in range(7)])
    c.zadd("zset", {f"z{i}": i for i in range(9)})
    c.zadd("bigzset", {f"m{i}": i for i in range(200)})
    for i in range(6):
        c.xadd("stream", {"i": str(i)})


def cli(server, *args, timeout=30):
    return subprocess.run(["redis-cli", "-p", str(server.port), *args], capture_output=True,
                          text=True, timeout=timeout).stdout


def summary(text):
    """The lines after "-------- summary -------" (the scan-order progress lines differ)."""
    return text.split("-------- summary -------", 1)[1].strip().splitlines()


@test
def bigkeys_reports_what_redis_reports():
    with Server(redis=True) as redis, Server() as srv:
        for s in (redis, srv):
            load(s.client())
        want, got = summary(cli(redis, "--bigkeys")), summary(cli(srv, "--bigkeys"))
    assert_eq(got, want)
    assert_true("Biggest string found '\"user:300\"' has 300 bytes" in got, got)
    assert_true("Biggest   zset found '\"bigzset\"' has 200 members" in got, got)


@test
def scan_with_a_pattern_lists_the_matching_keys():
    with Server(redis=True) as redis, Server() as srv:
        for s in (redis, srv):
            load(s.client())
        want = sorted(cli(redis, "--scan", "--pattern", "user:*").split())
        got = sorted(cli(srv, "--scan", "--pattern", "user:*").split())
        assert_eq(got, want)
        assert_eq(got, ["user:1", "user:2", "user:300"])
        assert_eq(sorted(cli(srv, "--scan").split()), sorted(cli(redis, "--scan").split()))


@test
def memkeys_finds_the_biggest_key_of_each_type():
    srv = shared_server()
    load(srv.client())
    out = summary(cli(srv, "--memkeys"))
    biggest = {m.group(1): m.group(2) for m in
               (re.match(r"Biggest\s+(\w+) found '\"([^\"]+)\"' has \d+ bytes", line)
                for line in out) if m}
    assert_eq(biggest, {"string": "user:300", "list": "biglist", "hash": "hash", "set": "set",
                        "zset": "bigzset", "stream": "stream"})
    assert_true(any(line.startswith("Sampled 11 keys") for line in out), out)


@test
def hotkeys_under_allkeys_lfu_finds_the_key_read_most():
    with Server("--maxmemory-policy", "allkeys-lfu") as srv:
        c = srv.client()
        load(c)
        for _ in range(300):
            c.get("user:2")
        for _ in range(30):
            c.get("other")
        out = summary(cli(srv, "--hotkeys"))
        hot = [re.search(r'keyname: "([^"]+)"', line).group(1) for line in out
               if line.startswith("hot key found")]
        assert_eq(hot[0], "user:2", out)
        counter = int(re.search(r"counter: (\d+)", out[-len(hot)]).group(1))
        assert_eq(counter, c.object("freq", "user:2"))
        # Without an LFU policy the server refuses OBJECT FREQ and redis-cli stops, as with
        # redis-server.
        c.config_set("maxmemory-policy", "allkeys-lru")
        refused = subprocess.run(["redis-cli", "-p", str(srv.port), "--hotkeys"],
                                 capture_output=True, text=True, timeout=30)
        assert_true(refused.returncode != 0, refused)
        assert_true("ERR An LFU maxmemory policy is not selected" in refused.stderr, refused)


@test
def stat_prints_the_key_count_and_requests():
    srv = shared_server()
    c = srv.client()
    load(c)
    proc = subprocess.Popen(["stdbuf", "-oL", "redis-cli", "-p", str(srv.port), "--stat",
                             "-i", "0.2"], stdout=subprocess.PIPE, text=True)
    lines = []
    try:
        while len(lines) < 4:
            lines.append(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()
    assert_true(lines[0].startswith("------- data ------"), lines)
    assert_eq(lines[1].split()[:3], ["keys", "mem", "clients"])
    for line in lines[2:]:
        assert_eq(line.split()[0], str(c.dbsize()), line)


@test
def latency_prints_min_max_avg_and_samples():
    srv = shared_server()
    out = subprocess.run(["redis-cli", "-p", str(srv.port), "--latency", "-i", "1"],
                         capture_output=True, text=True, timeout=30).stdout.split()
    assert_eq(len(out), 4, out)
    lo, hi, avg, samples = int(out[0]), int(out[1]), float(out[2]), int(out[3])
    assert_true(0 <= lo <= avg <= hi and samples > 0, out)


if __name__ == "__main__":
    main()
