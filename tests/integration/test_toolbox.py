"""The exec toolbox against real sockets on loopback: an HTTP and an HTTPS server (which
check the client address is the pod IP), a small authoritative DNS server standing in for
the cluster DNS (search list, NXDOMAIN, truncation), TCP and UDP peers for nc, and a
listener whose full backlog drops SYNs the way a NetworkPolicy drops packets."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import itertools
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from node_agent.containers import Identity, Resolver
from node_agent.toolbox import resolve
from tests.unit.test_toolbox_shell import run_tool

pytestmark = [pytest.mark.timeout(20),
              # pytest-asyncio >= 1.0 prefers a conftest hook for loop factories
              pytest.mark.filterwarnings("ignore:Overriding the \"event_loop_policy\"")]

_addresses = itertools.count()
SEARCH = ("default.svc.cluster.local", "svc.cluster.local", "cluster.local")


@pytest.fixture(scope="module", params=["asyncio", "uvloop"])
def event_loop_policy(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoopPolicy:
    """Every test runs on both loops: the node agent uses uvloop when it is installed."""
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        return uvloop.EventLoopPolicy()  # type: ignore[no-any-return]
    return asyncio.DefaultEventLoopPolicy()


def fresh_ip() -> str:
    """A loopback address no other test (or parallel run) uses."""
    n = next(_addresses)
    return f"127.77.{(os.getpid() % 120) * 2 + n // 250}.{n % 250 + 1}"


# --- the cluster DNS stand-in ---------------------------------------------------------

class FakeDns:
    """Authoritative answers from a zone, as CoreDNS gives them: NXDOMAIN for unknown
    names, an empty NOERROR for known names without that type, TC over UDP past 512
    bytes. It records (name, type, client address, over TCP) for every question."""

    def __init__(self, zone: dict[str, list[tuple[str, str]]]) -> None:
        self.zone = zone
        self.queries: list[tuple[str, str, str, bool]] = []

    def answer(self, wire: bytes, client: str, tcp: bool) -> bytes:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name, qtype = question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, qtype, client, tcp))
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA | dns.flags.RA
        records = self.zone.get(name)
        if records is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        for kind, value in records or []:
            if kind in (qtype, "CNAME"):
                response.answer.append(dns.rrset.from_text(name, 5, "IN", kind, value))
        out = response.to_wire()
        if not tcp and len(out) > 512:
            response.answer = []
            response.flags |= dns.flags.TC
            out = response.to_wire()
        return out


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, fake: FakeDns) -> None:
        self.fake = fake
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.fake.answer(data, addr[0], False), addr)


@pytest.fixture
def dns_port(monkeypatch: pytest.MonkeyPatch) -> int:
    """53 where we may bind it (root); otherwise a free port the toolbox is pointed at."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((fresh_ip(), 53))
        return 53
    except PermissionError:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        monkeypatch.setattr(resolve, "DNS_PORT", port)
        return port
    finally:
        probe.close()


@pytest.fixture
async def cluster_dns(dns_port: int) -> AsyncIterator[tuple[str, FakeDns]]:
    ip = fresh_ip()
    fake = FakeDns({})
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(fake), local_addr=(ip, dns_port))

    async def over_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            size = int.from_bytes(await reader.readexactly(2), "big")
            out = fake.answer(await reader.readexactly(size), writer.get_extra_info("peername")[0],
                              True)
            writer.write(len(out).to_bytes(2, "big") + out)
            await writer.drain()
        finally:
            writer.close()
    tcp = await asyncio.start_server(over_tcp, ip, dns_port)
    yield ip, fake
    udp.close()
    tcp.close()
    await tcp.wait_closed()


# --- HTTP(S) servers ------------------------------------------------------------------

