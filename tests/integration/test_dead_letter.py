"""Dead-letter streams (XGROUP SETDLQ, a Sluice extension): a worker pool where 1% of the
messages always fail, every poison message landing in the dead-letter stream exactly once with
its metadata and the group's PEL empty at the end; the settings and counts in XINFO GROUPS, INFO
and /metrics, surviving a restart; XNACK FATAL; the delivery paths (XREADGROUP history and CLAIM,
XCLAIM, XAUTOCLAIM); the errors; groups without the setting unchanged."""

import random
import shutil
import sys
import threading
import time
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


# ---- crash atomicity -------------------------------------------------------------------------

def stream_dir(srv, key):
    """The directory of stream `key` (streams/<n>/ with a meta file ending in the key)."""
    for meta in (srv.dir / "streams").glob("*/meta"):
        if meta.read_bytes().endswith(b"\n" + key.encode()):
            return meta.parent
    return None


def frames(path):
    """[(offset, end, type)] of a journal's frames (16-byte file header; frame: crc 4, payload
    length 4, type 1, version 1, reserved 6, payload padded to 8)."""
    data = path.read_bytes()
    out, off = [], 16
    while off + 16 <= len(data):
        length = int.from_bytes(data[off + 4:off + 8], "little")
        end = off + 16 + (length + 7) // 8 * 8
        out.append((off, end, data[off + 8]))
        off = end
    return out


def first_dead_letter_record(srv):
    """(journal path, offset, end) of the first dead-letter record of stream s's group journal
    (later ones are the confirmations journaled once the DLQ append was synced)."""
    journal = stream_dir(srv, "s") / "groups.journal"
    found = [(off, end) for off, end, kind in frames(journal) if kind == DEAD_LETTER_RECORD]
    assert_true(len(found) >= 1, "a dead-letter record in the group journal")
    return journal, found[0][0], found[0][1]


DEAD_LETTER_RECORD = 14  # group_store.h kDeadLetterRecord


