"""HTTP/2 to the ingress controller's clients (ALPN "h2"), in-process on real sockets
(127.71.0.0/16), driven by curl --http2 and, where a client must misbehave or hold its
window shut, by a client made of the h2 library: negotiation, routing and nginx's pages,
bodies both ways, flow control, concurrent streams, resets, GOAWAY."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from h2 import events as h2events
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes

from ingress import ControllerConfig, IngressController, ProxyConfig
from ingress.messages import page
from kubeloop import pki
from tests.integration.test_ingress_core import (_read_request, curl, ingress, path,
                                                 start_controller, tls_secret)

pytestmark = pytest.mark.timeout(60)

PROXY_IP = "127.71.0.1"
PODS = ["127.71.1.2", "127.71.1.3"]
DEAD_POD = "127.71.1.9"  # nothing listens there: connections are refused
POD_PORT = 8080
BIG = 3 * 1024 * 1024 + 17  # a response many windows long
NOW = datetime.datetime.now(datetime.timezone.utc)


def big_body() -> bytes:
    return bytes(range(256)) * (BIG // 256) + b"x" * (BIG % 256)


def _pod(ip: str) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """Echoes the request as JSON; /big answers BIG bytes, /slow waits 0.5 s first."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line, headers, body = await _read_request(reader)
                method, target, _ = line.split(" ")
                if target.partition("?")[0] == "/slow":
                    await asyncio.sleep(0.5)
                if target == "/big":
                    data = big_body()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data))
                    writer.write(data)
                else:
                    echo = json.dumps({"pod": ip, "line": line, "headers": headers,
                                       "body": body.decode()}).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Type: "
                                 b"application/json\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(echo), echo))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
    return serve


INGRESSES = [
    ingress("web", "web.test", [path("/", "web")]),
    ingress("secure", "secure.test", [path("/", "web")],
            tls=[{"hosts": ["secure.test"], "secretName": "secure-tls"}]),
    ingress("small", "small.test", [path("/", "web")],
            annotations={"nginx.ingress.kubernetes.io/proxy-body-size": "1k"}),
    ingress("broken", "broken.test", [path("/", "dead"), path("/empty", "empty")]),
]


class Env:
    def __init__(self, controller: IngressController, ca: Path, log: list[str]) -> None:
        self.controller, self.ca, self.log = controller, ca, log


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    ca_cert, ca_key = pki.create_ca(NOW)
    (tmp_path / "ca.crt").write_bytes(ca_cert)
    cert, key = pki.issue_certificate(ca_cert, ca_key, ["secure.test"], [], now=NOW)
    log: list[str] = []
    pods = [await asyncio.start_server(_pod(ip), ip, POD_PORT) for ip in PODS]
    config = ControllerConfig(proxy=ProxyConfig(client_header_timeout=2.0, sweep_interval=0.1,
                                                read_timeout=3.0, keepalive_timeout=1.5))
    controller = await start_controller(PROXY_IP, config, PODS,
                                        [tls_secret("secure-tls", cert, key)], INGRESSES,
                                        DEAD_POD, access_log=log.extend)
    try:
        yield Env(controller, tmp_path / "ca.crt", log)
    finally:
        await controller.close()
        for pod in pods:
            pod.close()
            await pod.wait_closed()


async def h2get(host: str, target: str = "/", *args: str, ip: str = PROXY_IP
                ) -> tuple[str, int, str]:
    """curl --http2 -k: (HTTP version, status, body)."""
    code, out, err = await curl("--http2", "-k", "--resolve", f"{host}:443:{ip}",
                                "-w", "\n%{http_version} %{http_code}", *args,
                                f"https://{host}{target}")
    assert code == 0, err
    body, _, last = out.rpartition("\n")
    version, status = last.split()
    return version, int(status), body


# --- an HTTP/2 client of our own, for what curl will not do --------------------------------

