"""TLS: tls-port beside the plain port (or alone with port 0), client certificates
(tls-auth-clients), certificate reload by CONFIG SET, bad input on the TLS port, big values, and
the metrics endpoint over HTTPS, ioredis and the project's C++ client (examples/tls_ping) with and
without client certificates. The certificates (a CA, two server certificates with distinct
serials, a client certificate) are made with the openssl CLI in a temporary directory."""

import atexit
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import redis

from node_modules import run_node
from sluice_harness import *

CERTS = Path(tempfile.mkdtemp(prefix="sluice-tls-certs-"))
if not os.environ.get("SLUICE_KEEP_TMP"):
    atexit.register(shutil.rmtree, CERTS, ignore_errors=True)
SERVER_SERIAL = 0x5101
RELOAD_SERIAL = 0x5202


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=CERTS, timeout=60)


def _make_cert(name, serial, extensions, ca="ca"):
    """An EC key and a certificate signed by the CA, with the given serial and extensions."""
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    (CERTS / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-set_serial", str(serial), "-days", "2", "-sha256", "-out", f"{name}.crt",
             "-extfile", f"{name}.ext")


def _make_certs():
    _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "2", "-subj", "/CN=Sluice Test CA")
    server_ext = ("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                  "extendedKeyUsage=serverAuth\n")
    _make_cert("server", SERVER_SERIAL, server_ext)
    _make_cert("reloaded", RELOAD_SERIAL, server_ext)
    _make_cert("client", 0x6101, "extendedKeyUsage=clientAuth\n")
    # A CA nobody trusts, and a client certificate from it.
    _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "rogue.key", "-out",
             "rogue.crt", "-days", "2", "-subj", "/CN=Rogue CA")
    _make_cert("rogue-client", 0x6102, "extendedKeyUsage=clientAuth\n", ca="rogue")


_make_certs()


def cert(name):
    return str(CERTS / name)


def tls_args(tls_port, *extra):
    return ("--tls-port", tls_port, "--tls-cert-file", cert("server.crt"), "--tls-key-file",
            cert("server.key"), "--tls-ca-cert-file", cert("ca.crt"), *extra)


def tls_server(*extra):
    """A server with a plain port (the harness's) and a TLS port (srv.tls_port)."""
    tls_port = free_port()
    srv = Server(*tls_args(tls_port, *extra))
    srv.tls_port = tls_port
    return srv


_shared = None


def shared_tls():
    global _shared
    if _shared is None or not _shared.alive:
        _shared = tls_server()
    return _shared


def client_context(with_cert=True, client="client"):
    ctx = ssl.create_default_context(cafile=cert("ca.crt"))
    if with_cert:
        ctx.load_cert_chain(cert(f"{client}.crt"), cert(f"{client}.key"))
    return ctx


def tls_socket(port, with_cert=True, client="client"):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return client_context(with_cert, client).wrap_socket(raw, server_hostname="127.0.0.1")


def tls_redis(port, with_cert=True, **kwargs):
    args = dict(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=cert("ca.crt"),
                ssl_cert_reqs="required", socket_timeout=20)
    if with_cert:
        args.update(ssl_certfile=cert("client.crt"), ssl_keyfile=cert("client.key"))
    args.update(kwargs)
    return redis.Redis(**args)


def tls_cli(port, *args, with_cert=True, check=True):
    cmd = ["redis-cli", "--tls", "--cacert", cert("ca.crt"), "-h", "127.0.0.1", "-p", str(port)]
    if with_cert:
        cmd += ["--cert", cert("client.crt"), "--key", cert("client.key")]
    result = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                            timeout=20, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"redis-cli {args} exited {result.returncode}: {result.stderr}")
    return result.stdout.strip()


def served_serial(port):
    with tls_socket(port) as s:
        return int(s.getpeercert()["serialNumber"], 16)


def assert_refused(port, with_cert=True, client="client"):
    """The server ends the session: the handshake or the first reply fails."""
    try:
        with tls_socket(port, with_cert, client) as s:
            s.sendall(encode_command("PING"))
            data = s.recv(100)
        raise AssertionError(f"expected the connection to be refused, got {data!r}")
    except (ssl.SSLError, ConnectionError, OSError) as exc:
        return exc


