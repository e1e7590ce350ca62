"""Connections from a pod's (or a process's) address to any pod of the cluster: directly
when the destination is connectable from here (shared mode, a pod of this node, or not a
pod IP at all), else through the tunnel of the node that owns it (wire.py).

Through a tunnel the caller still gets what ``loop.create_connection`` gives: the header
goes first on a plain socket, the tunnel's status byte comes back (a refused destination
raises ConnectionRefusedError here, as a direct connect would), then the caller's
protocol is attached to the tunnel socket itself, TLS included: no relay on this side.
UDP flows get a connected-style ``DatagramTransport`` either way.

One ``Dialer`` per process, installed at start-up (``install``); until then every
destination is direct, as in a cluster on one loopback."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl as _ssl
from collections.abc import Callable
from typing import Any, TypeVar

from kubeloop.overlay import wire
from kubeloop.overlay.routes import Mode, Routes, mode, next_hop
from kubeloop.tasks import TaskGroup

P = TypeVar("P", bound=asyncio.BaseProtocol)
# Linux: pick the source port at connect() time, so each (source IP, destination) has its
# own 28k ephemeral ports instead of the whole source IP sharing them.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
BATCH = 64  # datagrams read per wake-up before yielding to the loop
PENDING_DATAGRAMS = 64  # sent while a UDP tunnel opens; more are lost, as UDP may
NO_SOURCE = "0.0.0.0"  # in a header: the client has no pod address (the tunnel SNATs)


def bound_socket(kind: socket.SocketKind, source: str | None) -> socket.socket:
    """A non-blocking socket bound to ``source`` (None: the kernel picks at connect)."""
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.setblocking(False)
        if source is not None:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
    except OSError:
        sock.close()
        raise
    return sock


async def connect(sock: socket.socket, address: tuple[str, int]) -> None:
    """``loop.sock_connect`` for an address that is already an IP: uvloop's resolves it
    anyway, through libuv's thread pool, which costs a thread hand-off (and a third of
    kube-proxy's new connections per second). Raises the connect error (OSError, e.g.
    ConnectionRefusedError)."""
    code = sock.connect_ex(address)
    if code == errno.EINPROGRESS:
        # Asked again: on the loopback the handshake is mostly over by now (EISCONN), and
        # then there is nothing to wait for.
        code = sock.connect_ex(address)
        if code == errno.EISCONN:
            return
    if code in (errno.EINPROGRESS, errno.EALREADY):
        loop = asyncio.get_running_loop()
        writable = loop.create_future()
        fd = sock.fileno()
        loop.add_writer(fd, _settle, writable)
        try:
            await writable
        finally:
            loop.remove_writer(fd)
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        raise OSError(code, f"connect to {address[0]}:{address[1]}: {os.strerror(code)}")


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():  # writable again before the waiter ran
        future.set_result(None)


async def _status(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Waits for the tunnel's status byte; raises the destination's connect error."""
    status = await loop.sock_recv(sock, 1)
    if not status:
        raise ConnectionResetError("the tunnel closed before reaching the destination")
    if status[0] != wire.OK:
        raise OSError(status[0], os.strerror(status[0]))  # ECONNREFUSED: ConnectionRefusedError


class Dialer:
    """Routes of this process's cluster view. ``node``: this node's name (its pods are
    local); ``address``: where tunnel connections leave from (None: the kernel picks)."""

    def __init__(self, setting: str = "auto", node: str = "", address: str | None = None,
                 port: int = wire.PORT) -> None:
        self.setting = setting
        self.node = node
        self.address = address
        self.port = port  # where every node's tunnel listens
        self.routes = Routes()
        self.mode = mode(setting, ())
        self.tunneled = 0  # connections and flows opened through a tunnel
        self.tasks = TaskGroup("overlay")

    def set_routes(self, routes: Routes) -> None:
        self.routes = routes
        self.mode = mode(self.setting, routes.addresses())

    def next_hop(self, ip: str) -> str | None:
        """The tunnel address for ``ip``, or None to connect directly."""
        return next_hop(self.routes, self.mode, self.node, ip)

    async def open_tcp(self, factory: Callable[[], P], src_ip: str | None, dst_ip: str,
                       dst_port: int, *, ssl: _ssl.SSLContext | None = None,
                       server_hostname: str | None = None
                       ) -> tuple[asyncio.Transport, P]:
        """Like ``loop.create_connection(factory, dst_ip, dst_port, local_addr=(src_ip,
        0), ssl=..)``, through the owner's tunnel when ``dst_ip`` is a pod elsewhere."""
        loop = asyncio.get_running_loop()
        hop = self.next_hop(dst_ip)
        sock = bound_socket(socket.SOCK_STREAM, src_ip if hop is None else self.address)
        try:
            if hop is None:
                await connect(sock, (dst_ip, dst_port))
            else:
                await connect(sock, (hop, self.port))
                await loop.sock_sendall(sock, wire.Header(
                    wire.Protocol.TCP, src_ip or NO_SOURCE, 0, dst_ip, dst_port).encode())
                await _status(loop, sock)
                self.tunneled += 1
            transport, protocol = await loop.create_connection(
                factory, sock=sock, ssl=ssl, server_hostname=server_hostname)
        except BaseException:
            sock.close()
            raise
        return transport, protocol  # type: ignore[return-value]

    def open_udp(self, protocol: asyncio.DatagramProtocol, src_ip: str | None, dst_ip: str,
                 dst_port: int) -> asyncio.DatagramTransport:
        """A flow to dst_ip:dst_port (``sendto(data)``; answers reach ``protocol``), from
        ``src_ip``. Direct: a connected UDP socket (OSError now if it cannot be bound).
        Tunnelled: opens in the background; a failure reaches ``error_received``."""
        hop = self.next_hop(dst_ip)
        if hop is None:
            return open_direct_udp(protocol, src_ip, dst_ip, dst_port)
        self.tunneled += 1
        header = wire.Header(wire.Protocol.UDP, src_ip or NO_SOURCE, 0, dst_ip, dst_port)
        return _TunnelDatagrams(self, protocol, hop, header)

    async def close(self) -> None:
        await self.tasks.close()


