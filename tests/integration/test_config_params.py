#!/usr/bin/env python3
"""Redis 7.0's configuration parameters: CONFIG GET * lists every one redis-server 7.0 lists,
with the same defaults where the value can be the same; each is accepted by CONFIG SET like
redis-server accepts it, by the config file and by the command line; aliases answer under the
name asked; CONFIG REWRITE keeps comments, renames aliases, appends changed options and
comments out lines it cannot read, as redis-server does."""

import shutil
import subprocess
import tempfile
from pathlib import Path

from sluice_harness import (Server, assert_eq, assert_true, free_port, main, shared_server,
                            test)

REPO = Path(__file__).resolve().parents[2]

# Parameters Sluice has and redis-server does not (its own features).
SLUICE_ONLY = {
    "io-uring", "busy-poll-us", "recovery-on-corruption", "stream-segment-bytes",
    "stream-group-inactive-ms", "stream-retention-ms", "stream-retention-bytes",
    "stream-tail-cache-bytes", "metrics-port", "metrics-bind", "metrics-max-series",
    "metrics-token", "metrics-tls", "console-admin", "stream-segment-compression",
    "stream-segment-compression-level",
}

# Defaults that differ on purpose, and why.
DIFFERENT_DEFAULTS = {
    "port": "each server gets its own free port",
    "dir": "each server gets its own directory",
    "appendonly": "Sluice always persists (yes); the reference runs with --appendonly no",
    "save": "the reference runs with --save ''",
}


def config_map(conn, pattern="*"):
    reply = conn.call("CONFIG", "GET", pattern)
    if isinstance(reply, dict):
        return {k.decode(): v.decode() for k, v in reply.items()}
    return {reply[i].decode(): reply[i + 1].decode() for i in range(0, len(reply), 2)}


def reference():
    return Server(redis=True)


@test
def config_get_star_lists_every_redis_parameter_with_its_default():
    with reference() as redis:
        want = config_map(redis.conn())
    got = config_map(shared_server().conn())
    missing = sorted(set(want) - set(got))
    assert_eq(missing, [], "parameters of redis-server 7.0 missing from CONFIG GET *")
    assert_eq(sorted(set(got) - set(want)), sorted(SLUICE_ONLY))
    assert_eq(len(want), 192)
    differ = {name: (got[name], want[name]) for name in want
              if got[name] != want[name] and name not in DIFFERENT_DEFAULTS}
    assert_eq(differ, {}, "defaults that differ from redis-server's (sluice, redis)")


@test
def config_set_of_the_current_value_is_answered_as_redis_answers_it():
    # For every parameter: CONFIG SET <name> <its value> is OK where redis-server says OK, and
    # the same error where it refuses (immutable, protected).
    with reference() as redis:
        rconn = redis.conn()
        values = config_map(rconn)
        sconn = shared_server().conn()
        own = config_map(sconn)
        # Sluice fixes these while running (the listening socket, the data directory, the
        # persistence mode and the unix socket are set up at start).
        fixed = {"port", "bind", "appendonly", "dir", "save", "requirepass", "masterauth",
                 "masteruser"}
        mismatched = {}
        for name in sorted(values):
            if name in fixed:
                continue
            value = own[name]
            r = rconn.call("CONFIG", "SET", name, value)
            s = sconn.call("CONFIG", "SET", name, value)
            r_text = r if isinstance(r, str) else str(r)
            s_text = s if isinstance(s, str) else str(s)
            if r_text != s_text:
                mismatched[name] = (s_text, r_text)
        assert_eq(mismatched, {}, "CONFIG SET answers that differ (sluice, redis)")
        assert_eq(config_map(sconn), own, "setting the current values changed something")


