"""RESP2/RESP3 codec for the integration tests: encode commands, find where a reply ends, decode
replies into Python values, render them readably and reduce them to a shape.

Stdlib only, so redis_diff.py runs without redis-py. Decoded values:

  +simple       str                       -error / !bulk error   ReplyError (returned, not raised)
  :int          int                       (big number            BigNumber (an int)
  $bulk         bytes                     =verbatim              Verbatim (bytes, .format)
  $-1 *-1 _     None                      ,double                float
  #t #f         bool                      *array                 list
  ~set          RespSet (a list)          %map                   RespMap (a dict; list keys become tuples)
  >push         Push (a list)             |attribute             dropped: parse returns the value
                                                                 that follows the attribute
"""

CRLF = b"\r\n"


class ProtocolError(Exception):
    """The bytes are not valid RESP."""


class ReplyError(Exception):
    """An error reply. Compares equal to another ReplyError with the same message."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    @property
    def code(self):
        return self.message.split(" ", 1)[0] if self.message else ""

    def __eq__(self, other):
        return isinstance(other, ReplyError) and other.message == self.message

    def __hash__(self):
        return hash(self.message)

    def __repr__(self):
        return f"ReplyError({self.message!r})"


class BigNumber(int):
    pass


class Verbatim(bytes):
    format = b"txt"


class RespSet(list):
    pass


class RespMap(dict):
    pass


class Push(list):
    pass


def encode_command(*args):
    """A command as a RESP multibulk. Arguments may be bytes, str, int or float."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, (int, float)):
            data = repr(arg).encode()
        else:
            raise TypeError(f"cannot send {type(arg).__name__} as a RESP argument")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


_SCALAR_LINE = set(b"+-:_,#(")
_BLOB = set(b"$!=")
_AGGREGATE = set(b"*~>")


def _line(buf, pos):
    end = buf.find(CRLF, pos)
    return (None, None) if end < 0 else (buf[pos:end], end + 2)


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise ProtocolError(f"bad length/integer {text!r}") from None


def frame_end(buf, pos=0):
    """Offset just past the complete reply starting at buf[pos], or None if more bytes are needed.
    An attribute (|) is not a reply by itself: the reply is the attribute plus the value after it.
    Raises ProtocolError on bytes that cannot be RESP."""
    if pos >= len(buf):
        return None
    kind = buf[pos]
    line, nxt = _line(buf, pos + 1)
    if line is None:
        return None
    if kind in _SCALAR_LINE:
        return nxt
    if kind in _BLOB:
        n = _int(line)
        if n < 0:
            return nxt
        return nxt + n + 2 if len(buf) >= nxt + n + 2 else None
    if kind in _AGGREGATE or kind in b"%|":
        n = _int(line)
        if n < 0:
            return nxt
        count = n * 2 if kind in b"%|" else n
        for _ in range(count):
            nxt = frame_end(buf, nxt)
            if nxt is None:
                return None
        if kind == ord("|"):
            return frame_end(buf, nxt)
        return nxt
    raise ProtocolError(f"unknown RESP type byte {bytes([kind])!r} at offset {pos}")


