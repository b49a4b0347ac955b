"""A disk that really fills: the data directory on a 16 MiB tmpfs, XADD, SET and XREADGROUP
from several pipelining connections until -MISCONF, under appendfsync always and everysec.
Every acknowledged write must be there (read back while failed, after a restart and after kill
-9 in the middle of a fill), no write that got an error may be visible, and once space is
freed writes resume without a restart.

Mounting a tmpfs needs root; without it each test prints why it is skipped. The number of
fill-ups per policy is SLUICE_DISK_FULL_CYCLES (default 2, to keep CI quick; the issue's
must-show is 20: SLUICE_DISK_FULL_CYCLES=20 by hand).
"""

import os
import subprocess
import tempfile

from sluice_harness import *
from resp_codec import ReplyError, encode_command

CYCLES = int(os.environ.get("SLUICE_DISK_FULL_CYCLES", "2"))
PAYLOAD = 400  # bytes of each XADD value
BALLAST = 2 << 20  # bytes freed to let writes resume


class Tmpfs:
    """A 16 MiB tmpfs mounted for one test, unmounted at exit."""

    def __init__(self, size="16m"):
        self.path = tempfile.mkdtemp(prefix="sluice-tmpfs-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", self.path],
                       check=True, capture_output=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        subprocess.run(["umount", "-l", self.path], capture_output=True)
        os.rmdir(self.path)


def can_mount():
    if os.geteuid() != 0:
        return "not running as root: cannot mount a tmpfs"
    try:
        with Tmpfs("1m"):
            return None
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"cannot mount a tmpfs: {exc}"


def is_misconf(reply):
    return isinstance(reply, ReplyError) and str(reply).startswith("MISCONF")


def payload(stream, seq):
    return (f"{stream}:{seq}:" * 40)[:PAYLOAD]


class Model:
    """What clients were told: acknowledged writes, and writes that got an error."""

    def __init__(self):
        self.entries = {}     # stream -> [seq acknowledged, in order]
        self.failed_ids = {}  # stream -> {seq that got MISCONF}
        self.keys = {}        # key -> value acknowledged
        self.failed_keys = set()
        self.delivered = {}   # stream -> {seq delivered to group g by an acknowledged XREADGROUP}
        self.next_seq = {}

    def streams_of(self, cycle):
        return [f"c{cycle}s{i}" for i in range(3)]  # one per connection: IDs stay in order


def fill(conns, model, cycle, stop_after=None):
    """Pipelines writes from every connection until each batch gets MISCONF (or stop_after
    acknowledged XADDs). Returns the number of acknowledged XADDs."""
    streams = model.streams_of(cycle)
    acked = 0
    key_no = 0
    while True:
        sent = []
        for n, c in enumerate(conns):
            cmds = []
            for j in range(60):
                s = streams[n % len(streams)]
                seq = model.next_seq.get(s, 1)
                model.next_seq[s] = seq + 1
                cmds.append(("XADD", s, f"{seq}-1", "v", payload(s, seq)))
            key_no += 1
            key = f"c{cycle}k{n}-{key_no}"
            cmds.append(("SET", key, f"value-{key}"))
            cmds.append(("XREADGROUP", "GROUP", "g", "w", "COUNT", "20", "STREAMS", streams[0],
                         ">"))
            c.send_raw(b"".join(encode_command(*cmd) for cmd in cmds))
            sent.append((c, cmds))
        misconf = False
        for c, cmds in sent:
            for cmd in cmds:
                reply = c.read(timeout=30)
                if cmd[0] == "XADD":
                    seq = int(cmd[2].split("-")[0])
                    if is_misconf(reply):
                        misconf = True
                        model.failed_ids.setdefault(cmd[1], set()).add(seq)
                    else:
                        assert_eq(reply, cmd[2].encode(), f"XADD {cmd[1]}")
                        model.entries.setdefault(cmd[1], []).append(seq)
                        acked += 1
                elif cmd[0] == "SET":
                    if is_misconf(reply):
                        misconf = True
                        model.failed_keys.add(cmd[1])
                    else:
                        assert_eq(reply, "OK", f"SET {cmd[1]}")
                        model.keys[cmd[1]] = cmd[2]
                else:
                    if is_misconf(reply):
                        misconf = True
                    elif reply is not None:
                        assert_true(not isinstance(reply, ReplyError), f"XREADGROUP: {reply}")
                        entries = (list(reply.values())[0] if isinstance(reply, dict)
                                   else reply[0][1])
                        got = model.delivered.setdefault(cmd[8], set())
                        for entry in entries:
                            got.add(int(entry[0].decode().split("-")[0]))
        if misconf or (stop_after is not None and acked >= stop_after):
            return acked


