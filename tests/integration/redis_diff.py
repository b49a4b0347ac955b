#!/usr/bin/env python3
"""Differential tester: sends the same commands to a reference redis-server and to the candidate
(sluice-server) over raw sockets and compares the raw reply bytes.

Every case file tests/integration/cases/NAME.txt runs twice, as NAME[RESP2] and NAME[RESP3]:
each pass opens fresh connections, sends FLUSHALL, and under RESP3 sends HELLO 3 first on every
connection it opens (HELLO's own reply is not compared: it names the server). A pass fails if any
reply differs; differences are shown command by command. Closing line: `N passed, M failed`.

Case file format (one command per line, quoting as redis-cli: "a\\x00b" is 3 bytes):

    # a comment (whole lines only: '#' inside a command is an argument)
    PING                          compare the raw reply bytes exactly
    ~ XADD s * f v                compare the shape only: types, aggregate lengths, null kinds
                                  (for generated IDs, TIME, CLIENT ID, INFO-like values)
    ! XADD s bad-id f v           both must be errors; compare only the first word (ERR, ...)
    % SMEMBERS s                  compare the decoded values with the elements of every array
                                  and set taken in any order (hash-table iteration order is
                                  not Redis's); the RESP type bytes must still be the same
    & XREAD BLOCK 0 STREAMS s $   send, do not read the reply now (see @read)
    @conn NAME                    switch to connection NAME (opened on first use; "main" first)
    @read N                       read N replies on the current connection and compare them
                                  (prefixes apply: `~ @read 1`)
    @replies N                    the next command returns N replies (SUBSCRIBE a b returns 2
                                  without this; UNSUBSCRIBE with no channels needs it)
    @sleep MS                     sleep MS milliseconds
    @close                        close the current connection (the next use reopens it)
    @raw "*1\\r\\n$4\\r\\nPING\\r\\n"  send these bytes as they are, then read one reply
    @timeout S                    seconds to wait for a reply from here on (default 5)
    @protocols 2                  (anywhere) run this file only under RESP2 (or 3, or 2,3)

A reply that does not come is `<timeout>`; the connection stays open, so `@timeout 0.2` then
`@read 1` checks that a blocking command is still blocked, and a later @read gets its reply.
A connection the server closed reads as `<connection closed>` (compared like any reply) and is
reopened on next use; a QUIT reply also marks its connection for reopening. State that lives
outside the data (CONFIG SET, pub/sub subscriptions) is not reset between files: restore what
you change, close what you open.

Usage:
    redis_diff.py                          candidate = $SLUICE_SERVER (or newest build/*/)
    redis_diff.py --only connection,streams
    redis_diff.py --candidate-cmd 'build/asan/sluice-server --port {port} --dir {dir}'
    redis_diff.py --candidate-redis        self-check: a second redis-server as candidate
    redis_diff.py --reference-port 7000    use a running redis as reference (it is FLUSHALLed!)
    redis_diff.py --candidate-port 7001    use a running candidate (it is FLUSHALLed!)
Exit status: 0 all passed, 1 a difference, 2 a server would not start or a case file is bad.
"""

import argparse
import shlex
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from resp_codec import (ProtocolError, encode_command, escape, parse, render,  # noqa: E402
                        shape, split_args)
from sluice_harness import Server, ServerError, read_reply, server_binary  # noqa: E402

CASES_DIR = Path(__file__).resolve().parent / "cases"
CLOSED = "<connection closed>"
TIMEOUT = "<timeout>"
SUBSCRIBE_FAMILY = {b"SUBSCRIBE", b"UNSUBSCRIBE", b"PSUBSCRIBE", b"PUNSUBSCRIBE",
                    b"SSUBSCRIBE", b"SUNSUBSCRIBE"}


class CaseError(Exception):
    """A case file that cannot be run as written."""


# ---------------------------------------------------------------------------------------------
# Case files

class Step:
    def __init__(self, lineno, text, mode, nowait, directive, args):
        self.lineno = lineno      # 1-based line in the case file
        self.text = text          # the line as written, for reports
        self.mode = mode          # "exact", "shape", "unordered" or "errorword"
        self.nowait = nowait      # & prefix
        self.directive = directive  # None for a command, else "conn", "read", ...
        self.args = args          # command arguments (bytes) or directive arguments


DIRECTIVES = {"conn", "read", "replies", "sleep", "close", "raw", "timeout", "protocols"}


