"""HTTP messages as ingress-nginx writes them, with no I/O: what the proxy takes from a
client's request head (``read_request``), the request head sent to a backend
(X-Forwarded-*, X-Real-IP, X-Request-ID), the response head sent to a client
(``relay``), nginx's own pages (404, 413, 502, 503, ...) byte for byte, the 308 to https,
request targets reduced to the path routing matches, and the access log line in
ingress-nginx's default ``log-format-upstream``.

``Request`` and ``Response`` depend only on the bytes of a head (and the few flags
named), so the proxy may keep them and reuse them when the same bytes come again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import NamedTuple
from urllib.parse import unquote

CRLF = b"\r\n"
# Request headers the proxy sets itself or that only concern one hop (RFC 9110 7.6.1,
# plus the proxy's own X-Forwarded family and httpoxy's Proxy, which ingress-nginx clears).
_REQUEST_DROPPED = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
    b"transfer-encoding", b"upgrade", b"expect", b"proxy", b"x-request-id", b"x-real-ip",
    b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-port", b"x-forwarded-proto",
    b"x-forwarded-scheme", b"x-scheme", b"x-original-forwarded-for",
})
# nginx hides the backend's Server (ingress-nginx clears its own too) and owns framing.
_RESPONSE_DROPPED = re.compile(rb"\r\n(?:connection|keep-alive|proxy-connection|"
                               rb"transfer-encoding|server|trailer|(upgrade)):[^\r]*")

Headers = list[tuple[bytes, bytes]]  # (name, value) as received


_REASONS = {s.value: s.phrase for s in HTTPStatus} | {
    503: "Service Temporarily Unavailable", 504: "Gateway Time-out",
    413: "Request Entity Too Large", 414: "Request-URI Too Large", 302: "Moved Temporarily"}
_STATUS_LINES = {code: b"HTTP/1.1 %d %s" % (code, phrase.encode())
                 for code, phrase in _REASONS.items()}


def reason(status: int) -> str:
    """nginx's reason phrases (a few differ from Python's)."""
    return _REASONS.get(status, "Unknown")


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d Unknown" % status


def page(status: int, detail: str = "") -> bytes:
    """nginx's built-in error page for a status, CRLF line ends as nginx sends them."""
    title = f"{status} {detail or reason(status)}"
    lines = ["<html>", f"<head><title>{title}</title></head>", "<body>",
             f"<center><h1>{status} {reason(status)}</h1></center>"]
    if detail:
        lines.append(f"<center>{detail}</center>")
    lines += ["<hr><center>nginx</center>", "</body>", "</html>", ""]
    return "\r\n".join(lines).encode()


HEADERS_TOO_LARGE = "Request Header Or Cookie Too Large"  # nginx's 400 for big heads


