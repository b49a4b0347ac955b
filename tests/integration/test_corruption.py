"""A byte flipped in a stream's segment files, against the real server: in the middle of the
active segment (repaired at start under either recovery-on-corruption policy), in a sealed
segment (refuse: the server does not start and says which file and offset; quarantine: it
starts without the damaged record), and in a sealed segment first read long after the start.
Every intact entry is served, the damaged record's bytes are in a quarantine file next to the
segment, and INFO persistence and /metrics count what was found.
"""

import glob
import os
import struct
import urllib.request

from sluice_harness import *

ENTRIES = 3000
# These tests flip bytes in raw frames of sealed segments: they keep sealed segments raw
# (test_compressed_segments.py covers compressed ones).
RAW = ("--stream-segment-compression", "none")


def frames(path):
    """(offset, size) of every frame of a segment file."""
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos + 16 <= len(data):
        (length,) = struct.unpack_from("<I", data, pos + 4)
        size = 16 + ((length + 7) & ~7)
        out.append((pos, size))
        pos += size
    return out


def flip_in_frame(path, index):
    """Flips one bit in the payload of frame `index`; returns the frame's offset."""
    offset, _ = frames(path)[index]
    with open(path, "r+b") as f:
        f.seek(offset + 24)
        b = f.read(1)
        f.seek(offset + 24)
        f.write(bytes([b[0] ^ 0x10]))
    return offset


def segments(srv):
    return sorted(glob.glob(os.path.join(srv.dir, "streams", "*", "log", "*.log")))


def fill(srv, start_at_head=False):
    c = srv.conn()
    for i in range(0, ENTRIES, 500):
        c.pipeline(*[("XADD", "s", f"{j + 1}-0", "field", f"value-{j + 1:06d}" * 4)
                     for j in range(i, i + 500)])
    if start_at_head:
        # XDEL of the first entry journals a state record: recovery then reads no entry.
        assert_eq(c.call("XDEL", "s", "1-0"), 1)


def info(c):
    text = c.call("INFO", "persistence")
    text = text.decode() if isinstance(text, bytes) else str(text)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {line.split(" ")[0]: line.split(" ")[1] for line in text.splitlines()
            if line and not line.startswith("#")}


def check_served(c, lost, deleted=()):
    got = c.call("XRANGE", "s", "-", "+")
    ids = [int(e[0].decode().split("-")[0]) for e in got]
    expected = [i for i in range(1, ENTRIES + 1) if i != lost and i not in deleted]
    assert_eq(ids, expected, "XRANGE serves every intact entry")
    assert_eq(c.call("XLEN", "s"), len(expected))
    rev = c.call("XREVRANGE", "s", "+", "-")
    assert_eq([int(e[0].decode().split("-")[0]) for e in rev], expected[::-1], "XREVRANGE")


def first_id_of(path):
    """The entry number of a segment's first frame, from its file name (ms part)."""
    return int(os.path.basename(path).split("-")[0])


@test(timeout=120)
def a_byte_flipped_in_the_middle_of_the_active_segment_loses_only_that_entry():
    for policy in ("refuse", "quarantine"):
        port = free_port()
        with Server("--appendfsync", "always", "--recovery-on-corruption", policy,
                    "--metrics-port", port) as srv:
            fill(srv)
            srv.stop()
            active = segments(srv)[-1]
            n = len(frames(active))
            offset = flip_in_frame(active, n // 2)
            lost = first_id_of(active) + n // 2
            srv.start()
            c = srv.conn()
            check_served(c, lost)
            quarantined = glob.glob(active + ".corrupt-*")
            assert_eq(quarantined, [f"{active}.corrupt-{offset}"], f"{policy}: quarantine file")
            i = info(c)
            assert_eq(i["storage_corrupt_ranges"], "1", policy)
            assert_eq(i["storage_corrupt_records"], "1", policy)
            assert_eq(int(i["storage_quarantined_bytes"]), os.path.getsize(quarantined[0]))
            m = metrics(port)
            assert_eq(m["sluice_storage_corrupt_ranges_total"], "1", policy)
            assert_eq(m["sluice_storage_quarantine_files_total"], "1", policy)
            assert_true("corrupt data in " + active in srv.log_text(), "ERROR log names the file")
            # Appends go on, and a restart finds nothing more to repair.
            assert_eq(c.call("XADD", "s", "*", "f", "v") is not None, True)
            srv.restart()
            c = srv.conn()
            assert_eq(c.call("XLEN", "s"), ENTRIES)
            assert_eq(info(c)["storage_corrupt_ranges"], "0")


@test(timeout=120)
def a_byte_flipped_in_a_sealed_segment_refuses_to_start_or_is_moved_aside():
    with Server("--stream-segment-bytes", "16kb", *RAW) as srv:
        fill(srv)
        srv.stop()
        victim = segments(srv)[3]
        n = len(frames(victim))
        offset = flip_in_frame(victim, n // 3)
        lost = first_id_of(victim) + n // 3
        before = open(victim, "rb").read()
        try:
            srv.start()
            raise AssertionError("the server started on a corrupt sealed segment under refuse")
        except ServerError:
            pass
        log = srv.log_text()
        assert_true(f"{victim} at offset {offset}" in log, "the message names file and offset")
        assert_true("recovery-on-corruption quarantine" in log, "the message says what to do")
        assert_eq(open(victim, "rb").read(), before, "refuse changes nothing")
        assert_eq(glob.glob(victim + ".corrupt-*"), [])

        port = free_port()
        srv.restart("--stream-segment-bytes", "16kb", *RAW, "--recovery-on-corruption", "quarantine",
                    "--metrics-port", port, stop=False)
        c = srv.conn()
        check_served(c, lost)
        assert_eq(glob.glob(victim + ".corrupt-*"), [f"{victim}.corrupt-{offset}"])
        assert_eq(info(c)["storage_corrupt_ranges"], "1")
        assert_eq(metrics(port)["sluice_storage_corrupt_records_total"], "1")
        srv.restart()
        check_served(srv.conn(), lost)


@test(timeout=120)
def damage_first_read_long_after_the_start_is_skipped_and_reported():
    with Server("--stream-segment-bytes", "16kb", *RAW) as srv:
        fill(srv, start_at_head=True)
        srv.stop()
        victim = segments(srv)[2]
        offset = flip_in_frame(victim, 5)
        lost = first_id_of(victim) + 5
        srv.start()  # recovery reads none of these entries: the damage is not seen yet
        c = srv.conn()
        assert_eq(info(c)["storage_corrupt_ranges"], "0")
        check_served(c, lost, deleted={1})
        assert_eq(info(c)["storage_corrupt_ranges"], "1")
        assert_eq(glob.glob(victim + ".corrupt-*"), [f"{victim}.corrupt-{offset}"])
        assert_true(not os.path.exists(victim[:-4] + ".idx"), "its index is dropped")
        assert_true("reads skip it" in srv.log_text(), "the read logs what it skipped")
        # Under refuse the next start stops on it; under quarantine it is repaired.
        srv.stop()
        try:
            srv.start()
            raise AssertionError("the server started on a corrupt sealed segment under refuse")
        except ServerError:
            pass
        srv.restart("--stream-segment-bytes", "16kb", *RAW, "--recovery-on-corruption", "quarantine",
                    stop=False)
        check_served(srv.conn(), lost, deleted={1})


if __name__ == "__main__":
    main()
