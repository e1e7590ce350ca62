"""The UDP relay: one upstream flow per client flow, like a conntrack entry.

The first datagram of a client (IP, port) routes it: a flow from the routed source
address (the overlay dialer's: a connected socket, or a tunnel to the endpoint's node
when nodes do not share a loopback) carries its datagrams to the endpoint, and the
endpoint's answers go back through the listening socket, so they come from the address
the client sent to. A flow ends after ``udp_idle`` seconds without traffic either way,
when its endpoint is removed, or with its listener. A datagram with no endpoint to go to
is dropped: a userspace relay cannot send the ICMP error kube-proxy's REJECT rule would
(an unbound address gives it: ``rules.plan`` binds nothing for a service port without
endpoints).
"""

from __future__ import annotations

import asyncio
import logging
import time

from kubeloop import overlay
from node_agent.kube_proxy.listeners import Context, Listener, ServicePort, bound_socket
from node_agent.kube_proxy.rules import Endpoint, Frontend

log = logging.getLogger(__name__)


class _Flow(asyncio.DatagramProtocol):
    __slots__ = ("listener", "client", "upstream", "key", "port", "last")

    def __init__(self, listener: UdpListener, client: tuple[str, int], endpoint: Endpoint,
                 source: str) -> None:
        self.listener = listener
        self.client = client
        self.key = (endpoint.ip, endpoint.port)
        self.port: ServicePort = listener.port
        self.last = time.monotonic()
        self.upstream = overlay.open_udp(self, source, endpoint.ip, endpoint.port)
        self.port.add(self.key, self)

    def send(self, data: bytes) -> None:
        self.last = time.monotonic()
        self.upstream.sendto(data)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.last = time.monotonic()
        transport = self.listener.transport
        if transport is not None:
            transport.sendto(data, self.client)

    def error_received(self, exc: Exception) -> None:
        pass  # a full buffer or the endpoint's ICMP error: UDP loses the datagram

    def connection_lost(self, exc: Exception | None) -> None:
        """The upstream is gone (closed here, or its tunnel ended): forget the flow."""
        self.port.discard(self.key, self)
        if self.listener.flows.get(self.client) is self:
            del self.listener.flows[self.client]

    def abort(self) -> None:
        self.upstream.close()
        self.connection_lost(None)  # now: the listener may reuse the client's key at once


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, listener: UdpListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.listener.received(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error for an answer to a client that left: nothing to do


class UdpListener(Listener):
    transport: asyncio.DatagramTransport | None = None

    def __init__(self, frontend: Frontend, port: ServicePort, context: Context) -> None:
        super().__init__(frontend, port, context)
        self.flows: dict[tuple[str, int], _Flow] = {}

    def received(self, data: bytes, client: tuple[str, int]) -> None:
        flow = self.flows.get(client)
        if flow is None:
            route = self.route(client[0])
            if route is None:
                return
            try:
                flow = _Flow(self, client, *route)
            except OSError as e:
                log.warning("%s: no flow for %s:%d: %s", self.frontend.address, *client, e)
                return
            self.flows[client] = flow
        flow.send(data)

    async def open(self) -> None:
        sock = bound_socket(self.frontend.address, self.frontend.shared)
        try:
            self.transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _Receiver(self), sock=sock)
        except BaseException:
            sock.close()
            raise

    def expire(self, now: float) -> None:
        idle = self.context.udp_idle
        for flow in [f for f in self.flows.values() if now - f.last > idle]:
            flow.abort()

    def close(self) -> None:
        for flow in list(self.flows.values()):
            flow.abort()
        if self.transport is not None:
            self.transport.close()
            self.transport = None
