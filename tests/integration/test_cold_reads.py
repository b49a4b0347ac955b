"""Cold reads off the loop thread (broker/commands/cold_read.h): stream history whose bytes are not
in the page cache is read into it by a worker thread while the command waits, parked like a
blocked client, and the command then runs again. The tests evict a stream's segment files from
the page cache with posix_fadvise(DONTNEED) (the segments are fsynced: clean pages go), read the
history back and check replies, their order on a pipelined connection, other clients meanwhile,
disconnects while a read is in flight, MULTI/EXEC and scripts (synchronous there), and consumer
group reads and claims of cold entries. INFO streams' stream_cold_reads_deferred shows that a
command did wait for a worker."""

import os
import socket

from sluice_harness import (Server, assert_eq, assert_true, encode_command, main, test,
                            wait_until)

SEGMENT = "256kb"
ENTRIES = 12000  # ~150 bytes each on disk: about seven segments


def info_int(conn, field):
    for line in conn.call("INFO", "streams").decode().splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    raise AssertionError(f"INFO streams has no {field}")


def deferred(conn):
    return info_int(conn, "stream_cold_reads_deferred")


def new_server():
    # appendfsync always: every segment is durable (clean pages, which DONTNEED drops).
    return Server("--stream-segment-bytes", SEGMENT, "--appendfsync", "always")


def fill(conn, key, n=ENTRIES):
    """Adds n entries with explicit IDs 1-1 .. n-1; returns [(id, [f, v])]."""
    expected, commands = [], []
    for i in range(1, n + 1):
        fields = [b"n", str(i).encode(), b"pad", (b"%d-" % i) + b"x" * 80]
        commands.append(("XADD", key, f"{i}-1") + tuple(fields))
        expected.append([f"{i}-1".encode(), fields])
    for start in range(0, n, 1000):
        conn.pipeline(*commands[start:start + 1000])
    return expected


def evict(srv):
    """Drops every stream segment of the server from the page cache."""
    for root, _, files in os.walk(srv.dir):
        for name in files:
            if not name.endswith(".log"):
                continue
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def as_pairs(entries):
    return [[e[0], list(e[1])] for e in entries]


@test(timeout=120)
def cold_xrange_xrevrange_xread_are_answered_by_a_worker_read():
    with new_server() as srv:
        c = srv.conn()
        expected = fill(c, "s")
        assert_eq(c.call("XLEN", "s"), ENTRIES)
        assert_true(info_int(c, "stream_segments") >= 4, "the stream spans several segments")
        evict(srv)
        before = deferred(c)
        assert_eq(as_pairs(c.call("XRANGE", "s", "-", "+")), expected)
        after_xrange = deferred(c)
        assert_true(after_xrange > before, f"XRANGE of evicted segments was not deferred "
                    f"({before} -> {after_xrange})")
        evict(srv)
        assert_eq(as_pairs(c.call("XREVRANGE", "s", "3000-1", "1000-1")),
                  list(reversed(expected[999:3000])))
        evict(srv)
        reply = c.call("XREAD", "COUNT", 500, "STREAMS", "s", "5000-1")
        assert_eq(as_pairs(reply[0][1]), expected[5000:5500])
        assert_true(deferred(c) > after_xrange, "XREVRANGE/XREAD of cold bytes were not deferred")
        # Warm now: the same read is answered at once.
        now = deferred(c)
        assert_eq(as_pairs(c.call("XRANGE", "s", "5001-1", "+", "COUNT", 500)),
                  expected[5000:5500])
        assert_eq(deferred(c), now)


@test(timeout=120)
def pipelined_replies_keep_their_order_behind_a_deferred_read():
    with new_server() as srv:
        c = srv.conn()
        expected = fill(c, "s")
        c.call("SET", "k", "v")
        evict(srv)
        before = deferred(c)
        replies = c.pipeline(("XRANGE", "s", "-", "+", "COUNT", 2000), ("PING",), ("GET", "k"),
                             ("XRANGE", "s", "9000-1", "+", "COUNT", 3), ("INCR", "n"),
                             ("ECHO", "last"))
        assert_eq(as_pairs(replies[0]), expected[:2000])
        assert_eq(replies[1], "PONG")
        assert_eq(replies[2], b"v")
        assert_eq(as_pairs(replies[3]), expected[8999:9002])
        assert_eq(replies[4], 1)
        assert_eq(replies[5], b"last")
        assert_true(deferred(c) > before, "the pipelined cold XRANGE was not deferred")


@test(timeout=120)
def other_clients_are_served_while_a_cold_read_is_in_flight():
    with new_server() as srv:
        c = srv.conn()
        expected = fill(c, "s")
        c.call("SET", "k", "v")
        evict(srv)
        reader = srv.conn()
        other = srv.conn()
        before = deferred(other)
        reader.send("XRANGE", "s", "-", "+")
        gets = 0
        # The reader's reply is being prepared (or is ready); the other client keeps working.
        while gets < 200:
            assert_eq(other.call("GET", "k"), b"v")
            assert_eq(other.call("PING"), "PONG")
            gets += 1
        assert_eq(as_pairs(reader.read(timeout=60)), expected)
        assert_true(deferred(other) > before, "the cold XRANGE was not deferred")


