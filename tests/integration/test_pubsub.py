"""Pub/Sub through real clients: fan-out to many subscribers and patterns in order, RESP2
subscribed-mode rules, RESP3 pushes interleaved with replies, keyspace notifications, and a slow
subscriber cut off by client-output-buffer-limit while fast ones keep receiving."""

import socket
import threading

from sluice_harness import (Push, ReplyError, Server, assert_eq, assert_error, assert_true,
                            encode_command, main, shared_server, test, test_both, wait_until)


def fresh(protocol=2):
    c = shared_server().conn(protocol)
    return c


def read_messages(conn, n):
    return [conn.read() for _ in range(n)]


def info_field(conn, section, name):
    text = conn.call("INFO", section).decode()
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    raise AssertionError(f"INFO {section} has no {name}")


@test_both
def many_subscribers_and_patterns_receive_exactly_their_messages_in_order(protocol):
    pub = fresh()
    subs = []
    for i in range(12):
        c = fresh(protocol)
        # Everyone: the shared channel; even ones also a pattern over the numbered channels.
        c.send("SUBSCRIBE", "fan:all", f"fan:own:{i}")
        read_messages(c, 2)
        if i % 2 == 0:
            assert_eq(c.call("PSUBSCRIBE", "fan:own:*"), [b"psubscribe", b"fan:own:*", 3])
        subs.append(c)
    expected = {i: [] for i in range(len(subs))}
    for round_ in range(20):
        payload = f"all-{round_}".encode()
        assert_eq(pub.call("PUBLISH", "fan:all", payload), len(subs))
        for i in range(len(subs)):
            expected[i].append([b"message", b"fan:all", payload])
        target = round_ % len(subs)
        payload = f"own-{round_}".encode()
        receivers = 1 + len(subs) // 2
        assert_eq(pub.call("PUBLISH", f"fan:own:{target}", payload), receivers)
        channel = f"fan:own:{target}".encode()
        expected[target].append([b"message", channel, payload])
        for i in range(0, len(subs), 2):
            expected[i].append([b"pmessage", b"fan:own:*", channel, payload])
    for i, c in enumerate(subs):
        got = read_messages(c, len(expected[i]))
        if protocol == 3:
            assert_true(all(isinstance(m, Push) for m in got), "RESP3 messages are pushes")
        assert_eq(got, expected[i], f"subscriber {i}")
        assert_true(not c.pending(0.05), f"subscriber {i} got more than its messages")
    for c in subs:
        c.close()


@test_both
def a_publisher_streaming_into_a_long_fan_out_keeps_every_order(protocol):
    # 40 subscribers make the reply sweep long enough that the server reads the publisher again
    # in the middle of it (Server::write_replies): the publisher's commands then run between two
    # subscriber writes. Every subscriber must still see every message once, in publish order,
    # and the publisher its replies in command order.
    subs = []
    for _ in range(40):
        c = fresh(protocol)
        assert_eq(c.call("SUBSCRIBE", "sweep:ch"), [b"subscribe", b"sweep:ch", 1])
        subs.append(c)
    pub = fresh()
    counter = f"sweep:counter:{protocol}"
    commands = []
    for n in range(3000):
        commands.append(("PUBLISH", "sweep:ch", f"m{n}"))
        if n % 100 == 99:
            commands.append(("INCR", counter))
    data = b"".join(encode_command(*c) for c in commands)

    def blast():
        # Odd-sized chunks: commands are cut at arbitrary bytes between reads.
        for off in range(0, len(data), 997):
            pub.send_raw(data[off:off + 997])

    sender = threading.Thread(target=blast)
    sender.start()
    replies = [pub.read(timeout=30) for _ in commands]
    sender.join()
    incr = 0
    for cmd, reply in zip(commands, replies):
        if cmd[0] == "PUBLISH":
            assert_eq(reply, len(subs), "PUBLISH receivers")
        else:
            incr += 1
            assert_eq(reply, incr, "INCR replies in order")
    for i, c in enumerate(subs):
        got = read_messages(c, 3000)
        assert_eq([m[2] for m in got], [f"m{n}".encode() for n in range(3000)], f"subscriber {i}")
        assert_true(not c.pending(0.05), f"subscriber {i} got more than its messages")
        c.close()
    pub.close()


