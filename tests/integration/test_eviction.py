"""maxmemory and the eviction policies: each policy's choice under a cache-like workload,
evicted_keys, OOM under noeviction, evicted keys staying gone after a restart, the "evicted"
keyspace event, CONFIG SET maxmemory evicting at once, streams never evicted, OBJECT FREQ."""

import redis

from sluice_harness import *

VALUE = "x" * 1000
ROOM = 2 << 20  # bytes of data allowed above the empty server's used memory
OOM_TEXT = "command not allowed when used memory > 'maxmemory'."


def counted_memory(r):
    info = r.info("memory")
    return info["used_memory"] - info["mem_not_counted_for_evict"]


def limit_server(srv, policy, room=ROOM):
    """FLUSHALL, the policy, stats reset, and maxmemory `room` bytes above what is used now."""
    r = srv.client()
    r.config_set("maxmemory", 0)
    r.flushall()
    r.config_set("maxmemory-policy", policy)
    r.config_set("maxmemory-samples", 5)
    r.config_set("notify-keyspace-events", "")
    r.config_resetstat()
    r.config_set("maxmemory", counted_memory(r) + room)
    return r


def write_keys(r, names, ex=None, batch=50):
    for i in range(0, len(names), batch):
        p = r.pipeline(transaction=False)
        for name in names[i:i + batch]:
            if ex is None:
                p.set(name, VALUE)
            else:
                p.set(name, VALUE, ex=ex(name))
        p.execute()


def freeze(r):
    """Lifts the limit so that the commands inspecting the result evict nothing more (every
    command evicts first while memory is over maxmemory, and replies take memory)."""
    r.config_set("maxmemory", 0)


def evicted(r):
    return r.info("stats")["evicted_keys"]


def existing(r, names):
    p = r.pipeline(transaction=False)
    for name in names:
        p.exists(name)
    return [n for n, e in zip(names, p.execute()) if e]


def hot_set_survives(policy):
    srv = shared_server()
    r = limit_server(srv, policy)
    hot = [f"hot:{i}" for i in range(50)]
    write_keys(r, hot)
    cold = []
    for batch in range(100):  # 5000 cold values of 1 KB: 2.5x the room
        names = [f"cold:{batch * 50 + j}" for j in range(50)]
        cold += names
        p = r.pipeline(transaction=False)
        for name in names:
            p.set(name, VALUE)
        for name in hot:
            p.get(name)
        p.execute()
    limit = int(r.config_get("maxmemory")["maxmemory"])
    assert_true(counted_memory(r) <= limit + (64 << 10))
    freeze(r)
    n_evicted = evicted(r)
    assert_true(n_evicted > 0, "nothing was evicted")
    assert_eq(r.dbsize() + n_evicted, len(hot) + len(cold))
    hot_left = len(existing(r, hot))
    cold_left = len(existing(r, cold))
    # The hot set is read after every 50 writes: LRU/LFU keep (nearly) all of it, while a
    # policy blind to access would keep it at the cold keys' rate (below 40% here).
    assert_true(hot_left >= 45, f"only {hot_left} of 50 hot keys left under {policy}")
    assert_true(cold_left / len(cold) < 0.6, f"{cold_left} cold keys left")
    return r, hot, cold


@test
def allkeys_lru_keeps_the_hot_set():
    hot_set_survives("allkeys-lru")


@test
def allkeys_lfu_keeps_the_hot_set_and_freq_grows():
    r, hot, cold = hot_set_survives("allkeys-lfu")
    cold_left = existing(r, cold)
    hot_freq = [r.object("freq", k) for k in existing(r, hot)]
    # 100 reads each: the logarithmic counter is well above a new key's 5.
    assert_true(min(hot_freq) > 5, f"hot key frequencies {hot_freq}")
    assert_true(all(r.object("freq", k) <= 6 for k in cold_left[-20:]))