@test
def redis_cli_ping_set_get_over_tls():
    srv = shared_tls()
    assert_eq(tls_cli(srv.tls_port, "PING"), "PONG")
    assert_eq(tls_cli(srv.tls_port, "SET", "greeting", "hello tls"), "OK")
    assert_eq(tls_cli(srv.tls_port, "GET", "greeting"), "hello tls")
    # The same data through the plain port: one keyspace, two listeners.
    assert_eq(srv.cli("GET", "greeting"), "hello tls")


@test
def redis_cli_streams_over_tls():
    srv = shared_tls()
    assert_eq(tls_cli(srv.tls_port, "XADD", "events", "1-1", "kind", "login"), "1-1")
    assert_eq(tls_cli(srv.tls_port, "XADD", "events", "2-1", "kind", "logout"), "2-1")
    out = tls_cli(srv.tls_port, "XREAD", "COUNT", "10", "STREAMS", "events", "0").split("\n")
    assert_eq([line for line in out if line in ("1-1", "2-1", "login", "logout")],
              ["1-1", "login", "2-1", "logout"])


@test
def redis_cli_subscribe_over_tls_gets_published_messages():
    srv = shared_tls()
    # (stdbuf: redis-cli's stdout is a pipe here, which stdio would buffer.)
    cmd = ["stdbuf", "-oL", "redis-cli", "--tls", "--cacert", cert("ca.crt"), "--cert",
           cert("client.crt"),
           "--key", cert("client.key"), "-h", "127.0.0.1", "-p", str(srv.tls_port),
           "SUBSCRIBE", "news"]
    sub = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           stdin=subprocess.DEVNULL)
    try:
        plain = srv.client()
        wait_until(lambda: plain.pubsub_numsub("news")[0][1] == 1, msg="subscriber registered")
        assert_eq(plain.publish("news", "first"), 1)
        assert_eq(tls_redis(srv.tls_port).publish("news", "second"), 1)
        lines = []
        while "second" not in lines:
            line = sub.stdout.readline()
            if line == "":
                raise AssertionError(f"redis-cli ended early: {sub.stderr.read()}")
            lines.append(line.strip())
        assert_eq([x for x in lines if x in ("first", "second")], ["first", "second"])
    finally:
        sub.kill()
        sub.wait()


@test
def redis_py_over_tls():
    srv = shared_tls()
    r = tls_redis(srv.tls_port)
    assert_true(r.ping())
    r.set("counter", 10)
    assert_eq(r.incrby("counter", 5), 15)
    assert_eq(r.xadd("jobs", {"n": "1"}, id="5-0"), b"5-0")
    assert_eq(r.xread({"jobs": "0"}), [[b"jobs", [(b"5-0", {b"n": b"1"})]]])
    p = r.pubsub()
    p.subscribe("alerts")
    assert_eq(p.get_message(timeout=5)["type"], "subscribe")
    assert_eq(srv.client().publish("alerts", "fire"), 1)
    msg = p.get_message(timeout=5)
    assert_eq((msg["type"], msg["data"]), ("message", b"fire"))
    p.close()
    r.close()


@test_both
def raw_resp_over_tls(protocol):
    srv = shared_tls()
    with tls_socket(srv.tls_port) as s:
        if protocol == 3:
            assert_true(raw_command(s, "HELLO", "3").startswith(b"%"))
        assert_eq(raw_command(s, "SET", "raw", "v"), b"+OK\r\n")
        assert_eq(raw_command(s, "HGETALL", "nohash"),
                  b"*0\r\n" if protocol == 2 else b"%0\r\n")
        assert_eq(raw_command(s, "SUBSCRIBE", "rawchan"),
                  (b"*3\r\n" if protocol == 2 else b">3\r\n") +
                  b"$9\r\nsubscribe\r\n$7\r\nrawchan\r\n:1\r\n")
        assert_eq(srv.client().publish("rawchan", "m"), 1)
        assert_eq(read_reply(s, timeout=5),
                  (b"*3\r\n" if protocol == 2 else b">3\r\n") +
                  b"$7\r\nmessage\r\n$7\r\nrawchan\r\n$1\r\nm\r\n")


