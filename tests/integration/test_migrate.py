#!/usr/bin/env python3
"""MIGRATE as Redis 7.0: keys of every type move (or are copied) to another server with their
TTLs, between two Sluice servers and between Sluice and redis-server both ways; the errors
(NOKEY, IOERR, BUSYKEY and other target errors, syntax) are redis-server's."""

from sluice_harness import Server, assert_eq, assert_true, free_port, main, test, wait_until


def fill(c):
    """One key of every type (two encodings where Redis has two); returns their names."""
    c.set("str", "hello")
    c.set("num", 12345)
    c.rpush("list", *[f"e{i}" for i in range(50)])
    c.sadd("intset", 1, 2, 3, 99)
    c.sadd("set", *[f"m{i}" for i in range(20)])
    c.hset("hash", mapping={f"f{i}": f"v{i}" for i in range(10)})
    c.hset("bighash", mapping={f"f{i}": "x" * 100 for i in range(600)})
    c.zadd("zset", {f"z{i}": i * 1.5 for i in range(30)})
    c.zadd("bigzset", {f"z{i}": i for i in range(300)})
    c.pfadd("hll", *[f"u{i}" for i in range(100)])
    for i in range(5):
        c.xadd("stream", {"n": str(i)}, id=f"{i + 1}-0")
    c.xgroup_create("stream", "g", id="0")
    c.xreadgroup("g", "alice", {"stream": ">"}, count=2)
    c.set("ttl", "v", px=600000)
    return ["str", "num", "list", "intset", "set", "hash", "bighash", "zset", "bigzset", "hll",
            "stream", "ttl"]


def content(c, key):
    t = c.type(key)
    if t == b"string":
        return t, c.get(key)
    if t == b"list":
        return t, c.lrange(key, 0, -1)
    if t == b"set":
        return t, sorted(c.smembers(key))
    if t == b"hash":
        return t, sorted(c.hgetall(key).items())
    if t == b"zset":
        return t, c.zrange(key, 0, -1, withscores=True)
    if t == b"stream":
        groups = [(g["name"], g["pending"], g["last-delivered-id"]) for g in c.xinfo_groups(key)]
        return t, c.xrange(key), groups
    return t, None


def migrate_every_type(src, dst):
    s, d = src.client(), dst.client()
    keys = fill(s)
    count = s.pfcount("hll")  # caches the count in the value, before it is compared
    before = {k: content(s, k) for k in keys}
    for k in keys:
        assert_eq(s.execute_command("MIGRATE", dst.host, dst.port, k, 0, 5000), b"OK", k)
    assert_eq(s.exists(*keys), 0)
    for k in keys:
        assert_eq(content(d, k), before[k], k)
    assert_eq(d.pfcount("hll"), count)
    ttl = d.pttl("ttl")
    assert_true(0 < ttl <= 600000, f"ttl {ttl}")
    assert_eq(d.pttl("str"), -1)
    # And back in one MIGRATE with KEYS.
    assert_eq(d.execute_command("MIGRATE", src.host, src.port, "", 0, 5000, "KEYS", *keys), b"OK")
    for k in keys:
        assert_eq(content(s, k), before[k], k)
    assert_eq(d.dbsize(), 0)


@test(timeout=120)
def every_type_moves_between_two_sluice_servers():
    with Server() as a, Server() as b:
        migrate_every_type(a, b)


@test(timeout=120)
def every_type_moves_from_sluice_to_redis_and_back():
    with Server() as a, Server(redis=True) as r:
        migrate_every_type(a, r)


@test(timeout=120)
def every_type_moves_from_redis_to_sluice_and_back():
    with Server(redis=True) as r, Server() as a:
        migrate_every_type(r, a)


def options_and_errors(src, dst, closed_port):
    """The replies of MIGRATE's options and errors, in order, for comparison."""
    s, d = src.conn(), dst.conn()
    out = []

    def call(*args):
        reply = s.call(*args)
        out.append(reply if isinstance(reply, (str, int, bytes)) else str(reply))

    h, p = dst.host, str(dst.port)
    call("SET", "a", "1")
    call("SET", "b", "2")
    call("MIGRATE", h, p, "nokey", "0", "1000")
    call("MIGRATE", h, p, "a", "x", "1000")
    call("MIGRATE", h, p, "a", "0", "x")
    call("MIGRATE", h, p, "a", "0", "1000", "KEYS", "b")
    call("MIGRATE", h, p, "a", "0", "1000", "FOO")
    call("MIGRATE", h, p, "a", "0", "1000", "AUTH")
    call("MIGRATE", h, p, "a", "0", "1000", "AUTH2", "u")
    call("MIGRATE", h, p, "", "0", "1000", "KEYS")
    call("MIGRATE", h, p, "", "0", "1000", "KEYS", "n1", "n2")
    call("MIGRATE", h, str(closed_port), "a", "0", "1000")
    # COPY keeps the source; the second copy meets BUSYKEY; REPLACE overwrites.
    call("MIGRATE", h, p, "a", "0", "1000", "COPY")
    call("EXISTS", "a")
    call("MIGRATE", h, p, "a", "0", "1000", "COPY")
    call("SET", "a", "new")
    call("MIGRATE", h, p, "a", "0", "1000", "REPLACE")
    call("EXISTS", "a")
    out.append(d.call("GET", "a"))
    # A partial failure: the key that moved is gone, the refused one stays; the first error.
    call("SET", "a", "again")
    call("MIGRATE", h, p, "", "0", "1000", "KEYS", "a", "b")
    call("EXISTS", "a", "b")
    out.append(d.call("GET", "b"))
    # Another database; a database the target does not have.
    call("MIGRATE", h, p, "a", "5", "1000")
    out.append(d.call("SELECT", "5"))
    out.append(d.call("GET", "a"))
    call("SET", "c", "3")
    call("MIGRATE", h, p, "c", "99", "1000")
    call("EXISTS", "c")
    return out


