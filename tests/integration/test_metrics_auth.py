"""Credentials on the Prometheus endpoint (--metrics-port): once requirepass, an ACL user with
a password or metrics-token is set, a scrape needs HTTP Basic (an ACL user, the default user
or a bare password) or a Bearer metrics-token; without them it gets 401 with
WWW-Authenticate and a body that names no key. Without any password the endpoint is open."""

import base64
import re
import urllib.error
import urllib.request

from sluice_harness import (ReplyError, Server, assert_eq, assert_true, free_port, main,
                            test)

KEY = "secret-stream-name"


def scrape(port, authorization=None):
    """(status, headers, body text) of GET /metrics with an optional Authorization header."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if authorization is not None:
        req.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


def basic(user, password):
    text = password if user is None else f"{user}:{password}"
    return "Basic " + base64.b64encode(text.encode()).decode()


def assert_refused(port, authorization):
    status, headers, body = scrape(port, authorization)
    assert_eq(status, 401, f"Authorization {authorization!r}")
    assert_eq(headers["WWW-Authenticate"], 'Basic realm="sluice"')
    assert_true(KEY not in body and "sluice_" not in body, body)


def assert_served(port, authorization):
    status, _, body = scrape(port, authorization)
    assert_eq(status, 200, f"Authorization {authorization!r}: {body[:200]}")
    # The series of the stream made below are in the scrape.
    assert_true(f'stream="{KEY}"' in body, body[:2000])


def start(*args):
    port = free_port()
    srv = Server("--metrics-port", port, *args)
    return srv, port


def add_stream(srv, password=None, username=None):
    client = srv.client(password=password, username=username)
    client.xadd(KEY, {"f": "v"})


@test
def requirepass_guards_the_endpoint():
    srv, port = start("--requirepass", "s3cret", "--metrics-token", "tok-123")
    with srv:
        add_stream(srv, password="s3cret")
        assert_refused(port, None)
        assert_refused(port, basic("default", "wrong"))
        assert_refused(port, basic(None, "wrong"))
        assert_refused(port, "Bearer wrong-token")
        assert_refused(port, "Bearer s3cret")
        assert_refused(port, "Digest s3cret")
        assert_refused(port, "Basic !!!not-base64")
        assert_served(port, basic("default", "s3cret"))
        assert_served(port, basic("", "s3cret"))
        assert_served(port, basic(None, "s3cret"))
        assert_served(port, "Bearer tok-123")
        assert_served(port, "bearer tok-123")
        # The broker is still reachable on its RESP port with the password.
        assert_eq(srv.client(password="s3cret").ping(), True)


@test
def acl_user_with_password():
    srv, port = start("--requirepass", "s3cret")
    with srv:
        admin = srv.client(password="s3cret")
        admin.execute_command("ACL", "SETUSER", "scraper", "on", ">pw1", "~*", "+@all")
        add_stream(srv, password="s3cret")
        assert_served(port, basic("scraper", "pw1"))
        assert_refused(port, basic("scraper", "s3cret"))
        assert_refused(port, basic("nobody", "pw1"))
        # No metrics-token set: no Bearer token opens it.
        assert_refused(port, "Bearer ")
        assert_refused(port, "Bearer pw1")
        # A password set at runtime applies to the next scrape; removing it opens the endpoint.
        admin.config_set("requirepass", "")
        admin.execute_command("ACL", "DELUSER", "scraper")
        assert_served(port, None)


@test
def acl_user_without_requirepass():
    # The default user stays nopass, but a user with a password guards the endpoint.
    srv, port = start()
    with srv:
        add_stream(srv)
        assert_served(port, None)
        srv.client().execute_command("ACL", "SETUSER", "scraper", "on", ">pw1", "~*", "+@all")
        assert_refused(port, None)
        assert_served(port, basic("scraper", "pw1"))


@test
def open_without_password():
    srv, port = start()
    with srv:
        add_stream(srv)
        assert_served(port, None)
        # Credentials sent anyway are ignored.
        assert_served(port, basic("default", "anything"))
        assert_served(port, "Bearer anything")


@test
def failed_logins_go_to_acl_log_and_info():
    srv, port = start("--requirepass", "s3cret", "--metrics-token", "tok-123")
    with srv:
        add_stream(srv, password="s3cret")
        c = srv.conn()
        assert_eq(c.call("AUTH", "s3cret"), "OK")
        denied = lambda: int(re.search(rb"acl_access_denied_auth:(\d+)",  # noqa: E731
                                       c.call("INFO", "stats")).group(1))
        # A failed AUTH on the RESP port, for the fields Redis gives such an entry.
        other = srv.conn()
        assert_true(isinstance(other.call("AUTH", "bob", "nope"), ReplyError))
        resp_entry = log_entries(c)[0]
        assert_eq(denied(), 1)
        c.call("ACL", "LOG", "RESET")
        assert_refused(port, basic("alice", "wrong"))
        assert_refused(port, basic("alice", "again"))
        assert_refused(port, basic(None, "wrong"))
        assert_refused(port, "Bearer tok-999")
        # No credentials at all is no login attempt; good ones are no failure.
        assert_refused(port, None)
        assert_refused(port, "Digest abc")
        assert_served(port, basic("default", "s3cret"))
        assert_served(port, "Bearer tok-123")
        assert_eq(denied(), 5)
        entries = log_entries(c)
        # Newest first; the same user failing again counts up its entry, as Redis does.
        assert_eq([(e[b"username"], e[b"count"]) for e in entries],
                  [(b"metrics-token", 1), (b"default", 1), (b"alice", 2)])
        for e in entries:
            assert_eq(sorted(e.keys()), sorted(resp_entry.keys()))
            assert_eq((e[b"reason"], e[b"context"], e[b"object"]),
                      (b"auth", b"toplevel", b"AUTH"))
            info = e[b"client-info"].decode()
            # The HTTP peer: its address, the metrics listener as our end.
            assert_true(re.search(r"\baddr=127\.0\.0\.1:\d+ ", info), info)
            assert_true(f"laddr=127.0.0.1:{port} " in info, info)
            assert_true(" user=default " in info, info)
        # The RESP port is unaffected.
        assert_eq(c.call("PING"), "PONG")


def log_entries(c):
    """ACL LOG as dicts (RESP2 pairs)."""
    return [dict(zip(e[0::2], e[1::2])) for e in c.call("ACL", "LOG")]


@test
def metrics_token_config():
    srv, port = start("--metrics-token", "tok-123")
    with srv:
        add_stream(srv)
        assert_refused(port, None)
        assert_served(port, "Bearer tok-123")
        client = srv.client()
        assert_eq(client.config_get("metrics-token"), {"metrics-token": "tok-123"})
        client.config_set("metrics-token", "tok-456")
        assert_refused(port, "Bearer tok-123")
        assert_served(port, "Bearer tok-456")


@test
def secrets_stay_out_of_the_log():
    port = free_port()
    srv = Server("--metrics-port", port, "--requirepass", "pw-in-log-check",
                 "--masterauth", "master-pw-check", start=False)
    with srv:
        srv.start()
        assert_eq(srv.client(password="pw-in-log-check").ping(), True)
        srv.stop()
        # What the server wrote (the harness's own "=== start" line shows the command line).
        logged = "\n".join(line for line in srv.log_text().splitlines()
                           if not line.startswith("=== start"))
        assert_true("pw-in-log-check" not in logged, logged)
        assert_true("master-pw-check" not in logged, logged)
        # The endpoint binds to loopback by default.
        assert_true(f"Metrics endpoint listening on http://127.0.0.1:{port}/metrics" in logged,
                    logged)


if __name__ == "__main__":
    main()