@test
def pipelined_commands_over_tls():
    srv = shared_tls()
    r = tls_redis(srv.tls_port)
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"p:{i}", i)
    for i in range(2000):
        pipe.get(f"p:{i}")
    replies = pipe.execute()
    assert_eq(replies[:2000], [True] * 2000)
    assert_eq(replies[2000:], [str(i).encode() for i in range(2000)])


@test(timeout=120)
def ten_megabyte_value_over_tls():
    srv = shared_tls()
    r = tls_redis(srv.tls_port)
    value = os.urandom(10 * 1024 * 1024)
    assert_true(r.set("big", value))
    assert_eq(r.strlen("big"), len(value))
    got = r.get("big")
    assert_eq(len(got), len(value))
    assert_true(got == value, "the 10 MB value came back changed")
    # And a plain client sees the same bytes.
    assert_true(srv.client().get("big") == value)


@test(timeout=120)
def slow_reader_of_a_big_reply_does_not_stall_others():
    srv = shared_tls()
    r = tls_redis(srv.tls_port)
    value = os.urandom(8 * 1024 * 1024)
    r.set("slowbig", value)
    with tls_socket(srv.tls_port) as slow:
        slow.sendall(encode_command("GET", "slowbig") * 4)  # 32 MB of replies, unread for now
        time.sleep(0.3)
        other = tls_redis(srv.tls_port)
        assert_eq(other.set("while-slow", "yes"), True)
        assert_eq(other.get("while-slow"), b"yes")
        want = (b"$%d\r\n" % len(value) + value + b"\r\n") * 4
        got = bytearray()
        while len(got) < len(want):
            chunk = slow.recv(1 << 20)
            assert_true(chunk, "connection closed before the replies were read")
            got += chunk
        assert_true(bytes(got) == want, "big replies came back changed")


@test(timeout=120)
def slow_tls_subscriber_is_cut_off_by_the_output_limit():
    with tls_server("--client-output-buffer-limit", "pubsub 2mb 0 0") as srv:
        fast = tls_redis(srv.tls_port).pubsub()
        fast.subscribe("fan")
        assert_eq(fast.get_message(timeout=5)["type"], "subscribe")
        slow = tls_socket(srv.tls_port)
        assert_true(raw_command(slow, "SUBSCRIBE", "fan").startswith(b"*3"))
        pub = srv.client()
        payload = b"x" * 65536
        receivers = []
        got = 0
        for _ in range(200):  # 13 MB: the slow subscriber never reads
            receivers.append(pub.publish("fan", payload))
            while True:  # the fast one keeps up
                msg = fast.get_message(timeout=0.01)
                if msg is None:
                    break
                got += 1
        assert_eq((receivers[0], receivers[-1]), (2, 1))
        stats = pub.info("stats")
        assert_eq(stats["client_output_buffer_limit_disconnections"], 1)
        while got < 200:
            msg = fast.get_message(timeout=5)
            assert_true(msg is not None, f"fast subscriber got {got} of 200")
            assert_eq(msg["data"], payload)
            got += 1
        assert_eq(pub.pubsub_numsub("fan"), [(b"fan", 1)])
        slow.close()
        fast.close()


@test(timeout=120)
def tls_with_io_uring_reply_sends():
    # Replies of TLS connections are encrypted and written by them, outside the send ring; plain
    # connections of the same server keep using it.
    with tls_server("--io-uring", "yes") as srv:
        r = tls_redis(srv.tls_port)
        value = os.urandom(3 * 1024 * 1024)
        assert_true(r.set("v", value))
        pipe = r.pipeline(transaction=False)
        for i in range(500):
            pipe.incr("n")
        assert_eq(pipe.execute()[-1], 500)
        assert_true(r.get("v") == value)
        assert_true(srv.client().get("v") == value)


