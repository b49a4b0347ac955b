"""Lists through the real server: random commands against a Python model (replies and contents,
across DEBUG RELOAD and restarts, so every journal record replays to the same list), durability
under appendfsync always with kill -9, blocking pops with several clients (FIFO, timeouts,
disconnects, CLIENT UNBLOCK, INFO blocked_clients), WATCH and INFO keyspace."""

import random
import socket
import threading
import time

import redis
from sluice_harness import (ReplyError, Server, assert_eq, assert_true, main, shared_server, test,
                            test_both, wait_until)

KEYS = [b"la", b"lb", b"lc"]


def element(rng):
    kind = rng.randrange(10)
    if kind < 3:
        return str(rng.randrange(-5000, 5000)).encode()
    if kind == 3:
        return str(rng.randrange(-2**63, 2**63)).encode()
    if kind < 6:
        return rng.choice([b"a", b"b", b"c", b"", b"0x1", b"-0", b"01"])
    if kind < 8:
        return bytes(rng.randrange(97, 100) for _ in range(rng.randrange(1, 40)))
    return bytes([rng.randrange(97, 123)]) * rng.randrange(100, 700)


def clamp_range(start, end, n):
    if start < 0:
        start += n
    if end < 0:
        end += n
    start = max(start, 0)
    if start > end or start >= n:
        return None
    return start, min(end, n - 1)


class Model:
    """What Redis would hold and answer, for the commands the random test sends."""

    def __init__(self):
        self.lists = {}

    def get(self, k):
        return self.lists.get(k, [])

    def store(self, k, lst):
        if lst:
            self.lists[k] = lst
        else:
            self.lists.pop(k, None)

    def push(self, k, elems, head, only_existing=False):
        if only_existing and k not in self.lists:
            return 0
        lst = self.get(k)
        for e in elems:
            lst.insert(0, e) if head else lst.append(e)
        self.store(k, lst)
        return len(lst)

    def pop(self, k, head, count):
        lst = self.get(k)
        if k not in self.lists:
            return None
        if count is None:
            v = lst.pop(0) if head else lst.pop()
            self.store(k, lst)
            return v
        out = []
        for _ in range(min(count, len(lst))):
            out.append(lst.pop(0) if head else lst.pop())
        self.store(k, lst)
        return out

    def lpos(self, k, e, rank, count, maxlen):
        lst = self.get(k)
        idxs = range(len(lst)) if rank > 0 else range(len(lst) - 1, -1, -1)
        skip = abs(rank) - 1
        out = []
        for n, i in enumerate(idxs):
            if maxlen and n >= maxlen:
                break
            if lst[i] != e:
                continue
            if skip:
                skip -= 1
                continue
            out.append(i)
            if count is not None and count != 0 and len(out) == count:
                break
            if count is None:
                break
        if count is None:
            return out[0] if out else None
        return out


