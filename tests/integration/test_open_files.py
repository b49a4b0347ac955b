"""Many streams within a small descriptor limit (broker/storage/open_files.h): the server runs
under `prlimit --nofile=1024`, and 2,500 streams with consumer groups (a segment, a control
journal and a group journal each: ~7,500 files) take writes, reads and new clients without an
error, keep their open files within the budget, restart with everything intact, and take
writes again through reopened files. Under appendfsync always and everysec. Without the budget
the server ran out of descriptors after a few hundred streams."""

import random

from sluice_harness import (Server, assert_eq, assert_true, main, server_binary, test,
                            wait_until)

STREAMS = 2500
NOFILE = 1024
BATCH = 250


def info_int(conn, field):
    for line in conn.call("INFO", "streams").decode().splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    raise AssertionError(f"INFO streams has no {field}")


def start(fsync):
    template = (f"prlimit --nofile={NOFILE}:{NOFILE} {server_binary()} --port {{port}} "
                f"--dir {{dir}} --maxclients 100 --appendfsync {fsync} "
                f"--stream-segment-bytes 4096")
    return Server(template=template, ready_timeout=60)


def fields(i, n):
    return ["n", str(n), "pad", f"{i:05d}" * (1 + i % 7)]


def fill(c):
    """Three entries, a group that read two of them and acknowledged the first, per stream.
    Returns {key: [(id, fields)]}."""
    written = {}
    for start_at in range(0, STREAMS, BATCH):
        keys = [f"s:{i}" for i in range(start_at, start_at + BATCH)]
        cmds = []
        for i, key in zip(range(start_at, start_at + BATCH), keys):
            for n in range(3):
                cmds.append(("XADD", key, "*", *fields(i, n)))
            cmds.append(("XGROUP", "CREATE", key, "g", "0"))
            cmds.append(("XREADGROUP", "GROUP", "g", "c", "COUNT", "2", "STREAMS", key, ">"))
        replies = c.pipeline(*cmds)
        for k, key in enumerate(keys):
            ids = replies[5 * k:5 * k + 3]
            assert_true(all(isinstance(x, bytes) and b"-" in x for x in ids), (key, ids))
            assert_eq(replies[5 * k + 3], "OK")
            written[key] = [(ids[n], fields(start_at + k, n)) for n in range(3)]
        acks = c.pipeline(*[("XACK", key, "g", written[key][0][0]) for key in keys])
        assert_eq(acks, [1] * len(keys))
    return written


def check_streams(c, written, sample):
    for key in sample:
        got = c.call("XRANGE", key, "-", "+")
        want = [[eid, [f.encode() for f in fl]] for eid, fl in written[key]]
        assert_eq(got, want, key)
        pending = c.call("XPENDING", key, "g")
        assert_eq(pending[0], 1, key)
        assert_eq(pending[1], written[key][1][0], key)


def budget_holds(c):
    return info_int(c, "stream_open_files") <= info_int(c, "stream_open_files_limit")


def run(fsync):
    srv = start(fsync)
    with srv:
        c = srv.conn()
        limit = info_int(c, "stream_open_files_limit")
        assert_true(64 <= limit < NOFILE, limit)
        written = fill(c)
        assert_eq(c.call("DBSIZE"), STREAMS)
        wait_until(lambda: budget_holds(c), timeout=30, msg="open files within the budget")
        assert_true(info_int(c, "stream_idle_files_closed") > 0)
        # A long stream (4 KiB segments) read from its first, sealed segment on.
        long_ids = c.pipeline(*[("XADD", "long", "*", "i", str(i), "v", "x" * 200)
                                for i in range(400)])
        assert_eq(len(c.call("XRANGE", "long", "-", "+")), 400)
        # Clients still connect: descriptors are left for them.
        extra = [srv.conn() for _ in range(40)]
        for e in extra:
            assert_eq(e.call("PING"), "PONG")
            e.close()
        sample = random.Random(7).sample(sorted(written), 200)
        check_streams(c, written, sample)

        srv.restart()
        c = srv.conn()
        assert_eq(c.call("DBSIZE"), STREAMS + 1)
        assert_true(budget_holds(c), "recovery keeps within the budget")
        check_streams(c, written, sample)
        assert_eq([e[0] for e in c.call("XRANGE", "long", "-", "+")], long_ids)
        # Every stream takes writes again (its files reopened) and they survive a restart.
        keys = sorted(written)
        for start_at in range(0, STREAMS, BATCH):
            batch = keys[start_at:start_at + BATCH]
            ids = c.pipeline(*[("XADD", key, "*", "again", "1") for key in batch])
            for key, eid in zip(batch, ids):
                assert_true(isinstance(eid, bytes) and b"-" in eid, (key, eid))
                written[key].append((eid, ["again", "1"]))
            acks = c.pipeline(*[("XACK", key, "g", written[key][1][0]) for key in batch])
            assert_eq(acks, [1] * len(batch))
        wait_until(lambda: budget_holds(c), timeout=30, msg="open files within the budget")
        srv.restart()
        c = srv.conn()
        for key in random.Random(11).sample(keys, 200):
            got = c.call("XRANGE", key, "-", "+")
            assert_eq([e[0] for e in got], [eid for eid, _ in written[key]], key)
            assert_eq(c.call("XPENDING", key, "g")[0], 0, key)
        # One transaction and one script each writing to 300 streams whose files are closed:
        # ~600 files to open within one command, room made by closing other streams' idle
        # files between the commands (the pipeline pause cannot act inside them).
        tx_keys, script_keys = keys[:300], keys[300:600]
        # Writes to 1,000 other streams fill the budget with their segment files (idle once
        # synced: open until something needs the room). One at a time: a pipeline would have
        # its own reservations close most of them.
        def fill_budget():
            for k in keys[600:1600]:
                c.call("XADD", k, "*", "fill", "1")

        fill_budget()
        limit = info_int(c, "stream_open_files_limit")
        wait_until(lambda: info_int(c, "stream_open_files") >= limit - 50, timeout=10,
                   msg="the budget filled")
        replies = c.pipeline(("MULTI",), *[("XADD", k, "*", "tx", "1") for k in tx_keys],
                             ("EXEC",))
        assert_eq(len(replies[-1]), len(tx_keys))
        assert_true(all(isinstance(x, bytes) and b"-" in x for x in replies[-1]), replies[-1])
        script = "for i, k in ipairs(KEYS) do redis.call('XADD', k, '*', 'lua', '1') end return #KEYS"
        fill_budget()
        wait_until(lambda: info_int(c, "stream_open_files") >= limit - 50, timeout=10,
                   msg="the budget filled")
        assert_eq(c.call("EVAL", script, len(script_keys), *script_keys), len(script_keys))
        srv.restart()
        c = srv.conn()
        for key in tx_keys[::37] + script_keys[::37]:
            last = c.call("XREVRANGE", key, "+", "-", "COUNT", "1")[0][1]
            assert_eq(last, [b"tx", b"1"] if key in tx_keys else [b"lua", b"1"], key)


@test(timeout=240)
def many_streams_under_appendfsync_always():
    run("always")


@test(timeout=240)
def many_streams_under_appendfsync_everysec():
    run("everysec")


if __name__ == "__main__":
    main()
