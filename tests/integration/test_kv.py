"""KV and TTL layer with real clients: the session, cache, token, lock and counter patterns,
SCAN completeness, WATCH/MULTI, expiry events, and durability across restarts (graceful,
DEBUG RELOAD, kill -9 under appendfsync always)."""

import time

from sluice_harness import *  # noqa: F401,F403


def fresh(srv):
    r = srv.client()
    r.flushall()
    return r


@test
def session_hash_with_expire_behaves_like_spring_session():
    r = fresh(shared_server())
    key = "spring:session:sessions:abc"
    r.hset(key, mapping={"creationTime": 1, "maxInactiveInterval": 1800,
                         "sessionAttr:user": "alice"})
    assert_eq(r.expire(key, 1800), True)
    assert_eq(r.hget(key, "sessionAttr:user"), b"alice")
    assert_eq(r.hgetall(key), {b"creationTime": b"1", b"maxInactiveInterval": b"1800",
                               b"sessionAttr:user": b"alice"})
    ttl = r.ttl(key)
    assert_true(1795 <= ttl <= 1800, f"ttl {ttl}")
    r.hdel(key, "sessionAttr:user")
    assert_eq(r.hexists(key, "sessionAttr:user"), False)
    r.delete(key)
    assert_eq(r.exists(key), 0)


@test
def cache_entries_vanish_after_their_ttl_and_are_reclaimed_without_access():
    r = fresh(shared_server())
    for i in range(200):
        r.set(f"cache:{i}", "x" * 10, px=50)
    r.set("cache:keep", "y")
    wait_until(lambda: r.dbsize() == 1, timeout=5, msg="active expiry reclaimed the keys")
    info = r.info("stats")
    assert_true(info["expired_keys"] >= 200, f"expired_keys {info['expired_keys']}")
    assert_eq(r.get("cache:0"), None)


@test
def token_with_ttl_reports_keyspace_and_expired_event():
    srv = shared_server()
    r = fresh(srv)
    r.config_set("notify-keyspace-events", "Ex")
    try:
        p = r.pubsub()
        p.subscribe("__keyevent@0__:expired")
        p.get_message(timeout=1)
        r.set("token:jwt", "blacklisted", px=30)
        msg = None
        deadline = time.time() + 5
        while time.time() < deadline and msg is None:
            msg = p.get_message(timeout=0.5)
        assert_true(msg is not None, "no expired event")
        assert_eq(msg["data"], b"token:jwt")
        p.close()
    finally:
        r.config_set("notify-keyspace-events", "")
    r.set("t1", "v", ex=100)
    r.set("t2", "v")
    line = r.info("keyspace")["db0"]
    assert_eq(line["keys"], 2)
    assert_eq(line["expires"], 1)
    assert_true(0 < line["avg_ttl"] <= 100000, f"avg_ttl {line['avg_ttl']}")


@test
def lock_acquire_with_set_nx_px_and_release_with_watch_multi():
    r = fresh(shared_server())
    assert_eq(r.set("lock:res", "me", nx=True, px=30000), True)
    assert_eq(r.set("lock:res", "other", nx=True, px=30000), None)
    with r.pipeline() as pipe:
        pipe.watch("lock:res")
        assert_eq(pipe.get("lock:res"), b"me")
        pipe.multi()
        pipe.delete("lock:res")
        assert_eq(pipe.execute(), [1])
    assert_eq(r.exists("lock:res"), 0)
    # A concurrent change makes the optimistic release fail.
    r.set("lock:res", "me", px=30000)
    other = shared_server().client()
    with r.pipeline() as pipe:
        pipe.watch("lock:res")
        other.set("lock:res", "stolen")
        pipe.multi()
        pipe.delete("lock:res")
        try:
            pipe.execute()
            raise AssertionError("EXEC should have been aborted")
        except Exception as e:  # redis.WatchError
            assert_eq(type(e).__name__, "WatchError")
    assert_eq(r.get("lock:res"), b"stolen")


@test
def counters_count_exactly_across_pipelined_clients():
    r = fresh(shared_server())
    pipe = r.pipeline(transaction=False)
    for _ in range(1000):
        pipe.incr("counter")
    pipe.execute()
    assert_eq(r.get("counter"), b"1000")
    assert_eq(r.incrbyfloat("counter", 0.5), 1000.5)
    assert_eq(r.decrby("other", 7), -7)


