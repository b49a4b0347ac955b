"""Redis 8 stream commands, checked against the behaviour the Redis 8 documentation describes
(redis-server 7.0 has none of them, so there is nothing to diff against): XDELEX and XACKDEL
with KEEPREF / DELREF / ACKED, XADD and XTRIM with the same reference policies, XREADGROUP's
CLAIM, XREAD's "+" ID, XREAD/XREADGROUP MAXCOUNT and MAXSIZE, idempotent producers (XADD IDMP / IDMPAUTO, XCFGSET, the XINFO STREAM
fields), XNACK. Every reply value, the error paths, and the state after a restart."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sluice_harness import *  # noqa: E402,F401,F403


def fresh(protocol=2):
    c = shared_server().conn(protocol)
    c.call("FLUSHALL")
    return c


def fill(c, key, n):
    """Entries 1-0 .. n-0 with field f = i."""
    for i in range(1, n + 1):
        c.call("XADD", key, f"{i}-0", "f", str(i))


def ids(c, key):
    return [e[0] for e in c.call("XRANGE", key, "-", "+")]


def pel(c, key, group):
    return [e[0] for e in c.call("XPENDING", key, group, "-", "+", "100")]


# ---- XDELEX ---------------------------------------------------------------------------------

@test_both
def xdelex_keepref_deletes_and_leaves_pel_references(protocol):
    c = fresh(protocol)
    fill(c, "s", 3)
    c.call("XGROUP", "CREATE", "s", "g", "0")
    c.call("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">")
    assert_eq(c.command("XDELEX", "s", "IDS", "2", "1-0", "9-0"), b"*2\r\n:1\r\n:-1\r\n")
    assert_eq(ids(c, "s"), [b"2-0", b"3-0"])
    assert_eq(pel(c, "s", "g"), [b"1-0", b"2-0", b"3-0"])
    # KEEPREF spelled out is the same.
    assert_eq(c.call("XDELEX", "s", "KEEPREF", "IDS", "1", "2-0"), [1])
    assert_eq(pel(c, "s", "g"), [b"1-0", b"2-0", b"3-0"])
    assert_eq(c.call("XLEN", "s"), 1)


@test_both
def xdelex_delref_removes_references_from_every_group(protocol):
    c = fresh(protocol)
    fill(c, "s", 3)
    for g in ("g1", "g2"):
        c.call("XGROUP", "CREATE", "s", g, "0")
        c.call("XREADGROUP", "GROUP", g, "c", "STREAMS", "s", ">")
    assert_eq(c.call("XDELEX", "s", "DELREF", "IDS", "2", "1-0", "2-0"), [1, 1])
    assert_eq(pel(c, "s", "g1"), [b"3-0"])
    assert_eq(pel(c, "s", "g2"), [b"3-0"])
    assert_eq(ids(c, "s"), [b"3-0"])
    # A dangling reference (entry gone through XDEL) is cleared too; the reply is still -1.
    c.call("XDEL", "s", "3-0")
    assert_eq(pel(c, "s", "g1"), [b"3-0"])
    assert_eq(c.call("XDELEX", "s", "DELREF", "IDS", "1", "3-0"), [-1])
    assert_eq(pel(c, "s", "g1"), [])
    assert_eq(pel(c, "s", "g2"), [])


@test_both
def xdelex_acked_deletes_only_entries_no_group_needs(protocol):
    c = fresh(protocol)
    fill(c, "s", 4)
    c.call("XGROUP", "CREATE", "s", "g1", "0")
    c.call("XGROUP", "CREATE", "s", "g2", "0")
    # g1 reads 1..3 and acks 1 and 2; g2 reads 1..2 and acks 1.
    c.call("XREADGROUP", "GROUP", "g1", "c", "COUNT", "3", "STREAMS", "s", ">")
    c.call("XACK", "s", "g1", "1-0", "2-0")
    c.call("XREADGROUP", "GROUP", "g2", "c", "COUNT", "2", "STREAMS", "s", ">")
    c.call("XACK", "s", "g2", "1-0")
    # 1: acked everywhere -> deleted. 2: pending in g2. 3: pending in g1, undelivered to g2.
    # 4: not delivered to any group. 7: no such entry.
    assert_eq(c.command("XDELEX", "s", "ACKED", "IDS", "5", "1-0", "2-0", "3-0", "4-0", "7-0"),
              b"*5\r\n:1\r\n:2\r\n:2\r\n:2\r\n:-1\r\n")
    assert_eq(ids(c, "s"), [b"2-0", b"3-0", b"4-0"])
    c.call("XACK", "s", "g2", "2-0")
    assert_eq(c.call("XDELEX", "s", "ACKED", "IDS", "1", "2-0"), [1])
    # References stay untouched by ACKED.
    assert_eq(pel(c, "s", "g1"), [b"3-0"])


@test_both
def xdelex_acked_without_groups_deletes_nothing(protocol):
    # The XDELEX page: 2 "also, if there are no consumer groups".
    c = fresh(protocol)
    fill(c, "s", 2)
    assert_eq(c.call("XDELEX", "s", "ACKED", "IDS", "2", "1-0", "5-0"), [2, -1])
    assert_eq(c.call("XLEN", "s"), 2)


@test_both
def xdelex_missing_key_duplicates_and_options_after_ids(protocol):
    c = fresh(protocol)
    assert_eq(c.command("XDELEX", "nokey", "IDS", "2", "1-0", "2-0"), b"*2\r\n:-1\r\n:-1\r\n")
    fill(c, "s", 2)
    # The IDS block may come first; a repeated ID is gone the second time.
    assert_eq(c.call("XDELEX", "s", "IDS", "2", "1-0", "1-0", "DELREF"), [1, -1])
    assert_eq(c.call("XDELEX", "s", "IDS", "1", "2"), [1])  # "2" is 2-0
    assert_eq(c.call("EXISTS", "s"), 1)
    assert_eq(c.call("XLEN", "s"), 0)


@test_both
def xdelex_errors(protocol):
    c = fresh(protocol)
    c.call("SET", "str", "x")
    fill(c, "s", 1)
    assert_error(c.call("XDELEX", "s"), "ERR wrong number of arguments for 'xdelex' command")
    assert_error(c.call("XDELEX", "s", "IDS", "1"),
                 "ERR wrong number of arguments for 'xdelex' command")
    assert_error(c.call("XDELEX", "s", "IDS", "0", "1-0"),
                 "ERR Number of IDs must be a positive integer")
    assert_error(c.call("XDELEX", "s", "IDS", "-1", "1-0"),
                 "ERR Number of IDs must be a positive integer")
    assert_error(c.call("XDELEX", "s", "IDS", "x", "1-0"),
                 "ERR Number of IDs must be a positive integer")
    assert_error(c.call("XDELEX", "s", "IDS", "3", "1-0", "2-0"),
                 "ERR The `numids` parameter must match the number of arguments")
    assert_error(c.call("XDELEX", "s", "IDS", "1", "1-0", "2-0"), "ERR syntax error")
    assert_error(c.call("XDELEX", "s", "KEEPREF", "1-0", "2-0"), "ERR syntax error")
    assert_error(c.call("XDELEX", "s", "BOGUS", "IDS", "1", "1-0"), "ERR syntax error")
    assert_error(c.call("XDELEX", "s", "IDS", "1", "1-0", "IDS", "1", "1-0"), "ERR syntax error")
    assert_error(c.call("XDELEX", "s", "IDS", "2", "1-0", "zz"),
                 "ERR Invalid stream ID specified as stream command argument")
    assert_error(c.call("XDELEX", "str", "IDS", "1", "1-0"), "WRONGTYPE")
    # Nothing was deleted by the failed calls, and the connection still works.
    assert_eq(c.call("XLEN", "s"), 1)


# ---- XACKDEL --------------------------------------------------------------------------------

@test_both
def xackdel_keepref_acks_in_its_group_and_deletes(protocol):
    c = fresh(protocol)
    fill(c, "s", 3)
    c.call("XGROUP", "CREATE", "s", "g1", "0")
    c.call("XGROUP", "CREATE", "s", "g2", "0")
    c.call("XREADGROUP", "GROUP", "g1", "c", "STREAMS", "s", ">")
    c.call("XREADGROUP", "GROUP", "g2", "c", "STREAMS", "s", ">")
    # 1-0 and 2-0 pending in g1 -> 1; 9-0 not pending in g1 -> -1.
    assert_eq(c.command("XACKDEL", "s", "g1", "IDS", "3", "1-0", "2-0", "9-0"),
              b"*3\r\n:1\r\n:1\r\n:-1\r\n")
    assert_eq(pel(c, "s", "g1"), [b"3-0"])
    assert_eq(pel(c, "s", "g2"), [b"1-0", b"2-0", b"3-0"])  # KEEPREF: other groups keep theirs
    assert_eq(ids(c, "s"), [b"3-0"])
    # Acknowledging again: no longer pending.
    assert_eq(c.call("XACKDEL", "s", "g1", "KEEPREF", "IDS", "1", "1-0"), [-1])


@test_both
def xackdel_delref_clears_other_groups(protocol):
    c = fresh(protocol)
    fill(c, "s", 2)
    for g in ("g1", "g2"):
        c.call("XGROUP", "CREATE", "s", g, "0")
        c.call("XREADGROUP", "GROUP", g, "c", "STREAMS", "s", ">")
    assert_eq(c.call("XACKDEL", "s", "g1", "DELREF", "IDS", "1", "1-0"), [1])
    assert_eq(pel(c, "s", "g1"), [b"2-0"])
    assert_eq(pel(c, "s", "g2"), [b"2-0"])
    assert_eq(ids(c, "s"), [b"2-0"])
    # Pending in g1 but already gone from the stream: acknowledged, reply -1.
    c.call("XDEL", "s", "2-0")
    assert_eq(c.call("XACKDEL", "s", "g1", "DELREF", "IDS", "1", "2-0"), [-1])
    assert_eq(pel(c, "s", "g1"), [])
    assert_eq(pel(c, "s", "g2"), [])


@test_both
def xackdel_acked_keeps_entries_other_groups_need(protocol):
    c = fresh(protocol)
    fill(c, "s", 2)
    c.call("XGROUP", "CREATE", "s", "g1", "0")
    c.call("XGROUP", "CREATE", "s", "g2", "0")
    c.call("XREADGROUP", "GROUP", "g1", "c", "STREAMS", "s", ">")
    # g2 has not read 1-0 yet: acknowledged in g1 but kept.
    assert_eq(c.call("XACKDEL", "s", "g1", "ACKED", "IDS", "1", "1-0"), [2])
    assert_eq(pel(c, "s", "g1"), [b"2-0"])
    assert_eq(c.call("XLEN", "s"), 2)
    c.call("XREADGROUP", "GROUP", "g2", "c", "STREAMS", "s", ">")
    assert_eq(c.call("XACKDEL", "s", "g2", "ACKED", "IDS", "2", "1-0", "2-0"), [1, 2])
    assert_eq(ids(c, "s"), [b"2-0"])
    assert_eq(c.call("XACKDEL", "s", "g1", "ACKED", "IDS", "1", "2-0"), [1])
    assert_eq(c.call("XLEN", "s"), 0)


@test_both
def xackdel_missing_key_or_group_and_errors(protocol):
    c = fresh(protocol)
    c.call("SET", "str", "x")
    assert_eq(c.command("XACKDEL", "nokey", "g", "IDS", "1", "1-0"), b"*1\r\n:-1\r\n")
    fill(c, "s", 1)
    assert_eq(c.call("XACKDEL", "s", "nogroup", "IDS", "2", "1-0", "2-0"), [-1, -1])
    assert_eq(c.call("XLEN", "s"), 1)
    assert_error(c.call("XACKDEL", "s", "g", "IDS", "1"),
                 "ERR wrong number of arguments for 'xackdel' command")
    assert_error(c.call("XACKDEL", "s", "g", "IDS", "0", "1-0"),
                 "ERR Number of IDs must be a positive integer")
    assert_error(c.call("XACKDEL", "s", "g", "IDS", "2", "1-0"),
                 "ERR The `numids` parameter must match the number of arguments")
    assert_error(c.call("XACKDEL", "s", "g", "NOPE", "IDS", "1", "1-0"), "ERR syntax error")
    assert_error(c.call("XACKDEL", "s", "g", "IDS", "1", "bad"),
                 "ERR Invalid stream ID specified as stream command argument")
    assert_error(c.call("XACKDEL", "str", "g", "IDS", "1", "1-0"), "WRONGTYPE")


# ---- XADD / XTRIM with reference policies ---------------------------------------------------

@test_both
def xtrim_keepref_delref_acked(protocol):
    c = fresh(protocol)
    for key in ("k", "d", "a"):
        fill(c, key, 5)
        c.call("XGROUP", "CREATE", key, "g", "0")
        c.call("XREADGROUP", "GROUP", "g", "c", "COUNT", "3", "STREAMS", key, ">")
        c.call("XACK", key, "g", "1-0")
    # KEEPREF (and no option): trimmed entries stay pending.
    assert_eq(c.call("XTRIM", "k", "MAXLEN", "2", "KEEPREF"), 3)
    assert_eq(pel(c, "k", "g"), [b"2-0", b"3-0"])
    # DELREF: the trimmed entries leave the PEL; 3-0 was trimmed too.
    assert_eq(c.call("XTRIM", "d", "MINID", "4-0", "DELREF"), 3)
    assert_eq(pel(c, "d", "g"), [])
    assert_eq(ids(c, "d"), [b"4-0", b"5-0"])
    # ACKED: trimming stops at 2-0, the first entry the group still references.
    assert_eq(c.call("XTRIM", "a", "MAXLEN", "0", "ACKED"), 1)
    assert_eq(ids(c, "a"), [b"2-0", b"3-0", b"4-0", b"5-0"])
    c.call("XACK", "a", "g", "2-0", "3-0")
    # Now 4-0 is the first undelivered entry.
    assert_eq(c.call("XTRIM", "a", "MINID", "9", "ACKED"), 2)
    assert_eq(ids(c, "a"), [b"4-0", b"5-0"])


@test_both
def xtrim_acked_without_groups_trims_normally(protocol):
    c = fresh(protocol)
    fill(c, "s", 5)
    assert_eq(c.call("XTRIM", "s", "MAXLEN", "=", "1", "ACKED"), 4)
    assert_eq(ids(c, "s"), [b"5-0"])


@test_both
def xadd_trims_with_a_reference_policy(protocol):
    c = fresh(protocol)
    fill(c, "s", 3)
    c.call("XGROUP", "CREATE", "s", "g", "0")
    c.call("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">")
    # ACKED: 1-0 is pending, nothing goes.
    assert_eq(c.call("XADD", "s", "ACKED", "MAXLEN", "1", "4-0", "f", "4"), b"4-0")
    assert_eq(c.call("XLEN", "s"), 4)
    # DELREF: down to one entry, and 1-0 leaves the PEL.
    assert_eq(c.call("XADD", "s", "MAXLEN", "1", "DELREF", "5-0", "f", "5"), b"5-0")
    assert_eq(ids(c, "s"), [b"5-0"])
    assert_eq(pel(c, "s", "g"), [])
    # KEEPREF, lower case.
    c.call("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
    assert_eq(c.call("XADD", "s", "keepref", "MAXLEN", "0", "6-0", "f", "6"), b"6-0")
    assert_eq(c.call("XLEN", "s"), 0)
    assert_eq(pel(c, "s", "g"), [b"5-0"])


@test
def redis_py_execute_command():
    r = shared_server().client()
    r.flushall()
    r.xadd("s", {"f": "1"}, id="1-0")
    r.xadd("s", {"f": "2"}, id="2-0")
    r.xgroup_create("s", "g", id="0")
    r.xreadgroup("g", "c", {"s": ">"})
    assert_eq(r.execute_command("XACKDEL", "s", "g", "ACKED", "IDS", 1, "1-0"), [1])
    assert_eq(r.execute_command("XDELEX", "s", "DELREF", "IDS", 2, "2-0", "3-0"), [1, -1])
    assert_eq(r.xpending("s", "g")["pending"], 0)
    assert_eq(r.xlen("s"), 0)


@test(timeout=60)
def deletions_and_reference_changes_survive_restart_and_kill9():
    with Server("--appendfsync", "always") as srv:
        c = srv.conn()
        fill(c, "s", 6)
        for g in ("g1", "g2"):
            c.call("XGROUP", "CREATE", "s", g, "0")
            c.call("XREADGROUP", "GROUP", g, "c", "STREAMS", "s", ">")
        assert_eq(c.call("XDELEX", "s", "DELREF", "IDS", "1", "1-0"), [1])
        assert_eq(c.call("XACKDEL", "s", "g1", "KEEPREF", "IDS", "1", "2-0"), [1])
        assert_eq(c.call("XTRIM", "s", "MINID", "4-0", "DELREF"), 1)
        expected = (ids(c, "s"), pel(c, "s", "g1"), pel(c, "s", "g2"))
        assert_eq(expected, ([b"4-0", b"5-0", b"6-0"], [b"4-0", b"5-0", b"6-0"],
                             [b"2-0", b"4-0", b"5-0", b"6-0"]))
        srv.restart()
        c = srv.conn()
        assert_eq((ids(c, "s"), pel(c, "s", "g1"), pel(c, "s", "g2")), expected)
        assert_eq(c.call("XACKDEL", "s", "g2", "DELREF", "IDS", "2", "2-0", "4-0"), [-1, 1])
        expected = (ids(c, "s"), pel(c, "s", "g1"), pel(c, "s", "g2"))
        srv.kill9()
        srv.start()
        c = srv.conn()
        assert_eq((ids(c, "s"), pel(c, "s", "g1"), pel(c, "s", "g2")), expected)
        assert_eq(expected, ([b"5-0", b"6-0"], [b"5-0", b"6-0"], [b"5-0", b"6-0"]))


# ---- XREAD + ------------------------------------------------------------------------------

def read_plain(c, *args):
    reply = c.call("XREAD", *args)
    if isinstance(reply, dict):
        return [[k, v] for k, v in reply.items()]
    return reply


@test_both
def xread_plus_returns_the_last_entry_of_each_stream(protocol):
    c = fresh(protocol)
    fill(c, "a", 3)
    c.call("XADD", "b", "7-1", "x", "y")
    c.call("XDEL", "a", "3-0")  # the last live entry counts, not the last ID
    assert_eq(read_plain(c, "COUNT", "5", "STREAMS", "a", "b", "empty", "+", "+", "+"),
              [[b"a", [[b"2-0", [b"f", b"2"]]]], [b"b", [[b"7-1", [b"x", b"y"]]]]])
    # Mixed with ordinary IDs: COUNT applies to the others only.
    assert_eq(read_plain(c, "COUNT", "2", "STREAMS", "a", "b", "0", "+"),
              [[b"a", [[b"1-0", [b"f", b"1"]], [b"2-0", [b"f", b"2"]]]],
               [b"b", [[b"7-1", [b"x", b"y"]]]]])
    assert_eq(c.call("XREAD", "STREAMS", "empty", "+"), None)


@test_both
def xread_plus_on_an_empty_stream_blocks_for_the_next_entry(protocol):
    srv = shared_server()
    c = fresh(protocol)
    w = srv.conn(protocol)
    w.send("XREAD", "BLOCK", "0", "STREAMS", "s", "+")
    wait_until(lambda: b"blocked_clients:1" in c.call("INFO", "clients"), msg="client blocked")
    c.call("XADD", "s", "5-0", "f", "v")
    reply = w.read()
    if isinstance(reply, dict):
        reply = [[k, v] for k, v in reply.items()]
    assert_eq(reply, [[b"s", [[b"5-0", [b"f", b"v"]]]]])


# ---- XREAD / XREADGROUP MAXCOUNT and MAXSIZE (Redis 8.10) ----------------------------------

def entry_bytes(i):
    """RESP bytes of entry i-0 with field f = i (what MAXSIZE counts)."""
    ident, val = f"{i}-0".encode(), str(i).encode()
    return len(b"*2\r\n$%d\r\n%s\r\n*2\r\n$1\r\nf\r\n$%d\r\n%s\r\n"
               % (len(ident), ident, len(val), val))


def served(reply):
    """[key, [ids]] of a read reply (null: [])."""
    return [[k, [e[0] for e in entries]] for k, entries in reply or []]


def three_streams(c):
    for i in range(1, 4):
        c.call("XADD", "a", f"{i}-0", "f", str(i))
        c.call("XADD", "b", f"{i + 3}-0", "f", str(i + 3))
        c.call("XADD", "c", f"{i + 6}-0", "f", str(i + 6))


@test_both
def maxcount_caps_entries_across_streams_in_the_order_named(protocol):
    c = fresh(protocol)
    three_streams(c)
    # COUNT is per stream, MAXCOUNT for the whole reply: 2 from a, 1 from b, c left out.
    assert_eq(served(read_plain(c, "COUNT", "2", "MAXCOUNT", "3", "STREAMS", "a", "b", "c",
                                "0", "0", "0")),
              [[b"a", [b"1-0", b"2-0"]], [b"b", [b"4-0"]]])
    assert_eq(served(read_plain(c, "MAXCOUNT", "4", "STREAMS", "c", "a", "0", "0")),
              [[b"c", [b"7-0", b"8-0", b"9-0"]], [b"a", [b"1-0"]]])
    # A cap above what there is changes nothing; streams with nothing new are skipped as before.
    assert_eq(served(read_plain(c, "MAXCOUNT", "100", "STREAMS", "a", "b", "2-0", "9-0")),
              [[b"a", [b"3-0"]]])
    # "+" gives one entry, and counts against the cap.
    assert_eq(served(read_plain(c, "MAXCOUNT", "2", "STREAMS", "a", "b", "+", "0")),
              [[b"a", [b"3-0"]], [b"b", [b"4-0"]]])
    assert_eq(c.call("XREAD", "MAXCOUNT", "1", "STREAMS", "a", "3-0"), None)


@test_both
def maxsize_caps_entry_bytes_and_always_returns_one_entry(protocol):
    c = fresh(protocol)
    three_streams(c)
    two = entry_bytes(1) + entry_bytes(2)
    # Exactly two entries fit; the third would pass the cap and ends the reply.
    assert_eq(served(read_plain(c, "MAXSIZE", str(two), "STREAMS", "a", "b", "0", "0")),
              [[b"a", [b"1-0", b"2-0"]]])
    assert_eq(served(read_plain(c, "MAXSIZE", str(two + entry_bytes(3) - 1), "STREAMS", "a",
                                "0")), [[b"a", [b"1-0", b"2-0"]]])
    # The cap runs across streams: 3-0 and then 4-0 of b.
    assert_eq(served(read_plain(c, "MAXSIZE", str(entry_bytes(3) + entry_bytes(4)), "STREAMS",
                                "a", "b", "2-0", "0")),
              [[b"a", [b"3-0"]], [b"b", [b"4-0"]]])
    # One byte still returns the first entry, so a reader always makes progress.
    assert_eq(served(read_plain(c, "MAXSIZE", "1", "STREAMS", "b", "a", "0", "0")),
              [[b"b", [b"4-0"]]])
    # Both caps: whichever is reached first.
    assert_eq(served(read_plain(c, "MAXCOUNT", "1", "MAXSIZE", "100000", "STREAMS", "a", "0")),
              [[b"a", [b"1-0"]]])
    # The reply bytes are the plain ones (RESP2 array of pairs, RESP3 map).
    raw = c.command("XREAD", "MAXSIZE", "1", "STREAMS", "a", "0")
    head = b"%1\r\n" if protocol == 3 else b"*1\r\n*2\r\n"
    assert_eq(raw, head + b"$1\r\na\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\n1\r\n")


@test_both
def maxcount_and_maxsize_errors(protocol):
    c = fresh(protocol)
    fill(c, "s", 2)
    c.call("XGROUP", "CREATE", "s", "g", "0")
    for cmd in (["XREAD"], ["XREADGROUP", "GROUP", "g", "c"]):
        for opt in ("MAXCOUNT", "MAXSIZE"):
            for bad in ("0", "-1", "x", "1.5"):
                assert_error(c.call(*cmd, opt, bad, "STREAMS", "s", "0"),
                             f"ERR {opt} must be a positive integer")
        assert_error(c.call(*cmd, "COUNT", "3", "MAXCOUNT", "2", "STREAMS", "s", "0"),
                     "ERR MAXCOUNT must be greater than or equal to COUNT")
        # A missing value is a syntax error, as for COUNT.
        assert_error(c.call(*cmd, "STREAMS", "s", "0", "MAXCOUNT"), "ERR")
    # Nothing was delivered by the failed calls; the connection still works.
    assert_eq(first_group(c, "s")[b"pending"], 0)
    assert_eq(served(read_plain(c, "COUNT", "2", "MAXCOUNT", "2", "STREAMS", "s", "0")),
              [[b"s", [b"1-0", b"2-0"]]])


@test_both
def xreadgroup_maxcount_delivers_only_what_it_returns(protocol):
    c = fresh(protocol)
    three_streams(c)
    for k in ("a", "b", "c"):
        c.call("XGROUP", "CREATE", k, "g", "0")
    reply = read_group(c, "GROUP", "g", "w", "MAXCOUNT", "4", "STREAMS", "a", "b", "c",
                       ">", ">", ">")
    assert_eq(served(reply), [[b"a", [b"1-0", b"2-0", b"3-0"]], [b"b", [b"4-0"]]])
    # Only the returned entries are pending, and the cursors moved only that far.
    assert_eq(pel(c, "a", "g"), [b"1-0", b"2-0", b"3-0"])
    assert_eq(pel(c, "b", "g"), [b"4-0"])
    assert_eq(pel(c, "c", "g"), [])
    assert_eq(first_group(c, "b")[b"last-delivered-id"], b"4-0")
    assert_eq(first_group(c, "c")[b"last-delivered-id"], b"0-0")
    # The next call goes on from there.
    reply = read_group(c, "GROUP", "g", "w", "MAXCOUNT", "3", "STREAMS", "a", "b", "c",
                       ">", ">", ">")
    assert_eq(served(reply), [[b"b", [b"5-0", b"6-0"]], [b"c", [b"7-0"]]])
    # History reads are capped the same way.
    reply = read_group(c, "GROUP", "g", "w", "MAXCOUNT", "2", "STREAMS", "a", "b", "0", "0")
    assert_eq(served(reply), [[b"a", [b"1-0", b"2-0"]]])


@test_both
def xreadgroup_maxsize_leaves_the_rest_undelivered(protocol):
    c = fresh(protocol)
    three_streams(c)
    c.call("XGROUP", "CREATE", "a", "g", "0")
    c.call("XGROUP", "CREATE", "b", "g", "0")
    cap = entry_bytes(1) + entry_bytes(2)
    reply = read_group(c, "GROUP", "g", "w", "MAXSIZE", str(cap), "STREAMS", "a", "b", ">", ">")
    assert_eq(served(reply), [[b"a", [b"1-0", b"2-0"]]])
    assert_eq(pel(c, "a", "g"), [b"1-0", b"2-0"])
    assert_eq(pel(c, "b", "g"), [])
    # A stream whose first entry does not fit is not in the reply: b is untouched.
    reply = read_group(c, "GROUP", "g", "w", "MAXSIZE", "1", "STREAMS", "a", "b", ">", ">")
    assert_eq(served(reply), [[b"a", [b"3-0"]]])
    assert_eq(first_group(c, "b")[b"last-delivered-id"], b"0-0")


@test_both
def claim_entries_count_against_maxcount(protocol):
    c = fresh(protocol)
    setup_claim(c)
    # 2-0 and 1-0 are idle: they take the whole cap, no new entry is delivered.
    reply = read_group(c, "GROUP", "g", "c2", "MAXCOUNT", "2", "CLAIM", str(LONG), "STREAMS", "s",
                       ">")
    assert_eq([e[0] for e in reply[0][1]], [b"2-0", b"1-0"])
    assert_eq(first_group(c, "s")[b"last-delivered-id"], b"3-0")


@test_both
def blocked_xread_with_maxcount_is_served_within_the_cap(protocol):
    srv = shared_server()
    c = fresh(protocol)
    w = srv.conn(protocol)
    w.send("XREAD", "BLOCK", "0", "MAXCOUNT", "2", "STREAMS", "s", "$")
    wait_until(lambda: b"blocked_clients:1" in c.call("INFO", "clients"), msg="client blocked")
    c.call("MULTI")
    for i in range(1, 5):
        c.call("XADD", "s", f"{i}-0", "f", str(i))
    c.call("EXEC")
    reply = w.read()
    if isinstance(reply, dict):
        reply = [[k, v] for k, v in reply.items()]
    assert_eq(served(reply), [[b"s", [b"1-0", b"2-0"]]])
    # MAXSIZE too: a blocked reader gets the first entry even over the cap, and no more.
    w.send("XREAD", "BLOCK", "0", "MAXSIZE", "1", "STREAMS", "s", "$")
    wait_until(lambda: b"blocked_clients:1" in c.call("INFO", "clients"), msg="client blocked")
    c.call("MULTI")
    c.call("XADD", "s", "5-0", "f", "5")
    c.call("XADD", "s", "6-0", "f", "6")
    c.call("EXEC")
    reply = w.read()
    if isinstance(reply, dict):
        reply = [[k, v] for k, v in reply.items()]
    assert_eq(served(reply), [[b"s", [b"5-0"]]])


@test_both
def blocked_xreadgroup_with_maxcount_delivers_only_the_cap(protocol):
    srv = shared_server()
    c = fresh(protocol)
    c.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    w = srv.conn(protocol)
    w.send("XREADGROUP", "GROUP", "g", "w", "BLOCK", "0", "MAXCOUNT", "3", "STREAMS", "s", ">")
    wait_until(lambda: b"blocked_clients:1" in c.call("INFO", "clients"), msg="client blocked")
    c.call("MULTI")
    for i in range(1, 6):
        c.call("XADD", "s", f"{i}-0", "f", str(i))
    c.call("EXEC")
    reply = w.read()
    if isinstance(reply, dict):
        reply = [[k, v] for k, v in reply.items()]
    assert_eq(served(reply), [[b"s", [b"1-0", b"2-0", b"3-0"]]])
    assert_eq(pel(c, "s", "g"), [b"1-0", b"2-0", b"3-0"])
    assert_eq(first_group(c, "s")[b"last-delivered-id"], b"3-0")


@test
def redis_py_passes_maxcount_through_execute_command():
    r = shared_server().client()
    r.flushall()
    for k in ("x", "y"):
        for i in range(1, 4):
            r.xadd(k, {"f": str(i)}, id=f"{i}-0")
    reply = r.execute_command("XREAD", "COUNT", "2", "MAXCOUNT", "3", "STREAMS", "x", "y", "0",
                              "0")
    assert_eq([[k, [e[0] for e in entries]] for k, entries in reply],
              [[b"x", [b"1-0", b"2-0"]], [b"y", [b"1-0"]]])


# ---- XREADGROUP CLAIM ------------------------------------------------------------------------

def read_group(c, *args):
    """An XREADGROUP reply as RESP2 shows it (RESP3 maps flattened into [key, entries] pairs)."""
    reply = c.call("XREADGROUP", *args)
    if isinstance(reply, dict):
        return [[k, v] for k, v in reply.items()]
    return reply


def first_group(c, key):
    """XINFO GROUPS' first group as a dict (RESP2 pairs or a RESP3 map)."""
    g = c.call("XINFO", "GROUPS", key)[0]
    return g if isinstance(g, dict) else dict(zip(g[0::2], g[1::2]))


