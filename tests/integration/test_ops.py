"""Operations commands against the real sluice-server: redis-cli monitor, --bigkeys, --memkeys
and --latency; CLIENT PAUSE holding commands (not failing them) across two connections;
client-side caching with RESP3 invalidation pushes and RESP2 redirection to a subscriber;
LATENCY events and histograms."""

import subprocess
import time

from sluice_harness import Push, assert_eq, assert_true, main, shared_server, test, wait_until


def fresh(protocol=2):
    return shared_server().conn(protocol)


# --- MONITOR ---

@test
def redis_cli_monitor_shows_every_client_command_with_db_addr_and_quoting():
    srv = shared_server()
    proc = subprocess.Popen(["redis-cli", "-h", "127.0.0.1", "-p", str(srv.port), "monitor"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # MONITOR is registered once redis-cli printed OK.
        assert_eq(proc.stdout.readline().strip(), "OK")
        c = fresh()
        c.call("SELECT", "2")
        c.call("SET", "mon:key", "two words\n\x01")
        c.call("AUTH", "not-the-password")
        c.call("EVAL", "return redis.call('GET', KEYS[1])", "1", "mon:key")
        c.call("CONFIG", "GET", "maxmemory")  # admin: never shown
        c.call("PING")
        port = c.sock.getsockname()[1]
        lines = []
        while not lines or "\"PING\"" not in lines[-1]:
            lines.append(proc.stdout.readline().strip())
    finally:
        proc.terminate()
        proc.wait()
    addr = f"127.0.0.1:{port}"
    body = [line.split(" ", 1)[1] for line in lines]
    assert_eq(body, [
        f'[2 {addr}] "SELECT" "2"',  # shown after it ran, as Redis does
        f'[2 {addr}] "SET" "mon:key" "two words\\n\\x01"',
        f'[2 {addr}] "AUTH" "(redacted)"',
        f'[2 {addr}] "EVAL" "return redis.call(\'GET\', KEYS[1])" "1" "mon:key"',
        '[2 lua] "GET" "mon:key"',
        f'[2 {addr}] "PING"',
    ])
    for line in lines:
        secs, micros = line.split(" ", 1)[0].split(".")
        assert_true(abs(int(secs) - time.time()) < 60 and len(micros) == 6, line)


@test
def monitor_redacts_hello_auth_and_stops_when_the_monitor_leaves():
    mon = fresh()
    assert_eq(mon.call("MONITOR"), "OK")
    c = fresh()
    c.call("HELLO", "2", "AUTH", "default", "pw")
    line = mon.read()
    assert_true(line.endswith('"HELLO" "2" "AUTH" "(redacted)" "(redacted)"'), line)
    assert_true("flags=O" in c.call("CLIENT", "LIST").decode(), "monitor flag in CLIENT LIST")
    mon.close()
    wait_until(lambda: "flags=O" not in c.call("CLIENT", "LIST").decode(), msg="monitor gone")
    assert_eq(c.call("PING"), "PONG")


# --- CLIENT PAUSE ---

@test
def pause_write_holds_writes_and_scripts_but_not_reads_until_unpause():
    admin, writer = fresh(), fresh()
    admin.call("SET", "p:k", "old")
    assert_eq(admin.call("CLIENT", "PAUSE", "100000", "WRITE"), "OK")
    try:
        writer.send("SET", "p:k", "new")
        writer.send("EVAL", "return 1", "0")
        writer.send("GET", "p:k")
        # Reads from another client go on; the writer's commands wait, in order, unanswered.
        assert_eq(admin.call("GET", "p:k"), b"old")
        assert_eq(admin.call("EVAL_RO", "return 2", "0"), 2)
        assert_true(not writer.pending(0.3), "paused writer got no reply")
    finally:
        assert_eq(admin.call("CLIENT", "UNPAUSE"), "OK")
    assert_eq([writer.read(), writer.read(), writer.read()], ["OK", 1, b"new"])


@test
def pause_all_holds_every_command_and_ends_by_itself():
    admin, other = fresh(), fresh()
    assert_eq(admin.call("CLIENT", "PAUSE", "400", "ALL"), "OK")
    other.send("PING")
    assert_true(not other.pending(0.1), "PING waits under PAUSE ALL")
    assert_eq(other.read(timeout=10), "PONG")


@test
def pause_write_holds_exec_of_a_transaction_with_a_write():
    admin, tx = fresh(), fresh()
    assert_eq(tx.call("MULTI"), "OK")
    assert_eq(tx.call("GET", "p:tx"), "QUEUED")
    assert_eq(tx.call("INCR", "p:tx"), "QUEUED")
    admin.call("CLIENT", "PAUSE", "100000", "WRITE")
    try:
        tx.send("EXEC")
        assert_true(not tx.pending(0.3), "EXEC waits")
        assert_eq(admin.call("GET", "p:tx"), None)
    finally:
        admin.call("CLIENT", "UNPAUSE")
    assert_eq(tx.read(), [None, 1])


@test
def client_unblock_does_not_release_a_paused_client():
    admin, w = fresh(), fresh()
    wid = w.call("CLIENT", "ID")
    admin.call("CLIENT", "PAUSE", "100000", "WRITE")
    try:
        w.send("SET", "p:u", "1")
        wait_until(lambda: b"flags=b" in admin.call("CLIENT", "LIST", "ID", str(wid)),
                   msg="writer shown blocked")
        assert_eq(admin.call("CLIENT", "UNBLOCK", str(wid)), 0)
        assert_true(b"blocked_clients:1\r\n" in admin.call("INFO", "clients"), "counted blocked")
        assert_true(not w.pending(0.1), "no message expected")
    finally:
        admin.call("CLIENT", "UNPAUSE")
    assert_eq(w.read(), "OK")


@test
def active_expiry_waits_during_a_pause():
    admin = fresh()
    admin.call("SELECT", "5")
    admin.call("FLUSHDB")
    admin.call("SET", "p:exp", "v", "PX", "30")
    admin.call("CLIENT", "PAUSE", "100000", "WRITE")
    try:
        time.sleep(0.4)  # several cron ticks (hz 10)
        assert_eq(admin.call("DBSIZE"), 1, "the key stays while paused")
    finally:
        admin.call("CLIENT", "UNPAUSE")
    wait_until(lambda: admin.call("DBSIZE") == 0, msg="expired after the pause")


# --- client-side caching ---

@test
def resp3_tracking_sends_invalidate_push_when_another_client_writes():
    reader, writer = fresh(3), fresh()
    writer.call("SET", "t:a", "1")
    assert_eq(reader.call("CLIENT", "TRACKING", "ON"), "OK")
    assert_eq(reader.call("GET", "t:a"), b"1")
    writer.call("SET", "t:a", "2")
    assert_eq(reader.read(), Push([b"invalidate", [b"t:a"]]))
    # Forgotten once invalidated: a second write sends nothing until the key is read again.
    writer.call("SET", "t:a", "3")
    assert_true(not reader.pending(0.1), "no message expected")
    reader.call("MGET", "t:a", "t:b")
    writer.call("DEL", "t:b")  # t:b does not exist: DEL changes nothing, no message
    writer.call("SET", "t:b", "x")
    assert_eq(reader.read(), Push([b"invalidate", [b"t:b"]]))
    writer.call("FLUSHALL")
    assert_eq(reader.read(), Push([b"invalidate", None]))
    reader.call("CLIENT", "TRACKING", "OFF")


@test
def own_write_invalidation_follows_the_reply_and_noloop_suppresses_it():
    c = fresh(3)
    c.call("CLIENT", "TRACKING", "ON")
    c.call("GET", "t:self")
    assert_eq(c.call("SET", "t:self", "v"), "OK")
    assert_eq(c.read(), Push([b"invalidate", [b"t:self"]]))
    c.call("CLIENT", "TRACKING", "ON", "NOLOOP")
    c.call("GET", "t:self")
    c.call("SET", "t:self", "w")
    assert_true(not c.pending(0.1), "no message expected")
    c.call("CLIENT", "TRACKING", "OFF")


@test
def optin_tracks_only_after_caching_yes():
    reader, writer = fresh(3), fresh()
    reader.call("CLIENT", "TRACKING", "ON", "OPTIN")
    reader.call("GET", "t:o1")
    assert_eq(reader.call("CLIENT", "CACHING", "YES"), "OK")
    reader.call("GET", "t:o2")
    writer.call("SET", "t:o1", "x")
    writer.call("SET", "t:o2", "x")
    assert_eq(reader.read(), Push([b"invalidate", [b"t:o2"]]))
    assert_true(not reader.pending(0.1), "no message expected")
    reader.call("CLIENT", "TRACKING", "OFF")


@test
def expiry_and_script_writes_invalidate_too():
    reader, writer = fresh(3), fresh()
    writer.call("SET", "t:exp", "1", "PX", "50")
    writer.call("SET", "t:lua", "1")
    reader.call("CLIENT", "TRACKING", "ON")
    reader.call("MGET", "t:exp", "t:lua")
    writer.call("EVAL", "return redis.call('INCR', KEYS[1])", "1", "t:lua")
    assert_eq(reader.read(), Push([b"invalidate", [b"t:lua"]]))
    assert_eq(reader.read(timeout=10), Push([b"invalidate", [b"t:exp"]]))
    reader.call("CLIENT", "TRACKING", "OFF")


@test
def tracking_table_max_keys_forgets_keys_and_invalidates_them():
    reader, admin = fresh(3), fresh()
    before = admin.call("CONFIG", "GET", "tracking-table-max-keys")[1]
    admin.call("CONFIG", "SET", "tracking-table-max-keys", "2")
    try:
        reader.call("CLIENT", "TRACKING", "ON")
        reply = reader.call("MGET", "t:m1", "t:m2", "t:m3")
        assert_eq(reply, [None, None, None])
        push = reader.read()
        assert_true(isinstance(push, Push) and push[0] == b"invalidate" and len(push[1]) == 1 and
                    push[1][0] in (b"t:m1", b"t:m2", b"t:m3"), push)
        stats = admin.call("INFO", "stats").decode()
        assert_true("tracking_total_keys:2\r\n" in stats, stats)
    finally:
        admin.call("CONFIG", "SET", "tracking-table-max-keys", before)
        reader.call("CLIENT", "TRACKING", "OFF")


@test
def bcast_prefixes_get_every_matching_write():
    reader, writer = fresh(3), fresh()
    reader.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "cart:")
    writer.call("SET", "user:1", "a")
    assert_eq(reader.read(), Push([b"invalidate", [b"user:1"]]))
    writer.call("SET", "other", "a")
    writer.call("HSET", "cart:9", "f", "v")
    assert_eq(reader.read(), Push([b"invalidate", [b"cart:9"]]))
    assert_true(not reader.pending(0.1), "no message expected")
    reader.call("CLIENT", "TRACKING", "OFF")


@test
def resp2_redirect_to_a_redis_py_subscriber_on_redis_invalidate():
    srv = shared_server()
    sub = srv.client()
    ps = sub.pubsub()
    ps.subscribe("__redis__:invalidate")
    assert_eq(ps.get_message(timeout=5)["type"], "subscribe")
    # The subscriber's own connection id: the one CLIENT LIST shows subscribed.
    clients = srv.client().client_list()
    listener_id = next(int(c["id"]) for c in clients if c["sub"] == "1")
    r = srv.client(single_connection_client=True)
    assert_eq(r.execute_command("CLIENT", "TRACKING", "ON", "REDIRECT", listener_id), b"OK")
    assert_eq(int(r.execute_command("CLIENT", "GETREDIR")), listener_id)
    r.get("t:redir")
    srv.client().set("t:redir", "1")
    msg = ps.get_message(timeout=5)
    assert_eq((msg["type"], msg["channel"], msg["data"]),
              ("message", b"__redis__:invalidate", [b"t:redir"]))
    info = r.execute_command("CLIENT", "TRACKINGINFO")
    assert_eq(info[:4], [b"flags", [b"on"], b"redirect", listener_id])
    ps.close()
    r.execute_command("CLIENT", "TRACKING", "OFF")


@test
def broken_redirect_is_reported_to_a_resp3_client():
    target, c, writer = fresh(), fresh(3), fresh()
    tid = target.call("CLIENT", "ID")
    c.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(tid))
    c.call("GET", "t:broken")
    target.close()
    wait_until(lambda: b"id=%d " % tid not in writer.call("CLIENT", "LIST"), msg="target gone")
    writer.call("SET", "t:broken", "1")
    assert_eq(c.read(), Push([b"tracking-redir-broken", tid]))
    info = c.call("CLIENT", "TRACKINGINFO")
    assert_true(b"broken_redirect" in info[b"flags"], info)
    c.call("CLIENT", "TRACKING", "OFF")