class WebServer:
    """Answers by path: /peer (the client's address), /echo (the request), /redirect,
    /missing (404), /chunked, /slow (never answers). Remembers every client address."""

    def __init__(self) -> None:
        self.peers: list[str] = []
        self.handlers: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            peer = writer.get_extra_info("peername")[0]
            self.peers.append(peer)
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            lines = head.split("\r\n")
            method, path, _ = lines[0].split(" ")
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            body = await reader.readexactly(int(headers.get("Content-Length", 0)))
            writer.write(await self.respond(method, path, head, body, peer))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # clients that only probe (nc -z, --spider) hang up early
        finally:
            self.handlers.discard(task)
            writer.close()

    async def respond(self, method: str, path: str, head: str, body: bytes, peer: str) -> bytes:
        if path == "/slow":
            await asyncio.sleep(60)
        if path == "/chunked":
            return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    b"6\r\nchunk-\r\n4\r\ned!\n\r\n0\r\n\r\n")
        status, extra, text = {
            "/peer": ("200 OK", "", peer),
            "/echo": ("200 OK", "", head.replace("\r\n", "\n") + body.decode()),
            "/redirect": ("302 Found", "Location: /peer\r\n", "moved"),
            "/missing": ("404 Not Found", "", "no such page"),
        }.get(path, ("200 OK", "", "hello from the server\n"))
        payload = text.encode()
        return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n{extra}Content-Length: "
                f"{len(payload)}\r\nConnection: close\r\n\r\n").encode() + payload


async def serve(ip: str, tls: ssl.SSLContext | None = None
                ) -> tuple[asyncio.Server, WebServer, int]:
    web = WebServer()
    server = await asyncio.start_server(web.handle, ip, 0, ssl=tls)
    return server, web, server.sockets[0].getsockname()[1]


async def stop(server: asyncio.Server, web: WebServer) -> None:
    for task in list(web.handlers):
        task.cancel()
    server.close()
    await server.wait_closed()


@pytest.fixture
async def http() -> AsyncIterator[tuple[str, int, WebServer]]:
    ip = fresh_ip()
    server, web, port = await serve(ip)
    yield ip, port, web
    await stop(server, web)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A self-signed certificate for secure.test (and any 127.77.x.y address)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secure.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("secure.test")]), False)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    yield cert_path, key_path


@pytest.fixture
async def https(certificate: tuple[Path, Path]) -> AsyncIterator[tuple[str, int, WebServer]]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*certificate)
    ip = fresh_ip()
    server, web, port = await serve(ip, ctx)
    yield ip, port, web
    await stop(server, web)


@pytest.fixture
def closed_port() -> tuple[str, int]:
    """An address and port where nothing listens (connections are refused)."""
    ip = fresh_ip()
    with socket.socket() as s:
        s.bind((ip, 0))
        return ip, s.getsockname()[1]