def parse(buf, pos=0):
    """(value, end) for the complete reply at buf[pos]; raises ProtocolError if incomplete."""
    kind = buf[pos:pos + 1]
    line, nxt = _line(buf, pos + 1)
    if line is None:
        raise ProtocolError("incomplete reply")
    if kind == b"+":
        return line.decode("utf-8", "replace"), nxt
    if kind == b"-":
        return ReplyError(line.decode("utf-8", "replace")), nxt
    if kind == b":":
        return _int(line), nxt
    if kind == b"(":
        return BigNumber(_int(line)), nxt
    if kind == b"_":
        return None, nxt
    if kind == b"#":
        if line not in (b"t", b"f"):
            raise ProtocolError(f"bad boolean {line!r}")
        return line == b"t", nxt
    if kind == b",":
        text = line.decode().lower()
        return float({"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(text, text)), nxt
    if kind in (b"$", b"!", b"="):
        n = _int(line)
        if n < 0:
            return None, nxt
        if len(buf) < nxt + n + 2:
            raise ProtocolError("incomplete reply")
        data = bytes(buf[nxt:nxt + n])
        if buf[nxt + n:nxt + n + 2] != CRLF:
            raise ProtocolError("bulk string not followed by CRLF")
        end = nxt + n + 2
        if kind == b"!":
            return ReplyError(data.decode("utf-8", "replace")), end
        if kind == b"=":
            value = Verbatim(data[4:])
            value.format = data[:3]
            return value, end
        return data, end
    if kind in (b"*", b"~", b">"):
        n = _int(line)
        if n < 0:
            return None, nxt
        items = []
        for _ in range(n):
            item, nxt = parse(buf, nxt)
            items.append(item)
        return {b"*": list, b"~": RespSet, b">": Push}[kind](items), nxt
    if kind in (b"%", b"|"):
        n = _int(line)
        pairs = []
        for _ in range(n):
            key, nxt = parse(buf, nxt)
            value, nxt = parse(buf, nxt)
            pairs.append((_hashable(key), value))
        if kind == b"|":
            return parse(buf, nxt)
        return RespMap(pairs), nxt
    raise ProtocolError(f"unknown RESP type byte {kind!r}")


def parse_all(buf):
    """Every complete reply in buf, in order."""
    out, pos = [], 0
    while pos < len(buf):
        value, pos = parse(buf, pos)
        out.append(value)
    return out


def _hashable(value):
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _hashable(v)) for k, v in value.items())
    return value


def to_resp2(value):
    """The value a RESP2 client would have seen: maps flattened, sets/pushes as lists, doubles
    as bulk strings (Redis's %.17g form is not reproduced; the repr is), booleans as 1/0, verbatim
    strings as plain bulk strings. For asserting that RESP2 and RESP3 replies agree."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return repr(value).encode()
    if isinstance(value, Verbatim):
        return bytes(value)
    if isinstance(value, dict):
        flat = []
        for key, item in value.items():
            flat.append(to_resp2(list(key) if isinstance(key, tuple) else key))
            flat.append(to_resp2(item))
        return flat
    if isinstance(value, list):
        return [to_resp2(v) for v in value]
    if isinstance(value, BigNumber):
        return int(value)
    return value


_TYPE_NAMES = {
    "+": "simple", "-": "error", ":": "integer", "$": "bulk", "*": "array", "_": "null",
    ",": "double", "#": "boolean", "!": "bulk-error", "=": "verbatim", "(": "big-number",
    "%": "map", "~": "set", ">": "push", "|": "attribute",
}


def shape(buf, pos=0):
    """(shape, end): the reply's type structure with aggregate lengths, without scalar values.
    A bulk string's length is not part of its shape (IDs and timestamps vary in length), a null
    keeps its exact encoding ($-1, *-1 or _)."""
    kind = chr(buf[pos])
    line, nxt = _line(buf, pos + 1)
    if line is None:
        raise ProtocolError("incomplete reply")
    if kind in "+-:_,#(":
        return kind, nxt
    if kind in "$!=":
        n = _int(line)
        if n < 0:
            return kind + "-1", nxt
        return kind, nxt + n + 2
    if kind in "*~>%|":
        n = _int(line)
        if n < 0:
            return kind + "-1", nxt
        parts = []
        for _ in range(n * 2 if kind in "%|" else n):
            part, nxt = shape(buf, nxt)
            parts.append(part)
        text = f"{kind}{n}[{','.join(parts)}]"
        if kind == "|":
            rest, nxt = shape(buf, nxt)
            text += rest
        return text, nxt
    raise ProtocolError(f"unknown RESP type byte {kind!r}")


def render(buf, indent=""):
    """A readable multi-line view of one raw reply: redis-cli's style plus the RESP3 type, e.g.
    1) (bulk) "f"  /  (map, 2 pairs) ...  /  (error) ERR unknown command ..."""
    try:
        lines = _render(buf, 0)[0]
    except (ProtocolError, IndexError, ValueError) as exc:
        return f"{indent}<unparsable: {exc}> {escape(buf)}"
    return "\n".join(indent + line for line in lines)


def _render(buf, pos):
    kind = chr(buf[pos])
    line, nxt = _line(buf, pos + 1)
    if line is None:
        raise ProtocolError("incomplete reply")
    text = line.decode("utf-8", "replace")
    if kind == "+":
        return [f"(simple) {text}"], nxt
    if kind == "-":
        return [f"(error) {text}"], nxt
    if kind == ":":
        return [f"(integer) {text}"], nxt
    if kind == "(":
        return [f"(big-number) {text}"], nxt
    if kind == "_":
        return ["(null _)"], nxt
    if kind == "#":
        return [f"(boolean) {'true' if line == b't' else 'false'}"], nxt
    if kind == ",":
        return [f"(double) {text}"], nxt
    if kind in "$!=":
        n = _int(line)
        if n < 0:
            return [f"(nil {kind}-1)"], nxt
        data = bytes(buf[nxt:nxt + n])
        name = {"$": "bulk", "!": "bulk-error", "=": "verbatim"}[kind]
        return [f"({name}) {escape(data)}"], nxt + n + 2
    if kind in "*~>%|":
        n = _int(line)
        name = _TYPE_NAMES[kind]
        if n < 0:
            return [f"(nil {kind}-1)"], nxt
        if n == 0:
            return [f"({name}, empty)"], nxt
        out = [f"({name}, {n} {'pairs' if kind in '%|' else 'elements'})"]
        for i in range(n):
            if kind in "%|":
                key, nxt = _render(buf, nxt)
                value, nxt = _render(buf, nxt)
                out.append(f"  {i + 1}# {key[0]} =>")
                out.extend("      " + v for v in value)
                out.extend("      " + k for k in key[1:])
            else:
                item, nxt = _render(buf, nxt)
                label = f"  {i + 1}) "
                out.append(label + item[0])
                out.extend(" " * len(label) + rest for rest in item[1:])
        if kind == "|":
            rest, nxt = _render(buf, nxt)
            out.extend(rest)
        return out, nxt
    raise ProtocolError(f"unknown RESP type byte {kind!r}")


def escape(data):
    """bytes as a double-quoted string with redis-cli's escapes (\\n, \\r, \\t, \\xHH)."""
    out = ['"']
    for byte in data:
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    out.append('"')
    return "".join(out)


