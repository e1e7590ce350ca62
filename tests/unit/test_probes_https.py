"""httpGet probes with scheme HTTPS: the kubelet does not verify the pod's certificate
(self-signed passes), and the status decides as for HTTP."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import tempfile
from pathlib import Path

import pytest

from kubeloop import pki
from node_agent import probes

POD_IP = "127.66.4.9"
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def server_context(tmp: Path) -> ssl.SSLContext:
    ca, ca_key = pki.create_ca(NOW)  # a CA nobody trusts: the probe must not care
    cert, key = pki.issue_certificate(ca, ca_key, ["pod.test"], [], now=NOW)
    (tmp / "tls.crt").write_bytes(cert)
    (tmp / "tls.key").write_bytes(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "tls.crt", tmp / "tls.key")
    return context


@pytest.mark.parametrize("path, passes", [("/healthz", True), ("/broken", False)])
def test_https_probe_checks_the_status_not_the_certificate(path: str, passes: bool) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        await reader.readuntil(b"\r\n\r\n")
        status = b"200 OK" if line.split()[1] == b"/healthz" else b"500 Internal Server Error"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def body() -> tuple[bool, str]:
        with tempfile.TemporaryDirectory() as tmp:
            server = await asyncio.start_server(handle, POD_IP, 0,
                                                ssl=server_context(Path(tmp)))
        port = server.sockets[0].getsockname()[1]
        spec = probes.ProbeSpec({"httpGet": {"host": POD_IP, "port": port, "path": path,
                                             "scheme": "HTTPS"}}, timeout=5)
        try:
            return await probes.check(spec, None, {}, None)  # type: ignore[arg-type]
        finally:
            server.close()
            await server.wait_closed()

    ok, message = asyncio.run(body())
    assert ok is passes, message