@test
def object_freq_counts_accesses_under_lfu():
    srv = shared_server()
    r = limit_server(srv, "allkeys-lfu")
    r.set("f", "v")
    assert_eq(r.object("freq", "f"), 5)
    r.get("f")  # from 5, the first access always counts
    assert_eq(r.object("freq", "f"), 6)
    for _ in range(300):
        r.get("f")
    assert_true(r.object("freq", "f") > 8)
    r.config_set("maxmemory-policy", "allkeys-lru")
    with_error = None
    try:
        r.object("freq", "f")
    except redis.ResponseError as e:
        with_error = str(e)
    assert_true(with_error and "An LFU maxmemory policy is not selected" in with_error)


@test
def allkeys_random_evicts_and_counts():
    srv = shared_server()
    r = limit_server(srv, "allkeys-random")
    names = [f"k:{i}" for i in range(5000)]
    write_keys(r, names)
    freeze(r)
    n_evicted = evicted(r)
    assert_true(n_evicted > 0)
    assert_eq(r.dbsize(), len(names) - n_evicted)
    left = existing(r, names)
    # Random choice: survivors are spread over the whole key range, old keys included.
    assert_true(any(int(k.split(":")[1]) < 1000 for k in left))


def volatile_policy_spares_persistent_keys(policy):
    srv = shared_server()
    r = limit_server(srv, policy)
    keep = [f"keep:{i}" for i in range(300)]
    write_keys(r, keep)
    ttl = [f"ttl:{i}" for i in range(4000)]
    write_keys(r, ttl, ex=lambda name: 3600)
    freeze(r)
    n_evicted = evicted(r)
    assert_true(n_evicted > 0)
    assert_eq(len(existing(r, keep)), len(keep))
    assert_eq(len(existing(r, ttl)), len(ttl) - n_evicted)
    return r


@test
def volatile_lru_evicts_only_keys_with_ttl():
    volatile_policy_spares_persistent_keys("volatile-lru")


@test
def volatile_lfu_evicts_only_keys_with_ttl():
    volatile_policy_spares_persistent_keys("volatile-lfu")


@test
def volatile_random_evicts_only_keys_with_ttl():
    volatile_policy_spares_persistent_keys("volatile-random")


@test
def volatile_ttl_evicts_the_shortest_ttl_first():
    srv = shared_server()
    r = limit_server(srv, "volatile-ttl")
    limit = int(r.config_get("maxmemory")["maxmemory"])
    r.config_set("maxmemory", 0)
    keep = [f"keep:{i}" for i in range(300)]
    write_keys(r, keep)
    ttl = [f"ttl:{i}" for i in range(4000)]
    # Written in random order; key ttl:i lives 10000 + i seconds. The limit comes afterwards,
    # so one eviction run chooses among all of them.
    import random
    order = ttl[:]
    random.Random(7).shuffle(order)
    write_keys(r, order, ex=lambda name: 10000 + int(name.split(":")[1]))
    r.config_set("maxmemory", limit)
    freeze(r)
    n_evicted = evicted(r)
    assert_true(n_evicted > 0)
    assert_eq(len(existing(r, keep)), len(keep))
    left = [int(k.split(":")[1]) for k in existing(r, ttl)]
    # The survivors are exactly the longest TTLs.
    assert_eq(sorted(left), list(range(len(ttl) - len(left), len(ttl))))
    # Under load too: a key with a shorter TTL than every survivor goes first.
    r.config_set("maxmemory", limit)
    r.set("short", VALUE, ex=20)
    write_keys(r, [f"more:{i}" for i in range(200)], ex=lambda name: 30000)
    assert_eq(r.exists("short"), 0)
    assert_eq(len(existing(r, keep)), len(keep))


@test
def volatile_policy_without_ttl_keys_gives_oom():
    srv = shared_server()
    r = limit_server(srv, "volatile-lru", room=256 << 10)
    error = None
    for i in range(2000):
        try:
            r.set(f"p:{i}", VALUE)
        except redis.ResponseError as e:
            error = str(e)
            break
    assert_true(error is not None and OOM_TEXT in error, f"error {error!r}")
    assert_eq(evicted(r), 0)


