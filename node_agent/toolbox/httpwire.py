"""HTTP/1.1 on the wire for curl and wget, without sockets: URLs read the way curl reads
them, request bytes, and an incremental response parser (status line, headers, then the
body framed by Content-Length, chunked encoding or the end of the connection)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_HEAD = 64 * 1024


class UrlError(Exception):
    """A URL curl would refuse: ``code`` is curl's exit code (1 or 3)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Url:
    scheme: str
    host: str
    port: int
    target: str  # path and query
    userinfo: str = ""

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def text(self) -> str:
        return f"{self.scheme}://{self.authority}{self.target}"


_URL = re.compile(r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?:(?P<userinfo>[^@/?#]*)@)?"
                  r"(?P<host>\[[^\]]*\]|[^:/?#]*)(?::(?P<port>[^/?#]*))?(?P<rest>[/?#].*)?$")


def parse_url(text: str) -> Url:
    """A URL as curl accepts it: the scheme may be missing (http), the path too (/)."""
    m = _URL.match(text.strip())
    if not m:
        raise UrlError(3, "URL rejected: Malformed input to a URL function")
    scheme = (m.group("scheme") or "http").lower()
    if scheme not in DEFAULT_PORTS:
        raise UrlError(1, f'Protocol "{m.group("scheme")}" not supported')
    host = m.group("host").strip("[]")
    if not host:
        raise UrlError(3, "URL rejected: No host part in the URL")
    if re.search(r"[\s<>\"{}|\\^`]", host):
        raise UrlError(3, "URL rejected: Bad hostname")
    port_text = m.group("port")
    if port_text is None or port_text == "":
        port = DEFAULT_PORTS[scheme]
    elif port_text.isdigit() and int(port_text) <= 65535:
        port = int(port_text)
    else:
        raise UrlError(3, "URL rejected: Port number was not a decimal number between 0 and 65535")
    rest = (m.group("rest") or "/").split("#", 1)[0]
    target = rest if rest.startswith("/") else "/" + rest
    return Url(scheme, host.lower(), port, target.replace(" ", "%20"), m.group("userinfo") or "")


def resolve_location(base: Url, location: str) -> Url:
    """Where a redirect's Location points, relative to the request's URL."""
    return parse_url(urljoin(base.text, location.strip()))


def build_request(method: str, target: str, headers: list[tuple[str, str]],
                  body: bytes = b"") -> bytes:
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("latin-1", errors="replace") + b"\r\n" + body


class HttpError(Exception):
    """A response curl gives up on: ``kind`` is "empty", "weird" or "partial"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Head:
    version: str  # "1.1"
    status: int
    reason: str
    headers: list[tuple[str, str]]
    raw: bytes  # the status line and header lines as received, blank line included

    def get(self, name: str) -> str | None:
        wanted = name.lower()
        found = [v for k, v in self.headers if k.lower() == wanted]
        return found[-1] if found else None

    @property
    def status_line(self) -> str:
        return self.raw.split(b"\n", 1)[0].decode("latin-1").rstrip("\r")

    @property
    def keep_alive(self) -> bool:
        connection = (self.get("Connection") or "").lower()
        return self.version != "1.0" and "close" not in connection


_STATUS = re.compile(rb"HTTP/(\d(?:\.\d)?) +(\d{3})(?: +(.*))?$")


@dataclass
class ResponseParser:
    """Feed it bytes as they arrive; it yields body bytes and says when it has all."""

    head_only: bool = False  # a HEAD request: no body whatever the headers say
    head: Head | None = None
    done: bool = False
    received: int = 0  # body bytes, after de-chunking
    _buffer: bytes = b""
    _mode: str = "head"  # head, length, chunk-size, chunk-data, chunk-end, trailer, close
    _left: int = 0
    _seen: bool = False  # any byte at all

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        self._seen = self._seen or bool(data)
        body = bytearray()
        while not self.done and self._step(body):
            pass
        self.received += len(body)
        return bytes(body)

    def finish(self) -> None:
        """The connection ended: fine only if the body was framed by its end."""
        if self.done:
            return
        if self._mode == "close":
            self.done = True
            return
        if not self._seen:
            raise HttpError("empty", "Empty reply from server")
        if self._mode == "head":
            raise HttpError("weird", "Received HTTP/0.9 when not allowed")
        if self._mode == "length":
            raise HttpError("partial", f"transfer closed with {self._left} bytes remaining "
                                       "to read")
        raise HttpError("partial", "transfer closed with outstanding read data remaining")

    def _step(self, body: bytearray) -> bool:
        if self._mode == "head":
            return self._read_head()
        if self._mode in ("length", "chunk-data"):
            take = self._buffer[:self._left]
            if not take:
                return False
            body += take
            self._buffer = self._buffer[len(take):]
            self._left -= len(take)
            if self._left == 0:
                self._mode = "chunk-end" if self._mode == "chunk-data" else "done"
                self.done = self._mode == "done"
            return True
        if self._mode == "close":
            body += self._buffer
            self._buffer = b""
            return False
        line, sep, rest = self._buffer.partition(b"\n")
        if not sep:
            return False
        self._buffer = rest
        line = line.rstrip(b"\r")
        if self._mode == "chunk-size":
            try:
                self._left = int(line.split(b";", 1)[0].strip() or b"x", 16)
            except ValueError:
                raise HttpError("partial", "invalid chunk size") from None
            self._mode = "chunk-data" if self._left else "trailer"
        elif self._mode == "chunk-end":
            self._mode = "chunk-size"
        elif self._mode == "trailer" and not line:
            self.done = True
        return True

    def _read_head(self) -> bool:
        probe = self._buffer[:5]
        if probe and not b"HTTP/".startswith(probe):
            raise HttpError("weird", "Received HTTP/0.9 when not allowed")
        end, size = self._buffer.find(b"\r\n\r\n"), 4
        bare = self._buffer.find(b"\n\n")
        if 0 <= bare and (end < 0 or bare < end):
            end, size = bare, 2
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                raise HttpError("weird", "Received HTTP/0.9 when not allowed")
            return False
        raw, self._buffer = self._buffer[:end + size], self._buffer[end + size:]
        lines = raw.decode("latin-1").replace("\r\n", "\n").split("\n")
        m = _STATUS.match(lines[0].encode("latin-1"))
        if not m:
            raise HttpError("weird", "Received HTTP/0.9 when not allowed")
        headers = [(k.strip(), v.strip()) for k, sep, v in (ln.partition(":") for ln in lines[1:])
                   if sep]
        head = Head(m.group(1).decode(), int(m.group(2)),
                    (m.group(3) or b"").decode("latin-1"), headers, raw)
        if 100 <= head.status < 200 and head.status != 101:
            return True  # an interim response: the real one follows
        self.head = head
        encoding = (head.get("Transfer-Encoding") or "").lower()
        length = head.get("Content-Length")
        if self.head_only or head.status in (101, 204, 304):
            self.done = True
        elif "chunked" in encoding:
            self._mode = "chunk-size"
        elif length is not None and length.strip().isdigit():
            self._left = int(length)
            self._mode = "length"
            self.done = self._left == 0
        else:
            self._mode = "close"
        return True
