"""The pure half of HTTP/2 to clients (ingress/http2.py): an h2 request's header fields
as the HTTP/1.1 request head the ingress handler parses, an HTTP/1.1 response head as
h2 header fields, and a guard on announced frame sizes. No I/O, unit-tested alone."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

Fields = Iterable[tuple[bytes, bytes]]

# Connection-specific fields (RFC 9113 8.2.2), never carried from one side to the other.
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection",
                        b"transfer-encoding", b"upgrade", b"te"})
# The handler logs the request line it parses: nginx logs "GET / HTTP/2.0" for HTTP/2.
# An HTTP/2.0 request keeps its connection only when it says so (as HTTP/1.0 does).
REQUEST_VERSION = b"HTTP/2.0"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

_UNSAFE_VALUE = re.compile(rb"[\x00\r\n]")
_UNSAFE_TOKEN = re.compile(rb"[\x00-\x20\x7f]")


class Malformed(ValueError):
    """A request header block with no HTTP/1.1 equivalent (reset with PROTOCOL_ERROR)."""


class Request(NamedTuple):
    head: bytes  # the HTTP/1.1 request head, blank line included
    method: bytes
    chunked: bool  # the body that follows is to be sent chunked


def request_head(fields: Fields, *, body: bool) -> Request:
    """The HTTP/1.1 request an HTTP/2 request's header block stands for: the request line
    from :method and :path, Host from :authority (else the host field), the cookie fields
    joined with "; " (RFC 9113 8.2.3), connection-specific fields dropped. ``body``: DATA
    follows; without a content-length it goes chunked."""
    method = path = authority = host = None
    lines: list[bytes] = []
    cookies: list[bytes] = []
    length = False
    for name, value in fields:
        if _UNSAFE_VALUE.search(value) or _UNSAFE_TOKEN.search(name):
            raise Malformed(f"field {name!r} cannot be written in HTTP/1.1")
        if name[:1] == b":":
            if name == b":method":
                method = value
            elif name == b":path":
                path = value
            elif name == b":authority":
                authority = value
            continue  # :scheme is the listener's own
        if name in HOP_BY_HOP:
            continue
        if name == b"cookie":
            cookies.append(value)
        elif name == b"host":
            host = value
        else:
            length = length or name == b"content-length"
            lines.append(name + b": " + value)
    if not method or not path:
        raise Malformed("no :method or no :path (CONNECT is not served)")
    if _UNSAFE_TOKEN.search(method) or _UNSAFE_TOKEN.search(path):
        raise Malformed("a request line cannot hold :method or :path")
    out = [method + b" " + path + b" " + REQUEST_VERSION]
    if authority is not None or host is not None:
        out.append(b"host: " + (authority if authority is not None else host or b""))
    out += lines
    if cookies:
        out.append(b"cookie: " + b"; ".join(cookies))
    out.append(b"connection: keep-alive")
    chunked = body and not length
    if chunked:
        out.append(b"transfer-encoding: chunked")
    return Request(b"\r\n".join(out) + b"\r\n\r\n", method, chunked)


def response_headers(status: int, fields: Fields) -> list[tuple[bytes, bytes]]:
    """An HTTP/1.1 response head as HTTP/2 HEADERS: :status first, lower-case names, the
    connection-specific fields and those the Connection field names dropped."""
    fields = list(fields)
    named = {token.strip().lower() for name, value in fields if name.lower() == b"connection"
             for token in value.split(b",")}
    out = [(b":status", b"%d" % status)]
    for name, value in fields:
        lowered = name.lower()
        if lowered not in HOP_BY_HOP and lowered not in named:
            out.append((lowered, value))
    return out


class FrameGuard:
    """Follows the frame headers in a client's bytes (after the 24-byte preface) and
    says when one announces more than ``limit`` bytes. h2 buffers a frame's whole body
    before it checks the length: without this a client could make us hold 16 MiB per
    connection, and wait for it, before its FRAME_SIZE_ERROR."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.skip = len(PREFACE)  # bytes before the next frame header
        self.header = b""

    def admits(self, data: bytes) -> bool:
        pos, end = 0, len(data)
        while pos < end:
            if self.skip:
                step = min(self.skip, end - pos)
                self.skip -= step
                pos += step
                continue
            piece = data[pos:pos + 9 - len(self.header)]
            self.header += piece
            pos += len(piece)
            if len(self.header) == 9:
                self.skip = int.from_bytes(self.header[:3], "big")
                self.header = b""
                if self.skip > self.limit:
                    return False
        return True
