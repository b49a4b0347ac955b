"""Bitmap commands and LCS against a reference redis-server: random SETBIT/BITFIELD/BITOP
writes must leave the same bytes, and BITCOUNT/BITPOS/BITFIELD reads over random ranges must
give the same answers (RESP2 and RESP3); acknowledged bit writes survive kill -9 under
appendfsync always."""

import random

from sluice_harness import *  # noqa: F401,F403


def pair(protocol):
    ours = shared_server().conn(protocol)
    theirs = shared_server(redis=True).conn(protocol)
    for c in (ours, theirs):
        c.call("FLUSHALL")
    return ours, theirs


def both(ours, theirs, *args):
    """Runs a command on both servers; the raw replies must be identical."""
    a, b = ours.command(*args), theirs.command(*args)
    if a != b:
        raise AssertionError(f"{' '.join(map(str, args))}: sluice {a!r} != redis {b!r}")
    return a


def random_field(rng):
    signed = rng.random() < 0.5
    width = rng.randint(1, 64 if signed else 63)
    offset = f"#{rng.randint(0, 40)}" if rng.random() < 0.3 else str(rng.randint(0, 600))
    return f"{'i' if signed else 'u'}{width}", offset


@test_both(timeout=120)
def random_bit_writes_and_reads_match_redis(protocol):
    ours, theirs = pair(protocol)
    rng = random.Random(1000 + protocol)
    keys = ["b1", "b2", "b3"]
    for step in range(1500):
        key = rng.choice(keys)
        op = rng.random()
        if op < 0.3:
            both(ours, theirs, "SETBIT", key, rng.randint(0, 700), rng.randint(0, 1))
        elif op < 0.5:
            args = ["BITFIELD", key]
            for _ in range(rng.randint(1, 4)):
                kind = rng.random()
                field, offset = random_field(rng)
                if kind < 0.2:
                    args += ["OVERFLOW", rng.choice(["WRAP", "SAT", "FAIL"])]
                elif kind < 0.45:
                    args += ["GET", field, offset]
                elif kind < 0.7:
                    args += ["SET", field, offset, rng.randint(-2**63, 2**63 - 1)]
                else:
                    args += ["INCRBY", field, offset, rng.choice([1, -1, rng.randint(-300, 300),
                                                                  rng.randint(-2**63, 2**63 - 1)])]
            both(ours, theirs, *args)
        elif op < 0.6:
            srcs = rng.sample(keys + ["missing"], rng.randint(1, 3))
            bop = rng.choice(["AND", "OR", "XOR", "NOT"])
            if bop == "NOT":
                srcs = srcs[:1]
            both(ours, theirs, "BITOP", bop, rng.choice(keys + ["dest"]), *srcs)
        elif op < 0.8:
            args = ["BITCOUNT", key]
            if rng.random() < 0.8:
                args += [rng.randint(-120, 120), rng.randint(-120, 120)]
                if rng.random() < 0.6:
                    args.append(rng.choice(["BIT", "BYTE"]))
            both(ours, theirs, *args)
        else:
            args = ["BITPOS", key, rng.randint(0, 1)]
            n = rng.randint(0, 3)
            if n >= 1:
                args.append(rng.randint(-120, 120))
            if n >= 2:
                args.append(rng.randint(-120, 120))
            if n >= 3:
                args.append(rng.choice(["BIT", "BYTE"]))
            both(ours, theirs, *args)
        if step % 100 == 0:
            for k in keys + ["dest"]:
                both(ours, theirs, "GET", k)
    for k in keys + ["dest"]:
        both(ours, theirs, "GET", k)
        both(ours, theirs, "BITFIELD_RO", k, "GET", "u63", "3", "GET", "i64", "#2")


@test_both(timeout=60)
def lcs_of_random_strings_matches_redis(protocol):
    ours, theirs = pair(protocol)
    rng = random.Random(7 + protocol)
    for trial in range(60):
        alphabet = rng.choice(["ab", "acgt", "abcdefghij"])
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        both(ours, theirs, "SET", "a", a)
        both(ours, theirs, "SET", "b", b)
        both(ours, theirs, "LCS", "a", "b")
        both(ours, theirs, "LCS", "a", "b", "LEN")
        both(ours, theirs, "LCS", "a", "b", "IDX", "WITHMATCHLEN")
        both(ours, theirs, "LCS", "a", "b", "IDX", "MINMATCHLEN", rng.randint(0, 4))


@test(timeout=60)
def acknowledged_bit_writes_survive_kill_9_under_appendfsync_always():
    with Server("--appendfsync", "always") as srv:
        r = srv.client()
        rng = random.Random(11)
        for _ in range(400):
            r.setbit("bits", rng.randint(0, 50000), rng.randint(0, 1))
        r.execute_command("BITFIELD", "fields", "SET", "i32", "#5", "-123456", "INCRBY", "u7",
                          "3", "100")
        r.execute_command("BITFIELD", "fields", "OVERFLOW", "FAIL", "SET", "u8", "9000", "999")
        r.bitop("AND", "anded", "bits", "fields")
        r.set("withttl", "abc", ex=1000)
        r.setbit("withttl", 100, 1)
        expected = {k: r.get(k) for k in ("bits", "fields", "anded", "withttl")}
        count = r.bitcount("bits")
        srv.kill9()
        srv.start()
        r = srv.client()
        for key, value in expected.items():
            assert_eq(r.get(key), value, f"{key} after kill -9")
        assert_eq(r.bitcount("bits"), count)
        assert_eq(r.object("encoding", "bits"), b"raw")
        assert_true(990 <= r.ttl("withttl") <= 1000, f"ttl {r.ttl('withttl')}")


if __name__ == "__main__":
    main()
