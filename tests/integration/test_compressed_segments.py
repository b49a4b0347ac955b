"""Compressed sealed segments against the real server: sealed segment files are replaced by zstd
block files (stream-segment-compression zstd, the default) and XRANGE/XREVRANGE/XREAD over that
history return exactly what was written; restarts (clean and kill -9) recover them; a byte flipped
inside one compressed block under `recovery-on-corruption quarantine` loses only that block's
entries, moved aside, while every other entry is served; XTRIM MAXLEN/MINID and
stream-retention-bytes drop compressed segments as raw ones; and `none` keeps new segments raw.
"""

import glob
import os

from sluice_harness import (Server, ServerError, assert_eq, assert_error, assert_true, main,
                            test, wait_until)

MAGIC = b"SLUICE-SEGMENT-Z"
SEGMENT = "256kb"  # several 64 KiB blocks per segment
ENTRIES = 9000


def segments(srv):
    return sorted(glob.glob(os.path.join(srv.dir, "streams", "*", "log", "*.log")))


def is_compressed(path):
    with open(path, "rb") as f:
        return f.read(16) == MAGIC


def sealed_compressed(srv):
    """Waits until every segment but the active one is compressed; returns them."""
    def done():
        segs = segments(srv)
        return len(segs) > 1 and all(is_compressed(p) for p in segs[:-1])
    wait_until(done, timeout=30, msg="sealed segments compressed")
    return segments(srv)[:-1]


def value(i):
    return f"order-{i:07d} customer-{i % 97:03d} amount={i * 37 % 10000}.{i % 100:02d} " * 2


def fill(srv, n=ENTRIES, key="s"):
    c = srv.conn()
    for i in range(0, n, 500):
        c.pipeline(*[("XADD", key, f"{j + 1}-0", "field", value(j + 1), "n", str(j))
                     for j in range(i, min(i + 500, n))])
    # A sync makes the last rolled segments durable, so they seal and get compressed.
    return c


def ids_of(reply):
    return [int(e[0].decode().split("-")[0]) for e in reply]


def check_all(c, expected, key="s"):
    got = c.call("XRANGE", key, "-", "+")
    assert_eq(ids_of(got), expected, "XRANGE ids")
    for e in got[:: max(1, len(got) // 50)]:
        i = int(e[0].decode().split("-")[0])
        assert_eq([x.decode() for x in e[1]], ["field", value(i), "n", str(i - 1)], "fields")
    assert_eq(ids_of(c.call("XREVRANGE", key, "+", "-")), expected[::-1], "XREVRANGE")
    # Paged, as a replaying consumer reads.
    paged, start = [], "-"
    while True:
        page = c.call("XRANGE", key, start, "+", "COUNT", 333)
        if not page:
            break
        paged += ids_of(page)
        last = page[-1][0].decode().split("-")
        start = f"{last[0]}-{int(last[1]) + 1}"
    assert_eq(paged, expected, "paged XRANGE")
    assert_eq(c.call("XLEN", key), len(expected))


def block_offsets(path):
    """File offsets of the blocks of a compressed segment (walking their headers)."""
    data = open(path, "rb").read()
    out, pos = [], 32
    while data[pos:pos + 4] == b"SLZB":
        out.append(pos)
        clen = int.from_bytes(data[pos + 8:pos + 12], "little")
        pos += 32 + ((clen + 7) & ~7)
    return out


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x20]))


def info(c, section):
    text = c.call("INFO", section).decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


