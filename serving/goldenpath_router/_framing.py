"""HTTP/1.1 framing for the router (_proxy.py): one compiled regex finds the few headers
that matter, the header block is passed on as it came unless a hop-by-hop header must go,
and bodies are read whole (chunked ones de-chunked).

httptools is not among the runtime's dependencies, and it would call back into Python once
per header (docs/benchmarks.md, "Progressive delivery router", has the measurements)."""

from __future__ import annotations

import json
import re
from typing import Any

_MAX_HEAD = 64 * 1024
_FIELDS = re.compile(rb"\r\n(content-length|transfer-encoding|connection|keep-alive|"
                     rb"proxy-connection|te|trailer|upgrade|expect|host|x-request-id)"
                     rb"[ \t]*:([^\r\n]*)", re.IGNORECASE)
_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
                  b"transfer-encoding", b"upgrade", b"expect"})
_HOP_ANSWER = _HOP | {b"x-request-id"}  # the answer carries the router's id
_VARIANT = (b"X-Goldenpath-Variant: stable", b"X-Goldenpath-Variant: candidate")


class BadMessage(Exception):
    """The peer sent bytes this router cannot frame as HTTP/1.1."""


class Message:
    """One request or answer: first line, the headers that matter, the block passed on, body."""

    __slots__ = ("first", "fields", "rest", "body", "length", "chunked", "until_eof", "close",
                 "status", "parts", "expect")

    def __init__(self, first: bytes, fields: dict[bytes, bytes], rest: bytes) -> None:
        self.first, self.fields, self.rest, self.body = first, fields, rest, b""
        self.length, self.status = -1, 0
        self.parts: list[bytes] = []
        self.chunked = self.until_eof = self.close = False
        self.expect = fields.get(b"expect", b"").lower() == b"100-continue"


def parse_head(head: bytes, answer: bool, head_only: bool) -> Message:
    eol = head.find(b"\r\n")
    block = head[eol:] if eol >= 0 else b""
    fields = {k.lower(): v.strip() for k, v in _FIELDS.findall(block)}
    strip = _HOP_ANSWER if answer else _HOP
    if not strip.isdisjoint(fields):  # rare: rebuild the block without them
        block = b"".join(b"\r\n" + line for line in block.split(b"\r\n")[1:]
                         if line.partition(b":")[0].strip().lower() not in strip)
    m = Message(head[:eol] if eol >= 0 else head, fields, block)
    parts = m.first.split(b" ", 2)
    version = parts[0] if answer else parts[-1]
    if len(parts) < (2 if answer else 3) or not version.startswith(b"HTTP/1."):
        raise BadMessage(f"not an HTTP/1.x {'status' if answer else 'request'} line: "
                          f"{m.first[:60]!r}")
    connection = fields.get(b"connection", b"").lower()
    m.close = b"close" in connection or (version == b"HTTP/1.0" and b"keep-alive" not in connection)
    if answer:
        if not parts[1].isdigit():
            raise BadMessage(f"bad status line: {m.first[:60]!r}")
        m.status = int(parts[1])
        if head_only or m.status < 200 or m.status in (204, 304):
            return m  # no body, whatever the headers say
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        m.chunked = True
    elif b"content-length" in fields:
        if not fields[b"content-length"].isdigit():
            raise BadMessage(f"bad Content-Length: {fields[b'content-length'][:20]!r}")
        m.length = int(fields[b"content-length"])
    elif answer:
        m.until_eof = True
    return m


def dechunk(buf: bytearray, m: Message) -> bool:
    """Move complete chunks from buf into m.parts; True once the last chunk is in."""
    while (eol := buf.find(b"\r\n")) >= 0:
        try:
            size = int(bytes(buf[:eol]).split(b";", 1)[0], 16)
        except ValueError:
            raise BadMessage(f"bad chunk size line: {bytes(buf[:eol])[:40]!r}") from None
        if size == 0:  # trailers (ignored) end with an empty line
            if (end := buf.find(b"\r\n\r\n", eol)) < 0:
                return False
            del buf[: end + 4]
            m.body = b"".join(m.parts)
            return True
        if len(buf) < eol + size + 4:
            return False
        m.parts.append(bytes(buf[eol + 2 : eol + 2 + size]))
        del buf[: eol + size + 4]
    return False


class Reader:
    """Frames HTTP/1.1 messages out of one connection's bytes as they arrive."""

    def __init__(self, answers: bool) -> None:
        self.buf, self.answers = bytearray(), answers
        self.head_only = False  # the answer to a HEAD request has no body
        self.pending: Message | None = None  # head read, body not complete

    def next(self) -> Message | None:
        buf, m = self.buf, self.pending
        if m is None:
            if (end := buf.find(b"\r\n\r\n")) < 0:
                if len(buf) > _MAX_HEAD:
                    raise BadMessage("header block over 64 KiB")
                return None
            m = self.pending = parse_head(bytes(buf[:end]), self.answers, self.head_only)
            del buf[: end + 4]
        if m.chunked:
            if not dechunk(buf, m):
                return None
        elif m.until_eof or len(buf) < m.length:
            return None
        elif m.length > 0:
            m.body = bytes(buf[: m.length])
            del buf[: m.length]
        self.pending = None
        return m

    def eof(self) -> Message | None:
        """At the peer's close: the close-delimited answer, now complete."""
        m, self.pending = self.pending, None
        if m is None or not m.until_eof:
            return None
        m.body = bytes(self.buf)
        return m



def upstream_request(m: Message, method: bytes, target: bytes, made_id: bytes) -> bytes:
    extra = b"" if b"host" in m.fields else b"\r\nHost: 127.0.0.1"
    if made_id:
        extra += b"\r\nX-Request-Id: " + made_id
    if m.chunked:  # passed on de-chunked
        extra += b"\r\nContent-Length: %d" % len(m.body)
    return b"%s %s HTTP/1.1%s%s\r\n\r\n%s" % (method, target, m.rest, extra, m.body)


def client_answer(a: Message, variant: int, request_id: bytes, connection: bytes) -> bytes:
    first = a.first if a.first.startswith(b"HTTP/1.1 ") else b"HTTP/1.1 " + a.first[9:]
    length = b"\r\nContent-Length: %d" % len(a.body) if a.chunked or a.until_eof else b""
    return b"%s%s\r\n%s\r\nX-Request-Id: %s%s%s\r\n\r\n%s" % (
        first, a.rest, _VARIANT[variant], request_id, length, connection, a.body)


def json_answer(status: bytes, value: Any) -> Message:
    body = json.dumps(value).encode()
    a = Message(b"HTTP/1.1 " + status, {}, b"\r\nContent-Type: application/json"
                b"\r\nContent-Length: %d" % len(body))
    a.body, a.status = body, int(status[:3])
    return a


def error_answer(status: bytes, code: str, message: str, hint: str) -> Message:
    return json_answer(status, {"code": code, "message": message, "hint": hint})


def header(m: Message, name: bytes) -> bytes:
    """A header the framing does not pick out (`name` lower case), or b"" (rare paths only)."""
    for line in m.rest.split(b"\r\n"):
        field, _, value = line.partition(b":")
        if field.strip().lower() == name:
            return value.strip()
    return b""