class Clock:
    """A time format applied once per second (the Date header, the log's time)."""

    def __init__(self, fmt: str) -> None:
        self._fmt = fmt
        self._second = -1
        self._value = ""

    def __call__(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            self._value = time.strftime(self._fmt, time.gmtime(second))
        return self._value


class HttpDate:
    """The Date header value, formatted once per second."""

    def __init__(self) -> None:
        self._clock = Clock("%a, %d %b %Y %H:%M:%S GMT")
        self._second = -1
        self._value = b""

    def __call__(self, now: float) -> bytes:
        second = int(now)
        if second != self._second:
            self._second = second
            self._value = self._clock(now).encode()
        return self._value


_LOG_TIME = Clock("%d/%b/%Y:%H:%M:%S +0000")


def error_response(status: int, date: bytes, *, keep_alive: bool, detail: str = "",
                   location: str = "", head_only: bool = False) -> bytes:
    """A response of the proxy's own: nginx's page, or the redirect page with Location."""
    body = page(status, detail)
    head = [status_line(status), b"Date: " + date,
            b"Content-Type: text/html", b"Content-Length: %d" % len(body),
            b"Connection: keep-alive" if keep_alive else b"Connection: close"]
    if location:
        head.append(b"Location: " + location.encode("latin-1", "replace"))
    return CRLF.join(head) + CRLF + CRLF + (b"" if head_only else body)


def https_location(host: str, https_port: int, target: str) -> str:
    """Where ssl-redirect sends a request: same host and URI on the https port."""
    port = "" if https_port == 443 else f":{https_port}"
    return f"https://{host}{port}{target}"


def valid_host(value: str) -> bool:
    """A Host (or absolute-form host) nginx accepts: no ".." or "/", no spaces or control
    characters, something before the port and final dot (ngx_http_validate_host). An
    empty value is a request without one."""
    if not value:
        return True
    if ".." in value or "/" in value:
        return False
    if any(c <= " " or c == "\x7f" for c in value):
        return False
    return bool(split_host(value)) or value.startswith("[")


def split_host(value: str) -> str:
    """The Host header reduced to what servers match: lower case, no port, no final dot."""
    host = value.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[:end + 1] if end > 0 else host
    colon = host.rfind(":")
    if colon >= 0:
        host = host[:colon]
    return host.rstrip(".")


@dataclass(frozen=True)
class Target:
    """A request-target split for routing: ``path`` is decoded and normalised (what nginx
    matches locations against); ``raw`` is forwarded as received."""

    path: str
    query: str
    raw: str
    host: str = ""  # from an absolute-form target, which overrides Host


def parse_target(raw: str) -> Target | None:
    """None when the target is not something nginx accepts (400)."""
    host = ""
    if not raw.startswith("/"):
        lowered = raw[:8].lower()
        if lowered.startswith(("http://", "https://")):
            rest = raw.split("://", 1)[1]
            slash = rest.find("/")
            host, raw = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
        else:
            return None  # "*" (OPTIONS) included: nginx answers 400
    path, _, query = raw.partition("?")
    path = path.partition("#")[0]
    if "%" in path:
        path = unquote(path, errors="surrogateescape")
    if "//" in path or "/." in path:
        normal = normalize_path(path)
        if normal is None:
            return None
        path = normal
    return Target(path, query, raw, host)


def normalize_path(path: str) -> str | None:
    """nginx's URI normalisation: merged slashes, "." and ".." resolved; None when ".."
    climbs above the root (nginx answers 400)."""
    out: list[str] = []
    parts = path.split("/")
    for part in parts[1:-1]:
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                return None
            out.pop()
        else:
            out.append(part)
    last = parts[-1]
    if last == "..":
        if not out:
            return None
        out.pop()
        last = ""
    elif last == ".":
        last = ""
    return "/" + "".join(p + "/" for p in out) + last


# Request headers the proxy reads (first value wins).
_NOTED = frozenset({b"host", b"x-request-id", b"expect", b"upgrade", b"content-length",
                    b"transfer-encoding", b"user-agent", b"referer", b"x-forwarded-for"})


def sort_request_headers(headers: Headers) -> tuple[dict[bytes, bytes], list[bytes]]:
    """One pass over a request's headers: the values the proxy needs (by lower-case
    name), and the header lines to pass on to the backend unchanged. BadRequest for a
    second Host."""
    noted: dict[bytes, bytes] = {}
    kept: list[bytes] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered in _NOTED:
            if lowered == b"host" and lowered in noted:
                raise BadRequest("duplicate Host")  # nginx: "client sent duplicate host"
            noted.setdefault(lowered, value)
        elif lowered not in _REQUEST_DROPPED:
            kept.append(name + b": " + value)
    return noted, kept


class BadRequest(ValueError):
    """A request head nginx refuses, with this status."""

    status = 400


class UnknownCoding(BadRequest):
    """A Transfer-Encoding other than chunked: nginx's 501."""

    status = 501


@dataclass(frozen=True, slots=True)
class Request:
    """What the proxy needs from a client's request head."""

    method: bytes
    url: bytes
    line: str  # the request line, for the access log
    size: int  # the head's length as nginx's $request_length counts it
    keep_alive: bool
    upgrade: bool  # asks to switch protocols (CONNECT never does here)
    protocol: bytes  # its Upgrade header
    chunked: bool
    length: int  # Content-Length, 0 without one
    host: bytes
    request_id: bytes  # X-Request-ID as received, b"" without one
    expect_continue: bool
    forwarded_for: bytes | None
    agent: str  # '"$http_referer" "$http_user_agent"', as the access log writes them
    kept: tuple[bytes, ...]  # header lines passed on unchanged

    @property
    def replayable(self) -> bool:
        """The whole request is its head: it may be sent again to another backend."""
        return not (self.chunked or self.length or self.upgrade)


def read_request(method: bytes, url: bytes, version: str, *, keep_alive: bool,
                 upgrade: bool, headers: Headers, fields_size: int) -> Request:
    """A parsed request head (``fields_size``: its header lines' bytes, CRLFs included).
    BadRequest for a Content-Length that is not a number, for an HTTP/1.1 request
    without Host (RFC 9112 3.2; nginx: "client sent HTTP/1.1 request without Host") or
    with two; UnknownCoding for a Transfer-Encoding other than chunked."""
    noted, kept = sort_request_headers(headers)
    if b"host" not in noted and version != "1.0":
        raise BadRequest("no Host")
    chunked, length = False, 0
    coding = noted.get(b"transfer-encoding")
    if coding is not None:
        chunked = coding.strip().lower() == b"chunked"
        if not chunked:
            raise UnknownCoding(coding)
    elif b"content-length" in noted:
        value = noted[b"content-length"].strip()
        if not value.isdigit():
            raise BadRequest(value)
        length = int(value)
    line = f"{method.decode('latin-1')} {url.decode('latin-1')} HTTP/{version}"
    referer = noted.get(b"referer", b"").decode("latin-1") or "-"
    user_agent = noted.get(b"user-agent", b"").decode("latin-1") or "-"
    return Request(
        method, url, line, len(line) + fields_size + 4, keep_alive,
        upgrade and method != b"CONNECT", noted.get(b"upgrade", b""), chunked, length,
        noted.get(b"host", b""), noted.get(b"x-request-id", b""),
        noted.get(b"expect", b"").lower() == b"100-continue", noted.get(b"x-forwarded-for"),
        f'"{referer}" "{user_agent}"', tuple(kept))


def request_head(method: bytes, target: bytes, kept: Sequence[bytes], *, host: bytes,
                 client_ip: bytes, port: bytes, scheme: bytes, length: int | None,
                 forwarded_for: bytes | None = None,
                 upgrade: bytes = b"") -> tuple[bytes, bytes]:
    """The head sent to the backend, as ingress-nginx's proxy_set_header lines make it,
    in two parts: X-Request-ID's value goes between them (each request has its own, the
    rest repeats). ``length``: the body's Content-Length, None for a chunked body
    (re-chunked)."""
    before = b"".join((method, b" ", target, b" HTTP/1.1\r\nHost: ", host,
                       b"\r\nX-Request-ID: "))
    out = [b"\r\nX-Real-IP: ", client_ip, b"\r\nX-Forwarded-For: ", client_ip,
           b"\r\nX-Forwarded-Host: ", host, b"\r\nX-Forwarded-Port: ", port,
           b"\r\nX-Forwarded-Proto: ", scheme, b"\r\nX-Forwarded-Scheme: ", scheme,
           b"\r\nX-Scheme: ", scheme]
    if forwarded_for is not None:
        out += (b"\r\nX-Original-Forwarded-For: ", forwarded_for)
    if kept:
        out += (CRLF, CRLF.join(kept))
    if length is None:
        out.append(b"\r\nTransfer-Encoding: chunked")
    elif length:
        out.append(b"\r\nContent-Length: %d" % length)
    if upgrade:
        out += (b"\r\nConnection: upgrade\r\nUpgrade: ", upgrade)
    out.append(b"\r\n\r\n")
    return before, b"".join(out)


def response_fields(head: bytes, start: int = 0) -> tuple[bytes, bytes, int]:
    """A backend's response head found in ``head`` from ``start``: its field block (each
    line led by CRLF, the status line and the blank line left out), the block in lower
    case, and where the head ends. Working on the whole block with bytes methods, not
    per header, is what keeps relaying a response cheap."""
    end = head.find(b"\r\n\r\n", start)
    block = head[head.find(b"\r\n", start):end] if end >= 0 else b""
    return block, block.lower(), end + 4


def response_head(status: int, block: bytes, lowered: bytes, *, date: bytes,
                  keep_alive: bool, chunked: bool, upgrade: bool = False) -> bytes:
    """The head sent to the client for a backend's response: its fields less the hop-by-hop
    ones and Server, with a Date and the proxy's own framing."""
    pieces, kept_from = [], 0
    for m in _RESPONSE_DROPPED.finditer(lowered):
        if upgrade and m.group(1):
            continue  # the Upgrade header of a 101 goes on
        pieces.append(block[kept_from:m.start()])
        kept_from = m.end()
    if pieces:
        pieces.append(block[kept_from:])
        block = b"".join(pieces)
    out = [status_line(status)]
    if b"\r\ndate:" not in lowered:
        out.append(b"\r\nDate: " + date)
    out.append(block)
    if upgrade:
        out.append(b"\r\nConnection: upgrade")
    else:
        if chunked:
            out.append(b"\r\nTransfer-Encoding: chunked")
        out.append(b"\r\nConnection: keep-alive" if keep_alive else b"\r\nConnection: close")
    out.append(b"\r\n\r\n")
    return b"".join(out)


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)[ \t]*(?:\r|$)")


