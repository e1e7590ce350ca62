"""The TCP relay: Protocol callbacks only (no streams), built for uvloop.

An accepted connection is routed at once; with no endpoint it is reset (SO_LINGER 0), so
the client fails fast. Otherwise reading pauses while the upstream connection opens from
the routed source address, then each side writes what the other receives as it arrives
(the received bytes object itself, no copy), and a side whose write buffer fills pauses
reading on the other (backpressure both ways). Half-closes pass through (write_eof); a
reset on one side resets the other.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import cast

from node_agent.kube_proxy.listeners import BACKLOG, Listener, bound_socket, upstream_socket
from node_agent.kube_proxy.rules import Endpoint
from node_agent.kube_proxy.selection import EndpointKey

_LINGER_RESET = struct.pack("ii", 1, 0)
WRITE_HIGH_WATER = 256 << 10  # bytes buffered towards one side before the other pauses


def reset(transport: asyncio.BaseTransport) -> None:
    """Closes with an RST rather than a FIN: "connection reset" for the client now."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        except OSError:
            pass  # already gone: aborting it is all that is left
    transport.abort()  # type: ignore[attr-defined]


class _Side(asyncio.Protocol):
    """One side of a relayed connection; ``peer`` is the other side's transport."""

    __slots__ = ("relay", "transport", "peer")

    def __init__(self, relay: _Relay) -> None:
        self.relay = relay
        self.transport: asyncio.Transport | None = None
        self.peer: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = stream = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        stream.set_write_buffer_limits(WRITE_HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        self.peer.write(data)  # type: ignore[union-attr]

    def pause_writing(self) -> None:
        self.peer.pause_reading()  # type: ignore[union-attr]

    def resume_writing(self) -> None:
        self.peer.resume_reading()  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        return self.relay.eof(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.end(exc)


class _Relay:
    """One client connection and its upstream: routing, connecting, ending."""

    __slots__ = ("listener", "client", "upstream", "key", "port", "eofs", "done")

    def __init__(self, listener: TcpListener) -> None:
        self.listener = listener
        self.client = _Accepting(self)
        self.upstream: _Side | None = None
        self.key: EndpointKey | None = None
        self.port = listener.port
        self.eofs = 0
        self.done = False

    def accepted(self) -> None:
        transport = self.client.transport
        assert transport is not None
        peer = transport.get_extra_info("peername")
        route = self.listener.route(peer[0]) if peer else None
        if route is None:
            self.done = True
            reset(transport)
            return
        transport.pause_reading()
        endpoint, source = route
        policy = self.listener.context.policy
        if policy is not None and not policy.allowed(peer[0], endpoint.ip, endpoint.port, "TCP",
                                                     peer[1]):
            self.done = True
            policy.deny(transport)  # dropped (silent, reset later) or rejected (reset now)
            return
        self.key = (endpoint.ip, endpoint.port)
        self.port.add(self.key, self)
        self.listener.context.tasks.spawn("tcp-connect", self._connect(endpoint, source),
                                          expect_exit=True)

    async def _connect(self, endpoint: Endpoint, source: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            sock = upstream_socket(socket.SOCK_STREAM, source)
            try:
                await loop.sock_connect(sock, (endpoint.ip, endpoint.port))
                await loop.create_connection(lambda: _Upstream(self), sock=sock)
            except BaseException:
                sock.close()
                raise
        except OSError:
            # Refused or unreachable backend: the client sees a reset, as the pod's own
            # RST would reach it through iptables.
            self.abort()

    def eof(self, side: _Side) -> bool:
        """A half-close passes to the other side; after both, the relay ends."""
        if side.peer is not None and side.peer.can_write_eof():
            side.peer.write_eof()
        self.eofs += 1
        if self.eofs == 2:
            self.end(None)
        return True

    def end(self, exc: Exception | None) -> None:
        """Ends both sides: flushing after a clean end, resetting after an error."""
        if self.done:
            return
        self.done = True
        if self.key is not None:
            self.port.discard(self.key, self)
        for side in (self.client, self.upstream):
            if side is not None and side.transport is not None:
                if exc is None:
                    side.transport.close()
                else:
                    reset(side.transport)

    def abort(self) -> None:
        """Its endpoint or service port is gone, or the backend could not be reached."""
        self.end(ConnectionAbortedError())


class _Accepting(_Side):
    """The client side: routes the connection as it is accepted, and holds what the
    client sends before the upstream is connected (uvloop starts reading after
    ``connection_made`` even when it paused)."""

    __slots__ = ("early", "early_eof")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.early: list[bytes] = []
        self.early_eof = False
        self.relay.accepted()

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None:
            peer.write(data)
            return
        self.early.append(data)
        self.transport.pause_reading()  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        if self.peer is None:  # passed on once the upstream is connected
            self.early_eof = True
            self.relay.eofs += 1
            return True
        return self.relay.eof(self)

    def connected(self, upstream: asyncio.Transport) -> None:
        self.peer = upstream
        if self.early:
            upstream.writelines(self.early)
            self.early = []
        if self.early_eof:
            upstream.write_eof()
        else:
            self.transport.resume_reading()  # type: ignore[union-attr]


class _Upstream(_Side):
    """The backend side: joins the two as soon as it is connected, before the backend's
    first bytes are delivered (uvloop reads before create_connection returns)."""

    __slots__ = ()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        relay = self.relay
        if relay.done:  # the client left meanwhile, or the endpoint was removed
            transport.abort()  # type: ignore[attr-defined]
            return
        relay.upstream = self
        self.peer = relay.client.transport
        relay.client.connected(cast(asyncio.Transport, transport))


class TcpListener(Listener):
    server: asyncio.AbstractServer | None = None

    def _accept(self) -> _Side:
        return _Relay(self).client

    async def open(self) -> None:
        sock = bound_socket(self.frontend.address, self.frontend.shared)
        try:
            self.server = await asyncio.get_running_loop().create_server(
                self._accept, sock=sock, backlog=BACKLOG)
        except BaseException:
            sock.close()
            raise

    def close(self) -> None:
        """Stops accepting; established connections go on while their endpoint does."""
        if self.server is not None:
            self.server.close()
            self.server = None