def open_direct_udp(protocol: asyncio.DatagramProtocol, src_ip: str | None, dst_ip: str,
                    dst_port: int) -> asyncio.DatagramTransport:
    """A connected UDP socket from ``src_ip`` to dst_ip:dst_port (OSError when it cannot
    be bound or connected)."""
    sock = bound_socket(socket.SOCK_DGRAM, src_ip)
    try:
        sock.connect((dst_ip, dst_port))
    except OSError:
        sock.close()
        raise
    return _DirectDatagrams(protocol, sock)


class _DirectDatagrams(asyncio.DatagramTransport):
    """A connected UDP socket read in batches straight off the loop's reader callback."""

    def __init__(self, protocol: asyncio.DatagramProtocol, sock: socket.socket) -> None:
        super().__init__({"socket": sock, "sockname": sock.getsockname(),
                          "peername": sock.getpeername()})
        self._protocol = protocol
        self._sock = sock
        self._peer = sock.getpeername()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)
        protocol.connection_made(self)

    def sendto(self, data: Any, addr: Any = None) -> None:
        try:
            self._sock.send(data)
        except OSError as e:  # a full buffer or an earlier datagram's ICMP error
            self._protocol.error_received(e)

    def _readable(self) -> None:
        for _ in range(BATCH):
            try:
                data = self._sock.recv(wire.MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError as e:  # an ICMP error queued by an earlier datagram
                self._protocol.error_received(e)
                continue
            self._protocol.datagram_received(data, self._peer)

    def is_closing(self) -> bool:
        return self._sock.fileno() < 0

    def close(self) -> None:
        if self._sock.fileno() < 0:
            return
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._loop.call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


class _TunnelDatagrams(asyncio.DatagramTransport):
    """A UDP flow carried by a TCP tunnel: datagrams framed with their length each way.
    What is sent while the tunnel opens waits (up to PENDING_DATAGRAMS)."""

    def __init__(self, dialer: Dialer, protocol: asyncio.DatagramProtocol, hop: str,
                 header: wire.Header) -> None:
        peer = (header.dst_ip, header.dst_port)
        super().__init__({"sockname": (header.src_ip, 0), "peername": peer})
        self._protocol = protocol
        self._peer = peer
        self._stream: asyncio.Transport | None = None
        self._pending: list[bytes] | None = []  # None: closed
        self._deframer = wire.Deframer()
        self._opening = dialer.tasks.spawn(f"udp-tunnel {header.dst_ip}:{header.dst_port}",
                                           self._open(dialer, hop, header), expect_exit=True)
        protocol.connection_made(self)

    async def _open(self, dialer: Dialer, hop: str, header: wire.Header) -> None:
        loop = asyncio.get_running_loop()
        try:
            sock = bound_socket(socket.SOCK_STREAM, dialer.address)
            try:
                await connect(sock, (hop, dialer.port))
                await loop.sock_sendall(sock, header.encode())
                await _status(loop, sock)
                await loop.create_connection(lambda: _Frames(self), sock=sock)
            except BaseException:
                sock.close()
                raise
        except OSError as e:
            self._protocol.error_received(e)
            self.close()

    def _connected(self, stream: asyncio.Transport) -> None:
        if self._pending is None:  # closed while opening
            stream.close()
            return
        self._stream = stream
        stream.writelines([wire.frame(d) for d in self._pending])
        self._pending = []

    def _received(self, data: bytes) -> None:
        for datagram in self._deframer.feed(data):
            self._protocol.datagram_received(datagram, self._peer)

    def sendto(self, data: Any, addr: Any = None) -> None:
        if self._stream is not None:
            self._stream.write(wire.frame(bytes(data)))
        elif self._pending is not None and len(self._pending) < PENDING_DATAGRAMS:
            self._pending.append(bytes(data))

    def is_closing(self) -> bool:
        return self._pending is None

    def close(self) -> None:
        if self._pending is None:
            return
        self._pending = None
        self._opening.cancel()
        if self._stream is not None:
            self._stream.close()
        asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


class _Frames(asyncio.Protocol):
    """The tunnel socket of a UDP flow."""

    def __init__(self, flow: _TunnelDatagrams) -> None:
        self.flow = flow

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.flow._connected(transport)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        self.flow._received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.flow.close()


_installed = Dialer()


def install(dialer: Dialer) -> None:
    """Makes ``dialer`` the one this process's connections go through."""
    global _installed
    _installed = dialer


def installed() -> Dialer:
    return _installed


async def open_tcp(factory: Callable[[], P], src_ip: str | None, dst_ip: str, dst_port: int,
                   *, ssl: _ssl.SSLContext | None = None, server_hostname: str | None = None
                   ) -> tuple[asyncio.Transport, P]:
    """``Dialer.open_tcp`` of the installed dialer."""
    return await _installed.open_tcp(factory, src_ip, dst_ip, dst_port, ssl=ssl,
                                     server_hostname=server_hostname)


def open_udp(protocol: asyncio.DatagramProtocol, src_ip: str | None, dst_ip: str,
             dst_port: int) -> asyncio.DatagramTransport:
    """``Dialer.open_udp`` of the installed dialer."""
    return _installed.open_udp(protocol, src_ip, dst_ip, dst_port)