@pytest.fixture
def black_hole() -> Iterator[tuple[str, int]]:
    """A port whose SYNs go unanswered: its backlog is full, as if a policy dropped them."""
    ip = fresh_ip()
    listener = socket.socket()
    listener.bind((ip, 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection((ip, port))
    yield ip, port
    filler.close()
    listener.close()


def pod(dns_ip: str = "127.0.0.1") -> Identity:
    return Identity(fresh_ip(), "client", "default", "client",
                    Resolver(dns_ip, SEARCH), {"HOSTNAME": "client"})


# --- curl ---------------------------------------------------------------------------

async def test_curl_connects_from_the_pod_ip(http: tuple[str, int, WebServer]) -> None:
    ip, port, web = http
    me = pod()
    assert await run_tool(["curl", "-s", f"http://{ip}:{port}/peer"], identity=me) == \
        (0, me.pod_ip, "")
    assert web.peers == [me.pod_ip]


async def test_curl_by_service_name_through_the_search_list(
        http: tuple[str, int, WebServer], cluster_dns: tuple[str, FakeDns]) -> None:
    ip, port, _ = http
    dns_ip, fake = cluster_dns
    fake.zone["web.default.svc.cluster.local."] = [("A", ip)]
    me = pod(dns_ip)
    assert await run_tool(["curl", "-s", f"http://web:{port}/"], identity=me) == \
        (0, "hello from the server\n", "")
    assert fake.queries == [("web.default.svc.cluster.local.", "A", me.pod_ip, False)]


@pytest.mark.parametrize("name", ["web.default", "web.default.svc",
                                  "web.default.svc.cluster.local"])
async def test_curl_qualified_names(name: str, http: tuple[str, int, WebServer],
                                    cluster_dns: tuple[str, FakeDns]) -> None:
    ip, port, _ = http
    dns_ip, fake = cluster_dns
    fake.zone["web.default.svc.cluster.local."] = [("A", ip)]
    code, out, _ = await run_tool(["curl", "-s", f"http://{name}:{port}/"], identity=pod(dns_ip))
    assert (code, out) == (0, "hello from the server\n")


async def test_curl_follows_cnames_and_reads_etc_hosts(http: tuple[str, int, WebServer],
                                                       cluster_dns: tuple[str, FakeDns]) -> None:
    ip, port, _ = http
    dns_ip, fake = cluster_dns
    fake.zone["ext.default.svc.cluster.local."] = [("CNAME", "real.example.")]
    fake.zone["real.example."] = [("A", ip)]
    me = Identity(fresh_ip(), "c", "default", "c", Resolver(dns_ip, SEARCH), {},
                  hosts=((ip, "aliased"),))
    for host in ("ext", "aliased"):
        code, out, _ = await run_tool(["curl", "-s", f"http://{host}:{port}/peer"], identity=me)
        assert (code, out) == (0, me.pod_ip), host
    assert all(q[0] != "aliased." for q in fake.queries)


async def test_curl_errors(closed_port: tuple[str, int], cluster_dns: tuple[str, FakeDns]
                           ) -> None:
    dns_ip, _ = cluster_dns
    ip, port = closed_port
    me = pod(dns_ip)
    assert await run_tool(["curl", "-sS", "http://nope/"], identity=me) == \
        (6, "", "curl: (6) Could not resolve host: nope\n")
    code, out, err = await run_tool(["curl", "-sS", f"http://{ip}:{port}/"], identity=me)
    assert (code, out) == (7, "")
    assert err.startswith(f"curl: (7) Failed to connect to {ip} port {port} after ")
    assert err.endswith(" ms: Couldn't connect to server\n")
    assert await run_tool(["curl", "-s", f"http://{ip}:{port}/"], identity=me) == (7, "", "")


async def test_curl_max_time(http: tuple[str, int, WebServer]) -> None:
    ip, port, _ = http
    started = time.monotonic()
    code, out, err = await run_tool(["curl", "-sS", "-m", "0.5", f"http://{ip}:{port}/slow"],
                                    identity=pod())
    assert time.monotonic() - started < 2
    assert (code, out) == (28, "")
    assert err.startswith("curl: (28) Operation timed out after ")
    assert err.endswith(" milliseconds with 0 bytes received\n")


async def test_curl_connect_timeout(black_hole: tuple[str, int]) -> None:
    ip, port = black_hole
    started = time.monotonic()
    code, _, err = await run_tool(["curl", "-sS", "--connect-timeout", "0.5",
                                   f"http://{ip}:{port}/"], identity=pod())
    assert time.monotonic() - started < 2
    assert code == 28
    assert err.startswith(f"curl: (28) Failed to connect to {ip} port {port} after ")
    assert err.endswith(" ms: Timeout was reached\n")


async def test_curl_http_features(http: tuple[str, int, WebServer]) -> None:
    ip, port, _ = http
    base = f"http://{ip}:{port}"
    me = pod()
    assert await run_tool(["curl", "-s", "-L", f"{base}/redirect"], identity=me) == \
        (0, me.pod_ip, "")
    assert await run_tool(["curl", "-s", f"{base}/redirect"], identity=me) == (0, "moved", "")
    assert await run_tool(["curl", "-s", "-f", f"{base}/missing"], identity=me) == (22, "", "")
    assert await run_tool(["curl", "-sS", "-f", f"{base}/missing"], identity=me) == \
        (22, "", "curl: (22) The requested URL returned error: 404\n")
    assert await run_tool(["curl", "-s", f"{base}/missing"], identity=me) == \
        (0, "no such page", "")
    assert await run_tool(["curl", "-s", f"{base}/chunked"], identity=me) == \
        (0, "chunk-ed!\n", "")
    assert await run_tool(["curl", "-s", "-o", "/dev/null", "-w",
                           "%{http_code} %{remote_ip} %{local_ip} %{size_download} "
                           "%{content_type}", f"{base}/"], identity=me) == \
        (0, f"200 {ip} {me.pod_ip} 22 text/plain", "")
    assert await run_tool(["sh", "-c", f"curl -s -o /tmp/page {base}/ && cat /tmp/page"],
                          identity=me) == (0, "hello from the server\n", "")


async def test_curl_sends_what_it_is_told(http: tuple[str, int, WebServer]) -> None:
    ip, port, _ = http
    code, out, _ = await run_tool(["curl", "-s", "-d", "a=1", "-H", "X-Test: yes",
                                   f"http://{ip}:{port}/echo"], identity=pod())
    assert code == 0
    assert out.splitlines() == ["POST /echo HTTP/1.1", f"Host: {ip}:{port}",
                                "User-Agent: curl/8.11.1", "Accept: */*", "X-Test: yes",
                                "Content-Length: 3",
                                "Content-Type: application/x-www-form-urlencoded", "", "a=1"]


async def test_curl_include_head_and_verbose(http: tuple[str, int, WebServer]) -> None:
    ip, port, _ = http
    url = f"http://{ip}:{port}/"
    code, out, _ = await run_tool(["curl", "-si", url], identity=pod())
    assert (code, out.split("\r\n")[0], out.endswith("\r\n\r\nhello from the server\n")) == \
        (0, "HTTP/1.1 200 OK", True)
    code, out, _ = await run_tool(["curl", "-sI", url], identity=pod())
    assert (code, out.endswith("Connection: close\r\n\r\n"), "hello" in out) == (0, True, False)
    code, out, err = await run_tool(["curl", "-sv", url], identity=pod())
    assert out == "hello from the server\n"
    assert err.splitlines()[:4] == [f"*   Trying {ip}:{port}...",
                                    f"* Connected to {ip} ({ip}) port {port}",
                                    "* using HTTP/1.x", "> GET / HTTP/1.1"]
    assert "< HTTP/1.1 200 OK" in err.splitlines()


async def test_curl_https(https: tuple[str, int, WebServer]) -> None:
    ip, port, web = https
    me = pod()
    resolved = ["--resolve", f"secure.test:{port}:{ip}"]
    url = f"https://secure.test:{port}/peer"
    assert await run_tool(["curl", "-sk", *resolved, url], identity=me) == (0, me.pod_ip, "")
    code, out, err = await run_tool(["curl", "-sS", *resolved, url], identity=me)
    assert (code, out) == (60, "")
    assert err.startswith("curl: (60) SSL certificate problem: self")
    code, _, err = await run_tool(["curl", "-skv", f"https://{ip}:{port}/"], identity=me)
    assert code == 0
    assert "* Server certificate:" in err and "*  subject: CN=secure.test" in err
    assert web.peers and set(web.peers) == {me.pod_ip}


# --- wget ---------------------------------------------------------------------------

async def test_wget_like_the_seed_tutorial(http: tuple[str, int, WebServer],
                                           cluster_dns: tuple[str, FakeDns],
                                           black_hole: tuple[str, int]) -> None:
    ip, port, web = http
    dns_ip, fake = cluster_dns
    fake.zone["nginx.default.svc.cluster.local."] = [("A", ip)]
    me = pod(dns_ip)
    assert await run_tool(["wget", "--spider", "--timeout=1", f"nginx:{port}"], identity=me) == \
        (0, "", f"Connecting to nginx:{port} ({ip}:{port})\nremote file exists\n")
    hole_ip, hole_port = black_hole
    fake.zone["nginx.default.svc.cluster.local."] = [("A", hole_ip)]
    started = time.monotonic()
    assert await run_tool(["wget", "--spider", "--timeout=1", f"nginx:{hole_port}"],
                          identity=me) == \
        (1, "", f"Connecting to nginx:{hole_port} ({hole_ip}:{hole_port})\n"
                "wget: download timed out\n")
    assert time.monotonic() - started < 2
    assert web.peers == [me.pod_ip]


async def test_wget_downloads(http: tuple[str, int, WebServer], closed_port: tuple[str, int],
                              cluster_dns: tuple[str, FakeDns]) -> None:
    ip, port, _ = http
    dns_ip, _ = cluster_dns
    me = pod(dns_ip)
    base = f"http://{ip}:{port}"
    assert await run_tool(["wget", "-qO-", f"{base}/peer"], identity=me) == (0, me.pod_ip, "")
    assert await run_tool(["wget", "-O", "-", f"{base}/"], identity=me) == \
        (0, "hello from the server\n",
         f"Connecting to {ip}:{port} ({ip}:{port})\nwriting to stdout\n"
         "-                    100% |********************************|    22  0:00:00 ETA\n"
         "written to stdout\n")
    assert await run_tool(["sh", "-c", f"wget -q {base}/; cat index.html; wget -q {base}/"],
                          identity=me) == \
        (1, "hello from the server\n", "wget: can't open 'index.html': File exists\n")
    assert await run_tool(["wget", "-q", f"{base}/missing"], identity=me) == \
        (1, "", "wget: server returned error: HTTP/1.1 404 Not Found\n")
    assert await run_tool(["wget", "-qO-", f"{base}/redirect"], identity=me) == \
        (0, me.pod_ip, "")
    assert await run_tool(["wget", "-qO-", "http://nope/"], identity=me) == \
        (1, "", "wget: bad address 'nope'\n")
    closed_ip, closed = closed_port
    assert await run_tool(["wget", "-q", f"http://{closed_ip}:{closed}/"], identity=me) == \
        (1, "", f"wget: can't connect to remote host ({closed_ip}): Connection refused\n")


async def test_wget_read_timeout(http: tuple[str, int, WebServer]) -> None:
    ip, port, _ = http
    started = time.monotonic()
    assert await run_tool(["wget", "-q", "-T", "0.5", f"http://{ip}:{port}/slow"],
                          identity=pod()) == (1, "", "wget: download timed out\n")
    assert time.monotonic() - started < 2


# --- DNS tools ----------------------------------------------------------------------

@pytest.fixture
def zone(cluster_dns: tuple[str, FakeDns]) -> tuple[str, FakeDns]:
    dns_ip, fake = cluster_dns
    fake.zone.update({
        "nginx-app.default.svc.cluster.local.": [("A", "10.96.0.20")],
        "ext.default.svc.cluster.local.": [("CNAME", "example.com.")],
        "example.com.": [("A", "93.184.215.14")],
        "many.default.svc.cluster.local.": [("A", f"10.1.{i // 250}.{i % 250}")
                                            for i in range(60)],
        "20.0.96.10.in-addr.arpa.": [("PTR", "nginx-app.default.svc.cluster.local.")],
    })
    return dns_ip, fake


async def test_nslookup(zone: tuple[str, FakeDns]) -> None:
    dns_ip, fake = zone
    me = pod(dns_ip)
    port = resolve.DNS_PORT
    header = f"Server:\t\t{dns_ip}\nAddress:\t{dns_ip}:{port}\n\n"
    assert await run_tool(["nslookup", "nginx-app"], identity=me) == \
        (0, header + "Name:\tnginx-app.default.svc.cluster.local\nAddress: 10.96.0.20\n\n", "")
    assert await run_tool(["nslookup", "nope"], identity=me) == \
        (1, header + "** server can't find nope: NXDOMAIN\n\n", "")
    cname = "ext.default.svc.cluster.local\tcanonical name = example.com\n\n"
    assert await run_tool(["nslookup", "ext"], identity=me) == (0, header + cname * 2, "")
    assert await run_tool(["nslookup", "10.96.0.20"], identity=me) == \
        (0, header + "20.0.96.10.in-addr.arpa\tname = nginx-app.default.svc.cluster.local\n\n",
         "")
    assert await run_tool(["nslookup", "nginx-app.default.svc.cluster.local", dns_ip],
                          identity=pod("127.0.0.1")) == \
        (0, header + "Name:\tnginx-app.default.svc.cluster.local\nAddress: 10.96.0.20\n\n", "")
    assert len({q[2] for q in fake.queries}) == 2 and me.pod_ip in {q[2] for q in fake.queries}


async def test_dig(zone: tuple[str, FakeDns]) -> None:
    dns_ip, fake = zone
    me = pod(dns_ip)
    assert await run_tool(["dig", "+short", "nginx-app.default.svc.cluster.local"],
                          identity=me) == (0, "10.96.0.20\n", "")
    assert await run_tool(["dig", "+short", "nginx-app"], identity=me) == (0, "", "")
    assert await run_tool(["dig", "+short", "+search", "nginx-app"], identity=me) == \
        (0, "10.96.0.20\n", "")
    code, out, _ = await run_tool(["dig", f"@{dns_ip}", "nope.example.com"], identity=me)
    assert code == 0 and "status: NXDOMAIN" in out and "; (1 server found)" in out
    code, out, _ = await run_tool(["dig", "+tcp", "ext.default.svc.cluster.local"], identity=me)
    assert code == 0 and ";; ANSWER SECTION:\next.default.svc.cluster.local. 5 IN\tCNAME\t" \
                         "example.com.\n" in out and "(TCP)" in out
    assert fake.queries[-1][3] is True


async def test_truncated_answers_are_asked_again_over_tcp(zone: tuple[str, FakeDns]) -> None:
    dns_ip, fake = zone
    code, out, _ = await run_tool(["dig", "+short", "+noedns", "many.default.svc.cluster.local"],
                                  identity=pod(dns_ip))
    assert (code, len(out.splitlines())) == (0, 60)
    assert [q[3] for q in fake.queries] == [False, True]


async def test_host(zone: tuple[str, FakeDns]) -> None:
    dns_ip, _ = zone
    me = pod(dns_ip)
    assert await run_tool(["host", "nginx-app"], identity=me) == \
        (0, "nginx-app.default.svc.cluster.local has address 10.96.0.20\n", "")
    assert await run_tool(["host", "nope.example"], identity=me) == \
        (1, "Host nope.example not found: 3(NXDOMAIN)\n", "")


async def test_unreachable_nameserver_fails_fast(closed_port: tuple[str, int]) -> None:
    silent_ip, _ = closed_port  # nothing listens on UDP there either: ICMP refuses at once
    me = pod(silent_ip)
    started = time.monotonic()
    assert await run_tool(["curl", "-sS", "http://web/"], identity=me) == \
        (6, "", "curl: (6) Could not resolve host: web\n")
    assert await run_tool(["nslookup", "web"], identity=me) == \
        (1, ";; connection timed out; no servers could be reached\n\n", "")
    assert time.monotonic() - started < 2


# --- nc -----------------------------------------------------------------------------

async def test_nc_port_checks(http: tuple[str, int, WebServer], closed_port: tuple[str, int],
                              cluster_dns: tuple[str, FakeDns]) -> None:
    ip, port, web = http
    dns_ip, fake = cluster_dns
    fake.zone["web.default.svc.cluster.local."] = [("A", ip)]
    me = pod(dns_ip)
    assert await run_tool(["nc", "-zv", ip, str(port)], identity=me) == \
        (0, "", f"{ip} ({ip}:{port}) open\n")
    assert await run_tool(["nc", "-zv", "-w", "1", "web", str(port)], identity=me) == \
        (0, "", f"web ({ip}:{port}) open\n")
    assert await run_tool(["nc", "-z", ip, str(port)], identity=me) == (0, "", "")
    closed_ip, closed = closed_port
    assert await run_tool(["nc", "-zv", closed_ip, str(closed)], identity=me) == (1, "", "")
    assert await run_tool(["nc", "-zvv", closed_ip, str(closed)], identity=me) == \
        (1, "", f"nc: {closed_ip} ({closed_ip}:{closed}): Connection refused\n")
    assert await run_tool(["nc", "-zv", "nope", "80"], identity=me) == \
        (1, "", "nc: bad address 'nope'\n")
    await asyncio.sleep(0.05)  # let the server log the probes
    assert set(web.peers) == {me.pod_ip}


async def test_nc_connect_timeout(black_hole: tuple[str, int]) -> None:
    ip, port = black_hole
    started = time.monotonic()
    assert await run_tool(["nc", "-zv", "-w", "1", ip, str(port)], identity=pod()) == \
        (1, "", f"nc: {ip} ({ip}:{port}): Connection timed out\n")
    assert time.monotonic() - started < 2


async def test_nc_pipes_stdin_and_the_socket(http: tuple[str, int, WebServer]) -> None:
    ip, port, _ = http
    request = f"GET /peer HTTP/1.1\r\nHost: {ip}\r\n\r\n".encode()
    me = pod()
    code, out, _ = await run_tool(["nc", ip, str(port)], stdin=request, identity=me)
    assert (code, out.split("\r\n")[0], out.endswith(me.pod_ip)) == (0, "HTTP/1.1 200 OK", True)


async def test_nc_udp() -> None:
    ip = fresh_ip()
    seen: list[tuple[bytes, str]] = []

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            seen.append((data, addr[0]))
            self.transport.sendto(b"echo:" + data, addr)  # type: ignore[attr-defined]
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        Echo, local_addr=(ip, 0))
    port = transport.get_extra_info("sockname")[1]
    me = pod()
    try:
        assert await run_tool(["nc", "-u", "-w", "0.3", ip, str(port)], stdin=b"ping",
                              identity=me) == (0, "echo:ping", "")
        assert await run_tool(["nc", "-zuv", ip, str(port)], identity=me) == \
            (0, "", f"{ip} ({ip}:{port}) open\n")
        assert {addr for _, addr in seen} == {me.pod_ip}
    finally:
        transport.close()
        await asyncio.sleep(0)  # asyncio closes the socket on the next loop turn
    assert await run_tool(["nc", "-zu", ip, str(port)], identity=me) == (1, "", "")


async def test_nc_listens_on_the_pod_ip() -> None:
    me = pod()
    with socket.socket() as s:
        s.bind((me.pod_ip, 0))
        port = s.getsockname()[1]
    server = asyncio.ensure_future(run_tool(["nc", "-l", "-p", str(port), "-e", "echo", "hi"],
                                            identity=me))
    for _ in range(100):
        try:
            reader, writer = await asyncio.open_connection(me.pod_ip, port)
            break
        except ConnectionRefusedError:
            await asyncio.sleep(0.01)
    assert await asyncio.wait_for(reader.read(), 2) == b"hi\n"
    writer.close()
    assert await asyncio.wait_for(server, 2) == (0, "", "")


def test_addresses_are_loopback() -> None:
    assert ipaddress.ip_address(fresh_ip()).is_loopback