def pending_detail(c, key, group):
    """[id, consumer, delivery count] of every pending entry."""
    return [[e[0], e[1], e[3]] for e in c.call("XPENDING", key, group, "-", "+", "100")]


LONG = 5_000_000  # ms: idle times set with XCLAIM IDLE, far beyond any test's run time


def setup_claim(c):
    """s: entries 1..5; c1 has 1-0 (idle 3*LONG), 2-0 (idle 5*LONG), 3-0 (just delivered)."""
    fill(c, "s", 5)
    c.call("XGROUP", "CREATE", "s", "g", "0")
    c.call("XREADGROUP", "GROUP", "g", "c1", "COUNT", "3", "STREAMS", "s", ">")
    # XCLAIM (without JUSTID) counts a delivery: 1-0 and 2-0 now have 2 deliveries.
    c.call("XCLAIM", "s", "g", "c1", "0", "1-0", "IDLE", str(3 * LONG))
    c.call("XCLAIM", "s", "g", "c1", "0", "2-0", "IDLE", str(5 * LONG))


@test_both
def claim_returns_idle_entries_first_longest_idle_first_then_new(protocol):
    c = fresh(protocol)
    setup_claim(c)
    reply = read_group(c, "GROUP", "g", "c2", "COUNT", "3", "CLAIM", str(LONG), "STREAMS", "s",
                       ">")
    assert_eq(len(reply), 1)
    key, entries = reply[0]
    assert_eq(key, b"s")
    assert_eq([e[0] for e in entries], [b"2-0", b"1-0", b"4-0"])
    assert_eq([e[1] for e in entries], [[b"f", b"2"], [b"f", b"1"], [b"f", b"4"]])
    # Claimed: idle since the last delivery, and the deliveries before this one.
    assert_true(entries[0][2] >= 5 * LONG and entries[1][2] >= 3 * LONG, repr(entries))
    assert_true(entries[0][2] < 6 * LONG and entries[1][2] < 4 * LONG, repr(entries))
    assert_eq([entries[0][3], entries[1][3]], [2, 2])
    # A new entry in the same reply: idle 0, never delivered before.
    assert_eq(entries[2][2:], [0, 0])
    assert_eq(pending_detail(c, "s", "g"), [[b"1-0", b"c2", 3], [b"2-0", b"c2", 3],
                                            [b"3-0", b"c1", 1], [b"4-0", b"c2", 1]])
    # The claimed entries are fresh now: nothing idle, only the last new entry.
    reply = read_group(c, "GROUP", "g", "c3", "CLAIM", str(LONG), "STREAMS", "s", ">")
    assert_eq(reply, [[b"s", [[b"5-0", [b"f", b"5"], 0, 0]]]])
    # Nothing idle and nothing new: the null reply.
    assert_eq(c.call("XREADGROUP", "GROUP", "g", "c3", "CLAIM", str(LONG), "STREAMS", "s", ">"),
              None)


