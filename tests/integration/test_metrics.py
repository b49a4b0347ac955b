"""The Prometheus endpoint (--metrics-port) of a real server: the figures of a stream and its
consumer group after XREADGROUP and XACK, exactly as XINFO reports them; the HTTP edge (404,
405, 400 for malformed and oversized requests, HEAD, 503 past the connection cap); the config
options; and the broker answering PING after all of it."""

import socket
import urllib.error
import urllib.request

from sluice_harness import (ReplyError, Server, ServerError, assert_eq, assert_true, free_port,
                            main, shared_server, test, wait_until)

METRICS_PORT = free_port()
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def server():
    return shared_server("--metrics-port", METRICS_PORT)


def scrape(port=METRICS_PORT, path="/metrics", method="GET"):
    """(status, headers, body text) of one request made with urllib."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


def samples(text):
    """{series: value} of every sample line ('name{labels}' -> float)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def raw_http(data, port=METRICS_PORT):
    """Sends bytes on a fresh connection and returns everything the server sends until it
    closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def status_line(response):
    return response.split(b"\r\n", 1)[0]


def assert_broker_alive():
    assert_eq(server().conn().call("PING"), "PONG")


def group_info(conn, key, group):
    for g in conn.call("XINFO", "GROUPS", key):
        fields = dict(zip(g[0::2], g[1::2]))
        if fields[b"name"] == group.encode():
            return fields
    raise AssertionError(f"no group {group} on {key}")


@test
def scrape_reports_stream_group_and_consumer_figures_as_xinfo_does():
    c = server().conn()
    c.call("FLUSHALL")
    c.call("CONFIG", "RESETSTAT")
    for i in range(1, 11):
        assert_eq(c.call("XADD", "jobs", f"{1000 + i}-0", "n", str(i)), f"{1000 + i}-0".encode())
    assert_eq(c.call("XGROUP", "CREATE", "jobs", "workers", "0"), "OK")
    c.call("XREADGROUP", "GROUP", "workers", "alice", "COUNT", "4", "STREAMS", "jobs", ">")
    c.call("XREADGROUP", "GROUP", "workers", "bob", "COUNT", "2", "STREAMS", "jobs", ">")
    assert_eq(c.call("XACK", "jobs", "workers", "1001-0"), 1)
    info = group_info(c, "jobs", "workers")
    assert_eq((info[b"lag"], info[b"pending"], info[b"consumers"]), (4, 5, 2))

    status, headers, body = scrape()
    assert_eq(status, 200)
    assert_eq(headers["Content-Type"], CONTENT_TYPE)
    assert_eq(int(headers["Content-Length"]), len(body.encode()))
    assert_eq(headers["Connection"], "close")
    m = samples(body)
    labels = 'db="0",stream="jobs",group="workers"'
    assert_eq(m['sluice_stream_length{db="0",stream="jobs"}'], 10.0)
    assert_eq(m['sluice_stream_last_id_ms{db="0",stream="jobs"}'], 1010.0)
    assert_eq(m['sluice_stream_entries_added_total{db="0",stream="jobs"}'], 10.0)
    assert_eq(m[f"sluice_group_lag{{{labels}}}"], 4.0)
    assert_eq(m[f"sluice_group_pending{{{labels}}}"], 5.0)
    assert_eq(m[f"sluice_group_consumers{{{labels}}}"], 2.0)
    assert_eq(m[f"sluice_group_last_delivered_id_ms{{{labels}}}"], 1006.0)
    assert_eq(m[f'sluice_consumer_pending{{{labels},consumer="alice"}}'], 3.0)
    assert_eq(m[f'sluice_consumer_pending{{{labels},consumer="bob"}}'], 2.0)
    assert_true(m[f'sluice_consumer_idle_seconds{{{labels},consumer="bob"}}'] >= 0.0)
    assert_eq(m["sluice_streams"], 1.0)
    assert_eq(m["sluice_stream_groups"], 1.0)
    assert_eq(m['sluice_keys{db="0"}'], 1.0)
    assert_eq(m['sluice_commands_total{cmd="xadd"}'], 10.0)
    assert_eq(m['sluice_commands_total{cmd="xreadgroup"}'], 2.0)
    assert_eq(m['sluice_commands_total{cmd="xack"}'], 1.0)
    assert_eq(m["sluice_metrics_truncated"], 0.0)
    assert_true(m["sluice_connected_clients"] >= 1.0)
    assert_true(m["sluice_used_memory_bytes"] > 0.0)
    assert_true("# TYPE sluice_group_lag gauge\n" in body)
    assert_true("# TYPE sluice_commands_total counter\n" in body)

    # Acking everything and reading the rest moves the figures as XINFO sees them.
    c.call("XREADGROUP", "GROUP", "workers", "alice", "STREAMS", "jobs", ">")
    c.call("XACK", "jobs", "workers", *[f"{1000 + i}-0" for i in range(1, 11)])
    m = samples(scrape()[2])
    assert_eq(m[f"sluice_group_lag{{{labels}}}"], 0.0)
    assert_eq(m[f"sluice_group_pending{{{labels}}}"], 0.0)
    assert_eq(m[f'sluice_consumer_pending{{{labels},consumer="alice"}}'], 0.0)


@test
def lag_is_absent_when_xinfo_shows_nil_and_errors_are_counted_by_prefix():
    c = server().conn()
    c.call("FLUSHALL")
    c.call("CONFIG", "RESETSTAT")
    for i in range(1, 5):
        c.call("XADD", "s", f"{i}-1", "f", "v")
    c.call("XGROUP", "CREATE", "s", "g", "0")
    c.call("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">")
    c.call("XDEL", "s", "3-1")
    assert_eq(group_info(c, "s", "g")[b"lag"], None)
    c.call("SET", "str", "x")
    assert_true(isinstance(c.call("XLEN", "str"), ReplyError))
    m = samples(scrape()[2])
    assert_true('sluice_group_lag{db="0",stream="s",group="g"}' not in m)
    assert_eq(m['sluice_group_pending{db="0",stream="s",group="g"}'], 1.0)
    assert_eq(m['sluice_stream_length{db="0",stream="s"}'], 3.0)
    assert_eq(m['sluice_errors_total{prefix="WRONGTYPE"}'], 1.0)
    assert_eq(m['sluice_keys{db="0"}'], 2.0)


@test
def metrics_options_show_in_config_get_and_only_max_series_and_token_change_at_runtime():
    c = server().conn()
    c.call("FLUSHALL")
    assert_eq(c.call("CONFIG", "GET", "metrics-*"),
              [b"metrics-port", str(METRICS_PORT).encode(), b"metrics-bind", b"127.0.0.1",
               b"metrics-max-series", b"10000", b"metrics-token", b"", b"metrics-tls", b"no"])
    err = c.call("CONFIG", "SET", "metrics-port", "9999")
    assert_eq(err.message, "ERR CONFIG SET failed (possibly related to argument 'metrics-port') "
                           "- can't set immutable config")
    err = c.call("CONFIG", "SET", "metrics-bind", "0.0.0.0")
    assert_eq(err.message, "ERR CONFIG SET failed (possibly related to argument 'metrics-bind') "
                           "- can't set immutable config")
    err = c.call("CONFIG", "SET", "metrics-tls", "yes")
    assert_eq(err.message, "ERR CONFIG SET failed (possibly related to argument 'metrics-tls') "
                           "- can't set immutable config")
    for key in ("a", "b"):
        c.call("XADD", key, "1-1", "f", "v")
    assert_eq(c.call("CONFIG", "SET", "metrics-max-series", "3"), "OK")
    try:
        m = samples(scrape()[2])
        assert_eq(m['sluice_stream_length{db="0",stream="a"}'], 1.0)
        assert_true('sluice_stream_length{db="0",stream="b"}' not in m)
        assert_eq(m["sluice_metrics_truncated"], 1.0)
    finally:
        c.call("CONFIG", "SET", "metrics-max-series", "10000")
    assert_eq(samples(scrape()[2])["sluice_metrics_truncated"], 0.0)


@test
def other_paths_methods_and_malformed_requests_get_4xx_and_the_broker_keeps_serving():
    # "/" is the web console's page (test_console_api); paths outside it and /metrics are 404.
    status, headers, body = scrape(path="/no-such-page")
    assert_eq(status, 404)
    assert_eq(headers["Connection"], "close")
    assert_eq(scrape(path="/metricsx")[0], 404)
    assert_eq(scrape(method="POST")[0], 405)
    assert_eq(scrape(method="DELETE")[0], 405)
    assert_eq(status_line(raw_http(b"NONSENSE\r\n\r\n")), b"HTTP/1.1 400 Bad Request")
    assert_eq(status_line(raw_http(b"GET /metrics HTTP/9.9\r\n\r\n")), b"HTTP/1.1 400 Bad Request")
    assert_eq(status_line(raw_http(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 50 + b"\n\n")),
              b"HTTP/1.1 400 Bad Request")
    # A head far past the 8 KiB limit: refused once the limit is reached, the rest drained.
    huge = b"GET /metrics HTTP/1.1\r\nX-Filler: " + b"a" * 100000 + b"\r\n\r\n"
    response = raw_http(huge)
    assert_eq(status_line(response), b"HTTP/1.1 400 Bad Request")
    assert_true(response.endswith(b"\r\n\r\nBad Request: request head longer than 8192 bytes\n"))
    # HEAD: the headers of GET, no body.
    head = raw_http(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_eq(status_line(head), b"HTTP/1.1 200 OK")
    assert_true(head.endswith(b"\r\nConnection: close\r\n\r\n"))
    # A connection that sends half a request and gives up, and one that sends nothing.
    with socket.create_connection(("127.0.0.1", METRICS_PORT), timeout=10) as s:
        s.sendall(b"GET /met")
    socket.create_connection(("127.0.0.1", METRICS_PORT), timeout=10).close()
    assert_broker_alive()
    assert_eq(scrape()[0], 200)


@test
def a_client_that_half_closes_after_its_request_still_gets_the_whole_response():
    with socket.create_connection(("127.0.0.1", METRICS_PORT), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    assert_eq(status_line(data), b"HTTP/1.1 200 OK")
    length = [h for h in head.split(b"\r\n") if h.startswith(b"Content-Length: ")][0]
    assert_eq(int(length.split(b": ")[1]), len(body))
    assert_true(b"\nsluice_metrics_truncated 0\n" in body)


@test
def connections_past_the_cap_get_503_and_a_freed_slot_serves_again():
    idle = [socket.create_connection(("127.0.0.1", METRICS_PORT), timeout=10) for _ in range(16)]
    try:
        assert_eq(status_line(raw_http(b"GET /metrics HTTP/1.1\r\n\r\n")),
                  b"HTTP/1.1 503 Service Unavailable")
        assert_broker_alive()
    finally:
        for s in idle:
            s.close()
    wait_until(lambda: status_line(raw_http(b"GET /metrics HTTP/1.1\r\n\r\n")) ==
               b"HTTP/1.1 200 OK", msg="a scrape answered 200 after the idle connections closed")


@test
def the_server_stops_cleanly_with_a_metrics_connection_open():
    with Server("--metrics-port", free_port()) as srv:
        port = int(srv.conn().call("CONFIG", "GET", "metrics-port")[1])
        lingering = socket.create_connection(("127.0.0.1", port), timeout=10)
        lingering.sendall(b"GET /metr")
        assert_eq(srv.conn().call("PING"), "PONG")
        srv.stop()  # checked: exit status 0, no sanitizer report
        assert_eq(lingering.recv(100), b"")
        lingering.close()


@test
def a_metrics_port_already_in_use_stops_the_start_with_a_message():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = taken.getsockname()[1]
        srv = Server("--metrics-port", busy, port=free_port(), start=False)
        try:
            srv.start()
            raise AssertionError("the server started although its metrics port was taken")
        except ServerError:
            pass
        assert_true(f"Could not create the metrics listening socket 127.0.0.1:{busy}"
                    in srv.log_text(), srv.log_tail())


@test
def the_startup_log_names_the_metrics_address_and_no_port_means_no_endpoint():
    srv = server()
    assert_true(f"Metrics endpoint listening on http://127.0.0.1:{METRICS_PORT}/metrics"
                in srv.log_text(), srv.log_tail())
    with Server() as plain:
        assert_eq(plain.conn().call("CONFIG", "GET", "metrics-port"), [b"metrics-port", b"0"])
        assert_true("Metrics endpoint" not in plain.log_text(), plain.log_tail())


if __name__ == "__main__":
    main()