@test
def scan_returns_every_key_present_for_the_whole_scan_while_the_table_grows():
    r = fresh(shared_server())
    r.mset({f"orig:{i}": i for i in range(500)})
    seen = set()
    cursor = 0
    added = 0
    while True:
        cursor, keys = r.scan(cursor, count=20)
        seen.update(keys)
        # Grow (and rehash) the table between the first calls, then delete some of the new keys
        # (shrinking it) while the scan goes on.
        if added < 4000:
            r.mset({f"new:{added + i}": i for i in range(400)})
            added += 400
        elif added < 8000:
            r.delete(*[f"new:{i}" for i in range(added - 4000, added - 3600)])
            added += 400
        if cursor == 0:
            break
    missing = [i for i in range(500) if f"orig:{i}".encode() not in seen]
    assert_eq(missing, [])
    # TYPE and MATCH filters.
    r.hset("ahash", "f", "v")
    _, keys = r.scan(0, match="ahash", count=100000)
    assert_eq(keys, [b"ahash"])
    got = set()
    cursor = 0
    while True:
        cursor, keys = r.scan(cursor, _type="hash", count=1000)
        got.update(keys)
        if cursor == 0:
            break
    assert_eq(got, {b"ahash"})


@test
def hscan_returns_every_field_of_a_large_hash():
    r = fresh(shared_server())
    r.hset("big", mapping={f"f{i}": i for i in range(1000)})
    assert_eq(r.object("encoding", "big"), b"hashtable")
    fields = dict(r.hscan_iter("big", count=50))
    assert_eq(len(fields), 1000)
    assert_eq(fields[b"f999"], b"999")


@test(timeout=60)
def keys_and_remaining_ttls_survive_a_graceful_restart():
    with Server() as srv:
        r = srv.client()
        r.set("plain", "v")
        r.set("ttl", "v", ex=1000)
        r.set("short", "v", px=300)
        r.hset("h", mapping={"a": "1", "b": "2"})
        r.expire("h", 500)
        r.incr("n")
        r.incrby("n", 41)
        r.append("s", "hello")
        r.setrange("s", 5, " world")
        r.hdel("h", "b")
        r.rename("plain", "renamed")
        r.select = None
        r.execute_command("MOVE", "renamed", "3")
        r.execute_command("COPY", "n", "ncopy")
        r.xadd("stream", {"f": "v"}, id="1-1")
        r.expire("stream", 700)
        srv.restart()
        time.sleep(0.4)
        r = srv.client()
        assert_eq(r.get("renamed"), None)
        r3 = srv.client(db=3)
        assert_eq(r3.get("renamed"), b"v")
        assert_eq(r.hgetall("h"), {b"a": b"1"})
        assert_true(495 <= r.ttl("h") <= 500, f"h ttl {r.ttl('h')}")
        assert_true(995 <= r.ttl("ttl") <= 1000, f"ttl {r.ttl('ttl')}")
        assert_eq(r.exists("short"), 0)
        assert_eq(r.get("n"), b"42")
        assert_eq(r.get("ncopy"), b"42")
        assert_eq(r.get("s"), b"hello world")
        assert_eq(r.object("encoding", "s"), b"raw")
        assert_true(695 <= r.ttl("stream") <= 700, f"stream ttl {r.ttl('stream')}")


@test(timeout=60)
def debug_reload_keeps_keys_and_ttls():
    with Server() as srv:
        r = srv.client()
        r.set("a", "1", ex=100)
        r.hset("h", "f", "v")
        r.execute_command("SWAPDB", "0", "1")
        r1 = srv.client(db=1)
        assert_eq(r1.get("a"), b"1")
        assert_eq(r.execute_command("DEBUG", "RELOAD"), b"OK")
        assert_eq(r1.get("a"), b"1")
        assert_true(95 <= r1.ttl("a") <= 100)
        assert_eq(r1.hget("h", "f"), b"v")
        assert_eq(r.dbsize(), 0)
        r.flushall()
        assert_eq(r.execute_command("DEBUG", "RELOAD"), b"OK")
        assert_eq(r1.dbsize(), 0)


@test(timeout=60)
def acknowledged_writes_survive_kill_9_under_appendfsync_always():
    with Server("--appendfsync", "always") as srv:
        r = srv.client()
        for i in range(300):
            r.set(f"k{i}", f"v{i}", ex=1000 if i % 2 else None)
            r.hincrby("counts", "n", 1)
        r.delete("k0")
        srv.kill9()
        srv.start()
        r = srv.client()
        assert_eq(r.exists("k0"), 0)
        assert_eq(r.get("k299"), b"v299")
        assert_eq(r.hget("counts", "n"), b"300")
        assert_true(990 <= r.ttl("k1") <= 1000)
        assert_eq(r.ttl("k2"), -1)
        assert_eq(r.dbsize(), 300)


@test(timeout=60)
def keys_that_expired_while_the_server_was_down_are_gone_and_stay_gone():
    with Server() as srv:
        r = srv.client()
        r.set("gone", "old", px=200)
        r.hset("hgone", "old", "1")
        r.pexpire("hgone", 200)
        srv.stop()
        time.sleep(0.4)
        srv.start()
        r = srv.client()
        assert_eq(r.exists("gone", "hgone"), 0)
        # A new value under the same name must not merge with the expired one after a restart.
        r.hset("hgone", "new", "2")
        srv.restart()
        r = srv.client()
        assert_eq(r.hgetall("hgone"), {b"new": b"2"})


if __name__ == "__main__":
    main()
