"""DUMP / RESTORE against a reference redis-server 7.0: a value of every type and encoding DUMPed
by redis-server RESTOREs in Sluice with the same contents and encoding, and Sluice's DUMP of it
RESTOREs in redis-server to the same value; streams move both ways with their metadata and
consumer groups; TTL options behave as Redis's; restored keys survive a restart (they are
journaled); corrupt payloads get an error and the server stays up."""

import random

from sluice_harness import *  # noqa: F401,F403


def pair():
    ours = shared_server().client()
    theirs = shared_server(redis=True).client()
    for r in (ours, theirs):
        r.flushall()
    return ours, theirs


def value_of(r, key):
    """The type and contents of key, in a form that compares across servers."""
    t = r.type(key).decode()
    if t == "string":
        return t, r.get(key)
    if t == "hash":
        return t, sorted(r.hgetall(key).items())
    if t == "list":
        return t, r.lrange(key, 0, -1)
    if t == "set":
        return t, sorted(r.smembers(key))
    if t == "zset":
        return t, r.zrange(key, 0, -1, withscores=True)
    return t, None


def fill(r):
    """One key per type and encoding Redis 7.0 can DUMP (streams aside). Returns the keys."""
    rng = random.Random(14)
    r.set("str:short", "hello")
    r.set("str:int", 123)
    r.set("str:int16", -30000)
    r.set("str:int32", 2000000000)
    r.set("str:int64", 12345678901234)
    r.set("str:lzf", "abc" * 500)  # Redis compresses this with LZF
    r.set("str:binary", bytes(range(256)) * 3)
    r.set("str:empty", "")
    r.set("str:big", bytes(rng.getrandbits(8) for _ in range(100000)))
    r.hset("hash:small", mapping={"f1": "v1", "n": 42, "neg": -7, "": "empty field"})
    # (Not past hash-max-listpack-entries: Sluice's limit is 128, redis-server 7.0's 512.)
    r.hset("hash:big", mapping={f"field:{i}": f"value:{i * 31}" for i in range(120)})
    r.hset("hash:table", mapping={f"field:{i}": "v" * (i % 80) for i in range(1000)})
    r.hset("hash:longvalue", mapping={"f": "x" * 200, "g": "y"})
    r.rpush("list:small", "a", 1, -1, 300, 70000, 2 ** 40, -(2 ** 63), "b" * 70)
    r.rpush("list:big", *[rng.choice([str(i), "item-" * (i % 9), str(-i * 1000003)])
                          for i in range(20000)])
    r.rpush("list:huge-elements", "z" * 10000, "w" * 70000, "short")
    r.sadd("set:intset", 1, 2, 3, -5, 40000, 2 ** 40)
    r.sadd("set:strings", "a", "b", "c")
    r.sadd("set:big-ints", *range(0, 3000, 3))  # past set-max-intset-entries
    r.zadd("zset:small", {"a": 1, "b": 2.5, "c": -3, "d": 0, "e": 1e20})
    r.zadd("zset:big", {f"m{i}": i / 7 - 100 for i in range(500)})
    r.zadd("zset:inf", {"lo": float("-inf"), "hi": float("inf"), "mid": 0.1})
    r.zadd("zset:longmember", {"m" * 100: 1, "n": 2})
    return [k.decode() for k in sorted(r.keys("*"))]


@test(timeout=120)
def every_type_moves_from_redis_to_sluice_and_back():
    ours, theirs = pair()
    keys = fill(theirs)
    assert_true(len(keys) == 23, f"fixture keys: {keys}")
    for key in keys:
        payload = theirs.dump(key)
        assert_eq(ours.restore(key, 0, payload), b"OK", f"RESTORE {key} in sluice")
        assert_eq(value_of(ours, key), value_of(theirs, key), f"{key} restored in sluice")
        assert_eq(ours.object("encoding", key), theirs.object("encoding", key),
                  f"OBJECT ENCODING {key}")
        back = ours.dump(key)
        assert_eq(theirs.restore("back:" + key, 0, back), b"OK", f"RESTORE {key} in redis")
        assert_eq(value_of(theirs, "back:" + key), value_of(theirs, key),
                  f"{key} after sluice DUMP -> redis RESTORE")
        assert_eq(theirs.object("encoding", "back:" + key), theirs.object("encoding", key),
                  f"encoding of {key} after the round trip")


@test
def small_values_dump_to_the_same_bytes_as_redis():
    """Where Sluice picks Redis's encoding and Redis does not compress, the bytes are equal."""
    ours, theirs = pair()
    for r in (ours, theirs):
        r.set("s", "v")
        r.set("i", -129)
        r.rpush("l", "a", 1, -1, 300, 70000)
        r.hset("h", mapping={"f": "v", "n": 5})
        r.sadd("is", 1, 2, 3)
        r.zadd("z", {"a": 1, "b": 2.5, "c": -3})
    for key in ("s", "i", "l", "h", "is", "z"):
        assert_eq(ours.dump(key), theirs.dump(key), f"DUMP {key}")
    assert_eq(ours.dump("missing"), None, "DUMP of a missing key")


