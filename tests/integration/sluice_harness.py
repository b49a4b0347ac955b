"""Harness for Sluice's Python integration tests: start servers, talk RESP over raw sockets,
drive redis-py and redis-cli, and a tiny test runner. Stdlib + redis-py only, no pytest.

A test file (tests/integration/test_<feature>.py, run by ctest with /usr/bin/python3):

    from sluice_harness import *

    @test
    def ping_answers_pong():
        srv = shared_server()                    # one server for the whole file
        assert_eq(srv.conn().call("PING"), "PONG")

    @test_both                                   # runs as name[RESP2] and name[RESP3]
    def xadd_returns_the_id(protocol):
        c = shared_server().conn(protocol)
        c.call("FLUSHALL")
        assert_eq(c.call("XADD", "s", "1-1", "f", "v"), b"1-1")

    @test(timeout=30)
    def survives_restart():
        with Server("--appendfsync", "always") as srv:
            srv.conn().call("XADD", "s", "1-1", "f", "v")
            srv.restart()
            assert_eq(srv.conn().call("XLEN", "s"), 1)

    if __name__ == "__main__":
        main()

Run one file by hand: `SLUICE_SERVER=build/dev/sluice-server /usr/bin/python3 tests/integration/
test_x.py [-k substring] [-x]`. Without SLUICE_SERVER the newest build/*/sluice-server is used.
The run ends with a line `N passed, M failed` and exits 1 if anything failed.

Environment: SLUICE_SERVER (binary under test), REDIS_SERVER (reference redis-server),
SLUICE_KEEP_TMP=1 (keep server directories and logs), SLUICE_TEST_TIMEOUT (seconds per test,
default 120), SLUICE_READY_TIMEOUT (seconds to wait for PING, default 10).
"""

import atexit
import functools
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import weakref
from pathlib import Path

from resp_codec import (BigNumber, ProtocolError, Push, ReplyError, RespMap, RespSet, Verbatim,
                        encode_command, frame_end, parse, render, to_resp2)