def verify(c, model, when):
    """Everything acknowledged is there; nothing that got an error is."""
    for s, seqs in model.entries.items():
        got = c.call("XRANGE", s, "-", "+")
        assert_true(not isinstance(got, ReplyError), f"{when}: XRANGE {s}: {got}")
        ids = [int(e[0].decode().split("-")[0]) for e in got]
        missing = sorted(set(seqs) - set(ids))
        extra = sorted(set(ids) - set(seqs))
        assert_eq(missing, [], f"{when}: acknowledged entries of {s} missing")
        assert_eq(extra, [], f"{when}: entries of {s} that got an error are visible")
        for e in got[:: max(1, len(got) // 50)]:
            seq = int(e[0].decode().split("-")[0])
            assert_eq(e[1], [b"v", payload(s, seq).encode()], f"{when}: {s} {seq}")
    for s in model.failed_ids:
        if s not in model.entries:
            assert_eq(c.call("EXISTS", s), 0, f"{when}: stream {s} created by a failed write")
    keys = sorted(model.keys)
    for i in range(0, len(keys), 500):
        part = keys[i:i + 500]
        assert_eq(c.call("MGET", *part), [model.keys[k].encode() for k in part],
                  f"{when}: acknowledged SETs")
    failed = sorted(model.failed_keys)
    if failed:
        assert_eq(c.call("EXISTS", *failed), 0, f"{when}: keys whose SET got an error")
    for s, seqs in model.delivered.items():
        if s not in model.entries:
            continue
        pending = c.call("XPENDING", s, "g", "-", "+", "1000000")
        ids = {int(p[0].decode().split("-")[0]) for p in pending}
        assert_eq(sorted(seqs - ids), [], f"{when}: acknowledged deliveries of {s} not pending")
        assert_eq(sorted(ids - seqs), [], f"{when}: deliveries that got an error are pending")


def wait_writable(c, timeout=15):
    def ok():
        return c.call("SET", "probe", "x") == "OK"
    wait_until(ok, timeout=timeout, interval=0.1, msg="writes to resume after space was freed")


def info_field(c, name):
    text = c.call("INFO", "persistence")
    text = text.decode() if isinstance(text, bytes) else str(text)
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def fill_ups(policy):
    reason = can_mount()
    if reason:
        print(f"SKIP disk fill-ups under appendfsync {policy}: {reason}")
        return
    with Tmpfs() as fs:
        data = os.path.join(fs.path, "data")
        os.mkdir(data)
        srv = Server("--appendfsync", policy, "--stream-segment-bytes", "1mb", "--dir", data)
        model = Model()
        ballast = os.path.join(fs.path, "ballast")
        total_acked = 0
        counts = {"storage_rollbacks": 0, "storage_resumes": 0}

        def take_counts():
            c = srv.conn()
            for name in counts:
                counts[name] += int(info_field(c, name) or 0)

        try:
            for cycle in range(CYCLES):
                c = srv.conn()
                for s in model.streams_of(cycle)[:1]:
                    c.call("XGROUP", "CREATE", s, "g", "$", "MKSTREAM")
                    model.entries.setdefault(s, [])
                with open(ballast, "wb") as f:
                    try:
                        f.write(b"\0" * BALLAST)
                    except OSError:
                        pass
                conns = [srv.conn(protocol=2 + (i % 2)) for i in range(3)]
                if cycle % 3 == 1:
                    # kill -9 in the middle of a fill, then fill up after the restart.
                    total_acked += fill(conns, model, cycle, stop_after=5000)
                    take_counts()
                    srv.kill9()
                    srv.start()
                    verify(srv.conn(), model, f"cycle {cycle}: after kill -9 mid-fill")
                    conns = [srv.conn(protocol=2 + (i % 2)) for i in range(3)]
                total_acked += fill(conns, model, cycle)
                c = srv.conn()
                assert_eq(info_field(c, "storage_status"), "failed", "after MISCONF")
                verify(c, model, f"cycle {cycle}: disk full, storage failed")
                if cycle % 3 != 1:
                    take_counts()
                if cycle % 3 == 0:
                    srv.restart()
                elif cycle % 3 == 2:
                    srv.kill9()
                    srv.start()
                c = srv.conn()
                verify(c, model, f"cycle {cycle}: after restart on a full disk")
                # Space comes back: writes resume without a restart.
                os.unlink(ballast)
                wait_writable(c)
                assert_eq(info_field(c, "storage_status"), "ok", "after space was freed")
                verify(c, model, f"cycle {cycle}: writes resumed")
                # Make room for the next fill-up: drop this cycle's streams and keys.
                for s in model.streams_of(cycle):
                    assert_true(c.call("DEL", s) in (0, 1), f"DEL {s}")
                    model.entries.pop(s, None)
                    model.delivered.pop(s, None)
                mine = [k for k in model.keys if k.startswith(f"c{cycle}k")]
                for i in range(0, len(mine), 500):
                    c.call("DEL", *mine[i:i + 500])
                for k in mine:
                    del model.keys[k]
                for conn in conns:
                    conn.close()
            take_counts()
            print(f"  appendfsync {policy}: {CYCLES} fill-ups, {total_acked} acknowledged XADDs, "
                  f"0 missing, 0 visible after an error; {counts['storage_rollbacks']} failed "
                  f"batches undone, writes resumed {counts['storage_resumes']} times without a "
                  f"restart")
            assert_eq(counts["storage_rollbacks"] >= CYCLES, True, "every fill-up failed a batch")
            if CYCLES >= 2:
                assert_true(counts["storage_resumes"] >= 1, "writes never resumed in place")
            srv.stop()
        finally:
            srv.cleanup()


@test(timeout=900)
def every_acknowledged_write_survives_disk_full_fill_ups_under_always():
    fill_ups("always")


@test(timeout=900)
def every_acknowledged_write_survives_disk_full_fill_ups_under_everysec():
    fill_ups("everysec")


if __name__ == "__main__":
    main()
