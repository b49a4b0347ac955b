"""Approximate trimming (XADD/XTRIM MAXLEN ~ and MINID ~) drops whole stream nodes, and a node
ends where Redis ends it: at stream-node-max-entries entries or when its listpack bytes plus the
next entry's field and value bytes reach stream-node-max-bytes (broker/stream/stream_node.h).
Each case runs the same XADDs and trims on redis-server 7.0 and on Sluice, with the same
config, and compares XLEN after every trim and the entries left."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sluice_harness import *  # noqa: E402,F401,F403

_pair = None


def servers():
    """(redis, sluice) connections, the servers started once for the file."""
    global _pair
    if _pair is None or not all(s.alive for s in _pair):
        _pair = (Server(redis=True), shared_server())
    return [s.conn() for s in _pair]


def value(kind, i, size):
    if kind == "text":
        return "v" * size
    if kind == "number":  # stored as an integer in a listpack
        return str(10 ** (size - 1) + i)
    return ("%0" + str(size) + "d") % i  # leading zeros: a string


def run_case(entries, max_bytes, n, size, trims, kind="text", nfields=1, fields_vary=False,
             deletes=(), config_between=None):
    """XLEN after each trim, and the IDs left, on both servers; asserts they agree."""
    results = []
    for c in servers():
        c.call("FLUSHALL")
        c.call("CONFIG", "SET", "stream-node-max-entries", str(entries))
        c.call("CONFIG", "SET", "stream-node-max-bytes", str(max_bytes))
        for i in range(1, n + 1):
            args = []
            for j in range(nfields):
                name = f"f{j}{i % 3}" if fields_vary and j == 0 else f"f{j}"
                args += [name, value(kind, i, size)]
            assert_eq(c.call("XADD", "s", f"{i}-{i % 2}", *args), f"{i}-{i % 2}".encode())
            if config_between and i == config_between[0]:
                c.call("CONFIG", "SET", *config_between[1:])
        for d in deletes:
            c.call("XDEL", "s", d)
        lengths = []
        for t in trims:
            reply = c.call(*t)
            lengths.append((reply, c.call("XLEN", "s")))
        first = c.call("XRANGE", "s", "-", "+", "COUNT", "1")
        results.append((lengths, first[0][0] if first else None))
    assert_eq(results[1], results[0], f"sluice vs redis: {results}")
    return results[0]


@test
def default_config_small_and_large_values():
    # 100 entries per node with small values; 4096-byte nodes with 100-byte values (~36 a node).
    run_case(100, 4096, 1000, 10, [("XTRIM", "s", "MAXLEN", "~", "500")])
    lengths, _ = run_case(100, 4096, 1000, 100, [("XTRIM", "s", "MAXLEN", "~", "500")])
    assert_true(lengths[0][1] > 500, lengths)  # the byte limit made the nodes smaller


@test
def node_max_bytes_zero_and_entries_zero():
    run_case(100, 0, 1000, 100, [("XTRIM", "s", "MAXLEN", "~", "500")])
    run_case(0, 4096, 1000, 100, [("XTRIM", "s", "MAXLEN", "~", "500")])
    # Neither limit: one node, and `~` removes nothing.
    run_case(0, 0, 300, 10, [("XTRIM", "s", "MAXLEN", "~", "10")])


@test
def small_nodes_many_sizes():
    for max_bytes in (100, 256, 512, 1000, 2048):
        for size in (1, 20, 63, 64, 200):
            run_case(100, max_bytes, 400, size, [("XTRIM", "s", "MAXLEN", "~", "150"),
                                                  ("XTRIM", "s", "MAXLEN", "~", "40")])


@test
def integer_values_and_string_values_of_digits():
    for kind in ("number", "digits"):
        for size in (2, 4, 7, 12, 19):
            run_case(100, 512, 600, size, [("XTRIM", "s", "MAXLEN", "~", "250")], kind=kind)


@test
def several_fields_and_fields_that_differ_from_the_master_entry():
    run_case(50, 1024, 500, 15, [("XTRIM", "s", "MAXLEN", "~", "200")], nfields=3)
    run_case(50, 1024, 500, 15, [("XTRIM", "s", "MAXLEN", "~", "200")], nfields=2,
             fields_vary=True)


@test
def minid_and_limit():
    run_case(100, 700, 800, 30, [("XTRIM", "s", "MINID", "~", "300"),
                                 ("XTRIM", "s", "MINID", "~", "650")])
    # LIMIT: at most that many entries go, in whole nodes.
    run_case(100, 700, 800, 30, [("XTRIM", "s", "MAXLEN", "~", "10", "LIMIT", "30"),
                                 ("XTRIM", "s", "MAXLEN", "~", "10", "LIMIT", "100")])
    # The default LIMIT is 100 * stream-node-max-entries (10000 when that is 0).
    run_case(2, 0, 600, 5, [("XTRIM", "s", "MAXLEN", "~", "0")])
    run_case(0, 256, 12000, 1, [("XTRIM", "s", "MAXLEN", "~", "0")])


@test
def xadd_trims_as_it_adds():
    for c in servers():
        c.call("FLUSHALL")
        c.call("CONFIG", "SET", "stream-node-max-entries", "100")
        c.call("CONFIG", "SET", "stream-node-max-bytes", "600")
    lengths = [[], []]
    for i in range(1, 500):
        for k, c in enumerate(servers()):
            c.call("XADD", "s", "MAXLEN", "~", "120", f"{i}-0", "field", "x" * (i % 40))
            lengths[k].append(c.call("XLEN", "s"))
    assert_eq(lengths[1], lengths[0])


@test
def deletions_and_a_config_change_midway():
    run_case(20, 1024, 300, 12, [("XTRIM", "s", "MAXLEN", "~", "100")],
             deletes=("5-1", "6-0", "150-0", "299-1"))
    run_case(100, 4096, 400, 50, [("XTRIM", "s", "MAXLEN", "~", "100")],
             config_between=(200, "stream-node-max-bytes", "512"))


@test(timeout=60)
def node_boundaries_survive_a_restart():
    """Appends after a restart continue the tail node Redis would continue."""
    with Server("--stream-node-max-bytes", "700") as srv:
        ref = Server("--stream-node-max-bytes", "700", redis=True)
        with ref:
            for k, c in enumerate((ref.conn(), srv.conn())):
                for i in range(1, 130):
                    c.call("XADD", "s", f"{i}-0", "f", "y" * 25)
            srv.restart()
            out = []
            for c in (ref.conn(), srv.conn()):
                for i in range(130, 300):
                    c.call("XADD", "s", f"{i}-0", "f", "y" * 25)
                out.append((c.call("XTRIM", "s", "MAXLEN", "~", "100"), c.call("XLEN", "s")))
            assert_eq(out[1], out[0])


if __name__ == "__main__":
    main()
