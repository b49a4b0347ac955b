"""Stream retention end to end against the real sluice-server: stream-retention-bytes and
stream-retention-ms drop whole old segments in the background (set at startup or with CONFIG
SET), the newest segment stays, consumer groups see the drop as an XTRIM, and DEBUG RELOAD and
a restart keep the post-retention state. Small stream-segment-bytes make segments roll fast;
every wait polls for the expected state instead of sleeping."""

import glob
import os

from sluice_harness import Server, assert_eq, assert_true, main, test, wait_until

VALUE = "x" * 100
WAIT = 30  # seconds: generous bounds for polls that succeed within a cron tick or two


def segment_ids(srv):
    """First entry IDs (ms, seq) of the stream's segment files, oldest first (one stream)."""
    names = glob.glob(os.path.join(srv.dir, "streams", "*", "log", "*.log"))
    out = []
    for path in names:
        ms, seq = os.path.basename(path)[:-len(".log")].split("-")
        out.append((int(ms), int(seq)))
    return sorted(out)


def info_int(conn, field):
    for line in conn.call("INFO", "streams").decode().splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    raise AssertionError(f"INFO streams has no {field}")


def stream_info(conn, key):
    flat = conn.call("XINFO", "STREAM", key)
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


def parse_id(raw):
    ms, seq = raw.decode().split("-")
    return int(ms), int(seq)


def id_text(pair):
    return f"{pair[0]}-{pair[1]}".encode()


def state(conn, key):
    """What a client sees of a stream (XLEN, all IDs, XINFO STREAM, XINFO GROUPS, XPENDING)."""
    info = stream_info(conn, key)
    return {
        "len": conn.call("XLEN", key),
        "ids": [e[0] for e in conn.call("XRANGE", key, "-", "+")],
        "info": {k: info[k] for k in ("length", "last-generated-id", "max-deleted-entry-id",
                                      "entries-added", "recorded-first-entry-id", "groups",
                                      "first-entry", "last-entry")},
        "groups": conn.call("XINFO", "GROUPS", key),
        "pending": conn.call("XPENDING", key, "g") if info["groups"] else None,
    }


