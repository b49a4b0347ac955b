"""Streams end to end against the real sluice-server: redis-py and raw RESP2/RESP3 clients,
blocking reads, pipelining, restarts (graceful, DEBUG RELOAD, kill -9 under appendfsync always),
torn log tails, multi-segment logs and trimming that drops segments."""

import glob
import os
import socket
import threading
import time

import redis

from sluice_harness import (RawConn, ReplyError, RespMap, Server, assert_eq, assert_error,
                            assert_true, main, shared_server, test, test_both, wait_until)


def fresh(protocol=2):
    c = shared_server().conn(protocol)
    c.call("FLUSHALL")
    return c


def rpy(srv):
    return redis.Redis(host="127.0.0.1", port=srv.port, decode_responses=True)


@test
def redis_py_adds_reads_and_trims_a_stream():
    srv = shared_server()
    r = rpy(srv)
    r.flushall()
    ids = [r.xadd("orders", {"n": str(i), "item": "book"}) for i in range(10)]
    assert_eq(r.xlen("orders"), 10)
    got = r.xrange("orders")
    assert_eq([i for i, _ in got], ids)
    assert_eq(got[3][1], {"n": "3", "item": "book"})
    assert_eq([i for i, _ in r.xrevrange("orders", count=2)], ids[:-3:-1])
    assert_eq(r.xdel("orders", ids[0], ids[1]), 2)
    assert_eq(r.xtrim("orders", maxlen=5, approximate=False), 3)
    assert_eq([i for i, _ in r.xrange("orders")], ids[5:])
    info = r.xinfo_stream("orders")
    assert_eq(info["length"], 5)
    assert_eq(info["first-entry"][0], ids[5])
    assert_eq(info["last-generated-id"], ids[-1])
    assert_eq(r.type("orders"), "stream")


@test_both
def xread_replies_an_array_in_resp2_and_a_map_in_resp3(protocol):
    c = fresh(protocol)
    c.call("XADD", "a", "1-1", "f", "v")
    c.call("XADD", "b", "2-1", "g", "w")
    reply = c.call("XREAD", "STREAMS", "a", "b", "0", "0")
    if protocol == 3:
        assert_true(isinstance(reply, RespMap), f"expected a map, got {reply!r}")
        assert_eq(dict(reply), {b"a": [[b"1-1", [b"f", b"v"]]], b"b": [[b"2-1", [b"g", b"w"]]]})
    else:
        assert_eq(reply, [[b"a", [[b"1-1", [b"f", b"v"]]]], [b"b", [[b"2-1", [b"g", b"w"]]]]])


@test_both
def blocked_readers_are_woken_by_xadd_in_arrival_order(protocol):
    srv = shared_server()
    fresh(protocol)
    readers = [srv.conn(protocol) for _ in range(3)]
    for r in readers:
        r.send("XREAD", "BLOCK", "0", "STREAMS", "live", "$")
    wait_until(lambda: b"blocked_clients:3" in srv.conn().call("INFO", "clients"),
               msg="three blocked clients")
    writer = srv.conn(protocol)
    writer.call("XADD", "live", "5-1", "msg", "hello")
    for r in readers:
        reply = r.read(timeout=5)
        entries = reply[b"live"] if protocol == 3 else reply[0][1]
        assert_eq(entries, [[b"5-1", [b"msg", b"hello"]]])
    assert_true(b"blocked_clients:0" in srv.conn().call("INFO", "clients"))


@test
def a_block_timeout_returns_a_null_reply_no_earlier_than_asked():
    c = fresh()
    started = time.monotonic()
    assert_eq(c.call("XREAD", "BLOCK", "150", "STREAMS", "quiet", "$"), None)
    # Deadlines have millisecond granularity (as in Redis): the arrival time is floored to the
    # millisecond, so the wait can be up to 1 ms shorter than measured from the client.
    assert_true(time.monotonic() - started >= 0.149, "returned before the timeout")


@test
def a_reader_that_disconnects_while_blocked_loses_nothing_for_others():
    srv = shared_server()
    fresh()
    gone = srv.conn()
    gone.send("XREAD", "BLOCK", "0", "STREAMS", "q", "$")
    stays = srv.conn()
    stays.send("XREAD", "BLOCK", "0", "STREAMS", "q", "$")
    wait_until(lambda: b"blocked_clients:2" in srv.conn().call("INFO", "clients"))
    gone.close()
    wait_until(lambda: b"blocked_clients:1" in srv.conn().call("INFO", "clients"))
    srv.conn().call("XADD", "q", "1-1", "k", "v")
    assert_eq(stays.read(timeout=5), [[b"q", [[b"1-1", [b"k", b"v"]]]]])
    assert_eq(srv.conn().call("XLEN", "q"), 1)