@test
def redis_py_pubsub_receives_messages_and_pattern_messages():
    srv = shared_server()
    r = srv.client()
    p = r.pubsub()
    p.subscribe("py:chan")
    p.psubscribe("py:pat.*")
    assert_eq(p.get_message(timeout=2)["type"], "subscribe")
    assert_eq(p.get_message(timeout=2)["type"], "psubscribe")
    assert_eq(r.publish("py:chan", "hello"), 1)
    assert_eq(r.publish("py:pat.x", "world"), 1)
    m1 = p.get_message(timeout=2)
    m2 = p.get_message(timeout=2)
    assert_eq((m1["type"], m1["channel"], m1["data"]), ("message", b"py:chan", b"hello"))
    assert_eq((m2["type"], m2["pattern"], m2["channel"], m2["data"]),
              ("pmessage", b"py:pat.*", b"py:pat.x", b"world"))
    assert_eq(r.pubsub_numsub("py:chan"), [(b"py:chan", 1)])
    assert_eq(r.pubsub_numpat(), 1)
    p.close()
    wait_until(lambda: r.pubsub_numpat() == 0, msg="patterns dropped on disconnect")
    assert_eq(r.pubsub_numsub("py:chan"), [(b"py:chan", 0)])


@test
def resp2_subscribed_mode_allows_only_subscription_commands_ping_quit_and_reset():
    c = fresh(2)
    c.call("SUBSCRIBE", "mode:a")
    assert_error(c.call("GET", "k"),
                 "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
                 "RESET are allowed in this context")
    assert_error(c.call("PUBSUB", "NUMPAT"), "ERR Can't execute 'pubsub|numpat'")
    assert_eq(c.call("PING"), [b"pong", b""])
    assert_eq(c.call("PING", "x"), [b"pong", b"x"])
    assert_eq(c.call("PSUBSCRIBE", "mode:*"), [b"psubscribe", b"mode:*", 2])
    assert_eq(c.call("UNSUBSCRIBE", "mode:a"), [b"unsubscribe", b"mode:a", 1])
    assert_error(c.call("GET", "k"), "ERR Can't execute 'get'")
    assert_eq(c.call("PUNSUBSCRIBE"), [b"punsubscribe", b"mode:*", 0])
    assert_eq(c.call("GET", "k"), None)
    c.call("SSUBSCRIBE", "mode:s")
    assert_error(c.call("GET", "k"), "ERR Can't execute 'get'")
    assert_eq(c.call("RESET"), "RESET")
    assert_eq(c.call("GET", "k"), None)
    c.call("SUBSCRIBE", "mode:q")
    assert_eq(c.call("QUIT"), "OK")
    assert_true(c.closed_by_server(), "QUIT closes a subscribed connection")


@test
def resp3_pushes_interleave_with_ordinary_replies():
    sub = fresh(3)
    pub = fresh()
    assert_eq(sub.call("SUBSCRIBE", "mix:c"), [b"subscribe", b"mix:c", 1])
    assert_eq(sub.call("SET", "mix:k", "v"), "OK")
    pub.call("PUBLISH", "mix:c", "m1")
    assert_eq(sub.read(), Push([b"message", b"mix:c", b"m1"]))
    assert_eq(sub.call("GET", "mix:k"), b"v")
    # A subscriber publishing to its own channel gets the push before PUBLISH's reply.
    sub.send("PUBLISH", "mix:c", "self")
    assert_eq(sub.read(), Push([b"message", b"mix:c", b"self"]))
    assert_eq(sub.read(), 1)
    assert_eq(sub.call("PING"), "PONG")


