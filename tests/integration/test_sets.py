"""Sets with real clients: set algebra (SINTER, SUNION, SDIFF, SINTERCARD and the STORE forms)
against Python's sets on random data under RESP2 and RESP3, SSCAN completeness while a set
grows, SPOP and SRANDMEMBER contracts, SORT against Python's sorted(), and durability of every
acknowledged set write across a graceful restart, DEBUG RELOAD and kill -9 under appendfsync
always."""

import random

from sluice_harness import *  # noqa: F401,F403


def members(value):
    """A SMEMBERS-like reply as a Python set of bytes."""
    return set(value)


def fresh_conn(protocol):
    c = shared_server().conn(protocol)
    c.call("FLUSHALL")
    return c


def random_member(rng, universe):
    # Integers (so small sets are intsets) and words (so sets become hash tables).
    if rng.random() < 0.7:
        return str(rng.randrange(-universe, universe))
    return f"w{rng.randrange(universe)}"


def load(c, key, values):
    c.call("DEL", key)
    values = list(values)
    for i in range(0, len(values), 500):
        c.call("SADD", key, *values[i:i + 500])


@test_both(timeout=120)
def set_algebra_matches_python_sets(protocol):
    rng = random.Random(20261204 + protocol)
    c = fresh_conn(protocol)
    model = {}
    keys = [f"k{i}" for i in range(6)] + ["missing"]

    def refill(key):
        size = rng.choice([0, 1, 3, 10, 100, 600, 1500])
        ints_only = rng.random() < 0.5
        universe = max(8, size * 2)
        values = set()
        while len(values) < size:
            m = str(rng.randrange(-universe, universe)) if ints_only else random_member(rng, universe)
            values.add(m.encode())
        model[key] = values
        load(c, key, values)
        if not values:
            model.pop(key)

    for k in keys[:-1]:
        refill(k)
    for step in range(250):
        if step % 25 == 0:
            refill(rng.choice(keys[:-1]))
        picked = [rng.choice(keys) for _ in range(rng.randint(1, 4))]
        sets = [model.get(k, set()) for k in picked]
        op = rng.choice(["SINTER", "SUNION", "SDIFF", "SINTERCARD", "SINTERSTORE",
                         "SUNIONSTORE", "SDIFFSTORE"])
        if op.startswith("SINTER"):
            expected = set.intersection(*sets)
        elif op.startswith("SUNION"):
            expected = set.union(*sets)
        else:
            expected = sets[0].difference(*sets[1:])
        where = f"step {step}: {op} {picked}"
        if op == "SINTERCARD":
            limit = rng.choice([0, 1, 5, 1000])
            got = c.call("SINTERCARD", len(picked), *picked, "LIMIT", limit)
            want = len(expected) if limit == 0 else min(limit, len(expected))
            assert_eq(got, want, where)
        elif op.endswith("STORE"):
            dst = rng.choice(keys[:-1] + ["dst"])
            assert_eq(c.call(op, dst, *picked), len(expected), where)
            if expected:
                model[dst] = expected
            else:
                model.pop(dst, None)
            assert_eq(c.call("EXISTS", dst), 1 if expected else 0, where)
            got = c.call("SMEMBERS", dst)
            assert_eq(members(got), expected, where)
            encoding = c.call("OBJECT", "ENCODING", dst)
            if expected:
                all_ints = all(m.lstrip(b"-").isdigit() for m in expected)
                assert_eq(encoding, b"intset" if all_ints and len(expected) <= 512
                          else b"hashtable", where)
            if encoding == b"intset":
                # Numeric order, as from Redis's intset.
                assert_eq(list(got), sorted(got, key=int), where)
        else:
            got = c.call(op, *picked)
            if protocol == 3:
                assert_eq(type(got).__name__, "RespSet", where)
            assert_eq(len(got), len(expected), where)
            assert_eq(members(got), expected, where)
        probe = [random_member(rng, 50) for _ in range(5)]
        key = rng.choice(keys)
        flags = c.call("SMISMEMBER", key, *probe)
        assert_eq(flags, [1 if m.encode() in model.get(key, set()) else 0 for m in probe])


@test
def sscan_returns_every_member_present_for_the_whole_scan_while_the_set_grows():
    c = fresh_conn(2)
    original = {f"m{i}".encode() for i in range(5000)}
    load(c, "big", original)
    seen, cursor, added, calls = set(), b"0", 0, 0
    while True:
        cursor, batch = c.call("SSCAN", "big", cursor, "COUNT", 50)
        seen.update(batch)
        calls += 1
        if added < 20000:
            c.call("SADD", "big", *[f"new{added + i}" for i in range(200)])
            added += 200
        if cursor == b"0":
            break
    assert_true(original <= seen, f"missing {len(original - seen)} members")
    assert_true(calls > 10, f"only {calls} calls")
    # An intset is returned whole, with cursor 0.
    load(c, "ints", [str(i) for i in range(300)])
    assert_eq(c.call("SSCAN", "ints", "12345", "COUNT", 1),
              [b"0", [str(i).encode() for i in range(300)]])