def load_case(path):
    """(steps, protocols) of a case file; raises CaseError on a malformed line."""
    steps, protocols = [], (2, 3)
    for lineno, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        mode, nowait = "exact", False
        while len(line) >= 2 and line[0] in "~!&%" and line[1] in " \t":
            if line[0] == "~":
                mode = "shape"
            elif line[0] == "%":
                mode = "unordered"
            elif line[0] == "!":
                mode = "errorword"
            else:
                nowait = True
            line = line[2:].lstrip()
        try:
            if line.startswith("@"):
                name, _, rest = line[1:].partition(" ")
                if name not in DIRECTIVES:
                    raise CaseError(f"unknown directive @{name}")
                args = split_args(rest)
                step = Step(lineno, raw.strip(), mode, nowait, name, args)
                _check_directive(step)
                if name == "protocols":
                    protocols = tuple(int(p) for p in args[0].decode().split(","))
                    if not set(protocols) <= {2, 3}:
                        raise CaseError("@protocols takes 2, 3 or 2,3")
                    continue
            else:
                args = split_args(line)
                step = Step(lineno, raw.strip(), mode, nowait, None, args)
        except (ValueError, CaseError) as exc:
            raise CaseError(f"{path}:{lineno}: {exc}") from None
        steps.append(step)
    return steps, protocols


def _check_directive(step):
    want = {"conn": 1, "read": 1, "replies": 1, "sleep": 1, "close": 0, "raw": 1, "timeout": 1,
            "protocols": 1}[step.directive]
    if len(step.args) != want:
        raise CaseError(f"@{step.directive} takes {want} argument(s)")
    if step.directive in ("read", "replies", "sleep"):
        if not step.args[0].isdigit():
            raise CaseError(f"@{step.directive} needs a non-negative integer")
    if step.directive == "timeout":
        float(step.args[0])


# ---------------------------------------------------------------------------------------------
# Connections to one server

