"""Replication (REPLICAOF, PSYNC, WAIT): one master and two replicas on loopback. A mixed load on
the master (streams, consumer groups, KV types, scripts, transactions, blocking pops), then every
key compared between the master and each replica; read-only replicas; WAIT; a replica restart
resumes with a partial resync; a promoted replica takes writes."""

import os
import shutil
import signal
import socket
import threading
import time

from resp_codec import frame_end, parse
from sluice_harness import *


def info(conn, section="replication"):
    text = conn.call("INFO", section)
    out = {}
    for line in text.decode().splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def wait_link_up(replica):
    c = replica.conn()
    wait_until(lambda: info(c).get("master_link_status") == "up", timeout=20,
               msg="replica link up")


def wait_caught_up(master, *replicas):
    m = master.conn()
    for r in replicas:
        rc = r.conn()
        wait_until(lambda: info(rc)["slave_repl_offset"] == info(m)["master_repl_offset"],
                   timeout=20, msg="replica offset reaches the master's")


def drop_times(value):
    """XINFO replies without the fields that are the local clock of each server."""
    if isinstance(value, list):
        out = []
        skip = False
        for i, v in enumerate(value):
            if skip:
                skip = False
                continue
            if v in (b"seen-time", b"active-time", b"idle", b"inactive"):
                skip = True
                continue
            out.append(drop_times(v))
        return out
    return value


def snapshot(srv, db=0):
    """Every key of `db` with its type, value, absolute expiry and, for streams, entries, XINFO
    STREAM FULL, groups, consumers and the PEL."""
    c = srv.conn()
    c.call("SELECT", db)
    keys = []
    cursor = b"0"
    while True:
        cursor, batch = c.call("SCAN", cursor, "COUNT", 1000)
        keys += batch
        if cursor == b"0":
            break
    out = {}
    for k in sorted(keys):
        t = c.call("TYPE", k)
        item = {"type": t, "pexpiretime": c.call("PEXPIRETIME", k)}
        if t == b"string":
            item["value"] = c.call("GET", k)
        elif t == b"hash":
            item["value"] = sorted(c.call("HGETALL", k))
        elif t == b"list":
            item["value"] = c.call("LRANGE", k, 0, -1)
        elif t == b"set":
            item["value"] = sorted(c.call("SMEMBERS", k))
        elif t == b"zset":
            item["value"] = c.call("ZRANGE", k, 0, -1, "WITHSCORES")
        elif t == b"stream":
            item["entries"] = c.call("XRANGE", k, "-", "+")
            item["full"] = drop_times(c.call("XINFO", "STREAM", k, "FULL"))
            groups = c.call("XINFO", "GROUPS", k)
            item["groups"] = groups
            for g in groups:
                name = g[g.index(b"name") + 1]
                item[b"consumers:" + name] = drop_times(c.call("XINFO", "CONSUMERS", k, name))
                item[b"pending:" + name] = c.call("XPENDING", k, name)
                ext = c.call("XPENDING", k, name, "-", "+", 100000)
                item[b"pel:" + name] = [[e[0], e[1], e[3]] for e in ext]
        out[k] = item
    return out


def assert_same_data(master, replica, dbs=(0, 1)):
    for db in dbs:
        m = snapshot(master, db)
        r = snapshot(replica, db)
        assert_eq(sorted(r.keys()), sorted(m.keys()), f"keys of db {db}")
        for k in m:
            assert_eq(r[k], m[k], f"key {k!r} of db {db}")


