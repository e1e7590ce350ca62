"""The TCP relay: a splice (node_agent/splice.py) per accepted connection.

An accepted connection is routed at once; with no endpoint it is reset (SO_LINGER 0), so
the client fails fast. Otherwise reading pauses while the upstream connection opens from
the routed source address (through the overlay dialer, so an endpoint on another node is
reached through its node's tunnel when nodes do not share a loopback), then the two are
spliced: bytes, backpressure, half-closes and resets pass both ways.
"""

from __future__ import annotations

import asyncio

from kubeloop import overlay
from node_agent.kube_proxy.listeners import BACKLOG, Listener, bound_socket
from node_agent.kube_proxy.rules import Endpoint
from node_agent.kube_proxy.selection import EndpointKey
from node_agent.splice import Dialed, Splice, reset

__all__ = ["TcpListener", "reset"]


class _Relay(Splice):
    """One client connection and its upstream: routing, connecting, ending."""

    __slots__ = ("listener", "key", "port")

    def __init__(self, listener: TcpListener) -> None:
        super().__init__()
        self.listener = listener
        self.key: EndpointKey | None = None
        self.port = listener.port

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
        try:
            await overlay.open_tcp(lambda: Dialed(self), source, endpoint.ip, endpoint.port)
        except OSError:
            # Refused or unreachable backend: the client sees a reset, as the pod's own
            # RST would reach it through iptables.
            self.abort()

    def ended(self) -> None:
        if self.key is not None:
            self.port.discard(self.key, self)


class TcpListener(Listener):
    server: asyncio.AbstractServer | None = None

    def _accept(self) -> asyncio.Protocol:
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