@test
def aliases_answer_under_the_name_asked_and_share_the_value():
    conn = shared_server().conn()
    pairs = [("slave-lazy-flush", "replica-lazy-flush", "yes", "no"),
             ("hash-max-ziplist-entries", "hash-max-listpack-entries", "100", "512"),
             ("zset-max-ziplist-value", "zset-max-listpack-value", "1kb", "64"),
             ("list-max-ziplist-size", "list-max-listpack-size", "-3", "-2"),
             ("repl-ping-slave-period", "repl-ping-replica-period", "7", "10"),
             ("cluster-slave-validity-factor", "cluster-replica-validity-factor", "3", "10"),
             ("lua-time-limit", "busy-reply-threshold", "4000", "5000")]
    for alias, name, value, default in pairs:
        assert_eq(conn.call("CONFIG", "SET", alias, value), "OK")
        shown = str(int(value[:-2]) * 1024) if value.endswith("kb") else value
        assert_eq(config_map(conn, alias), {alias: shown})
        assert_eq(config_map(conn, name), {name: shown})
        assert_eq(conn.call("CONFIG", "SET", name, default), "OK")
        assert_eq(config_map(conn, alias), {alias: default})
    both = config_map(conn, "*lazy-flush")
    assert_eq(both, {"replica-lazy-flush": "no", "slave-lazy-flush": "no"})


@test
def the_shipped_config_file_loads_and_sets_what_it_says():
    conf = REPO / "config" / "sluice.conf"
    with Server(template=f"{Server(start=False).binary} {conf} --port {{port}} --dir {{dir}}") \
            as srv:
        got = config_map(srv.conn())
    for line in conf.read_text().splitlines():
        words = line.split(None, 1)
        if not words or words[0].startswith("#") or len(words) < 2:
            continue
        name, value = words[0], words[1].strip('"')
        # metrics-bind "" shows the addresses of bind; sizes are shown in bytes.
        if name in ("dir", "port", "metrics-bind") or value.endswith(("mb", "kb", "gb")):
            continue
        assert_eq(got[name], value, f"{name} from sluice.conf")


@test
def file_and_command_line_accept_redis_only_parameters_and_aliases():
    with Server(start=False) as srv:
        conf = srv.root / "redis.conf"
        conf.write_text("activerehashing no\n"
                        "hash-max-ziplist-entries 100\n"
                        "slave-ignore-maxmemory no\n"
                        "maxmemory-clients 10%\n"
                        "unixsocketperm 700\n"
                        "oom-score-adj-values \"10 20 30\"\n"
                        "shutdown-on-sigterm force nosave\n"
                        "list-max-ziplist-entries 512\n"
                        "lua-replicate-commands yes\n")
        srv.template = (f"{srv.binary} {conf} --port {{port}} --dir {{dir}} "
                        "--syslog-ident sluicy --cluster-announce-bus-port 16000")
        srv.start()
        got = config_map(srv.conn())
    assert_eq({k: got[k] for k in ("activerehashing", "hash-max-listpack-entries",
                                   "replica-ignore-maxmemory", "maxmemory-clients",
                                   "unixsocketperm", "oom-score-adj-values",
                                   "shutdown-on-sigterm", "syslog-ident",
                                   "cluster-announce-bus-port")},
              {"activerehashing": "no", "hash-max-listpack-entries": "100",
               "replica-ignore-maxmemory": "no", "maxmemory-clients": "10%",
               "unixsocketperm": "700", "oom-score-adj-values": "10 20 30",
               "shutdown-on-sigterm": "nosave force", "syslog-ident": "sluicy",
               "cluster-announce-bus-port": "16000"})


@test
def a_bad_value_in_the_file_stops_the_start_with_redis_reason():
    root = Path(tempfile.mkdtemp(prefix="sluice-badconf-"))
    try:
        conf = root / "bad.conf"
        conf.write_text("active-defrag-cycle-min 0\n")
        proc = subprocess.run([Server(start=False).binary, str(conf), "--port", str(free_port()),
                               "--dir", str(root)], capture_output=True, text=True, timeout=30)
        assert_true(proc.returncode != 0, "a server started with an out-of-range value")
        assert_true("'active-defrag-cycle-min 0': argument must be between 1 and 99 inclusive"
                    in proc.stderr, proc.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)


