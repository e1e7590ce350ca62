"""The data plane: HTTP/1.1 reverse proxy on asyncio Protocols with httptools.

A ``ClientConnection`` parses requests (keep-alive, pipelining, Content-Length and chunked
bodies), asks the current routing ``Table`` who answers (``Proxy.table`` is swapped whole
by the controller, so a request in flight keeps the route it got), and either answers
itself (nginx's pages, the 308 to https, 413) or streams the request to a pod through an
``Upstream`` connection from the per-endpoint keep-alive pool. The backend's response is
streamed back (re-chunked when it has no length); a 101 turns both sides into a raw
tunnel (WebSocket or any Upgrade). Timeouts are deadlines checked by one sweep, so the
hot path never arms a timer. Decisions live in routing.py, annotations.py and
messages.py; this module only moves bytes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any
from urllib.parse import quote

import httptools

from ingress import annotations as nginx_annotations
from ingress import messages
from ingress.annotations import BackendProtocol
from ingress.routing import Backend, Endpoint, Route, Table
from kubeloop.tasks import TaskGroup

log = logging.getLogger(__name__)

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
DEFAULT_BACKEND = "upstream-default-backend"  # ingress-nginx's name in the access log


@dataclass(frozen=True)
class ProxyConfig:
    """Limits and timeouts (seconds), ingress-nginx's defaults."""

    client_header_timeout: float = 60.0  # the whole request head, from its first byte
    client_body_timeout: float = 60.0  # between two reads of a request body
    keepalive_timeout: float = 75.0  # an idle client connection
    keepalive_requests: int = 1000  # requests per client connection
    connect_timeout: float = 5.0  # proxy-connect-timeout
    read_timeout: float = 60.0  # proxy-read-timeout: between two reads from the backend
    upstream_keepalive: int = 320  # idle connections kept per endpoint
    upstream_idle_timeout: float = 60.0
    max_head: int = 4 * 8192  # large_client_header_buffers 4 8k
    max_line: int = 8192  # one header line or the request line
    next_upstream_tries: int = 3
    pipeline_depth: int = 16  # pipelined requests read ahead before reading pauses
    sweep_interval: float = 1.0

    def validate(self) -> None:
        for name, value in vars(self).items():
            if value <= 0:
                raise ValueError(f"ingress proxy: {name} must be positive, not {value}")


class State(IntEnum):
    IDLE = 0  # between requests (keepalive_timeout)
    HEAD = 1  # reading a request head (client_header_timeout)
    BODY = 2  # reading a request body (client_body_timeout)
    WAIT = 3  # waiting for the backend (read_timeout)
    TUNNEL = 4  # upgraded: raw bytes both ways (read_timeout between reads)