def split_args(line):
    """Splits a command line the way redis-cli does (sdssplitargs): whitespace separates
    arguments; "double quotes" allow \\n \\r \\t \\b \\a \\\\ \\" and \\xHH escapes (so binary
    arguments can be written); 'single quotes' allow only \\'. Returns a list of bytes.
    Raises ValueError on unbalanced quotes or a quote not followed by a space."""
    args = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return args
        current = bytearray()
        in_double = in_single = False
        while True:
            if in_double:
                if i >= n:
                    raise ValueError(f"unbalanced double quote in {line!r}")
                c = line[i]
                if c == "\\" and i + 3 < n and line[i + 1] == "x" and _is_hex(line[i + 2:i + 4]):
                    current.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif c == "\\" and i + 1 < n:
                    i += 1
                    current += {"n": b"\n", "r": b"\r", "t": b"\t", "b": b"\b",
                                "a": b"\a"}.get(line[i], line[i].encode())
                elif c == '"':
                    if i + 1 < n and not line[i + 1].isspace():
                        raise ValueError(f"closing quote must be followed by a space in {line!r}")
                    in_double = False
                    i += 1
                    break
                else:
                    current += c.encode()
            elif in_single:
                if i >= n:
                    raise ValueError(f"unbalanced single quote in {line!r}")
                c = line[i]
                if c == "\\" and i + 1 < n and line[i + 1] == "'":
                    i += 1
                    current += b"'"
                elif c == "'":
                    if i + 1 < n and not line[i + 1].isspace():
                        raise ValueError(f"closing quote must be followed by a space in {line!r}")
                    in_single = False
                    i += 1
                    break
                else:
                    current += c.encode()
            else:
                if i >= n or line[i].isspace():
                    break
                c = line[i]
                if c == '"':
                    in_double = True
                elif c == "'":
                    in_single = True
                else:
                    current += c.encode()
            i += 1
        args.append(bytes(current))


def _is_hex(text):
    return len(text) == 2 and all(c in "0123456789abcdefABCDEF" for c in text)
