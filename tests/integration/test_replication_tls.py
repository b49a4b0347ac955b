"""Replication over TLS (`tls-replication yes`): a replica connects to its master's tls-port with
a client certificate and authenticates with masterauth / masteruser; the full sync (a stream of
several segments) and the live stream travel encrypted. A replica without a certificate the
master accepts, or that does not trust the master's certificate, never gets its link up. The
certificates (a CA, one certificate for both servers, a CA nobody trusts) come from the openssl
CLI in a temporary directory."""

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sluice_harness import *

PKI = Path(tempfile.mkdtemp(prefix="sluice-repl-tls-"))
if not os.environ.get("SLUICE_KEEP_TMP"):
    atexit.register(shutil.rmtree, PKI, ignore_errors=True)


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=PKI, timeout=60)


def make_ca(name):
    openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj",
            f"/CN={name}")


def make_node_cert(name, ca):
    """A certificate good for both ends of a replication link (server and client auth)."""
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    (PKI / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\n"
                                     "extendedKeyUsage=serverAuth,clientAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-set_serial", "4242", "-days", "2", "-sha256", "-out", f"{name}.crt", "-extfile",
            f"{name}.ext")


make_ca("ca")
make_ca("other-ca")
make_node_cert("node", "ca")
make_node_cert("stranger", "other-ca")


def pki(name):
    return str(PKI / name)


def tls_options(cert="node", ca="ca"):
    return ["--tls-cert-file", pki(f"{cert}.crt"), "--tls-key-file", pki(f"{cert}.key"),
            "--tls-ca-cert-file", pki(f"{ca}.crt")]


def tls_master(*extra):
    tls_port = free_port()
    srv = Server("--tls-port", tls_port, *tls_options(), *extra)
    srv.tls_port = tls_port
    return srv


def tls_replica(master, *extra, cert="node", ca="ca"):
    return Server("--tls-replication", "yes", *tls_options(cert, ca), "--replicaof", "127.0.0.1",
                  master.tls_port, *extra)


def info(conn, section="replication"):
    out = {}
    for line in conn.call("INFO", section).decode().splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def stream_pages(conn, key):
    out, start = [], "-"
    while True:
        page = conn.call("XRANGE", key, start, "+", "COUNT", 2000)
        out += page
        if len(page) < 2000:
            return out
        start = "(" + page[-1][0].decode()


@test(timeout=180)
def a_replica_syncs_and_follows_over_tls_with_masterauth():
    with tls_master("--requirepass", "s3cret", "--stream-segment-bytes", "256kb") as master:
        m = master.conn()
        m.call("AUTH", "s3cret")
        value = "v" * 1000
        for start in range(0, 3000, 500):
            m.pipeline(*[("XADD", "big", "*", "i", start + j, "p", value) for j in range(500)])
        m.call("SET", "before", "sync")
        assert_true(int(info(m, "streams")["stream_segments"]) > 5, "several segments")
        with tls_replica(master, "--masterauth", "s3cret") as rep:
            r = rep.conn()
            wait_until(lambda: info(r).get("master_link_status") == "up", timeout=30,
                       msg="replica link up over TLS")
            for i in range(200):
                m.call("XADD", "big", "*", "live", i)
                m.call("INCR", "counter")
            assert_eq(m.call("WAIT", 1, 10000), 1)
            assert_eq(info(r)["slave_repl_offset"], info(m)["master_repl_offset"])
            assert_eq(r.call("GET", "before"), b"sync")
            assert_eq(r.call("GET", "counter"), b"200")
            assert_eq(stream_pages(r, "big"), stream_pages(m, "big"))
            # The master counts the replica on its TLS port.
            assert_eq(info(m)["connected_slaves"], "1")
            assert_eq(int(info(m, "stats")["sync_full"]), 1)


@test(timeout=120)
def masteruser_authenticates_an_acl_user_over_tls():
    with tls_master() as master:
        m = master.conn()
        m.call("XADD", "s", "1-1", "f", "v")
        assert_eq(m.call("ACL", "SETUSER", "repl", "on", ">pw", "+psync", "+replconf", "+ping"),
                  "OK")
        # Only the replication user may log in: the replica must use masteruser.
        assert_eq(m.call("ACL", "SETUSER", "default", "off"), "OK")
        with tls_replica(master, "--masteruser", "repl", "--masterauth", "pw") as rep:
            r = rep.conn()
            wait_until(lambda: info(r).get("master_link_status") == "up", timeout=30,
                       msg="replica link up with masteruser")
            assert_eq(r.call("XRANGE", "s", "-", "+"), [[b"1-1", [b"f", b"v"]]])
        # Without the user (AUTH <password> is the default user's) the master refuses it.
        with tls_replica(master, "--masterauth", "pw") as anonymous:
            wait_until(lambda: "AUTH" in anonymous.log_text(), timeout=30,
                       msg="the refused AUTH is logged")
            assert_eq(info(anonymous.conn()).get("master_link_status"), "down")


@test(timeout=120)
def a_replica_the_master_does_not_trust_or_that_does_not_trust_the_master_stays_down():
    with tls_master() as master, \
            tls_replica(master, cert="stranger", ca="other-ca") as stranger, \
            tls_replica(master, ca="other-ca") as distrustful:
        m = master.conn()
        m.call("SET", "secret", "1")
        # Both keep retrying (once a second) and never get a link.
        for srv in (stranger, distrustful):
            wait_until(lambda: "TLS" in srv.log_text(), timeout=30, msg="the TLS failure is logged")
        for srv in (stranger, distrustful):
            assert_eq(info(srv.conn()).get("master_link_status"), "down")
            assert_eq(srv.conn().call("EXISTS", "secret"), 0)
        assert_eq(info(m)["connected_slaves"], "0")
        assert_eq(m.call("PING"), "PONG")


if __name__ == "__main__":
    main()
