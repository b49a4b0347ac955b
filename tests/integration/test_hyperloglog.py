"""HyperLogLog against a reference redis-server: for random sets (a few elements, around the
sparse-to-dense promotion, up to 100k) PFADD, PFMERGE and PFCOUNT must leave the same bytes and
give the same numbers; values copied with GET/SET work on the other server both ways; the
commands describe themselves as Redis does; acknowledged PFADDs survive kill -9 under
appendfsync always."""

import random

from sluice_harness import *  # noqa: F401,F403


def pair():
    """A (sluice, redis) pair of redis-py clients, both flushed."""
    ours = shared_server().client()
    theirs = shared_server(redis=True).client()
    for r in (ours, theirs):
        r.flushall()
        r.config_set("hll-sparse-max-bytes", 3000)
    return ours, theirs


def elements(rng, n):
    kind = rng.choice(["int", "text", "bytes"])
    if kind == "int":
        return [str(rng.getrandbits(48)).encode() for _ in range(n)]
    if kind == "text":
        return [f"user:{rng.getrandbits(32)}:{i}".encode() for i in range(n)]
    return [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 12))) for _ in range(n)]


def pfadd_both(ours, theirs, key, items, batch):
    """PFADD in batches on both servers (pipelined); the replies must agree batch by batch."""
    replies = []
    for r in (ours, theirs):
        p = r.pipeline(transaction=False)
        for i in range(0, len(items), batch):
            p.pfadd(key, *items[i:i + batch])
        replies.append(p.execute())
    assert_eq(replies[0], replies[1], f"PFADD replies for {key}")


def same_value(ours, theirs, key, what=""):
    a, b = ours.get(key), theirs.get(key)
    if a != b:
        n = len(a or b"")
        first = next((i for i in range(min(n, len(b or b""))) if a[i] != b[i]), None)
        raise AssertionError(f"{what} {key}: bytes differ (len {len(a or b'')} vs "
                             f"{len(b or b'')}, first difference at {first})")


@test(timeout=200)
def random_sets_leave_the_same_bytes_and_counts_as_redis():
    ours, theirs = pair()
    rng = random.Random(20261204)
    sizes = [0, 1, 2, 5, 17, 60, 150, 300, 400, 500, 600, 700, 800, 1000, 1500, 1800, 1900, 2000,
             2100, 2200, 2500, 3000, 10000,
             100000]
    for trial, n in enumerate(sizes + [rng.randint(1, 2000) for _ in range(10)]):
        key = f"hll:{trial}"
        items = elements(rng, n)
        # Single-element adds keep the register order; batches exercise multi-element PFADD.
        batch = 1 if n <= 2500 and trial % 2 == 0 else rng.choice([7, 100, 1000])
        pfadd_both(ours, theirs, key, items, max(batch, 1))
        if n == 0:
            assert_eq(ours.pfadd(key), theirs.pfadd(key))
        same_value(ours, theirs, key, f"after PFADD of {n}")
        assert_eq(ours.pfcount(key), theirs.pfcount(key), f"PFCOUNT {key} ({n} elements)")
        same_value(ours, theirs, key, "after PFCOUNT cached the count")
        # Re-adding known elements changes nothing.
        if items:
            assert_eq(ours.pfadd(key, *items[:50]), 0)
            assert_eq(theirs.pfadd(key, *items[:50]), 0)
        assert_eq(ours.execute_command("PFDEBUG", "ENCODING", key),
                  theirs.execute_command("PFDEBUG", "ENCODING", key))


@test(timeout=120)
def promotion_follows_hll_sparse_max_bytes_like_redis():
    ours, theirs = pair()
    rng = random.Random(7)
    for limit in (0, 18, 100, 700, 5000):
        for r in (ours, theirs):
            r.config_set("hll-sparse-max-bytes", limit)
        key = f"p:{limit}"
        pfadd_both(ours, theirs, key, elements(rng, 1200), 1)
        same_value(ours, theirs, key, f"hll-sparse-max-bytes {limit}")
        assert_eq(ours.pfcount(key), theirs.pfcount(key))
    for r in (ours, theirs):
        r.config_set("hll-sparse-max-bytes", 3000)


