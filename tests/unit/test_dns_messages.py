"""Full parsing of queries (what malformed or unsupported ones get) and the wire form of
answers: EDNS echo, truncation, upstream helpers."""

from __future__ import annotations

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest

from node_agent.dns.lookup import Outcome
from node_agent.dns.messages import (
    Edns, Query, answers_of, build, make_query, parse, reply_matches)
from node_agent.dns.records import A, NXDOMAIN, Record, name
from tests.unit.test_dns_wire import HEADER, NAME, OPT, A_IN, query


def rcode_of(reply: bytes) -> str:
    try:
        return dns.rcode.to_text(dns.message.from_wire(reply).rcode())
    except dns.exception.FormError:  # dnspython reads UPDATE messages by their own rules
        return dns.rcode.to_text(reply[3] & 0x0F)


ERRORS = [
    ("undecodable question", HEADER + b"\x03web\xc0\xff" + A_IN, "FORMERR"),
    ("pointer loop", HEADER + b"\xc0\x0c" + A_IN, "FORMERR"),
    ("no question", HEADER[:4] + b"\x00\x00" + HEADER[6:], "FORMERR"),
    ("two questions", HEADER[:4] + b"\x00\x02" + HEADER[6:] + NAME + A_IN + NAME + A_IN,
     "FORMERR"),
    ("answer section in a query", query()[:6] + b"\x00\x01" + query()[8:]
     + b"\x00\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04\x7f\x00\x00\x01", "FORMERR"),
    ("trailing garbage", query() + b"xyz", "FORMERR"),
    ("qtype OPT", query()[:-4] + b"\x00\x29\x00\x01", "FORMERR"),
    ("two OPT records", HEADER[:10] + b"\x00\x02" + NAME + A_IN + OPT + OPT, "FORMERR"),
    ("opcode STATUS", query()[:2] + b"\x11" + query()[3:], "NOTIMP"),
    ("opcode UPDATE", query()[:2] + b"\x29" + query()[3:], "NOTIMP"),
    ("class CHAOS", query(qname="version.bind", rdtype="TXT", rdclass="CH"), "NOTIMP"),
    ("class ANY", query()[:-2] + b"\x00\xff", "NOTIMP"),
    ("EDNS version 1", HEADER[:10] + b"\x00\x01" + NAME + A_IN + OPT[:6] + b"\x01" + OPT[7:],
     "BADVERS"),
]


@pytest.mark.parametrize("data,rcode", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors(data: bytes, rcode: str) -> None:
    reply = parse(data)
    assert isinstance(reply, bytes)
    assert reply[:2] == data[:2] and reply[2] & 0x80  # the query's ID, QR set
    assert rcode_of(reply) == rcode


@pytest.mark.parametrize("data", [b"", b"\x12\x34\x01", query()[:11],
                                  query()[:2] + b"\x81" + query()[3:]],
                         ids=["empty", "3 bytes", "11 bytes", "a response"])
def test_silence(data: bytes) -> None:
    assert parse(data) is None


def test_a_query_with_a_compressed_question_is_answered() -> None:
    data = HEADER[:10] + b"\x00\x01" + NAME + A_IN + b"\xc0\x0c\x00\x29\x04\xd0" + b"\x00" * 6
    # an OPT whose (ignored) name points at the question: not ours to refuse, but odd
    assert isinstance(parse(data), bytes)
    parsed = parse(query(qname="WEB.default.svc.cluster.local", use_edns=0, payload=900,
                         want_dnssec=True))
    assert isinstance(parsed, Query)
    assert parsed.labels == (b"web", b"default", b"svc", b"cluster", b"local")
    assert parsed.edns == Edns(900, True) and parsed.rd and parsed.qend == 12 + len(NAME) + 4


def make(qname: str = "web.default.svc.cluster.local", payload: int | None = None,
         do: bool = False) -> Query:
    parsed = parse(query(qname, use_edns=0 if payload else False, payload=payload or 1232,
                         want_dnssec=do))
    assert isinstance(parsed, Query)
    return parsed


def addresses(count: int) -> Outcome:
    """A headless Service's answer: 16 bytes a record once the owner is compressed."""
    owner = name("db.ns.svc.cluster.local")
    return Outcome(answer=tuple(Record(owner, A, 5, f"127.244.{i // 250}.{i % 250 + 1}")
                                for i in range(count)))


@pytest.mark.parametrize("payload,tcp,count,limit,truncated", [
    (None, False, 20, 512, False),
    (None, False, 50, 512, True),
    (1232, False, 50, 1232, False),
    (1232, False, 100, 1232, True),
    (4096, False, 100, 1232, True),  # at most the 1232 bytes we advertise
    (512, False, 50, 512, True),
    (100, False, 20, 512, False),  # below 512 counts as 512
    (None, True, 1000, 65535, False),
], ids=["plain UDP fits", "plain UDP", "EDNS 1232 fits", "EDNS 1232", "EDNS 4096",
        "EDNS 512", "EDNS 100", "TCP"])
def test_truncation(payload: int | None, tcp: bool, count: int, limit: int,
                    truncated: bool) -> None:
    q = make("db.ns.svc.cluster.local", payload)
    assert q.limit(tcp) == limit
    wire = build(q, addresses(count), q.limit(tcp))
    reply = dns.message.from_wire(wire)
    assert len(wire) <= limit
    assert bool(reply.flags & dns.flags.TC) == truncated
    assert (len(reply.answer[0]) if reply.answer else 0) == (0 if truncated else count)
    assert (reply.edns >= 0) == (payload is not None)


def test_edns_is_echoed_with_our_size_and_the_do_bit() -> None:
    reply = dns.message.from_wire(build(make(payload=4096, do=True), Outcome(rcode=NXDOMAIN),
                                        512))
    assert reply.edns == 0 and reply.payload == 1232 and reply.ednsflags & dns.flags.DO
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.flags & dns.flags.AA
    assert reply.flags & dns.flags.RA and reply.flags & dns.flags.RD


def test_extended_error_text() -> None:
    reply = dns.message.from_wire(build(make(payload=1232), Outcome(rcode=2), 1232,
                                        ede=(22, "no answer from 127.0.0.1:53 within 2s")))
    option = reply.options[0]
    assert isinstance(option, dns.edns.EDEOption)
    assert option.code == 22 and option.text == "no answer from 127.0.0.1:53 within 2s"


def test_upstream_helpers() -> None:
    asked = make_query(name("example.org"), A, 0xBEEF)
    reply = dns.message.make_response(dns.message.from_wire(asked))
    reply.answer.append(dns.rrset.from_text("example.org.", 60, "IN", "A", "127.1.2.3"))
    wire = reply.to_wire()
    assert reply_matches(wire, asked)
    assert not reply_matches(b"\x00\x00" + wire[2:], asked)  # another ID
    assert not reply_matches(asked, asked)  # not a response
    rcode, answers = answers_of(wire)  # type: ignore[misc]
    assert rcode == 0 and [str(rr.rdata) for rr in answers] == ["127.1.2.3"]
    assert answers_of(b"\x00\x01garbage") is None