@test_both
def claim_reply_bytes_use_integers(protocol):
    c = fresh(protocol)
    fill(c, "s", 1)
    c.call("XGROUP", "CREATE", "s", "g", "0")
    raw = c.command("XREADGROUP", "GROUP", "g", "c", "CLAIM", "0", "STREAMS", "s", ">")
    entry = b"*4\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\n1\r\n:0\r\n:0\r\n"
    head = b"%1\r\n" if protocol == 3 else b"*1\r\n*2\r\n"
    assert_eq(raw, head + b"$1\r\ns\r\n*1\r\n" + entry)


@test_both
def claim_count_covers_claimed_and_new_together(protocol):
    c = fresh(protocol)
    setup_claim(c)
    reply = read_group(c, "GROUP", "g", "c2", "COUNT", "1", "CLAIM", str(LONG), "STREAMS", "s",
                       ">")
    assert_eq([e[0] for e in reply[0][1]], [b"2-0"])
    # The group's cursor did not move: 4-0 is still new.
    assert_eq(first_group(c, "s")[b"last-delivered-id"], b"3-0")


@test_both
def claim_is_ignored_for_history_reads_and_noack_spares_claimed_entries(protocol):
    c = fresh(protocol)
    setup_claim(c)
    # NOACK: the claimed entries stay pending (moved to c2), new ones are not added.
    reply = read_group(c, "GROUP", "g", "c2", "NOACK", "CLAIM", str(LONG), "STREAMS", "s", ">")
    assert_eq([e[0] for e in reply[0][1]], [b"2-0", b"1-0", b"4-0", b"5-0"])
    assert_eq(pending_detail(c, "s", "g"), [[b"1-0", b"c2", 3], [b"2-0", b"c2", 3],
                                            [b"3-0", b"c1", 1]])
    # An explicit ID reads the consumer's own history in the plain form.
    reply = read_group(c, "GROUP", "g", "c1", "CLAIM", "0", "STREAMS", "s", "0")
    assert_eq(reply, [[b"s", [[b"3-0", [b"f", b"3"]]]]])