@dataclass(frozen=True, slots=True)
class Response:
    """A backend's response head as it goes on to the client."""

    status: int
    head: bytes  # for the client
    length: bool  # the backend delimits the body by Content-Length ...
    chunked: bool  # ... or by chunks (with neither, by closing)
    rechunked: bool  # the client gets the body chunked: it has no length
    # The body's exact size when this relay depends on nothing but the backend's head
    # bytes (it has a length or no body, and a Date of its own); None otherwise.
    fixed_body: int | None


def relay(status: int, block: bytes, lowered: bytes, *, date: bytes, keep_alive: bool,
          bodiless: bool) -> Response:
    """How a backend's final response head (not 1xx) goes on to the client. A body
    without a length is re-chunked for a keep-alive client; an HTTP/1.0 client's ends
    when the connection closes."""
    length = b"\r\ncontent-length:" in lowered
    chunked = b"\r\ntransfer-encoding:" in lowered
    rechunked = not length and not bodiless and keep_alive
    fixed: int | None = None
    if b"\r\ndate:" in lowered and not chunked:
        if bodiless:
            fixed = 0
        elif length and (m := _CONTENT_LENGTH.search(lowered)) is not None:
            fixed = int(m.group(1))
    head = response_head(status, block, lowered, date=date, keep_alive=keep_alive,
                         chunked=rechunked)
    return Response(status, head, length, chunked, rechunked, fixed)