@test
def restore_ttl_replace_and_idletime_behave_as_redis():
    ours, theirs = pair()
    theirs.set("k", "v")
    payload = theirs.dump("k")
    for r in (ours, theirs):
        assert_eq(r.restore("t", 5000, payload), b"OK")
        pttl = r.pttl("t")
        assert_true(0 < pttl <= 5000, f"PTTL after RESTORE 5000: {pttl}")
        assert_eq(r.restore("abs", 4102444800000, payload, absttl=True), b"OK")
        assert_eq(r.pexpiretime("abs"), 4102444800000)
        # An absolute TTL in the past: OK, and nothing is created...
        assert_eq(r.restore("gone", 1000, payload, absttl=True), b"OK")
        assert_eq(r.exists("gone"), 0)
        # ...and with REPLACE the old value is deleted.
        r.set("old", "x")
        assert_eq(r.restore("old", 1000, payload, absttl=True, replace=True), b"OK")
        assert_eq(r.exists("old"), 0)
        try:
            r.restore("t", 0, payload)
            raise AssertionError("RESTORE onto an existing key succeeded")
        except Exception as e:  # redis-py raises ResponseError (BusyKeyError)
            assert_true("Target key name already exists" in str(e), str(e))
        assert_eq(r.restore("t", 0, payload, replace=True), b"OK")
        assert_eq(r.ttl("t"), -1)
        assert_eq(r.restore("idle", 0, payload, idletime=1000), b"OK")
        assert_true(r.object("idletime", "idle") >= 1000, "IDLETIME back-dates the key")


@test
def restore_replaces_a_stream_and_wakes_blocked_list_clients():
    ours, _ = pair()
    ours.xadd("s", {"f": "v"})
    ours.rpush("src", "x", "y")
    payload = ours.dump("src")
    assert_eq(ours.restore("s", 0, payload, replace=True), b"OK")
    assert_eq(ours.lrange("s", 0, -1), [b"x", b"y"])
    srv = shared_server()
    waiter = srv.conn()
    waiter.send("BLPOP", "dst", "5")
    wait_until(lambda: b"cmd=blpop" in ours.execute_command("CLIENT", "LIST"), msg="BLPOP waits")
    assert_eq(ours.restore("dst", 0, payload), b"OK")
    assert_eq(waiter.read(), [b"dst", b"x"])
    assert_eq(ours.lrange("dst", 0, -1), [b"y"])


def as_map(flat):
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


def stream_state(server, key):
    """What a stream shows through XRANGE and XINFO STREAM FULL (RESP2, raw), minus wall-clock
    times the two servers cannot share (delivery and seen times are copied, idle is relative)."""
    c = server.conn()
    info = as_map(c.call("XINFO", "STREAM", key, "FULL"))
    groups = []
    for g in info[b"groups"]:
        g = as_map(g)
        consumers = []
        for cons in g[b"consumers"]:
            cons = as_map(cons)
            consumers.append((cons[b"name"], cons[b"pel-count"],
                              [(p[0], p[2]) for p in cons[b"pending"]]))
        groups.append((g[b"name"], g[b"last-delivered-id"], g[b"entries-read"], g[b"lag"],
                       g[b"pel-count"], [(p[0], p[1], p[2], p[3]) for p in g[b"pending"]],
                       consumers))
    state = (c.call("XRANGE", key, "-", "+"), info[b"length"], info[b"last-generated-id"],
             info[b"max-deleted-entry-id"], info[b"entries-added"],
             info[b"recorded-first-entry-id"], groups)
    c.close()
    return state


def build_stream(r, key, n, rng):
    """Entries with shared and differing field sets, deletions, groups with pending entries."""
    for i in range(n):
        if i % 5 == 0:
            fields = {f"f{j}": f"v{i}-{j}" for j in range(rng.randint(1, 4))}
        else:
            fields = {"name": f"user{i}", "n": i, "blob": "x" * rng.randint(0, 300)}
        r.xadd(key, fields, id=f"{1700000000000 + i // 3}-{i % 3}")
    r.xdel(key, f"{1700000000000 + 1}-1", f"{1700000000000 + n // 6}-0")
    r.xgroup_create(key, "g1", id="0")
    r.xgroup_create(key, "g2", id="$")
    r.xreadgroup("g1", "alice", {key: ">"}, count=min(n, 7))
    r.xreadgroup("g1", "bob", {key: ">"}, count=3)
    r.xgroup_createconsumer(key, "g1", "idle-carol")
    pending = r.xpending_range(key, "g1", "-", "+", 2)
    if pending:
        r.xack(key, "g1", *[p["message_id"] for p in pending])


