"""The cluster DNS server over real sockets: ClusterDns in the test's event loop on its
own loopback address and port 53, asked by the real `dig` and by dnspython; a second
ClusterDns plays the upstream resolver. Includes a bounded fuzz run over UDP and TCP."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import socket
import time
from collections.abc import AsyncIterator

import dns.asyncquery
import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

from node_agent.dns import ENDPOINT_SLICES, SERVICES, ClusterDns
from tests.unit.test_dns_lookup import HTTP, endpoint_slice, ep, service

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SUBNET = f"127.67.{os.getpid() % 200 + 20}"  # an unusual loopback /24 per test process
DNS_IP, UPSTREAM_IP, SILENT_IP, OTHER_IP = (f"{SUBNET}.{n}" for n in (1, 2, 3, 4))


def objects() -> list[tuple[str, dict]]:
    return [
        (SERVICES, service("default", "kubernetes", "127.96.0.1",
                           [{"name": "https", "port": 443}])),
        (SERVICES, service("default", "web", "127.96.0.20", [HTTP])),
        (SERVICES, service("default", "db", "None", [{"name": "pg", "port": 5432}])),
        (ENDPOINT_SLICES, endpoint_slice("default", "db", [
            ep("127.244.1.5", "db-0"), ep("127.244.2.7", "db-1"), ep("127.244.2.9", ready=False)],
            [{"name": "pg", "port": 5432, "protocol": "TCP"}])),
        (SERVICES, service("default", "ext", type="ExternalName", externalName="db.example.org")),
        (SERVICES, service("default", "big", "None", [HTTP])),
        (ENDPOINT_SLICES, endpoint_slice("default", "big", [
            ep(f"127.244.3.{i}") for i in range(1, 81)], [HTTP])),
    ]


@pytest.fixture
async def upstream() -> AsyncIterator[ClusterDns]:
    """A resolver for example.org names (its own zone, so unknown ones are NXDOMAIN)."""
    server = ClusterDns("example.org", UPSTREAM_IP, upstreams=[],
                        static_hosts={"db.example.org": ["127.9.9.9"],
                                      "www.example.com": ["127.9.9.10"]})
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def server(upstream: ClusterDns) -> AsyncIterator[ClusterDns]:
    server = ClusterDns("cluster.local", DNS_IP, 53, upstreams=[UPSTREAM_IP],
                        static_hosts={"test.local": ["127.200.0.1"]}, tcp_idle=0.5)
    for kind, obj in objects():
        server.update(kind, obj)
    await server.start()
    yield server
    await server.close()


async def dig(*args: str) -> str:
    if shutil.which("dig") is None:
        pytest.skip("dig is not installed (Debian package dnsutils)")
    proc = await asyncio.create_subprocess_exec(
        "dig", f"@{DNS_IP}", "+time=3", "+tries=1", "+nocookie", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def ask(qname: str, rdtype: str = "A", tcp: bool = False, where: str = DNS_IP,
              **kw: object) -> dns.message.Message:
    query = dns.message.make_query(qname, rdtype, **kw)  # type: ignore[arg-type]
    if tcp:
        return await dns.asyncquery.tcp(query, where, timeout=5)
    return await dns.asyncquery.udp(query, where, timeout=5, ignore_trailing=False)


def rdata(reply: dns.message.Message) -> list[str]:
    return [rr.to_text() for rrset in reply.answer for rr in rrset]


async def test_dig_sees_the_cluster_zone(server: ClusterDns) -> None:
    assert (await dig("+short", "web.default.svc.cluster.local")).split() == ["127.96.0.20"]
    assert sorted((await dig("+short", "db.default.svc.cluster.local")).split()) == \
        ["127.244.1.5", "127.244.2.7"]
    assert (await dig("+short", "-x", "127.96.0.20")).split() == ["web.default.svc.cluster.local."]
    assert (await dig("+short", "TXT", "dns-version.cluster.local")).split() == ['"1.1.0"']
    assert (await dig("+short", "+tcp", "db-1.db.default.svc.cluster.local")).split() == \
        ["127.244.2.7"]
    assert (await dig("+short", "127-244-9-9.default.pod.cluster.local")).split() == \
        ["127.244.9.9"]
    srv = await dig("SRV", "_pg._tcp.db.default.svc.cluster.local")
    assert "status: NOERROR" in srv and "flags: qr aa rd ra" in srv
    assert "_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 50 5432 db-0.db.default.svc" \
           ".cluster.local." in srv.replace("\t", " ")
    assert "db-1.db.default.svc.cluster.local. 5 IN A 127.244.2.7" in srv.replace("\t", " ")
    missing = await dig("nope.default.svc.cluster.local")
    assert "status: NXDOMAIN" in missing and "EDNS: version: 0, flags:; udp: 1232" in missing
    assert "cluster.local.\t\t5\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local." \
        in missing
    nodata = await dig("AAAA", "web.default.svc.cluster.local")
    assert "status: NOERROR" in nodata and "ANSWER: 0, AUTHORITY: 1" in nodata


async def test_the_case_of_the_question_is_kept(server: ClusterDns) -> None:
    for _ in range(2):  # a miss, then a cache hit
        reply = await ask("WeB.DeFaUlT.svc.CLUSTER.local")
        assert reply.question[0].name.to_text() == "WeB.DeFaUlT.svc.CLUSTER.local."
        assert rdata(reply) == ["127.96.0.20"]


async def test_records_follow_each_change_at_once(server: ClusterDns) -> None:
    assert (await ask("late.default.svc.cluster.local")).rcode() == dns.rcode.NXDOMAIN
    started = time.perf_counter()
    server.update(SERVICES, service("default", "late", "127.96.0.77", [HTTP]))
    reply = await ask("late.default.svc.cluster.local")
    assert rdata(reply) == ["127.96.0.77"] and time.perf_counter() - started < 0.2
    server.update(SERVICES, service("default", "late", "127.96.0.78", [HTTP]))
    assert rdata(await ask("late.default.svc.cluster.local")) == ["127.96.0.78"]
    server.update(ENDPOINT_SLICES, endpoint_slice("default", "db", [ep("127.244.1.5", "db-0")]))
    assert rdata(await ask("db.default.svc.cluster.local")) == ["127.244.1.5"]
    server.delete(SERVICES, service("default", "late"))
    assert (await ask("late.default.svc.cluster.local")).rcode() == dns.rcode.NXDOMAIN
    server.resync(SERVICES, [service("default", "web", "127.96.0.20", [HTTP])])
    assert (await ask("kubernetes.default.svc.cluster.local")).rcode() == dns.rcode.NXDOMAIN


async def test_outside_names_go_upstream(server: ClusterDns) -> None:
    assert rdata(await ask("test.local")) == ["127.200.0.1"]  # static hosts
    for tcp in (False, True):
        reply = await ask("db.example.org", tcp=tcp)
        assert [r.to_text() for r in reply.answer] == ["db.example.org. 3600 IN A 127.9.9.9"]
    assert (await ask("nope.example.org")).rcode() == dns.rcode.NXDOMAIN
    alias = await ask("ext.default.svc.cluster.local")
    assert [r.to_text() for r in alias.answer] == [
        "ext.default.svc.cluster.local. 5 IN CNAME db.example.org.",
        "db.example.org. 3600 IN A 127.9.9.9"]


async def test_servfail_when_no_upstream_answers(upstream: ClusterDns) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind((SILENT_IP, 53))  # swallows queries, never answers
    server = ClusterDns("cluster.local", DNS_IP, upstreams=[SILENT_IP], forward_timeout=0.5)
    await server.start()
    try:
        started = time.perf_counter()
        reply = await ask("www.example.com", use_edns=0)
        took = time.perf_counter() - started
        assert reply.rcode() == dns.rcode.SERVFAIL and 0.4 < took < 2
        assert reply.options[0].text == f"no answer from {SILENT_IP}:53 within 0.5s"
        assert "status: SERVFAIL" in await dig("www.example.com")
    finally:
        await server.close()
        silent.close()
    server = ClusterDns("cluster.local", DNS_IP, upstreams=[])
    await server.start()
    try:
        started = time.perf_counter()
        assert (await ask("www.example.com")).rcode() == dns.rcode.SERVFAIL
        assert time.perf_counter() - started < 0.5
    finally:
        await server.close()


async def test_truncation_over_udp_and_the_full_answer_over_tcp(server: ClusterDns) -> None:
    udp = await ask("big.default.svc.cluster.local")
    assert udp.flags & dns.flags.TC and not udp.answer
    edns = await ask("big.default.svc.cluster.local", use_edns=0, payload=1232)
    assert edns.flags & dns.flags.TC
    tcp = await ask("big.default.svc.cluster.local", tcp=True)
    assert len(rdata(tcp)) == 80 and not tcp.flags & dns.flags.TC
    assert len((await dig("+short", "big.default.svc.cluster.local")).split()) == 80  # retries


async def test_tcp_pipelines_and_closes_when_idle(server: ClusterDns) -> None:
    reader, writer = await asyncio.open_connection(DNS_IP, 53)
    names = ["nope.example.org", "web.default.svc.cluster.local", "db.default.svc.cluster.local"]
    wire = b""
    for i, qname in enumerate(names):
        query = dns.message.make_query(qname, "A")
        query.id = i
        data = query.to_wire()
        wire += len(data).to_bytes(2, "big") + data
    writer.write(wire)
    replies = {}
    for _ in names:
        size = int.from_bytes(await reader.readexactly(2), "big")
        reply = dns.message.from_wire(await reader.readexactly(size))
        replies[reply.id] = reply
    assert replies[0].rcode() == dns.rcode.NXDOMAIN  # from upstream, after the others
    assert rdata(replies[1]) == ["127.96.0.20"] and len(rdata(replies[2])) == 2
    started = time.perf_counter()
    assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the server
    assert time.perf_counter() - started < 1.5
    writer.close()


async def test_every_agent_binds_the_same_address(server: ClusterDns) -> None:
    """SO_REUSEPORT: a second server on the same address starts, both answer, and the
    address keeps answering when one of them stops."""
    second = ClusterDns("cluster.local", DNS_IP, 53, upstreams=[])
    for kind, obj in objects():
        second.update(kind, obj)
    await second.start()
    try:
        for _ in range(20):  # new source ports: the kernel spreads them over both
            assert rdata(await ask("web.default.svc.cluster.local")) == ["127.96.0.20"]
        assert len(server.responder.cache) == len(second.responder.cache) == 1  # both answered
    finally:
        await second.close()
    assert rdata(await ask("web.default.svc.cluster.local", tcp=True)) == ["127.96.0.20"]


async def test_fuzz_over_sockets(server: ClusterDns, caplog: pytest.LogCaptureFixture) -> None:
    """Two seconds of random and mutated datagrams and TCP streams; the server keeps
    answering and logs no failure."""
    caplog.set_level(logging.ERROR)
    rng = random.Random(7)
    seeds = [dns.message.make_query(n, t, use_edns=e).to_wire() for n, t, e in [
        ("web.default.svc.cluster.local", "A", 0), ("_pg._tcp.db.default.svc.cluster.local",
                                                    "SRV", False),
        ("20.0.96.127.in-addr.arpa", "PTR", 0), ("nope.default.svc.cluster.local", "A", False)]]

    def packet() -> bytes:
        if rng.random() < 0.3:
            return rng.randbytes(rng.randrange(0, 700))
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 6)):
            at = rng.randrange(len(data) + 1)
            if rng.random() < 0.5 and at < len(data):
                data[at] = rng.randrange(256)
            elif rng.random() < 0.5:
                del data[at:]
            else:
                data.insert(at, rng.randrange(256))
        return bytes(data)

    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    deadline = time.monotonic() + 2
    sent = 0
    try:
        while time.monotonic() < deadline:
            for _ in range(50):
                await loop.sock_sendto(sock, packet(), (DNS_IP, 53))
                sent += 1
            reader, writer = await asyncio.open_connection(DNS_IP, 53)
            for _ in range(5):
                data = packet()
                length = len(data) if rng.random() < 0.8 else rng.randrange(65536)
                writer.write(length.to_bytes(2, "big") + data)
            writer.close()
            await asyncio.sleep(0.005)
    finally:
        sock.close()
    assert sent > 1000
    assert rdata(await ask("web.default.svc.cluster.local")) == ["127.96.0.20"]
    assert rdata(await ask("web.default.svc.cluster.local", tcp=True)) == ["127.96.0.20"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