# --- LATENCY ---

@test
def latency_monitor_records_slow_commands_as_command_events():
    c = fresh()
    c.call("CONFIG", "SET", "latency-monitor-threshold", "10")
    try:
        c.call("LATENCY", "RESET")
        c.call("DEBUG", "SLEEP", "0.03")
        latest = c.call("LATENCY", "LATEST")
        assert_eq(len(latest), 1)
        name, ts, last, worst = latest[0]
        assert_eq(name, b"command")
        assert_true(last >= 30 and worst >= last and abs(ts - time.time()) < 60, latest)
        hist = c.call("LATENCY", "HISTORY", "command")
        assert_eq(hist, [[ts, last]])
        graph = c.call("LATENCY", "GRAPH", "command").decode()
        assert_true(graph.startswith(f"command - high {last} ms, low {last} ms"), graph)
        doctor = c.call("LATENCY", "DOCTOR").decode()
        assert_true("command" in doctor, doctor)
        assert_eq(c.call("LATENCY", "RESET", "command"), 1)
        assert_eq(c.call("LATENCY", "LATEST"), [])
    finally:
        c.call("CONFIG", "SET", "latency-monitor-threshold", "0")


@test
def latency_histogram_counts_calls_per_command_cumulatively():
    c = fresh()
    c.call("CONFIG", "RESETSTAT")
    for i in range(25):
        c.call("SET", f"h:{i}", "v")
    c.call("CLIENT", "ID")
    reply = c.call("LATENCY", "HISTOGRAM", "set", "client")
    names = [reply[i] for i in range(0, len(reply), 2)]
    assert_eq(sorted(names), [b"client|id", b"set"])
    body = dict(zip(names, [reply[i] for i in range(1, len(reply), 2)]))
    s = body[b"set"]
    assert_eq(s[0:2], [b"calls", 25])
    buckets = s[3]
    counts = [buckets[i] for i in range(1, len(buckets), 2)]
    bounds = [buckets[i] for i in range(0, len(buckets), 2)]
    assert_eq(counts[-1], 25)
    assert_eq(counts, sorted(counts))
    assert_eq(bounds, sorted(bounds))


