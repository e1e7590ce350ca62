"""Datagram in, reply out, without sockets: the cache, its invalidation on changes, the
0x20 case of questions, upstream outcomes, and random input that must never raise."""

from __future__ import annotations

import random
import time

import dnslib
import dns.message
import dns.rcode
import dns.rrset
import pytest

from node_agent.dns.cache import AnswerCache
from node_agent.dns.records import NOERROR, NXDOMAIN
from node_agent.dns.responder import Pending, Responder
from node_agent.dns.settings import Settings
from node_agent.dns.wire import TCP, UDP
from node_agent.dns.zone import ENDPOINT_SLICES, SERVICES, VOLATILE
from tests.unit.test_dns_lookup import HTTP, endpoint_slice, ep, service
from tests.unit.test_dns_wire import query


@pytest.fixture
def responder() -> Responder:
    r = Responder(Settings.of("cluster.local", "127.96.0.10", {"test.local": ["127.200.0.1"]}))
    r.changed(r.zone.update(SERVICES, service("default", "web", "127.96.0.5", [HTTP])), 1)
    r.changed(r.zone.update(SERVICES, service("default", "db", "None", [HTTP])), 1)
    r.changed(r.zone.update(ENDPOINT_SLICES,
                            endpoint_slice("default", "db", [ep("127.244.1.2", "db-0")], [HTTP])),
              1)
    return r


def ask(r: Responder, qname: str, rdtype: str = "A", transport: bytes = UDP,
        **kw: object) -> dns.message.Message:
    reply = r.respond(query(qname, rdtype, **kw), transport)
    assert isinstance(reply, bytes)
    return dns.message.from_wire(reply)


def addresses(reply: dns.message.Message) -> list[str]:
    return [rr.to_text() for rrset in reply.answer for rr in rrset]


def test_answers_are_cached_and_served_with_the_askers_id_and_case(responder: Responder) -> None:
    first = ask(responder, "web.default.svc.cluster.local")
    assert addresses(first) == ["127.96.0.5"] and len(responder.cache) == 1
    data = query("WeB.dEfAuLt.SVC.cluster.local")
    data = b"\xab\xcd" + data[2:]
    reply = responder.respond(data, UDP)
    assert isinstance(reply, bytes) and len(responder.cache) == 1  # a hit
    parsed = dns.message.from_wire(reply)
    assert parsed.id == 0xABCD and parsed.question[0].name.to_text() == \
        "WeB.dEfAuLt.SVC.cluster.local."
    assert addresses(parsed) == ["127.96.0.5"]


def test_transports_and_edns_shapes_are_cached_apart(responder: Responder) -> None:
    ask(responder, "web.default.svc.cluster.local")
    ask(responder, "web.default.svc.cluster.local", transport=TCP)
    ask(responder, "web.default.svc.cluster.local", use_edns=0, payload=1232)
    ask(responder, "web.default.svc.cluster.local", use_edns=0, payload=1232, want_dnssec=True)
    assert len(responder.cache) == 4


def test_a_change_drops_only_the_answers_it_alters(responder: Responder) -> None:
    ask(responder, "web.default.svc.cluster.local")
    ask(responder, "db.default.svc.cluster.local")
    assert ask(responder, "new.default.svc.cluster.local").rcode() == NXDOMAIN
    assert len(responder.cache) == 3
    responder.changed(responder.zone.update(
        SERVICES, service("default", "new", "127.96.0.9", [HTTP])), 2)
    assert len(responder.cache) == 2  # the NXDOMAIN went; web and db stay
    assert addresses(ask(responder, "new.default.svc.cluster.local")) == ["127.96.0.9"]
    responder.changed(responder.zone.update(
        ENDPOINT_SLICES, endpoint_slice("default", "db", [ep("127.244.1.3")], [HTTP])), 3)
    assert addresses(ask(responder, "db.default.svc.cluster.local")) == ["127.244.1.3"]
    assert addresses(ask(responder, "web.default.svc.cluster.local")) == ["127.96.0.5"]
    responder.changed(responder.zone.delete(SERVICES, service("default", "web")), 4)
    gone = ask(responder, "web.default.svc.cluster.local")
    assert gone.rcode() == NXDOMAIN and gone.authority[0][0].serial == 4