@test_both
def claim_drops_pending_entries_whose_entry_is_gone(protocol):
    c = fresh(protocol)
    setup_claim(c)
    c.call("XDEL", "s", "2-0")
    reply = read_group(c, "GROUP", "g", "c2", "COUNT", "1", "CLAIM", str(LONG), "STREAMS", "s",
                       ">")
    assert_eq([e[0] for e in reply[0][1]], [b"1-0"])
    assert_eq([p[0] for p in pending_detail(c, "s", "g")], [b"1-0", b"3-0"])


@test_both
def claim_errors(protocol):
    c = fresh(protocol)
    fill(c, "s", 1)
    c.call("XGROUP", "CREATE", "s", "g", "0")
    assert_error(c.call("XREADGROUP", "GROUP", "g", "c", "CLAIM", "x", "STREAMS", "s", ">"),
                 "ERR value is not an integer or out of range")
    assert_error(c.call("XREADGROUP", "GROUP", "g", "c", "CLAIM", "-1", "STREAMS", "s", ">"),
                 "ERR min-idle-time must be a positive integer")
    assert_error(c.call("XREAD", "CLAIM", "0", "STREAMS", "s", "0"), "ERR syntax error")
    assert_eq(first_group(c, "s")[b"pending"], 0)  # nothing was delivered


