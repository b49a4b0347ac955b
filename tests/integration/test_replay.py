"""Replaying streams from their segment files against the real sluice-server: paging with XRANGE
(and "(" exclusive starts), XREAD and XREVRANGE through many small segments returns exactly
what was added, also while two replays interleave, while entries ahead of the reader are
deleted or trimmed, and after DEBUG RELOAD. Sequential pages are what the server reads ahead
for, so these are the read-ahead's end-to-end checks: whatever it holds, a page must show the
stream as it is when the page is asked for."""

import random

from sluice_harness import Server, assert_eq, assert_true, main, test

SEGMENT = "64kb"  # entries are ~150-400 bytes on disk: a few hundred per segment


def info_int(conn, field):
    for line in conn.call("INFO", "streams").decode().splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    raise AssertionError(f"INFO streams has no {field}")


def fill(conn, key, n, rng):
    """Adds n entries with one to three fields of varied size; returns [(id, [f, v, ...])]."""
    commands, fields = [], []
    for i in range(n):
        flat = []
        for f in range(1 + rng.randrange(3)):
            flat += [f"f{f}".encode(), (f"{key}-{i}-" + "v" * rng.randrange(20, 200)).encode()]
        fields.append(flat)
        commands.append(("XADD", key, "*") + tuple(flat))
    ids = []
    for start in range(0, n, 1000):
        ids += conn.pipeline(*commands[start:start + 1000])
    return [[i, f] for i, f in zip(ids, fields)]


def pages_xrange(conn, key, count, exclusive):
    """All entries of `key` read COUNT at a time, each page starting after the last one."""
    out, start = [], "-"
    while True:
        page = conn.call("XRANGE", key, start, "+", "COUNT", count)
        out += page
        if len(page) < count:
            return out
        last = page[-1][0].decode()
        if exclusive:
            start = "(" + last
        else:
            ms, seq = last.split("-")
            start = f"{ms}-{int(seq) + 1}"


def pages_xread(conn, key, count):
    out, last = [], "0-0"
    while True:
        reply = conn.call("XREAD", "COUNT", count, "STREAMS", key, last)
        page = reply[0][1] if reply else []
        out += page
        if len(page) < count:
            return out
        last = page[-1][0]


def pages_xrevrange(conn, key, count):
    out, end = [], "+"
    while True:
        page = conn.call("XREVRANGE", key, end, "-", "COUNT", count)
        out += page
        if len(page) < count:
            return out[::-1]
        end = "(" + page[-1][0].decode()


@test(timeout=180)
def paging_through_many_segments_returns_every_entry_in_order():
    rng = random.Random(20261125)
    with Server("--stream-segment-bytes", SEGMENT) as srv:
        c = srv.conn()
        model = fill(c, "s", 12000, rng)
        # Reads at random places never read ahead.
        for _ in range(200):
            entry = model[rng.randrange(len(model))]
            assert_eq(c.call("XRANGE", "s", entry[0], "+", "COUNT", 20)[0], entry)
        assert_eq(info_int(c, "stream_read_ahead_reads"), 0)
        for count in (1000, 333, 1):
            if count == 1:
                # One entry per page: long, so only over a slice of the stream.
                c.call("XADD", "one", "1-1", "a", "b")
                assert_eq(pages_xrange(c, "one", 1, True), [[b"1-1", [b"a", b"b"]]])
                continue
            assert_eq(pages_xrange(c, "s", count, exclusive=False), model)
            assert_eq(pages_xrange(c, "s", count, exclusive=True), model)
            assert_eq(pages_xread(c, "s", count), model)
        # The sequential pages above were served from bytes read ahead.
        assert_true(info_int(c, "stream_read_ahead_reads") > 20, "no read-ahead")
        assert_true(info_int(c, "stream_read_ahead_hits") > 20, "no read-ahead hits")
        assert_eq(pages_xrevrange(c, "s", 500), model)
        assert_eq(c.call("DEBUG", "RELOAD"), "OK")
        hits = info_int(c, "stream_read_ahead_hits")
        assert_eq(pages_xrange(c, "s", 1000, exclusive=True), model)
        assert_true(info_int(c, "stream_read_ahead_hits") > hits, "no read-ahead after reload")


@test(timeout=180)
def two_interleaved_replays_each_see_their_own_stream():
    rng = random.Random(7)
    with Server("--stream-segment-bytes", SEGMENT) as srv:
        c = srv.conn()
        models = {"a": fill(c, "a", 6000, rng), "b": fill(c, "b", 6000, rng)}
        readers = {k: srv.conn() for k in models}
        got = {k: [] for k in models}
        start = {k: "-" for k in models}
        done = set()
        while len(done) < 2:
            for key in models:
                if key in done:
                    continue
                page = readers[key].call("XRANGE", key, start[key], "+", "COUNT", 400)
                got[key] += page
                if len(page) < 400:
                    done.add(key)
                else:
                    start[key] = "(" + page[-1][0].decode()
        for key in models:
            assert_eq(got[key], models[key])


def id_key(raw):
    ms, seq = raw.decode().split("-")
    return int(ms), int(seq)


@test(timeout=180)
def entries_deleted_or_trimmed_ahead_of_a_replay_are_not_served():
    rng = random.Random(11)
    with Server("--stream-segment-bytes", SEGMENT) as srv:
        c = srv.conn()
        live = fill(c, "s", 10000, rng)  # the entries that exist, in order
        start, last, pages = "-", None, 0
        while True:
            page = c.call("XRANGE", "s", start, "+", "COUNT", 500)
            # Every page is the next 500 entries that exist when it is asked for.
            after = [e for e in live if last is None or id_key(e[0]) > id_key(last)]
            assert_eq(page, after[:500])
            pages += 1
            if len(page) < 500:
                break
            last = page[-1][0]
            start = "(" + last.decode()
            ahead = [e[0] for e in live if id_key(e[0]) > id_key(last)]
            if pages == 4:
                # Entries right ahead of the reader: bytes the server may hold read ahead.
                victims = [ahead[k] for k in (0, 1, 50, 499, 700)]
                assert_eq(c.call("XDEL", "s", *victims), len(victims))
                live = [e for e in live if e[0] not in victims]
            if pages == 8:
                # Trimmed past the reader: the next page starts at the new first entry.
                minid = ahead[300]
                c.call("XTRIM", "s", "MINID", minid)
                live = [e for e in live if id_key(e[0]) >= id_key(minid)]
            if pages == 12:
                # New entries at the end while the replay is under way.
                live += fill(c, "s", 700, rng)
        assert_true(pages > 12, f"only {pages} pages")
        assert_eq(c.call("XLEN", "s"), len(live))


if __name__ == "__main__":
    main()
