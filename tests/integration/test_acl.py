"""Access control: ACL users and rules, AUTH/HELLO, enforcement of commands, keys and channels
(top level, MULTI/EXEC, scripts), ACL LOG, INFO counters, aclfile, config users, requirepass,
rename-command and a deleted user losing its connection."""

from sluice_harness import *

import redis


def fresh():
    """The shared server with only the default user, an empty ACL LOG and no keys."""
    srv = shared_server()
    c = srv.conn()
    for name in c.call("ACL", "USERS"):
        if name != b"default":
            c.call("ACL", "DELUSER", name)
    c.call("ACL", "SETUSER", "default", "reset", "on", "nopass", "~*", "&*", "+@all")
    c.call("ACL", "LOG", "RESET")
    c.call("FLUSHALL")
    return srv, c


def login(srv, user, password, protocol=2):
    conn = srv.conn()
    if protocol == 3:
        assert_true(isinstance(conn.call("HELLO", "3", "AUTH", user, password), dict))
    else:
        assert_eq(conn.call("AUTH", user, password), "OK")
    return conn


def command_table(srv):
    """name -> (arity, flags, key positions, ACL categories) for every command and subcommand."""
    def d(x):
        return x.decode() if isinstance(x, bytes) else x
    table = {}

    def add(entry):
        flags = frozenset(d(f) for f in entry[2]) - UNMODELLED_FLAGS
        table[d(entry[0])] = (entry[1], flags, tuple(entry[3:6]), frozenset(d(c) for c in entry[6]))
        for sub in entry[9]:
            add(sub)

    for entry in srv.conn().call("COMMAND"):
        add(entry)
    return table


# Flags Sluice does not report: no cluster slot migration, async loading or replication hints.
UNMODELLED_FLAGS = frozenset({"no_async_loading", "may_replicate", "allow_busy", "skip_slowlog",
                              "no_mandatory_keys", "movablekeys", "asking"})


@test
def every_redis_command_has_its_arity_flags_keys_and_acl_categories():
    # ACL rules by category (-@dangerous, +@read...) and ACL DRYRUN decide from these, so a
    # category that differs from Redis's lets a user run what Redis would deny (CLIENT KILL was
    # @fast @connection here, so -@dangerous did not deny it). Compared with redis-server 7.0
    # for each of its commands and subcommands.
    with Server(redis=True) as ref:
        reference = command_table(ref)
    ours = command_table(shared_server())
    missing = sorted(set(reference) - set(ours))
    assert_eq(missing, [], "commands of Redis 7.0 missing")
    differ = [f"{name}: ours {ours[name]} redis {reference[name]}"
              for name in sorted(reference) if ours[name] != reference[name]]
    assert_eq(differ, [], "command table entries that differ from Redis 7.0")


@test
def setuser_and_list_print_rules_as_redis():
    srv, c = fresh()
    assert_eq(c.call("ACL", "SETUSER", "alice", "on", ">pw", "~cache:*", "%R~ro:*", "&news",
                     "+get", "+set"), "OK")
    lines = c.call("ACL", "LIST")
    alice = [l for l in lines if l.startswith(b"user alice ")][0]
    assert_true(alice.startswith(b"user alice on #" + __import__("hashlib").sha256(b"pw")
                                 .hexdigest().encode() + b" ~cache:* %R~ro:* resetchannels &news -@all "),
                alice)
    assert_true(b"+get" in alice and b"+set" in alice, alice)
    assert_eq(c.call("ACL", "USERS"), [b"alice", b"default"])
    user = c.call("ACL", "GETUSER", "alice")
    assert_eq(user[user.index(b"keys") + 1], b"~cache:* %R~ro:*")
    assert_eq(user[user.index(b"channels") + 1], b"&news")
    assert_eq(c.call("ACL", "GETUSER", "nobody"), None)


@test
def bad_rules_change_nothing():
    srv, c = fresh()
    c.call("ACL", "SETUSER", "bob", "on", "nopass", "+get")
    before = c.call("ACL", "GETUSER", "bob")
    assert_error(c.call("ACL", "SETUSER", "bob", "+set", "+nosuchcommand"),
                 "ERR Error in ACL SETUSER modifier '+nosuchcommand': Unknown command or "
                 "category name in ACL")
    assert_eq(c.call("ACL", "GETUSER", "bob"), before)
    assert_error(c.call("ACL", "DELUSER", "default"), "ERR The 'default' user cannot be removed")