@test(timeout=120)
def size_retention_keeps_the_log_bounded_while_xadd_goes_on():
    limit = 64 * 1024
    with Server("--stream-segment-bytes", "16kb", "--stream-retention-bytes", str(limit)) as srv:
        c = srv.conn()
        added = 0
        very_first = None
        for _ in range(10):
            replies = c.pipeline(*[("XADD", "s", "*", "v", VALUE) for _ in range(500)])
            very_first = very_first or replies[0]
            added += 500
            # Once the writes stop, retention brings the log down to the limit.
            wait_until(lambda: info_int(c, "stream_disk_bytes") <= limit, timeout=WAIT,
                       msg="stream log within stream-retention-bytes")
            length = c.call("XLEN", "s")
            assert_true(length <= limit // len(VALUE), f"XLEN {length} after {added} XADDs")
            ids = [e[0] for e in c.call("XRANGE", "s", "-", "+")]
            assert_eq(len(ids), length)
            info = stream_info(c, "s")
            assert_eq(info["first-entry"][0], ids[0])
            assert_eq(info["entries-added"], added)
            assert_eq(ids[0], id_text(segment_ids(srv)[0]))
        assert_true(info_int(c, "stream_retention_dropped_segments") > 0)
        assert_eq(info_int(c, "stream_retention_dropped_entries"), added - length)
        first_now = c.call("XRANGE", "s", "-", "+", "COUNT", "1")[0][0]
        assert_true(parse_id(first_now) > parse_id(very_first),
                    f"XRANGE starts at {first_now!r}, the first XADD was {very_first!r}")

        before = state(c, "s")
        srv.restart()
        c = srv.conn()
        assert_eq(state(c, "s"), before)


@test(timeout=120)
def age_retention_set_at_runtime_drops_segments_of_old_ids_and_keeps_the_newest():
    with Server("--stream-segment-bytes", "4kb") as srv:
        c = srv.conn()
        # 300 entries with IDs in 1970 (1000-0 ...), then 100 with current IDs.
        c.pipeline(*[("XADD", "s", f"{1000 + i}-0", "v", VALUE) for i in range(300)])
        c.pipeline(*[("XADD", "s", "*", "v", VALUE) for _ in range(100)])
        old_segments = [s for s in segment_ids(srv) if s[0] < 1300]
        assert_true(len(old_segments) > 3, f"only {len(old_segments)} old segments")
        assert_eq(c.call("XLEN", "s"), 400)
        assert_eq(info_int(c, "stream_retention_dropped_segments"), 0)

        assert_eq(c.call("CONFIG", "SET", "stream-retention-ms", "60000"), "OK")

        # Every segment whose last entry is old goes: at most one segment (the oldest, which
        # also holds new entries) may still start with an old ID.
        def settled():
            return len([s for s in segment_ids(srv) if s[0] < 1300]) <= 1
        wait_until(settled, timeout=WAIT, msg="old segments dropped")
        # Off again, so the current entries cannot age out while the test looks at them.
        assert_eq(c.call("CONFIG", "SET", "stream-retention-ms", "0"), "OK")
        remaining = segment_ids(srv)
        ids = [e[0] for e in c.call("XRANGE", "s", "-", "+")]
        assert_eq(ids[0], id_text(remaining[0]))
        assert_eq(c.call("XLEN", "s"), len(ids))
        assert_true(len(ids) >= 100, "a current entry was dropped")
        # The oldest remaining segment is either the one that also holds the first new entries
        # or the first segment of new entries.
        kept_old = 1 if remaining[0][0] < 1300 else 0
        assert_eq(info_int(c, "stream_retention_dropped_segments"), len(old_segments) - kept_old)
        assert_eq(info_int(c, "stream_retention_dropped_entries"), 400 - len(ids))
        info = stream_info(c, "s")
        assert_eq(info["entries-added"], 400)
        assert_eq(info["first-entry"][0], ids[0])

        before = state(c, "s")
        assert_eq(c.call("DEBUG", "RELOAD"), "OK")
        assert_eq(state(c, "s"), before)
        srv.restart()
        c = srv.conn()
        assert_eq(state(c, "s"), before)
        assert_eq(c.call("CONFIG", "GET", "stream-retention-ms"), [b"stream-retention-ms", b"0"])


@test(timeout=120)
def the_newest_segment_stays_however_old_its_entries():
    with Server("--stream-segment-bytes", "4kb", "--stream-retention-ms", "1000") as srv:
        c = srv.conn()
        c.pipeline(*[("XADD", "s", f"{1000 + i}-0", "v", VALUE) for i in range(200)])
        wait_until(lambda: len(segment_ids(srv)) == 1, timeout=WAIT, msg="one segment left")
        ids = [e[0] for e in c.call("XRANGE", "s", "-", "+")]
        assert_eq(ids[-1], b"1199-0")
        assert_eq(ids[0], id_text(segment_ids(srv)[0]))
        assert_eq(c.call("XLEN", "s"), len(ids))
        assert_eq(info_int(c, "stream_retention_dropped_entries"), 200 - len(ids))


@test(timeout=120)
def consumer_groups_see_retention_as_an_xtrim_minid():
    with Server("--stream-segment-bytes", "4kb") as srv:
        c = srv.conn()

        def build(key):
            c.pipeline(*[("XADD", key, f"{1000 + i}-0", "v", VALUE) for i in range(300)])
            c.call("XGROUP", "CREATE", key, "g", "0")
            c.call("XREADGROUP", "GROUP", "g", "alice", "COUNT", "50", "STREAMS", key, ">")
            c.call("XREADGROUP", "GROUP", "g", "bob", "COUNT", "100", "STREAMS", key, ">")
            c.call("XACK", key, "g", "1002-0", "1003-0")
            c.call("XDEL", key, "1001-0", "1290-0")

        build("r")
        assert_eq(c.call("CONFIG", "SET", "stream-retention-ms", "1"), "OK")
        wait_until(lambda: len(segment_ids(srv)) == 1, timeout=WAIT, msg="one segment left")
        assert_eq(c.call("CONFIG", "SET", "stream-retention-ms", "0"), "OK")
        first_kept = id_text(segment_ids(srv)[0])
        build("t")
        c.call("XTRIM", "t", "MINID", "=", first_kept)
        retained = state(c, "r")
        assert_eq(retained, state(c, "t"))
        assert_eq(retained["pending"][0], 148)  # dropped entries stay pending
        # XCLAIM skips an entry that is gone and drops it from the PEL, as after XTRIM.
        assert_eq(c.call("XCLAIM", "r", "g", "carol", "0", "1000-0"), [])
        assert_eq(c.call("XCLAIM", "t", "g", "carol", "0", "1000-0"), [])
        claimed = c.call("XAUTOCLAIM", "r", "g", "carol", "0", "0-0", "COUNT", "500", "JUSTID")
        assert_eq(claimed, c.call("XAUTOCLAIM", "t", "g", "carol", "0", "0-0", "COUNT", "500",
                                  "JUSTID"))
        assert_true(b"1004-0" in claimed[2], f"deleted IDs: {claimed[2]!r}")
        assert_eq(state(c, "r"), state(c, "t"))
        srv.restart()
        c = srv.conn()
        assert_eq(state(c, "r"), state(c, "t"))


if __name__ == "__main__":
    main()