@test
def spop_returns_distinct_members_that_are_gone_and_srandmember_leaves_them():
    c = fresh_conn(2)
    for encoding_members in ([str(i) for i in range(400)], [f"m{i}" for i in range(1000)]):
        load(c, "s", encoding_members)
        everything = {m.encode() for m in encoding_members}
        distinct = c.call("SRANDMEMBER", "s", 100)
        assert_eq(len(set(distinct)), 100)
        assert_true(set(distinct) <= everything)
        repeated = c.call("SRANDMEMBER", "s", -3000)
        assert_eq(len(repeated), 3000)
        assert_true(set(repeated) <= everything)
        assert_eq(c.call("SCARD", "s"), len(everything))
        popped = set()
        for count in (1, 7, 150, len(everything) - 200):  # small pops, then most of the rest
            got = c.call("SPOP", "s", count)
            assert_eq(len(got), count)
            assert_true(not (set(got) & popped), "a member popped twice")
            popped.update(got)
        rest = set(c.call("SMEMBERS", "s"))
        assert_eq(rest | popped, everything)
        assert_true(not (rest & popped))
        last = c.call("SPOP", "s", 1000)
        assert_eq(set(last), rest)
        assert_eq(c.call("EXISTS", "s"), 0)


@test
def sort_orders_like_python_sorted():
    rng = random.Random(7)
    c = fresh_conn(2)
    values = {str(rng.randrange(-10**6, 10**6)) for _ in range(800)}
    load(c, "nums", values)
    ordered = sorted(values, key=int)
    assert_eq(c.call("SORT", "nums"), [v.encode() for v in ordered])
    assert_eq(c.call("SORT", "nums", "DESC", "LIMIT", 10, 5),
              [v.encode() for v in list(reversed(ordered))[10:15]])
    assert_eq(c.call("SORT_RO", "nums", "ALPHA"), [v.encode() for v in sorted(values)])
    weights = {v: rng.random() for v in values}
    for v, w in weights.items():
        c.call("SET", f"weight_{v}", repr(w))
        c.call("HSET", f"obj_{v}", "name", f"name-{v}")
    by_weight = sorted(values, key=lambda v: weights[v])
    assert_eq(c.call("SORT", "nums", "BY", "weight_*", "GET", "obj_*->name", "LIMIT", 0, 20),
              [f"name-{v}".encode() for v in by_weight[:20]])


def set_state(r, keys):
    # The absolute expiry time, which a restart must keep exactly (TTL would tick meanwhile).
    return {k: (set(r.smembers(k)), r.execute_command("PEXPIRETIME", k)) for k in keys}


@test(timeout=60)
def every_acknowledged_set_write_survives_a_graceful_restart_and_debug_reload():
    with Server() as srv:
        r = srv.client()
        r.sadd("ints", *range(100))
        r.sadd("words", *[f"w{i}" for i in range(2000)])
        r.srem("ints", 5, 6, "nope")
        r.smove("ints", "moved", 7)
        r.smove("words", "moved", "w1")
        r.spop("ints")
        r.spop("ints", 10)
        r.spop("words", 1900)
        r.sadd("mixed", 1, 2, "x")
        r.srem("mixed", "x")
        r.sunionstore("union", "ints", "moved")
        r.sinterstore("inter", "ints", "moved")
        r.sdiffstore("diff", "words", "moved")
        r.expire("union", 1000)
        r.sadd("bye", 1)
        r.spop("bye")
        keys = ["ints", "words", "moved", "mixed", "union", "inter", "diff", "bye"]
        before = set_state(r, keys)
        assert_eq(r.object("encoding", "mixed"), b"hashtable")
        srv.restart()
        r = srv.client()
        assert_eq(set_state(r, keys), before)
        # Replayed from the journal, as Redis replays its AOF: still a hash table.
        assert_eq(r.object("encoding", "mixed"), b"hashtable")
        assert_eq(r.execute_command("DEBUG", "RELOAD"), b"OK")
        assert_eq(set_state(r, keys), before)
        assert_eq(r.object("encoding", "mixed"), b"hashtable")
        assert_eq(r.type("union"), b"set")
        assert_eq(r.exists("bye"), 0)
        live = sum(1 for k in keys if before[k][0])
        keyspace = r.info("keyspace")["db0"]
        assert_eq((keyspace["keys"], keyspace["expires"]), (live, 1))
        assert_eq(len(r.scan(0, _type="set", count=1000)[1]), live)


@test(timeout=60)
def acknowledged_set_writes_survive_kill_9_under_appendfsync_always():
    rng = random.Random(99)
    with Server("--appendfsync", "always") as srv:
        c = srv.conn()
        model = {"a": set(), "b": set()}
        for i in range(400):
            key = rng.choice(["a", "b"])
            op = rng.random()
            if op < 0.55:
                batch = [str(rng.randrange(800)) if rng.random() < 0.8 else f"x{rng.randrange(50)}"
                         for _ in range(rng.randint(1, 4))]
                c.call("SADD", key, *batch)
                model[key].update(m.encode() for m in batch)
            elif op < 0.7:
                m = str(rng.randrange(800))
                c.call("SREM", key, m)
                model[key].discard(m.encode())
            elif op < 0.85:
                got = c.call("SPOP", key, rng.randint(1, 3))
                model[key].difference_update(got)
            elif op < 0.95:
                other = "b" if key == "a" else "a"
                m = str(rng.randrange(800))
                if c.call("SMOVE", key, other, m) == 1:
                    model[key].discard(m.encode())
                    model[other].add(m.encode())
            else:
                c.call("SUNIONSTORE", "u", "a", "b")
                model["u"] = model["a"] | model["b"]
        srv.kill9()
        srv.start()
        c = srv.conn()
        for key, want in model.items():
            assert_eq(set(c.call("SMEMBERS", key)), want, key)


if __name__ == "__main__":
    main()