@test
def redis_cli_latency_reports_samples():
    srv = shared_server()
    out = subprocess.run(["timeout", "-s", "INT", "1.5", "redis-cli", "-h", "127.0.0.1", "-p",
                          str(srv.port), "--latency", "--raw"],
                         capture_output=True, text=True, timeout=20).stdout
    fields = out.split()
    assert_true(len(fields) >= 4, out)
    assert_true(int(fields[3]) > 0, f"samples counted: {out}")


# --- MEMORY and redis-cli --bigkeys / --memkeys ---

@test
def memory_usage_grows_with_the_value_and_sampling_all_elements_works():
    c = fresh()
    c.call("SET", "m:small", "x")
    c.call("SET", "m:big", "x" * 10000)
    small, big = c.call("MEMORY", "USAGE", "m:small"), c.call("MEMORY", "USAGE", "m:big")
    assert_true(big > 10000 > small > 0, (small, big))
    for i in range(300):
        c.call("HSET", "m:hash", f"field:{i}", "v" * (i % 50))
    assert_true(c.call("MEMORY", "USAGE", "m:hash", "SAMPLES", "0") > 300 * 24)
    assert_eq(c.call("MEMORY", "USAGE", "m:none"), None)
    stats = c.call("MEMORY", "STATS")
    keys = dict(zip(stats[0::2], stats[1::2]))
    assert_true(keys[b"keys.count"] >= 3, keys)
    c.call("DEL", "m:small", "m:big", "m:hash")