class _Refused(Exception):
    """Raised inside a parser callback: the request is answered with ``status``."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(status)
        self.status = status
        self.detail = detail


class _Bodiless(Exception):
    """Raised by the response parser's head callback for a HEAD request: the message
    ends with its head whatever Content-Length says (httptools cannot be told)."""


class Exchange:
    """One request and its response."""

    __slots__ = ("url", "headers", "noted", "kept", "method", "keep_alive", "upgrade", "chunked", "length",
                 "body_limit", "received", "pending", "request_done", "response_done",
                 "upstream", "route", "started", "status", "sent", "tries",
                 "request_id", "upstream_addr", "upstream_status", "upstream_started",
                 "response_chunked", "tunnel_data", "request_line",
                 "head_length", "forward", "reused", "responded")

    def __init__(self, started: float) -> None:
        self.url = b""
        self.headers: messages.Headers = []
        self.noted: dict[bytes, bytes] = {}  # the headers the proxy reads
        self.kept: list[bytes] = []  # header lines passed on as they are
        self.method = b""
        self.keep_alive = True
        self.upgrade = False
        self.chunked = False
        self.length = 0
        self.body_limit: int | None = None
        self.received = 0  # request body bytes
        self.pending: list[bytes] = []  # body bytes read before the backend is attached
        self.request_done = False
        self.response_done = False
        self.responded = False  # a response head went to the client
        self.upstream: Upstream | None = None
        self.route: Route | None = None
        self.started = started  # epoch seconds (nginx's request_time is wall-clock too)
        self.status = 0
        self.sent = 0
        self.tries = 0
        self.request_id = b""
        self.upstream_addr = "-"
        self.upstream_status = "-"
        self.upstream_started = 0.0
        self.response_chunked = False
        self.tunnel_data = b""
        self.request_line = ""
        self.head_length = 0
        self.forward = b""  # the request head for the backend
        self.reused = False


def _chunk(data: bytes) -> list[bytes]:
    return [b"%x\r\n" % len(data), data, b"\r\n"]


class Proxy:
    """What the connections of the HTTP and HTTPS listeners share."""

    def __init__(self, config: ProxyConfig, tasks: TaskGroup,
                 access_log: Callable[[str], None] | None = None) -> None:
        config.validate()
        self.config = config
        self.tasks = tasks
        self.access_log = access_log
        self.table = Table()  # replaced whole by the controller
        self.https_port = 443
        self.date = messages.HttpDate()
        self.now = time.monotonic()  # coarse clock, advanced by the sweep
        self.clients: set[ClientConnection] = set()
        self.idle: dict[tuple[Endpoint, BackendProtocol], list[Upstream]] = {}
        self.upstreams: set[Upstream] = set()
        self._backend_tls = ssl.create_default_context()
        self._backend_tls.check_hostname = False  # ingress-nginx: proxy_ssl_verify off
        self._backend_tls.verify_mode = ssl.CERT_NONE

    # --- connections to backends ------------------------------------------------------

    def take_idle(self, endpoint: Endpoint, protocol: BackendProtocol) -> Upstream | None:
        idle = self.idle.get((endpoint, protocol))
        while idle:
            conn = idle.pop()
            if not conn.closed:
                conn.idle = False
                return conn
        return None

    def release(self, conn: Upstream) -> None:
        idle = self.idle.setdefault(conn.key, [])
        if len(idle) >= self.config.upstream_keepalive or conn.closed:
            conn.close()
            return
        conn.idle = True
        conn.deadline = self.now + self.config.upstream_idle_timeout
        idle.append(conn)

    async def connect(self, client: ClientConnection, exchange: Exchange,
                      endpoint: Endpoint, protocol: BackendProtocol) -> None:
        loop = asyncio.get_running_loop()
        tls = self._backend_tls if protocol is BackendProtocol.HTTPS else None
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: Upstream(self, (endpoint, protocol)),
                                       endpoint[0], endpoint[1], ssl=tls,
                                       server_hostname="" if tls else None),
                self.config.connect_timeout)
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
            client.connect_failed(exchange, endpoint, e)
            return
        client.attach(exchange, conn, reused=False)

    # --- housekeeping -----------------------------------------------------------------

    def sweep(self, now: float) -> None:
        """Ends what passed its deadline: slow clients, idle keep-alives, silent backends."""
        self.now = now
        for client in [c for c in self.clients if c.deadline < now]:
            client.expired()
        for conn in [u for u in self.upstreams if u.idle and u.deadline < now]:
            conn.close()

    async def run_sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval)
            self.sweep(time.monotonic())

    def close_all(self) -> None:
        for client in list(self.clients):
            client.abort()
        for conn in list(self.upstreams):
            conn.close()
        self.idle.clear()


class ClientConnection(asyncio.Protocol):
    """One client connection (plain or TLS); httptools calls the on_* methods."""

    def __init__(self, proxy: Proxy, scheme: bytes, port: int) -> None:
        self.proxy = proxy
        self.config = proxy.config
        self.scheme = scheme
        self.https = scheme == b"https"
        self.port = str(port).encode()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.ip = b""
        self.queue: deque[Exchange] = deque()
        self.reading: Exchange | None = None  # the exchange whose request is being parsed
        self.state = State.HEAD
        self.deadline = proxy.now + self.config.client_header_timeout
        self.head_size = 0
        self.requests = 0
        self.closing = False
        self.tunnel: Upstream | None = None
        self.paused = False
        # What a backend read produced for the client, written in one go (one syscall
        # for head and body) when the read is handled: see ``flush``.
        self.out: list[bytes] = []

    # -- asyncio.Protocol

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.ip = (peer[0] if peer else "").encode()
        self.proxy.clients.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.proxy.clients.discard(self)
        if self.tunnel is not None:
            self.tunnel.close()
        for ex in self.queue:
            if ex.upstream is not None:
                ex.upstream.close()  # never back to the pool mid-exchange
            if not ex.response_done and ex.method:
                ex.status = ex.status or 499  # nginx's "client closed request"
                self.log(ex)
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.deadline = self.proxy.now + self.config.read_timeout
            self.tunnel.transport.write(data)
            return
        if self.closing:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as e:
            # the upgrade request was the last message; what follows its head is the
            # new protocol's, held until the backend agrees (101) or not
            if self.queue:
                self.queue[-1].tunnel_data = bytes(data[e.args[0]:]) if e.args else b""
            self.transport.pause_reading()
        except httptools.HttpParserCallbackError as e:
            cause = e.__context__
            if isinstance(cause, _Refused):
                self.refuse(cause.status, cause.detail)
            else:
                log.error("ingress: request handling failed", exc_info=cause)
                self.refuse(500)
        except httptools.HttpParserError:
            self.refuse(400)

    def eof_received(self) -> bool | None:
        return None

    def pause_writing(self) -> None:
        ex = self.queue[0] if self.queue else None
        upstream = self.tunnel or (ex.upstream if ex is not None else None)
        if upstream is not None:
            upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        ex = self.queue[0] if self.queue else None
        upstream = self.tunnel or (ex.upstream if ex is not None else None)
        if upstream is not None and not upstream.closed:
            upstream.transport.resume_reading()

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        ex = Exchange(time.time())
        self.reading = ex
        self.queue.append(ex)
        self.head_size = 0
        if len(self.queue) == 1:
            self.state = State.HEAD
            self.deadline = self.proxy.now + self.config.client_header_timeout
        if len(self.queue) > self.config.pipeline_depth and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def on_url(self, url: bytes) -> None:
        ex = self.reading
        assert ex is not None
        ex.url += url
        if len(ex.url) > self.config.max_line:
            raise _Refused(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + 4
        self.head_size += size
        if size > self.config.max_line or self.head_size > self.config.max_head:
            raise _Refused(400, messages.HEADERS_TOO_LARGE)
        ex = self.reading
        assert ex is not None
        ex.headers.append((name, value))

    def on_headers_complete(self) -> None:
        ex = self.reading
        assert ex is not None
        parser = self.parser
        ex.method = parser.get_method()
        version = parser.get_http_version()
        ex.keep_alive = parser.should_keep_alive()
        ex.upgrade = parser.should_upgrade() and ex.method != b"CONNECT"
        ex.request_line = (f"{ex.method.decode('latin-1')} {ex.url.decode('latin-1')} "
                           f"HTTP/{version}")
        ex.head_length = len(ex.request_line) + self.head_size + 4
        noted, ex.kept = messages.sort_request_headers(ex.headers)
        ex.noted = noted
        if b"transfer-encoding" in noted:
            ex.chunked = b"chunked" in noted[b"transfer-encoding"].lower()
        elif b"content-length" in noted:
            value = noted[b"content-length"].strip()
            if not value.isdigit():
                raise _Refused(400)
            ex.length = int(value)
        self.requests += 1
        if self.requests >= self.config.keepalive_requests:
            ex.keep_alive = False
        if ex is self.queue[0]:
            self.serve(ex)

    def on_body(self, body: bytes) -> None:
        ex = self.reading
        assert ex is not None
        ex.received += len(body)
        self.deadline = self.proxy.now + self.config.client_body_timeout
        if ex.responded and ex.upstream is None:
            return  # answered by the proxy: the body is read and dropped
        if ex.body_limit is not None and ex.received > ex.body_limit:
            if ex.upstream is not None:
                ex.upstream.close()
                ex.upstream = None
            raise _Refused(413)
        upstream = ex.upstream
        if upstream is not None and upstream.exchange is ex:
            upstream.send(_chunk(body) if ex.chunked else [body])
        else:
            ex.pending.append(body)

    def on_message_complete(self) -> None:
        ex = self.reading
        assert ex is not None
        self.reading = None
        ex.request_done = True
        if self.state == State.BODY and ex is self.queue[0]:
            self.state = State.WAIT
            self.deadline = self.proxy.now + self.config.read_timeout
        upstream = ex.upstream
        if ex.chunked:
            if upstream is not None and upstream.exchange is ex:
                upstream.send([b"0\r\n\r\n"])
            else:
                ex.pending.append(b"")  # marks the end of a chunked body
        if ex.response_done:
            self.finish(ex)

    # -- routing and answering

    def serve(self, ex: Exchange) -> None:
        """The request's head is complete and it is first in line: answer it or send it
        to a backend."""
        if ex.request_done:
            self.state = State.WAIT
            self.deadline = self.proxy.now + self.config.read_timeout
        else:
            self.state = State.BODY
            self.deadline = self.proxy.now + self.config.client_body_timeout
        target = messages.parse_target(ex.url.decode("latin-1"))
        if target is None:
            self.refuse(400)
            return
        noted = ex.noted
        host_value = target.host or noted.get(b"host", b"").decode("latin-1")
        host = messages.split_host(host_value)
        route = ex.route = self.proxy.table.match(host, target.path)
        if route.redirect and not self.https:
            location = messages.https_location(host, self.proxy.https_port, target.raw)
            self.answer(ex, 308, location=location)
            return
        limit = ex.body_limit = route.annotations.body_limit
        if limit is not None and max(ex.length, ex.received) > limit:
            self.answer(ex, 413, close=True)
            return
        backend = route.backend
        if backend is None:
            self.answer(ex, 404)
            return
        if not backend.endpoints:
            self.answer(ex, 503)
            return
        forward_target = ex.url
        if route.rewrite is not None:
            rewritten = nginx_annotations.rewrite(route.rewrite, route.annotations.rewrite_target,
                                            target.path, target.query)
            if rewritten is not None:
                forward_target = quote(rewritten, safe="/?&=%:@!$'()*+,;~-._").encode()
        request_id = noted.get(b"x-request-id") or b"%032x" % random.getrandbits(128)
        ex.request_id = request_id
        ex.forward = messages.request_head(
            ex.method, forward_target, ex.kept, host=host_value.encode("latin-1"),
            client_ip=self.ip, port=self.port, scheme=self.scheme, request_id=request_id,
            length=None if ex.chunked else ex.length,
            forwarded_for=noted.get(b"x-forwarded-for"),
            upgrade=noted.get(b"upgrade", b"") if ex.upgrade else b"")
        if not ex.request_done and noted.get(b"expect", b"").lower() == b"100-continue":
            self.transport.write(CONTINUE)
        self.send_to(ex, backend)

    def send_to(self, ex: Exchange, backend: Backend) -> None:
        endpoint = backend.pick()
        assert endpoint is not None
        ex.tries += 1
        ex.upstream_addr = f"{endpoint[0]}:{endpoint[1]}"
        ex.upstream_started = time.time()
        conn = None if ex.upgrade else self.proxy.take_idle(endpoint, backend.protocol)
        if conn is not None:
            self.attach(ex, conn, reused=True)
        else:
            self.proxy.tasks.spawn(f"connect {ex.upstream_addr}",
                                   self.proxy.connect(self, ex, endpoint, backend.protocol),
                                   expect_exit=True)

    def attach(self, ex: Exchange, conn: Upstream, *, reused: bool) -> None:
        if self.closing or not self.queue or self.queue[0] is not ex or ex.responded:
            if reused:
                self.proxy.release(conn)
            else:
                conn.close()
            return
        ex.upstream = conn
        ex.reused = reused
        conn.exchange = ex
        conn.client = self
        out = [ex.forward]
        for piece in ex.pending:
            if ex.chunked:
                out += _chunk(piece) if piece else [b"0\r\n\r\n"]
            else:
                out.append(piece)
        conn.send(out)
        if ex.upgrade and ex.tunnel_data:
            conn.send([ex.tunnel_data])
            ex.tunnel_data = b""

    def connect_failed(self, ex: Exchange, endpoint: Endpoint, error: BaseException) -> None:
        log.warning("backend %s:%d: %r", *endpoint, error)
        self.upstream_failed(ex, timed_out=isinstance(error, asyncio.TimeoutError))

    def upstream_failed(self, ex: Exchange, *, timed_out: bool = False) -> None:
        """The backend connection failed before a response: the next endpoint (only for
        requests without a body, which can be sent again; one more try when the failed
        connection was a pooled one the backend had closed), else 502 or 504."""
        stale = ex.reused
        ex.upstream = None
        if self.closing or ex.responded:
            return
        backend = ex.route.backend if ex.route is not None else None
        if backend is not None and not (ex.length or ex.chunked or ex.upgrade):
            tries = min(self.config.next_upstream_tries, len(backend.endpoints)) + stale
            if ex.tries < tries:
                self.send_to(ex, backend)
                return
        ex.upstream_status = "504" if timed_out else "502"
        self.answer(ex, 504 if timed_out else 502)

    def answer(self, ex: Exchange, status: int, *, location: str = "", detail: str = "",
               close: bool = False) -> None:
        """A response of the proxy's own."""
        if ex.upstream is not None:
            ex.upstream.close()
            ex.upstream = None
        keep = ex.keep_alive and not close and not self.closing and not ex.upgrade
        ex.keep_alive = keep
        data = messages.error_response(status, self.proxy.date(time.time()), keep_alive=keep,
                                       detail=detail, location=location,
                                       head_only=ex.method == b"HEAD")
        ex.status = status
        ex.sent = len(data) - data.index(b"\r\n\r\n") - 4
        ex.responded = ex.response_done = True
        self.transport.write(data)
        if ex.request_done or not keep:
            self.finish(ex)

    def refuse(self, status: int, detail: str = "") -> None:
        """A request the parser or the limits refuse: answered, then the connection ends."""
        ex = self.queue[-1] if self.queue else None
        if ex is None or ex.responded:
            self.close()
            return
        # answers queue in order: drop what was pipelined before the bad request
        while self.queue and self.queue[0] is not ex:
            self.queue.popleft()
        self.answer(ex, status, detail=detail, close=True)

    # -- the backend's response (called by Upstream)

    def response_head(self, ex: Exchange, status: int, block: bytes, lowered: bytes,
                      length: bool, bodiless: bool) -> None:
        ex.status = status
        ex.upstream_status = str(status)
        ex.responded = True
        if status == 101:
            self.out.append(messages.response_head(
                status, block, lowered, date=self.proxy.date(time.time()), keep_alive=False,
                chunked=False, upgrade=True))
            return
        chunked = not length and not bodiless and ex.keep_alive
        if not length and not bodiless and not chunked:
            ex.keep_alive = False  # HTTP/1.0 client: the body ends when we close
        ex.response_chunked = chunked
        self.out.append(messages.response_head(
            status, block, lowered, date=self.proxy.date(time.time()),
            keep_alive=ex.keep_alive, chunked=chunked))

    def response_body(self, ex: Exchange, body: bytes) -> None:
        ex.sent += len(body)
        self.deadline = self.proxy.now + self.config.read_timeout
        if ex.response_chunked:
            self.out += _chunk(body)
        else:
            self.out.append(body)

    def response_done(self, ex: Exchange) -> None:
        if ex.response_chunked:
            self.out.append(b"0\r\n\r\n")
        ex.response_done = True
        ex.upstream = None
        if ex.request_done:
            self.finish(ex)

    def start_tunnel(self, ex: Exchange, conn: Upstream, early: bytes) -> None:
        """The backend switched protocols: from now on bytes pass untouched both ways."""
        self.tunnel = conn
        self.state = State.TUNNEL
        self.deadline = self.proxy.now + self.config.read_timeout
        self.log(ex)
        if early:
            self.out.append(early)
        self.flush()
        self.transport.resume_reading()

    def response_lost(self, ex: Exchange) -> None:
        """The backend closed in the middle of its response: nothing else can be said."""
        ex.upstream = None
        self.log(ex)
        self.queue.clear()
        self.abort()

    # -- finishing

    def flush(self) -> None:
        if self.out:
            self.transport.writelines(self.out)
            self.out = []

    def finish(self, ex: Exchange) -> None:
        self.flush()
        self.log(ex)
        if self.queue and self.queue[0] is ex:
            self.queue.popleft()
        if not ex.keep_alive or ex.upgrade:
            self.close()
            return
        if self.paused and len(self.queue) <= self.config.pipeline_depth:
            self.paused = False
            self.transport.resume_reading()
        if self.queue:
            nxt = self.queue[0]
            if nxt.method:  # its head is complete
                self.serve(nxt)
            else:
                self.state = State.HEAD
                self.deadline = self.proxy.now + self.config.client_header_timeout
        else:
            self.state = State.IDLE
            self.deadline = self.proxy.now + self.config.keepalive_timeout

    def log(self, ex: Exchange) -> None:
        sink = self.proxy.access_log
        if sink is None or not ex.method:
            return
        route = ex.route
        backend = route.backend if route is not None else None
        now = time.time()
        upstream_time = f"{now - ex.upstream_started:.3f}" if ex.upstream_started else "-"
        noted = ex.noted
        sink(messages.access_line(messages.LogEntry(
            remote_addr=self.ip.decode(), time=ex.started, request_line=ex.request_line,
            status=ex.status, body_bytes_sent=ex.sent,
            referer=noted.get(b"referer", b"").decode("latin-1"),
            user_agent=noted.get(b"user-agent", b"").decode("latin-1"),
            request_length=ex.head_length + ex.received, request_time=now - ex.started,
            upstream_name=backend.name if backend is not None else DEFAULT_BACKEND,
            upstream_addr=ex.upstream_addr if ex.upstream_started else "-",
            upstream_response_length=str(ex.sent) if ex.upstream_started else "-",
            upstream_response_time=upstream_time,
            upstream_status=ex.upstream_status, request_id=ex.request_id.decode("latin-1"))))

    def expired(self) -> None:
        """Past the deadline of the current state."""
        ex = self.queue[0] if self.queue else None
        if self.state == State.WAIT and ex is not None and not ex.responded:
            ex.upstream_status = "504"
            self.answer(ex, 504, close=True)
            return
        # Slow heads, stalled bodies, idle keep-alives: nginx closes without a response.
        self.abort() if self.state in (State.HEAD, State.BODY) else self.close()

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