_MILLIS = [f"0.{ms:03d}" for ms in range(1000)]


def seconds(took: float) -> str:
    """A duration as nginx's $request_time writes it: seconds, milliseconds truncated."""
    ms = int(took * 1000)
    if 0 <= ms < 1000:
        return _MILLIS[ms]
    ms = max(ms, 0)
    return f"{ms // 1000}.{ms % 1000:03d}"


class LogParts(NamedTuple):
    """An access log line (ingress-nginx's default log-format-upstream) less the three
    values every request has its own of: $request_time goes after ``to_time``,
    $upstream_response_time after ``to_upstream_time`` and $req_id after ``to_id``.
    The rest tends to repeat from one request to the next, and is kept."""

    to_time: str
    to_upstream_time: str
    to_id: str


def log_parts(remote: str, started: float, request: Request, status: int, sent: int,
              received: int, upstream_name: str, upstream_addr: str | None,
              upstream_status: str) -> LogParts:
    """The line's parts for a request that started at ``started`` (epoch seconds) with
    ``received`` body bytes; ``upstream_addr`` None when no backend was asked."""
    return LogParts(
        f'{remote} - - [{_LOG_TIME(started)}] "{request.line}" {status} {sent} '
        f"{request.agent} {request.size + received} ",
        f" [{upstream_name}] [] {upstream_addr or '-'} {'-' if upstream_addr is None else sent} ",
        f" {upstream_status} ")


def access_line(parts: LogParts, took: float, upstream_took: float | None,
                request_id: str) -> str:
    """The whole line: ``took`` and ``upstream_took`` (None without a backend) seconds."""
    return (f"{parts.to_time}{seconds(took)}{parts.to_upstream_time}"
            f"{'-' if upstream_took is None else seconds(upstream_took)}{parts.to_id}{request_id}")
