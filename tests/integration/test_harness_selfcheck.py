"""Self-check of the integration harness: the RESP codec, the runner, and the server lifecycle
against the real sluice-server (start, PING three ways, stop/restart, crash/restart)."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from resp_codec import frame_end, parse, shape, split_args
from sluice_harness import (Push, ReplyError, Server, assert_eq, assert_true, main, shared_server,
                            test, test_both)

HERE = Path(__file__).resolve().parent

FRAMES = {
    b"+OK\r\n": "OK",
    b"-ERR bad\r\n": ReplyError("ERR bad"),
    b":-42\r\n": -42,
    b"$5\r\nhe\r\no\r\n": b"he\r\no",
    b"$0\r\n\r\n": b"",
    b"$-1\r\n": None,
    b"*-1\r\n": None,
    b"_\r\n": None,
    b"*0\r\n": [],
    b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n": [b"a", [1]],
    b",3.5\r\n": 3.5,
    b"#f\r\n": False,
    b"(12345678901234567890\r\n": 12345678901234567890,
    b"!9\r\nERR oops!\r\n": ReplyError("ERR oops!"),
    b"=7\r\ntxt:abc\r\n": b"abc",
    b"%1\r\n$1\r\nk\r\n~2\r\n:1\r\n:2\r\n": {b"k": [1, 2]},
    b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n": [b"message", b"ch", b"m"],
    b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n": b"v",
}


@test
def codec_finds_the_end_of_every_reply_type_and_waits_for_partial_ones():
    for frame, expected in FRAMES.items():
        buf = frame + b"+NEXT\r\n"
        assert_eq(frame_end(buf), len(frame), f"end of {frame!r}")
        for cut in range(len(frame)):
            assert_eq(frame_end(frame[:cut]), None, f"{frame!r} cut at {cut}")
        assert_eq(parse(frame)[0], expected, f"value of {frame!r}")


@test
def codec_shape_ignores_values_but_not_types_or_lengths():
    assert_eq(shape(b"*2\r\n$3\r\n1-1\r\n:5\r\n")[0], shape(b"*2\r\n$5\r\n99-99\r\n:7\r\n")[0])
    assert_true(shape(b"*1\r\n:1\r\n")[0] != shape(b"*1\r\n$1\r\n1\r\n")[0], "type must count")
    assert_true(shape(b"*1\r\n:1\r\n")[0] != shape(b"*2\r\n:1\r\n:1\r\n")[0], "length must count")
    assert_true(shape(b"$-1\r\n")[0] != shape(b"_\r\n")[0], "null kinds must count")


@test
def split_args_quotes_like_redis_cli():
    assert_eq(split_args('SET k "a b\\x00\\n" \'it\\\'s\' ""'),
              [b"SET", b"k", b"a b\x00\n", b"it's", b""])
    assert_eq(split_args("XADD s * f #"), [b"XADD", b"s", b"*", b"f", b"#"])


@test
def runner_reports_failures_and_prints_the_closing_line():
    source = (
        "from sluice_harness import *\n"
        "@test\n"
        "def good():\n    assert_eq(1, 1)\n"
        "@test\n"
        "def bad():\n    assert_eq(1, 2, 'one is not two')\n"
        "@test_both\n"
        "def both(protocol):\n    assert_true(protocol in (2, 3))\n"
        "main()\n")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "test_sample.py"
        path.write_text(source)
        env = dict(os.environ, PYTHONPATH=str(HERE))
        result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                                env=env, timeout=60)
    lines = result.stdout.splitlines()
    assert_eq(result.returncode, 1, f"exit status; output:\n{result.stdout}{result.stderr}")
    assert_eq(lines[-1], "3 passed, 1 failed")
    assert_true(any(l.startswith("FAIL  bad") for l in lines), result.stdout)
    assert_true(any("one is not two: expected 2, got 1" in l for l in lines), result.stdout)
    assert_true(any(l.startswith("PASS  both[RESP3]") for l in lines), result.stdout)


@test
def raw_reader_frames_real_resp3_replies_of_redis():
    # DEBUG PROTOCOL makes redis-server send each RESP3 type; sluice need not have it.
    with Server("--enable-debug-command", "yes", redis=True) as ref:
        c = ref.conn(3)
        for kind in ("string", "integer", "double", "bignum", "null", "array", "set", "map",
                     "attrib", "true", "false", "verbatim"):
            raw = c.command("DEBUG", "PROTOCOL", kind)
            assert_eq(frame_end(raw), len(raw), f"DEBUG PROTOCOL {kind}")
            assert_true(not isinstance(parse(raw)[0], ReplyError), f"{kind}: {raw!r}")
        raw = c.command("DEBUG", "PROTOCOL", "push")  # a push, then the reply
        assert_eq(parse(raw)[0], Push([b"server-cpu-usage", 42]))
        assert_eq(parse(c.read_raw())[0], b"Some real reply following the push reply")


@test_both
def server_answers_ping(protocol):
    srv = shared_server()
    with srv.conn(protocol) as c:
        assert_eq(c.command("PING"), b"+PONG\r\n")
        assert_eq(c.call("ECHO", "x\r\ny"), b"x\r\ny")


@test
def redis_cli_and_redis_py_talk_to_the_server():
    srv = shared_server()
    assert_eq(srv.cli("PING"), "PONG")
    assert_eq(srv.client().ping(), True)


@test(timeout=60)
def stop_restart_and_kill9_keep_port_and_directory():
    srv = Server()
    port, data_dir = srv.port, srv.dir
    assert_eq(srv.stop(), 0, "exit status after SIGTERM")
    srv.restart()
    assert_eq((srv.port, srv.dir), (port, data_dir))
    assert_eq(srv.conn().call("PING"), "PONG")
    srv.kill9()
    assert_true(not srv.alive, "SIGKILL must end the server")
    srv.restart()
    assert_eq(srv.cli("PING"), "PONG")
    srv.stop()


if __name__ == "__main__":
    main()
