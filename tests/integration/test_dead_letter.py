"""Dead-letter streams (XGROUP SETDLQ, a Sluice extension): a worker pool where 1% of the
messages always fail, every poison message landing in the dead-letter stream exactly once with
its metadata and the group's PEL empty at the end; the settings and counts in XINFO GROUPS, INFO
and /metrics, surviving a restart; XNACK FATAL; the delivery paths (XREADGROUP history and CLAIM,
XCLAIM, XAUTOCLAIM); the errors; groups without the setting unchanged."""

import sys
import threading
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sluice_harness import *  # noqa: E402,F401,F403
from sluice_harness import free_port  # noqa: E402

METRICS_PORT = free_port()


def fresh(protocol=2):
    c = shared_server().conn(protocol)
    c.call("FLUSHALL")
    return c


def as_dict(flat):
    if isinstance(flat, dict):
        return flat
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


def dead_letters(c, key):
    """[(dlq id, {field: value})] of the dead-letter stream."""
    return [(e[0], as_dict(e[1])) for e in c.call("XRANGE", key, "-", "+")]


def group_info(c, key, group):
    for g in c.call("XINFO", "GROUPS", key):
        g = as_dict(g)
        if g[b"name"] == group.encode():
            return g
    raise AssertionError(f"no group {group}")


def scrape():
    with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=10) as r:
        return r.read().decode()


def metric(text, name, group):
    for line in text.splitlines():
        if line.startswith(name + "{") and f'group="{group}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def info_streams(c):
    text = c.call("INFO", "streams")
    text = text.decode() if isinstance(text, bytes) else str(text)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


# ---- the worker pool -------------------------------------------------------------------------

N_MESSAGES = 400
MAX_DELIVERIES = 3
MIN_IDLE_MS = 300


def worker(srv, name, use_readgroup_claim, stop, stats, lock):
    """Reads new entries and takes over idle ones; poison entries are never acknowledged."""
    r = srv.client()
    while not stop.is_set():
        batch = []
        if use_readgroup_claim:
            reply = r.execute_command("XREADGROUP", "GROUP", "workers", name, "COUNT", "20",
                                      "BLOCK", "50", "CLAIM", str(MIN_IDLE_MS),
                                      "STREAMS", "jobs", ">")
            for _key, entries in reply or []:
                batch += [(e[0], e[1]) for e in entries]
        else:
            reply = r.xreadgroup("workers", name, {"jobs": ">"}, count=20, block=50)
            for _key, entries in reply or []:
                batch += entries
            claimed = r.xautoclaim("jobs", "workers", name, MIN_IDLE_MS, "0-0", count=20)
            batch += [e for e in claimed[1] if e[1] is not None]
        for entry_id, fields in batch:
            fields = dict(zip(fields[::2], fields[1::2])) if isinstance(fields, list) else fields
            if fields.get(b"poison") == b"1":
                with lock:
                    stats["failed"] += 1
                continue
            acked = r.xack("jobs", "workers", entry_id)
            with lock:
                stats["acked"] += acked