class Conn:
    """One RESP connection that reports a closed connection or a timeout as a reply marker."""

    def __init__(self, port, protocol, timeout):
        self.port, self.protocol, self.timeout = port, protocol, timeout
        self.sock = None

    def _open(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.protocol == 3:
            self.sock.sendall(encode_command("HELLO", "3"))
            reply = read_reply(self.sock, self.timeout)
            if not reply.startswith(b"%"):
                raise ServerError(f"HELLO 3 on port {self.port} answered {reply!r}")

    def send(self, data):
        if self.sock is None:
            self._open()
        try:
            self.sock.sendall(data)
        except OSError:
            self.close()

    def read(self, timeout):
        if self.sock is None:
            return CLOSED
        try:
            return read_reply(self.sock, timeout)
        except socket.timeout:
            return TIMEOUT
        except (ConnectionError, OSError):
            self.close()
            return CLOSED

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Side:
    """One server (reference or candidate) and the named connections of the current pass."""

    def __init__(self, label, port, server=None):
        self.label, self.port, self.server = label, port, server
        self.conns = {}

    def conn(self, name, protocol, timeout):
        if name not in self.conns:
            self.conns[name] = Conn(self.port, protocol, timeout)
        c = self.conns[name]
        c.timeout = timeout
        return c

    def close_all(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}


# ---------------------------------------------------------------------------------------------
# Comparison

def _error_word(reply):
    if isinstance(reply, bytes) and reply[:1] in (b"-", b"!"):
        try:
            value = parse(reply)[0]
            return value.message.split(" ", 1)[0]
        except (ProtocolError, AttributeError, IndexError, ValueError):
            return None
    return None


def _shape(reply):
    if not isinstance(reply, bytes):
        return reply
    try:
        return shape(reply)[0]
    except (ProtocolError, IndexError, ValueError):
        return f"<unparsable {reply!r}>"


def _unordered(value):
    """A canonical form of a decoded reply in which arrays and sets compare as multisets."""
    if isinstance(value, dict):
        return (type(value).__name__, tuple(sorted(((repr(k), _unordered(v))
                                                    for k, v in value.items()), key=repr)))
    if isinstance(value, list):
        return (type(value).__name__, tuple(sorted((_unordered(v) for v in value), key=repr)))
    return (type(value).__name__, value)


def _unordered_key(reply):
    try:
        value, end = parse(reply)
    except (ProtocolError, IndexError, ValueError):
        return ("<unparsable>", reply)
    return (reply[:1], end == len(reply), _unordered(value))


def replies_match(mode, ref, cand):
    if mode == "exact" or not isinstance(ref, bytes) or not isinstance(cand, bytes):
        return ref == cand
    if mode == "shape":
        return _shape(ref) == _shape(cand)
    if mode == "unordered":
        return _unordered_key(ref) == _unordered_key(cand)
    ref_word, cand_word = _error_word(ref), _error_word(cand)
    return ref_word is not None and ref_word == cand_word


def show(reply, mode, indent="        "):
    if not isinstance(reply, bytes):
        return indent + reply
    text = render(reply, indent)
    if mode == "shape":
        text += f"\n{indent}shape: {_shape(reply)}"
    return text


# ---------------------------------------------------------------------------------------------
# Running a case

class PassResult:
    def __init__(self, name):
        self.name = name
        self.compared = 0
        self.diffs = []   # report strings
        self.error = None  # setup problem


def reply_count(step, pending):
    if pending is not None:
        return pending
    if step.args and step.args[0].upper() in SUBSCRIBE_FAMILY and len(step.args) > 1:
        return len(step.args) - 1
    return 1


def run_pass(steps, name, protocol, ref, cand, timeout, max_diffs, verbose=False):
    result = PassResult(f"{name}[RESP{protocol}]")
    sides = (ref, cand)
    for side in sides:
        side.close_all()
    current = "main"
    pending_replies = None
    try:
        for side in sides:
            c = side.conn(current, protocol, timeout)
            c.send(encode_command("FLUSHALL"))
            reply = c.read(timeout)
            if reply != b"+OK\r\n":
                result.error = f"FLUSHALL on the {side.label} answered {show(reply, 'exact', '')}"
                return result
        for step in steps:
            if len(result.diffs) >= max_diffs:
                result.diffs.append(f"    (stopped after {max_diffs} differences)")
                break
            d = step.directive
            if d == "conn":
                current = step.args[0].decode()
                continue
            if d == "sleep":
                time.sleep(int(step.args[0]) / 1000)
                continue
            if d == "timeout":
                timeout = float(step.args[0])
                continue
            if d == "replies":
                pending_replies = int(step.args[0])
                continue
            if d == "close":
                for side in sides:
                    side.conn(current, protocol, timeout).close()
                continue
            if d == "read":
                count = int(step.args[0])
            elif d == "raw":
                data = step.args[0]
                for side in sides:
                    side.conn(current, protocol, timeout).send(data)
                count = 0 if step.nowait else 1
            else:
                count = 0 if step.nowait else reply_count(step, pending_replies)
                pending_replies = None
                data = encode_command(*step.args)
                for side in sides:
                    side.conn(current, protocol, timeout).send(data)
            for i in range(count):
                got = [side.conn(current, protocol, timeout).read(timeout) for side in sides]
                result.compared += 1
                if verbose:
                    print(f"  {result.name} line {step.lineno} [{current}]: {step.text}\n"
                          f"{show(got[0], step.mode, '      ')}")
                if not replies_match(step.mode, got[0], got[1]):
                    which = f" (reply {i + 1} of {count})" if count > 1 else ""
                    result.diffs.append(
                        f"    line {step.lineno} [{current}]{which}: {step.text}\n"
                        f"      reference:\n{show(got[0], step.mode)}\n"
                        f"      candidate:\n{show(got[1], step.mode)}"
                        + _raw_note(got[0], got[1]))
            if d is None and step.args and step.args[0].upper() == b"QUIT":
                for side in sides:
                    side.conn(current, protocol, timeout).close()
    except (OSError, ServerError) as exc:
        result.error = f"connection failed: {exc}"
    finally:
        for side in sides:
            side.close_all()
    return result


def _raw_note(a, b):
    if isinstance(a, bytes) and isinstance(b, bytes):
        if render(a) == render(b):
            return f"\n      raw: reference {escape(a)[:300]}\n           candidate {escape(b)[:300]}"
    return ""


# ---------------------------------------------------------------------------------------------
# Main

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", help="case files (default: every cases/*.txt)")
    p.add_argument("--only", help="comma-separated case names (file stems), e.g. connection")
    p.add_argument("--cases", default=str(CASES_DIR), help="directory of case files")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--candidate-cmd",
                       help="candidate command template with {port} and {dir}, e.g. "
                            "'build/dev/sluice-server --port {port} --dir {dir}'")
    group.add_argument("--candidate-redis", action="store_true",
                       help="use a second redis-server as the candidate (self-check)")
    group.add_argument("--candidate-port", type=int,
                       help="use an already running candidate (FLUSHALL is sent to it)")
    p.add_argument("--reference-port", type=int,
                   help="use an already running redis as reference (FLUSHALL is sent to it)")
    p.add_argument("--protocols", default="2,3", help="protocols to run: 2, 3 or 2,3")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply")
    p.add_argument("--max-diffs", type=int, default=20, help="differences shown per pass")
    p.add_argument("--list", action="store_true", help="list the case names and exit")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print every command with the reference's reply")
    return p.parse_args(argv)


def select_cases(args):
    if args.files:
        files = [Path(f) for f in args.files]
    else:
        files = sorted(Path(args.cases).glob("*.txt"))
    if args.only:
        wanted = {n.strip() for n in args.only.split(",") if n.strip()}
        unknown = wanted - {f.stem for f in files}
        if unknown:
            raise CaseError(f"no such case: {', '.join(sorted(unknown))}")
        files = [f for f in files if f.stem in wanted]
    return files


def start_side(label, port, make):
    if port:
        return Side(label, port)
    srv = make()
    return Side(label, srv.port, srv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        files = select_cases(args)
        cases = [(f.stem, *load_case(f)) for f in files]
    except (CaseError, OSError) as exc:
        print(f"redis_diff: {exc}", file=sys.stderr)
        return 2
    if args.list:
        for name, _, protocols in cases:
            print(f"{name} (RESP{','.join(map(str, protocols))})")
        return 0
    if not cases:
        print("redis_diff: no case files", file=sys.stderr)
        return 2
    wanted_protocols = {int(p) for p in args.protocols.split(",")}

    def make_candidate():
        if args.candidate_redis:
            return Server(redis=True, name="candidate-redis")
        if args.candidate_cmd:
            return Server(template=args.candidate_cmd, name="candidate")
        return Server(binary=server_binary(), name="candidate")

    try:
        ref = start_side("reference", args.reference_port,
                         lambda: Server(redis=True, name="reference"))
        cand = start_side("candidate", args.candidate_port, make_candidate)
    except ServerError as exc:
        print(f"redis_diff: {exc}", file=sys.stderr)
        return 2
    print(f"reference: 127.0.0.1:{ref.port}"
          + (f" ({shlex.join(ref.server.command_line())})" if ref.server else " (already running)"))
    print(f"candidate: 127.0.0.1:{cand.port}"
          + (f" ({shlex.join(cand.server.command_line())})" if cand.server else
             " (already running)"), flush=True)

    passed = failed = 0
    for name, steps, protocols in cases:
        for protocol in (2, 3):
            if protocol not in protocols or protocol not in wanted_protocols:
                continue
            started = time.monotonic()
            result = run_pass(steps, name, protocol, ref, cand, args.timeout, args.max_diffs,
                              args.verbose)
            elapsed = time.monotonic() - started
            crashed = [s for s in (ref, cand) if s.server and not s.server.alive]
            if result.error is None and not result.diffs and not crashed:
                passed += 1
                print(f"PASS  {result.name} ({result.compared} replies, {elapsed:.2f}s)",
                      flush=True)
                continue
            failed += 1
            detail = (f"{len(result.diffs)} of {result.compared} replies differ"
                      if result.diffs else "")
            print(f"FAIL  {result.name} {detail}".rstrip(), flush=True)
            if result.error:
                print(f"    {result.error}")
            for diff in result.diffs:
                print(diff)
            for side in crashed:
                print(f"    the {side.label} died (status {side.server.proc.returncode}):\n"
                      f"{side.server.log_tail(30)}")
                try:
                    side.server.restart()
                except ServerError as exc:
                    print(f"redis_diff: cannot restart the {side.label}: {exc}", file=sys.stderr)
                    print(f"{passed} passed, {failed + 1} failed")
                    return 1
            sys.stdout.flush()

    for side in (ref, cand):
        if side.server:
            try:
                side.server.stop()
            except ServerError as exc:
                failed += 1
                print(f"FAIL  {side.label} shut down cleanly\n{exc}")
            side.server.cleanup()
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