@test_both
def auth_and_hello_auth(protocol):
    srv, c = fresh()
    c.call("ACL", "SETUSER", "carol", "on", ">secret", "~*", "+@all")
    conn = login(srv, "carol", "secret", protocol)
    assert_eq(conn.call("ACL", "WHOAMI"), b"carol")
    bad = srv.conn()
    assert_error(bad.call("AUTH", "carol", "wrong"),
                 "WRONGPASS invalid username-password pair or user is disabled.")
    assert_error(bad.call("HELLO", "3", "AUTH", "nobody", "x"),
                 "WRONGPASS invalid username-password pair or user is disabled.")
    c.call("ACL", "SETUSER", "carol", "off")
    assert_error(bad.call("AUTH", "carol", "secret"), "WRONGPASS")
    # redis-py with a username and password
    r = srv.client(username="default", password="anything")
    assert_eq(r.execute_command("ACL", "WHOAMI"), b"default")


@test
def key_patterns_with_read_and_write_access():
    srv, c = fresh()
    c.call("ACL", "SETUSER", "app", "on", ">pw", "+@all", "~app:*", "%R~shared:*", "%W~logs:*")
    c.call("SET", "shared:cfg", "1")
    r = srv.client(username="app", password="pw")
    assert_eq(r.set("app:1", "v"), True)
    assert_eq(r.get("app:1"), b"v")
    assert_eq(r.get("shared:cfg"), b"1")
    try:
        r.set("shared:cfg", "2")
        raise AssertionError("write to a read-only pattern was allowed")
    except redis.exceptions.NoPermissionError as e:
        assert_eq(str(e), "this user has no permissions to access one of the keys used as arguments")
    assert_eq(r.rpush("logs:x", "line"), 1)
    conn = login(srv, "app", "pw")
    assert_error(conn.call("LRANGE", "logs:x", "0", "-1"), "NOPERM this user has no permissions "
                 "to access one of the keys used as arguments")
    assert_error(conn.call("MGET", "app:1", "other"), "NOPERM")
    assert_error(conn.call("XREAD", "STREAMS", "other", "0"), "NOPERM")
    assert_eq(c.call("GET", "shared:cfg"), b"1")


@test
def commands_categories_and_subcommands():
    srv, c = fresh()
    c.call("ACL", "SETUSER", "ro", "on", ">pw", "~*", "+@read", "+client|id", "-keys")
    conn = login(srv, "ro", "pw")
    assert_eq(conn.call("GET", "x"), None)
    assert_error(conn.call("SET", "x", "1"),
                 "NOPERM this user has no permissions to run the 'set' command")
    assert_error(conn.call("KEYS", "*"),
                 "NOPERM this user has no permissions to run the 'keys' command")
    assert_true(isinstance(conn.call("CLIENT", "ID"), int))
    assert_error(conn.call("CLIENT", "KILL", "ID", "1"),
                 "NOPERM this user has no permissions to run the 'client|kill' command")
    assert_eq(c.call("ACL", "DRYRUN", "ro", "SET", "x", "1"),
              b"This user has no permissions to run the 'set' command")
    assert_eq(c.call("ACL", "DRYRUN", "ro", "GET", "x"), "OK")


@test
def selectors_add_permissions():
    srv, c = fresh()
    c.call("ACL", "SETUSER", "sel", "on", ">pw", "+get", "~r:*", "(+set ~w:*)")
    conn = login(srv, "sel", "pw")
    assert_eq(conn.call("SET", "w:1", "v"), "OK")
    assert_eq(conn.call("GET", "r:1"), None)
    assert_error(conn.call("SET", "r:1", "v"), "NOPERM")
    assert_error(conn.call("GET", "w:1"), "NOPERM")
    c.call("ACL", "SETUSER", "sel", "clearselectors")
    assert_error(conn.call("SET", "w:1", "v"), "NOPERM")


@test
def channels_for_publish_and_subscribe():
    srv, c = fresh()
    c.call("ACL", "SETUSER", "pub", "on", ">pw", "+@all", "~*", "resetchannels", "&news.*")
    conn = login(srv, "pub", "pw")
    assert_eq(conn.call("PUBLISH", "news.sport", "m"), 0)
    assert_error(conn.call("PUBLISH", "secret", "m"), "NOPERM this user has no permissions to "
                 "access one of the channels used as arguments")
    assert_error(conn.call("PSUBSCRIBE", "news.s*"), "NOPERM")
    sub = login(srv, "pub", "pw")
    assert_eq(sub.call("PSUBSCRIBE", "news.*"), [b"psubscribe", b"news.*", 1])
    # Rules that no longer allow the subscription close the subscriber, as in Redis.
    c.call("ACL", "SETUSER", "pub", "resetchannels", "&other")
    assert_true(sub.closed_by_server(), "subscriber kept its connection")