@test(timeout=60)
def tls_clients_are_served_while_a_script_is_busy():
    with tls_server("--busy-reply-threshold", "200") as srv:
        held = tls_socket(srv.tls_port)
        assert_eq(raw_command(held, "PING"), b"+PONG\r\n")
        looping = socket.create_connection(("127.0.0.1", srv.port))
        looping.sendall(encode_command("EVAL", "local n = 0 while true do n = n + 1 end", "0"))
        wait_until(lambda: raw_command(held, "PING", timeout=5).startswith(b"-BUSY"),
                   timeout=10, interval=0.05, msg="BUSY over TLS")
        # A TLS connection opened during the script: its handshake runs in the busy loop.
        with tls_socket(srv.tls_port) as late:
            assert_true(raw_command(late, "GET", "x", timeout=5).startswith(b"-BUSY"))
            assert_eq(raw_command(late, "SCRIPT", "KILL", timeout=5), b"+OK\r\n")
        assert_true(read_reply(looping, timeout=5).startswith(b"-ERR Script killed"))
        assert_eq(raw_command(held, "PING", timeout=5), b"+PONG\r\n")
        held.close()
        looping.close()


# ---- ioredis and the project's C++ client over TLS -----------------------------------------

def ioredis_tls(port, with_cert):
    args = [port, cert("ca.crt")]
    if with_cert:
        args += [cert("client.crt"), cert("client.key")]
    return json.loads(run_node("ioredis_tls.js", *args, packages=["ioredis"]))


def assert_ioredis_served(port, with_cert):
    out = ioredis_tls(port, with_cert)
    assert_eq((out["ok"], out.get("error")), (True, None))
    assert_eq([out["ping"], out["set"], out["get"], out["entry"]],
              ["PONG", "OK", "over-tls", ["f", "v"]])
    # A verified TLS session, TLS 1.2 or 1.3 (tls-protocols' default).
    assert_eq(out["encrypted"], True)
    assert_eq(out["authorized"], True)
    assert_true(out["protocol"] in ("TLSv1.2", "TLSv1.3"), out["protocol"])


@test(timeout=120)
def ioredis_over_tls_with_and_without_a_client_certificate():
    # tls-auth-clients yes (the default): a certificate from the CA is served, none is refused.
    srv = shared_tls()
    assert_ioredis_served(srv.tls_port, with_cert=True)
    out = ioredis_tls(srv.tls_port, with_cert=False)
    assert_eq(out["ok"], False)
    assert_true(out["error"], repr(out))
    with tls_server("--tls-auth-clients", "no") as plain:
        assert_ioredis_served(plain.tls_port, with_cert=False)
    with tls_server("--tls-auth-clients", "optional") as optional:
        assert_ioredis_served(optional.tls_port, with_cert=False)
        assert_ioredis_served(optional.tls_port, with_cert=True)
    # The refused client left the shared server serving.
    assert_eq(srv.cli("PING"), "PONG")


