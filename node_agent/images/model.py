"""What the emulated programs are made of, as plain values: an HTTP request and a
pre-rendered response, the kinds of app (HTTP, raw TCP stream, UDP datagram, DNS relay)
a plain TCP relay) and a program (its listeners, the log files it copies, its start-up
banner, how it ends). The socket layer decodes bytes into these, calls the app, and
encodes the answer; nothing here does I/O or reads a clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from pathlib import Path
from typing import NamedTuple


class Request(NamedTuple):
    """One parsed HTTP request. A NamedTuple because one is built per request on the hot
    path (cheaper than a frozen dataclass); header names are lower-case, values latin-1."""

    method: str
    target: str  # the request-target as sent; for unparsable requests, the raw first line
    version: str  # "1.1", "1.0"; "" when the request could not be parsed
    headers: tuple[tuple[str, str], ...]
    body: bytes
    client: tuple[str, int]
    server: tuple[str, int]
    started: float  # epoch seconds when the head was complete
    conn: int = 0  # the connection's serial number on this listener (nginx's "*N")

    def header(self, name: str) -> str | None:
        """The first value of a header (``name`` lower-case)."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    @property
    def line(self) -> str:
        """The request line as access logs print it."""
        if not self.version:
            return self.target
        return f"{self.method} {self.target} HTTP/{self.version}"

    @property
    def host(self) -> str:
        """The Host header, else the address the request arrived on."""
        return self.header("host") or f"{self.server[0]}:{self.server[1]}"


@dataclass(frozen=True, slots=True)
class Response:
    """A response ready for the wire: ``head`` holds the status line and headers with two
    named slots the server fills per request, ``%(date)b`` and ``%(conn)b`` (the
    software's Connection header lines for keep-alive or close)."""

    status: int
    head: bytes
    body: bytes = b""
    close: bool = False  # the app wants the connection closed after this response
    exit_code: int | None = None  # the program ends after this response (agnhost /exit)

    def render(self, date: bytes, conn: bytes) -> bytes:
        return self.head % {b"date": date, b"conn": conn}


DATE = "\x00date"  # header value placeholder: the server's clock, per second
CONNECTION = ("\x00conn", "")  # header list entry: where the Connection lines go


def respond(status: int, headers: Iterable[tuple[str, str]], body: bytes = b"", *,
            reason: str | None = None, close: bool = False,
            exit_code: int | None = None) -> Response:
    """Pre-renders a response. Header values are stripped of CR/LF so echoed input
    cannot inject headers; ``%`` is escaped for the slot formatting."""
    phrase = reason if reason is not None else reason_phrase(status)
    parts = [f"HTTP/1.1 {status} {phrase}\r\n".replace("%", "%%")]
    for name, value in headers:
        if (name, value) == CONNECTION:
            parts.append("%(conn)b")
        elif value == DATE:
            parts.append(f"{name}: %(date)b\r\n")
        else:
            clean = value.replace("\r", "").replace("\n", "")
            parts.append(f"{name}: {clean}\r\n".replace("%", "%%"))
    parts.append("\r\n")
    return Response(status, "".join(parts).encode("latin-1", "replace"), body,
                    close=close, exit_code=exit_code)