@test
def multi_exec_checks_at_queue_time_and_at_exec():
    srv, c = fresh()
    c.call("ACL", "SETUSER", "tx", "on", ">pw", "~*", "+@all", "-flushall")
    conn = login(srv, "tx", "pw")
    conn.call("MULTI")
    assert_error(conn.call("FLUSHALL"), "NOPERM")
    assert_error(conn.call("EXEC"), "EXECABORT")
    conn.call("MULTI")
    assert_eq(conn.call("SET", "a", "1"), "QUEUED")
    c.call("ACL", "SETUSER", "tx", "-set")
    reply = conn.call("EXEC")
    assert_error(reply[0], "NOPERM ACLs rules changed between the moment the transaction was "
                 "accumulated and the EXEC call. This command is no longer allowed for the "
                 "following reason: no permission to execute the command or subcommand")
    assert_eq(c.call("EXISTS", "a"), 0)


@test
def scripts_are_checked_per_call():
    srv, c = fresh()
    c.call("ACL", "SETUSER", "lua", "on", ">pw", "~*", "-@all", "+eval", "+get")
    conn = login(srv, "lua", "pw")
    assert_error(conn.call("EVAL", "return redis.call('set', KEYS[1], 1)", "1", "k"),
                 "ERR The user executing the script can't run this command or subcommand")
    assert_eq(conn.call("EVAL", "return redis.call('get', KEYS[1])", "1", "k"), None)
    c.call("ACL", "SETUSER", "lua", "+set", "resetkeys", "~mine:*")
    assert_error(conn.call("EVAL", "return redis.call('set', KEYS[1], 1)", "1", "k"), "NOPERM")
    assert_error(conn.call("EVAL", "return redis.call('set', 'other', 1)", "0"),
                 "ERR The user executing the script can't access at least one of the keys")
    assert_eq(c.call("EXISTS", "k", "other"), 0)
    log = c.call("ACL", "LOG", "1")[0]
    assert_eq(log[log.index(b"context") + 1], b"lua")


@test
def acl_log_and_info_counters():
    srv, c = fresh()
    c.call("CONFIG", "RESETSTAT")
    c.call("ACL", "SETUSER", "lg", "on", ">pw", "~k*", "&c", "+get", "+publish")
    conn = login(srv, "lg", "pw")
    conn.call("SET", "k", "1")
    conn.call("GET", "x")
    conn.call("GET", "x")
    conn.call("PUBLISH", "d", "1")
    srv.conn().call("AUTH", "lg", "bad")
    entries = c.call("ACL", "LOG")
    assert_eq(len(entries), 4)
    fields = [dict(zip(e[::2], e[1::2])) for e in entries]
    assert_eq([(f[b"reason"], f[b"object"], f[b"count"]) for f in fields],
              [(b"auth", b"AUTH", 1), (b"channel", b"d", 1), (b"key", b"x", 2),
               (b"command", b"set", 1)])
    assert_eq(fields[2][b"username"], b"lg")
    assert_true(b"user=lg" in fields[2][b"client-info"], fields[2][b"client-info"])
    info = c.call("INFO", "stats").decode()
    for line in ("acl_access_denied_auth:1", "acl_access_denied_cmd:1",
                 "acl_access_denied_key:2", "acl_access_denied_channel:1"):
        assert_true(line in info, line)
    assert_eq(c.call("ACL", "LOG", "RESET"), "OK")
    assert_eq(c.call("ACL", "LOG"), [])