@test_both
def blocked_claim_reader_is_woken_with_the_claim_form(protocol):
    srv = shared_server()
    c = fresh(protocol)
    fill(c, "s", 1)
    c.call("XGROUP", "CREATE", "s", "g", "$")
    waiter = srv.conn(protocol)
    waiter.send("XREADGROUP", "GROUP", "g", "w", "BLOCK", "0", "CLAIM", str(LONG), "STREAMS", "s",
                ">")
    wait_until(lambda: b"blocked_clients:1" in c.call("INFO", "clients"), msg="client blocked")
    c.call("XADD", "s", "2-0", "f", "2")
    reply = waiter.read()
    if isinstance(reply, dict):
        reply = [[k, v] for k, v in reply.items()]
    assert_eq(reply, [[b"s", [[b"2-0", [b"f", b"2"], 0, 0]]]])


@test(timeout=60)
def claims_survive_restart():
    with Server("--appendfsync", "always") as srv:
        c = srv.conn()
        setup_claim(c)
        read_group(c, "GROUP", "g", "c2", "CLAIM", str(LONG), "STREAMS", "s", ">")
        expected = c.call("XPENDING", "s", "g", "-", "+", "100")
        srv.restart()
        c = srv.conn()
        after = c.call("XPENDING", "s", "g", "-", "+", "100")
        assert_eq([[e[0], e[1], e[3]] for e in after], [[e[0], e[1], e[3]] for e in expected])
        assert_eq([p[1] for p in pending_detail(c, "s", "g")],
                  [b"c2", b"c2", b"c1", b"c2", b"c2"])


