"""Lua scripting end to end: a busy script (BUSY for others, SCRIPT KILL, FUNCTION KILL,
UNKILLABLE and SHUTDOWN NOSAVE), durability of scripts' writes (kill -9 under appendfsync
always, one unit per script), function libraries across restarts and DEBUG RELOAD, the bounded
script cache and its INFO fields, and redis-py's Lock (a Lua script) across threads."""

import hashlib
import socket
import threading
import time

import redis

from sluice_harness import *  # noqa: F401,F403

BUSY_EVAL = (b"BUSY Redis is busy running a script. You can only call SCRIPT KILL or "
             b"SHUTDOWN NOSAVE.")
BUSY_FUNCTION = (b"BUSY Redis is busy running a script. You can only call FUNCTION KILL or "
                 b"SHUTDOWN NOSAVE.")


def error_text(reply):
    assert_true(reply.startswith(b"-"), f"expected an error, got {reply!r}")
    return reply[1:].rstrip(b"\r\n")


def wait_busy(conn):
    """Until the server answers BUSY (the script passed busy-reply-threshold)."""
    def busy():
        return raw_command(conn, "PING", timeout=5).startswith(b"-BUSY")
    wait_until(busy, timeout=10, interval=0.05, msg="the server reports BUSY")


@test(timeout=60)
def an_endless_script_makes_others_busy_until_script_kill_and_nothing_is_lost():
    with Server("--busy-reply-threshold", "200") as srv:
        r = srv.client()
        r.set("kept", "1")
        r.hset("h", "f", "v")
        looping = socket.create_connection(("127.0.0.1", srv.port))
        looping.sendall(encode_command("EVAL", "local n = 0 while true do n = n + 1 end", "0"))
        other = socket.create_connection(("127.0.0.1", srv.port))
        wait_busy(other)
        assert_eq(error_text(raw_command(other, "GET", "kept", timeout=5)), BUSY_EVAL)
        # A connection opened during the script is accepted and answered too.
        late = socket.create_connection(("127.0.0.1", srv.port))
        assert_eq(error_text(raw_command(late, "SET", "x", "1", timeout=5)), BUSY_EVAL)
        assert_eq(error_text(raw_command(late, "FUNCTION", "KILL", timeout=5)), BUSY_EVAL)
        assert_eq(raw_command(other, "SCRIPT", "KILL", timeout=5), b"+OK\r\n")
        killed = error_text(read_reply(looping, timeout=5))
        assert_true(killed.startswith(b"ERR Script killed by user with SCRIPT KILL..."), killed)
        # The server goes on serving everyone, the caller included; nothing stored was lost.
        assert_eq(raw_command(looping, "PING", timeout=5), b"+PONG\r\n")
        assert_eq(r.get("kept"), b"1")
        assert_eq(r.hgetall("h"), {b"f": b"v"})
        r.set("after", "2")
        assert_eq(r.get("after"), b"2")
        try:
            r.execute_command("SCRIPT", "KILL")
            raise AssertionError("SCRIPT KILL with nothing running must fail")
        except redis.ResponseError as e:
            assert_eq(str(e), "NOTBUSY No scripts in execution right now.")
        for s in (looping, other, late):
            s.close()
        srv.restart()
        r = srv.client()
        assert_eq(r.get("kept"), b"1")
        assert_eq(r.get("after"), b"2")


@test(timeout=60)
def function_kill_ends_a_busy_function_and_script_kill_refuses_it():
    with Server("--busy-reply-threshold", "200") as srv:
        r = srv.client()
        r.function_load("#!lua name=spin\n"
                        "redis.register_function('spin', function() while true do end end)")
        looping = socket.create_connection(("127.0.0.1", srv.port))
        looping.sendall(encode_command("FCALL", "spin", "0"))
        other = socket.create_connection(("127.0.0.1", srv.port))
        def busy():
            return raw_command(other, "PING", timeout=5).startswith(b"-BUSY")
        wait_until(busy, timeout=10, interval=0.05, msg="the server reports BUSY")
        assert_eq(error_text(raw_command(other, "GET", "k", timeout=5)), BUSY_FUNCTION)
        assert_eq(error_text(raw_command(other, "SCRIPT", "KILL", timeout=5)), BUSY_FUNCTION)
        stats = raw_command(other, "FUNCTION", "STATS", timeout=5)
        assert_true(b"spin" in stats and b"duration_ms" in stats, stats)
        assert_eq(raw_command(other, "FUNCTION", "KILL", timeout=5), b"+OK\r\n")
        killed = error_text(read_reply(looping, timeout=5))
        assert_true(killed.startswith(b"ERR Script killed by user with SCRIPT KILL..."), killed)
        assert_true(b"script: spin, on @user_function:2." in killed, killed)
        assert_eq(r.ping(), True)
        looping.close()
        other.close()