def tls_ping(port, *extra, with_cert=True):
    """Runs the client library's TLS example (examples/tls_ping.cc): (exit status, output)."""
    binary = Path(server_binary()).parent / "examples" / "tls_ping"
    cmd = [str(binary), "--port", str(port), "--cacert", cert("ca.crt"), *extra]
    if with_cert:
        cmd += ["--cert", cert("client.crt"), "--key", cert("client.key")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout + result.stderr


@test(timeout=120)
def cpp_client_over_tls():
    srv = shared_tls()
    for protocol in ("3", "2"):
        rc, out = tls_ping(srv.tls_port, "--protocol", protocol)
        assert_eq(rc, 0, out)
        assert_true(f"SUMMARY ok protocol={protocol} ping=PONG set=OK get=tls-value" in out, out)
    # Without a certificate under tls-auth-clients yes the server ends the session.
    rc, out = tls_ping(srv.tls_port, with_cert=False)
    assert_eq(rc, 1, out)
    assert_true("SUMMARY failed" in out and "ping=error:" in out, out)
    # A server certificate for another name is refused by the client.
    rc, out = tls_ping(srv.tls_port, "--sni", "other.example")
    assert_eq(rc, 1, out)
    assert_true("TLS handshake failed" in out, out)
    with tls_server("--tls-auth-clients", "no") as plain:
        rc, out = tls_ping(plain.tls_port, with_cert=False)
        assert_eq(rc, 0, out)
        # With a password, HELLO AUTH runs inside the session.
    with tls_server("--requirepass", "s3cret") as guarded:
        rc, out = tls_ping(guarded.tls_port, "--password", "s3cret")
        assert_eq(rc, 0, out)
        rc, out = tls_ping(guarded.tls_port, "--password", "wrong")
        assert_eq(rc, 1, out)
        assert_true("WRONGPASS" in out, out)
    assert_eq(srv.cli("PING"), "PONG")


@test
def client_certificate_required_by_default():
    srv = shared_tls()
    assert_refused(srv.tls_port, with_cert=False)
    assert_refused(srv.tls_port, client="rogue-client")
    assert_true(tls_cli(srv.tls_port, "PING", with_cert=False, check=False) != "PONG")
    # With a certificate from the CA it is accepted, and the server stayed up.
    assert_true(tls_redis(srv.tls_port).ping())
    assert_eq(srv.cli("PING"), "PONG")


@test
def tls_auth_clients_no_and_optional():
    with tls_server("--tls-auth-clients", "no") as srv:
        assert_eq(tls_cli(srv.tls_port, "PING", with_cert=False), "PONG")
        assert_true(tls_redis(srv.tls_port, with_cert=False).ping())
    with tls_server("--tls-auth-clients", "optional") as srv:
        assert_true(tls_redis(srv.tls_port, with_cert=False).ping())
        assert_true(tls_redis(srv.tls_port).ping())
        # A certificate is optional, but one that does not verify is refused.
        assert_refused(srv.tls_port, client="rogue-client")
        assert_eq(srv.client().config_get("tls-auth-clients"), {"tls-auth-clients": "optional"})


@test
def plaintext_and_garbage_on_the_tls_port_are_dropped():
    srv = shared_tls()
    steady = tls_redis(srv.tls_port)
    assert_true(steady.set("steady", "still here"))
    for payload in (encode_command("PING"), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                    bytes(range(256)) * 8, b"\x16\x03\x01\x00\x05hello"):
        with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=5) as s:
            s.sendall(payload)
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass  # a TLS alert at most, then the close
            except ConnectionResetError:
                pass
    # A TLS client that goes away mid-handshake.
    with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01")
    wait_until(lambda: "Error accepting a TLS client connection" in srv.log_text(),
               msg="a log line for the failed handshake")
    assert_true(steady.ping(), "an established TLS client was disturbed")
    assert_eq(steady.get("steady"), b"still here")
    assert_eq(srv.cli("PING"), "PONG")
    assert_true(srv.alive)


@test
def renegotiation_is_refused():
    srv = shared_tls()
    ctx = client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        assert_eq(s.version(), "TLSv1.2")
        s.sendall(encode_command("PING"))
        assert_eq(s.recv(100), b"+PONG\r\n")
    # python's ssl cannot start a renegotiation; openssl s_client can ("R" on stdin). The
    # server answers with a no_renegotiation alert and drops that connection only.
    proc = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{srv.tls_port}", "-tls1_2", "-CAfile",
         cert("ca.crt"), "-cert", cert("client.crt"), "-key", cert("client.key")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        proc.stdin.write("R\n")
        proc.stdin.flush()  # kept open: s_client quits at the end of its input
        out = ""
        while "no renegotiation" not in out:
            line = proc.stdout.readline()
            if line == "":
                raise AssertionError(f"s_client ended without the alert: {out[-2000:]}")
            out += line
        assert_true("RENEGOTIATING" in out, out[-2000:])
    finally:
        proc.kill()
        proc.wait()
    assert_true(tls_redis(srv.tls_port).ping())


@test
def tls_protocols_limit_the_versions():
    with tls_server("--tls-protocols", "TLSv1.3") as srv:
        ctx = client_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        raw = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10)
        try:
            ctx.wrap_socket(raw, server_hostname="127.0.0.1").close()
            raise AssertionError("a TLSv1.2 handshake succeeded with tls-protocols TLSv1.3")
        except ssl.SSLError:
            raw.close()
        with tls_socket(srv.tls_port) as s:
            assert_eq(s.version(), "TLSv1.3")
        assert_eq(srv.client().config_get("tls-protocols"), {"tls-protocols": "TLSv1.3"})


@test(timeout=60)
def tls_only_with_port_zero():
    tls_port = free_port()
    srv = Server(*tls_args(tls_port, "--port", "0"), start=False)
    srv._spawn()
    try:
        wait_until(lambda: _tls_ping(tls_port), timeout=10, msg="TLS-only server ready")
        assert_eq(tls_cli(tls_port, "SET", "only", "tls"), "OK")
        assert_eq(tls_cli(tls_port, "GET", "only"), "tls")
        assert_true("ready to accept connections" in srv.log_text())
        assert_eq(tls_redis(tls_port).config_get("port"), {"port": "0"})
    finally:
        srv.stop()