@test(timeout=240)
def worker_pool_dead_letters_each_poison_message_once():
    with Server("--appendfsync", "always", "--metrics-port", METRICS_PORT) as srv:
        c = srv.conn()
        assert_eq(c.call("XGROUP", "CREATE", "jobs", "workers", "0", "MKSTREAM"), "OK")
        assert_eq(c.call("XGROUP", "SETDLQ", "jobs", "workers", "MAXDELIVERIES",
                         str(MAX_DELIVERIES), "STREAM", "jobs:dead"), "OK")
        poison = set()
        for i in range(N_MESSAGES):
            bad = i % 100 == 37
            entry_id = c.call("XADD", "jobs", "*", "n", str(i), "poison", "1" if bad else "0")
            if bad:
                poison.add(entry_id)
        assert_eq(len(poison), N_MESSAGES // 100)

        stop = threading.Event()
        lock = threading.Lock()
        stats = {"acked": 0, "failed": 0}
        threads = [threading.Thread(target=worker, args=(srv, f"w{k}", k % 2 == 1, stop, stats,
                                                         lock)) for k in range(4)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: c.call("XLEN", "jobs:dead") == len(poison)
                       and c.call("XPENDING", "jobs", "workers")[0] == 0,
                       timeout=180, msg="poison messages dead-lettered and PEL empty")
        finally:
            stop.set()
            for t in threads:
                t.join()

        assert_eq(stats["acked"], N_MESSAGES - len(poison))
        # Each poison message was handed out exactly MAX_DELIVERIES times, never once more.
        assert_eq(stats["failed"], len(poison) * MAX_DELIVERIES)
        assert_eq(c.call("XPENDING", "jobs", "workers"), [0, None, None, None])
        letters = dead_letters(c, "jobs:dead")
        assert_eq(sorted(f[b"id"] for _, f in letters), sorted(poison))
        for _, f in letters:
            assert_eq(f[b"stream"], b"jobs")
            assert_eq(f[b"group"], b"workers")
            assert_true(f[b"consumer"] in {b"w0", b"w1", b"w2", b"w3"}, f[b"consumer"])
            assert_eq(f[b"deliveries"], str(MAX_DELIVERIES).encode())
            assert_eq(f[b"reason"], b"max-deliveries")
            assert_eq(f[b"poison"], b"1")
            original = c.call("XRANGE", "jobs", f[b"id"], f[b"id"])
            assert_eq(as_dict(original[0][1])[b"n"], f[b"n"])

        g = group_info(c, "jobs", "workers")
        assert_eq((g[b"max-deliveries"], g[b"dead-letter-stream"], g[b"dead-letters"], g[b"pending"]),
                  (MAX_DELIVERIES, b"jobs:dead", len(poison), 0))
        info = info_streams(c)
        assert_eq(info["stream_dead_letters"], str(len(poison)))
        assert_eq(info["stream_dlq0"], f"db=0,stream=jobs,group=workers,dead_letter_stream="
                                       f"jobs:dead,max_deliveries={MAX_DELIVERIES},"
                                       f"dead_letters={len(poison)}")
        assert_eq(metric(scrape(), "sluice_group_dead_letters_total", "workers"), len(poison))

        # A restart keeps the setting, the count and the dead letters.
        srv.restart()
        c = srv.conn()
        g = group_info(c, "jobs", "workers")
        assert_eq((g[b"max-deliveries"], g[b"dead-letter-stream"], g[b"dead-letters"], g[b"pending"]),
                  (MAX_DELIVERIES, b"jobs:dead", len(poison), 0))
        assert_eq(dead_letters(c, "jobs:dead"), letters)
        assert_eq(metric(scrape(), "sluice_group_dead_letters_total", "workers"), len(poison))

        # XNACK FATAL dead-letters at once, after the restart too.
        fatal = c.call("XADD", "jobs", "*", "n", "fatal")
        c.call("XREADGROUP", "GROUP", "workers", "w9", "STREAMS", "jobs", ">")
        assert_eq(c.call("XNACK", "jobs", "workers", "FATAL", "IDS", "1", fatal), 1)
        assert_eq(c.call("XPENDING", "jobs", "workers")[0], 0)
        _, f = dead_letters(c, "jobs:dead")[-1]
        assert_eq((f[b"id"], f[b"consumer"], f[b"deliveries"], f[b"reason"], f[b"n"]),
                  (fatal, b"w9", b"1", b"fatal", b"fatal"))
        assert_eq(group_info(c, "jobs", "workers")[b"dead-letters"], len(poison) + 1)
        srv.kill9()
        srv.start()
        c = srv.conn()
        assert_eq(group_info(c, "jobs", "workers")[b"dead-letters"], len(poison) + 1)
        assert_eq(len(dead_letters(c, "jobs:dead")), len(poison) + 1)


# ---- the delivery paths ----------------------------------------------------------------------

def setup(c, max_deliveries=2, entries=2):
    for i in range(1, entries + 1):
        c.call("XADD", "s", f"{i}-0", "f", str(i))
    c.call("XGROUP", "CREATE", "s", "g", "0")
    assert_eq(c.call("XGROUP", "SETDLQ", "s", "g", "MAXDELIVERIES", str(max_deliveries),
                     "STREAM", "dlq"), "OK")


def plain(reply):
    if isinstance(reply, dict):
        return [[k, v] for k, v in reply.items()]
    return reply


@test_both
def history_rereads_dead_letter_past_the_limit(protocol):
    c = fresh(protocol)
    setup(c)
    c.call("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">")
    first = plain(c.call("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", "0"))
    assert_eq([e[0] for e in first[0][1]], [b"1-0", b"2-0"])
    # The third delivery of both is refused: both go to the dead-letter stream.
    third = plain(c.call("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", "0"))
    assert_eq(third, [[b"s", []]])
    letters = dead_letters(c, "dlq")
    assert_eq([f[b"id"] for _, f in letters], [b"1-0", b"2-0"])
    assert_eq(letters[0][1], {b"stream": b"s", b"id": b"1-0", b"group": b"g", b"consumer": b"c1",
                              b"deliveries": b"2", b"reason": b"max-deliveries", b"f": b"1"})
    assert_eq(c.call("XPENDING", "s", "g")[0], 0)
    assert_eq(c.call("XLEN", "s"), 2)


@test_both
def xclaim_and_xautoclaim_dead_letter_past_the_limit(protocol):
    c = fresh(protocol)
    setup(c, max_deliveries=1)
    c.call("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">")
    # JUSTID and RETRYCOUNT are no deliveries: the entry stays.
    assert_eq(c.call("XCLAIM", "s", "g", "c2", "0", "1-0", "JUSTID"), [b"1-0"])
    assert_eq(len(c.call("XCLAIM", "s", "g", "c2", "0", "1-0", "RETRYCOUNT", "1")), 1)
    assert_eq(c.call("XCLAIM", "s", "g", "c2", "0", "1-0"), [])
    reply = c.call("XAUTOCLAIM", "s", "g", "c3", "0", "0")
    assert_eq((reply[0], reply[1]), (b"0-0", []))
    assert_eq([(f[b"id"], f[b"consumer"]) for _, f in dead_letters(c, "dlq")],
              [(b"1-0", b"c2"), (b"2-0", b"c1")])
    assert_eq(c.call("XPENDING", "s", "g")[0], 0)


@test_both
def readgroup_claim_dead_letters_past_the_limit(protocol):
    c = fresh(protocol)
    setup(c, max_deliveries=1, entries=1)
    c.call("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">")
    c.call("XADD", "s", "3-0", "f", "3")
    reply = plain(c.call("XREADGROUP", "GROUP", "g", "c2", "CLAIM", "0", "STREAMS", "s", ">"))
    assert_eq([e[0] for e in reply[0][1]], [b"3-0"])
    assert_eq([f[b"id"] for _, f in dead_letters(c, "dlq")], [b"1-0"])


@test_both
def xnack_fatal_dead_letters_pending_and_forced_entries(protocol):
    c = fresh(protocol)
    setup(c, max_deliveries=5, entries=3)
    c.call("XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "s", ">")
    # 1-0 is pending, 2-0 is not (FORCE takes it), 9-0 does not exist.
    assert_eq(c.call("XNACK", "s", "g", "FATAL", "IDS", "3", "1-0", "2-0", "9-0", "FORCE"), 2)
    assert_eq([(f[b"id"], f[b"consumer"], f[b"deliveries"], f[b"reason"])
               for _, f in dead_letters(c, "dlq")],
              [(b"1-0", b"c1", b"1", b"fatal"), (b"2-0", b"", b"0", b"fatal")])
    assert_eq(c.call("XPENDING", "s", "g")[0], 0)
    # FAIL is no dead-lettering (2-0 and 3-0 are new to the group's cursor: delivered again).
    c.call("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">")
    assert_eq(c.call("XNACK", "s", "g", "FAIL", "IDS", "2", "2-0", "3-0"), 2)
    assert_eq(c.call("XPENDING", "s", "g")[0], 2)
    assert_eq(c.call("XLEN", "dlq"), 2)


@test_both
def setdlq_off_and_groups_without_it_behave_as_redis(protocol):
    c = fresh(protocol)
    setup(c, max_deliveries=1)
    g = group_info(c, "s", "g")
    assert_eq(len(g), 9)
    assert_eq(c.call("XGROUP", "SETDLQ", "s", "g", "off"), "OK")
    g = group_info(c, "s", "g")
    assert_eq(list(g), [b"name", b"consumers", b"pending", b"last-delivered-id", b"entries-read",
                        b"lag"])
    c.call("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">")
    for _ in range(3):
        assert_eq(len(c.call("XCLAIM", "s", "g", "c2", "0", "1-0")), 1)
    assert_eq(c.call("XPENDING", "s", "g", "-", "+", "1")[0][3], 4)
    assert_eq(c.call("XNACK", "s", "g", "FATAL", "IDS", "1", "1-0"), 1)
    assert_eq(c.call("EXISTS", "dlq"), 0)


@test_both
def setdlq_errors(protocol):
    c = fresh(protocol)
    setup(c)
    c.call("SET", "str", "x")
    assert_error(c.call("XGROUP", "SETDLQ", "s", "g", "MAXDELIVERIES", "3"), "ERR syntax error")
    assert_error(c.call("XGROUP", "SETDLQ", "s", "g", "MAXDELIVERIES", "3", "STREAM"),
                 "ERR syntax error")
    assert_error(c.call("XGROUP", "SETDLQ", "s", "g", "MAXDELIVERIES", "x", "STREAM", "d"),
                 "ERR value is not an integer or out of range")
    assert_error(c.call("XGROUP", "SETDLQ", "s", "g", "MAXDELIVERIES", "0", "STREAM", "d"),
                 "ERR MAXDELIVERIES must be positive")
    assert_error(c.call("XGROUP", "SETDLQ", "s", "g", "MAXDELIVERIES", "1", "STREAM", "s"),
                 "ERR the dead-letter stream must be another key than the stream")
    assert_error(c.call("XGROUP", "SETDLQ", "s", "g", "MAXDELIVERIES", "1", "STREAM", "str"),
                 "WRONGTYPE")
    assert_error(c.call("XGROUP", "SETDLQ", "s", "nog", "OFF"),
                 "NOGROUP No such consumer group 'nog' for key name 's'")
    assert_error(c.call("XGROUP", "SETDLQ", "nokey", "g", "OFF"),
                 "ERR The XGROUP subcommand requires the key to exist")
    assert_error(c.call("XGROUP", "SETDLQ", "s", "g"),
                 "ERR wrong number of arguments for 'xgroup|setdlq' command")
    assert_error(c.call("XGROUP", "SETDLQ", "str", "g", "OFF"), "WRONGTYPE")
    # The settings are unchanged by the failed calls.
    g = group_info(c, "s", "g")
    assert_eq((g[b"max-deliveries"], g[b"dead-letter-stream"]), (2, b"dlq"))
    assert_eq(c.call("PING"), "PONG")


@test
def dlq_key_turned_into_another_type_keeps_entries_pending():
    c = fresh()
    setup(c, max_deliveries=1)
    c.call("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">")
    c.call("SET", "dlq", "x")
    assert_eq(len(c.call("XCLAIM", "s", "g", "c2", "0", "1-0")), 1)
    assert_eq(c.call("XPENDING", "s", "g")[0], 2)
    assert_eq(group_info(c, "s", "g")[b"dead-letters"], 0)


@test(timeout=240)
def settings_and_counts_survive_a_group_snapshot():
    """Enough group records (big names) to make the group journal write a snapshot (over 4 MB);
    the dead-letter and idle settings and the count come back from it."""
    with Server() as srv:
        c = srv.conn()
        group = "g" * 2000
        c.call("XADD", "s", "1-0", "f", "v")
        c.call("XGROUP", "CREATE", "s", group, "0")
        c.call("XGROUP", "SETDLQ", "s", group, "MAXDELIVERIES", "1", "STREAM", "dlq")
        c.call("XREADGROUP", "GROUP", group, "c1", "STREAMS", "s", ">")
        assert_eq(c.call("XCLAIM", "s", group, "c2", "0", "1-0"), [])
        r = srv.client()
        pipe = r.pipeline(transaction=False)
        for i in range(2500):
            pipe.execute_command("XGROUP", "SETCONSUMERIDLE", "s", group, str(100000 + i))
        assert_true(all(x in (b"OK", "OK", True) for x in pipe.execute()))
        c.call("XGROUP", "SETDLQ", "s", group, "MAXDELIVERIES", "7", "STREAM", "dlq2")
        srv.stop()
        snaps = [p for p in srv.dir.rglob("groups.snap") if p.stat().st_size > 2000]
        assert_eq(len(snaps), 1, "a group snapshot was written")
        srv.start()
        c = srv.conn()
        g = as_dict(c.call("XINFO", "GROUPS", "s")[0])
        assert_eq((g[b"max-deliveries"], g[b"dead-letter-stream"], g[b"dead-letters"],
                   g[b"consumer-max-idle"], g[b"pending"]), (7, b"dlq2", 1, 102499, 0))


if __name__ == "__main__":
    main()