@test
def memory_usage_of_strings_matches_redis_server():
    ours, ref = fresh(), shared_server(redis=True).conn()
    values = ["1", "12345678901", "x", "y" * 44, "y" * 45, "z" * 300, "w" * 5000, "v" * 70000]
    for i, v in enumerate(values):
        for c in (ours, ref):
            c.call("SET", f"mu:{i}", v)
        assert_eq(ours.call("MEMORY", "USAGE", f"mu:{i}"), ref.call("MEMORY", "USAGE", f"mu:{i}"),
                  f"value of {len(v)} bytes")
    for c in (ours, ref):
        c.call("DEL", *[f"mu:{i}" for i in range(len(values))])


def load_sizes(c):
    c.call("FLUSHALL")
    c.call("SET", "s:small", "x")
    c.call("SET", "s:large", "y" * 5000)
    c.call("RPUSH", "l:long", *[str(i) for i in range(200)])
    c.call("HSET", "h:wide", *sum(([f"f{i}", "v"] for i in range(80)), []))
    c.call("SADD", "set:one", "a")
    c.call("ZADD", "z:z", "1", "a", "2", "b")
    c.call("XADD", "x:s", "*", "f", "v")


@test
def redis_cli_bigkeys_finds_the_biggest_key_of_each_type():
    srv = shared_server()
    load_sizes(fresh())
    out = srv.cli("--bigkeys")
    for want in ["Biggest string found '\"s:large\"' has 5000 bytes",
                 "Biggest   list found '\"l:long\"' has 200 items",
                 "Biggest   hash found '\"h:wide\"' has 80 fields",
                 "Biggest    set found '\"set:one\"' has 1 members",
                 "Biggest   zset found '\"z:z\"' has 2 members",
                 "Biggest stream found '\"x:s\"' has 1 entries"]:
        assert_true(want in out, f"{want!r} not in:\n{out}")


@test
def redis_cli_memkeys_ranks_keys_by_memory_usage():
    srv = shared_server()
    load_sizes(fresh())
    out = srv.cli("--memkeys")
    assert_true("Biggest string found '\"s:large\"' has" in out, out)
    assert_true("Biggest   list found '\"l:long\"' has" in out, out)
    assert_true("Biggest   hash found '\"h:wide\"' has" in out, out)
    assert_true("Sampled 7 keys in the keyspace!" in out, out)
    out = srv.cli("--memkeys-samples", "0")
    assert_true("Biggest string found '\"s:large\"' has" in out, out)


if __name__ == "__main__":
    main()
