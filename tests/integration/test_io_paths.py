"""The two ways replies leave the server — batched through io_uring (`io-uring yes`, the default)
and one writev per connection (`io-uring no`, also the fallback where the kernel refuses
io_uring) — give the same bytes: pipelined replies in order, replies far larger than a socket
buffer to a client that reads late (partial sends continued when the socket drains), fan-out to
many subscribers, and a client that disconnects with output queued."""

import socket
import threading

from sluice_harness import (ReplyError, Server, assert_eq, assert_true, encode_command, main,
                            test, wait_until)

MODES = ("yes", "no")


def reply_path(server):
    text = server.conn().call("INFO", "server").decode()
    for line in text.splitlines():
        if line.startswith("sluice_reply_io:"):
            return line.split(":", 1)[1]
    raise AssertionError("INFO server has no sluice_reply_io")


def exercise(mode):
    with Server("--io-uring", mode) as srv:
        path = reply_path(srv)
        if mode == "no":
            assert_eq(path, "writev")
        else:
            # Where the kernel refuses io_uring the server says why in its log and falls back.
            assert_true(path == "io_uring" or "io_uring unavailable" in srv.log_text(),
                        f"reply path {path} without a logged reason")
        c = srv.conn()
        # 1. 2000 pipelined commands in one write: 2000 replies, in order.
        replies = c.pipeline(*[("INCR", "n") for _ in range(2000)])
        assert_eq(replies, list(range(1, 2001)))
        # 2. A 10 MB reply to a client that reads only later: the send is partial, the rest
        #    follows as the socket drains; meanwhile other clients are served.
        value = b"v" * 1000
        c.pipeline(*[("XADD", "big", "*", "f", value) for _ in range(10000)])
        slow = srv.conn()
        slow.send("XRANGE", "big", "-", "+")
        other = srv.conn()
        assert_eq(other.call("PING"), "PONG")
        got = slow.read(timeout=60)
        assert_eq(len(got), 10000)
        assert_true(all(e[1] == [b"f", value] for e in got), "entry bodies intact")
        # 3. Fan-out to 40 subscribers while a publisher streams.
        subs = [srv.conn() for _ in range(40)]
        for s in subs:
            assert_eq(s.call("SUBSCRIBE", "io:ch"), [b"subscribe", b"io:ch", 1])
        pub = srv.conn()
        counts = pub.pipeline(*[("PUBLISH", "io:ch", f"m{i}") for i in range(500)])
        assert_eq(counts, [40] * 500)
        for i, s in enumerate(subs):
            msgs = [s.read() for _ in range(500)]
            assert_eq([m[2] for m in msgs], [f"m{i}".encode() for i in range(500)],
                      f"subscriber {i}")
        # 4. A client that goes away with a large reply queued does not disturb the others.
        raw = socket.create_connection(("127.0.0.1", srv.port))
        raw.sendall(encode_command("XRANGE", "big", "-", "+"))
        raw.close()
        wait_until(lambda: other.call("PING") == "PONG")
        assert_eq(other.call("XLEN", "big"), 10000)
        return path


@test(timeout=180)
def replies_are_the_same_through_io_uring_and_writev():
    paths = [exercise(mode) for mode in MODES]
    assert_eq(paths[1], "writev")


@test
def busy_polling_is_a_runtime_setting_and_changes_no_reply():
    with Server() as srv:
        c = srv.conn()
        assert_eq(c.call("CONFIG", "GET", "busy-poll-us"), [b"busy-poll-us", b"100"])
        for value in ("0", "5000", "100"):
            assert_eq(c.call("CONFIG", "SET", "busy-poll-us", value), "OK")
            assert_eq(c.call("CONFIG", "GET", "busy-poll-us"), [b"busy-poll-us", value.encode()])
            assert_eq(c.pipeline(*[("INCR", f"bp:{value}") for _ in range(100)]),
                      list(range(1, 101)))
        assert_true(isinstance(c.call("CONFIG", "SET", "busy-poll-us", "-1"), ReplyError),
                    "a negative window is refused")


@test(timeout=180)
def concurrent_clients_get_their_own_replies_in_order():
    # Many connections pipelining at once: every batch send carries several connections.
    with Server() as srv:
        errors = []

        def worker(k):
            try:
                c = srv.conn()
                for round_ in range(20):
                    got = c.pipeline(*[("ECHO", f"{k}:{round_}:{i}") for i in range(50)])
                    want = [f"{k}:{round_}:{i}".encode() for i in range(50)]
                    if got != want:
                        errors.append(f"client {k} round {round_}")
                        return
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"client {k}: {e!r}")

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert_eq(errors, [])


if __name__ == "__main__":
    main()