# ---- Idempotent producers: XADD IDMP / IDMPAUTO, XCFGSET ------------------------------------

def xinfo(c, key):
    reply = c.call("XINFO", "STREAM", key)
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[0::2], reply[1::2]))


@test_both
def xadd_idmp_returns_the_original_id_for_a_resent_entry(protocol):
    c = fresh(protocol)
    first = c.call("XADD", "s", "IDMP", "p1", "iid-1", "*", "f", "v")
    assert_eq(c.call("XADD", "s", "IDMP", "p1", "iid-1", "*", "f", "other"), first)
    assert_eq(c.call("XLEN", "s"), 1)
    # Another iid, or the same iid of another producer, is a new entry.
    second = c.call("XADD", "s", "IDMP", "p1", "iid-2", "*", "f", "v")
    third = c.call("XADD", "s", "IDMP", "p2", "iid-1", "*", "f", "v")
    assert_eq(len({first, second, third}), 3)
    info = xinfo(c, "s")
    assert_eq([info[k] for k in (b"idmp-duration", b"idmp-maxsize", b"pids-tracked",
                                 b"iids-tracked", b"iids-added", b"iids-duplicates")],
              [100, 100, 2, 3, 3, 1])
    # A stream that never used IDMP shows no IDMP fields.
    c.call("XADD", "plain", "*", "f", "v")
    assert_true(b"idmp-duration" not in xinfo(c, "plain"))


