"""What one client may send, and what it costs everyone else: a giant value arrives without
stalling other clients and without piling up copies (it round-trips intact and survives
restarts), a giant pipeline is interleaved with other clients' commands, a connection that has
not authenticated may not declare big requests (Redis 7.0's limits since CVE-2021-32675), and
client-query-buffer-limit, proto-max-bulk-len and the argument count limit behave as Redis's.
Behaviour only: counts and bounds, never timings."""

import hashlib
import socket
import threading
import time

from sluice_harness import (Server, assert_eq, assert_true, encode_command, main, read_reply,
                            test, wait_until)

MiB = 1 << 20


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for pid {pid}")


def info_field(srv, name):
    for line in srv.conn().call("INFO", "persistence").decode().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    raise AssertionError(f"INFO persistence has no {name}")


def connect(srv):
    s = socket.create_connection((srv.host, srv.port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_after(sock, expected_reply, timeout=5):
    """Reads until the server closes; returns True if exactly expected_reply came before."""
    sock.settimeout(timeout)
    got = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    assert_eq(got, expected_reply)
    return True


def connection_ends(sock, timeout=10):
    """True once the server closed or reset the connection (reading what is left)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


class Pinger:
    """Another client sending PING after PING on its own thread; counts the PONGs."""

    def __init__(self, srv):
        self.sock = connect(srv)
        self.pongs = 0
        self.failed = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                self.sock.sendall(b"PING\r\n")
                assert_eq(read_reply(self.sock, timeout=60), b"+PONG\r\n")
                self.pongs += 1
        except Exception as exc:  # reported by stop()
            self.failed = exc

    def wait_for(self, count, timeout=60):
        wait_until(lambda: self.pongs >= count or self.failed, timeout=timeout)
        assert_true(self.failed is None, f"pinger failed: {self.failed!r}")

    def stop(self):
        self._stop.set()
        self._thread.join(60)
        self.sock.close()
        assert_true(self.failed is None, f"pinger failed: {self.failed!r}")


def send_big_while_pinging(srv, head, value, tail=b"\r\n"):
    """Sends head + value + tail on a new connection. Half-way through the value it waits until
    another client got 20 more PONGs: the loop serves others while a big bulk is pending.
    Returns the reply."""
    pinger = Pinger(srv)
    s = connect(srv)
    try:
        s.sendall(head)
        half = len(value) // 2
        s.sendall(memoryview(value)[:half])
        seen = pinger.pongs
        pinger.wait_for(seen + 20)
        s.sendall(memoryview(value)[half:])
        s.sendall(tail)
        return read_reply(s, timeout=120)
    finally:
        s.close()
        pinger.stop()


def bulk_head(*args_before, size):
    out = b"*%d\r\n" % (len(args_before) + 1)
    for a in args_before:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out + b"$%d\r\n" % size


def digest_of_get(srv, *args):
    """SHA-256 and length of a bulk reply, read in pieces (no second copy of a giant value)."""
    s = connect(srv)
    try:
        s.sendall(encode_command(*args))
        header = b""
        while not header.endswith(b"\r\n"):
            header += s.recv(1)
        assert_true(header.startswith(b"$"), f"not a bulk: {header!r}")
        length = int(header[1:-2])
        h = hashlib.sha256()
        left = length
        while left:
            chunk = s.recv(min(left, 4 * MiB))
            assert_true(chunk, "connection closed mid-reply")
            left -= len(chunk)
            h.update(chunk)
        crlf = b""
        while len(crlf) < 2:
            crlf += s.recv(2 - len(crlf))
        assert_eq(crlf, b"\r\n")
        return h.hexdigest(), length
    finally:
        s.close()


def pattern(size):
    """A value whose every 4 KiB differs, so a misplaced chunk would show."""
    block = bytes(range(256)) * 16
    out = bytearray(size)
    for off in range(0, size, len(block)):
        n = min(len(block), size - off)
        out[off:off + n] = block[:n]
        out[off:off + 8] = off.to_bytes(8, "little")
    return bytes(out)


@test(timeout=300)
def a_64_mib_value_arrives_while_others_are_served_and_survives_restarts():
    size = 64 * MiB
    value = pattern(size)
    want = hashlib.sha256(value).hexdigest()
    with Server() as srv:
        base_kib = status_kib(srv.pid, "VmRSS")
        reply = send_big_while_pinging(srv, bulk_head("SET", "big", size=size), value)
        assert_eq(reply, b"+OK\r\n")
        peak_kib = status_kib(srv.pid, "VmHWM")
        # The value is received into one buffer of its size and kept as the string: the old
        # path (growing input buffer, builder, journal buffer, snapshot in memory) peaked at 6x.
        assert_true(peak_kib - base_kib < 3 * size // 1024,
                    f"peak RSS grew {(peak_kib - base_kib) // 1024} MiB for a 64 MiB value")
        assert_eq(digest_of_get(srv, "GET", "big"), (want, size))
        # Past the KV snapshot threshold: a forked child writes it while the loop goes on, and
        # INFO reports it as Redis reports an AOF rewrite.
        wait_until(lambda: info_field(srv, "aof_rewrites") == "1"
                   and info_field(srv, "aof_rewrite_in_progress") == "0", timeout=120)
        assert_eq(info_field(srv, "aof_last_bgrewrite_status"), "ok")
        assert_eq((srv.dir / "kv" / "kv.journal").stat().st_size, 16)  # only its header
        srv.restart()
        assert_eq(digest_of_get(srv, "GET", "big"), (want, size))
        # A second value journaled after the snapshot, then a crash: both come back.
        srv.conn().call("SET", "big2", value[:3 * MiB])
        srv.kill9()
        srv.start()
        assert_eq(digest_of_get(srv, "GET", "big"), (want, size))
        assert_eq(digest_of_get(srv, "GET", "big2"),
                  (hashlib.sha256(value[:3 * MiB]).hexdigest(), 3 * MiB))


@test(timeout=300)
def big_hash_values_and_stream_fields_round_trip_and_survive_a_restart():
    size = 8 * MiB
    value = pattern(size)
    want = hashlib.sha256(value).hexdigest()
    with Server("--appendfsync", "always") as srv:
        assert_eq(send_big_while_pinging(srv, bulk_head("HSET", "h", "f", size=size), value),
                  b":1\r\n")
        reply = send_big_while_pinging(srv, bulk_head("XADD", "s", "1-1", "f", size=size), value)
        assert_eq(reply, b"$3\r\n1-1\r\n")
        # Two big bulks in one command, then a small one after them.
        c = connect(srv)
        c.sendall(b"*5\r\n$4\r\nMSET\r\n$2\r\nm1\r\n$%d\r\n" % size + value +
                  b"\r\n$2\r\nm2\r\n$%d\r\n" % size + value + b"\r\n")
        assert_eq(read_reply(c, timeout=60), b"+OK\r\n")
        c.close()
        srv.kill9()
        srv.start()
        assert_eq(digest_of_get(srv, "HGET", "h", "f"), (want, size))
        assert_eq(digest_of_get(srv, "GET", "m1"), (want, size))
        assert_eq(digest_of_get(srv, "GET", "m2"), (want, size))
        entry = srv.conn().call("XRANGE", "s", "-", "+")
        assert_eq(len(entry), 1)
        assert_eq(hashlib.sha256(entry[0][1][1]).hexdigest(), want)


@test(timeout=300)
def a_giant_pipeline_is_interleaved_with_other_clients():
    n = 200_000
    with Server() as srv:
        writer = connect(srv)
        payload = b"".join(encode_command("SET", f"k{i}", "v") for i in range(n))
        replies = []
        reader = threading.Thread(
            target=lambda: replies.extend(read_reply(writer, timeout=120) for _ in range(n)))
        reader.start()
        sender = threading.Thread(target=lambda: writer.sendall(payload))
        sender.start()
        other = srv.conn()
        # Another client's commands are answered while the pipeline is being run: some DBSIZE
        # sees it part done.
        sizes = []
        while not sizes or sizes[-1] < n:
            sizes.append(other.call("DBSIZE"))
        sender.join()
        reader.join()
        writer.close()
        assert_eq(len(replies), n)
        assert_true(all(r == b"+OK\r\n" for r in replies), "a pipelined SET failed")
        assert_true(any(0 < s < n for s in sizes),
                    f"no DBSIZE ran while the pipeline was processed ({sizes[:3]}...)")


@test(timeout=120)
def strangers_declaring_100_mb_auth_bulks_are_refused_and_cost_little_memory():
    with Server("--requirepass", "secret") as srv:
        before_kib = status_kib(srv.pid, "VmRSS")
        socks = [connect(srv) for _ in range(20)]
        # The header alone (bytes sent after it would be unread at the close, which then
        # resets the connection and may drop the error reply before the client reads it).
        for s in socks:
            s.sendall(b"*2\r\n$4\r\nAUTH\r\n$100000000\r\n")
        for s in socks:
            closed_after(s, b"-ERR Protocol error: unauthenticated bulk length\r\n")
            s.close()
        # Strangers that keep sending the declared bytes are cut off as well.
        socks = [connect(srv) for _ in range(20)]
        for s in socks:
            try:
                s.sendall(b"*2\r\n$4\r\nAUTH\r\n$100000000\r\n")
                for _ in range(16):
                    s.sendall(b"x" * (MiB // 16))
            except (ConnectionResetError, BrokenPipeError):
                pass
        for s in socks:
            assert_true(connection_ends(s), "a stranger's connection stayed open")
            s.close()
        grown_kib = status_kib(srv.pid, "VmHWM") - before_kib
        assert_true(grown_kib < 50 * 1024, f"RSS grew {grown_kib // 1024} MiB")
        # More than 10 arguments before AUTH: the same treatment.
        s = connect(srv)
        s.sendall(b"*11\r\n")
        closed_after(s, b"-ERR Protocol error: unauthenticated multibulk length\r\n")
        s.close()
        # Within the limits the command runs (and is refused as unauthenticated).
        s = connect(srv)
        s.sendall(encode_command("SET", "k", "v" * 16384))
        assert_eq(read_reply(s), b"-NOAUTH Authentication required.\r\n")
        # After AUTH the ordinary limits apply, on the same connection.
        s.sendall(encode_command("AUTH", "secret"))
        assert_eq(read_reply(s), b"+OK\r\n")
        args = ["MSET"] + [f"k{i}" if j == 0 else "v" * 20000 for i in range(6) for j in (0, 1)]
        s.sendall(encode_command(*args))
        assert_eq(read_reply(s), b"+OK\r\n")
        s.close()


@test(timeout=120)
def a_client_past_client_query_buffer_limit_is_closed_alone_without_a_reply():
    with Server() as srv:
        admin = srv.conn()
        assert_eq(admin.call("CONFIG", "SET", "client-query-buffer-limit", "1mb"), "OK")
        # Just under the limit, still arriving: kept open.
        under = connect(srv)
        under.sendall(bulk_head("SET", "k", size=MiB) + b"x" * (MiB - 10))
        # A whole 1 MiB bulk: its bytes and CRLF are 2 more than the limit, as Redis counts.
        over = connect(srv)
        over.sendall(bulk_head("SET", "k", size=MiB) + b"x" * MiB + b"\r\n")
        closed_after(over, b"")
        over.close()
        assert_eq(admin.call("PING"), "PONG")
        under.sendall(b"x" * 10 + b"\r\n")
        # ... and closed once it passes it (the CRLF); the limit counts the bulk being received.
        closed_after(under, b"")
        under.close()
        assert_true("max query buffer length" in srv.log_text(), "no log line for the close")
        assert_eq(admin.call("CONFIG", "SET", "client-query-buffer-limit", "1gb"), "OK")
        assert_eq(admin.call("EXISTS", "k"), 0)


@test(timeout=120)
def a_bulk_over_proto_max_bulk_len_gets_redis_error_and_only_that_connection_closes():
    with Server() as srv:
        admin = srv.conn()
        assert_eq(admin.call("CONFIG", "SET", "proto-max-bulk-len", "1mb"), "OK")
        s = connect(srv)
        s.sendall(bulk_head("SET", "k", size=MiB + 1))
        closed_after(s, b"-ERR Protocol error: invalid bulk length\r\n")
        s.close()
        s = connect(srv)
        s.sendall(bulk_head("SET", "k", size=MiB) + b"y" * MiB + b"\r\n")
        assert_eq(read_reply(s), b"+OK\r\n")
        s.close()
        assert_eq(admin.call("STRLEN", "k"), MiB)
        assert_eq(admin.call("CONFIG", "SET", "proto-max-bulk-len", "512mb"), "OK")


@test(timeout=120)
def a_command_with_1048577_arguments_is_accepted_as_redis_7_does():
    with Server() as srv:
        s = connect(srv)
        keys = 1048576
        s.sendall(b"*%d\r\n$6\r\nEXISTS\r\n" % (keys + 1) + b"$1\r\nk\r\n" * keys)
        assert_eq(read_reply(s, timeout=60), b":0\r\n")
        s.sendall(b"*2147483648\r\n")
        closed_after(s, b"-ERR Protocol error: invalid multibulk length\r\n")
        s.close()


if __name__ == "__main__":
    main()
