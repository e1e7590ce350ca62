"""DNS relay listeners (CoreDNS's forward plugin): each query a client sends, a UDP
datagram or a length-prefixed TCP message, is asked of the app's upstream over the same
transport, from the pod IP, on a socket of its own; the app's answer goes back to the
client. The app (``model.RelayApp``) decides what to relay, what a silent or refusing
upstream means and what to log; this module only moves bytes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kubeloop.tasks import TaskGroup
from node_agent.containers import Identity
from node_agent.images.logsink import LogSink
from node_agent.images.model import RelayApp, RelayFailure
from node_agent.dns import wire
from node_agent.toolbox import net

TCP_IDLE = 10.0  # seconds a client's TCP connection may stay silent (CoreDNS's default)

Send = Callable[[bytes | None], None]  # None: the app gave no reply
Outcome = tuple[bytes | None, RelayFailure | None]


class RelayService:
    """What the sockets of one relay listener share: the app, the pod identity the
    upstream sockets use, the log, the in-flight count and the open TCP connections."""

    def __init__(self, app: RelayApp, identity: Identity, sink: LogSink,
                 tasks: TaskGroup) -> None:
        self.app = app
        self.identity = identity
        self.sink = sink
        self.tasks = tasks
        self.in_flight = 0
        self.connections: set[_TcpRelay] = set()

    def datagram_protocol(self) -> _UdpRelay:
        return _UdpRelay(self)

    def stream_protocol(self) -> _TcpRelay:
        return _TcpRelay(self)

    def close_all(self, abort: bool) -> None:
        for conn in list(self.connections):
            conn.transport.abort() if abort else conn.transport.close()

    def relay(self, query: bytes, tcp: bool, send: Send) -> bool:
        """Asks the upstream in the background; ``send`` gets the client's reply (at once
        when too many queries wait). False: the app dropped the query, no reply comes."""
        if not self.app.received(query, tcp):
            return False
        if self.in_flight >= self.app.max_concurrent:
            self._deliver(query, (None, RelayFailure("overloaded", None)), tcp, send)
        else:
            self.in_flight += 1
            self.tasks.spawn("relay", self._relay(query, tcp, send), expect_exit=True)
        return True

    async def _relay(self, query: bytes, tcp: bool, send: Send) -> None:
        ask = _ask_tcp if tcp else _ask_udp
        try:
            outcome = await ask(self.identity, self.app.upstream, query, self.app.timeout)
        finally:
            self.in_flight -= 1
        self._deliver(query, outcome, tcp, send)

    def _deliver(self, query: bytes, outcome: Outcome, tcp: bool, send: Send) -> None:
        reply, line = self.app.answer(query, outcome[0], outcome[1], tcp)
        send(reply)
        if line is not None:
            self.sink.add(line)


def _is_reply(reply: bytes, query: bytes) -> bool:
    """The upstream's answer to ``query``: the socket is ours alone, so ID and QR do."""
    return len(reply) >= 12 and reply[:2] == query[:2] and bool(reply[2] & 0x80)


async def _ask_udp(identity: Identity, upstream: tuple[str, int], query: bytes,
                   timeout: float) -> Outcome:
    try:
        transport, replies = await net.udp(identity, *upstream)
    except net.ConnectError as e:
        return None, RelayFailure("refused" if e.kind == "refused" else "error", None, e.text)
    local = transport.get_extra_info("sockname")[:2]
    try:
        transport.sendto(query)
        async with asyncio.timeout(timeout):
            while True:
                item = await replies.queue.get()
                if isinstance(item, ConnectionRefusedError):  # ICMP port unreachable
                    return None, RelayFailure("refused", local)
                if isinstance(item, OSError):
                    return None, RelayFailure("error", local, item.strerror or str(item))
                if isinstance(item, bytes) and _is_reply(item, query):
                    return item, None
    except TimeoutError:
        return None, RelayFailure("timeout", local)
    finally:
        transport.close()


async def _ask_tcp(identity: Identity, upstream: tuple[str, int], query: bytes,
                   timeout: float) -> Outcome:
    conn: net.Connection | None = None
    local: tuple[str, int] | None = None
    try:
        async with asyncio.timeout(timeout):
            conn = await net.connect(identity, *upstream)
            local = conn.local
            conn.writer.write(wire.tcp_frame(query))
            while True:
                size = int.from_bytes(await conn.reader.readexactly(2), "big")
                reply = await conn.reader.readexactly(size)
                if _is_reply(reply, query):
                    return reply, None
    except TimeoutError:
        return None, RelayFailure("timeout", local)
    except net.ConnectError as e:
        return None, RelayFailure("refused" if e.kind == "refused" else "error", local, e.text)
    except asyncio.IncompleteReadError:
        return None, RelayFailure("error", local, "EOF")
    except OSError as e:
        return None, RelayFailure("error", local, e.strerror or str(e))
    finally:
        if conn is not None:
            conn.close()


class _UdpRelay(asyncio.DatagramProtocol):
    def __init__(self, service: RelayService) -> None:
        self.service = service
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        client = (addr[0], addr[1])
        self.service.relay(data, False, lambda reply: self._send(reply, client))

    def _send(self, reply: bytes | None, client: tuple[str, int]) -> None:
        if reply is not None and not self.transport.is_closing():
            self.transport.sendto(reply, client)

    def error_received(self, exc: Exception) -> None:
        return None  # an ICMP error for an earlier reply: the client went away


class _TcpRelay(asyncio.Protocol):
    """Length-prefixed queries, several per connection, answered as they complete;
    ``TCP_IDLE`` seconds without a query or a pending answer close the connection."""

    def __init__(self, service: RelayService) -> None:
        self.service = service
        self.transport: Any = None
        self.buffer = bytearray()
        self.pending = 0
        self.loop = asyncio.get_running_loop()
        self.last = self.loop.time()
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.service.connections.add(self)
        self.timer = self.loop.call_later(TCP_IDLE, self._check_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self.service.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()

    def data_received(self, data: bytes) -> None:
        self.last = self.loop.time()
        self.buffer += data
        for query in wire.tcp_messages(self.buffer):
            self.pending += 1  # before: an overloaded relay answers (and counts down) at once
            if not self.service.relay(query, True, self._write):
                self.pending -= 1

    def _write(self, reply: bytes | None) -> None:
        self.pending -= 1
        self.last = self.loop.time()
        if reply is not None and not self.transport.is_closing():
            self.transport.write(wire.tcp_frame(reply))

    def _check_idle(self) -> None:
        quiet = self.loop.time() - self.last
        if quiet >= TCP_IDLE and not self.pending:
            self.transport.close()
        else:
            self.timer = self.loop.call_later(max(TCP_IDLE - quiet, 0.05), self._check_idle)