@test(timeout=120)
def a_client_gone_while_its_read_is_in_flight_loses_nothing():
    with new_server() as srv:
        c = srv.conn()
        expected = fill(c, "s")
        c.call("XGROUP", "CREATE", "s", "g", "0")
        for round_ in range(5):
            evict(srv)
            before = deferred(c)
            ranger = socket.create_connection((srv.host, srv.port))
            ranger.sendall(encode_command("XRANGE", "s", "-", "+") + encode_command("PING"))
            grouper = socket.create_connection((srv.host, srv.port))
            grouper.sendall(encode_command("XREADGROUP", "GROUP", "g", f"gone{round_}", "COUNT",
                                           1000, "STREAMS", "s", ">"))
            wait_until(lambda: deferred(c) > before, timeout=10, msg="a deferred read")
            ranger.close()
            grouper.close()
        assert_eq(c.call("PING"), "PONG")
        # Whatever the group delivered went to a consumer's PEL and moved its cursor together:
        # every pending entry is one the cursor passed, none is lost or counted twice.
        pending = c.call("XPENDING", "s", "g")
        last = dict(zip(*[iter(c.call("XINFO", "GROUPS", "s")[0])] * 2))[b"last-delivered-id"]
        delivered = 0 if last == b"0-0" else int(last.split(b"-")[0])
        assert_eq(pending[0], delivered)
        # The next consumer gets the entries after the cursor, exactly.
        evict(srv)
        reply = c.call("XREADGROUP", "GROUP", "g", "next", "COUNT", 100, "STREAMS", "s", ">")
        assert_eq(as_pairs(reply[0][1]), expected[delivered:delivered + 100])
        assert_eq(as_pairs(c.call("XRANGE", "s", "-", "+")), expected)


@test(timeout=120)
def cold_reads_inside_multi_and_scripts_stay_synchronous_and_correct():
    with new_server() as srv:
        c = srv.conn()
        expected = fill(c, "s")
        evict(srv)
        before = deferred(c)
        assert_eq(c.call("MULTI"), "OK")
        assert_eq(c.call("XRANGE", "s", "-", "+", "COUNT", 1500), "QUEUED")
        assert_eq(c.call("XREVRANGE", "s", "+", "-", "COUNT", 3), "QUEUED")
        assert_eq(c.call("PING"), "QUEUED")
        replies = c.call("EXEC")
        assert_eq(as_pairs(replies[0]), expected[:1500])
        assert_eq(as_pairs(replies[1]), list(reversed(expected[-3:])))
        assert_eq(replies[2], "PONG")
        evict(srv)
        script = "return redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', 700)"
        assert_eq(as_pairs(c.call("EVAL", script, 1, "s", "4000-1")), expected[3999:4699])
        assert_eq(deferred(c), before)


@test(timeout=120)
def xreadgroup_history_and_claims_of_cold_entries():
    with new_server() as srv:
        c = srv.conn()
        expected = fill(c, "s")
        c.call("XGROUP", "CREATE", "s", "g", "0")
        evict(srv)
        before = deferred(c)
        got = c.call("XREADGROUP", "GROUP", "g", "alice", "COUNT", 3000, "STREAMS", "s", ">")
        assert_eq(as_pairs(got[0][1]), expected[:3000])
        assert_true(deferred(c) > before, "XREADGROUP > of a cold range was not deferred")
        assert_eq(c.call("XPENDING", "s", "g")[0], 3000)
        # History of the consumer from a cold segment: the same entries, delivered again.
        evict(srv)
        mid = deferred(c)
        got = c.call("XREADGROUP", "GROUP", "g", "alice", "COUNT", 1000, "STREAMS", "s", "500-1")
        assert_eq(as_pairs(got[0][1]), expected[500:1500])
        assert_true(deferred(c) > mid, "XREADGROUP history of a cold range was not deferred")
        detail = c.call("XPENDING", "s", "g", "501-1", "501-1", 1)
        assert_eq(detail[0][3], 2)
        # Claims read the bodies of cold entries too.
        evict(srv)
        claimed = c.call("XCLAIM", "s", "g", "bob", 0, "10-1", "2000-1", "2999-1")
        assert_eq(as_pairs(claimed), [expected[9], expected[1999], expected[2998]])
        evict(srv)
        auto = c.call("XAUTOCLAIM", "s", "g", "carol", 0, "100-1", "COUNT", 50)
        assert_eq(as_pairs(auto[1]), expected[99:149])
        assert_eq(auto[0], b"150-1")
        assert_eq(c.call("XPENDING", "s", "g")[0], 3000)
        # A multi-key XREADGROUP: the first key waits for its cold read, the second reads at once.
        c.call("XADD", "t", "1-1", "a", "b")
        c.call("XGROUP", "CREATE", "t", "g", "0")
        evict(srv)
        got = c.call("XREADGROUP", "GROUP", "g", "dave", "COUNT", 10, "STREAMS", "s", "t", ">",
                     ">")
        assert_eq(as_pairs(got[0][1]), expected[3000:3010])
        assert_eq(as_pairs(got[1][1]), [[b"1-1", [b"a", b"b"]]])


@test(timeout=120)
def a_blocking_xread_of_cold_history_answers_with_it():
    with new_server() as srv:
        c = srv.conn()
        expected = fill(c, "s")
        evict(srv)
        reply = c.call("XREAD", "COUNT", 5, "BLOCK", 1000, "STREAMS", "s", "100-1")
        assert_eq(as_pairs(reply[0][1]), expected[100:105])
        srv.stop()


if __name__ == "__main__":
    main()
