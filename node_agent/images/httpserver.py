"""The HTTP/1.1 server every emulated web app runs on: an asyncio Protocol around
httptools. Bytes in are parsed (keep-alive, pipelining, Content-Length and chunked
bodies, Expect: 100-continue); each complete request is answered synchronously by the
app's pure ``handle`` and written with the app's own header style; the app's log line
goes to the container log. Malformed requests, oversized heads and bodies get the app's
error page and a closed connection; idle connections are swept."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httptools

from node_agent.images import formats
from node_agent.images.logsink import LogSink
from node_agent.images.model import CONNECTION, HttpApp, Problem, Request, Response, respond

log = logging.getLogger(__name__)

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_FRAMING = frozenset({"content-length", "expect"})
# Builds a Request without NamedTuple's Python-level __new__: a third of its cost per request.
_new_request = tuple.__new__
# What a request gets when an app's handler raises (a kubeloop bug, logged as such).
CRASHED = respond(500, [("Content-Length", "0"), CONNECTION], close=True)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request the server refuses."""


class HttpService:
    """What the connections of one HTTP listener share: the app, the log, the open
    connections, and the hook to end the program (agnhost's /exit)."""

    def __init__(self, app: HttpApp, sink: LogSink, on_exit: Callable[[int], None]) -> None:
        self.app = app
        self.sink = sink
        self.on_exit = on_exit
        self.connections: set[HttpProtocol] = set()
        self.accepted = 0
        self._second = -1
        self._date = b""
        self._rendered: tuple[dict[bytes, bytes], dict[bytes, bytes]] = ({}, {})

    def protocol(self) -> HttpProtocol:
        return HttpProtocol(self)

    def render(self, resp: Response, keep: bool, now: float) -> bytes:
        """The response head for the wire. Heads are cached by content for the current
        second: most answers of an app are the same few pre-rendered responses."""
        second = int(now)
        if second != self._second:
            self._second, self._date = second, formats.http_date(second)
            self._rendered = ({}, {})
        cache = self._rendered[keep]
        head = cache.get(resp.head)
        if head is None:
            head = resp.render(self._date, self.app.keep_alive if keep else self.app.closing)
            if len(cache) < 64:
                cache[resp.head] = head
        return head

    def sweep(self, now: float) -> int:
        """Closes connections that received nothing for the app's idle timeout; returns
        how many. Called periodically with a monotonic ``now``: a connection's activity
        flag (set per read, cheaper than a clock read) restarts its idle clock."""
        idle = []
        for conn in self.connections:
            if conn.active:
                conn.active, conn.quiet_since = False, now
            elif now - conn.quiet_since >= self.app.idle_timeout:
                idle.append(conn)
        for conn in idle:
            conn.close()
        return len(idle)

    def close_all(self, abort: bool) -> None:
        for conn in list(self.connections):
            conn.close(abort)


def _address(info: Any) -> tuple[str, int]:
    return (info[0], info[1]) if info else ("", 0)


class HttpProtocol(asyncio.Protocol):
    """One client connection; httptools calls the on_* methods while parsing."""

    def __init__(self, service: HttpService) -> None:
        self.service = service
        self.app = service.app
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.client = self.local = ("", 0)
        self.conn = 0
        self.active = True  # bytes arrived since the last idle sweep
        self.quiet_since = time.monotonic()
        self.closing = False
        self._out: list[bytes] = []
        self._problem: Problem | None = None
        self._method = ""
        self._version = ""
        self._expect = False
        # The next head must fit in max_head: counted as parsed (request line and header
        # fields), and as read while it is unfinished (a head that never ends). The read
        # count is not the head's size: the read that ends it may carry body bytes too.
        self._in_head = True
        self._head_size = 0
        self._head_read = 0
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._body_size = 0

    # -- asyncio.Protocol

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.client = _address(transport.get_extra_info("peername"))
        self.local = _address(transport.get_extra_info("sockname"))
        self.service.accepted += 1
        self.conn = self.service.accepted
        self.service.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.service.connections.discard(self)
        self.closing = True

    def eof_received(self) -> bool | None:
        return None  # the client is done sending: close once our answers are written

    def pause_writing(self) -> None:
        # A client that pipelines without reading stops being read until it catches up.
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.active = True
        if self._in_head:
            self._head_read += len(data)
        try:
            self.parser.feed_data(data)
            if self._in_head and self._head_read > self.app.max_head:
                self._problem = Problem.HEADERS_TOO_LARGE
                raise _Refused()
        except httptools.HttpParserUpgrade:
            self.closing = True  # answered as plain HTTP; no protocol switch
        except (httptools.HttpParserError, _Refused):
            if not self.closing:
                self._refuse(self._problem or Problem.BAD_REQUEST, data)
        if self._out:
            self.transport.writelines(self._out)
            self._out = []
        if self.closing:
            self.transport.close()

    def close(self, abort: bool = False) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort() if abort else self.transport.close()

    # -- httptools callbacks

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        self._headers.append((key, text))
        if key in _FRAMING:
            if key == "expect":
                self._expect = text.lower() == "100-continue"
            elif text.isdigit() and int(text) > self.app.max_body:
                self._problem = Problem.BODY_TOO_LARGE  # refused before the body arrives
                raise _Refused()

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_size > self.app.max_head:
            self._problem = Problem.HEADERS_TOO_LARGE
            raise _Refused()
        parser = self.parser
        self._method = parser.get_method().decode("latin-1")
        self._version = parser.get_http_version()
        if self._expect and self._version == "1.1":
            self._out.append(CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self.app.max_body:
            self._problem = Problem.BODY_TOO_LARGE
            raise _Refused()
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self.closing:
            return
        now = time.time()
        req = _new_request(Request, (self._method, self._url.decode("latin-1"), self._version,
                                     tuple(self._headers), b"".join(self._body), self.client,
                                     self.local, now, self.conn))
        self._in_head, self._head_size, self._head_read = True, 0, 0
        self._url, self._expect = b"", False
        self._headers, self._body, self._body_size = [], [], 0
        try:
            resp = self.app.handle(req)
        except Exception:
            log.exception("%s failed to answer %r", type(self.app).__name__, req.line)
            resp = CRASHED
        self._send(req, resp, not resp.close and self.parser.should_keep_alive(), now)

    # -- answers

    def _send(self, req: Request, resp: Response, keep: bool, now: float) -> None:
        out = self._out
        out.append(self.service.render(resp, keep, now))
        if resp.body and req.method != "HEAD":
            out.append(resp.body)
        if not keep:
            self.closing = True
        line = self.app.log(req, resp, now)
        if line is not None:
            self.service.sink.add(line)
        if resp.exit_code is not None:
            self.service.on_exit(resp.exit_code)

    def _refuse(self, problem: Problem, data: bytes) -> None:
        """Answers a request that never reached the app; logged with its raw first line."""
        first = data.split(b"\r\n", 1)[0][:1024].decode("latin-1")
        now = time.time()
        req = Request("", first, "", tuple(self._headers), b"", self.client, self.local,
                      now, self.conn)
        self._send(req, self.app.problem(problem, req), False, now)