def reason_phrase(status: int) -> str:
    """The standard reason phrase, or "" for a code without one."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class Problem(StrEnum):
    """Why a request never reached the app."""

    BAD_REQUEST = "bad-request"
    HEADERS_TOO_LARGE = "headers-too-large"
    BODY_TOO_LARGE = "body-too-large"


class HttpApp:
    """An HTTP server's behaviour. Subclasses answer requests, render the software's own
    error pages and access-log lines, and set how it keeps connections."""

    keep_alive: bytes = b""  # Connection header lines while the connection stays open
    closing: bytes = b"Connection: close\r\n"
    idle_timeout: float = 300.0  # seconds without a byte before the server hangs up
    max_head: int = 64 << 10  # request line + headers, bytes
    max_body: int = 8 << 20

    def handle(self, req: Request) -> Response:
        raise NotImplementedError

    def problem(self, problem: Problem, req: Request) -> Response:
        """The answer to a request that could not be served (always closes)."""
        status = {Problem.BAD_REQUEST: 400, Problem.HEADERS_TOO_LARGE: 431,
                  Problem.BODY_TOO_LARGE: 413}[problem]
        text = f"{status} {reason_phrase(status)}"
        return respond(status, [("Content-Type", "text/plain; charset=utf-8"), CONNECTION],
                       text.encode(), close=True)

    def log(self, req: Request, resp: Response, now: float) -> str | None:
        """The lines the software writes for this request (several joined by newlines)."""
        return None


class DatagramApp:
    """A UDP service: each datagram gets at most one reply."""

    def reply(self, data: bytes, client: tuple[str, int],
              now: float) -> tuple[bytes | None, str | None]:
        """(reply, log line)."""
        raise NotImplementedError


_METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ",
            b"CONNECT ", b"TRACE ", b"PRI ")


def looks_like_http(first: bytes) -> bool | None:
    """Whether a client's first bytes start an HTTP request: True, False, or None while
    they are still a prefix of a method."""
    if any(first.startswith(m) for m in _METHODS):
        return True
    if any(m.startswith(first) for m in _METHODS):
        return None
    return False


class StreamApp:
    """A raw TCP service. It greets each connection, after ``greeting_delay`` seconds of
    client silence (None: at once); bytes that look like HTTP before that go to ``http``."""

    greeting_delay: float | None = None
    close_after_greeting: bool = False
    echo: bool = False  # echo the client's bytes back after the greeting
    http: HttpApp | None = None

    def greet(self, client: tuple[str, int], now: float) -> tuple[bytes, str | None]:
        """(greeting, log line)."""
        raise NotImplementedError


class RelayFailure(NamedTuple):
    """Why a relayed query got no answer: ``kind`` is "timeout", "refused", "overloaded"
    (too many queries in flight) or "error" (``detail`` holds the OS error text)."""

    kind: str
    local: tuple[str, int] | None  # the relay's own socket address, once it had one
    detail: str = ""


class RelayApp:
    """A DNS server that asks another one (CoreDNS's forward plugin): each query, a UDP
    datagram or a length-prefixed TCP message, goes to ``upstream`` over the same
    transport from the pod IP; ``answer`` turns the upstream's reply, or the reason there
    is none, into the client's reply and a log line. At most ``max_concurrent`` queries
    wait at once, and each for at most ``timeout`` seconds."""

    upstream: tuple[str, int] = ("", 0)
    timeout: float = 5.0
    max_concurrent: int = 1000

    def received(self, query: bytes, tcp: bool) -> bool:
        """Whether to relay ``query`` (False: drop it unanswered)."""
        raise NotImplementedError

    def answer(self, query: bytes, reply: bytes | None, failure: RelayFailure | None,
               tcp: bool) -> tuple[bytes | None, str | None]:
        """(reply to the client, log line)."""
        raise NotImplementedError


class ForwardApp:
    """A plain TCP relay: each connection is joined, byte for byte and both ways, to a
    connection of its own to ``upstream``, made from the client's address so the upstream
    sees the real client (the ingress-nginx pod's 80 and 443, whose nginx is kubeloop's
    ingress process). None, or an upstream that cannot be reached within ``timeout``
    seconds: the client's connection is closed at once."""

    def __init__(self, upstream: tuple[str, int] | None, timeout: float = 5.0) -> None:
        self.upstream = upstream
        self.timeout = timeout


@dataclass(frozen=True)
class Listener:
    port: int
    protocol: str  # "TCP" | "UDP"
    app: HttpApp | StreamApp | DatagramApp | RelayApp | ForwardApp


class FollowedFile:
    """A file another process writes that the program copies into its log as it grows:
    from its size when the container starts (a file that appears later, or is replaced,
    from its start), polled every ``interval`` seconds. Each new complete line goes
    through ``copy``, which says what to log (None: nothing)."""

    path: Path = Path()
    interval: float = 0.5

    def copy(self, line: str, now: float) -> str | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Exit:
    """How a process ends: its last output lines and exit code."""

    code: int
    lines: tuple[str, ...] = ()


class Program:
    """A long-running emulated process: its listeners, its start-up output, what it
    prints and returns when told to stop (SIGTERM) or when it cannot bind."""

    listeners: tuple[Listener, ...] = ()
    follows: tuple[FollowedFile, ...] = ()

    def banner(self, now: float) -> list[str]:
        return []

    def finished(self, now: float) -> Exit | None:
        """How a program that does its work and ends (a Job's) exits once its banner is
        out; None for a server, which runs until stopped."""
        return None

    def terminated(self, now: float) -> Exit:
        # A Go binary without a SIGTERM handler dies of the signal: 128 + 15.
        return Exit(143)

    def bind_failed(self, listener: Listener, errno: int, reason: str, now: float) -> Exit:
        """Each program words this its own way; this is the fallback."""
        return Exit(1, (f"kubeloop: cannot listen on {listener.port}/{listener.protocol}: "
                        f"{reason}",))