def _tls_ping(port):
    try:
        return tls_redis(port, socket_timeout=2).ping()
    except (redis.ConnectionError, OSError):
        return False


@test
def config_set_reloads_the_certificate():
    with tls_server() as srv:
        assert_eq(served_serial(srv.tls_port), SERVER_SERIAL)
        held = tls_redis(srv.tls_port)
        assert_true(held.ping())
        admin = srv.client()
        assert_true(admin.config_set("tls-cert-file", cert("reloaded.crt"),
                                     "tls-key-file", cert("reloaded.key")))
        assert_eq(served_serial(srv.tls_port), RELOAD_SERIAL)
        assert_true(held.ping(), "an open connection is not touched by a reload")
        assert_eq(admin.config_get("tls-cert-file"), {"tls-cert-file": cert("reloaded.crt")})
        # A file that does not load: an error, and everything stays as it was.
        try:
            admin.config_set("tls-cert-file", cert("missing.crt"))
            raise AssertionError("CONFIG SET of a missing certificate succeeded")
        except redis.ResponseError as exc:
            assert_true("Unable to update TLS configuration" in str(exc), str(exc))
        assert_eq(admin.config_get("tls-cert-file"), {"tls-cert-file": cert("reloaded.crt")})
        assert_eq(served_serial(srv.tls_port), RELOAD_SERIAL)
        # A certificate whose key does not match is refused the same way.
        try:
            admin.config_set("tls-cert-file", cert("server.crt"))
            raise AssertionError("CONFIG SET of a certificate without its key succeeded")
        except redis.ResponseError as exc:
            assert_true("Unable to update TLS configuration" in str(exc), str(exc))
        assert_eq(served_serial(srv.tls_port), RELOAD_SERIAL)
        # Back to the first pair, over TLS this time.
        assert_true(held.config_set("tls-cert-file", cert("server.crt"), "tls-key-file",
                                    cert("server.key")))
        assert_eq(served_serial(srv.tls_port), SERVER_SERIAL)


@test
def encrypted_key_with_tls_key_file_pass_and_a_ca_directory():
    _openssl("pkey", "-in", "server.key", "-aes256", "-passout", "pass:s3cret", "-out",
             "server-enc.key")
    cadir = CERTS / "cadir"
    cadir.mkdir(exist_ok=True)
    shutil.copy(CERTS / "ca.crt", cadir / "ca.pem")
    _openssl("rehash", str(cadir))
    tls_port = free_port()
    with Server("--tls-port", tls_port, "--tls-cert-file", cert("server.crt"), "--tls-key-file",
                cert("server-enc.key"), "--tls-key-file-pass", "s3cret", "--tls-ca-cert-dir",
                str(cadir)) as srv:
        assert_true(tls_redis(tls_port).ping())
        assert_refused(tls_port, client="rogue-client")
        # A wrong passphrase by CONFIG SET: refused, the loaded context keeps serving.
        try:
            srv.client().config_set("tls-key-file-pass", "wrong")
            raise AssertionError("CONFIG SET of a wrong passphrase succeeded")
        except redis.ResponseError as exc:
            assert_true("Unable to update TLS configuration" in str(exc), str(exc))
        assert_true(tls_redis(tls_port).ping())


@test
def tls_dh_params_file_loads_and_a_bad_one_is_refused():
    _openssl("genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "dh_param:ffdhe2048",
             "-out", "dh.pem")
    with tls_server("--tls-dh-params-file", cert("dh.pem")) as srv:
        assert_true(tls_redis(srv.tls_port).ping())
        admin = srv.client()
        try:
            admin.config_set("tls-dh-params-file", cert("ca.crt"))  # not DH parameters
            raise AssertionError("CONFIG SET of a file without DH parameters succeeded")
        except redis.ResponseError as exc:
            assert_true("Unable to update TLS configuration" in str(exc), str(exc))
        assert_true("Failed to load DH parameters" in srv.log_text(), srv.log_tail())
        assert_eq(admin.config_get("tls-dh-params-file"), {"tls-dh-params-file": cert("dh.pem")})
        assert_true(tls_redis(srv.tls_port).ping())