@test
def unsubscribe_all_confirms_every_channel_with_decreasing_counts():
    c = fresh(2)
    c.send("SUBSCRIBE", "ua:1", "ua:2", "ua:3")
    read_messages(c, 3)
    c.send("UNSUBSCRIBE")
    got = read_messages(c, 3)
    assert_eq(sorted(m[1] for m in got), [b"ua:1", b"ua:2", b"ua:3"])
    assert_eq([m[2] for m in got], [2, 1, 0])
    assert_eq(c.call("UNSUBSCRIBE"), [b"unsubscribe", None, 0])


@test
def info_counts_channels_patterns_and_shard_channels():
    probe = fresh()
    base = [int(info_field(probe, "stats", f)) for f in
            ("pubsub_channels", "pubsub_patterns", "pubsubshard_channels")]
    a, b = fresh(), fresh()
    a.send("SUBSCRIBE", "info:1", "info:2")
    read_messages(a, 2)
    b.call("SUBSCRIBE", "info:1")
    a.call("PSUBSCRIBE", "info:*")
    b.call("PSUBSCRIBE", "info:*")
    b.call("SSUBSCRIBE", "info:s")
    now = [int(info_field(probe, "stats", f)) for f in
           ("pubsub_channels", "pubsub_patterns", "pubsubshard_channels")]
    assert_eq([n - o for n, o in zip(now, base)], [2, 1, 1])
    a.close()
    b.close()
    wait_until(lambda: int(info_field(probe, "stats", "pubsub_channels")) == base[0],
               msg="channels released on disconnect")


@test
def keyspace_notifications_for_stream_commands_and_deletion():
    ctl = fresh()
    ev = fresh()
    ctl.call("FLUSHALL")
    assert_eq(ctl.call("CONFIG", "SET", "notify-keyspace-events", "KEA"), "OK")
    try:
        assert_eq(ctl.call("CONFIG", "GET", "notify-keyspace-events"),
                  [b"notify-keyspace-events", b"AKE"])
        ev.call("PSUBSCRIBE", "__key*@0__:*")
        ctl.call("XADD", "ks:s", "1-1", "f", "v")
        assert_eq(ev.read(), [b"pmessage", b"__key*@0__:*", b"__keyspace@0__:ks:s", b"xadd"])
        assert_eq(ev.read(), [b"pmessage", b"__key*@0__:*", b"__keyevent@0__:xadd", b"ks:s"])
        assert_eq(ctl.call("DEL", "ks:s"), 1)
        assert_eq(ev.read(), [b"pmessage", b"__key*@0__:*", b"__keyspace@0__:ks:s", b"del"])
        assert_eq(ev.read(), [b"pmessage", b"__key*@0__:*", b"__keyevent@0__:del", b"ks:s"])
        # Only the enabled classes: 'g' without 't' reports DEL but not XADD.
        ctl.call("CONFIG", "SET", "notify-keyspace-events", "Eg")
        ctl.call("XADD", "ks:s", "1-1", "f", "v")
        ctl.call("DEL", "ks:s")
        assert_eq(ev.read(), [b"pmessage", b"__key*@0__:*", b"__keyevent@0__:del", b"ks:s"])
        assert_true(not ev.pending(0.1), "no event for a disabled class")
    finally:
        ctl.call("CONFIG", "SET", "notify-keyspace-events", "")


@test
def expired_events_reach_keyevent_subscribers():
    ctl = fresh()
    ev = fresh()
    ctl.call("CONFIG", "SET", "notify-keyspace-events", "Ex")
    try:
        ev.call("SUBSCRIBE", "__keyevent@0__:expired")
        assert_eq(ctl.call("SET", "ks:ttl", "v", "PX", "30"), "OK")
        # Active or lazy expiry, whichever comes first, emits the event exactly once.
        assert_eq(ev.read(timeout=10), [b"message", b"__keyevent@0__:expired", b"ks:ttl"])
        assert_eq(ctl.call("GET", "ks:ttl"), None)
        assert_true(not ev.pending(0.1), "one expired event per key")
    finally:
        ctl.call("CONFIG", "SET", "notify-keyspace-events", "")