@test(timeout=120)
def pfmerge_and_multi_key_pfcount_agree_with_redis():
    ours, theirs = pair()
    rng = random.Random(99)
    for trial in range(12):
        keys = []
        for k in range(rng.randint(1, 4)):
            key = f"src:{trial}:{k}"
            pfadd_both(ours, theirs, key, elements(rng, rng.choice([0, 3, 80, 400, 2500, 20000])),
                       500)
            keys.append(key)
        keys.append("missing")
        assert_eq(ours.pfcount(*keys), theirs.pfcount(*keys), f"PFCOUNT {keys}")
        dest = f"dest:{trial}"
        if trial % 3 == 0:  # an existing destination is merged too
            pfadd_both(ours, theirs, dest, elements(rng, 30), 30)
        assert_eq(ours.pfmerge(dest, *keys), theirs.pfmerge(dest, *keys))
        same_value(ours, theirs, dest, "PFMERGE")
        assert_eq(ours.pfcount(dest), theirs.pfcount(dest))
        same_value(ours, theirs, dest, "PFCOUNT after PFMERGE")


@test(timeout=120)
def values_copied_with_get_and_set_work_on_the_other_server():
    ours, theirs = pair()
    rng = random.Random(3)
    for n in (3, 400, 5000):
        items = elements(rng, n)
        more = elements(rng, 300)
        for src, dst, name in ((theirs, ours, "redis->sluice"), (ours, theirs, "sluice->redis")):
            key = f"{name}:{n}"
            src.pfadd(key, *items)
            dst.set(key, src.get(key))
            assert_eq(dst.pfcount(key), src.pfcount(key), f"{name} PFCOUNT of {n}")
            assert_eq(dst.get(key), src.get(key))
            dst.pfadd(key, *more)
            src.pfadd(key, *more)
            assert_eq(dst.get(key), src.get(key), f"{name} bytes after more adds")
            assert_eq(dst.pfcount(key), src.pfcount(key))
            assert_eq(dst.pfcount(key, "x"), src.pfcount(key, "x"))


@test
def commands_describe_themselves_like_redis():
    ours = shared_server().conn()
    theirs = shared_server(redis=True).conn()
    names = ["setbit", "getbit", "bitcount", "bitpos", "bitop", "bitfield", "bitfield_ro",
             "pfadd", "pfcount", "pfmerge", "pfdebug", "pfselftest", "lcs", "substr"]
    for name in names:
        a = ours.call("COMMAND", "INFO", name)[0]
        b = theirs.call("COMMAND", "INFO", name)[0]
        # name, arity, flags, first key, last key, step, ACL categories (key specs are not kept).
        assert_eq(a[0:2], b[0:2], name)
        assert_eq(sorted(a[2]), sorted(b[2]), f"{name} flags")
        assert_eq(a[3:6], b[3:6], f"{name} key positions")
        assert_eq(sorted(a[6]), sorted(b[6]), f"{name} categories")
        da = ours.call("COMMAND", "DOCS", name)[1]
        db = theirs.call("COMMAND", "DOCS", name)[1]
        fa, fb = dict(zip(da[0::2], da[1::2])), dict(zip(db[0::2], db[1::2]))
        for field in (b"summary", b"since", b"group"):
            assert_eq(fa[field], fb[field], f"{name} docs {field}")


@test(timeout=60)
def acknowledged_pfadds_survive_kill_9_under_appendfsync_always():
    with Server("--appendfsync", "always") as srv:
        r = srv.client()
        rng = random.Random(5)
        keys = ["small", "promoted", "dense", "merged"]
        for key, n in (("small", 10), ("promoted", 900), ("dense", 30000)):
            items = elements(rng, n)
            for i in range(0, n, 50):
                r.pfadd(key, *items[i:i + 50])
        r.pfmerge("merged", "small", "promoted")
        counts = {key: r.pfcount(key) for key in keys}  # cached in the values
        # Single registers written into a dense value whose cache is then stale.
        for i in range(20):
            r.pfadd("dense", f"late:{i}")
        counts["dense"] = None
        expected = {key: r.get(key) for key in keys}
        srv.kill9()
        srv.start()
        r = srv.client()
        for key in keys:
            assert_eq(r.get(key), expected[key], f"{key} after kill -9")
            if counts[key] is not None:
                assert_eq(r.pfcount(key), counts[key], f"PFCOUNT {key} after kill -9")


if __name__ == "__main__":
    main()