@test(timeout=180)
def xrange_over_compressed_history_equals_what_was_written():
    with Server("--stream-segment-bytes", SEGMENT, "--appendfsync", "always") as srv:
        c = fill(srv)
        assert_eq(srv.conn().call("CONFIG", "GET", "stream-segment-compression"),
                  [b"stream-segment-compression", b"zstd"])
        sealed = sealed_compressed(srv)
        assert_true(len(sealed) >= 3, f"several sealed segments ({len(sealed)})")
        # Each compressed file is much smaller than the segment size it was sealed at.
        for p in sealed:
            assert_true(os.path.getsize(p) < 256 * 1024 // 2, f"{p}: {os.path.getsize(p)} bytes")
        expected = list(range(1, ENTRIES + 1))
        check_all(c, expected)
        got = c.call("XREAD", "COUNT", 100, "STREAMS", "s", "4000-0")
        assert_eq(ids_of(got[0][1]), list(range(4001, 4101)), "XREAD from the middle")
        srv.restart()
        check_all(srv.conn(), expected)
        srv.kill9()
        srv.start()
        check_all(srv.conn(), expected)
        assert_true(all(is_compressed(p) for p in sealed), "still compressed after restarts")


@test(timeout=180)
def a_flipped_byte_in_a_compressed_block_loses_only_that_block():
    with Server("--stream-segment-bytes", SEGMENT, "--recovery-on-corruption", "quarantine",
                "--appendfsync", "always") as srv:
        fill(srv)
        victim = sealed_compressed(srv)[1]
        srv.stop()
        blocks = block_offsets(victim)
        assert_true(len(blocks) >= 3, f"several blocks ({len(blocks)})")
        flip(victim, blocks[1] + 32 + 100)
        srv.start()
        c = srv.conn()
        got = ids_of(c.call("XRANGE", "s", "-", "+"))
        lost = sorted(set(range(1, ENTRIES + 1)) - set(got))
        assert_true(0 < len(lost) < 1000, f"one block's entries lost ({len(lost)})")
        assert_eq(lost, list(range(lost[0], lost[-1] + 1)), "the lost entries are consecutive")
        assert_eq(got, [i for i in range(1, ENTRIES + 1) if i not in set(lost)])
        assert_eq(len(glob.glob(victim + ".corrupt-*")), 1, "the block's bytes are kept aside")
        assert_eq(info(c, "persistence")["storage_corrupt_ranges"], "1")
        # The next start repairs the file (the damaged block left out) and serves the same.
        srv.restart()
        check_all(srv.conn(), got)
        # Under refuse, damage found at start stops the server and changes nothing.
        victim2 = sealed_compressed(srv)[2]
        srv.stop()
        flip(victim2, block_offsets(victim2)[0] + 40)
        os.unlink(victim2[:-4] + ".idx")
        before = open(victim2, "rb").read()
        try:
            srv.restart("--stream-segment-bytes", SEGMENT, "--recovery-on-corruption", "refuse")
            raise AssertionError("started on a corrupt compressed segment under refuse")
        except ServerError:
            pass
        assert_eq(open(victim2, "rb").read(), before, "refuse changes nothing")
        srv.restart("--stream-segment-bytes", SEGMENT, "--recovery-on-corruption", "quarantine",
                    stop=False)
        got2 = ids_of(srv.conn().call("XRANGE", "s", "-", "+"))
        lost2 = sorted(set(got) - set(got2))
        assert_true(0 < len(lost2) < 1000, f"one more block lost ({len(lost2)})")
        assert_eq(lost2, list(range(lost2[0], lost2[-1] + 1)))


@test(timeout=180)
def a_torn_compressed_file_keeps_its_intact_blocks():
    with Server("--stream-segment-bytes", SEGMENT, "--recovery-on-corruption", "quarantine",
                "--appendfsync", "always") as srv:
        fill(srv)
        victim = sealed_compressed(srv)[0]
        srv.stop()
        os.truncate(victim, os.path.getsize(victim) // 2)
        srv.start()
        got = ids_of(srv.conn().call("XRANGE", "s", "-", "+"))
        lost = sorted(set(range(1, ENTRIES + 1)) - set(got))
        assert_true(len(lost) > 0 and lost[0] > 1, "the file's first blocks are kept")
        assert_eq(lost, list(range(lost[0], lost[-1] + 1)), "only the cut tail of it is lost")
        srv.restart()
        check_all(srv.conn(), got)


@test(timeout=180)
def trims_and_retention_drop_compressed_segments():
    with Server("--stream-segment-bytes", SEGMENT, "--appendfsync", "always") as srv:
        c = fill(srv)
        before = len(sealed_compressed(srv))
        assert_eq(c.call("XTRIM", "s", "MAXLEN", "=", 5000), ENTRIES - 5000)
        check_all(c, list(range(ENTRIES - 4999, ENTRIES + 1)))
        assert_eq(c.call("XTRIM", "s", "MINID", "6000-0"), 1999)
        expected = list(range(6000, ENTRIES + 1))
        check_all(c, expected)
        wait_until(lambda: len(segments(srv)) - 1 < before, timeout=30,
                   msg="whole compressed segments behind the start are deleted")
        srv.restart()
        check_all(srv.conn(), expected)
        # Retention by size drops the oldest (compressed) segments in the background.
        c = srv.conn()
        compressed_before = len([p for p in segments(srv) if is_compressed(p)])
        fill(srv, key="r")
        wait_until(lambda: len([p for p in segments(srv) if is_compressed(p)]) >=
                   compressed_before + 3, timeout=30, msg="the new stream's segments compressed")
        assert_eq(c.call("CONFIG", "SET", "stream-retention-bytes", "300kb"), "OK")

        def dropped():
            first = c.call("XRANGE", "r", "-", "+", "COUNT", 1)
            return first and int(first[0][0].decode().split("-")[0]) > 1
        wait_until(dropped, timeout=30, msg="retention dropped old segments")
        first = int(c.call("XRANGE", "r", "-", "+", "COUNT", 1)[0][0].decode().split("-")[0])
        check_all(c, list(range(first, ENTRIES + 1)), key="r")


@test(timeout=120)
def compression_none_keeps_new_segments_raw_and_old_ones_readable():
    with Server("--stream-segment-bytes", SEGMENT, "--appendfsync", "always") as srv:
        fill(srv)
        sealed_compressed(srv)
        c = srv.conn()
        assert_error(c.call("CONFIG", "SET", "stream-segment-compression", "lz5"), "ERR")
        assert_error(c.call("CONFIG", "SET", "stream-segment-compression-level", "25"), "ERR")
        assert_eq(c.call("CONFIG", "SET", "stream-segment-compression-level", "9"), "OK")
        srv.restart("--stream-segment-bytes", SEGMENT, "--appendfsync", "always",
                    "--stream-segment-compression", "none")
        c = srv.conn()
        fill(srv, key="raw")
        c.call("XADD", "raw", "*", "f", "v")
        raw_dir_segments = [p for p in segments(srv) if not is_compressed(p)]
        assert_true(len(raw_dir_segments) >= 3, "new sealed segments stay raw")
        check_all(c, list(range(1, ENTRIES + 1)))  # the compressed ones still read


if __name__ == "__main__":
    main()