class Upstream(asyncio.Protocol):
    """A connection to one backend endpoint, reused across requests when the backend
    keeps it alive."""

    def __init__(self, proxy: Proxy, key: tuple[Endpoint, BackendProtocol]) -> None:
        self.proxy = proxy
        self.key = key
        self.parser = httptools.HttpResponseParser(self)
        self.transport: Any = None
        self.client: ClientConnection | None = None
        self.exchange: Exchange | None = None
        self.closed = False
        self.idle = False
        self.deadline = 0.0
        self.tunnel = False
        self.got_response = False
        # The response head is taken from the bytes (messages.response_fields), not from
        # a callback per header: reads are kept from the start of a head until its end.
        self._in_head = True
        self._raw = b""
        self._offset = 0
        self._length = False
        self._chunked = False

    # -- asyncio.Protocol

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.proxy.upstreams.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.proxy.upstreams.discard(self)
        client, ex = self.client, self.exchange
        self.exchange = None
        if self.tunnel:
            if client is not None:
                client.close()
            return
        if client is None or ex is None or ex.upstream is not self:
            return
        if not ex.responded:
            client.upstream_failed(ex)
        elif not ex.response_done:
            if not self._length and not self._chunked and self.got_response:
                # a body delimited by the backend closing: complete now
                client.response_done(ex)
            else:
                client.response_lost(ex)

    def pause_writing(self) -> None:
        if self.client is not None and not self.client.closing:
            self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.client is not None and not self.client.closing:
            self.client.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.tunnel:
            client = self.client
            if client is not None:
                client.deadline = self.proxy.now + self.proxy.config.read_timeout
                client.transport.write(data)
            return
        if self.exchange is None:
            self.close()  # bytes nobody asked for: this connection cannot be trusted
            return
        client = self.client
        if self._in_head:
            self._raw = self._raw + data if self._raw else data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as e:
            self._switch(bytes(data[e.args[0]:]) if e.args else b"")
        except httptools.HttpParserCallbackError as e:
            if isinstance(e.__context__, _Bodiless):
                self._complete()
                self.parser = httptools.HttpResponseParser(self)
            else:
                log.error("ingress: response handling failed", exc_info=e.__context__)
                self._fail()
        except httptools.HttpParserError as e:
            log.warning("backend %s sent a malformed response: %r", self.key[0], e)
            self._fail()
        if client is not None and client.out and not client.closing:
            client.flush()

    def _fail(self) -> None:
        """A response that cannot be relayed: 502 if the client has seen nothing yet."""
        ex, client = self.exchange, self.client
        self.close()
        if ex is not None and client is not None:
            if not ex.responded:
                client.upstream_failed(ex)
            else:
                client.response_lost(ex)

    def send(self, data: list[bytes]) -> None:
        if not self.closed:
            self.transport.writelines(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.exchange = None
            if self.transport is not None:
                self.transport.close()

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        self.got_response = True

    def on_headers_complete(self) -> None:
        ex, client = self.exchange, self.client
        assert ex is not None and client is not None
        block, lowered, self._offset = messages.response_fields(self._raw, self._offset)
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return  # interim responses stay between proxy and backend
        self._in_head = False
        self._raw, self._offset = b"", 0
        self._length = b"\r\ncontent-length:" in lowered
        self._chunked = b"\r\ntransfer-encoding:" in lowered
        bodiless = ex.method == b"HEAD" or status in (204, 304)
        if status == 101 and not ex.upgrade:
            raise httptools.HttpParserError("101 to a request that did not ask to upgrade")
        client.response_head(ex, status, block, lowered, self._length, bodiless)
        if ex.method == b"HEAD":
            raise _Bodiless()

    def on_body(self, body: bytes) -> None:
        ex, client = self.exchange, self.client
        if ex is not None and client is not None:
            client.response_body(ex, body)

    def on_message_complete(self) -> None:
        ex = self.exchange
        if ex is None or not ex.responded or ex.status == 101:
            return  # an interim response
        self._complete()

    def _complete(self) -> None:
        ex, client = self.exchange, self.client
        self.exchange = None
        self.got_response = False
        self._in_head = True
        if ex is None or client is None:
            return
        reusable = self.parser.should_keep_alive() and ex.request_done and not ex.upgrade
        client.response_done(ex)
        if reusable:
            self.client = None
            self.proxy.release(self)
        else:
            self.close()

    def _switch(self, early: bytes) -> None:
        ex, client = self.exchange, self.client
        if ex is None or client is None or ex.status != 101:
            self._fail()
            return
        self.tunnel = True
        client.start_tunnel(ex, self, early)