@test
def deleted_user_loses_its_connection_disabled_user_keeps_it():
    srv, c = fresh()
    c.call("ACL", "SETUSER", "tmp", "on", ">pw", "~*", "+@all")
    conn = login(srv, "tmp", "pw")
    # As Redis 7.0: "off" stops new logins; connections already authenticated go on.
    c.call("ACL", "SETUSER", "tmp", "off")
    assert_eq(conn.call("PING"), "PONG")
    assert_error(srv.conn().call("AUTH", "tmp", "pw"), "WRONGPASS")
    other = login(srv, "default", "x")
    assert_error(c.call("CLIENT", "KILL", "USER", "nosuch"), "ERR No such user 'nosuch'")
    assert_eq(c.call("ACL", "DELUSER", "tmp", "nosuch"), 1)
    assert_true(conn.closed_by_server(), "a deleted user's connection stayed open")
    assert_eq(c.call("PING"), "PONG")
    c.call("ACL", "SETUSER", "tmp2", "on", ">pw", "~*", "+@all")
    victim = login(srv, "tmp2", "pw")
    assert_eq(c.call("CLIENT", "KILL", "USER", "tmp2"), 1)
    assert_true(victim.closed_by_server(), "CLIENT KILL USER left the connection open")
    assert_eq(other.call("PING"), "PONG")


@test
def requirepass_is_the_default_users_password():
    with Server("--requirepass", "s3cret") as srv:
        conn = srv.conn()
        assert_error(conn.call("GET", "x"), "NOAUTH Authentication required.")
        assert_error(conn.call("AUTH", "nope"), "WRONGPASS")
        assert_eq(conn.call("AUTH", "s3cret"), "OK")
        assert_eq(conn.call("CONFIG", "SET", "requirepass", "other"), "OK")
        assert_eq(srv.conn().call("AUTH", "default", "other"), "OK")
        assert_eq(srv.cli("-a", "other", "--no-auth-warning", "ACL", "WHOAMI"), "default")
        assert_eq(conn.call("CONFIG", "SET", "requirepass", ""), "OK")
        assert_eq(srv.conn().call("PING"), "PONG")


@test
def aclfile_round_trip():
    with Server(start=False) as srv:
        aclfile = srv.root / "users.acl"
        aclfile.write_text("user default on nopass ~* &* +@all\n"
                           "user worker on >pw ~jobs:* resetchannels -@all +@list\n")
        srv.extra_args += ["--aclfile", str(aclfile)]
        srv.start()
        c = srv.conn()
        assert_eq(c.call("ACL", "USERS"), [b"default", b"worker"])
        conn = login(srv, "worker", "pw")
        assert_eq(conn.call("LPUSH", "jobs:1", "a"), 1)
        assert_error(conn.call("GET", "jobs:1"), "NOPERM")
        c.call("ACL", "SETUSER", "auditor", "on", "#" + "ab" * 32, "~*", "+@read")
        assert_eq(c.call("ACL", "SAVE"), "OK")
        saved = aclfile.read_text().splitlines()
        assert_eq(saved, [l.decode() for l in c.call("ACL", "LIST")])
        c.call("ACL", "DELUSER", "auditor")
        assert_eq(c.call("ACL", "LOAD"), "OK")
        assert_eq(c.call("ACL", "USERS"), [b"auditor", b"default", b"worker"])
        # ACL LOAD replaced the worker user: its old connection is closed.
        assert_true(conn.closed_by_server(), "connection of a reloaded user stayed open")
        aclfile.write_text("user broken on +nosuch\n")
        assert_error(c.call("ACL", "LOAD"), "ERR " + str(aclfile) + ":line 1: Error in ACL "
                     "SETUSER modifier '+nosuch'")
        assert_eq(c.call("ACL", "USERS"), [b"auditor", b"default", b"worker"])
        assert_eq(c.call("ACL", "SAVE"), "OK")
        srv.restart()
        assert_eq(srv.conn().call("ACL", "USERS"), [b"auditor", b"default", b"worker"])


@test
def config_file_users_and_rename_command():
    with Server(start=False) as srv:
        conf = srv.root / "sluice.conf"
        conf.write_text('user default off\n'
                        'user admin on >adminpw ~* &* +@all\n'
                        'user spaced on ">two words" ~* +@all\n'
                        'rename-command FLUSHALL WIPEALL\n'
                        'rename-command KEYS ""\n')
        srv.template = f"{srv.binary} {conf} --port {{port}} --dir {{dir}}"
        srv.start()  # ready once PING is answered, here with NOAUTH
        conn = srv.conn()
        assert_error(conn.call("PING"), "NOAUTH")
        assert_eq(conn.call("AUTH", "admin", "adminpw"), "OK")
        assert_error(conn.call("FLUSHALL"), "ERR unknown command 'FLUSHALL'")
        assert_error(conn.call("KEYS", "*"), "ERR unknown command 'KEYS'")
        assert_eq(conn.call("WIPEALL"), "OK")
        assert_eq(srv.conn().call("AUTH", "spaced", "two words"), "OK")



if __name__ == "__main__":
    main()