REWRITE_BASE = """# top comment
bind 127.0.0.1

# a comment about hz
hz 10
slave-read-only yes
hash-max-ziplist-entries 100
appendonly no
maxmemory 10mb
maxmemory 20mb
"""


def rewrite_on(srv, conf):
    conn = srv.conn()
    assert_eq(conn.call("CONFIG", "SET", "hz", "20"), "OK")
    assert_eq(conn.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"), "OK")
    assert_eq(conn.call("CONFIG", "SET", "slave-lazy-flush", "yes"), "OK")
    assert_eq(conn.call("CONFIG", "SET", "lazyfree-lazy-expire", "no"), "OK")  # the default
    with open(conf, "a") as f:
        f.write("bogus-option 1 2\n")
    assert_eq(conn.call("CONFIG", "REWRITE"), "OK")
    return conf.read_text().splitlines()


def check_rewritten(lines, who):
    assert_eq(lines[:9], ["# top comment", "bind 127.0.0.1", "", "# a comment about hz",
                          "hz 20", "replica-read-only yes", "hash-max-listpack-entries 100",
                          "appendonly no", "maxmemory 20mb"], who)
    assert_true("# ??? bogus-option 1 2" in lines, f"{who}: {lines}")
    tail = lines[lines.index("# Generated by CONFIG REWRITE") + 1:]
    assert_true("replica-lazy-flush yes" in tail and "maxmemory-policy allkeys-lru" in tail,
                f"{who}: {tail}")
    assert_true(not any(line.startswith("lazyfree-lazy-expire") for line in lines),
                f"{who}: an option left at its default was written")
    assert_eq(sum(line.startswith("maxmemory ") for line in lines), 1, who)


@test
def config_rewrite_keeps_comments_and_rewrites_like_redis():
    for redis in (True, False):
        with Server(start=False, redis=redis) as srv:
            conf = srv.root / "server.conf"
            conf.write_text(REWRITE_BASE)
            srv.template = f"{srv.binary} {conf} --port {{port}} --dir {{dir}}" + (
                " --save '' --daemonize no" if redis else "")
            srv.start()
            check_rewritten(rewrite_on(srv, conf), "redis" if redis else "sluice")
            if not redis:
                # The rewritten file loads again with the values set at runtime.
                srv.restart()
                got = config_map(srv.conn())
                assert_eq((got["hz"], got["replica-lazy-flush"], got["maxmemory"]),
                          ("20", "yes", str(20 << 20)))


@test
def protected_configs_are_refused_as_redis_refuses_them():
    conn = shared_server().conn()
    for name, value in (("dir", "/tmp"), ("dbfilename", "x.rdb")):
        reply = conn.call("CONFIG", "SET", name, value)
        assert_eq(str(reply), f"ERR CONFIG SET failed (possibly related to argument '{name}') - "
                  "can't set protected config")
    with Server("--enable-protected-configs", "yes") as srv:
        c = srv.conn()
        assert_eq(c.call("CONFIG", "SET", "dbfilename", "x.rdb"), "OK")
        assert_eq(config_map(c, "dbfilename"), {"dbfilename": "x.rdb"})
        assert_eq(str(c.call("CONFIG", "SET", "dbfilename", "a/b")),
                  "ERR CONFIG SET failed (possibly related to argument 'dbfilename') - "
                  "dbfilename can't be a path, just a filename")


@test
def latency_tracking_info_percentiles_choose_the_info_fields():
    with Server() as srv:
        c = srv.conn()
        c.call("SET", "k", "v")
        assert_eq(c.call("CONFIG", "SET", "latency-tracking-info-percentiles", "50 99.5 100"),
                  "OK")
        assert_eq(config_map(c, "latency-tracking-info-percentiles"),
                  {"latency-tracking-info-percentiles": "50 99.5 100"})
        info = c.call("INFO", "latencystats").decode()
        line = next(l for l in info.splitlines() if l.startswith("latency_percentiles_usec_set:"))
        keys = [part.split("=")[0] for part in line.split(":", 1)[1].split(",")]
        assert_eq(keys, ["p50", "p99.5", "p100"])
        # None: every command's line is there, empty, as in Redis.
        assert_eq(c.call("CONFIG", "SET", "latency-tracking-info-percentiles", ""), "OK")
        info = c.call("INFO", "latencystats").decode()
        assert_true("latency_percentiles_usec_set:\r\n" in info, info)


@test
def hash_thresholds_apply_to_writes_restore_and_restart():
    with Server("--hash-max-ziplist-entries", "4") as srv:
        c = srv.conn()
        c.call("HSET", "small", "f1", "1", "f2", "2", "f3", "3")
        c.call("HSET", "big", *[x for i in range(5) for x in (f"f{i}", str(i))])
        assert_eq((c.call("OBJECT", "ENCODING", "small"), c.call("OBJECT", "ENCODING", "big")),
                  (b"listpack", b"hashtable"))
        payload = c.call("DUMP", "small")
        assert_eq(c.call("CONFIG", "SET", "hash-max-listpack-entries", "2"), "OK")
        assert_eq(c.call("RESTORE", "copy", "0", payload), "OK")
        assert_eq(c.call("OBJECT", "ENCODING", "copy"), b"hashtable")
        assert_eq(c.call("CONFIG", "SET", "hash-max-listpack-entries", "4"), "OK")
        # A restart loads each hash under the limits then in force, as Redis loads an RDB: the
        # 3-field copy fits in 4 again.
        srv.restart()
        c = srv.conn()
        assert_eq([c.call("OBJECT", "ENCODING", k) for k in ("small", "big", "copy")],
                  [b"listpack", b"hashtable", b"listpack"])
        assert_eq(c.call("HGETALL", "small"), [b"f1", b"1", b"f2", b"2", b"f3", b"3"])


@test
def acl_pubsub_default_applies_to_config_file_users():
    with Server(start=False) as srv:
        conf = srv.root / "acl.conf"
        conf.write_text("user worker on nopass ~* +@all\n"
                        "acl-pubsub-default allchannels\n")
        srv.template = f"{srv.binary} {conf} --port {{port}} --dir {{dir}}"
        srv.start()
        c = srv.conn()
        assert_eq(c.call("ACL", "LIST"), [b"user default on nopass ~* &* +@all",
                                          b"user worker on nopass ~* &* +@all"])
        assert_eq(c.call("CONFIG", "SET", "acl-pubsub-default", "resetchannels"), "OK")
        assert_eq(c.call("ACL", "SETUSER", "other", "on", "nopass", "+@all"), "OK")
        user = c.call("ACL", "GETUSER", "other")
        assert_eq(user[user.index(b"channels") + 1], b"")


@test
def include_loads_other_files_where_it_stands():
    with Server(start=False) as srv:
        extra = srv.root / "conf.d"
        extra.mkdir()
        (extra / "a.conf").write_text("hz 20\nslowlog-max-len 7\n")
        (extra / "b.conf").write_text("hz 30\n")
        (srv.root / "one.conf").write_text("maxmemory-samples 9\n")
        conf = srv.root / "main.conf"
        conf.write_text(f"hz 5\ninclude {srv.root / 'one.conf'}\ninclude {extra}/*.conf\n"
                        f"include {srv.root}/nothing-*.conf\nslowlog-max-len 8\n")
        srv.template = f"{srv.binary} {conf} --port {{port}} --dir {{dir}}"
        srv.start()
        got = config_map(srv.conn())
        assert_eq((got["hz"], got["slowlog-max-len"], got["maxmemory-samples"]), ("30", "8", "9"))
        # CONFIG REWRITE keeps the include lines.
        assert_eq(srv.conn().call("CONFIG", "REWRITE"), "OK")
        assert_true(f"include {extra}/*.conf" in conf.read_text().splitlines(), conf.read_text())


if __name__ == "__main__":
    main()
