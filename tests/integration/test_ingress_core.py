"""The ingress controller in-process, on real sockets (127.65.0.0/16), driven by curl:
routing, nginx's pages, TLS by SNI, redirects, body limits, chunked bodies, WebSocket,
slow and hostile clients, live table swaps."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ingress import ControllerConfig, IngressController, Problem, ProxyConfig
from ingress.messages import page
from kubeloop import pki

pytestmark = pytest.mark.timeout(60)

PROXY_IP = "127.65.0.1"
PODS = ["127.65.1.2", "127.65.1.3"]
DEAD_POD = "127.65.1.9"  # nothing listens there: connections are refused
POD_PORT = 8080
NOW = datetime.datetime.now(datetime.timezone.utc)


# --- a backend pod: echoes the request as JSON; /chunked, /slow, /ws, /fixed ----------------

FIXED = (b"HTTP/1.1 200 OK\r\nServer: pod\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
         b"Content-Length: 5\r\n\r\nfixed")  # the same bytes every time

async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    line, *lines = head.split("\r\n")[:-2]
    headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in lines)}
    body = b""
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            body += (await reader.readexactly(size + 2))[:-2]
            if size == 0:
                break
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    return line, headers, body


def _pod(ip: str) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line, headers, body = await _read_request(reader)
                method, target, _ = line.split(" ")
                if target == "/ws":
                    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\n\r\n")
                    while data := await reader.read(65536):
                        writer.write(data.upper())
                    break
                if target == "/slow":
                    await asyncio.sleep(0.5)
                if target == "/fixed":
                    writer.write(FIXED[:FIXED.index(b"fixed")] if method == "HEAD" else FIXED)
                    continue
                if target == "/chunked":
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    for part in (b"hello ", b"chunked ", b"world"):
                        writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                        await writer.drain()
                    writer.write(b"0\r\n\r\n")
                    continue
                echo = json.dumps({"pod": ip, "method": method, "target": target,
                                   "headers": headers, "body": body.decode()}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nServer: pod\r\nContent-Type: application/json"
                             b"\r\nContent-Length: %d\r\n\r\n%s" % (len(echo), echo))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
    return serve


# --- cluster objects ------------------------------------------------------------------------

def meta(name: str, **extra: object) -> dict:
    return {"name": name, "namespace": "default", **extra}


def service(name: str) -> dict:
    return {"metadata": meta(name), "spec": {"ports": [{"port": 80, "targetPort": POD_PORT,
                                                        "protocol": "TCP"}]}}


def endpoint_slice(svc: str, *ips: str) -> dict:
    return {"metadata": meta(f"{svc}-x1", labels={"kubernetes.io/service-name": svc}),
            "ports": [{"name": "", "port": POD_PORT, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}


def path(p: str, svc: str, kind: str = "Prefix") -> dict:
    return {"path": p, "pathType": kind,
            "backend": {"service": {"name": svc, "port": {"number": 80}}}}


def ingress(name: str, host: str, paths: list[dict], *, annotations: dict | None = None,
            tls: list | None = None, created: str = "2026-01-01T00:00:00Z") -> dict:
    spec: dict = {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": paths}}]}
    if tls:
        spec["tls"] = tls
    return {"metadata": meta(name, annotations=annotations or {}, creationTimestamp=created),
            "spec": spec}


def tls_secret(name: str, cert: bytes, key: bytes) -> dict:
    return {"metadata": meta(name), "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(cert).decode(),
                     "tls.key": base64.b64encode(key).decode()}}


class Env:
    def __init__(self, controller: IngressController, ca: Path, log: list[str],
                 problems: list[Problem], secrets: list[dict]) -> None:
        self.controller, self.ca, self.log = controller, ca, log
        self.problems, self.secrets = problems, secrets


async def start_controller(ip: str, config: ControllerConfig, pods: list[str],
                           secrets: list[dict], ingresses: list[dict],
                           dead_pod: str = DEAD_POD, **hooks: Any) -> IngressController:
    """A controller listening on ``ip`` (80 and 443) that knows the Services web (its
    endpoints ``pods``), dead (``dead_pod``, where nothing listens) and empty (no
    endpoints), ``secrets`` and ``ingresses``; ``hooks``: IngressController's callbacks."""
    controller = IngressController(config, **hooks)
    await controller.resync("networking.k8s.io/ingressclasses", [{
        "metadata": {"name": "nginx", "annotations": {
            "ingressclass.kubernetes.io/is-default-class": "true"}},
        "spec": {"controller": "k8s.io/ingress-nginx"}}])
    for name in ("web", "dead", "empty"):
        await controller.update("services", service(name))
    await controller.update("discovery.k8s.io/endpointslices", endpoint_slice("web", *pods))
    await controller.update("discovery.k8s.io/endpointslices", endpoint_slice("dead", dead_pod))
    for secret in secrets:
        await controller.update("secrets", secret)
    for ing in ingresses:
        await controller.update("networking.k8s.io/ingresses", ing)
    await controller.start((ip, 80), (ip, 443))
    return controller


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    ca_cert, ca_key = pki.create_ca(NOW)
    (tmp_path / "ca.crt").write_bytes(ca_cert)
    cert, key = pki.issue_certificate(ca_cert, ca_key, ["secure.test"], [], now=NOW)
    log: list[str] = []
    problems: list[Problem] = []
    secrets: list[dict] = []
    config = ControllerConfig(proxy=ProxyConfig(client_header_timeout=1.0,
                                                sweep_interval=0.1, read_timeout=3.0))
    pods = [await asyncio.start_server(_pod(ip), ip, POD_PORT) for ip in PODS]
    controller = await start_controller(PROXY_IP, config, PODS, [
        tls_secret("secure-tls", cert, key)], [
        ingress("web", "web.test", [path("/", "web"), path("/exact", "web", "Exact")]),
        ingress("secure", "secure.test", [path("/", "web")],
                tls=[{"hosts": ["secure.test"], "secretName": "secure-tls"}]),
        ingress("rewrite", "rw.test", [path("/api(/|$)(.*)", "web", "ImplementationSpecific")],
                annotations={"nginx.ingress.kubernetes.io/rewrite-target": "/$2",
                             "nginx.ingress.kubernetes.io/use-regex": "true"}),
        ingress("small", "small.test", [path("/", "web")],
                annotations={"nginx.ingress.kubernetes.io/proxy-body-size": "1k"}),
        ingress("broken", "broken.test", [path("/", "dead"), path("/empty", "empty"),
                                          path("/missing", "missing")]),
        ingress("forced", "forced.test", [path("/", "web")],
                annotations={"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}),
    ], on_problem=problems.append, on_secret=secrets.append, ca=(ca_cert, ca_key),
        access_log=log.extend)
    try:
        yield Env(controller, tmp_path / "ca.crt", log, problems, secrets)
    finally:
        await controller.close()
        for pod in pods:
            pod.close()
            await pod.wait_closed()


async def curl(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of curl; -w prints the status last on stdout."""
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--max-time", "10", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


async def exchange_raw(request: bytes) -> bytes:
    """What the proxy answers ``request`` (bytes as sent) until it closes."""
    reader, writer = await asyncio.open_connection(PROXY_IP, 80)
    writer.write(request)
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


async def get(host: str, target: str = "/", *args: str) -> tuple[int, str]:
    _, out, err = await curl("-o", "-", "-w", "\n%{http_code}", "-H", f"Host: {host}", *args,
                             f"http://{PROXY_IP}{target}")
    body, _, status = out.rpartition("\n")
    return int(status or 0), body


# --- tests ------------------------------------------------------------------------------

async def test_routes_to_pods_round_robin_with_forwarded_headers(env: Env) -> None:
    seen = []
    for _ in range(2):
        status, body = await get("web.test", "/a/b?x=1", "-H", "X-Forwarded-For: 1.2.3.4")
        assert status == 200
        echo = json.loads(body)
        seen.append(echo["pod"])
    assert sorted(seen) == PODS
    h = echo["headers"]
    assert echo["target"] == "/a/b?x=1"
    assert h["host"] == "web.test"
    assert h["x-real-ip"] == h["x-forwarded-for"] == "127.0.0.1"
    assert h["x-original-forwarded-for"] == "1.2.3.4"
    assert (h["x-forwarded-host"], h["x-forwarded-port"], h["x-forwarded-proto"]) == (
        "web.test", "80", "http")
    assert len(h["x-request-id"]) == 32
    assert "connection" not in h
    line = env.log[-1]
    assert line.startswith('127.0.0.1 - - [') and '"GET /a/b?x=1 HTTP/1.1" 200 ' in line
    assert "[default-web-80] []" in line and h["x-request-id"] in line


async def test_nginx_pages_for_404_503_502(env: Env) -> None:
    assert await get("nowhere.test") == (404, page(404).decode())
    assert (await get("web.test", "/exact/more"))[0] == 200  # the Prefix / behind Exact
    status, body = await get("broken.test", "/empty")
    assert (status, body) == (503, page(503).decode())
    assert "503 Service Temporarily Unavailable" in body
    assert (await get("broken.test", "/missing"))[0] == 503
    assert await get("broken.test", "/") == (502, page(502).decode())
    assert (("default", "broken"), 'path broken.test/missing: service "default/missing" not '
            'found') in [(p.ingress, p.message) for p in env.problems]


async def test_https_by_sni_and_the_default_certificate(env: Env) -> None:
    code, out, err = await curl("--cacert", str(env.ca), "--resolve",
                                f"secure.test:443:{PROXY_IP}", "https://secure.test/tls")
    assert code == 0, err
    echo = json.loads(out)
    assert echo["headers"]["x-forwarded-proto"] == "https"
    for version in ("--tlsv1.2", "--tlsv1.3"):
        code, _, err = await curl(version, "--tls-max", version[6:], "--cacert", str(env.ca),
                                  "--resolve", f"secure.test:443:{PROXY_IP}",
                                  "https://secure.test/")
        assert code == 0, err
    # another name gets the fake certificate, which the CA does not vouch for
    code, _, err = await curl("--cacert", str(env.ca), "--resolve",
                              f"web.test:443:{PROXY_IP}", "https://web.test/")
    assert code == 60, err
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE

    def peer_subject() -> str:
        with socket.create_connection((PROXY_IP, 443), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="web.test") as s:
                from cryptography import x509
                der = s.getpeercert(binary_form=True)
                assert der is not None
                return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    subject = await asyncio.to_thread(peer_subject)
    assert "CN=Kubernetes Ingress Controller Fake Certificate" in subject


async def test_ssl_redirects(env: Env) -> None:
    for host in ("secure.test", "forced.test"):
        _, out, _ = await curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H",
                               f"Host: {host}", f"http://{PROXY_IP}/p/q?x=1")
        assert out == f"308 https://{host}/p/q?x=1"
    assert (await get("web.test"))[0] == 200  # no TLS, no redirect


async def test_rewrite_target_with_captures(env: Env) -> None:
    status, body = await get("rw.test", "/API/users/7?full=1")
    assert status == 200
    assert json.loads(body)["target"] == "/users/7?full=1"


async def test_body_limit_and_chunked_bodies(env: Env) -> None:
    status, body = await get("small.test", "/", "--data-binary", "x" * 2000)
    assert (status, body) == (413, page(413).decode())
    status, body = await get("small.test", "/", "--data-binary", "y" * 500)
    assert status == 200 and json.loads(body)["body"] == "y" * 500
    status, body = await get("web.test", "/up", "-H", "Transfer-Encoding: chunked",
                             "--data-binary", "streamed")
    echo = json.loads(body)
    assert echo["body"] == "streamed" and echo["headers"]["transfer-encoding"] == "chunked"
    assert await get("web.test", "/chunked") == (200, "hello chunked world")


async def test_keep_alive_reuses_connections(env: Env) -> None:
    code, out, err = await curl("-w", "%{num_connects}\n", "-H", "Host: web.test",
                                f"http://{PROXY_IP}/1", "-o", "/dev/null",
                                f"http://{PROXY_IP}/2", "-o", "/dev/null")
    assert code == 0 and out.split() == ["1", "0"], err


async def test_websocket_tunnel(env: Env) -> None:
    reader, writer = await asyncio.open_connection(PROXY_IP, 80)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: web.test\r\nConnection: Upgrade\r\n"
                 b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nearly")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Upgrade: websocket" in head and b"Connection: upgrade" in head
    assert await asyncio.wait_for(reader.readexactly(5), 5) == b"EARLY"
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"PING"
    writer.close()


async def test_hostile_clients_cost_only_their_connection(env: Env) -> None:
    # slowloris: a head that never ends is cut at client_header_timeout (1 s here)
    slow_r, slow_w = await asyncio.open_connection(PROXY_IP, 80)
    slow_w.write(b"GET / HTTP/1.1\r\nHost: web.test\r\nX-a: ")
    assert (await get("web.test"))[0] == 200  # others are served meanwhile
    assert await asyncio.wait_for(slow_r.read(), 3) == b""
    # an oversized header, garbage bytes, TLS garbage
    status, body = await get("web.test", "/", "-H", "X-Big: " + "a" * 9000)
    assert (status, body) == (400, page(400, "Request Header Or Cookie Too Large").decode())
    r, w = await asyncio.open_connection(PROXY_IP, 80)
    w.write(b"\x16\x03\x01garbage\r\n\r\n")
    reply = await asyncio.wait_for(r.read(), 3)
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"Connection: close" in reply
    r, w = await asyncio.open_connection(PROXY_IP, 443)
    w.write(b"\x16\x03\x01\x00\x05hello" * 3)
    assert await asyncio.wait_for(r.read(), 3) == b""  # the handshake fails: closed
    w.close()
    assert (await get("web.test"))[0] == 200
    for _ in range(50):  # every one of those connections is gone
        if not env.controller.proxy.clients:
            break
        await asyncio.sleep(0.02)
    assert env.controller.proxy.clients == set()


async def test_head_and_pipelined_requests(env: Env) -> None:
    reader, writer = await asyncio.open_connection(PROXY_IP, 80)
    writer.write(b"HEAD /h HTTP/1.1\r\nHost: web.test\r\n\r\n"
                 b"GET /g HTTP/1.1\r\nHost: web.test\r\n\r\n"
                 b"GET /nothing HTTP/1.1\r\nHost: nowhere.test\r\nConnection: close\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    first, rest = data.split(b"\r\n\r\n", 1)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and b"Content-Length: " in first
    assert b"Server:" not in first  # hidden as ingress-nginx does
    second, rest = rest.split(b"\r\n\r\n", 1)
    length = int(second.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    assert json.loads(rest[:length])["target"] == "/g"
    assert rest[length:].startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert rest[length:].endswith(page(404))


async def test_pipelined_requests_after_connection_close_are_not_read(env: Env) -> None:
    """As nginx: the requests up to the one that asks to close are answered, in order;
    what the client pipelined after it is ignored (not a 400 for all of them)."""
    data = await exchange_raw(
        b"GET /one HTTP/1.1\r\nHost: web.test\r\n\r\n"
        b"GET /two HTTP/1.1\r\nHost: web.test\r\nConnection: close\r\n\r\n"
        b"GET /three HTTP/1.1\r\nHost: web.test\r\n\r\n")
    assert data.count(b"HTTP/1.1 200 OK") == 2, data
    assert data.index(b'"target": "/one"') < data.index(b'"target": "/two"')
    assert b"/three" not in data


async def test_absolute_form_is_forwarded_in_origin_form_and_host_is_required(
        env: Env) -> None:
    """As nginx: the absolute-form target's host routes and is the Host sent on, the
    backend gets the origin form; an HTTP/1.1 request without Host is a 400."""
    data = await exchange_raw(b"GET http://web.test/abs?x=1 HTTP/1.1\r\nHost: other.test\r\n"
                              b"Connection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data
    echo = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert (echo["target"], echo["headers"]["host"]) == ("/abs?x=1", "web.test")
    data = await exchange_raw(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data
    data = await exchange_raw(b"GET / HTTP/1.0\r\n\r\n")  # HTTP/1.0 needs no Host
    assert data.startswith(b"HTTP/1.1 404 Not Found\r\n"), data


@pytest.mark.parametrize("head, status", [
    (b"GET / HTTP/1.1\r\nHost: web.test\r\nHost: other.test\r\n", b"400 Bad Request"),
    (b"GET / HTTP/1.1\r\nHost: web test\r\n", b"400 Bad Request"),
    (b"GET / HTTP/1.1\r\nHost: web..test\r\n", b"400 Bad Request"),
    (b"OPTIONS * HTTP/1.1\r\nHost: web.test\r\n", b"400 Bad Request"),
    (b"POST / HTTP/1.1\r\nHost: web.test\r\nTransfer-Encoding: gzip\r\n",
     b"501 Not Implemented"),
], ids=["two-hosts", "space-in-host", "dots-in-host", "asterisk", "unknown-coding"])
async def test_heads_nginx_refuses(env: Env, head: bytes, status: bytes) -> None:
    """What nginx (1.22, the bench's) answered to the same bytes, compared by hand."""
    data = await exchange_raw(head + b"Connection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 " + status + b"\r\n"), data
    assert data.endswith(page(int(status[:3])))


async def test_table_swap_keeps_requests_in_flight(env: Env) -> None:
    slow = asyncio.create_task(get("web.test", "/slow"))
    await asyncio.sleep(0.2)
    await env.controller.update("networking.k8s.io/ingresses",
                                ingress("web", "web.test", [path("/", "empty")]))
    status, body = await slow
    assert status == 200 and json.loads(body)["target"] == "/slow"
    assert (await get("web.test"))[0] == 503
    await env.controller.delete("networking.k8s.io/ingresses", ingress("web", "web.test", []))
    assert (await get("web.test"))[0] == 404


async def test_cluster_issuer_hands_over_a_signed_secret(env: Env) -> None:
    await env.controller.update("networking.k8s.io/ingresses", ingress(
        "issued", "api.test", [path("/", "web")],
        annotations={"cert-manager.io/cluster-issuer": "kubeloop"},
        tls=[{"hosts": ["api.test"], "secretName": "api-tls"}]))
    assert [s["metadata"]["name"] for s in env.secrets] == ["api-tls"]
    await env.controller.update("secrets", env.secrets[0])  # as if the apiserver stored it
    code, out, err = await curl("--cacert", str(env.ca), "--resolve",
                                f"api.test:443:{PROXY_IP}", "https://api.test/")
    assert code == 0 and json.loads(out)["headers"]["host"] == "api.test", err
    assert len(env.secrets) == 1


async def test_repeated_heads_are_relayed_from_memory(env: Env) -> None:
    """The same request head again, and the same response head again, skip the parsers
    (the proxy keeps what it made of them): clients and pods see the same bytes."""
    reader, writer = await asyncio.open_connection(PROXY_IP, 80)

    async def exchange(request: bytes, body: bool = True) -> bytes:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        return head + (await reader.readexactly(length) if body else b"")

    get = b"GET /fixed HTTP/1.1\r\nHost: web.test\r\nX-Request-ID: same\r\n\r\n"
    head = b"HEAD /fixed HTTP/1.1\r\nHost: web.test\r\n\r\n"
    replies = [await exchange(get) for _ in range(3)]
    assert replies[0] == replies[1] == replies[2]
    assert replies[0] == (b"HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
                          b"Content-Length: 5\r\nConnection: keep-alive\r\n\r\nfixed")
    heads = [await exchange(head, body=False) for _ in range(2)]
    assert heads[0] == heads[1] == replies[0][:-len(b"fixed")]
    assert await exchange(get) == replies[0]  # nothing of a HEAD's "body" was left over
    writer.close()
    proxy = env.controller.proxy
    assert proxy.requests.get(get) is not None and proxy.requests.get(head) is not None
    assert {(key[0], key[2]) for key in proxy.responses} >= {
        (FIXED[:FIXED.index(b"fixed")], False), (FIXED[:FIXED.index(b"fixed")], True)}
    lines = [line for line in env.log if '/fixed HTTP/1.1" 200 ' in line]
    assert len(lines) == 6 and all(line.endswith(" 200 same") for line in lines[:3])


SOURCE_PROXY = "127.65.0.2"
SOURCE_IP = "127.65.0.3"  # the controller's own address, as a pod IP would be
SOURCE_POD = "127.65.1.5"


async def test_backend_connections_leave_from_the_source_ip() -> None:
    peers: list[str] = []

    async def pod(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[0])
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(pod, SOURCE_POD, POD_PORT)
    controller = IngressController(ControllerConfig(proxy=ProxyConfig(source_ip=SOURCE_IP)))
    await controller.update("networking.k8s.io/ingressclasses", {
        "metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}})
    await controller.update("services", service("src"))
    await controller.update("discovery.k8s.io/endpointslices",
                            endpoint_slice("src", SOURCE_POD))
    await controller.update("networking.k8s.io/ingresses",
                            ingress("src", "src.test", [path("/", "src")]))
    await controller.start((SOURCE_PROXY, 80), None)
    try:
        _, out, err = await curl("-H", "Host: src.test", f"http://{SOURCE_PROXY}/")
        assert out == "ok", err
        assert peers == [SOURCE_IP]
    finally:
        await controller.close()
        server.close()
        await server.wait_closed()


def test_source_ip_must_be_an_address() -> None:
    with pytest.raises(ValueError, match="source_ip"):
        ProxyConfig(source_ip="pod-ip").validate()


async def test_backend_protocol_https_reaches_a_tls_pod_without_verifying(
        env: Env, tmp_path: Path) -> None:
    """backend-protocol: HTTPS: the controller speaks TLS to the pod and, as ingress-nginx
    (proxy_ssl_verify off), accepts its certificate whoever signed it."""
    ca, ca_key = pki.create_ca(NOW)  # a CA the controller has never heard of
    cert, key = pki.issue_certificate(ca, ca_key, ["tls-pod.test"], [], now=NOW)
    (tmp_path / "pod.crt").write_bytes(cert)
    (tmp_path / "pod.key").write_bytes(key)
    pod_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pod_tls.load_cert_chain(tmp_path / "pod.crt", tmp_path / "pod.key")
    pod_ip = "127.65.1.5"
    pod = await asyncio.start_server(_pod(pod_ip), pod_ip, POD_PORT, ssl=pod_tls)
    try:
        await env.controller.update("services", service("tlsweb"))
        await env.controller.update("discovery.k8s.io/endpointslices",
                                    endpoint_slice("tlsweb", pod_ip))
        await env.controller.update("networking.k8s.io/ingresses", ingress(
            "tlsweb", "tls-backend.test", [path("/", "tlsweb")], annotations={
                "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS"}))
        status, body = await get("tls-backend.test", "/over-tls")
        assert status == 200, body
        echo = json.loads(body)
        assert (echo["pod"], echo["target"]) == (pod_ip, "/over-tls")
        assert echo["headers"]["x-forwarded-proto"] == "http"
    finally:
        pod.close()
        await pod.wait_closed()


async def test_own_pages_with_connection_close_are_answered_and_logged_once(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """A 404 (or 308, 503...) of the proxy's own to a client that asked to close: one
    answer, one access log line, the connection closed, and no error behind it."""
    for attempt in range(3):  # the same head again: parsed, then from memory
        before = len(env.log)
        code, out, err = await curl("-o", "/dev/null", "-w", "%{http_code} %{num_connects}",
                                    "-H", "Host: nowhere.test", "-H", "Connection: close",
                                    f"http://{PROXY_IP}/gone")
        assert (code, out) == (0, "404 1"), err
        await asyncio.sleep(0.05)  # the access log is written when the loop's turn ends
        lines = env.log[before:]
        assert len(lines) == 1 and '"GET /gone HTTP/1.1" 404 ' in lines[0], lines
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