@test_both
def xadd_idmpauto_derives_the_iid_from_the_content(protocol):
    c = fresh(protocol)
    a = c.call("XADD", "s", "IDMPAUTO", "p", "*", "f", "v", "g", "w")
    assert_eq(c.call("XADD", "s", "IDMPAUTO", "p", "*", "f", "v", "g", "w"), a)
    # Different content (even the same bytes split differently) is another entry.
    b = c.call("XADD", "s", "IDMPAUTO", "p", "*", "f", "vg", "", "w")
    assert_true(a != b)
    assert_eq(c.call("XLEN", "s"), 2)
    assert_eq(xinfo(c, "s")[b"iids-duplicates"], 1)


@test_both
def xcfgset_sets_limits_and_clears_tracked_ids(protocol):
    c = fresh(protocol)
    c.call("SET", "str", "x")
    first = c.call("XADD", "s", "IDMP", "p", "a", "*", "f", "v")
    assert_eq(c.call("XCFGSET", "s", "IDMP-DURATION", "300", "IDMP-MAXSIZE", "2"), "OK")
    info = xinfo(c, "s")
    assert_eq([info[b"idmp-duration"], info[b"idmp-maxsize"], info[b"iids-tracked"]], [300, 2, 0])
    # Cleared: the same iid adds a new entry now.
    assert_true(c.call("XADD", "s", "IDMP", "p", "a", "*", "f", "v") != first)
    c.call("XADD", "s", "IDMP", "p", "b", "*", "f", "v")
    c.call("XADD", "s", "IDMP", "p", "c", "*", "f", "v")  # evicts "a" (max size 2)
    assert_eq(xinfo(c, "s")[b"iids-tracked"], 2)
    n = c.call("XLEN", "s")
    c.call("XADD", "s", "IDMP", "p", "a", "*", "f", "v")
    assert_eq(c.call("XLEN", "s"), n + 1)
    # Only one option: the other keeps its value.
    assert_eq(c.call("XCFGSET", "s", "IDMP-MAXSIZE", "7"), "OK")
    assert_eq(xinfo(c, "s")[b"idmp-duration"], 300)
    assert_error(c.call("XCFGSET", "s"), "ERR syntax error")
    assert_error(c.call("XCFGSET", "s", "IDMP-DURATION"), "ERR syntax error")
    assert_error(c.call("XCFGSET", "s", "BOGUS", "1"), "ERR syntax error")
    assert_error(c.call("XCFGSET", "s", "IDMP-DURATION", "0"), "ERR invalid duration")
    assert_error(c.call("XCFGSET", "s", "IDMP-DURATION", "86401"), "ERR invalid duration")
    assert_error(c.call("XCFGSET", "s", "IDMP-DURATION", "x"), "ERR invalid duration")
    assert_error(c.call("XCFGSET", "s", "IDMP-MAXSIZE", "10001"), "ERR invalid maxsize")
    assert_error(c.call("XCFGSET", "s", "IDMP-MAXSIZE", "0"), "ERR invalid maxsize")
    assert_error(c.call("XCFGSET", "nokey", "IDMP-MAXSIZE", "5"), "ERR no such key")
    assert_error(c.call("XCFGSET", "str", "IDMP-MAXSIZE", "5"), "WRONGTYPE")
    assert_eq(xinfo(c, "s")[b"idmp-maxsize"], 7)


@test(timeout=90)
def idempotency_state_survives_restart_and_kill9():
    with Server("--appendfsync", "always") as srv:
        c = srv.conn()
        c.call("XADD", "s", "1-0", "f", "v")
        c.call("XCFGSET", "s", "IDMP-DURATION", "3600", "IDMP-MAXSIZE", "50")
        ids = [c.call("XADD", "s", "IDMP", f"p{i % 2}", f"i{i}", "*", "n", str(i))
               for i in range(6)]
        c.call("XADD", "s", "IDMP", "p0", "i0", "*", "n", "dup")
        before = xinfo(c, "s")
        srv.restart()
        c = srv.conn()
        assert_eq(xinfo(c, "s"), before)
        assert_eq(c.call("XADD", "s", "IDMP", "p1", "i3", "*", "n", "again"), ids[3])
        c.call("XADD", "s", "IDMPAUTO", "auto", "*", "x", "y")
        srv.kill9()
        srv.start()
        c = srv.conn()
        info = xinfo(c, "s")
        assert_eq([info[k] for k in (b"idmp-duration", b"idmp-maxsize", b"pids-tracked",
                                     b"iids-tracked", b"iids-added", b"iids-duplicates")],
                  [3600, 50, 3, 7, 7, 2])
        assert_eq(c.call("XADD", "s", "IDMP", "p0", "i4", "*", "n", "again"), ids[4])
        assert_eq(c.call("XLEN", "s"), 8)


