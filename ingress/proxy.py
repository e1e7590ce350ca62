"""The data plane: HTTP/1.1 reverse proxy on asyncio Protocols with httptools.

A ``ClientConnection`` parses requests (keep-alive, pipelining, Content-Length and chunked
bodies), asks where each goes (``dispatch``, kept per Host and target until the
controller swaps ``Proxy.table``, so a request in flight keeps the route it got), and
either answers itself (nginx's pages, the 308 to https, 413) or streams the request to a
pod through an ``Upstream`` connection from the per-endpoint keep-alive pool. The
backend's response is streamed back (re-chunked when it has no length); a 101 turns both
sides into a raw tunnel (WebSocket or any Upgrade). Timeouts are deadlines checked by one
sweep, so the hot path never arms a timer.

Most traffic repeats itself: the same request heads from a client, the same response
heads from a pod (until its Date moves on). A read that holds exactly one whole message
whose head was parsed before takes the parse from memory (``Proxy.requests`` and
``Proxy.responses``, keyed by the head's bytes) instead of parsing it again; anything else
goes through httptools. Decisions live in dispatch.py, routing.py, annotations.py and
messages.py; this module only moves bytes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools

from ingress import dispatch, messages
from ingress.annotations import BackendProtocol
from ingress.routing import Backend, Endpoint, Route, Table
from kubeloop import overlay, pki
from kubeloop.tasks import TaskGroup

log = logging.getLogger(__name__)

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
DEFAULT_BACKEND = "upstream-default-backend"  # ingress-nginx's name in the access log
MEMORY = 512  # entries in each of the proxy's memos before it starts afresh
MEMO_HEAD = 2048  # bytes: longer heads are parsed every time
BODY_END = b"0\r\n\r\n"


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
    source_ip: str = ""  # backend connections leave from this address (the pod IP)

    def validate(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, (int, float)) and value <= 0:
                raise ValueError(f"ingress proxy: {name} must be positive, not {value}")
        if self.source_ip:
            try:
                ipaddress.ip_address(self.source_ip)
            except ValueError as e:
                raise ValueError(f"ingress proxy: source_ip: {e}") from e


# A response head seen before: its relay, its body's size and whether the backend keeps
# the connection (Proxy.responses, keyed by the head, client keep-alive and HEAD request).
Known = tuple[messages.Response, int, bool]


class State:
    """What a client connection is doing: what its deadline is for. Plain ints, as the
    hot path sets them several times per request (an Enum member costs a lookup)."""

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


class _LastRequest(Exception):
    """Raised by the request parser's message-complete callback after a request that ends
    the connection (Connection: close, HTTP/1.0, keepalive_requests reached): what the
    client sends after it is not read, as nginx does not (llhttp would call it an
    error, and the requests before would go unanswered)."""


class _Bodiless(Exception):
    """Raised by the response parser's head callback for a HEAD request: the message
    ends with its head whatever Content-Length says (httptools cannot be told)."""


class Exchange:
    """One request and its response. What most exchanges never change is a class
    default, so a new one sets only its start."""

    request: messages.Request | None = None  # set when its head is complete
    keep_alive = True
    body_limit: int | None = None
    received = 0  # request body bytes
    pending: list[bytes] | None = None  # body bytes read before the backend is attached
    request_done = False
    response_done = False
    responded = False  # a response head went to the client
    upstream: Upstream | None = None
    route: Route | None = None
    status = 0
    sent = 0
    tries = 0
    request_id = b""
    endpoint: Endpoint | None = None  # the last one asked
    upstream_status = "-"
    upstream_started = 0.0
    response_chunked = False
    tunnel_data = b""
    forward = b""  # the request head for the backend
    reused = False

    def __init__(self, started: float) -> None:
        self.started = started  # epoch seconds (nginx's request_time is wall-clock too)


def _chunk(data: bytes) -> list[bytes]:
    return [b"%x\r\n" % len(data), data, b"\r\n"]


def _remember(memo: dict, key: Any, value: Any) -> None:
    if len(memo) >= MEMORY:
        memo.clear()  # what repeats comes back at once
    memo[key] = value


class Proxy:
    """What the connections of the HTTP and HTTPS listeners share."""

    def __init__(self, config: ProxyConfig, tasks: TaskGroup,
                 access_log: Callable[[list[str]], None] | None = None) -> None:
        config.validate()
        self.config = config
        self.tasks = tasks
        self.access_log = access_log
        self._table = Table()
        self._https_port = 443
        self.date = messages.HttpDate()
        self.now = time.monotonic()  # coarse clock, advanced by the sweep
        self.clients: set[ClientConnection] = set()
        self.idle: dict[tuple[Endpoint, BackendProtocol], list[Upstream]] = {}
        self.upstreams: set[Upstream] = set()
        # Memos (see the module's docstring); a dispatch holds while the table does.
        self.dispatched: dict[tuple[bool, bytes, bytes], dispatch.Dispatch] = {}
        self.requests: dict[bytes, messages.Request] = {}
        # (head, client keep-alive, HEAD request) -> (relay, body bytes, backend keep-alive)
        self.responses: dict[tuple[bytes, bool, bool], Known] = {}
        # The end of each turn of the event loop: see ClientConnection.flush and .log.
        self.unflushed: list[ClientConnection] = []
        self.logged: list[tuple[ClientConnection, Exchange, float]] = []
        self._turn_ends = False
        # Where backend connections leave from: the controller pod's IP once known (the
        # ingress process follows its pod; ingress/server.py), else ``config.source_ip``.
        self.source_ip = config.source_ip

    @property
    def table(self) -> Table:
        return self._table

    @table.setter
    def table(self, table: Table) -> None:
        """Replaced whole by the controller: what was dispatched by the old one is not
        kept."""
        self._table = table
        self.dispatched = {}

    @property
    def https_port(self) -> int:
        return self._https_port

    @https_port.setter
    def https_port(self, port: int) -> None:
        self._https_port = port
        self.dispatched = {}

    def where(self, https: bool, host: bytes, url: bytes) -> dispatch.Dispatch:
        """Where a request goes (dispatch.dispatch), kept while the table holds."""
        key = (https, host, url)
        found = self.dispatched.get(key)
        if found is None:
            found = dispatch.dispatch(self._table, host, url, https=https,
                                      https_port=self._https_port)
            if len(url) + len(host) <= MEMO_HEAD:
                _remember(self.dispatched, key, found)
        return found

    # --- connections to backends ------------------------------------------------------

    def release(self, conn: Upstream) -> None:
        idle = self.idle.get(conn.key)
        if idle is None:
            idle = self.idle[conn.key] = []
        if len(idle) >= self.config.upstream_keepalive or conn.closed:
            conn.close()
            return
        conn.idle = True
        conn.deadline = self.now + self.config.upstream_idle_timeout
        idle.append(conn)

    async def connect(self, client: ClientConnection, exchange: Exchange,
                      endpoint: Endpoint, protocol: BackendProtocol) -> None:
        tls = pki.unverified_client_context() if protocol is BackendProtocol.HTTPS else None
        key = (endpoint, protocol)
        try:
            _, conn = await asyncio.wait_for(
                overlay.open_tcp(lambda: (TlsUpstream if tls else Upstream)(self, key),
                                 self.source_ip or None, endpoint[0], endpoint[1], ssl=tls,
                                 server_hostname="" if tls else None),
                self.config.connect_timeout)
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
            client.connect_failed(exchange, endpoint, e)
            return
        client.attach(exchange, conn, reused=False)

    def at_turn_end(self) -> None:
        """Asks for ``end_turn`` once the event loop has handled what it is handling."""
        if not self._turn_ends:
            self._turn_ends = True
            asyncio.get_running_loop().call_soon(self.end_turn)

    def end_turn(self) -> None:
        """What this turn of the event loop answered goes out, then its access log."""
        self._turn_ends = False
        clients, self.unflushed = self.unflushed, []
        for client in clients:
            client.write_out()
        logged, self.logged = self.logged, []
        if logged and self.access_log is not None:
            self.access_log([client.access_line(ex, ended) for client, ex, ended in logged])

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
        self.end_turn()


class DecryptedReads(asyncio.BufferedProtocol):
    """For a protocol under TLS: the event loop decrypts into one buffer all such
    protocols share (the loop runs one callback at a time) and ``data_received`` gets a
    copy of what was read. (uvloop takes a protocol as buffered only if it is not an
    asyncio.Protocol.) Otherwise uvloop allocates 256 KiB per read, which malloc may
    serve with a fresh mapping each time: page faults on every request, +50% CPU per
    HTTPS request in a new process until the allocator settles."""

    _BUFFER = memoryview(bytearray(64 << 10))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._BUFFER

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._BUFFER[:nbytes]))

    def data_received(self, data: bytes) -> None:
        raise NotImplementedError  # the protocol's own, ahead of this class in its MRO


class ClientConnection(asyncio.BaseProtocol):
    """One client connection (plain, or TLS as TlsClientConnection); httptools calls the
    on_* methods. An asyncio.Protocol in all but name: uvloop hands a buffer only to
    protocols that are not asyncio.Protocol instances (see DecryptedReads)."""

    def __init__(self, proxy: Proxy, scheme: bytes, port: int) -> None:
        self.proxy = proxy
        self.config = proxy.config
        self.scheme = scheme
        self.https = scheme == b"https"
        self.port = str(port).encode()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.ip = b""
        self.remote = ""  # the same, for the access log
        self.queue: deque[Exchange] = deque()
        self.reading: Exchange | None = None  # the exchange whose request is being parsed
        self.url = b""  # ... its target and header fields so far
        self.fields: messages.Headers = []
        self.fields_size = 0
        self.parsed: messages.Request | None = None  # the last head httptools parsed
        # The last request forwarded, where it went and its head (messages.request_head):
        # a keep-alive client tends to send the same again.
        self.forwarding: tuple[Any, Any, tuple[bytes, bytes]] = (None, None, (b"", b""))
        self.state = State.HEAD
        self.deadline = proxy.now + self.config.client_header_timeout
        self.requests = 0
        self.closing = False
        self.read_all = False  # the request that ends the connection is in (_LastRequest)
        self.tunnel: Upstream | None = None
        self.paused = False
        self.out: list[bytes] = []  # what goes to the client next: see ``flush``
        self.log_key: tuple = ()  # what the last access log line was made of ...
        self.log_parts = messages.LogParts("", "", "")  # ... and its parts (access_line)
        self.flushing = False

    # -- asyncio.Protocol

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.remote = peer[0] if peer else ""
        self.ip = self.remote.encode()
        self.proxy.clients.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.proxy.clients.discard(self)
        if self.tunnel is not None:
            self.tunnel.close()
        for ex in self.queue:
            if ex.upstream is not None:
                ex.upstream.close()  # never back to the pool mid-exchange
            if not ex.response_done and ex.request is not None:
                ex.status = ex.status or 499  # nginx's "client closed request"
                self.log(ex)
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.deadline = self.proxy.now + self.config.read_timeout
            self.tunnel.transport.write(data)
            return
        if self.closing or self.read_all:
            return
        # One whole head, between messages: parsed before?
        whole = (self.reading is None and data.__class__ is bytes
                 and data.find(b"\r\n\r\n") == len(data) - 4)
        if whole:
            known = self.proxy.requests.get(data)
            if known is not None:  # only heads without a body are kept: complete as it begins
                ex = self.begin()
                ex.request_done = True
                self.head_complete(ex, known)
                if not ex.keep_alive:
                    self.read_all = True
                return
            self.parsed = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as e:
            # the upgrade request was the last message; what follows its head is the
            # new protocol's, held until the backend agrees (101) or not
            if self.queue:
                self.queue[-1].tunnel_data = bytes(data[e.args[0]:]) if e.args else b""
            self.transport.pause_reading()
            return
        except httptools.HttpParserCallbackError as e:
            cause = e.__context__
            if not isinstance(cause, _LastRequest):
                if isinstance(cause, _Refused):
                    self.refuse(cause.status, cause.detail)
                else:
                    log.error("ingress: request handling failed", exc_info=cause)
                    self.refuse(500)
                return
        except httptools.HttpParserError:
            self.refuse(400)
            return
        parsed = self.parsed
        if whole and parsed is not None and parsed.replayable and len(data) <= MEMO_HEAD:
            _remember(self.proxy.requests, data, parsed)

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
        self.reading = self.begin()

    def begin(self) -> Exchange:
        """A new request, queued behind those pipelined before it."""
        ex = Exchange(time.time())
        queue = self.queue
        queue.append(ex)
        if len(queue) == 1:
            self.state = State.HEAD
            self.deadline = self.proxy.now + self.config.client_header_timeout
        if len(queue) > self.config.pipeline_depth and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        return ex

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.config.max_line:
            raise _Refused(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + 4
        self.fields_size += size
        if size > self.config.max_line or self.fields_size > self.config.max_head:
            raise _Refused(400, messages.HEADERS_TOO_LARGE)
        self.fields.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        try:
            request = messages.read_request(
                parser.get_method(), self.url, parser.get_http_version(),
                keep_alive=parser.should_keep_alive(), upgrade=parser.should_upgrade(),
                headers=self.fields, fields_size=self.fields_size)
        except messages.BadRequest as e:
            raise _Refused(e.status) from None
        self.url, self.fields, self.fields_size = b"", [], 0  # for the next head
        self.parsed = request
        assert self.reading is not None
        self.head_complete(self.reading, request)

    def head_complete(self, ex: Exchange, request: messages.Request) -> None:
        ex.request = request
        self.requests += 1
        ex.keep_alive = request.keep_alive and self.requests < self.config.keepalive_requests
        if ex is self.queue[0]:
            self.serve(ex)

    def on_body(self, body: bytes) -> None:
        ex = self.reading
        assert ex is not None and ex.request is not None
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
            upstream.send(_chunk(body) if ex.request.chunked else [body])
        elif ex.pending is None:
            ex.pending = [body]
        else:
            ex.pending.append(body)

    def on_message_complete(self) -> None:
        ex = self.reading
        assert ex is not None and ex.request is not None
        self.reading = None
        ex.request_done = True
        if self.closing:  # answered and closed already (the proxy's own page, Connection: close)
            raise _LastRequest()
        if self.state == State.BODY and ex is self.queue[0]:
            self.state = State.WAIT
            self.deadline = self.proxy.now + self.config.read_timeout
        if ex.request.chunked:
            upstream = ex.upstream
            if upstream is not None and upstream.exchange is ex:
                upstream.send([BODY_END])
            elif ex.pending is None:
                ex.pending = [b""]  # b"" marks the end of a chunked body
            else:
                ex.pending.append(b"")
        if ex.response_done:
            self.finish(ex)
        if not ex.keep_alive:
            self.read_all = True
            raise _LastRequest()

    # -- routing and answering

    def serve(self, ex: Exchange) -> None:
        """The request's head is complete and it is first in line: answer it or send it
        to a backend."""
        request = ex.request
        assert request is not None
        if ex.request_done:
            self.state = State.WAIT
            self.deadline = self.proxy.now + self.config.read_timeout
        else:
            self.state = State.BODY
            self.deadline = self.proxy.now + self.config.client_body_timeout
        where = self.proxy.where(self.https, request.host, request.url)
        route = ex.route = where.route
        if route is None:
            self.refuse(400)
            return
        if where.location:
            self.answer(ex, 308, location=where.location)
            return
        limit = ex.body_limit = route.annotations.body_limit
        if limit is not None and (request.length > limit or ex.received > limit):
            self.answer(ex, 413, close=True)
            return
        backend = route.backend
        if backend is None:
            self.answer(ex, 404)
            return
        if not backend.endpoints:
            self.answer(ex, 503)
            return
        request_id = ex.request_id = (
            request.request_id or random.getrandbits(128).to_bytes(16, "big").hex().encode())
        forwarding = self.forwarding
        if forwarding[0] is not request or forwarding[1] is not where:
            forwarding = self.forwarding = (request, where, messages.request_head(
                request.method, where.target, request.kept, host=where.host,
                client_ip=self.ip, port=self.port, scheme=self.scheme,
                length=None if request.chunked else request.length,
                forwarded_for=request.forwarded_for,
                upgrade=request.protocol if request.upgrade else b""))
        before, after = forwarding[2]
        ex.forward = before + request_id + after
        if not ex.request_done and request.expect_continue:
            self.out.append(CONTINUE)
            self.flush()
        self.send_to(ex, backend)

    def send_to(self, ex: Exchange, backend: Backend) -> None:
        endpoint = backend.pick()
        assert endpoint is not None and ex.request is not None
        ex.tries += 1
        ex.endpoint = endpoint
        ex.upstream_started = time.time()
        idle = None if ex.request.upgrade else self.proxy.idle.get((endpoint,
                                                                    backend.protocol))
        while idle:
            conn = idle.pop()
            if not conn.closed:
                conn.idle = False
                self.attach(ex, conn, reused=True)
                return
        self.proxy.tasks.spawn(f"connect {endpoint[0]}:{endpoint[1]}",
                               self.proxy.connect(self, ex, endpoint, backend.protocol),
                               expect_exit=True)

    def attach(self, ex: Exchange, conn: Upstream, *, reused: bool) -> None:
        if self.closing or not self.queue or self.queue[0] is not ex or ex.responded:
            if reused:
                self.proxy.release(conn)
            else:
                conn.close()
            return
        request = ex.request
        assert request is not None
        ex.upstream = conn
        ex.reused = reused
        conn.exchange = ex
        conn.client = self
        out = [ex.forward]
        for piece in ex.pending or ():
            if request.chunked:
                out += _chunk(piece) if piece else [BODY_END]
            else:
                out.append(piece)
        if request.upgrade and ex.tunnel_data:
            out.append(ex.tunnel_data)
            ex.tunnel_data = b""
        conn.send(out)

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
        if backend is not None and ex.request is not None and ex.request.replayable:
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
        upgrade = ex.request is not None and ex.request.upgrade
        keep = ex.keep_alive and not close and not self.closing and not upgrade
        ex.keep_alive = keep
        data = messages.error_response(
            status, self.proxy.date(time.time()), keep_alive=keep, detail=detail,
            location=location, head_only=ex.request is not None and ex.request.method == b"HEAD")
        ex.status = status
        ex.sent = len(data) - data.index(b"\r\n\r\n") - 4
        ex.responded = ex.response_done = True
        self.out.append(data)
        self.flush()
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

    def response_head(self, ex: Exchange, response: messages.Response,
                      body: bytes = b"") -> None:
        """``body``: all of a body with a length that came with the head."""
        ex.status = response.status
        ex.upstream_status = str(response.status)
        ex.responded = True
        ex.response_chunked = response.rechunked
        self.out.append(response.head)
        if body:
            ex.sent = len(body)
            self.out.append(body)

    def switching(self, ex: Exchange, block: bytes, lowered: bytes) -> None:
        """The backend's 101: its head goes on; the tunnel starts when the read ends."""
        ex.status = 101
        ex.upstream_status = "101"
        ex.responded = True
        self.out.append(messages.response_head(
            101, block, lowered, date=self.proxy.date(time.time()), keep_alive=False,
            chunked=False, upgrade=True))

    def response_body(self, ex: Exchange, body: bytes) -> None:
        ex.sent += len(body)
        self.deadline = self.proxy.now + self.config.read_timeout
        if ex.response_chunked:
            self.out += _chunk(body)
        else:
            self.out.append(body)

    def response_done(self, ex: Exchange) -> None:
        if ex.response_chunked:
            self.out.append(BODY_END)
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
        self.write_out()  # before the tunnel's own bytes
        self.transport.resume_reading()

    def response_lost(self, ex: Exchange) -> None:
        """The backend closed in the middle of its response: nothing else can be said."""
        ex.upstream = None
        self.log(ex)
        self.queue.clear()
        self.abort()

    # -- finishing

    def flush(self) -> None:
        """Sends ``out`` when this turn of the event loop ends, with what the other
        connections were answered meanwhile: the client side then wakes once for the
        lot rather than once per response, and each connection's responses go in one
        write."""
        if self.out and not self.flushing:
            self.flushing = True
            self.proxy.unflushed.append(self)
            self.proxy.at_turn_end()

    def write_out(self) -> None:
        self.flushing = False
        out = self.out
        if out and not self.transport.is_closing():
            if self.https and len(out) > 1:
                # One TLS record for the lot, not one per piece: a response's head and
                # body are encrypted (and the record framed) once.
                self.transport.write(b"".join(out))
            else:
                self.transport.writelines(out)
        self.out = []

    def finish(self, ex: Exchange) -> None:
        self.flush()
        self.log(ex)
        queue = self.queue
        if queue and queue[0] is ex:
            queue.popleft()
        if not ex.keep_alive or (ex.request is not None and ex.request.upgrade):
            self.close()
            return
        if self.paused and len(queue) <= self.config.pipeline_depth:
            self.paused = False
            self.transport.resume_reading()
        if queue:
            nxt = queue[0]
            if nxt.request is not None:  # its head is complete
                self.serve(nxt)
            else:
                self.state = State.HEAD
                self.deadline = self.proxy.now + self.config.client_header_timeout
        else:
            self.state = State.IDLE
            self.deadline = self.proxy.now + self.config.keepalive_timeout

    def log(self, ex: Exchange) -> None:
        """The access log line is written when this turn of the event loop ends, with
        the others of the turn: formatting them together costs less."""
        proxy = self.proxy
        if proxy.access_log is not None and ex.request is not None:
            proxy.logged.append((self, ex, time.time()))
            proxy.at_turn_end()

    def access_line(self, ex: Exchange, ended: float) -> str:
        """The access log line of an exchange that ended at ``ended`` (epoch seconds). What
        it has in common with this connection's previous line is not formatted again."""
        route = ex.route
        key = (int(ex.started), ex.request, ex.status, ex.sent, ex.received, route,
               ex.endpoint, ex.upstream_status)
        if key != self.log_key:
            self.log_key = key
            request = ex.request
            assert request is not None
            backend = route.backend if route is not None else None
            endpoint = ex.endpoint
            self.log_parts = messages.log_parts(
                self.remote, ex.started, request, ex.status, ex.sent, ex.received,
                backend.name if backend is not None else DEFAULT_BACKEND,
                f"{endpoint[0]}:{endpoint[1]}" if endpoint is not None else None,
                ex.upstream_status)
        return messages.access_line(
            self.log_parts, ended - ex.started,
            ended - ex.upstream_started if ex.endpoint is not None else None,
            ex.request_id.decode("latin-1"))

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
            self.write_out()
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        self.out = []
        if self.transport is not None:
            self.transport.abort()