def one_dead_letter(srv):
    """Stream s (entries 1-0 poison, 2-0 fine), group g with DLQ dlq after 1 delivery; 1-0 is
    dead-lettered by an XCLAIM. Returns the DLQ entry as XRANGE gives it."""
    c = srv.conn()
    c.call("XADD", "s", "1-0", "n", "poison")
    c.call("XADD", "s", "2-0", "n", "fine")
    c.call("XGROUP", "CREATE", "s", "g", "0")
    c.call("XGROUP", "SETDLQ", "s", "g", "MAXDELIVERIES", "1", "STREAM", "dlq")
    c.call("XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "s", ">")
    assert_eq(c.call("XCLAIM", "s", "g", "c2", "0", "1-0"), [])
    letters = c.call("XRANGE", "dlq", "-", "+")
    assert_eq(len(letters), 1)
    assert_eq(c.call("XPENDING", "s", "g")[0], 0)
    return letters


def check_dead_lettered_once(srv, letters):
    c = srv.conn()
    assert_eq(c.call("XRANGE", "dlq", "-", "+"), letters)
    assert_eq(c.call("XPENDING", "s", "g")[0], 0)
    assert_eq(group_info(c, "s", "g")[b"dead-letters"], 1)
    # Another claim finds nothing to dead-letter again.
    assert_eq(c.call("XCLAIM", "s", "g", "c3", "0", "1-0"), [])
    assert_eq(c.call("XLEN", "dlq"), 1)


@test(timeout=120)
def lost_dlq_append_is_redone_from_the_group_journal():
    """The PEL removal is durable, the DLQ append is not (its log's tail, or the whole new DLQ
    stream, lost): recovery appends the entry again with the same ID and metadata."""
    for lose in ("tail", "stream"):
        with Server("--appendfsync", "always") as srv:
            letters = one_dead_letter(srv)
            srv.kill9()
            # The crash came before the sync that would have confirmed the DLQ append: the group
            # journal ends with the dead letter's record.
            journal, _, end = first_dead_letter_record(srv)
            with open(journal, "r+b") as f:
                f.truncate(end)
            d = stream_dir(srv, "dlq")
            assert_true(d is not None, "the DLQ stream has a directory")
            if lose == "tail":
                seg = max(d.rglob("*.log"))
                with open(seg, "r+b") as f:
                    f.truncate(seg.stat().st_size - 1)
            else:
                shutil.rmtree(d)
            srv.start()
            check_dead_lettered_once(srv, letters)
            assert_true("1 lost dead-letter stream entries appended again" in srv.log_text(),
                        srv.log_tail())
            # The repair is durable, and a second restart repairs nothing more.
            srv.kill9()
            srv.start()
            check_dead_lettered_once(srv, letters)
            assert_eq(srv.log_text().count("dead letters repaired after a crash"), 1)


@test(timeout=120)
def lost_pel_removal_is_finished_from_the_dlq():
    """The DLQ entry is durable, the group journal's dead-letter record is not: recovery finds
    the entry in the DLQ and takes it out of the PEL instead of dead-lettering it twice."""
    with Server("--appendfsync", "always") as srv:
        letters = one_dead_letter(srv)
        srv.kill9()
        journal, start, _ = first_dead_letter_record(srv)
        with open(journal, "r+b") as f:
            f.truncate(start)
        srv.start()
        check_dead_lettered_once(srv, letters)
        assert_true("1 dead-lettered entries removed from their group's PEL" in srv.log_text(),
                    srv.log_tail())
        srv.kill9()
        srv.start()
        check_dead_lettered_once(srv, letters)


def crash_worker(srv, name, stop, lock, seen_poison):
    """Like worker(), but lives through server crashes: any connection error, and it reconnects."""
    while not stop.is_set():
        try:
            r = srv.client(socket_timeout=5)
            while not stop.is_set():
                reply = r.xreadgroup("workers", name, {"jobs": ">"}, count=10, block=50)
                batch = [e for _k, entries in reply or [] for e in entries]
                claimed = r.xautoclaim("jobs", "workers", name, 100, "0-0", count=10)
                batch += [e for e in claimed[1] if e[1] is not None]
                for entry_id, fields in batch:
                    if fields.get(b"poison") == b"1":
                        with lock:
                            seen_poison.add(entry_id)
                        continue
                    r.xack("jobs", "workers", entry_id)
        except Exception:  # noqa: BLE001 - the server was killed: reconnect once it is back
            time.sleep(0.05)


@test(timeout=300)
def kill9_under_load_dead_letters_each_poison_message_exactly_once():
    """Workers that never acknowledge poison messages, the server SIGKILLed several times under
    appendfsync always: at the end each poison message is in the DLQ once, the PEL is empty."""
    rng = random.Random(18)
    with Server("--appendfsync", "always") as srv:
        c = srv.conn()
        c.call("XGROUP", "CREATE", "jobs", "workers", "0", "MKSTREAM")
        c.call("XGROUP", "SETDLQ", "jobs", "workers", "MAXDELIVERIES", "2", "STREAM", "jobs:dead")
        poison = set()
        for i in range(300):
            bad = i % 10 == 3
            entry_id = c.call("XADD", "jobs", "*", "n", str(i), "poison", "1" if bad else "0")
            if bad:
                poison.add(entry_id)
        lock = threading.Lock()
        seen_poison = set()
        stop = threading.Event()
        threads = [threading.Thread(target=crash_worker, args=(srv, f"w{k}", stop, lock,
                                                               seen_poison)) for k in range(3)]
        for t in threads:
            t.start()
        try:
            kills = 0
            while kills < 6:
                time.sleep(rng.uniform(0.2, 0.8))
                srv.kill9()
                kills += 1
                srv.start()
            c = srv.conn()

            def done():
                g = group_info(c, "jobs", "workers")
                ids = [f[b"id"] for _, f in dead_letters(c, "jobs:dead")]
                return g[b"pending"] == 0 and g[b"lag"] == 0 and poison <= set(ids)

            wait_until(done, timeout=200, msg="every poison message dead-lettered, PEL empty")
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert_true(len(seen_poison) > 0, "workers saw poison messages")
        ids = [f[b"id"] for _, f in dead_letters(c, "jobs:dead")]
        # Exactly once each (entries that are not poison may have been dead-lettered too, when
        # crashes kept their workers from acknowledging them twice: they are there once as well).
        assert_eq(len(ids), len(set(ids)), "no duplicates in the DLQ")
        assert_true(poison <= set(ids), "every poison message is in the DLQ")
        assert_eq(c.call("XPENDING", "jobs", "workers"), [0, None, None, None])
        assert_eq(group_info(c, "jobs", "workers")[b"dead-letters"], len(ids))
        srv.restart()
        c = srv.conn()
        assert_eq(sorted(f[b"id"] for _, f in dead_letters(c, "jobs:dead")), sorted(ids))
        assert_eq(c.call("XPENDING", "jobs", "workers")[0], 0)


if __name__ == "__main__":
    main()