__all__ = [
    "REPO_ROOT", "Server", "ServerError", "RawConn", "free_port", "raw_command", "read_reply",
    "server_binary", "redis_server_binary", "shared_server", "redis_cli", "cli",
    "test", "test_both", "main", "run", "assert_eq", "assert_error", "assert_true", "wait_until",
    "ReplyError", "BigNumber", "Verbatim", "RespSet", "RespMap", "Push", "ProtocolError",
    "encode_command", "parse", "render", "to_resp2", "PROTOCOLS",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = (2, 3)
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")


# ---------------------------------------------------------------------------------------------
# Binaries and ports

def server_binary():
    """The sluice-server under test: $SLUICE_SERVER, else the newest build/*/sluice-server."""
    env = os.environ.get("SLUICE_SERVER")
    if env:
        return env
    candidates = sorted(REPO_ROOT.glob("build/*/sluice-server"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise ServerError("no sluice-server: set SLUICE_SERVER or build a preset first")
    return str(candidates[-1])


def redis_server_binary():
    """The reference redis-server: $REDIS_SERVER, else redis-server on PATH or /usr/bin."""
    env = os.environ.get("REDIS_SERVER")
    if env:
        return env
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(found):
        raise ServerError("no redis-server found (scripts/deps.sh installs it)")
    return found


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_inodes(port):
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(fields[9])
        except OSError:
            pass
    return inodes


def _owns_listener(pid, port):
    """True if process pid holds a socket listening on port (so a PING answer came from it and
    not from some other server that grabbed the port)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return False
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return True  # cannot tell (no /proc): trust the PING
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Servers

class ServerError(Exception):
    pass


_all_servers = []
_servers_started_in_test = []


class Server:
    """A server process on 127.0.0.1 with its own temp directory.

    Server(*extra_args)               sluice-server --port P --dir D *extra_args
    Server(template='cmd --port {port} --dir {dir}')   any command line
    Server(*extra_args, redis=True)   redis-server --port P --dir D --bind 127.0.0.1 --save ''
                                      --appendonly no --daemonize no --logfile '' *extra_args

    The data directory (self.dir) survives restart(); stdout+stderr go to self.log_path, outside
    the data directory. stop() returns normally only if the server exited with status 0 and its
    log has no sanitizer report. Every server is killed and its directory removed at exit
    (SLUICE_KEEP_TMP=1 keeps the directories)."""

    def __init__(self, *extra_args, redis=False, binary=None, template=None, port=None,
                 start=True, ready_timeout=None, env=None, name=None):
        self.redis = redis
        self.template = template
        self.binary = None if template else (
            binary or (redis_server_binary() if redis else server_binary()))
        self.extra_args = [str(a) for a in extra_args]
        self._port_fixed = port is not None
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.name = name or ("redis" if redis else "sluice")
        self.root = Path(tempfile.mkdtemp(prefix=f"{self.name}-test-"))
        self.dir = self.root / "data"
        self.dir.mkdir()
        self.log_path = self.root / "server.log"
        self.ready_timeout = ready_timeout or float(os.environ.get("SLUICE_READY_TIMEOUT", "10"))
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.starts = 0
        _all_servers.append(self)
        _servers_started_in_test.append(self)
        if start:
            self.start()

    # -- lifecycle --

    def command_line(self):
        if self.template:
            # A command template as in shared/bench/compare: {port} {dir} {host} substituted,
            # split like a shell would (quotes work), executed directly (no shell).
            text = self.template.format(port=self.port, dir=self.dir, host=self.host)
            return shlex.split(text) + self.extra_args
        args = [self.binary, "--port", str(self.port), "--dir", str(self.dir)]
        if self.redis:
            args += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--daemonize", "no", "--logfile", ""]
        return args + self.extra_args

    def start(self):
        if self.alive:
            raise ServerError(f"{self.name} already running (pid {self.proc.pid})")
        attempts = 1 if self._port_fixed or self.starts else 4
        for attempt in range(attempts):
            self._spawn()
            try:
                self._wait_ready()
                self.starts += 1
                return self
            except ServerError:
                log = self.log_text()
                if attempt + 1 < attempts and re.search(r"(?i)address already in use|eaddrinuse", log):
                    self._terminate_quietly()
                    self.port = free_port()
                    continue
                self._terminate_quietly()
                raise

    def _spawn(self):
        with open(self.log_path, "ab") as log:
            log.write(f"=== start {shlex.join(self.command_line())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.command_line(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                         cwd=self.root, start_new_session=True)

    def _wait_ready(self):
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited with status {self.proc.returncode} "
                                  f"before answering PING:\n{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    s.settimeout(2)
                    reply = raw_command(s, "PING")
                if reply.startswith(b"-LOADING") or reply.startswith(b"-BUSY"):
                    last = reply.decode(errors="replace").strip()
                elif _owns_listener(self.proc.pid, self.port):
                    return
                else:
                    last = f"PING answered on port {self.port}, but not by pid {self.proc.pid}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.05)
        raise ServerError(f"{self.name} did not answer PING on port {self.port} within "
                          f"{self.ready_timeout:g} s ({last}):\n{self.log_tail()}")

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def stop(self, timeout=30, check=True):
        """SIGTERM and wait. With check, raise ServerError unless it exited with status 0 and
        without a sanitizer report."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if check:
                    raise ServerError(f"{self.name} (pid {self.proc.pid}) ignored SIGTERM for "
                                      f"{timeout} s and was killed:\n{self.log_tail()}")
        code = self.proc.returncode
        if check:
            self.check_log()
            if code != 0:
                raise ServerError(f"{self.name} (pid {self.proc.pid}) exited with status "
                                  f"{code}:\n{self.log_tail()}")
        return code

    def kill9(self):
        """SIGKILL: a crash, as far as the server can tell."""
        if self.alive:
            self.proc.kill()
        if self.proc:
            self.proc.wait()

    def restart(self, *extra_args, stop=True):
        """Stop (SIGTERM, checked) unless already stopped, then start again on the same port and
        directory. Given extra_args replace the previous ones."""
        if self.alive and stop:
            self.stop()
        elif self.alive:
            self.kill9()
        if extra_args:
            self.extra_args = [str(a) for a in extra_args]
        return self.start()

    def check_log(self):
        text = self.log_text()
        for marker in SANITIZER_MARKERS:
            if marker in text:
                raise ServerError(f"{self.name} log has a sanitizer report ({marker}):\n"
                                  f"{self.log_tail(80)}")

    def _terminate_quietly(self):
        if self.alive:
            self.proc.kill()
        if self.proc:
            self.proc.wait()

    def cleanup(self):
        self._terminate_quietly()
        if os.environ.get("SLUICE_KEEP_TMP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # Stops (checked unless the block already failed); the directory and log stay until the
        # runner finishes the test, so a failure report can show the log.
        self.stop(check=exc_type is None)

    # -- logs --

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines=40):
        text = self.log_text().splitlines()[-lines:]
        return ("\n".join(f"    | {line[:300]}" for line in text)
                or "    | (log is empty)")

    # -- clients --

    def conn(self, protocol=2, timeout=10):
        """A RawConn (RESP over a plain socket); protocol=3 sends HELLO 3 first."""
        return RawConn(self.host, self.port, protocol=protocol, timeout=timeout)

    def client(self, **kwargs):
        """A redis-py client (RESP2; redis-py 4.3.4 has no RESP3)."""
        import redis  # Debian's python3-redis, for /usr/bin/python3
        kwargs.setdefault("socket_timeout", 10)
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def cli(self, *args, **kwargs):
        """redis-cli -p PORT args...; returns its stdout (see redis_cli for options)."""
        return cli(self.port, *args, **kwargs)

    def __repr__(self):
        state = f"pid {self.pid}" if self.alive else "stopped"
        return f"<{self.name} 127.0.0.1:{self.port} {state} dir={self.dir}>"


@atexit.register
def _cleanup_all():
    for srv in _all_servers:
        srv.cleanup()


_shared = {}


def shared_server(*extra_args, redis=False):
    """One server per (args, redis) for the whole test file, started on first use and stopped
    (checked for a clean exit and sanitizer reports) when the runner finishes. Tests using it
    should FLUSHALL first."""
    key = (tuple(str(a) for a in extra_args), redis)
    srv = _shared.get(key)
    if srv is None or not srv.alive:
        srv = Server(*extra_args, redis=redis)
        _shared[key] = srv
        _servers_started_in_test.remove(srv)  # its log is not one test's business
    return srv


# ---------------------------------------------------------------------------------------------
# Raw RESP

_buffers = weakref.WeakKeyDictionary()


def _buffer(sock):
    buf = _buffers.get(sock)
    if buf is None:
        buf = _buffers[sock] = bytearray()
    return buf


def read_reply(sock, timeout=None):
    """The next complete reply on sock, as raw bytes (framing parsed, RESP2 and RESP3).
    Bytes past it stay buffered for the next call. Raises ConnectionError if the server closes
    the connection first, socket.timeout on timeout."""
    buf = _buffer(sock)
    if timeout is not None:
        sock.settimeout(timeout)
    while True:
        end = frame_end(buf)
        if end is not None:
            reply = bytes(buf[:end])
            del buf[:end]
            return reply
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed by server; unparsed bytes {bytes(buf)!r}")
        buf += chunk


def raw_command(sock, *args, timeout=None):
    """Sends args as a RESP multibulk and returns the raw reply bytes, read completely."""
    sock.sendall(encode_command(*args))
    return read_reply(sock, timeout)


class RawConn:
    """A RESP connection over a plain socket. protocol=3 sends HELLO 3 on connect (its reply is
    in self.hello). command() returns raw reply bytes, call() the decoded value (errors come back
    as ReplyError values, not raised)."""

    def __init__(self, host, port, protocol=2, timeout=10):
        self.host, self.port, self.protocol = host, port, protocol
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.hello = None
        if protocol == 3:
            self.hello = self.call("HELLO", "3")
            if not isinstance(self.hello, dict):
                raise ServerError(f"HELLO 3 did not return a map: {self.hello!r}")
        elif protocol != 2:
            raise ValueError("protocol must be 2 or 3")

    def send(self, *args):
        self.sock.sendall(encode_command(*args))

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_raw(self, timeout=None):
        return read_reply(self.sock, self.timeout if timeout is None else timeout)

    def read(self, timeout=None):
        return parse(self.read_raw(timeout))[0]

    def command(self, *args, timeout=None):
        self.send(*args)
        return self.read_raw(timeout)

    def call(self, *args, timeout=None):
        self.send(*args)
        return self.read(timeout)

    def pipeline(self, *commands):
        """Sends every command (a tuple of args) in one write, returns the decoded replies."""
        self.sock.sendall(b"".join(encode_command(*c) for c in commands))
        return [self.read() for _ in commands]

    def pending(self, wait=0.1):
        """True if a reply (or part of one) arrives within wait seconds."""
        if _buffer(self.sock):
            return True
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            return False
        finally:
            self.sock.settimeout(self.timeout)
        if not chunk:
            raise ConnectionError("connection closed by server")
        _buffer(self.sock).extend(chunk)
        return True

    def closed_by_server(self, timeout=2):
        """Waits up to timeout for the server to close the connection; True if it did."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                _buffer(self.sock).extend(chunk)
        except socket.timeout:
            return False
        except ConnectionError:
            return True
        finally:
            self.sock.settimeout(self.timeout)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------------------------
# redis-cli

def redis_cli(port, *args, resp3=False, raw=False, input=None, timeout=10, check=False):
    """Runs redis-cli -h 127.0.0.1 -p PORT [-3] [--raw] args...; returns the CompletedProcess
    (text mode). With input, arguments are read from stdin (redis-cli's -x is not implied)."""
    cmd = ["redis-cli", "-h", "127.0.0.1", "-p", str(port)]
    if resp3:
        cmd.append("-3")
    if raw:
        cmd.append("--raw")
    cmd += [str(a) for a in args]
    return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                          check=check, stdin=None if input is not None else subprocess.DEVNULL)


def cli(port, *args, **kwargs):
    """redis-cli's stdout, stripped; raises AssertionError if redis-cli exits non-zero."""
    result = redis_cli(port, *args, **kwargs)
    if result.returncode != 0:
        raise AssertionError(f"redis-cli {' '.join(map(str, args))} exited "
                             f"{result.returncode}: {result.stderr.strip()}")
    return result.stdout.strip()


# ---------------------------------------------------------------------------------------------
# Assertions

def assert_eq(actual, expected, msg=""):
    if actual != expected:
        prefix = f"{msg}: " if msg else ""
        raise AssertionError(f"{prefix}expected {expected!r}, got {actual!r}")


def assert_true(cond, msg="condition is false"):
    if not cond:
        raise AssertionError(msg)


def assert_error(value, prefix, msg=""):
    """value must be a ReplyError whose message starts with prefix (e.g. 'WRONGTYPE', or the
    whole text)."""
    where = f"{msg}: " if msg else ""
    if not isinstance(value, ReplyError):
        raise AssertionError(f"{where}expected an error starting {prefix!r}, got {value!r}")
    if not value.message.startswith(prefix):
        raise AssertionError(f"{where}expected an error starting {prefix!r}, got "
                             f"{value.message!r}")


def wait_until(predicate, timeout=5.0, interval=0.02, msg="condition"):
    """Polls predicate until it returns a true value (returned) or timeout (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{msg} not reached within {timeout:g} s")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Runner

class TestTimeout(Exception):
    pass


_tests = []  # (display name, callable, timeout)


def test(fn=None, *, timeout=None):
    """Registers fn as a test, run in definition order. @test or @test(timeout=seconds)."""
    def register(f):
        _tests.append((f.__name__, f, timeout))
        return f
    return register(fn) if fn is not None else register


def test_both(fn=None, *, timeout=None):
    """Registers fn(protocol) twice: name[RESP2] with protocol=2, name[RESP3] with protocol=3."""
    def register(f):
        for protocol in PROTOCOLS:
            _tests.append((f"{f.__name__}[RESP{protocol}]",
                           functools.partial(f, protocol), timeout))
        return f
    return register(fn) if fn is not None else register


def _on_alarm(limit, signum, frame):
    raise TestTimeout(f"test timed out after {limit:g} s")


def _describe_failure(exc):
    tb = traceback.extract_tb(exc.__traceback__)
    own = [f for f in tb if not f.filename.endswith("sluice_harness.py")] or tb
    where = f"{Path(own[-1].filename).name}:{own[-1].lineno}" if own else "?"
    if isinstance(exc, (AssertionError, ServerError, TestTimeout)):
        text = str(exc) or "assertion failed"
        kind = "" if isinstance(exc, AssertionError) else f"{type(exc).__name__}: "
        return f"{kind}{text}\n(at {where})"
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()


def _indent(text, prefix="      "):
    return "\n".join(prefix + line for line in text.splitlines())


def run(argv=None):
    """Runs the registered tests; prints PASS/FAIL per test and the closing line
    'N passed, M failed'. Returns the exit status (1 if any failed or none ran).
    Options: -k SUBSTRING (only tests whose name contains it; repeatable), -x (stop at the
    first failure), --list."""
    argv = sys.argv[1:] if argv is None else argv
    selectors, stop_first = [], False
    args = iter(argv)
    for arg in args:
        if arg == "-k":
            selectors.append(next(args, ""))
        elif arg == "-x":
            stop_first = True
        elif arg == "--list":
            for name, _, _ in _tests:
                print(name)
            return 0
        else:
            print(f"usage: {sys.argv[0]} [-k SUBSTRING]... [-x] [--list]", file=sys.stderr)
            return 2
    default_timeout = float(os.environ.get("SLUICE_TEST_TIMEOUT", "120"))
    selected = [t for t in _tests if not selectors or any(s in t[0] for s in selectors)]
    passed = failed = 0
    for name, fn, timeout in selected:
        _servers_started_in_test.clear()
        started = time.monotonic()
        error = None
        limit = timeout or default_timeout
        signal.signal(signal.SIGALRM, functools.partial(_on_alarm, limit))
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, never raised
            if isinstance(exc, KeyboardInterrupt):
                raise
            error = exc
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        own_servers = list(_servers_started_in_test)
        for srv in own_servers:
            try:
                if srv.alive:
                    srv.stop()  # a test that forgot to stop its server still gets checked
                else:
                    srv.check_log()
            except ServerError as exc:
                error = error or exc
        elapsed = time.monotonic() - started
        if error is None:
            passed += 1
            print(f"PASS  {name} ({elapsed:.2f}s)", flush=True)
        else:
            failed += 1
            print(f"FAIL  {name} ({elapsed:.2f}s)", flush=True)
            print(_indent(_describe_failure(error)), flush=True)
            shown = [] if isinstance(error, ServerError) else own_servers
            for srv in shown + list(_shared.values()):
                print(f"      last lines of the log of {srv!r}:\n{_indent(srv.log_tail(20))}",
                      flush=True)
        for srv in own_servers:
            srv.cleanup()
        if error is not None and stop_first:
            break
    for key, srv in list(_shared.items()):
        try:
            srv.stop()
        except ServerError as exc:
            failed += 1
            print(f"FAIL  shared server {srv.name} {' '.join(key[0])} shut down cleanly",
                  flush=True)
            print(_indent(str(exc)), flush=True)
        finally:
            srv.cleanup()
    _shared.clear()
    if not selected:
        print("no tests selected", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed or not selected else 0


def main(argv=None):
    sys.exit(run(argv))