class TlsClientConnection(ClientConnection, DecryptedReads):
    """An HTTP/1.1 client connection over TLS."""


class Upstream(asyncio.BaseProtocol):
    """A connection to one backend endpoint, reused across requests when the backend
    keeps it alive. (A BaseProtocol for TlsUpstream's sake, as ClientConnection.)"""

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
        # The response head is taken from the bytes (messages.response_fields), not from
        # a callback per header: reads are kept from the start of a head until its end.
        self._in_head = True
        self._raw = b""
        self._offset = 0
        self._length = False
        self._chunked = False
        self._last: tuple[tuple[bytes, bool, bool], Known | None] = ((b"", False, False), None)

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
            if not self._length and not self._chunked:
                client.response_done(ex)  # a body delimited by the backend closing
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
        ex, client = self.exchange, self.client
        if ex is None or client is None or ex.request is None:
            self.close()  # bytes nobody asked for: this connection cannot be trusted
            return
        if self._in_head and not self._raw and data.__class__ is bytes:
            # A whole response with a head seen before (this connection's last one, else
            # any connection's): no parsing.
            head_only = ex.request.method == b"HEAD"
            key, known = self._last
            if not (data.startswith(key[0]) and key[1] is ex.keep_alive
                    and key[2] is head_only and known is not None):
                end = data.find(b"\r\n\r\n") + 4
                key = (data[:end], ex.keep_alive, head_only)
                known = self.proxy.responses.get(key) if end > 3 else None
                self._last = key, known
            if known is not None:
                response, body, keep_alive = known
                end = len(key[0])
                if len(data) == end + body:
                    self._length = response.length
                    self._chunked = response.chunked
                    client.response_head(ex, response, data[end:] if body else b"")
                    self._complete(keep_alive)
                    if not client.closing:
                        client.flush()
                    return
        if self._in_head:
            self._raw = self._raw + data if self._raw else data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as e:
            self._switch(bytes(data[e.args[0]:]) if e.args else b"")
        except httptools.HttpParserCallbackError as e:
            if isinstance(e.__context__, _Bodiless):
                self._complete(self.parser.should_keep_alive())
                self.parser = httptools.HttpResponseParser(self)
            else:
                log.error("ingress: response handling failed", exc_info=e.__context__)
                self._fail()
        except httptools.HttpParserError as e:
            log.warning("backend %s sent a malformed response: %r", self.key[0], e)
            self._fail()
        if client.out and not client.closing:
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
        """At once: holding requests to the end of the turn, as answers are, gains 1-3%
        requests/s but widens the latency spread (p99 +7%, bench/ingress_proxy.py)."""
        if not self.closed:
            self.transport.writelines(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.exchange = None
            if self.transport is not None:
                self.transport.close()

    # -- httptools callbacks

    def on_headers_complete(self) -> None:
        ex, client = self.exchange, self.client
        assert ex is not None and client is not None and ex.request is not None
        start = self._offset
        block, lowered, self._offset = messages.response_fields(self._raw, start)
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return  # interim responses stay between proxy and backend
        raw, end = self._raw, self._offset
        self._in_head = False
        self._raw, self._offset = b"", 0
        self._length = b"\r\ncontent-length:" in lowered
        self._chunked = b"\r\ntransfer-encoding:" in lowered
        head_only = ex.request.method == b"HEAD"
        if status == 101:
            if not ex.request.upgrade:
                raise httptools.HttpParserError("101 to a request that did not ask to upgrade")
            client.switching(ex, block, lowered)
            return
        response = messages.relay(status, block, lowered, date=self.proxy.date(time.time()),
                                  keep_alive=ex.keep_alive,
                                  bodiless=head_only or status in (204, 304))
        if response.fixed_body is not None and end - start <= MEMO_HEAD:
            _remember(self.proxy.responses, (raw[start:end], ex.keep_alive, head_only),
                      (response, response.fixed_body, self.parser.should_keep_alive()))
        client.response_head(ex, response)
        if head_only:
            raise _Bodiless()

    def on_body(self, body: bytes) -> None:
        ex, client = self.exchange, self.client
        if ex is not None and client is not None:
            client.response_body(ex, body)

    def on_message_complete(self) -> None:
        ex = self.exchange
        if ex is None or not ex.responded or ex.status == 101:
            return  # an interim response
        self._complete(self.parser.should_keep_alive())

    def _complete(self, keep_alive: bool) -> None:
        """The response ended; ``keep_alive``: the backend keeps the connection."""
        ex, client = self.exchange, self.client
        self.exchange = None
        self._in_head = True
        if ex is None or client is None:
            return
        assert ex.request is not None
        reusable = keep_alive and ex.request_done and not ex.request.upgrade
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


class TlsUpstream(Upstream, DecryptedReads):
    """A connection to a backend over TLS (backend-protocol HTTPS)."""