def random_step(rng, conn, model):
    k = rng.choice(KEYS)
    op = rng.randrange(100)
    size = len(model.get(k))
    if op < 22 and size < 1500:
        head = rng.random() < 0.5
        elems = [element(rng) for _ in range(rng.randrange(1, 40))]
        only = rng.random() < 0.1
        name = ("L" if head else "R") + "PUSH" + ("X" if only else "")
        return conn.call(name, k, *elems), model.push(k, elems, head, only)
    if op < 40:
        head = rng.random() < 0.5
        count = None if rng.random() < 0.5 else rng.randrange(0, 30)
        args = [] if count is None else [count]
        return conn.call("LPOP" if head else "RPOP", k, *args), model.pop(k, head, count)
    if op < 50:
        s, e = rng.randrange(-size - 3, size + 3), rng.randrange(-size - 3, size + 3)
        r = clamp_range(s, e, size)
        lst = model.get(k)
        return conn.call("LRANGE", k, s, e), ([] if r is None else lst[r[0]:r[1] + 1])
    if op < 55:
        i = rng.randrange(-size - 2, size + 2)
        lst = model.get(k)
        want = lst[i] if -size <= i < size else None
        return conn.call("LINDEX", k, i), want
    if op < 62:
        i = rng.randrange(-size - 1, size + 1)
        e = element(rng)
        got = conn.call("LSET", k, i, e)
        if k not in model.lists:
            return got, ReplyError("ERR no such key")
        if not -size <= i < size:
            return got, ReplyError("ERR index out of range")
        model.lists[k][i] = e
        return got, "OK"
    if op < 69 and size < 1500:
        lst = model.get(k)
        pivot = rng.choice(lst) if lst and rng.random() < 0.8 else element(rng)
        after = rng.random() < 0.5
        e = element(rng)
        got = conn.call("LINSERT", k, "AFTER" if after else "BEFORE", pivot, e)
        if k not in model.lists:
            return got, 0
        if pivot not in lst:
            return got, -1
        lst.insert(lst.index(pivot) + (1 if after else 0), e)
        return got, len(lst)
    if op < 75:
        lst = model.get(k)
        e = rng.choice(lst) if lst and rng.random() < 0.8 else element(rng)
        count = rng.randrange(-4, 5)
        got = conn.call("LREM", k, count, e)
        removed = 0
        order = range(len(lst)) if count >= 0 else range(len(lst) - 1, -1, -1)
        drop = set()
        for i in order:
            if lst[i] == e and (count == 0 or removed < abs(count)):
                drop.add(i)
                removed += 1
        model.store(k, [v for i, v in enumerate(lst) if i not in drop])
        return got, removed
    if op < 79:
        s, e = rng.randrange(-size - 3, size + 3), rng.randrange(-size - 3, size + 3)
        r = clamp_range(s, e, size)
        got = conn.call("LTRIM", k, s, e)
        if k in model.lists:
            lst = model.get(k)
            model.store(k, [] if r is None else lst[r[0]:r[1] + 1])
        return got, "OK"
    if op < 86:
        lst = model.get(k)
        e = rng.choice(lst) if lst and rng.random() < 0.8 else element(rng)
        rank = rng.choice([1, 2, 3, -1, -2, -3])
        count = rng.choice([None, 0, 1, 2, 5])
        maxlen = rng.choice([0, 0, 3, 50])
        args = ["RANK", rank, "MAXLEN", maxlen] + ([] if count is None else ["COUNT", count])
        return conn.call("LPOS", k, e, *args), model.lpos(k, e, rank, count, maxlen)
    if op < 93:
        dst = rng.choice(KEYS)
        src_head, dst_head = rng.random() < 0.5, rng.random() < 0.5
        got = conn.call("LMOVE", k, dst, "LEFT" if src_head else "RIGHT",
                        "LEFT" if dst_head else "RIGHT")
        if k not in model.lists:
            return got, None
        v = model.pop(k, src_head, None)
        model.push(dst, [v], dst_head)
        return got, v
    if op < 97:
        keys = rng.sample(KEYS, rng.randrange(1, 4))
        head = rng.random() < 0.5
        count = rng.randrange(1, 10)
        got = conn.call("LMPOP", len(keys), *keys, "LEFT" if head else "RIGHT", "COUNT", count)
        for key in keys:
            if key in model.lists:
                return got, [key, model.pop(key, head, count)]
        return got, None
    return conn.call("LLEN", k), size


def contents(conn):
    return {k: conn.call("LRANGE", k, 0, -1) for k in KEYS if conn.call("EXISTS", k)}


@test(timeout=180)
def random_list_commands_agree_with_a_model_across_reloads_and_restarts():
    rng = random.Random(12)
    with Server("--list-max-listpack-size", "-1") as srv:
        conn = srv.conn()
        model = Model()
        for step in range(12000):
            got, want = random_step(rng, conn, model)
            assert_eq(got, want, f"step {step}")
            if step % 3000 == 2999:
                assert_eq(conn.call("DEBUG", "RELOAD"), "OK")
                assert_eq(contents(conn), model.lists, f"after DEBUG RELOAD at step {step}")
        srv.restart()
        assert_eq(contents(srv.conn()), model.lists, "after a restart")


@test(timeout=120)
def a_long_list_survives_restarts_and_is_read_back_in_order():
    with Server() as srv:
        r = srv.client()
        p = r.pipeline(transaction=False)
        for i in range(0, 200000, 1000):
            p.rpush("big", *[f"item:{j}" for j in range(i, i + 1000)])
        p.execute()
        r.lpush("big", "head")
        r.ltrim("big", 0, 150000)
        r.lset("big", 75000, "middle")
        srv.restart()
        r = srv.client()
        assert_eq(r.llen("big"), 150001)
        assert_eq(r.lindex("big", 0), b"head")
        assert_eq(r.lindex("big", 75000), b"middle")
        assert_eq(r.lindex("big", -1), b"item:149999")
        assert_eq(r.lrange("big", 1, 3), [b"item:0", b"item:1", b"item:2"])
        assert_eq(r.lpos("big", "item:100000"), 100001)