@test(timeout=60)
def streams_move_both_ways_with_metadata_and_groups():
    ours, theirs = pair()
    rng = random.Random(7)
    for n in (1, 10, 250):
        key = f"stream:{n}"
        build_stream(theirs, key, n, rng)
        assert_eq(ours.restore(key, 0, theirs.dump(key)), b"OK", f"RESTORE {key} in sluice")
        assert_eq(stream_state(shared_server(), key), stream_state(shared_server(redis=True), key),
                  f"{key} in sluice")
        back = "back:" + key
        assert_eq(theirs.restore(back, 0, ours.dump(key)), b"OK", f"RESTORE {key} in redis")
        assert_eq(stream_state(shared_server(redis=True), back),
                  stream_state(shared_server(redis=True), key), f"{key} after the round trip")
    # A stream whose every entry was deleted keeps its metadata.
    theirs.xadd("empty", {"f": "v"}, id="5-5")
    theirs.xdel("empty", "5-5")
    assert_eq(ours.restore("empty", 0, theirs.dump("empty")), b"OK")
    assert_eq(stream_state(shared_server(), "empty"), stream_state(shared_server(redis=True),
                                                                     "empty"), "empty stream")
    # The restored stream works as any other: XREADGROUP delivers after the restored cursor.
    ours.xadd("stream:10", {"new": "entry"}, id="1800000000000-0")
    got = ours.xreadgroup("g1", "bob", {"stream:10": ">"})
    assert_eq([e[0] for e in got[0][1]][-1], b"1800000000000-0")


@test(timeout=60)
def restored_keys_survive_a_restart():
    _, theirs = pair()
    keys = fill(theirs)
    build_stream(theirs, "stream", 40, random.Random(3))
    with Server("--appendfsync", "always") as srv:
        ours = srv.client()
        for key in keys:
            ours.restore(key, 0 if key != "str:short" else 600000, theirs.dump(key))
        ours.restore("stream", 0, theirs.dump("stream"))
        before = {k: value_of(ours, k) for k in keys}
        stream_before = stream_state(srv, "stream")
        srv.restart()
        ours = srv.client()
        for key in keys:
            assert_eq(value_of(ours, key), before[key], f"{key} after restart")
        assert_eq(stream_state(srv, "stream"), stream_before, "stream after restart")
        pttl = ours.pttl("str:short")
        assert_true(0 < pttl <= 600000, f"TTL after restart: {pttl}")


@test
def commands_describe_themselves_like_redis():
    ours = shared_server().conn()
    theirs = shared_server(redis=True).conn()
    for name in ("dump", "restore", "restore-asking"):
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


# CRC-64/Jones, reflected, as Redis computes it (to build payloads with a valid footer).
_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x95AC9329AC4BC9B5 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc64(data):
    crc = 0
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def reseal(body):
    body = body + b"\x0a\x00"
    return body + crc64(body).to_bytes(8, "little")


@test
def crc64_matches_redis_footer():
    _, theirs = pair()
    theirs.rpush("l", "a", "b")
    payload = theirs.dump("l")
    assert_eq(crc64(b"123456789"), 0xE9C6D914C4B8D9CA)
    assert_eq(reseal(payload[:-10]), payload)


@test(timeout=120)
def corrupt_payloads_get_an_error_and_the_server_stays_up():
    ours, theirs = pair()
    keys = fill(theirs)
    build_stream(theirs, "stream", 30, random.Random(5))
    keys.append("stream")
    rng = random.Random(99)
    c = shared_server().conn()
    outcomes = {"ok": 0, "error": 0}
    for key in keys:
        payload = theirs.dump(key)
        body = payload[:-10]
        # A bad checksum, and a newer RDB version.
        bad = bytearray(payload)
        bad[-1] ^= 1
        assert_error(c.call("RESTORE", "x", "0", bytes(bad), "REPLACE"),
                     "ERR DUMP payload version or checksum are wrong")
        newer = body + b"\x0b\x00"
        newer += crc64(newer).to_bytes(8, "little")
        assert_error(c.call("RESTORE", "x", "0", newer, "REPLACE"),
                     "ERR DUMP payload version or checksum are wrong")
        # Truncated bodies with a valid footer never restore.
        for cut in sorted({0, 1, len(body) // 2, len(body) - 1}):
            assert_error(c.call("RESTORE", "x", "0", reseal(body[:cut]), "REPLACE"), "ERR Bad data format",
                         f"{key} cut at {cut}")
        # Random byte changes with a valid footer: an error, or a readable value.
        for _ in range(30):
            mutated = bytearray(body)
            for _ in range(rng.randint(1, 3)):
                mutated[rng.randrange(len(mutated))] = rng.getrandbits(8)
            reply = c.call("RESTORE", "x", "0", reseal(bytes(mutated)), "REPLACE")
            if isinstance(reply, ReplyError):
                assert_eq(reply.message, "ERR Bad data format")
                outcomes["error"] += 1
            else:
                assert_eq(reply, "OK")
                if value_of(ours, "x")[0] == "stream":
                    stream_state(shared_server(), "x")
                outcomes["ok"] += 1
    assert_true(outcomes["error"] > 0, f"outcomes {outcomes}")
    assert_eq(c.call("PING"), "PONG")


if __name__ == "__main__":
    main()