@test
def noeviction_refuses_writes_but_reads_and_deletes_work():
    srv = shared_server()
    r = limit_server(srv, "noeviction")
    error = None
    written = 0
    for i in range(10000):
        try:
            r.set(f"k:{i}", VALUE)
            written += 1
        except redis.ResponseError as e:
            error = str(e)
            break
    assert_true(error is not None, "no OOM error after 10 MB")
    assert_true(OOM_TEXT in error, error)
    assert_true(written > 1000)
    assert_eq(r.get("k:0"), VALUE.encode())
    assert_eq(r.dbsize(), written)
    assert_eq(evicted(r), 0)
    # Denyoom commands are refused, others run.
    for cmd in (("LPUSH", "l", "x"), ("APPEND", "k:0", "y"), ("HSET", "h", "f", "v")):
        try:
            r.execute_command(*cmd)
            raise AssertionError(f"{cmd} ran over maxmemory")
        except redis.ResponseError as e:
            assert_true(OOM_TEXT in str(e), str(e))
    assert_eq(r.expire("k:1", 100), True)
    assert_eq(r.delete(*[f"k:{i}" for i in range(500)]), 500)
    r.set("after-delete", "v")
    assert_eq(r.get("after-delete"), b"v")


@test
def oom_in_multi_aborts_exec():
    srv = shared_server()
    r = limit_server(srv, "noeviction", room=0)
    c = srv.conn()
    c.call("CONFIG", "SET", "maxmemory", "1")
    assert_eq(c.call("MULTI"), "OK")
    assert_error(c.call("GET", "x"), "OOM")
    assert_error(c.call("EXEC"), "EXECABORT")
    assert_eq(c.call("GET", "x"), None)
    c.call("CONFIG", "SET", "maxmemory", "0")
    c.close()


@test
def evicted_keys_stay_gone_after_restart():
    with Server() as srv:
        r = limit_server(srv, "allkeys-random")
        names = [f"k:{i}" for i in range(4000)]
        write_keys(r, names)
        freeze(r)
        assert_true(evicted(r) > 0)
        before = set(r.keys("*"))
        assert_eq(len(before), len(names) - evicted(r))
        r.close()
        srv.restart()
        r = srv.client()
        assert_eq(set(r.keys("*")), before)


@test
def evicted_keyspace_event():
    srv = shared_server()
    r = limit_server(srv, "allkeys-lru")
    r.config_set("notify-keyspace-events", "Ee")
    sub = srv.client().pubsub()
    sub.subscribe("__keyevent@0__:evicted")
    wait_until(lambda: sub.get_message(timeout=0.1) is not None, msg="subscribe reply")
    write_keys(r, [f"k:{i}" for i in range(4000)])
    freeze(r)
    n_evicted = evicted(r)
    assert_true(n_evicted > 0)
    keys = []

    def drain():
        while True:
            m = sub.get_message(timeout=0.05)
            if m is None:
                return len(keys) >= n_evicted
            if m["type"] == "message":
                keys.append(m["data"])

    wait_until(drain, timeout=10, msg="evicted events")
    assert_eq(len(keys), n_evicted)
    assert_eq(sum(r.exists(k) for k in keys[:100]), 0)
    sub.close()
    r.config_set("notify-keyspace-events", "")


@test
def config_set_maxmemory_evicts_at_once():
    srv = shared_server()
    r = limit_server(srv, "allkeys-lru")
    r.config_set("maxmemory", 0)
    base = counted_memory(r)
    write_keys(r, [f"k:{i}" for i in range(3000)])
    assert_eq(evicted(r), 0)
    r.config_set("maxmemory", base + (1 << 20))
    assert_true(counted_memory(r) <= base + (1 << 20) + (64 << 10))
    freeze(r)
    n_evicted = evicted(r)
    assert_true(n_evicted > 1000, f"{n_evicted} evicted")
    assert_eq(r.dbsize(), 3000 - n_evicted)


