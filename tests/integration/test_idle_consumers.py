"""Idle consumers and inactive groups (Sluice extensions): XGROUP SETCONSUMERIDLE deletes consumers
without pending entries once idle past the limit and reports those with pending entries as stale
(XINFO CONSUMERS, INFO, /metrics); stream-group-inactive-ms stops a forgotten group from holding
back ACKED trimming (off by default)."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sluice_harness import *  # noqa: E402,F401,F403


def as_dict(flat):
    if isinstance(flat, dict):
        return flat
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


def consumers(c):
    return {as_dict(x)[b"name"]: as_dict(x) for x in c.call("XINFO", "CONSUMERS", "s", "g")}


def info_streams(c):
    text = c.call("INFO", "streams")
    text = text.decode() if isinstance(text, bytes) else str(text)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


@test
def idle_consumers_without_pending_entries_are_deleted_and_survive_restart():
    with Server() as srv:
        c = srv.conn()
        c.call("XADD", "s", "1-0", "f", "v")
        c.call("XGROUP", "CREATE", "s", "g", "0")
        c.call("XREADGROUP", "GROUP", "g", "busy", "STREAMS", "s", ">")
        assert_eq(c.call("XGROUP", "CREATECONSUMER", "s", "g", "idle"), 1)
        # Without a limit: Redis's reply shape.
        assert_eq(sorted(consumers(c)[b"idle"]), [b"idle", b"name", b"pending"])
        assert_eq(c.call("XGROUP", "SETCONSUMERIDLE", "s", "g", "300"), "OK")
        wait_until(lambda: b"idle" not in consumers(c), timeout=30, msg="idle consumer deleted")
        busy = consumers(c)[b"busy"]
        assert_eq((busy[b"pending"], busy[b"stale"]), (1, 1))
        info = info_streams(c)
        assert_eq((info["stream_consumers_reaped"], info["stream_stale_consumers"]), ("1", "1"))
        g = as_dict(c.call("XINFO", "GROUPS", "s")[0])
        assert_eq(g[b"consumer-max-idle"], 300)
        # Reading makes it fresh again.
        c.call("XREADGROUP", "GROUP", "g", "busy", "STREAMS", "s", "0")
        assert_eq(consumers(c)[b"busy"][b"stale"], 0)
        srv.restart()
        c = srv.conn()
        assert_eq(as_dict(c.call("XINFO", "GROUPS", "s")[0])[b"consumer-max-idle"], 300)
        assert_eq(list(consumers(c)), [b"busy"])
        assert_eq(c.call("XGROUP", "SETCONSUMERIDLE", "s", "g", "OFF"), "OK")
        assert_eq(len(as_dict(c.call("XINFO", "GROUPS", "s")[0])), 6)
        assert_error(c.call("XGROUP", "SETCONSUMERIDLE", "s", "g", "0"),
                     "ERR the idle time must be positive (or OFF)")
        assert_error(c.call("XGROUP", "SETCONSUMERIDLE", "s", "g", "x"),
                     "ERR value is not an integer or out of range")
        assert_error(c.call("XGROUP", "SETCONSUMERIDLE", "s", "nog", "5"), "NOGROUP")


def forgotten_group_scenario(c):
    """Two groups; `forgotten` never reads; `worker` reads and acks everything. Returns what an
    XTRIM MAXLEN 0 ACKED removes after the forgotten group has been idle a while."""
    c.call("FLUSHALL")
    for i in range(1, 4):
        c.call("XADD", "s", f"{i}-0", "f", str(i))
    c.call("XGROUP", "CREATE", "s", "forgotten", "0")
    c.call("XGROUP", "CREATE", "s", "worker", "0")
    assert_eq(c.call("XTRIM", "s", "MAXLEN", "0", "ACKED"), 0)
    time.sleep(0.5)  # lets `forgotten` age past the 200 ms limit (not a timing assertion)
    c.call("XREADGROUP", "GROUP", "worker", "w", "STREAMS", "s", ">")
    c.call("XACK", "s", "worker", "1-0", "2-0", "3-0")
    return c.call("XTRIM", "s", "MAXLEN", "0", "ACKED")


@test
def inactive_groups_stop_holding_back_acked_trims_only_when_configured():
    c = shared_server().conn()
    assert_eq(c.call("CONFIG", "GET", "stream-group-inactive-ms"),
              [b"stream-group-inactive-ms", b"0"])
    assert_eq(forgotten_group_scenario(c), 0)
    assert_eq(c.call("CONFIG", "SET", "stream-group-inactive-ms", "200"), "OK")
    try:
        assert_eq(forgotten_group_scenario(c), 3)
        assert_eq(c.call("XLEN", "s"), 0)
    finally:
        c.call("CONFIG", "SET", "stream-group-inactive-ms", "0")


if __name__ == "__main__":
    main()