def auth_replies(src, dst):
    """MIGRATE with AUTH / AUTH2 to a target that has a password and a user."""
    s, d = src.conn(), dst.conn()
    out = []

    def call(*args):
        reply = s.call(*args)
        out.append(reply if isinstance(reply, (str, int, bytes)) else str(reply))

    h, p = dst.host, str(dst.port)
    d.call("AUTH", "pw")
    d.call("ACL", "SETUSER", "mover", "on", ">pw2", "~*", "+@all")
    call("SET", "c", "3")
    call("MIGRATE", h, p, "c", "0", "1000")
    call("MIGRATE", h, p, "c", "0", "1000", "AUTH", "wrong")
    call("MIGRATE", h, p, "c", "0", "1000", "AUTH2", "mover", "wrong")
    call("EXISTS", "c")
    call("MIGRATE", h, p, "c", "0", "1000", "AUTH", "pw")
    call("SET", "c", "4")
    call("MIGRATE", h, p, "c", "0", "1000", "AUTH2", "mover", "pw2", "REPLACE")
    call("EXISTS", "c")
    out.append(d.call("GET", "c"))
    return out


@test(timeout=120)
def options_and_errors_answer_as_redis_does():
    results = []
    for redis_source in (True, False):
        with Server(redis=redis_source) as src, Server(redis=True) as dst:
            results.append(options_and_errors(src, dst, free_port()))
    assert_eq(results[1], results[0], "sluice (left) vs redis-server (right) as the source")
    # Sluice as the target too.
    with Server() as src, Server() as dst:
        assert_eq(options_and_errors(src, dst, free_port()), results[0])


@test(timeout=120)
def auth_and_auth2_answer_as_redis_does():
    # A fresh target per source: Redis keeps its connection to a target for 10 s (already
    # authenticated), Sluice connects for each MIGRATE.
    results = []
    for redis_source, redis_target in ((True, True), (False, True), (False, False)):
        with Server(redis=redis_source) as src, \
                Server("--requirepass", "pw", redis=redis_target) as dst:
            results.append(auth_replies(src, dst))
    assert_eq(results[1], results[0], "sluice (left) vs redis-server (right) as the source")
    assert_eq(results[2], results[0], "sluice as the target")
    assert_true("NOAUTH" in results[0][1] and "WRONGPASS" in results[0][2], results[0])


def replication_info(conn):
    fields = dict(line.split(":", 1) for line in conn.call("INFO", "replication").decode().split()
                  if ":" in line)
    return fields


@test(timeout=120)
def replicas_of_the_source_see_the_keys_deleted():
    with Server() as master, Server("--replicaof", "127.0.0.1", master.port) as replica, \
            Server() as target:
        m, r = master.conn(), replica.conn()
        wait_until(lambda: replication_info(r).get("master_link_status") == "up", timeout=20)
        m.call("SET", "moved", "1")
        m.call("SET", "copied", "2")
        assert_eq(m.call("MIGRATE", target.host, str(target.port), "moved", "0", "1000"), "OK")
        assert_eq(m.call("MIGRATE", target.host, str(target.port), "copied", "0", "1000",
                         "COPY"), "OK")
        m.call("SET", "marker", "x")
        wait_until(lambda: r.call("GET", "marker") == b"x", timeout=20)
        assert_eq((r.call("EXISTS", "moved"), r.call("GET", "copied")), (0, b"2"))
        assert_eq(target.conn().call("MGET", "moved", "copied"), [b"1", b"2"])


@test
def command_info_and_getkeys():
    with Server() as srv, Server(redis=True) as ref:
        for args in (("COMMAND", "INFO", "MIGRATE"),
                     ("COMMAND", "GETKEYS", "MIGRATE", "h", "1", "k", "0", "1"),
                     ("COMMAND", "GETKEYS", "MIGRATE", "h", "1", "", "0", "1", "KEYS", "x", "y")):
            got = srv.conn().call(*args)
            want = ref.conn().call(*args)
            if args[1] == "INFO":
                got, want = got[0][:7], want[0][:7]  # key specs and tips are not listed
            assert_eq(got, want, " ".join(args))


if __name__ == "__main__":
    main()