def test_reverse_names_follow_endpoint_changes(responder: Responder) -> None:
    ptr = ask(responder, "2.1.244.127.in-addr.arpa", "PTR")
    assert addresses(ptr) == ["db-0.db.default.svc.cluster.local."]
    responder.changed(responder.zone.update(
        ENDPOINT_SLICES, endpoint_slice("default", "db", [ep("127.244.1.2", "db-1")], [HTTP])), 2)
    assert addresses(ask(responder, "2.1.244.127.in-addr.arpa", "PTR")) == \
        ["db-1.db.default.svc.cluster.local."]


def test_forwarded_names_wait_for_upstream(responder: Responder) -> None:
    data = query("example.org", use_edns=0)
    pending = responder.respond(data, UDP)
    assert isinstance(pending, Pending) and pending.outcome.forward
    upstream = dns.message.make_response(dns.message.from_wire(data))
    upstream.id = 999  # the forwarder's own ID
    upstream.answer.append(dns.rrset.from_text("example.org.", 60, "IN", "A", "127.9.9.9"))
    relayed = dns.message.from_wire(responder.relayed(data, upstream.to_wire()))
    assert relayed.id == 0x1234 and addresses(relayed) == ["127.9.9.9"]
    failed = dns.message.from_wire(responder.failed(data, pending, False, "no answer"))
    assert failed.rcode() == dns.rcode.SERVFAIL and failed.options[0].text == "no answer"
    assert len(responder.cache) == 0


def test_an_alias_leaving_the_cluster_is_chased(responder: Responder) -> None:
    responder.changed(responder.zone.update(SERVICES, service(
        "default", "ext", type="ExternalName", externalName="db.example.org")), 2)
    data = query("ext.default.svc.cluster.local")
    pending = responder.respond(data, UDP)
    assert isinstance(pending, Pending) and pending.outcome.chase == ("db", "example", "org")
    target = dns.rrset.from_text("db.example.org.", 60, "IN", "A", "127.9.9.9")
    reply = dns.message.from_wire(responder.chased(
        data, pending, NOERROR, dnslib.RR.fromZone(target.to_text()), False))
    assert [r.to_text() for r in reply.answer] == [
        "ext.default.svc.cluster.local. 5 IN CNAME db.example.org.",
        "db.example.org. 60 IN A 127.9.9.9"]
    failed = dns.message.from_wire(responder.failed(data, pending, False, "timeout"))
    assert failed.rcode() == dns.rcode.SERVFAIL and len(failed.answer) == 1


def test_static_hosts_answer_before_upstream(responder: Responder) -> None:
    assert addresses(ask(responder, "test.local")) == ["127.200.0.1"]


def test_fuzz_random_input_never_raises(responder: Responder) -> None:
    """Random bytes and mutated queries, for a bounded time: each gets silence, an
    error reply, an answer or a Pending; every reply carries the query's ID."""
    rng = random.Random(20240601)
    seeds = [query("web.default.svc.cluster.local", use_edns=0),
             query("_http._tcp.db.default.svc.cluster.local", "SRV"),
             query("2.1.244.127.in-addr.arpa", "PTR"), query("example.org", "MX")]
    deadline = time.monotonic() + 1.5
    count = 0
    while time.monotonic() < deadline:
        kind = count % 4
        if kind == 0:
            data = rng.randbytes(rng.randrange(0, 64))
        else:
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 6)):
                if kind == 1 and data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
                elif kind == 2 and data:
                    del data[rng.randrange(len(data)):]
                else:
                    data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
            data = bytes(data)
        for transport in (UDP, TCP):
            reply = responder.respond(data, transport)
            assert reply is None or isinstance(reply, Pending) or reply[:2] == data[:2]
            if isinstance(reply, bytes):
                assert reply[2] & 0x80 and len(reply) >= 12
        count += 1
    assert count > 1000


def test_cache_tags_and_capacity() -> None:
    cache = AnswerCache(capacity=3)
    cache.put(b"a", b"h", b"t", [("svc", "ns", "a"), VOLATILE])
    cache.put(b"b", b"h", b"t", [("svc", "ns", "b")])
    cache.put(b"c", b"h", b"t", [])
    cache.invalidate([VOLATILE, ("svc", "ns", "zzz")])
    assert sorted(cache.entries) == [b"b", b"c"]
    cache.put(b"d", b"h", b"t", [])
    cache.put(b"e", b"h", b"t", [])  # past capacity: starts over
    assert sorted(cache.entries) == [b"e"]