@test
def a_thousand_pipelined_xadds_get_a_thousand_replies_in_order():
    c = fresh()
    replies = c.pipeline(*[("XADD", "p", f"1-{i + 1}", "i", str(i)) for i in range(1000)])
    assert_eq(replies, [f"1-{i + 1}".encode() for i in range(1000)])
    assert_eq(c.call("XLEN", "p"), 1000)


@test
def pipelined_commands_after_a_blocked_read_run_once_it_is_served():
    srv = shared_server()
    fresh()
    c = srv.conn()
    c.send_raw(b"*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$1\r\n0\r\n$7\r\nSTREAMS\r\n$2\r\npq\r\n"
               b"$1\r\n$\r\n*1\r\n$4\r\nPING\r\n")
    wait_until(lambda: b"blocked_clients:1" in srv.conn().call("INFO", "clients"))
    srv.conn().call("XADD", "pq", "1-1", "a", "b")
    assert_eq(c.read(timeout=5), [[b"pq", [[b"1-1", [b"a", b"b"]]]]])
    assert_eq(c.read(timeout=5), "PONG")


@test
def bad_input_gets_an_error_and_the_connection_stays_usable():
    c = fresh()
    assert_error(c.call("XADD", "s", "nope", "f", "v"), "ERR Invalid stream ID")
    assert_error(c.call("XADD", "s", "*", "f"), "ERR wrong number of arguments")
    assert_error(c.call("XRANGE", "s", "(-", "+"), "ERR Invalid stream ID")
    assert_error(c.call("XREAD", "BLOCK", "-5", "STREAMS", "s", "0"), "ERR timeout is negative")
    assert_eq(c.call("XADD", "s", "1-1", "f", "v"), b"1-1")
    assert_error(c.call("XADD", "s", "1-1", "f", "v"), "ERR The ID specified in XADD is equal")
    assert_eq(c.call("XLEN", "s"), 1)


@test
def a_protocol_error_closes_only_that_connection():
    srv = shared_server()
    c = fresh()
    c.call("XADD", "keep", "1-1", "f", "v")
    bad = srv.conn()
    bad.send_raw(b"*2\r\n$4\r\nPING\r\n$-5\r\n")
    assert_error(bad.read(timeout=5), "ERR Protocol error: invalid bulk length")
    assert_true(bad.closed_by_server(), "the bad connection stays open")
    assert_eq(c.call("XLEN", "keep"), 1)


@test(timeout=60)
def streams_survive_a_graceful_restart_and_ids_keep_growing():
    with Server() as srv:
        c = srv.conn()
        first = c.call("XADD", "s", "*", "a", "1")
        c.call("XADD", "s", "*", "a", "2")
        c.call("XADD", "gone", "9-9", "x", "y")
        c.call("XDEL", "gone", "9-9")
        srv.restart()
        c = srv.conn()
        assert_eq(c.call("XLEN", "s"), 2)
        assert_eq(c.call("XRANGE", "s", "-", "+")[0][0], first)
        later = c.call("XADD", "s", "*", "a", "3")
        assert_true(later > first, f"{later!r} <= {first!r}")
        # A deleted last entry's ID is never handed out again.
        assert_error(c.call("XADD", "gone", "9-9", "x", "y"), "ERR The ID specified in XADD")
        assert_eq(c.call("XINFO", "STREAM", "gone")[9], b"9-9")  # max-deleted-entry-id


@test(timeout=60)
def debug_reload_reopens_trims_deletes_and_xsetid_from_disk():
    with Server() as srv:
        c = srv.conn()
        for i in range(1, 21):
            c.call("XADD", "s", f"{i}-0", "i", str(i))
        c.call("XTRIM", "s", "MAXLEN", "15")
        c.call("XDEL", "s", "10-0", "11-0")
        c.call("XSETID", "s", "100-0", "ENTRIESADDED", "50", "MAXDELETEDID", "11-0")
        before = (c.call("XRANGE", "s", "-", "+"), c.call("XINFO", "STREAM", "s"))
        assert_eq(c.call("DEBUG", "RELOAD"), "OK")
        after = (c.call("XRANGE", "s", "-", "+"), c.call("XINFO", "STREAM", "s"))
        assert_eq(after, before)
        assert_eq(c.call("XLEN", "s"), 13)


@test(timeout=120)
def kill_9_under_appendfsync_always_loses_no_acknowledged_entry():
    with Server("--appendfsync", "always") as srv:
        acked = []
        stop = threading.Event()

        def writer(n):
            w = srv.conn(timeout=10)
            i = 0
            while not stop.is_set():
                try:
                    rid = w.call("XADD", "jobs", "*", "w", str(n), "i", str(i))
                except (OSError, ConnectionError, Exception):  # the server died mid-reply
                    return
                if isinstance(rid, bytes):
                    acked.append(rid)
                i += 1

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        wait_until(lambda: len(acked) >= 300, timeout=30, msg="300 acknowledged XADDs")
        srv.kill9()
        stop.set()
        for t in threads:
            t.join()
        srv.restart(stop=False)
        c = srv.conn()
        stored = {e[0] for e in c.call("XRANGE", "jobs", "-", "+")}
        missing = [a for a in acked if a not in stored]
        assert_eq(missing, [], f"{len(missing)} acknowledged entries lost of {len(acked)}")
        last = max(stored)
        newer = c.call("XADD", "jobs", "*", "after", "crash")
        assert_true(newer > last, "IDs go backwards after a crash")