# ---- XNACK ---------------------------------------------------------------------------------

@test_both
def xnack_releases_entries_to_no_consumer_with_the_mode_s_count(protocol):
    c = fresh(protocol)
    fill(c, "s", 4)
    c.call("XGROUP", "CREATE", "s", "g", "0")
    c.call("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">")
    c.call("XCLAIM", "s", "g", "c1", "0", "2-0", "3-0")  # 2-0 and 3-0: 2 deliveries
    assert_eq(c.call("XNACK", "s", "g", "SILENT", "IDS", "2", "2-0", "9-0"), 1)
    assert_eq(c.call("XNACK", "s", "g", "FAIL", "IDS", "1", "3-0"), 1)
    assert_eq(c.call("XNACK", "s", "g", "FATAL", "IDS", "1", "4-0"), 1)
    pending = c.call("XPENDING", "s", "g", "-", "+", "10")
    assert_eq(pending, [[b"1-0", b"c1", pending[0][2], 1], [b"2-0", b"", -1, 1],
                        [b"3-0", b"", -1, 2], [b"4-0", b"", -1, 9223372036854775807]])
    # RETRYCOUNT overrides the mode; the summary counts the released entries, no consumer owns them.
    assert_eq(c.call("XNACK", "s", "g", "FAIL", "IDS", "1", "1-0", "RETRYCOUNT", "5"), 1)
    summary = c.call("XPENDING", "s", "g")
    assert_eq([summary[0], summary[3]], [4, []])
    consumers = c.call("XINFO", "CONSUMERS", "s", "g")
    pending_of_c1 = consumers[0][b"pending"] if isinstance(consumers[0], dict) else consumers[0][3]
    assert_eq(pending_of_c1, 0)


@test_both
def xnacked_entries_are_claimed_first(protocol):
    c = fresh(protocol)
    fill(c, "s", 3)
    c.call("XGROUP", "CREATE", "s", "g", "0")
    c.call("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">")
    c.call("XCLAIM", "s", "g", "c1", "0", "1-0", "IDLE", str(LONG))
    c.call("XNACK", "s", "g", "FAIL", "IDS", "1", "3-0")
    # The released 3-0 goes before 1-0 (idle LONG); 2-0 was just delivered.
    reply = read_group(c, "GROUP", "g", "c2", "CLAIM", str(LONG), "STREAMS", "s", ">")
    assert_eq([e[0] for e in reply[0][1]], [b"3-0", b"1-0"])
    assert_eq(reply[0][1][0][2:], [-1, 1])
    assert_eq(pending_detail(c, "s", "g"), [[b"1-0", b"c2", 3], [b"2-0", b"c1", 1],
                                            [b"3-0", b"c2", 2]])


@test_both
def xnack_force_missing_and_errors(protocol):
    c = fresh(protocol)
    c.call("SET", "str", "x")
    fill(c, "s", 2)
    c.call("XGROUP", "CREATE", "s", "g", "0")
    # FORCE: an entry of the stream that was never delivered becomes pending (count 0);
    # an ID not in the stream is skipped.
    assert_eq(c.call("XNACK", "s", "g", "FAIL", "IDS", "2", "2-0", "7-0", "FORCE"), 1)
    assert_eq(pending_detail(c, "s", "g"), [[b"2-0", b"", 0]])
    assert_eq(c.call("XNACK", "s", "g", "FAIL", "IDS", "1", "1-0"), 0)  # not pending
    assert_eq(c.call("XNACK", "nokey", "g", "FAIL", "IDS", "1", "1-0"), 0)
    assert_eq(c.call("XNACK", "s", "nogroup", "FAIL", "IDS", "1", "1-0"), 0)
    assert_error(c.call("XNACK", "s", "g", "IDS", "1", "1-0", "FORCE"), "ERR syntax error")
    assert_error(c.call("XNACK", "s", "g", "FAIL", "FATAL", "IDS", "1", "1-0"), "ERR syntax error")
    assert_error(c.call("XNACK", "s", "g", "FAIL", "IDS", "1", "1-0", "BOGUS"), "ERR syntax error")
    assert_error(c.call("XNACK", "s", "g", "FAIL", "IDS", "0", "1-0"),
                 "ERR Number of IDs must be a positive integer")
    assert_error(c.call("XNACK", "s", "g", "FAIL", "IDS", "1", "x-y", "FORCE"),
                 "ERR Invalid stream ID specified as stream command argument")
    assert_error(c.call("XNACK", "s", "g", "FAIL", "IDS", "1", "1-0", "RETRYCOUNT", "z"),
                 "ERR value is not an integer or out of range")
    assert_error(c.call("XNACK", "s", "g", "FAIL", "IDS", "1", "1-0", "RETRYCOUNT", "-1"),
                 "ERR Invalid RETRYCOUNT option argument for XNACK")
    assert_error(c.call("XNACK", "s", "g", "FAIL", "IDS"),
                 "ERR wrong number of arguments for 'xnack' command")
    assert_error(c.call("XNACK", "str", "g", "FAIL", "IDS", "1", "1-0"), "WRONGTYPE")


@test(timeout=90)
def xnack_state_survives_restart_and_snapshot():
    with Server("--appendfsync", "always") as srv:
        c = srv.conn()
        fill(c, "s", 3)
        c.call("XGROUP", "CREATE", "s", "g", "0")
        c.call("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">")
        c.call("XNACK", "s", "g", "FATAL", "IDS", "2", "1-0", "3-0")
        expected = c.call("XPENDING", "s", "g", "-", "+", "10")
        srv.restart()
        c = srv.conn()
        assert_eq(c.call("XPENDING", "s", "g", "-", "+", "10")[0::2], expected[0::2])
        assert_eq(pending_detail(c, "s", "g"), [[b"1-0", b"", 9223372036854775807],
                                                [b"2-0", b"c1", 1],
                                                [b"3-0", b"", 9223372036854775807]])
        srv.kill9()
        srv.start()
        c = srv.conn()
        assert_eq(pending_detail(c, "s", "g")[0], [b"1-0", b"", 9223372036854775807])


if __name__ == "__main__":
    main()