def drain_in_background(conn, counts, key, stop):
    def run():
        while not stop.is_set():
            try:
                msg = conn.read(timeout=0.2)
            except socket.timeout:
                continue
            except (ConnectionError, OSError):
                return
            if msg and msg[0] == b"message":
                counts[key] += 1
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@test(timeout=120)
def a_subscriber_that_never_reads_is_disconnected_while_fast_ones_keep_receiving():
    with Server("--client-output-buffer-limit", "pubsub 1mb 256kb 60") as srv:
        # The slow client asks for a tiny receive window, so the kernel buffers little for it.
        slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect((srv.host, srv.port))
        slow.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$8\r\nslow:fan\r\n")
        fast = [srv.conn() for _ in range(3)]
        for c in fast:
            c.call("SUBSCRIBE", "slow:fan")
        pub = srv.conn()
        wait_until(lambda: pub.call("PUBSUB", "NUMSUB", "slow:fan")[1] == 4, msg="4 subscribers")
        counts = {i: 0 for i in range(len(fast))}
        stop = threading.Event()
        threads = [drain_in_background(c, counts, i, stop) for i, c in enumerate(fast)]
        payload = b"x" * 8192
        total = 0
        batch = 50
        receivers = []
        for _ in range(80):  # 4000 messages, 32 MB per subscriber
            pub.sock.sendall(b"".join(
                b"*3\r\n$7\r\nPUBLISH\r\n$8\r\nslow:fan\r\n$8192\r\n" + payload + b"\r\n"
                for _ in range(batch)))
            receivers.extend(pub.read() for _ in range(batch))
            total += batch
            # Pace the publisher to the (Python) fast readers so only the slow one falls behind.
            wait_until(lambda: all(counts[i] == total for i in counts), timeout=30,
                       msg="fast subscribers keep up")
        # The slow subscriber was dropped part way: later publishes reach only the fast three.
        assert_eq(receivers[-1], 3)
        assert_eq(receivers[0], 4)
        assert_true(all(r in (3, 4) for r in receivers), "receiver counts are 4 then 3")
        wait_until(lambda: all(counts[i] == total for i in counts), timeout=60,
                   msg="fast subscribers receive every message")
        stop.set()
        for t in threads:
            t.join()
        assert_eq(pub.call("PUBSUB", "NUMSUB", "slow:fan"), [b"slow:fan", 3])
        stats = pub.call("INFO", "stats").decode()
        assert_true("client_output_buffer_limit_disconnections:1" in stats, stats)
        assert_true("overcoming of output buffer limits" in srv.log_text(),
                    "the disconnection is logged")
        # The slow socket reads as closed once its buffered bytes are drained.
        slow.settimeout(10)
        closed = False
        while True:
            try:
                if not slow.recv(1 << 20):
                    closed = True
                    break
            except ConnectionResetError:
                closed = True
                break
        assert_true(closed, "slow subscriber disconnected")
        slow.close()


@test
def config_get_and_set_client_output_buffer_limit():
    c = fresh()
    before = c.call("CONFIG", "GET", "client-output-buffer-limit")[1]
    try:
        assert_eq(c.call("CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 512kb 5"), "OK")
        got = c.call("CONFIG", "GET", "client-output-buffer-limit")[1]
        assert_true(b"pubsub 1048576 524288 5" in got, got)
    finally:
        c.call("CONFIG", "SET", "client-output-buffer-limit", before)
    assert_eq(c.call("CONFIG", "GET", "client-output-buffer-limit")[1], before)


if __name__ == "__main__":
    main()