def mixed_load(master, rounds=200):
    c = master.conn()
    c.call("XGROUP", "CREATE", "jobs", "workers", "$", "MKSTREAM")
    c.call("XGROUP", "CREATE", "jobs", "audit", "0")
    for i in range(rounds):
        c.call("XADD", "jobs", "*", "n", i, "payload", "x" * (i % 17))
        c.call("XADD", "chat", "MAXLEN", "~", 50, "*", "msg", f"hello {i}")
        c.call("SET", f"k:{i % 20}", i)
        c.call("HSET", "h", f"f{i % 30}", i)
        c.call("LPUSH", "l", i)
        c.call("ZADD", "z", i * 1.5, f"m{i % 40}")
        c.call("SADD", "s", i % 25)
        if i % 3 == 0:
            got = c.call("XREADGROUP", "GROUP", "workers", f"w{i % 4}", "COUNT", 2,
                         "STREAMS", "jobs", ">")
            if got:
                for entry in got[0][1][:1]:
                    c.call("XACK", "jobs", "workers", entry[0])
        if i % 7 == 0:
            c.call("XREADGROUP", "GROUP", "audit", "a", "COUNT", 5, "NOACK", "STREAMS", "jobs",
                   ">")
        if i % 11 == 0:
            c.call("EVAL", "redis.call('INCR', KEYS[1]); "
                           "return redis.call('XADD', KEYS[2], '*', 'via', 'lua')",
                   2, "script:counter", "jobs")
        if i % 13 == 0:
            c.call("RPOP", "l")
            c.call("ZPOPMIN", "z")
    c.call("XTRIM", "chat", "MAXLEN", "~", 20)
    c.call("XDEL", "jobs", c.call("XRANGE", "jobs", "-", "+", "COUNT", 1)[0][0])
    c.call("XCLAIM", "jobs", "workers", "thief", 0,
           c.call("XPENDING", "jobs", "workers", "-", "+", 1)[0][0])
    # Redis 8 streams: an idempotent producer's resend adds nothing (on replicas either), its
    # limits, XACKDEL / XDELEX with reference policies, XNACK, XREADGROUP CLAIM, trims with
    # DELREF; GEO; RESTORE with a relative TTL.
    first = c.call("XADD", "idem", "IDMP", "p1", "i1", "*", "v", 1)
    assert_eq(c.call("XADD", "idem", "IDMP", "p1", "i1", "*", "v", 1), first)
    auto = c.call("XADD", "idem", "IDMPAUTO", "p2", "*", "v", 2)
    assert_eq(c.call("XADD", "idem", "IDMPAUTO", "p2", "*", "v", 2), auto)
    c.call("XCFGSET", "idem", "IDMP-MAXSIZE", 50)
    c.call("XADD", "idem", "IDMP", "p1", "i2", "*", "v", 3)
    pending = [e[0] for e in c.call("XPENDING", "jobs", "workers", "-", "+", 4)]
    assert_eq(c.call("XACKDEL", "jobs", "workers", "DELREF", "IDS", 1, pending[0]), [1])
    c.call("XNACK", "jobs", "workers", "FAIL", "IDS", 1, pending[1])
    c.call("XDELEX", "jobs", "ACKED", "IDS", 1, c.call("XRANGE", "jobs", "-", "+", "COUNT", 1)[0][0])
    assert_true(c.call("XREADGROUP", "GROUP", "workers", "claimer", "COUNT", 3, "CLAIM", 0,
                       "STREAMS", "jobs", ">"), "CLAIM took entries")
    c.call("XADD", "jobs", "DELREF", "MAXLEN", 210, "*", "n", "last")
    c.call("GEOADD", "geo", 13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania")
    c.call("GEOSEARCHSTORE", "geo:near", "geo", "FROMLONLAT", 15, 37, "BYRADIUS", 200, "km", "ASC")
    c.call("RESTORE", "restored", 600_000, c.call("DUMP", "h"))
    # A transaction, another database, absolute expiry, a function-free script that only reads.
    c.pipeline(("MULTI",), ("SET", "tx:a", 1), ("INCR", "tx:a"), ("SELECT", 1),
               ("SET", "db1:key", "v"), ("EXEC",))
    c.call("SET", "ttl:abs", "v", "PXAT", int(time.time() * 1000) + 3600_000)
    c.call("EVAL", "return redis.call('GET', KEYS[1])", 1, "k:1")


@test(timeout=120)
def full_sync_and_live_feed_give_equal_data():
    with Server() as master:
        m = master.conn()
        # Data before the replicas attach travels in the full sync.
        for i in range(50):
            m.call("XADD", "before", "*", "i", i)
        m.call("XGROUP", "CREATE", "before", "g", "0")
        m.call("XREADGROUP", "GROUP", "g", "c", "COUNT", 10, "STREAMS", "before", ">")
        m.call("SET", "plain", "value")
        with Server("--replicaof", "127.0.0.1", master.port) as r1, \
                Server("--replicaof", "127.0.0.1", master.port) as r2:
            wait_link_up(r1)
            wait_link_up(r2)
            mixed_load(master)
            # maxmemory eviction on the master reaches replicas as DEL (replicas ignore
            # maxmemory): the volatile key with the shortest TTL goes.
            m.call("CONFIG", "SET", "maxmemory-policy", "volatile-ttl")
            m.call("SET", "evict:soon", "x" * 200_000, "EX", 30)
            mem = info(m, "memory")
            counted = int(mem["used_memory"]) - int(mem["mem_not_counted_for_evict"])
            m.call("CONFIG", "SET", "maxmemory", counted - 100_000)
            m.call("CONFIG", "SET", "maxmemory", 0)
            assert_eq(m.call("EXISTS", "evict:soon"), 0)
            assert_true(int(info(m, "stats")["evicted_keys"]) >= 1, "a key was evicted")
            assert_eq(m.call("WAIT", 2, 10000), 2)
            wait_caught_up(master, r1, r2)
            assert_same_data(master, r1)
            assert_same_data(master, r2)
            rc = r1.conn()
            assert_eq(rc.call("EXISTS", "evict:soon"), 0)
            assert_eq(rc.call("EXISTS", "restored"), 1)
            # The idempotency state came along: counts equal, one entry per iid.
            assert_eq(rc.call("XLEN", "idem"), 3)
            assert_eq(rc.call("XRANGE", "idem", "-", "+"), m.call("XRANGE", "idem", "-", "+"))
            assert_eq(rc.call("XINFO", "STREAM", "idem"), m.call("XINFO", "STREAM", "idem"))
            assert_eq(rc.call("XLEN", "before"), 50)
            assert_eq(rc.call("XPENDING", "before", "g")[0], 10)
            assert_eq(rc.call("GET", "plain"), b"value")
            assert_eq(rc.call("XLEN", "jobs"), m.call("XLEN", "jobs"))
            assert_true(rc.call("XLEN", "jobs") > 200, "the live feed reached the replica")
            assert_eq(rc.call("XPENDING", "jobs", "workers"), m.call("XPENDING", "jobs", "workers"))
            assert_true(rc.call("XPENDING", "jobs", "workers")[0] > 0, "entries are pending")
            assert_eq(rc.call("DBSIZE"), m.call("DBSIZE"))
            st = info(m, "stats")
            assert_eq(st["sync_full"], "2")


def load_big_stream(conn, key, entries, value_bytes, batch=500):
    value = "v" * value_bytes
    for start in range(0, entries, batch):
        n = min(batch, entries - start)
        conn.pipeline(*[("XADD", key, "*", "i", start + j, "p", value) for j in range(n)])


def same_stream(master, replica, key, page=5000):
    """Compares a stream entry by entry, in pages (redis-py: its parser is the faster one)."""
    m, r = master.client(), replica.client()
    assert_eq(r.xlen(key), m.xlen(key), f"XLEN {key}")
    start = "-"
    while True:
        a = m.xrange(key, start, "+", count=page)
        b = r.xrange(key, start, "+", count=page)
        assert_eq(b, a, f"entries of {key} from {start}")
        if len(a) < page:
            return
        start = "(" + a[-1][0].decode()


class Writer(threading.Thread):
    """Writes to the master until stopped: stream entries and a counter."""

    def __init__(self, master):
        super().__init__(daemon=True)
        self.conn = master.conn()
        self.stop_flag = threading.Event()
        self.count = 0

    def run(self):
        while not self.stop_flag.is_set():
            self.conn.pipeline(("XADD", "live", "*", "n", self.count), ("INCR", "counter"))
            self.count += 1

    def stop(self):
        self.stop_flag.set()
        self.join()


@test(timeout=240)
def a_stream_of_many_segments_syncs_from_disk_while_the_master_serves():
    with Server("--stream-segment-bytes", "128kb") as master:
        m = master.conn()
        load_big_stream(m, "big", 20_000, 1000)
        m.call("XGROUP", "CREATE", "big", "g", "0")
        m.call("XREADGROUP", "GROUP", "g", "c", "COUNT", 100, "STREAMS", "big", ">")
        segments = int(info(m, "streams")["stream_segments"])
        assert_true(segments > 100, f"the stream spans many segments ({segments})")
        writer = Writer(master)
        writer.start()
        with Server("--replicaof", "127.0.0.1", master.port) as replica:
            rc = replica.conn()
            # The master keeps serving during the transfer: the writer's writes go on.
            wait_until(lambda: info(rc).get("master_sync_in_progress") == "1" or
                       info(rc).get("master_link_status") == "up", timeout=30,
                       msg="the sync starts")
            during = writer.count
            wait_link_up(replica)
            wait_until(lambda: writer.count > during + 50, timeout=30,
                       msg="the master serves writes")
            writer.stop()
            assert_eq(m.call("WAIT", 1, 20000), 1)
            wait_caught_up(master, replica)
            same_stream(master, replica, "big")
            same_stream(master, replica, "live")
            assert_eq(rc.call("GET", "counter"), m.call("GET", "counter"))
            assert_eq(int(rc.call("GET", "counter")), writer.count)
            assert_eq(rc.call("XPENDING", "big", "g"), m.call("XPENDING", "big", "g"))
            assert_true(int(info(rc, "streams")["stream_segments"]) >= segments,
                        "the replica has the segments")
            # Nothing of the transfer is left behind on either side.
            assert_eq([p.name for p in master.dir.iterdir() if p.name.startswith("repl-sync")],
                      [])
            assert_eq([p.name for p in replica.dir.iterdir() if p.name.startswith("repl-sync")],
                      [])
            # A write after the sync still flows.
            m.call("XADD", "big", "*", "after", "sync")
            assert_eq(m.call("WAIT", 1, 10000), 1)
            same_stream(master, replica, "big")


@test(timeout=240)
def a_replica_killed_with_kill9_under_load_resumes_with_a_partial_resync():
    # Killed while the stream flows in, the replica's data and the offset in repl-state agree,
    # and it resumes with PSYNC. The one exception is by design: a kill that lands inside a
    # flush of the storage (between the writes of one batch to several files) leaves the data
    # holding part of a batch, the replica says so in its log and syncs fully. Under load that
    # window is a real share of the time (more so under ASan), so the rounds go on until three
    # partial resyncs were seen, and every round must be one or the other, never a silent full
    # sync.
    flushing = "the last run stopped while flushing"
    with Server("--repl-backlog-size", "256mb") as master, \
            Server("--replicaof", "127.0.0.1", master.port) as replica:
        wait_link_up(replica)
        m = master.conn()
        writer = Writer(master)
        writer.start()
        partial = 0
        for round_ in range(12):
            seen = writer.count
            wait_until(lambda: writer.count > seen + 500, timeout=30, msg="load runs")
            before = info(m, "stats")
            replica.kill9()
            seen = writer.count
            wait_until(lambda: writer.count > seen + 500, timeout=30, msg="load runs")
            marks = replica.log_text().count(flushing)
            replica.start()
            wait_link_up(replica)
            after = info(m, "stats")
            full = int(after["sync_full"]) - int(before["sync_full"])
            resumed = int(after["sync_partial_ok"]) - int(before["sync_partial_ok"])
            if replica.log_text().count(flushing) > marks:
                assert_eq((resumed, full), (0, 1), f"round {round_}: killed in a flush")
            else:
                assert_eq((resumed, full), (1, 0), f"round {round_}: partial resync")
                partial += 1
            if partial == 3:
                break
        assert_eq(partial, 3, "partial resyncs in 12 rounds")
        writer.stop()
        assert_eq(m.call("WAIT", 1, 20000), 1)
        wait_caught_up(master, replica)
        same_stream(master, replica, "live")
        r = replica.conn()
        assert_eq(int(r.call("GET", "counter")), writer.count)
        assert_eq(r.call("GET", "counter"), m.call("GET", "counter"))


@test(timeout=60)
def replicas_refuse_writes_and_report_their_role():
    with Server() as master, Server("--replicaof", "127.0.0.1", master.port) as replica:
        wait_link_up(replica)
        r = replica.conn()
        assert_error(r.call("SET", "k", "v"), "READONLY You can't write against a read only replica.")
        assert_error(r.call("XADD", "s", "*", "f", "v"), "READONLY")
        m = master.conn()
        m.call("SET", "k", "v")
        assert_eq(m.call("WAIT", 1, 10000), 1)
        wait_caught_up(master, replica)
        assert_eq(r.call("GET", "k"), b"v")
        role = r.call("ROLE")
        assert_eq(role[:4], [b"slave", b"127.0.0.1", master.port, b"connected"])
        mrole = m.call("ROLE")
        assert_eq(mrole[0], b"master")
        assert_eq(len(mrole[2]), 1)
        assert_eq(mrole[2][0][1], str(replica.port).encode())
        mi = info(m)
        assert_eq(mi["role"], "master")
        assert_eq(mi["connected_slaves"], "1")
        assert_true(mi["slave0"].startswith(f"ip=127.0.0.1,port={replica.port},state=online,"),
                    mi["slave0"])
        ri = info(r)
        assert_eq(ri["role"], "slave")
        assert_eq(ri["master_port"], str(master.port))
        assert_eq(ri["master_sync_in_progress"], "0")
        assert_eq(ri["slave_read_only"], "1")
        assert_eq(ri["master_replid"], mi["master_replid"])
        assert_eq(len(info(m, "server")["run_id"]), 40)
        # WAIT on a replica is refused; WAIT for more replicas than exist times out with 1.
        assert_error(r.call("WAIT", 1, 0), "ERR WAIT cannot be used with replica instances")
        assert_eq(m.call("WAIT", 2, 200), 1)


@test(timeout=60)
def blocked_readers_on_a_replica_wake_on_replicated_entries():
    with Server() as master, Server("--replicaof", "127.0.0.1", master.port) as replica:
        wait_link_up(replica)
        m = master.conn()
        m.call("XADD", "feed", "1-1", "a", "1")
        m.call("WAIT", 1, 10000)
        reader = replica.conn()
        reader.send("XREAD", "BLOCK", 0, "STREAMS", "feed", "$")
        time.sleep(0.2)
        m.call("XADD", "feed", "2-1", "b", "2")
        got = reader.read(timeout=10)
        assert_eq(got, [[b"feed", [[b"2-1", [b"b", b"2"]]]]])
        # A client blocked on a master's list is served by a later push: the replica gets the pop.
        blocker = master.conn()
        blocker.send("BLPOP", "q", 0)
        time.sleep(0.2)
        m.call("RPUSH", "q", "x", "y")
        assert_eq(blocker.read(timeout=10), [b"q", b"x"])
        # A blocked XREADGROUP served later: the replica gets the delivery.
        m.call("XGROUP", "CREATE", "feed", "g", "$")
        group_reader = master.conn()
        group_reader.send("XREADGROUP", "GROUP", "g", "c", "BLOCK", 0, "STREAMS", "feed", ">")
        time.sleep(0.2)
        m.call("XADD", "feed", "3-1", "c", "3")
        assert_eq(group_reader.read(timeout=10), [[b"feed", [[b"3-1", [b"c", b"3"]]]]])
        m.call("WAIT", 1, 10000)
        wait_caught_up(master, replica)
        assert_same_data(master, replica, dbs=(0,))


@test(timeout=60)
def dead_letters_reach_replicas_as_the_entry_and_its_ack():
    with Server() as master, Server("--replicaof", "127.0.0.1", master.port) as replica:
        wait_link_up(replica)
        m = master.conn()
        m.call("XADD", "jobs", "1-1", "job", "a")
        m.call("XADD", "jobs", "2-1", "job", "b")
        m.call("XGROUP", "CREATE", "jobs", "g", "0")
        assert_eq(m.call("XGROUP", "SETDLQ", "jobs", "g", "MAXDELIVERIES", 1, "STREAM", "dlq"),
                  "OK")
        m.call("XREADGROUP", "GROUP", "g", "w", "STREAMS", "jobs", ">")
        # A second delivery of 1-1 would pass the limit: it is dead-lettered instead.
        m.call("XCLAIM", "jobs", "g", "w2", 0, "1-1")
        # XNACK FATAL dead-letters 2-1 at once.
        m.call("XNACK", "jobs", "g", "FATAL", "IDS", 1, "2-1")
        dlq = m.call("XRANGE", "dlq", "-", "+")
        assert_eq(len(dlq), 2)
        assert_eq(m.call("XPENDING", "jobs", "g")[0], 0)
        m.call("WAIT", 1, 10000)
        wait_caught_up(master, replica)
        r = replica.conn()
        assert_eq(r.call("XRANGE", "dlq", "-", "+"), dlq)
        assert_eq(r.call("XPENDING", "jobs", "g")[0], 0)
        assert_same_data(master, replica, dbs=(0,))


@test(timeout=90)
def a_restarted_replica_resumes_with_a_partial_resync():
    with Server() as master, Server("--replicaof", "127.0.0.1", master.port) as replica:
        wait_link_up(replica)
        m = master.conn()
        for i in range(100):
            m.call("XADD", "s", "*", "i", i)
        m.call("WAIT", 1, 10000)
        wait_caught_up(master, replica)
        before = info(m, "stats")
        replica.stop()
        for i in range(100):
            m.call("XADD", "s", "*", "i", i)
            m.call("HSET", "h", i, i)
        replica.start()
        wait_link_up(replica)
        m.call("WAIT", 1, 10000)
        wait_caught_up(master, replica)
        after = info(m, "stats")
        assert_eq(int(after["sync_partial_ok"]), int(before["sync_partial_ok"]) + 1)
        assert_eq(after["sync_full"], before["sync_full"])
        assert_same_data(master, replica, dbs=(0,))


@test(timeout=90)
def a_promoted_replica_takes_writes_and_keeps_the_old_history():
    with Server() as master, Server("--replicaof", "127.0.0.1", master.port) as r1, \
            Server("--replicaof", "127.0.0.1", master.port) as r2:
        wait_link_up(r1)
        wait_link_up(r2)
        m = master.conn()
        m.call("XADD", "s", "*", "f", "v")
        m.call("WAIT", 2, 10000)
        wait_caught_up(master, r1, r2)
        old_id = info(m)["master_replid"]
        master.stop()
        c1 = r1.conn()
        assert_eq(c1.call("REPLICAOF", "NO", "ONE"), "OK")
        i1 = info(c1)
        assert_eq(i1["role"], "master")
        assert_eq(i1["master_replid2"], old_id)
        # The other replica follows the promoted one without a full copy.
        assert_eq(r2.conn().call("REPLICAOF", "127.0.0.1", r1.port), "OK")
        wait_link_up(r2)
        assert_eq(info(c1, "stats")["sync_partial_ok"], "1")
        assert_eq(info(c1, "stats")["sync_full"], "0")
        c1.call("XADD", "s", "*", "after", "promotion")
        c1.call("SET", "new", "data")
        assert_eq(c1.call("WAIT", 1, 10000), 1)
        wait_caught_up(r1, r2)
        assert_eq(r2.conn().call("GET", "new"), b"data")
        assert_same_data(r1, r2, dbs=(0,))


@test(timeout=60)
def replicaof_at_runtime_and_bad_arguments():
    with Server() as master, Server() as other:
        master.conn().call("SET", "from-master", "1")
        o = other.conn()
        o.call("SET", "local", "gone after the sync")
        assert_error(o.call("REPLICAOF", "127.0.0.1", "notaport"), "ERR")
        assert_eq(o.call("REPLICAOF", "127.0.0.1", master.port), "OK")
        wait_link_up(other)
        assert_eq(o.call("GET", "from-master"), b"1")
        assert_eq(o.call("EXISTS", "local"), 0)
        assert_eq(o.call("SLAVEOF", "NO", "ONE"), "OK")
        assert_eq(o.call("SET", "local", "again"), "OK")
        assert_eq(info(o)["role"], "master")


class FakeReplica:
    """A raw PSYNC connection: reads the full-sync header and payload, then the command stream,
    decoded command by command."""

    def __init__(self, master):
        self.conn = master.conn()
        self.buf = b""
        self.conn.send("PSYNC", "?", "-1")
        header = self._line()
        assert_true(header.startswith(b"+FULLRESYNC "), header)
        self.replid, offset = header.split()[1:3]
        self.offset = int(offset)
        size = int(self._line()[1:])
        self._need(size)
        self.payload, self.buf = self.buf[:size], self.buf[size:]
        self.commands = []

    def _recv(self):
        self.conn.sock.settimeout(10)
        chunk = self.conn.sock.recv(65536)
        assert_true(chunk, "master closed the replication link")
        self.buf += chunk

    def _need(self, n):
        while len(self.buf) < n:
            self._recv()

    def _line(self):
        while b"\r\n" not in self.buf:
            self._recv()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_until(self, predicate):
        while not predicate(self.commands):
            while True:
                end = frame_end(self.buf) if self.buf else None
                if end is None:
                    break
                value, _ = parse(self.buf[:end])
                self.offset += end
                self.buf = self.buf[end:]
                self.commands.append([v.upper() if i == 0 else v for i, v in enumerate(value)])
            if not predicate(self.commands):
                self._recv()
        return self.commands


@test(timeout=60)
def the_stream_carries_effects_and_counts_bytes():
    with Server() as master:
        m = master.conn()
        m.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
        r = FakeReplica(master)
        assert_eq(r.offset, int(info(m)["master_repl_offset"]))
        entry_id = m.call("XADD", "s", "*", "f", "v")
        got = m.call("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
        assert_eq(got[0][1][0][0], entry_id)
        m.call("EVAL", "redis.call('SET', 'a', '1'); redis.call('INCR', KEYS[1])", 1, "n")
        m.call("SADD", "set", "only")
        m.call("SPOP", "set")
        m.call("SET", "ttl", "v", "PX", 100)
        m.call("SELECT", 2)
        m.call("SET", "in-db2", "x")
        cmds = r.read_until(lambda c: [b"SET", b"in-db2", b"x"] in c)
        # XADD with the concrete ID; the delivery as XCLAIM with its time, count and cursor.
        assert_true([b"XADD", b"s", entry_id, b"f", b"v"] in cmds, cmds)
        claim = [c for c in cmds if c[0] == b"XCLAIM"][0]
        assert_eq(claim[1:6], [b"s", b"g", b"c", b"0", entry_id])
        assert_eq(claim[8:], [b"RETRYCOUNT", b"1", b"FORCE", b"JUSTID", b"LASTID", entry_id])
        assert_true([b"XGROUP", b"SETID", b"s", b"g", entry_id, b"ENTRIESREAD", b"1"] in cmds,
                    cmds)
        # The script as what it did, in MULTI/EXEC.
        i = cmds.index([b"SET", b"a", b"1"])
        assert_eq(cmds[i - 1:i + 3], [[b"MULTI"], [b"SET", b"a", b"1"], [b"INCR", b"n"], [b"EXEC"]])
        assert_true([b"EVAL"] not in [c[:1] for c in cmds], cmds)
        # SPOP as the SREM of the member it popped; a relative TTL with its absolute time.
        assert_true([b"SREM", b"set", b"only"] in cmds, cmds)
        j = cmds.index([b"SET", b"ttl", b"v", b"PX", b"100"])
        assert_eq(cmds[j + 1][:2], [b"PEXPIREAT", b"ttl"])
        assert_eq(cmds[-2:], [[b"SELECT", b"2"], [b"SET", b"in-db2", b"x"]])
        # An expired key goes as DEL.
        time.sleep(0.2)
        m.call("SELECT", 0)
        assert_eq(m.call("GET", "ttl"), None)
        cmds = r.read_until(lambda c: [b"DEL", b"ttl"] in c)
        assert_eq(cmds[-2:], [[b"SELECT", b"0"], [b"DEL", b"ttl"]])
        assert_eq(r.offset, int(info(m)["master_repl_offset"]))


@test(timeout=60)
def published_messages_reach_subscribers_of_replicas():
    with Server() as master, Server("--replicaof", "127.0.0.1", master.port) as replica:
        wait_link_up(replica)
        sub = replica.conn()
        assert_eq(sub.call("SUBSCRIBE", "news"), [b"subscribe", b"news", 1])
        master.conn().call("PUBLISH", "news", "hello")
        assert_eq(sub.read(timeout=10), [b"message", b"news", b"hello"])


@test(timeout=90)
def a_replica_behind_the_backlog_gets_a_full_copy():
    with Server("--repl-backlog-size", "16kb") as master, \
            Server("--replicaof", "127.0.0.1", master.port) as replica:
        wait_link_up(replica)
        m = master.conn()
        m.call("XADD", "s", "*", "f", "v")
        m.call("WAIT", 1, 10000)
        wait_caught_up(master, replica)
        replica.stop()
        # Far more than the backlog keeps, trimmed meanwhile: the replica's offset is gone.
        for i in range(500):
            m.call("XADD", "s", "*", "i", i, "pad", "p" * 200)
        m.call("XTRIM", "s", "MAXLEN", 100)
        before = info(m, "stats")
        replica.start()
        wait_link_up(replica)
        m.call("WAIT", 1, 10000)
        wait_caught_up(master, replica)
        after = info(m, "stats")
        assert_eq(int(after["sync_full"]), int(before["sync_full"]) + 1)
        assert_eq(after["sync_partial_ok"], before["sync_partial_ok"])
        assert_eq(replica.conn().call("XLEN", "s"), 100)
        assert_same_data(master, replica, dbs=(0,))


@test(timeout=60)
def min_replicas_to_write_and_client_types():
    with Server() as master:
        m = master.conn()
        assert_eq(m.call("CONFIG", "SET", "min-replicas-to-write", 1), "OK")
        assert_error(m.call("SET", "k", "v"), "NOREPLICAS Not enough good replicas to write.")
        with Server("--replicaof", "127.0.0.1", master.port) as replica:
            wait_link_up(replica)
            # The replica's first ACK makes it a good replica.
            wait_until(lambda: m.call("SET", "k", "v") == "OK", timeout=10,
                       msg="writes accepted with one replica")
            listed = m.call("CLIENT", "LIST", "TYPE", "replica").decode()
            assert_eq(len(listed.strip().splitlines()), 1)
            assert_true("flags=S" in listed, listed)
            assert_eq(m.call("CLIENT", "LIST", "TYPE", "normal").decode().count("flags=S"), 0)
            assert_eq(m.call("CLIENT", "KILL", "TYPE", "replica"), 1)
            # It reconnects and resumes where it was.
            wait_until(lambda: info(m, "stats")["sync_partial_ok"] == "1", timeout=10,
                       msg="partial resync after CLIENT KILL")
            wait_link_up(replica)
            # On the replica, TYPE master drops its link to the master, which it makes again.
            r = replica.conn()
            assert_eq(r.call("CLIENT", "KILL", "TYPE", "master"), 1)
            wait_until(lambda: info(m, "stats")["sync_partial_ok"] == "2", timeout=10,
                       msg="partial resync after CLIENT KILL TYPE master")
            wait_link_up(replica)
            assert_eq(m.call("CLIENT", "KILL", "TYPE", "master"), 0)
            assert_eq(info(m, "stats")["sync_full"], "1")


def role_of(srv):
    return info(srv.conn()).get("role")


@test(timeout=120)
def failover_hands_the_master_role_to_a_replica():
    conf_server = Server(start=False, template=f"{server_binary()} {{dir}}/sluice.conf "
                         "--port {port} --dir {dir}")
    (conf_server.dir / "sluice.conf").write_text("appendfsync everysec\n")
    master = conf_server.start()
    with Server("--replicaof", "127.0.0.1", master.port) as r1, \
            Server("--replicaof", "127.0.0.1", master.port) as r2:
        wait_link_up(r1)
        wait_link_up(r2)
        m, c1 = master.conn(), r1.conn()
        for i in range(100):
            m.call("XADD", "s", "*", "i", i)
            m.call("SET", f"k{i % 10}", i)
        assert_eq(m.call("WAIT", 2, 10000), 2)
        # Errors that need replicas.
        assert_error(m.call("FAILOVER", "TO", "127.0.0.1", 1),
                     "ERR FAILOVER target HOST and PORT is not a replica.")
        assert_error(m.call("FAILOVER", "TO", "127.0.0.1", r1.port, "FORCE"),
                     "ERR FAILOVER with force option requires both a timeout and target HOST "
                     "and IP.")
        assert_error(c1.call("FAILOVER"), "ERR FAILOVER is not valid when server is a replica.")
        assert_error(c1.call("PSYNC", "0" * 40, 1, "FAILOVER"),
                     "ERR PSYNC FAILOVER replid must match my replid.")
        assert_error(master.conn().call("PSYNC", "0" * 40, 1, "FAILOVER"),
                     "ERR PSYNC FAILOVER can't be sent to a master.")
        assert_eq(info(m)["master_failover_state"], "no-failover")
        r1_before = info(c1, "stats")
        assert_eq(m.call("FAILOVER", "TO", "127.0.0.1", r1.port), "OK")
        wait_until(lambda: info(m)["master_failover_state"] == "no-failover" and
                   role_of(master) == "slave" and role_of(r1) == "master", timeout=20,
                   msg="failover completes")
        mi = info(m)
        assert_eq((mi["master_host"], mi["master_port"]), ("127.0.0.1", str(r1.port)))
        wait_link_up(master)
        # The old master continued from the promoted replica's history: no full copy.
        r1_after = info(c1, "stats")
        assert_eq(int(r1_after["sync_partial_ok"]), int(r1_before["sync_partial_ok"]) + 1)
        assert_eq(r1_after["sync_full"], r1_before["sync_full"])
        # Writes go to the new master and reach the old one (and r2, chained through it).
        assert_error(m.call("SET", "x", "1"), "READONLY You can't write against a read only "
                     "replica.")
        c1.call("XADD", "s", "*", "after", "failover")
        c1.call("SET", "after", "failover")
        assert_true(c1.call("WAIT", 1, 10000) >= 1, "the old master acknowledges")
        wait_caught_up(r1, master)
        assert_same_data(r1, master, dbs=(0,))
        wait_until(lambda: r2.conn().call("GET", "after") == b"failover", timeout=20,
                   msg="the other replica follows through the old master")
        assert_same_data(r1, r2, dbs=(0,))
        # CONFIG REWRITE keeps the new role in the config file.
        assert_eq(m.call("CONFIG", "REWRITE"), "OK")
        text = (conf_server.dir / "sluice.conf").read_text()
        assert_true(f"replicaof 127.0.0.1 {r1.port}" in text, text)
    master.stop()


@test(timeout=120)
def failover_timeout_abort_and_force():
    with Server() as master, Server("--replicaof", "127.0.0.1", master.port) as rep:
        wait_link_up(rep)
        m = master.conn()
        m.call("SET", "k", "v")
        assert_eq(m.call("WAIT", 1, 10000), 1)
        # A replica that cannot acknowledge (stopped): the wait times out, writes resume.
        os.kill(rep.pid, signal.SIGSTOP)
        try:
            assert_eq(m.call("FAILOVER", "TO", "127.0.0.1", rep.port, "TIMEOUT", 500), "OK")
            assert_eq(info(m)["master_failover_state"], "waiting-for-sync")
            assert_error(m.call("FAILOVER"), "ERR FAILOVER already in progress.")
            assert_error(m.call("REPLICAOF", "NO", "ONE"),
                         "ERR REPLICAOF not allowed while failing over.")
            writer = master.conn()
            writer.send("SET", "held", "1")
            assert_true(not writer.pending(0.2), "writes are held during the failover")
            assert_eq(writer.read(timeout=10), "OK")
            assert_eq(info(m)["master_failover_state"], "no-failover")
            assert_eq(role_of(master), "master")
            # ABORT ends a wait without a timeout.
            assert_eq(m.call("FAILOVER"), "OK")
            assert_eq(info(m)["master_failover_state"], "waiting-for-sync")
            assert_eq(m.call("FAILOVER", "ABORT"), "OK")
            assert_eq(info(m)["master_failover_state"], "no-failover")
            assert_error(m.call("FAILOVER", "ABORT"), "ERR No failover in progress.")
            assert_eq(m.call("SET", "after:abort", "1"), "OK")
            os.kill(rep.pid, signal.SIGCONT)
            assert_eq(m.call("WAIT", 1, 10000), 1)
            os.kill(rep.pid, signal.SIGSTOP)
            # FORCE fails over once the timeout passes, caught up or not (here the replica
            # misses only the master's GETACK).
            assert_eq(m.call("FAILOVER", "TO", "127.0.0.1", rep.port, "TIMEOUT", 300, "FORCE"),
                      "OK")
            wait_until(lambda: info(m)["master_failover_state"] == "failover-in-progress",
                       timeout=10, msg="forced past the timeout")
        finally:
            os.kill(rep.pid, signal.SIGCONT)
        wait_until(lambda: info(m)["master_failover_state"] == "no-failover" and
                   role_of(rep) == "master" and role_of(master) == "slave", timeout=20,
                   msg="forced failover completes")
        wait_link_up(master)
        r = rep.conn()
        assert_eq(r.call("GET", "after:abort"), b"1")
        assert_eq(r.call("GET", "held"), b"1")
        r.call("SET", "new", "master")
        assert_eq(r.call("WAIT", 1, 10000), 1)
        assert_eq(m.call("GET", "new"), b"master")
        # FAILOVER without TO takes the first replica that caught up: the roles swap back.
        assert_eq(r.call("FAILOVER"), "OK")
        wait_until(lambda: info(r)["master_failover_state"] == "no-failover" and
                   role_of(master) == "master" and role_of(rep) == "slave", timeout=20,
                   msg="failover to any replica completes")
        wait_link_up(rep)
        assert_eq(m.call("SET", "back", "home"), "OK")
        assert_eq(m.call("WAIT", 1, 10000), 1)
        assert_eq(r.call("GET", "back"), b"home")


def start_sentinel(master_port):
    s = Server(template="/usr/bin/redis-sentinel {dir}/sentinel.conf --port {port}",
               start=False, name="sentinel")
    (s.dir / "sentinel.conf").write_text(
        "bind 127.0.0.1\n"
        "daemonize no\n"
        f"dir {s.dir}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master_port} 2\n"
        "sentinel down-after-milliseconds mymaster 2000\n"
        "sentinel failover-timeout mymaster 10000\n"
        "sentinel parallel-syncs mymaster 1\n")
    return s.start()


def master_port_of(sentinel):
    addr = sentinel.conn().call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
    return int(addr[1])


@test(timeout=120)
def sentinel_fails_over_to_a_replica_and_keeps_waited_writes():
    if not shutil.which("redis-sentinel"):
        raise AssertionError("redis-sentinel is not installed (scripts/deps.sh)")
    master = Server()
    r1 = Server("--replicaof", "127.0.0.1", master.port)
    r2 = Server("--replicaof", "127.0.0.1", master.port)
    wait_link_up(r1)
    wait_link_up(r2)
    sentinels = [start_sentinel(master.port) for _ in range(3)]
    for s in sentinels:
        c = s.conn()
        wait_until(lambda: len(c.call("SENTINEL", "REPLICAS", "mymaster")) == 2 and
                   len(c.call("SENTINEL", "SENTINELS", "mymaster")) == 2, timeout=30,
                   msg="sentinels discovered the replicas and each other")
    m = master.conn()
    m.call("XGROUP", "CREATE", "orders", "g", "$", "MKSTREAM")
    acked = []
    for i in range(200):
        entry_id = m.call("XADD", "orders", "*", "n", i)
        if i % 20 == 19:
            assert_eq(m.call("WAIT", 1, 5000) >= 1, True)
            acked.append(entry_id)
    m.call("XREADGROUP", "GROUP", "g", "c", "COUNT", 50, "STREAMS", "orders", ">")
    assert_true(m.call("WAIT", 2, 5000) == 2)
    last_acked = acked[-1]
    killed_at = time.monotonic()
    master.kill9()
    wait_until(lambda: master_port_of(sentinels[0]) != master.port, timeout=60,
               msg="sentinel promoted a replica")
    took = time.monotonic() - killed_at
    print(f"      failover took {took:.1f} s after kill -9", flush=True)
    new_port = master_port_of(sentinels[0])
    promoted, other = (r1, r2) if r1.port == new_port else (r2, r1)
    assert_eq(promoted.port, new_port)
    p = promoted.conn()
    wait_until(lambda: info(p)["role"] == "master", timeout=10, msg="promoted replica is master")
    ids = [e[0] for e in p.call("XRANGE", "orders", "-", "+")]
    for entry_id in acked:
        assert_true(entry_id in ids, f"acknowledged entry {entry_id!r} survived")
    assert_eq(p.call("XPENDING", "orders", "g")[0], 50)
    new_id = p.call("XADD", "orders", "*", "after", "failover")
    as_tuple = lambda i: tuple(int(x) for x in i.split(b"-"))  # noqa: E731
    assert_true(as_tuple(new_id) > as_tuple(ids[-1]) >= as_tuple(last_acked), "IDs keep growing")
    # The other replica now follows the promoted one, and the old master rejoins as a replica.
    wait_until(lambda: info(other.conn()).get("master_port") == str(new_port) and
               info(other.conn()).get("master_link_status") == "up", timeout=60,
               msg="the other replica follows the new master")
    master.start()
    wait_until(lambda: info(master.conn()).get("master_port") == str(new_port) and
               info(master.conn()).get("master_link_status") == "up", timeout=60,
               msg="the old master rejoined as a replica")
    assert_eq(p.call("WAIT", 2, 10000), 2)
    wait_caught_up(promoted, other, master)
    assert_same_data(promoted, other, dbs=(0,))
    assert_same_data(promoted, master, dbs=(0,))
    for s in sentinels:
        s.stop()
    for srv in (master, r1, r2):
        srv.stop()


@test(timeout=60)
def acl_monitor_and_pauses_leave_the_master_link_alone():
    with Server() as master, Server("--replicaof", "127.0.0.1", master.port) as rep:
        wait_link_up(rep)
        m, r = master.conn(), rep.conn()
        # The replica's default user may not write, and the replica pauses its clients' writes:
        # the master's stream is applied all the same, and a MONITOR on the replica shows it.
        assert_eq(r.call("ACL", "SETUSER", "default", "-@write"), "OK")
        assert_eq(r.call("CLIENT", "PAUSE", 100_000, "WRITE"), "OK")
        mon = rep.conn()
        assert_eq(mon.call("MONITOR"), "OK")
        m.call("SET", "after:acl", "v")
        m.call("XADD", "after:acl:s", "1-1", "f", "v")
        assert_eq(m.call("WAIT", 1, 10000), 1)
        wait_caught_up(master, rep)
        assert_eq(r.call("GET", "after:acl"), b"v")
        assert_eq(r.call("XLEN", "after:acl:s"), 1)
        # The SELECT (and a PING) the master sent may come first.
        seen = []
        while len(seen) < 5 and not any('"SET" "after:acl" "v"' in line for line in seen):
            seen.append(mon.read())
        assert_true(any('"SET" "after:acl" "v"' in line for line in seen), seen)
        r.call("CLIENT", "UNPAUSE")
        # CLIENT PAUSE WRITE on the master holds a client's write (and its propagation) while the
        # replica keeps acknowledging; the write reaches the replica once the pause ends.
        assert_eq(m.call("CLIENT", "PAUSE", 100_000, "WRITE"), "OK")
        writer = master.conn()
        writer.send("SET", "held", "1")
        assert_eq(m.call("WAIT", 1, 10000), 1)
        assert_eq(m.call("EXISTS", "held"), 0)
        assert_eq(r.call("EXISTS", "held"), 0)
        assert_eq(m.call("CLIENT", "UNPAUSE"), "OK")
        assert_eq(writer.read(), "OK")
        assert_eq(m.call("WAIT", 1, 10000), 1)
        assert_eq(r.call("GET", "held"), b"1")
        assert_same_data(master, rep, dbs=(0,))


@test(timeout=90)
def a_partial_resync_continues_in_the_database_the_stream_was_in():
    # The master SELECTs only when its stream changes database, so a replica that resumes must
    # start its new master client where the old one was: after a killed link, a clean restart
    # and a kill -9. Before, each of these writes landed in database 0 of the replica.
    with Server() as master, Server("--replicaof", "127.0.0.1", master.port) as replica:
        wait_link_up(replica)
        m = master.conn()
        assert_eq(m.call("SELECT", 5), "OK")
        assert_eq(m.call("SET", "before", "1"), "OK")
        assert_eq(m.call("WAIT", 1, 10000), 1)
        cases = [("link", lambda: replica.conn().call("CLIENT", "KILL", "TYPE", "master")),
                 ("restart", replica.stop), ("kill9", replica.kill9)]
        for n, (name, cut) in enumerate(cases, 1):
            wait_caught_up(master, replica)
            before = info(m, "stats")
            cut()
            assert_eq(m.call("SET", f"after:{name}", n), "OK")
            if not replica.alive:
                replica.start()
            wait_link_up(replica)
            assert_eq(m.call("WAIT", 1, 10000), 1)
            wait_caught_up(master, replica)
            after = info(m, "stats")
            assert_eq(int(after["sync_partial_ok"]), int(before["sync_partial_ok"]) + 1, name)
            r = replica.conn()
            assert_eq(r.call("SELECT", 5), "OK")
            assert_eq(r.call("GET", f"after:{name}"), str(n).encode(), name)
            assert_eq(r.call("SELECT", 0), "OK")
            assert_eq(r.call("DBSIZE"), 0, f"{name}: nothing in database 0")
        assert_same_data(master, replica, dbs=(0, 5))


class FakeMaster(threading.Thread):
    """A master that speaks the handshake, answers PSYNC with +CONTINUE and then sends what each
    connection's script says: the bytes the replica gets before the link is cut."""

    ID = "f" * 40

    def __init__(self, scripts):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.scripts = list(scripts)
        self.psyncs = []
        self.failure = None

    def run(self):
        try:
            for script in self.scripts:
                conn, _ = self.sock.accept()
                with conn:
                    self.serve(conn, script)
        except Exception as e:  # reported by the test
            self.failure = e

    def serve(self, conn, script):
        buf = bytearray()
        while True:
            end = frame_end(buf, 0) if buf else None
            if end is None:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
                continue
            cmd = [a.decode() for a in parse(bytes(buf[:end]))[0]]
            del buf[:end]
            if cmd[0].upper() == "PING":
                conn.sendall(b"+PONG\r\n")
            elif cmd[0].upper() == "REPLCONF" and cmd[1].upper() != "ACK":  # ACK: no reply
                conn.sendall(b"+OK\r\n")
            elif cmd[0].upper() == "PSYNC":
                self.psyncs.append(cmd[1:])
                hold = script.endswith(b"HOLD")  # keep the link until the replica closes it
                if hold:
                    script = script[:-4]
                conn.sendall(f"+CONTINUE {self.ID}\r\n".encode() + script)
                if hold:
                    continue
                time.sleep(0.3)
                return


def resp_commands(*commands):
    out = b""
    for cmd in commands:
        out += f"*{len(cmd)}\r\n".encode()
        for a in cmd:
            a = str(a).encode()
            out += f"${len(a)}\r\n".encode() + a + b"\r\n"
    return out


@test(timeout=60)
def a_link_lost_inside_a_transaction_resumes_from_its_multi():
    # A transaction counts (offset, backlog) once its EXEC ran, as Redis's reploff: the link cut
    # after MULTI and one queued command resumes at the MULTI, and the master sends it whole.
    # Before, the offset included the MULTI, the new link's client got SET and EXEC outside a
    # transaction (EXEC without MULTI) and the data ran ahead of the offset.
    first = resp_commands(("SELECT", 3), ("SET", "a", 1))
    txn = resp_commands(("MULTI",), ("SET", "b", 2), ("INCR", "n"), ("EXEC",))
    cut = len(resp_commands(("MULTI",), ("SET", "b", 2)))
    after = resp_commands(("SET", "c", 3))
    fake = FakeMaster([first + txn[:cut], txn + after + b"HOLD"])
    fake.start()
    with Server("--replicaof", "127.0.0.1", fake.port) as replica:
        r = replica.conn()
        wait_until(lambda: len(fake.psyncs) == 2, timeout=20, msg="the replica reconnects")
        assert_eq(fake.psyncs[1], [FakeMaster.ID, str(len(first) + 1)], "PSYNC at the MULTI")
        total = len(first) + len(txn) + len(after)
        wait_until(lambda: info(r)["slave_repl_offset"] == str(total), timeout=10,
                   msg=f"the replica applies the resent transaction (offset {total})")
        assert_eq(r.call("SELECT", 3), "OK")
        assert_eq([r.call("GET", k) for k in ("a", "b", "n", "c")], [b"1", b"2", b"1", b"3"])
        assert_eq(fake.failure, None)


@test(timeout=60)
def the_master_client_is_listed_killed_and_kept_across_a_partial_resync():
    with Server() as master, Server("--replicaof", "127.0.0.1", master.port) as replica:
        wait_link_up(replica)
        m, r = master.conn(), replica.conn()
        assert_eq(m.call("SELECT", 2), "OK")
        assert_eq(m.call("SET", "k", "v"), "OK")
        assert_eq(m.call("WAIT", 1, 10000), 1)
        listed = r.call("CLIENT", "LIST", "TYPE", "master").decode().strip().splitlines()
        assert_eq(len(listed), 1, listed)
        fields = dict(f.split("=", 1) for f in listed[0].split(" "))
        assert_eq((fields["flags"], fields["addr"], fields["db"], fields["user"], fields["cmd"]),
                  ("M", f"127.0.0.1:{master.port}", "2", "(superuser)", "set"))
        # Counted as Redis counts it; the normal type does not include it.
        assert_eq(info(r, "clients")["connected_clients"], "2")
        assert_true("flags=M" not in r.call("CLIENT", "LIST", "TYPE", "normal").decode())
        # It runs as no user: USER default does not match it.
        assert_eq(r.call("CLIENT", "KILL", "USER", "default"), 0)
        # Killed by ID it reconnects with a partial resync and keeps its ID (Redis's cached
        # master) and database.
        before = info(m, "stats")
        assert_eq(r.call("CLIENT", "KILL", "ID", fields["id"]), 1)
        wait_until(lambda: int(info(m, "stats")["sync_partial_ok"]) ==
                   int(before["sync_partial_ok"]) + 1, timeout=10, msg="partial resync")
        wait_link_up(replica)
        again = r.call("CLIENT", "LIST", "TYPE", "master").decode().strip().splitlines()
        assert_eq(len(again), 1, again)
        fields2 = dict(f.split("=", 1) for f in again[0].split(" "))
        assert_eq((fields2["id"], fields2["db"]), (fields["id"], "2"))
        assert_true(fields2["laddr"] != fields["laddr"], "a new connection")
        # A master lists none; a client sees itself as the command it runs.
        assert_eq(m.call("CLIENT", "LIST", "TYPE", "master"), b"")
        assert_true(" cmd=client|info " in r.call("CLIENT", "INFO").decode())
        # Promoted, the replica has no master client.
        assert_eq(r.call("REPLICAOF", "NO", "ONE"), "OK")
        wait_until(lambda: r.call("CLIENT", "LIST", "TYPE", "master") == b"", timeout=5,
                   msg="the master client goes")
        assert_eq(info(r, "clients")["connected_clients"], "1")


if __name__ == "__main__":
    main()
