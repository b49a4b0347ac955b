"""Consumer groups end to end: the worker-pool life cycle with real clients (produce, consume,
crash a consumer, reclaim, ack everything), blocked readers served first come first served with
each entry delivered once, and group state (PEL, consumers, cursors) surviving a graceful restart,
DEBUG RELOAD and kill -9 under appendfsync always."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sluice_harness import *  # noqa: E402,F401,F403


def ids_of(reply):
    """IDs of an XREADGROUP reply (RESP2 shape) for one stream."""
    if reply is None:
        return []
    return [entry[0] for entry in reply[0][1]]


def group_state(conn, key):
    """Everything about the groups of `key` that must be identical after a restart: absolute
    delivery and seen times (XINFO STREAM FULL), counters, lag and the PEL summary."""
    full = conn.call("XINFO", "STREAM", key, "FULL", "COUNT", "0")
    groups = conn.call("XINFO", "GROUPS", key)
    summaries = []
    for g in groups:
        fields = dict(zip(g[0::2], g[1::2]))
        name = fields[b"name"]
        summaries.append(conn.call("XPENDING", key, name))
        summaries.append([c[0:4] for c in conn.call("XINFO", "CONSUMERS", key, name)])
    return full, groups, summaries


def blocked_clients(conn):
    info = conn.call("INFO", "clients").decode()
    for line in info.splitlines():
        if line.startswith("blocked_clients:"):
            return int(line.split(":")[1])
    raise AssertionError("INFO clients has no blocked_clients")


@test(timeout=60)
def worker_pool_processes_every_job_exactly_once_despite_a_crashed_worker():
    srv = shared_server()
    r = srv.client()
    r.delete("jobs")
    r.xgroup_create("jobs", "workers", id="0", mkstream=True)
    produced = [r.xadd("jobs", {"n": str(i)}) for i in range(300)]
    done = []
    crashed_took = []
    workers = ["w1", "w2", "w3"]
    # Round-robin reads of 10; w3 crashes after its first read (never acks).
    while True:
        progressed = False
        for w in workers:
            reply = r.xreadgroup("workers", w, {"jobs": ">"}, count=10)
            if not reply:
                continue
            progressed = True
            ids = [e[0] for e in reply[0][1]]
            if w == "w3":
                crashed_took.extend(ids)
                workers = ["w1", "w2"]
                break
            assert_eq(r.xack("jobs", "workers", *ids), len(ids))
            done.extend(ids)
        if not progressed:
            break
    assert_eq(len(crashed_took), 10)
    pending = r.xpending("jobs", "workers")
    assert_eq(pending["pending"], 10)
    assert_eq(pending["consumers"], [{"name": b"w3", "pending": 10}])
    # w1 takes over everything idle for >= 0 ms, in cursor pages of 4.
    cursor = "0-0"
    reclaimed = []
    while True:
        cursor, claimed, deleted = r.execute_command("XAUTOCLAIM", "jobs", "workers", "w1", 0,
                                                     cursor, "COUNT", 4)
        assert_eq(deleted, [])
        reclaimed.extend(e[0] for e in claimed)
        if cursor == b"0-0":
            break
    assert_eq(sorted(reclaimed), sorted(crashed_took))
    detail = r.xpending_range("jobs", "workers", "-", "+", 100)
    assert_true(all(d["consumer"] == b"w1" and d["times_delivered"] == 2 for d in detail))
    assert_eq(r.xack("jobs", "workers", *reclaimed), 10)
    done.extend(reclaimed)
    assert_eq(sorted(done), sorted(produced))
    assert_eq(len(set(done)), len(done))
    assert_eq(r.xpending("jobs", "workers")["pending"], 0)
    info = r.xinfo_groups("jobs")[0]
    assert_eq(info["lag"], 0)
    assert_eq(info["entries-read"], 300)
    assert_eq(r.xgroup_delconsumer("jobs", "workers", "w3"), 0)


@test_both
def blocked_readers_are_served_in_arrival_order_one_entry_each(protocol):
    srv = shared_server()
    main_conn = srv.conn(protocol)
    main_conn.call("DEL", "fifo")
    main_conn.call("XGROUP", "CREATE", "fifo", "g", "$", "MKSTREAM")
    base = blocked_clients(main_conn)
    waiters = []
    for i in range(3):
        c = srv.conn(protocol)
        c.send("XREADGROUP", "GROUP", "g", f"c{i}", "BLOCK", "0", "STREAMS", "fifo", ">")
        wait_until(lambda: blocked_clients(main_conn) == base + i + 1, msg="waiter parked")
        waiters.append(c)
    # One entry per XADD: each goes to the longest-waiting reader, the others keep waiting.
    for i in range(3):
        main_conn.call("XADD", "fifo", f"{i + 1}-1", "f", str(i))
        got = waiters[i].read()
        if protocol == 3:
            got = [[k, v] for k, v in got.items()]
        assert_eq(ids_of(got), [f"{i + 1}-1".encode()])
        for later in waiters[i + 1:]:
            assert_true(not later.pending(0.05), "a later waiter was served too")
    pel = main_conn.call("XPENDING", "fifo", "g", "-", "+", "10")
    assert_eq([(p[0], p[1]) for p in pel], [(b"1-1", b"c0"), (b"2-1", b"c1"), (b"3-1", b"c2")])
    for c in waiters:
        c.close()


@test
def a_waiter_that_disconnects_loses_nothing():
    srv = shared_server()
    main_conn = srv.conn()
    main_conn.call("DEL", "gone")
    main_conn.call("XGROUP", "CREATE", "gone", "g", "$", "MKSTREAM")
    base = blocked_clients(main_conn)
    first = srv.conn()
    first.send("XREADGROUP", "GROUP", "g", "quitter", "BLOCK", "0", "STREAMS", "gone", ">")
    wait_until(lambda: blocked_clients(main_conn) == base + 1, msg="first waiter parked")
    second = srv.conn()
    second.send("XREADGROUP", "GROUP", "g", "stayer", "BLOCK", "0", "STREAMS", "gone", ">")
    wait_until(lambda: blocked_clients(main_conn) == base + 2, msg="second waiter parked")
    first.close()
    wait_until(lambda: blocked_clients(main_conn) == base + 1, msg="first waiter removed")
    main_conn.call("XADD", "gone", "1-1", "f", "v")
    assert_eq(ids_of(second.read()), [b"1-1"])
    pel = main_conn.call("XPENDING", "gone", "g", "-", "+", "10")
    assert_eq([(p[0], p[1]) for p in pel], [(b"1-1", b"stayer")])
    consumers = [c[1] for c in main_conn.call("XINFO", "CONSUMERS", "gone", "g")]
    assert_eq(consumers, [b"stayer"])
    second.close()


@test
def destroying_the_group_or_deleting_the_key_wakes_blocked_readers_with_redis_errors():
    srv = shared_server()
    main_conn = srv.conn()
    main_conn.call("DEL", "wake")
    main_conn.call("XGROUP", "CREATE", "wake", "g", "$", "MKSTREAM")
    base = blocked_clients(main_conn)
    w = srv.conn()
    w.send("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "wake", ">")
    wait_until(lambda: blocked_clients(main_conn) == base + 1, msg="parked")
    main_conn.call("XGROUP", "DESTROY", "wake", "g")
    assert_error(w.read(), "NOGROUP the consumer group this client was blocked on")
    main_conn.call("XGROUP", "CREATE", "wake", "g", "$")
    w.send("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "wake", ">")
    wait_until(lambda: blocked_clients(main_conn) == base + 1, msg="parked again")
    main_conn.call("DEL", "wake")
    assert_error(w.read(), "UNBLOCKED the stream key no longer exists")
    w.close()


def build_group_history(conn, key):
    """A varied group state: several groups, consumers, deliveries, acks, claims, a SETID."""
    conn.call("DEL", key)
    for i in range(1, 21):
        conn.call("XADD", key, f"{i}-1", "f", str(i))
    conn.call("XGROUP", "CREATE", key, "g1", "0")
    conn.call("XGROUP", "CREATE", key, "g2", "$", "ENTRIESREAD", "20")
    conn.call("XREADGROUP", "GROUP", "g1", "alice", "COUNT", "8", "STREAMS", key, ">")
    conn.call("XREADGROUP", "GROUP", "g1", "bob", "COUNT", "5", "STREAMS", key, ">")
    conn.call("XREADGROUP", "GROUP", "g1", "noack", "COUNT", "2", "NOACK", "STREAMS", key, ">")
    conn.call("XACK", key, "g1", "2-1", "4-1", "10-1")
    conn.call("XCLAIM", key, "g1", "carol", "0", "3-1", "5-1", "RETRYCOUNT", "9")
    conn.call("XCLAIM", key, "g1", "carol", "0", "6-1", "IDLE", "5000")
    conn.call("XREADGROUP", "GROUP", "g1", "alice", "STREAMS", key, "0")
    conn.call("XAUTOCLAIM", key, "g1", "dave", "0", "11-1", "COUNT", "2")
    conn.call("XGROUP", "CREATECONSUMER", key, "g1", "idle-one")
    conn.call("XGROUP", "CREATECONSUMER", key, "g2", "x")
    conn.call("XGROUP", "DELCONSUMER", key, "g1", "bob")
    conn.call("XDEL", key, "7-1")
    conn.call("XGROUP", "CREATE", key, "g3", "0")
    conn.call("XGROUP", "SETID", key, "g3", "15-1")
    conn.call("XGROUP", "CREATE", key, "doomed", "0")
    conn.call("XREADGROUP", "GROUP", "doomed", "z", "STREAMS", key, ">")
    conn.call("XGROUP", "DESTROY", key, "doomed")


@test(timeout=60)
def group_state_survives_a_graceful_restart():
    with Server() as srv:
        c = srv.conn()
        build_group_history(c, "hist")
        before = group_state(c, "hist")
        c.close()
        srv.restart()
        c = srv.conn()
        assert_eq(group_state(c, "hist"), before)
        # The restored state keeps working: reclaim and ack everything.
        pending = c.call("XPENDING", "hist", "g1", "-", "+", "100")
        ids = [p[0] for p in pending]
        assert_true(len(ids) > 0)
        assert_eq(c.call("XACK", "hist", "g1", *ids), len(ids))
        assert_eq(c.call("XPENDING", "hist", "g1")[0], 0)
        c.close()


@test(timeout=60)
def group_state_survives_debug_reload():
    with Server() as srv:
        c = srv.conn()
        build_group_history(c, "reload")
        before = group_state(c, "reload")
        assert_eq(c.call("DEBUG", "RELOAD"), "OK")
        assert_eq(group_state(c, "reload"), before)
        c.close()


@test(timeout=60)
def acknowledged_group_state_survives_kill_9_under_appendfsync_always():
    with Server("--appendfsync", "always") as srv:
        c = srv.conn()
        build_group_history(c, "crash")
        before = group_state(c, "crash")
        c.close()
        srv.kill9()
        srv.start()
        c = srv.conn()
        assert_eq(group_state(c, "crash"), before)
        c.close()


@test(timeout=60)
def a_delivery_to_a_blocked_reader_survives_kill_9_under_appendfsync_always():
    with Server("--appendfsync", "always") as srv:
        c = srv.conn()
        c.call("XGROUP", "CREATE", "bk", "g", "$", "MKSTREAM")
        w = srv.conn()
        w.send("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "bk", ">")
        wait_until(lambda: blocked_clients(c) == 1, msg="parked")
        c.call("XADD", "bk", "1-1", "f", "v")
        assert_eq(ids_of(w.read()), [b"1-1"])
        before = group_state(c, "bk")
        srv.kill9()
        srv.start()
        c = srv.conn()
        assert_eq(group_state(c, "bk"), before)
        assert_eq(c.call("XPENDING", "bk", "g")[0], 1)
        c.close()


@test(timeout=280)
def a_long_journal_is_snapshotted_and_the_snapshot_restores_the_same_state():
    with Server() as srv:
        c = srv.conn()
        c.call("XGROUP", "CREATE", "big", "g", "$", "MKSTREAM")
        c.pipeline(*[("XADD", "big", "*", "f", "v") for _ in range(1000)])
        reply = c.call("XREADGROUP", "GROUP", "g", "w0", "STREAMS", "big", ">")
        ids = [e[0] for e in reply[0][1]]
        # Ownership passes around: every claim journals 1000 IDs with their counts.
        for round_no in range(1, 200):
            claimed = c.call("XCLAIM", "big", "g", f"w{round_no % 3}", "0", *ids, "JUSTID")
            assert_eq(len(claimed), 1000)
        assert_eq(c.call("XACK", "big", "g", *ids[:400]), 400)
        snaps = list(Path(srv.dir).rglob("groups.snap"))
        assert_eq(len(snaps), 1)
        before = group_state(c, "big")
        c.close()
        srv.restart()
        c = srv.conn()
        assert_eq(group_state(c, "big"), before)
        assert_eq(c.call("XPENDING", "big", "g")[0], 600)
        c.close()


if __name__ == "__main__":
    main()