@test(timeout=120)
def acknowledged_pushes_and_pops_survive_kill_9_under_appendfsync_always():
    with Server("--appendfsync", "always") as srv:
        stop = threading.Event()
        pushed, popped = set(), set()  # acknowledged operations
        lock = threading.Lock()

        # Two producers and a consumer racing; the kill comes while they run.
        def producer(name):
            c = srv.client()
            i = 0
            while not stop.is_set():
                try:
                    c.rpush("q", f"{name}-{i}")
                except Exception:  # noqa: BLE001 - the server is killed under it
                    return
                with lock:
                    pushed.add(f"{name}-{i}")
                i += 1

        in_flight = []  # an LPOP sent whose reply never came: it may have popped, durably

        def consumer():
            c = srv.client()
            while not stop.is_set():
                try:
                    in_flight.append(1)
                    v = c.lpop("q")
                    in_flight.pop()
                except Exception:  # noqa: BLE001
                    return
                if v is not None:
                    with lock:
                        popped.add(v.decode())

        threads = [threading.Thread(target=producer, args=(n,)) for n in ("p1", "p2")]
        threads.append(threading.Thread(target=consumer))
        for t in threads:
            t.start()
        wait_until(lambda: len(pushed) + len(popped) > 600, timeout=30,
                   msg="600 acknowledged operations")
        srv.kill9()
        stop.set()
        for t in threads:
            t.join()
        srv.start()
        remaining = [v.decode() for v in srv.client().lrange("q", 0, -1)]
        assert_true(not popped & set(remaining), "an acknowledged pop came back")
        missing = pushed - popped - set(remaining)
        # Only the LPOP cut short by the kill may have taken one: the head of the queue then.
        assert_true(len(missing) <= len(in_flight), f"acknowledged pushes lost: {sorted(missing)}")
        for m in missing:
            name, n = m.split("-")
            later = [v for v in remaining if v.startswith(name)]
            assert_true(all(int(v.split("-")[1]) > int(n) for v in later),
                        f"{m} is missing but was not the oldest element")
        # Each producer's elements stay in its order.
        for name in ("p1", "p2"):
            mine = [int(v.split("-")[1]) for v in remaining if v.startswith(name)]
            assert_eq(mine, sorted(mine))


@test(timeout=60)
def a_served_blocking_pop_is_durable_before_its_reply_under_appendfsync_always():
    with Server("--appendfsync", "always") as srv:
        waiter = srv.conn()
        waiter.send("BRPOPLPUSH", "jobs", "working", 0)
        wait_until(lambda: srv.conn().call("INFO", "clients").find(b"blocked_clients:1") >= 0)
        srv.client().rpush("jobs", "j1", "j2")
        assert_eq(waiter.read(), b"j2")
        srv.kill9()
        srv.start()
        r = srv.client()
        assert_eq(r.lrange("jobs", 0, -1), [b"j1"])
        assert_eq(r.lrange("working", 0, -1), [b"j2"])


def blocked_count(srv):
    info = srv.conn().call("INFO", "clients").decode()
    return int(info.split("blocked_clients:")[1].split()[0])


@test_both
def waiters_are_served_first_come_first_served(protocol):
    srv = shared_server()
    srv.conn().call("FLUSHALL")
    waiters = []
    for i in range(5):
        c = srv.conn(protocol)
        c.send("BLPOP", "fifo", "other", 0)
        waiters.append(c)
        wait_until(lambda: blocked_count(srv) == i + 1)
    srv.conn().call("RPUSH", "fifo", *[f"e{i}" for i in range(7)])
    for i, c in enumerate(waiters):
        assert_eq(c.read(), [b"fifo", f"e{i}".encode()])
    assert_eq(srv.conn().call("LRANGE", "fifo", 0, -1), [b"e5", b"e6"])
    assert_eq(blocked_count(srv), 0)


@test
def timeouts_are_exact_and_fractional():
    srv = shared_server()
    c = srv.conn()
    for timeout in ("0.2", "0.35", ".25"):
        started = time.monotonic()
        assert_eq(c.call("BLPOP", "never", timeout), None)
        assert_true(time.monotonic() - started >= float(timeout) - 0.005,
                    f"BLPOP {timeout} returned early")
    assert_eq(blocked_count(srv), 0)


@test
def a_waiter_that_disconnects_takes_nothing():
    srv = shared_server()
    srv.conn().call("FLUSHALL")
    gone = srv.conn()
    gone.send("BLPOP", "kept", 0)
    stays = srv.conn()
    stays.send("BLPOP", "kept", 0)
    wait_until(lambda: blocked_count(srv) == 2)
    gone.close()
    wait_until(lambda: blocked_count(srv) == 1, msg="the closed waiter to leave")
    srv.conn().call("RPUSH", "kept", "a", "b")
    assert_eq(stays.read(), [b"kept", b"a"])
    assert_eq(srv.conn().call("LRANGE", "kept", 0, -1), [b"b"])


