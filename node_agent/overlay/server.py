"""The tunnel server: every node agent listens on its node address, port 8472/TCP, and
carries connections from other nodes to its own pods (kubeloop/overlay/wire.py has the
format).

A tunnel connection starts with the header. For TCP the server connects to the
destination from the client pod's address when it is a 127/8 one (the pod's listener,
and its NetworkPolicy, see the client pod), else from the node address (SNAT), answers
the status byte, then splices the two (node_agent/splice.py): a reset on either side
resets the other, so a client sees what it would see directly. For UDP a connected
socket from the same source carries the framed datagrams each way until the tunnel
closes."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

from kubeloop.overlay import routes, wire
from kubeloop.overlay.dialer import bound_socket, connect, open_direct_udp
from kubeloop.tasks import TaskGroup
from node_agent.splice import Accepted, Dialed, Splice

log = logging.getLogger(__name__)

BACKLOG = 1024
REPORT_INTERVAL = 1.0  # seconds between "tunnel: ..." count lines (when they changed)


class TunnelServer:
    """Counts what it carried, for the agent log (proof that traffic crossed)."""

    def __init__(self, address: str, port: int = wire.PORT) -> None:
        self.address = address
        self.port = port
        self.tasks = TaskGroup(f"tunnel {address}")
        self.carried = {wire.Protocol.TCP: 0, wire.Protocol.UDP: 0}
        self.open = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Tunnel(self).client, self.address, self.port, backlog=BACKLOG,
            reuse_address=True)
        self.tasks.spawn("report", self._report())
        log.info("tunnel listening on %s:%d", self.address, self.port)

    def source(self, header: wire.Header) -> str:
        """Whose address the destination sees: the client pod's (any 127/8 address is
        local in every node's namespace), else this node's."""
        return header.src_ip if routes.is_loopback(header.src_ip) else self.address

    async def _report(self) -> None:
        reported = (0, 0)
        while True:
            await asyncio.sleep(REPORT_INTERVAL)
            counts = (self.carried[wire.Protocol.TCP], self.carried[wire.Protocol.UDP])
            if counts != reported:
                reported = counts
                log.info("tunnel: carried %d tcp connections and %d udp flows (%d open)",
                         *counts, self.open)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        await self.tasks.close()


class _Inbound(Accepted):
    """The tunnel connection: its header first, then the carried bytes or frames."""

    __slots__ = ("head", "flow")

    def __init__(self, relay: _Tunnel) -> None:
        super().__init__(relay)
        self.head: bytes | None = b""  # None once the header is read
        self.flow: _UdpFlow | None = None

    def data_received(self, data: bytes) -> None:
        if self.peer is not None:
            self.peer.write(data)
        elif self.flow is not None:
            self.flow.received(data)
        elif self.head is not None:
            head = self.head + data
            if len(head) < wire.HEADER_SIZE:
                self.head = head
                return
            self.head = None
            self.relay.header(head[:wire.HEADER_SIZE], head[wire.HEADER_SIZE:])  # type: ignore[attr-defined]
        else:
            super().data_received(data)

    def eof_received(self) -> bool:
        if self.head is not None or self.flow is not None:  # no header yet, or a UDP tunnel
            self.relay.end(None)
            return False
        return super().eof_received()


class _Tunnel(Splice):
    __slots__ = ("server", "flow")

    def __init__(self, server: TunnelServer) -> None:
        super().__init__(_Inbound(self))
        self.server = server
        self.flow: _UdpFlow | None = None
        server.open += 1

    def header(self, raw: bytes, rest: bytes) -> None:
        transport = self.client.transport
        assert transport is not None
        try:
            header = wire.Header.decode(raw)
        except wire.HeaderError as e:
            peer = transport.get_extra_info("peername")
            log.warning("tunnel: dropping a connection from %s: %s", peer, e)
            self.abort()
            return
        self.server.carried[header.protocol] += 1
        log.debug("tunnel: %s %s -> %s:%d", header.protocol.name, header.src_ip,
                  header.dst_ip, header.dst_port)
        if header.protocol is wire.Protocol.UDP:
            self._udp(header, transport, rest)
            return
        if rest:
            self.client.early.append(rest)
        transport.pause_reading()
        self.server.tasks.spawn("tunnel-connect", self._connect(header), expect_exit=True)

    async def _connect(self, header: wire.Header) -> None:
        loop = asyncio.get_running_loop()
        try:
            sock = bound_socket(socket.SOCK_STREAM, self.server.source(header))
            try:
                await connect(sock, (header.dst_ip, header.dst_port))
                await loop.create_connection(lambda: Dialed(self), sock=sock)
            except BaseException:
                sock.close()
                raise
        except OSError as e:
            self._refuse(e.errno or errno.ECONNREFUSED)

    def _refuse(self, code: int) -> None:
        """The destination could not be reached: its errno as the status, then close."""
        transport = self.client.transport
        if not self.done and transport is not None:
            transport.write(bytes([code if 0 < code < 256 else errno.ECONNREFUSED]))
            self.end(None)

    def join(self, upstream: Dialed) -> None:
        self.client.transport.write(bytes([wire.OK]))  # type: ignore[union-attr]
        super().join(upstream)

    def _udp(self, header: wire.Header, transport: asyncio.Transport, rest: bytes) -> None:
        try:
            self.flow = _UdpFlow(transport, self.server.source(header), header)
        except OSError as e:
            self._refuse(e.errno or errno.ECONNREFUSED)
            return
        transport.write(bytes([wire.OK]))
        self.client.flow = self.flow  # type: ignore[attr-defined]
        if rest:
            self.flow.received(rest)

    def ended(self) -> None:
        self.server.open -= 1
        if self.flow is not None:
            self.flow.close()


class _UdpFlow(asyncio.DatagramProtocol):
    """One carried UDP flow: frames in -> datagrams out, answers -> frames back."""

    def __init__(self, tunnel: asyncio.Transport, source: str, header: wire.Header) -> None:
        self.tunnel = tunnel
        self.deframer = wire.Deframer()
        self.upstream = open_direct_udp(self, source, header.dst_ip, header.dst_port)

    def received(self, data: bytes) -> None:
        for datagram in self.deframer.feed(data):
            self.upstream.sendto(datagram)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.tunnel.write(wire.frame(data))

    def error_received(self, exc: Exception) -> None:
        pass  # the destination's ICMP error: a tunnel has no way to carry it; UDP loses it

    def close(self) -> None:
        self.upstream.close()