@test(timeout=60)
def a_busy_script_that_wrote_is_unkillable_and_shutdown_nosave_drops_its_writes():
    with Server("--busy-reply-threshold", "200", "--appendfsync", "always") as srv:
        r = srv.client()
        r.set("before", "1")
        looping = socket.create_connection(("127.0.0.1", srv.port))
        looping.sendall(encode_command(
            "EVAL", "redis.call('set', 'half', '1') redis.call('incr', 'before') "
                    "while true do end", "0"))
        other = socket.create_connection(("127.0.0.1", srv.port))
        wait_busy(other)
        assert_true(error_text(raw_command(other, "SCRIPT", "KILL", timeout=5))
                    .startswith(b"UNKILLABLE Sorry the script already executed write commands"))
        assert_eq(error_text(raw_command(other, "SHUTDOWN", timeout=5)), BUSY_EVAL)
        other.sendall(encode_command("SHUTDOWN", "NOSAVE"))
        wait_until(lambda: not srv.alive, timeout=10, msg="SHUTDOWN NOSAVE stops the server")
        srv.proc.wait()
        looping.close()
        other.close()
        srv.start()
        r = srv.client()
        # The script was stopped midway: none of its writes reached the journal.
        assert_eq(r.get("before"), b"1")
        assert_eq(r.exists("half"), 0)


@test(timeout=120)
def a_scripts_writes_survive_kill_9_under_appendfsync_always_as_one_unit():
    with Server("--appendfsync", "always") as srv:
        r = srv.client()
        move = r.register_script(
            "local v = redis.call('decrby', KEYS[1], ARGV[1]) "
            "redis.call('incrby', KEYS[2], ARGV[1]) "
            "redis.call('hincrby', KEYS[3], 'moves', 1) "
            "return v")
        r.set("from", 1000)
        for i in range(200):
            move(keys=["from", "to", "stats"], args=[1])
        srv.kill9()
        srv.start()
        r = srv.client()
        assert_eq(r.get("from"), b"800")
        assert_eq(r.get("to"), b"200")
        assert_eq(r.hget("stats", "moves"), b"200")
        # The script cache is not persisted (as Redis): EVALSHA needs EVAL again.
        try:
            r.evalsha(move.sha, 3, "from", "to", "stats", 1)
            raise AssertionError("the script cache must be empty after a restart")
        except redis.exceptions.NoScriptError:
            pass
        assert_eq(move(keys=["from", "to", "stats"], args=[1]), 799)


@test(timeout=60)
def function_libraries_come_back_after_restart_kill_9_and_debug_reload():
    with Server("--appendfsync", "always") as srv:
        r = srv.client()
        r.function_load("#!lua name=counters\n"
                        "redis.register_function('bump', function(keys, args) "
                        "return redis.call('incrby', keys[1], args[1]) end)\n"
                        "redis.register_function{function_name='peek', callback=function(keys) "
                        "return redis.call('get', keys[1]) end, flags={'no-writes'}}")
        r.function_load("#!lua name=gone\nredis.register_function('gone', function() return 1 end)")
        r.function_delete("gone")
        assert_eq(r.fcall("bump", 1, "c", 5), 5)
        srv.restart()
        r = srv.client()
        assert_eq(r.fcall("bump", 1, "c", 5), 10)
        assert_eq(r.fcall_ro("peek", 1, "c"), b"10")
        libs = [lib[1] for lib in r.execute_command("FUNCTION", "LIST")]
        assert_eq(libs, [b"counters"])
        srv.kill9()
        srv.start()
        r = srv.client()
        assert_eq(r.fcall("bump", 1, "c", 1), 11)
        assert_eq(r.execute_command("DEBUG", "RELOAD"), b"OK")
        assert_eq(r.fcall("bump", 1, "c", 1), 12)
        dump = r.function_dump()
        r.function_flush()
        srv.restart()
        r = srv.client()
        assert_eq(r.execute_command("FUNCTION", "LIST"), [])
        assert_eq(r.function_restore(dump), True)
        srv.restart()
        r = srv.client()
        assert_eq(r.fcall("bump", 1, "c", 1), 13)
        info = r.info("memory")
        assert_eq(info["number_of_functions"], 2)
        assert_eq(info["number_of_libraries"], 1)


@test(timeout=60)
def the_script_cache_is_bounded_and_script_load_scripts_stay():
    with Server() as srv:
        r = srv.client()
        pinned = r.script_load("return 'pinned'")
        for i in range(600):
            assert_eq(r.eval(f"return {i}", 0), i)
        info = r.info()
        assert_eq(info["number_of_cached_scripts"], 501)
        assert_eq(info["evicted_scripts"], 100)
        assert_true(info["used_memory_scripts_eval"] > 0)
        assert_true(info["used_memory_lua"] > 0)
        assert_eq(r.evalsha(pinned, 0), b"pinned")
        # The oldest EVAL scripts went first; the newest are still there.
        assert_eq(r.script_exists(hashlib.sha1(b"return 0").hexdigest(),
                                  hashlib.sha1(b"return 599").hexdigest()), [False, True])
        r.script_flush()
        assert_eq(r.info()["number_of_cached_scripts"], 0)


@test(timeout=60)
def redis_py_lock_serializes_threads():
    srv = shared_server()
    r = srv.client()
    r.delete("lock:resource", "counter")
    errors = []

    def worker():
        try:
            client = srv.client()
            for _ in range(20):
                with client.lock("lock:resource", timeout=5, blocking_timeout=10):
                    # Read-modify-write that loses updates unless the lock excludes the others.
                    v = int(client.get("counter") or 0)
                    time.sleep(0.001)
                    client.set("counter", v + 1)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert_eq(errors, [])
    assert_eq(r.get("counter"), b"80")
    lock = r.lock("lock:other", timeout=10)
    assert_true(lock.acquire(blocking=False))
    assert_true(lock.extend(5))
    assert_true(lock.reacquire())
    assert_eq(r.lock("lock:other").acquire(blocking=False), False)
    lock.release()
    assert_eq(r.exists("lock:other"), 0)


if __name__ == "__main__":
    main()