@test
def config_set_tls_port_at_runtime():
    with Server() as srv:
        admin = srv.client()
        first, second = free_port(), free_port()
        try:
            admin.config_set("tls-port", first)  # no certificate yet
            raise AssertionError("CONFIG SET tls-port without a certificate succeeded")
        except redis.ResponseError as exc:
            assert_true("Unable to update TLS configuration" in str(exc), str(exc))
        assert_eq(admin.config_get("tls-port"), {"tls-port": "0"})
        assert_true(admin.config_set("tls-cert-file", cert("server.crt"), "tls-key-file",
                                     cert("server.key"), "tls-ca-cert-file", cert("ca.crt"),
                                     "tls-port", first))
        held = tls_redis(first)
        assert_true(held.ping())
        assert_true(admin.config_set("tls-port", second))
        assert_true(tls_redis(second).ping())
        assert_true(held.ping(), "a connection of the old port stays open")
        try:
            socket.create_connection(("127.0.0.1", first), timeout=2).close()
            raise AssertionError("the old tls-port still accepts connections")
        except ConnectionRefusedError:
            pass
        assert_true(admin.config_set("tls-port", 0))
        try:
            socket.create_connection(("127.0.0.1", second), timeout=2).close()
            raise AssertionError("tls-port 0 still accepts TLS connections")
        except ConnectionRefusedError:
            pass
        assert_eq(srv.cli("PING"), "PONG")


@test
def bad_tls_configuration_stops_startup():
    srv = Server("--tls-port", free_port(), "--tls-cert-file", cert("missing.crt"),
                 "--tls-key-file", cert("server.key"), "--tls-ca-cert-file", cert("ca.crt"),
                 start=False)
    srv._spawn()
    assert_eq(srv.proc.wait(timeout=20), 1)
    assert_true("Failed to configure TLS" in srv.log_text(), srv.log_tail())


@test
def tls_options_are_in_config_get():
    srv = shared_tls()
    c = srv.client()
    assert_eq(c.config_get("tls-port"), {"tls-port": str(srv.tls_port)})
    assert_eq(c.config_get("tls-session-cache-size"), {"tls-session-cache-size": "20480"})
    assert_eq(c.config_get("tls-session-cache-timeout"), {"tls-session-cache-timeout": "300"})
    assert_eq(c.config_get("tls-session-caching"), {"tls-session-caching": "yes"})
    assert_eq(c.config_get("tls-prefer-server-ciphers"), {"tls-prefer-server-ciphers": "no"})
    assert_eq(c.config_get("tls-auth-clients"), {"tls-auth-clients": "yes"})


@test
def session_resumption_with_session_caching():
    srv = shared_tls()
    ctx = client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # a session is known right after the handshake
    raw = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as first:
        first.sendall(encode_command("PING"))
        first.recv(100)
        session = first.session
    raw = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as second:
        assert_true(second.session_reused, "the TLS session was not resumed")
        second.sendall(encode_command("PING"))
        assert_eq(second.recv(100), b"+PONG\r\n")


@test
def metrics_over_https():
    port = free_port()
    with tls_server("--metrics-port", port, "--metrics-tls", "yes") as srv:
        srv.client().set("k", "v")
        ctx = client_context()
        body = wait_until(lambda: _fetch(f"https://127.0.0.1:{port}/metrics", ctx), timeout=10,
                          msg="metrics over https")
        assert_true("sluice_" in body or "redis_" in body, body[:300])
        # Plain HTTP on the HTTPS port gets nothing, and the endpoint keeps working.
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
            raise AssertionError("plain HTTP was answered on the HTTPS metrics port")
        except (OSError, ConnectionError, http_client_errors()):
            pass
        assert_true(_fetch(f"https://127.0.0.1:{port}/metrics", ctx))


def http_client_errors():
    import http.client
    return http.client.HTTPException


def _fetch(url, ctx):
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
            if resp.status != 200:
                return None
            return resp.read().decode()
    except OSError:
        return None


if __name__ == "__main__":
    main()