@test(timeout=60)
def a_torn_tail_is_cut_and_logged_and_everything_before_it_survives():
    with Server() as srv:
        c = srv.conn()
        for i in range(1, 101):
            c.call("XADD", "t", f"{i}-0", "v", "x" * 50)
        srv.stop()
        segments = sorted(glob.glob(os.path.join(srv.dir, "streams", "*", "log", "*.log")))
        assert_true(segments, "no segment files found")
        with open(segments[-1], "rb") as f:
            first_frame_start = f.read(22)
        with open(segments[-1], "ab") as f:
            f.write(first_frame_start)  # the start of a frame, cut short: a torn write
        srv.restart(stop=False)
        c = srv.conn()
        assert_eq(c.call("XLEN", "t"), 100)
        assert_eq(c.call("XRANGE", "t", "-", "+", "COUNT", "1")[0][0], b"1-0")
        assert_eq(c.call("XADD", "t", "101-0", "v", "y"), b"101-0")
        assert_true("torn" in srv.log_text().lower() or "truncat" in srv.log_text().lower()
                    or "cut" in srv.log_text().lower(), "the cut is not logged")
        assert_eq(glob.glob(os.path.join(srv.dir, "streams", "*", "log", "*.corrupt-*")), [])


@test(timeout=120)
def a_multi_segment_stream_reads_the_same_forwards_backwards_and_after_restart():
    with Server("--stream-segment-bytes", "16kb") as srv:
        c = srv.conn()
        n = 3000
        c.pipeline(*[("XADD", "big", f"{i + 1}-0", "payload", f"{i:06d}" * 8) for i in range(n)])
        files = glob.glob(os.path.join(srv.dir, "streams", "*", "log", "*.log"))
        assert_true(len(files) > 10, f"expected many segments, got {len(files)}")

        def page_all(cmd, start, end):
            out = []
            while True:
                page = c.call(cmd, "big", start, end, "COUNT", "250")
                if not page:
                    return out
                out.extend(e[0] for e in page)
                last = page[-1][0].decode()
                if cmd == "XRANGE":
                    start = "(" + last
                else:
                    start = "(" + last
        forward = page_all("XRANGE", "-", "+")
        assert_eq(forward, [f"{i + 1}-0".encode() for i in range(n)])
        backward = page_all("XREVRANGE", "+", "-")
        assert_eq(backward, forward[::-1])
        srv.restart()
        c = srv.conn()
        assert_eq(page_all("XRANGE", "-", "+"), forward)
        # Trimming the head drops whole segments from disk, once the trim's state record is
        # durable (the next background sync, within a second under everysec).
        assert_eq(c.call("XTRIM", "big", "MINID", f"{n - 100}-0"), n - 101)

        def segments_left():
            return len(glob.glob(os.path.join(srv.dir, "streams", "*", "log", "*.log")))
        wait_until(lambda: segments_left() < len(files), timeout=10,
                   msg=f"trimmed segments unlinked ({segments_left()} of {len(files)} remain)")
        assert_eq(c.call("XLEN", "big"), 101)
        assert_eq(c.call("XRANGE", "big", "-", "+", "COUNT", "1")[0][0], f"{n - 100}-0".encode())


@test
def approximate_maxlen_trims_whole_nodes_of_one_hundred_entries_like_redis():
    c = fresh()
    for i in range(1, 351):
        c.call("XADD", "chat", f"{i}-0", "m", str(i))
    assert_eq(c.call("XTRIM", "chat", "MAXLEN", "~", "120"), 200)
    assert_eq(c.call("XLEN", "chat"), 150)
    assert_eq(c.call("XRANGE", "chat", "-", "+", "COUNT", "1")[0][0], b"201-0")
    assert_eq(c.call("XTRIM", "chat", "MAXLEN", "~", "100", "LIMIT", "10"), 0)
    assert_eq(c.call("XADD", "chat", "MAXLEN", "~", "10", "351-0", "m", "x"), b"351-0")
    assert_eq(c.call("XLEN", "chat"), 51)


@test
def redis_cli_works_against_streams():
    srv = shared_server()
    fresh()
    assert_eq(srv.cli("XADD", "cli", "1-1", "hello", "world").strip(), "1-1")
    out = srv.cli("XRANGE", "cli", "-", "+")
    assert_eq(out.split(), ["1-1", "hello", "world"])


if __name__ == "__main__":
    main()