@test(timeout=60)
def eviction_past_its_time_budget_goes_on_without_commands():
    srv = shared_server()
    # LRU: the big value just written is the last candidate.
    r = limit_server(srv, "allkeys-lru")
    r.config_set("maxmemory-eviction-tenacity", 0)  # 16 keys per command, then stop
    limit = int(r.config_get("maxmemory")["maxmemory"])
    write_keys(r, [f"k:{i}" for i in range(2500)])
    r.config_set("notify-keyspace-events", "Ee")
    sub = srv.client().pubsub()
    sub.subscribe("__keyevent@0__:evicted")
    wait_until(lambda: sub.get_message(timeout=0.1) is not None, msg="subscribe reply")
    before = evicted(r)
    r.set("big", "b" * (1 << 20))  # about 1000 keys over the limit at once
    r.close()
    # No command runs from here on: the server's cron evicts the rest.
    got = []

    def drain():
        m = sub.get_message(timeout=0.1)
        if m and m["type"] == "message":
            got.append(m["data"])
        return len(got) >= 500

    wait_until(drain, timeout=40, msg="evictions without commands")
    r = srv.client()
    assert_true(counted_memory(r) <= limit + (64 << 10))
    freeze(r)
    assert_true(evicted(r) - before >= 500)
    r.config_set("maxmemory-eviction-tenacity", 10)
    r.config_set("notify-keyspace-events", "")
    sub.close()


@test
def streams_are_never_evicted():
    srv = shared_server()
    r = limit_server(srv, "allkeys-random")
    for i in range(100):
        r.xadd("s", {"f": VALUE})
    r.xadd("ts", {"f": "v"})
    r.expire("ts", 3600)
    write_keys(r, [f"k:{i}" for i in range(4000)])
    assert_true(evicted(r) > 0)
    assert_eq(r.xlen("s"), 100)
    # volatile-ttl: the stream has the shortest TTL, but only the string keys go.
    r.config_set("maxmemory-policy", "volatile-ttl")
    r.delete(*[f"k:{i}" for i in range(4000)])
    write_keys(r, [f"t:{i}" for i in range(3000)], ex=lambda name: 7200)
    freeze(r)
    assert_true(evicted(r) > 0)
    assert_eq(r.exists("ts"), 1)
    assert_eq(r.exists("s"), 1)


@test
def stream_ram_does_not_count_against_maxmemory():
    srv = shared_server()
    r = limit_server(srv, "noeviction", room=256 << 10)
    r.config_set("stream-tail-cache-bytes", 8 << 20)
    for batch in range(40):  # 2 MB of entries, kept in the tail cache: 8x the room
        p = r.pipeline(transaction=False)
        for _ in range(50):
            p.xadd("s", {"f": VALUE})
        p.execute()  # no -OOM: the stream's RAM is not counted
    assert_eq(r.xlen("s"), 2000)
    info = r.info("memory")
    assert_true(info["mem_not_counted_for_evict"] > 1 << 20, str(info["mem_not_counted_for_evict"]))
    assert_true(info["used_memory"] > int(r.config_get("maxmemory")["maxmemory"]))
    r.set("k", "v")
    r.config_set("stream-tail-cache-bytes", 256 * 1024)
    r.config_set("maxmemory", 0)


@test
def used_memory_follows_the_data():
    # A server of its own: no background KV snapshot of earlier tests' journal meanwhile.
    with Server() as srv:
        used_memory_check(srv)


def used_memory_check(srv):
    r = limit_server(srv, "noeviction", room=0)
    r.config_set("maxmemory", 0)
    # Warm up first: the connection's buffers grow to the pipelines' size and stay.
    write_keys(r, [f"m:{i}" for i in range(200)])
    r.flushall()
    before = counted_memory(r)
    write_keys(r, [f"m:{i}" for i in range(2000)])
    grown = counted_memory(r) - before
    # 2000 values of 1000 bytes, plus keys and table overhead.
    assert_true(2000 * 1000 < grown < 2000 * 1400, f"grew {grown}")
    r.delete(*[f"m:{i}" for i in range(1000)])
    shrunk = counted_memory(r) - before
    # Deleting half the keys frees at least their values' bytes.
    assert_true(1000 * 1000 < grown - shrunk <= grown / 2 + (64 << 10), f"{grown} -> {shrunk}")
    r.flushall()
    left = counted_memory(r) - before
    assert_true(left < 100 << 10, f"{left} bytes left after FLUSHALL")
    info = r.info("memory")
    for field in ("maxmemory", "maxmemory_human", "maxmemory_policy", "used_memory_rss",
                  "mem_not_counted_for_evict"):
        assert_true(field in info, field)


if __name__ == "__main__":
    main()
