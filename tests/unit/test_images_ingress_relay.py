"""The ingress-nginx controller container on real sockets, without a cluster: started in
a data dir whose cluster.json puts the ingress address on a stand-in server, its ports 80
and 443 relay there from the client's own address (half-closes passed on), its health
port answers, and its log gets the banner then the new lines of logs/ingress.log (not
the old ones). Outside a data dir: the banner only, and the relay resets connections."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from kubeloop.config import ClusterConfig, Network
from node_agent.containers import (Console, ContainerContext, Identity, LogBuffer, Resolver,
                                   Running)
from node_agent.images import launch

# The pod's ports and the stand-in's are the real 80 and 443.
pytestmark = [pytest.mark.timeout(20),
              pytest.mark.skipif(os.geteuid() != 0, reason="binds ports 80 and 443")]

IMAGE = "registry.k8s.io/ingress-nginx/controller:v1.11.3"
INGRESS_IP = "127.62.0.1"  # the stand-in for the ingress process
POD_IP = "127.63.0.2"
CLIENT_IP = "127.64.0.9"
ACCESS = ('127.64.0.9 - - [03/Dec/2024:10:00:00 +0000] "GET / HTTP/1.1" 404 146 "-" '
          '"curl/8.5.0" 73 0.000 [upstream-default-backend] [] - - - - 0123abcd')


async def echo_upstream(port: int, peers: list[str]) -> asyncio.Server:
    """Echoes what it reads until the client's end of stream, then closes."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[0])
        writer.write(b"echo:" + await reader.read())
        await writer.drain()
        writer.close()
    return await asyncio.start_server(serve, INGRESS_IP, port)


def context(console: Console) -> ContainerContext:
    identity = Identity(POD_IP, "ingress-nginx-controller-abc", "ingress-nginx",
                        "ingress-nginx-controller-abc",
                        Resolver("127.96.0.10", ("ingress-nginx.svc.cluster.local",)),
                        {"KUBERNETES_SERVICE_HOST": "127.96.0.1",
                         "KUBERNETES_SERVICE_PORT": "443"})
    return ContainerContext(identity, "controller", IMAGE, [],
                            ["/nginx-ingress-controller",
                             "--election-id=ingress-nginx-leader"],
                            [], console)


def log_of(console: Console) -> list[str]:
    return [line for _, line in console.log.lines()]


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def exchange(port: int, data: bytes) -> bytes:
    """Sends ``data`` from CLIENT_IP, half-closes, reads to the end."""
    reader, writer = await asyncio.open_connection(POD_IP, port, local_addr=(CLIENT_IP, 0))
    writer.write(data)
    writer.write_eof()
    answer = await reader.read()
    writer.close()
    return answer


@pytest.fixture
async def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Path]:
    """A cluster data dir as the node agent's working directory, its ingress.log holding
    an earlier line."""
    config = ClusterConfig(data_dir=str(tmp_path), network=Network(ingress_ip=INGRESS_IP))
    config.save()
    config.logs.mkdir()
    (config.logs / "ingress.log").write_text(ACCESS.replace("GET /", "GET /before") + "\n")
    monkeypatch.chdir(tmp_path)
    yield config.logs / "ingress.log"


async def test_relays_serves_health_and_copies_new_log_lines(data_dir: Path) -> None:
    peers: list[str] = []
    servers = [await echo_upstream(port, peers) for port in (80, 443)]
    console = Console(LogBuffer())
    running: Running = await launch.start(context(console))
    try:
        await until(lambda: len(log_of(console)) > 2, "the banner")
        assert log_of(console)[:2] == ["-" * 79, "NGINX Ingress controller"]
        assert await exchange(80, b"GET / HTTP/1.1\r\n\r\n") == b"echo:GET / HTTP/1.1\r\n\r\n"
        assert await exchange(443, b"\x16\x03\x01") == b"echo:\x16\x03\x01"
        assert peers == [CLIENT_IP, CLIENT_IP]  # the ingress sees the real client

        reader, writer = await asyncio.open_connection(POD_IP, 10254)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\nok")

        with data_dir.open("a") as f:
            f.write(f"{ACCESS}\n10:00:00.500 I ingress ingress.server] an info line\n"
                    "10:00:00.600 W ingress ingress.controller] Ingress a/b: no service\n"
                    "half a li")
        await until(lambda: any("no service" in line for line in log_of(console)),
                    "the warning copied")
        copied = log_of(console)[-2:]
        assert copied[0] == ACCESS
        assert re.fullmatch(r"W\d{4} \d\d:\d\d:\d\d\.600000       7 controller\.go:0\] "
                            r"Ingress a/b: no service", copied[1]), copied
        assert not any("/before" in line or "info line" in line or "half a li" in line
                       for line in log_of(console))
    finally:
        await running.stop()
        for server in servers:
            server.close()
    assert running.exited.result() == 0
    assert log_of(console)[-1].endswith('] "Exiting" code=0')


async def test_outside_a_data_dir_only_the_banner(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    console = Console(LogBuffer())
    running = await launch.start(context(console))
    try:
        await until(lambda: len(log_of(console)) > 2, "the banner")
        assert log_of(console)[-1].endswith('"Initial sync, sleeping for 1 second"')
        reader, writer = await asyncio.open_connection(POD_IP, 80)
        with pytest.raises(ConnectionResetError):  # nothing to relay to: reset at once
            async with asyncio.timeout(2):
                await reader.read()
        writer.close()
    finally:
        await running.stop()
