"""The tunnel and the dialer over real loopback sockets, in one process: a "pod" range
127.71.2.0/24 owned by a node whose tunnel listens on 127.70.0.2, dialed from a node
n1 whose pods are 127.71.1.0/24."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvloop

from kubeloop.overlay import Dialer, Route, Routes
from kubeloop.overlay.dialer import bound_socket, connect
from kubeloop.overlay.wire import Protocol
from node_agent.overlay.server import TunnelServer

TUNNEL = "127.70.0.2"
CLIENT_POD = "127.71.1.5"
SERVER_POD = "127.71.2.7"


def free_port(ip: str, kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


async def tunnel_and_dialer() -> tuple[TunnelServer, Dialer]:
    server = TunnelServer(TUNNEL, free_port(TUNNEL))
    await server.start()
    dialer = Dialer("tunnel", "n1", "127.70.0.1", server.port)
    dialer.set_routes(Routes.build([Route("n1", "127.71.1.0/24", "127.70.0.1"),
                                    Route("n2", "127.71.2.0/24", TUNNEL)]))
    return server, dialer


async def _run(body) -> None:  # type: ignore[no-untyped-def]
    server, dialer = await tunnel_and_dialer()
    try:
        await asyncio.wait_for(body(server, dialer), 10)
    finally:
        await server.close()
        await dialer.close()


def test_tcp_keeps_the_client_ip_and_half_closes() -> None:
    async def body(server: TunnelServer, dialer: Dialer) -> None:
        seen: list[str] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("peername")[0])
            data = await reader.read()  # until the client's half-close
            writer.write(data.upper())
            await writer.drain()
            writer.close()

        port = free_port(SERVER_POD)
        pod = await asyncio.start_server(handle, SERVER_POD, port)
        reader = asyncio.StreamReader()
        transport, protocol = await dialer.open_tcp(
            lambda: asyncio.StreamReaderProtocol(reader), CLIENT_POD, SERVER_POD, port)
        transport.write(b"hello through the tunnel")
        transport.write_eof()
        assert await reader.read() == b"HELLO THROUGH THE TUNNEL"
        assert seen == [CLIENT_POD]
        assert server.carried[Protocol.TCP] == 1 and dialer.tunneled == 1
        transport.close()
        pod.close()
    asyncio.run(_run(body))


def test_refused_destination_is_refused_at_the_client() -> None:
    async def body(server: TunnelServer, dialer: Dialer) -> None:
        with pytest.raises(ConnectionRefusedError):
            await dialer.open_tcp(asyncio.Protocol, CLIENT_POD, SERVER_POD,
                                  free_port(SERVER_POD))
    asyncio.run(_run(body))


def test_reset_at_the_destination_resets_the_client() -> None:
    async def body(server: TunnelServer, dialer: Dialer) -> None:
        def rst(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            writer.transport.abort()

        port = free_port(SERVER_POD)
        pod = await asyncio.start_server(rst, SERVER_POD, port)
        reader = asyncio.StreamReader()
        transport, _ = await dialer.open_tcp(
            lambda: asyncio.StreamReaderProtocol(reader), CLIENT_POD, SERVER_POD, port)
        with pytest.raises(ConnectionResetError):
            await reader.read()
        transport.close()
        pod.close()
    asyncio.run(_run(body))


def test_local_and_service_destinations_are_direct() -> None:
    async def body(server: TunnelServer, dialer: Dialer) -> None:
        port = free_port("127.71.1.9")
        pod = await asyncio.start_server(lambda r, w: w.close(), "127.71.1.9", port)
        transport, _ = await dialer.open_tcp(asyncio.Protocol, CLIENT_POD, "127.71.1.9", port)
        transport.close()
        pod.close()
        assert dialer.tunneled == 0 and server.carried[Protocol.TCP] == 0
    asyncio.run(_run(body))


def test_udp_flow_through_the_tunnel() -> None:
    async def body(server: TunnelServer, dialer: Dialer) -> None:
        loop = asyncio.get_running_loop()
        seen: list[str] = []

        class Echo(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
                seen.append(addr[0])
                self.transport.sendto(data[::-1], addr)  # type: ignore[attr-defined]

        port = free_port(SERVER_POD, socket.SOCK_DGRAM)
        echo, _ = await loop.create_datagram_endpoint(Echo, local_addr=(SERVER_POD, port))
        answers: asyncio.Queue[bytes] = asyncio.Queue()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
                answers.put_nowait(data)

        flow = dialer.open_udp(Client(), CLIENT_POD, SERVER_POD, port)
        for text in (b"one", b"two", b"three"):  # the first ones wait for the tunnel to open
            flow.sendto(text)
        assert [await answers.get() for _ in range(3)] == [b"eno", b"owt", b"eerht"]
        assert set(seen) == {CLIENT_POD} and server.carried[Protocol.UDP] == 1
        flow.close()
        echo.close()
        await asyncio.sleep(0.05)
        assert server.open == 0
    asyncio.run(_run(body))


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_direct_connect_without_a_resolver(loop: str) -> None:
    """overlay.dialer.connect: the literal address is connected to as it is (uvloop's
    sock_connect would send it through the thread pool's getaddrinfo); a refused port
    raises ConnectionRefusedError naming the address."""
    async def body() -> None:
        port = free_port(SERVER_POD)
        pod = await asyncio.start_server(lambda r, w: w.close(), SERVER_POD, port)
        with bound_socket(socket.SOCK_STREAM, CLIENT_POD) as sock:
            await connect(sock, (SERVER_POD, port))
            assert sock.getpeername() == (SERVER_POD, port)
            assert sock.getsockname()[0] == CLIENT_POD
        pod.close()
        refused = free_port(SERVER_POD)
        with bound_socket(socket.SOCK_STREAM, CLIENT_POD) as sock:
            with pytest.raises(ConnectionRefusedError, match=f"{SERVER_POD}:{refused}"):
                await connect(sock, (SERVER_POD, refused))
    if loop == "uvloop":
        uvloop.run(body())
    else:
        asyncio.run(body())