class H2Client:
    """The h2 library as a client over TLS with ALPN "h2": acknowledges DATA only when
    told to, resets streams, sends garbage."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        self.events: list[h2events.Event] = []
        self.data: dict[int, bytearray] = {}
        self.headers: dict[int, dict[bytes, bytes]] = {}
        self.ended: set[int] = set()
        self.auto_ack = True
        self.eof = False

    @classmethod
    async def connect(cls, host: str = "web.test", ip: str = PROXY_IP) -> H2Client:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        reader, writer = await asyncio.open_connection(ip, 443, ssl=ctx, server_hostname=host)
        assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
        client = cls(reader, writer)
        client.h2.initiate_connection()
        client.flush()
        return client

    def flush(self) -> None:
        self.writer.write(self.h2.data_to_send())

    def request(self, target: str, host: str = "web.test") -> int:
        stream_id = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream_id, [(b":method", b"GET"), (b":scheme", b"https"),
                                         (b":authority", host.encode()),
                                         (b":path", target.encode())], end_stream=True)
        self.data[stream_id] = bytearray()
        self.flush()
        return stream_id

    async def read_until(self, done: Callable[[], bool], timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if self.eof:
                raise AssertionError("the connection closed first")
            left = deadline - time.monotonic()
            assert left > 0, "timed out"
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), left)
            except asyncio.TimeoutError:
                continue
            if not chunk:
                self.eof = True
                continue
            for event in self.h2.receive_data(chunk):
                self.events.append(event)
                if isinstance(event, h2events.ResponseReceived):
                    self.headers[event.stream_id] = dict(event.headers)
                elif isinstance(event, h2events.DataReceived):
                    self.data[event.stream_id] += event.data
                    if self.auto_ack:
                        self.h2.acknowledge_received_data(event.flow_controlled_length,
                                                          event.stream_id)
                elif isinstance(event, h2events.StreamEnded):
                    self.ended.add(event.stream_id)
            self.flush()

    def goaway(self) -> h2events.ConnectionTerminated | None:
        return next((e for e in self.events if isinstance(e, h2events.ConnectionTerminated)),
                    None)

    async def closed(self) -> bool:
        """Reads to EOF."""
        await self.read_until(lambda: self.eof)
        return True

    def close(self) -> None:
        self.writer.close()


def frame_types(data: bytes) -> list[int]:
    """The types of the HTTP/2 frames in ``data``."""
    types = []
    while len(data) >= 9:
        types.append(data[3])
        data = data[9 + int.from_bytes(data[:3], "big"):]
    return types


async def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


# --- tests ------------------------------------------------------------------------------------

async def test_h2_is_negotiated_and_routed_with_forwarded_headers(env: Env) -> None:
    code, out, err = await curl("-v", "--http2", "-k", "--resolve", f"web.test:443:{PROXY_IP}",
                                "-H", "Cookie: a=1", "-H", "Cookie: b=2",
                                "https://web.test/a/b?x=1")
    assert code == 0, err
    assert "ALPN: server accepted h2" in err and "using HTTP/2" in err
    assert "< HTTP/2 200" in err and "< content-type: application/json" in err
    assert "connection:" not in err.lower().split("< http/2 200")[1]
    echo = json.loads(out)
    assert echo["line"] == "GET /a/b?x=1 HTTP/1.1"  # the backend stays HTTP/1.1
    h = echo["headers"]
    assert h["host"] == "web.test" and h["cookie"] == "a=1; b=2"
    assert (h["x-forwarded-proto"], h["x-forwarded-port"], h["x-forwarded-host"]) == (
        "https", "443", "web.test")
    assert h["x-real-ip"] == h["x-forwarded-for"] == "127.0.0.1"
    assert len(h["x-request-id"]) == 32
    line = env.log[-1]
    assert line.startswith("127.0.0.1 - - [") and '"GET /a/b?x=1 HTTP/2.0" 200 ' in line
    assert "[default-web-80] []" in line and h["x-request-id"] in line


async def test_h2_with_a_certificate_chosen_by_sni(env: Env) -> None:
    code, out, err = await curl("-v", "--http2", "--cacert", str(env.ca), "--resolve",
                                f"secure.test:443:{PROXY_IP}", "https://secure.test/tls")
    assert code == 0, err
    assert "ALPN: server accepted h2" in err
    assert json.loads(out)["headers"]["x-forwarded-proto"] == "https"


async def test_http11_when_h2_is_not_offered(env: Env) -> None:
    code, out, err = await curl("-v", "--http1.1", "-k", "--resolve",
                                f"web.test:443:{PROXY_IP}", "https://web.test/one")
    assert code == 0, err
    assert "ALPN: server accepted http/1.1" in err and "< HTTP/1.1 200 OK" in err
    assert '"GET /one HTTP/1.1" 200 ' in env.log[-1]
    # no ALPN at all: HTTP/1.1
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(PROXY_IP, 443, ssl=ctx,
                                                   server_hostname="web.test")
    assert writer.get_extra_info("ssl_object").selected_alpn_protocol() is None
    writer.write(b"GET /two HTTP/1.1\r\nHost: web.test\r\nConnection: close\r\n\r\n")
    reply = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_nginx_pages_over_h2(env: Env) -> None:
    assert await h2get("nowhere.test") == ("2", 404, page(404).decode())
    assert await h2get("broken.test", "/empty") == ("2", 503, page(503).decode())
    assert await h2get("broken.test", "/") == ("2", 502, page(502).decode())
    code, out, err = await curl("--http2", "-k", "-I", "--resolve",
                                f"nowhere.test:443:{PROXY_IP}", "https://nowhere.test/")
    assert code == 0 and out.startswith("HTTP/2 404"), err
    assert f"content-length: {len(page(404))}" in out  # HEAD: the length, no body


async def test_request_bodies_over_h2(env: Env, tmp_path: Path) -> None:
    body = "x" * 200_000  # several windows
    (tmp_path / "body").write_text(body)
    version, status, out = await h2get("web.test", "/post", "--data-binary",
                                       f"@{tmp_path / 'body'}")
    echo = json.loads(out)
    assert (version, status, echo["line"]) == ("2", 200, "POST /post HTTP/1.1")
    assert echo["body"] == body and echo["headers"]["content-length"] == str(len(body))
    # a body of unknown length (curl -T - sends no content-length): chunked to the backend
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--http2", "-k", "-T", "-", "--resolve", f"web.test:443:{PROXY_IP}",
        "https://web.test/upload", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out_b, err_b = await asyncio.wait_for(proc.communicate(b"streamed " * 5000), 20)
    assert proc.returncode == 0, err_b
    echo = json.loads(out_b)
    assert echo["body"] == "streamed " * 5000
    assert echo["headers"]["transfer-encoding"] == "chunked"
    # over proxy-body-size: 413, the stream ends, the connection serves on
    version, status, out = await h2get("small.test", "/", "--data-binary", "y" * 5000)
    assert (version, status, out) == ("2", 413, page(413).decode())


async def test_large_response_over_h2(env: Env) -> None:
    code, out, err = await curl("--http2", "-k", "--resolve", f"web.test:443:{PROXY_IP}",
                                "-o", "-", "https://web.test/big", "-w", "%{http_version}")
    assert code == 0, err
    assert out.endswith("2")
    # curl's windows are huge; a client that keeps the default 64 KiB window and does not
    # acknowledge gets exactly that much, and the rest once it does
    client = await H2Client.connect()
    try:
        client.auto_ack = False
        stream = client.request("/big")
        await client.read_until(lambda: len(client.data[stream]) >= 65535)
        await asyncio.sleep(0.3)
        await client.read_until(lambda: True)
        assert len(client.data[stream]) == 65535 and stream not in client.ended
        client.auto_ack = True
        client.h2.acknowledge_received_data(65535, stream)
        client.flush()
        await client.read_until(lambda: stream in client.ended)
        assert client.headers[stream][b":status"] == b"200"
        assert hashlib.sha256(client.data[stream]).digest() == \
            hashlib.sha256(big_body()).digest()
    finally:
        client.close()


async def test_concurrent_streams_share_one_connection(env: Env) -> None:
    urls = [f"https://web.test/slow?n={i}" for i in range(8)] + ["https://web.test/big"]
    started = time.monotonic()
    code, out, err = await curl("--http2", "-k", "-Z", "--resolve", f"web.test:443:{PROXY_IP}",
                                *[a for u in urls for a in ("-o", "/dev/null", u)],
                                "-w", "%{http_version} %{http_code} %{num_connects}\n")
    elapsed = time.monotonic() - started
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()]
    assert [r[:2] for r in rows] == [["2", "200"]] * 9
    assert sum(int(r[2]) for r in rows) == 1  # one connection, nine streams
    assert elapsed < 3.0  # eight 0.5 s backends side by side, not one after another
    assert sum('HTTP/2.0" 200' in line for line in env.log) == 9


async def test_reset_stream_ends_only_its_request(env: Env) -> None:
    client = await H2Client.connect()
    try:
        gone = client.request("/slow?reset")
        kept = client.request("/slow?kept")
        await asyncio.sleep(0.1)
        client.h2.reset_stream(gone, ErrorCodes.CANCEL)
        client.flush()
        await client.read_until(lambda: kept in client.ended)
        assert client.headers[kept][b":status"] == b"200"
        assert json.loads(client.data[kept])["line"] == "GET /slow?kept HTTP/1.1"
        assert gone not in client.headers
        assert any('"GET /slow?reset HTTP/2.0" 499 ' in line for line in env.log)
        again = client.request("/after")
        await client.read_until(lambda: again in client.ended)
        assert client.headers[again][b":status"] == b"200"
        await wait_until(lambda: not env.controller.proxy.clients)  # handlers closed
    finally:
        client.close()


@pytest.mark.parametrize("garbage, error", [
    # a PING of 8 bytes on stream 1, where PING belongs to stream 0
    (b"\x00\x00\x08\x06\x00\x00\x00\x00\x01garbage!", ErrorCodes.PROTOCOL_ERROR),
    (b"\xff" * 100, ErrorCodes.FRAME_SIZE_ERROR),  # a 16 MiB frame announced: refused at once
    # HEADERS whose HPACK names an entry no table has (h2 calls it a PROTOCOL_ERROR)
    (b"\x00\x00\x04\x01\x05\x00\x00\x00\x03\xc0\xff\xee\x00", ErrorCodes.PROTOCOL_ERROR),
], ids=["ping-on-a-stream", "overlong-frame", "bad-hpack"])
async def test_garbage_after_the_preface_costs_only_its_connection(
        env: Env, garbage: bytes, error: ErrorCodes) -> None:
    client = await H2Client.connect()
    try:
        stream = client.request("/")
        await client.read_until(lambda: stream in client.ended)
        client.writer.write(garbage)
        assert await client.closed()
        goaway = client.goaway()
        assert goaway is not None and goaway.error_code == error
    finally:
        client.close()
    # HTTP/1.1 where h2 was agreed: no preface, GOAWAY
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection(PROXY_IP, 443, ssl=ctx,
                                                   server_hostname="web.test")
    writer.write(b"GET / HTTP/1.1\r\nHost: web.test\r\n\r\n")
    reply = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert 0x7 in frame_types(reply)  # GOAWAY, then EOF
    assert (await h2get("web.test"))[:2] == ("2", 200)
    await wait_until(lambda: not env.controller.proxy.clients)


async def test_goaway_when_idle(env: Env) -> None:
    client = await H2Client.connect()
    try:
        stream = client.request("/")
        await client.read_until(lambda: stream in client.ended)
        started = time.monotonic()
        assert await client.closed()  # keepalive_timeout is 1.5 s here
        assert 1.0 < time.monotonic() - started < 4.0
        goaway = client.goaway()
        assert goaway is not None and goaway.error_code == ErrorCodes.NO_ERROR
        assert goaway.last_stream_id == stream
    finally:
        client.close()


async def test_goaway_on_shutdown_and_use_http2_off(env: Env) -> None:
    log: list[str] = []
    other = await start_controller("127.71.0.2", ControllerConfig(), PODS, [], INGRESSES,
                                   DEAD_POD, access_log=log.extend)
    client = await H2Client.connect(ip="127.71.0.2")
    try:
        stream = client.request("/")
        await client.read_until(lambda: stream in client.ended)
        await other.close()
        assert await client.closed()
        goaway = client.goaway()
        assert goaway is not None and goaway.error_code == ErrorCodes.NO_ERROR
    finally:
        client.close()
    off = await start_controller("127.71.0.3", ControllerConfig(use_http2=False), PODS, [],
                                 INGRESSES, DEAD_POD, access_log=log.extend)
    try:
        code, out, err = await curl("-v", "--http2", "-k", "--resolve",
                                    "web.test:443:127.71.0.3", "https://web.test/", "-o",
                                    "/dev/null", "-w", "%{http_version}")
        assert code == 0 and out == "1.1", err
        assert "ALPN: server accepted http/1.1" in err
    finally:
        await off.close()