@test_both
def client_unblock_answers_as_a_timeout_or_an_error(protocol):
    srv = shared_server()
    c = srv.conn(protocol)
    cid = c.call("CLIENT", "ID")
    c.send("BLMOVE", "nosrc", "dst", "LEFT", "RIGHT", 0)
    wait_until(lambda: blocked_count(srv) == 1)
    assert_eq(srv.conn().call("CLIENT", "UNBLOCK", cid), 1)
    assert_eq(c.read(), None)
    c.send("BLMPOP", 0, 1, "nokey", "LEFT")
    wait_until(lambda: blocked_count(srv) == 1)
    assert_eq(srv.conn().call("CLIENT", "UNBLOCK", cid, "ERROR"), 1)
    assert_eq(c.read(), ReplyError("UNBLOCKED client unblocked via CLIENT UNBLOCK"))
    assert_eq(srv.conn().call("CLIENT", "UNBLOCK", cid), 0)
    assert_eq(blocked_count(srv), 0)
    assert_eq(c.call("PING"), "PONG")


@test(timeout=120)
def many_waiters_and_producers_deliver_every_element_exactly_once():
    srv = shared_server()
    srv.conn().call("FLUSHALL")
    got = []
    lock = threading.Lock()

    def consumer():
        c = srv.client()
        while True:
            r = c.execute_command("BLMPOP", 5, 2, "qa", "qb", "LEFT", "COUNT", 3)
            if r is None:
                return
            for v in r[1]:
                if v == b"stop":
                    return
                with lock:
                    got.append(v)

    consumers = [threading.Thread(target=consumer) for _ in range(8)]
    for t in consumers:
        t.start()
    wait_until(lambda: blocked_count(srv) >= 1)

    def producer(p):
        c = srv.client()
        for i in range(0, 2000, 4):
            c.rpush(rng_key(p, i), *[f"{p}:{i + j}" for j in range(4)])

    def rng_key(p, i):
        return "qa" if (p + i) % 3 else "qb"

    producers = [threading.Thread(target=producer, args=(p,)) for p in range(3)]
    for t in producers:
        t.start()
    for t in producers:
        t.join()
    wait_until(lambda: len(got) == 6000, timeout=30, msg="every element consumed")
    c = srv.client()
    for _ in consumers:
        c.rpush("qa", "stop")
    for t in consumers:
        t.join()
    assert_eq(sorted(got), sorted(f"{p}:{i}".encode() for p in range(3) for i in range(2000)))
    assert_eq(blocked_count(srv), 0)


@test
def list_writes_invalidate_watch_and_a_no_op_ltrim_too():
    srv = shared_server()
    r = srv.client()
    r.flushall()
    r.rpush("w", "a", "b")
    other = srv.client()
    for change in (lambda: other.lpush("w", "x"), lambda: other.ltrim("w", 0, -1),
                   lambda: other.lset("w", 0, "y"), lambda: other.rpoplpush("w", "w2")):
        p = r.pipeline()
        p.watch("w")
        change()
        p.multi()
        p.llen("w")
        try:
            p.execute()
            raise AssertionError("EXEC ran although a watched list changed")
        except redis.WatchError:
            pass
    # LPOP of a missing list and LREM that removes nothing change nothing.
    p = r.pipeline()
    p.watch("w", "missing")
    other.lpop("missing")
    other.lrem("w", 0, "not-there")
    p.multi()
    p.llen("w")
    assert_eq(p.execute(), [r.llen("w")])


@test
def info_keyspace_counts_lists():
    srv = shared_server()
    r = srv.client()
    r.flushall()
    r.rpush("l1", "a")
    r.rpush("l2", "a", "b")
    r.expire("l2", 100)
    info = r.info("keyspace")
    assert_eq(info["db0"]["keys"], 2)
    assert_eq(info["db0"]["expires"], 1)
    r.lpop("l1")
    assert_eq(r.info("keyspace")["db0"]["keys"], 1)


@test
def a_blocked_client_resumes_its_pipelined_commands_when_served():
    srv = shared_server()
    srv.conn().call("FLUSHALL")
    c = srv.conn()
    c.sock.sendall(b"*3\r\n$5\r\nBLPOP\r\n$2\r\npq\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n")
    wait_until(lambda: blocked_count(srv) == 1)
    try:
        c.sock.settimeout(0.2)
        early = c.sock.recv(100, socket.MSG_PEEK)
    except socket.timeout:
        early = b""
    finally:
        c.sock.settimeout(10)
    assert_eq(early, b"", "nothing is answered while blocked")
    srv.conn().call("RPUSH", "pq", "v")
    assert_eq(c.read(), [b"pq", b"v"])
    assert_eq(c.read(), "PONG")


if __name__ == "__main__":
    main()
