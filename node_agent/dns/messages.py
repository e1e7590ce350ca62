"""DNS messages through dnslib, off the hot path: the full parse of a query (with the
answer to give when it is malformed or asks for what we do not do) and the wire form
of an ``Outcome``, truncated to the client's limit.

Rules for bad input: a datagram shorter than a header, or a response (QR set), gets no
reply; an undecodable one FORMERR with the bare header; an opcode other than QUERY
NOTIMP; more or fewer than one question, records in the answer or authority sections,
several OPT records or trailing bytes FORMERR; an EDNS version other than 0 BADVERS; a
class other than IN NOTIMP.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import dnslib
from dnslib.buffer import BufferError as DnslibBufferError

from node_agent.dns.lookup import Outcome
from node_agent.dns.records import (
    A, AAAA, BADVERS, CLASS_IN, CNAME, FORMERR, NOTIMP, NS, OPT, PTR, TXT, Name, Record, Soa,
    Srv)
from node_agent.dns.wire import header_error

UDP_PAYLOAD = 1232  # the EDNS payload size we advertise and honour at most (DNS flag day)
PLAIN_UDP = 512  # without EDNS
TCP_LIMIT = 65535  # one length-prefixed message
EDE = 15  # the Extended DNS Error option (RFC 8914)
EDE_NO_REACHABLE_AUTHORITY = 22

PARSE_ERRORS = (dnslib.DNSError, DnslibBufferError, dnslib.bimap.BimapError, struct.error,
                UnicodeError, ValueError, IndexError)


class Edns(NamedTuple):
    payload: int  # the client's advertised UDP size
    do: bool


@dataclass(frozen=True, slots=True)
class Query:
    id: int
    labels: tuple[bytes, ...]  # the question name, lowercased
    qtype: int
    qclass: int
    rd: bool
    cd: bool
    edns: Edns | None
    qend: int  # where the question ends in the datagram when it is uncompressed, else 0

    @property
    def qname(self) -> Name:
        return tuple(label.decode("latin-1") for label in self.labels)

    def limit(self, tcp: bool) -> int:
        """The largest reply this client takes on its transport."""
        if tcp:
            return TCP_LIMIT
        if self.edns is None:
            return PLAIN_UDP
        return max(PLAIN_UDP, min(self.edns.payload, UDP_PAYLOAD))


def parse(data: bytes) -> Query | bytes | None:
    """A query to answer, the bytes of an error reply, or None to stay silent."""
    if len(data) < 12 or data[2] & 0x80:
        return None
    buffer = dnslib.DNSBuffer(data)
    try:
        header = dnslib.DNSHeader.parse(buffer)
        questions = [dnslib.DNSQuestion.parse(buffer) for _ in range(header.q)]
        records = [dnslib.RR.parse(buffer) for _ in range(header.a + header.auth + header.ar)]
    except PARSE_ERRORS:
        return header_error(data, FORMERR)
    opts = [r for r in records[header.a + header.auth:] if r.rtype == OPT]
    edns = Edns(opts[0].rclass, bool(opts[0].ttl & 0x8000)) if opts else None
    question = questions[0] if questions else None
    if header.opcode != 0:
        return _error(header, question, edns, NOTIMP)
    if question is None or len(questions) > 1 or header.a or header.auth or len(opts) > 1 \
            or buffer.offset != len(data) or (opts and opts[0].rname.label) \
            or question.qtype in (0, OPT):
        return _error(header, question if len(questions) == 1 else None, edns, FORMERR)
    if opts and (opts[0].ttl >> 16) & 0xFF:
        return _error(header, question, edns, BADVERS)
    if question.qclass != CLASS_IN:
        return _error(header, question, edns, NOTIMP)
    labels = tuple(part.lower() for part in question.qname.label)
    end = _question_end(data)
    plain = end == 12 + sum(len(part) + 1 for part in labels) + 5
    return Query(header.id, labels, question.qtype, question.qclass, bool(header.rd),
                 bool(header.cd), edns, end if plain else 0)


def _question_end(data: bytes) -> int:
    """Where an uncompressed first question would end (0 if it is not one)."""
    i = 12
    while i < len(data) and data[i]:
        if data[i] > 63:
            return 0
        i += data[i] + 1
    return i + 5 if i < len(data) else 0


def _error(header: dnslib.DNSHeader, question: dnslib.DNSQuestion | None, edns: Edns | None,
           rcode: int) -> bytes:
    reply = dnslib.DNSRecord(dnslib.DNSHeader(id=header.id, qr=1, opcode=header.opcode,
                                              rd=header.rd, cd=header.cd, rcode=rcode & 0x0F))
    if question is not None:
        reply.add_question(question)
    if edns is not None:
        reply.add_ar(dnslib.EDNS0(udp_len=UDP_PAYLOAD, ext_rcode=rcode >> 4))
    return bytes(reply.pack())


def label(name: Name) -> dnslib.DNSLabel:
    return dnslib.DNSLabel([part.encode("latin-1") for part in name])


def _rdata(record: Record) -> dnslib.RD:
    data = record.data
    if record.rtype == A:
        return dnslib.A(data)
    if record.rtype == AAAA:
        return dnslib.AAAA(data)
    if isinstance(data, Srv):
        return dnslib.SRV(data.priority, data.weight, data.port, label(data.target))
    if isinstance(data, Soa):
        return dnslib.SOA(label(data.mname), label(data.rname),
                          (data.serial, data.refresh, data.retry, data.expire, data.minimum))
    if record.rtype == TXT and isinstance(data, str):
        return dnslib.TXT(data.encode())
    if record.rtype in (CNAME, PTR, NS) and isinstance(data, tuple):
        return {CNAME: dnslib.CNAME, PTR: dnslib.PTR, NS: dnslib.NS}[record.rtype](label(data))
    raise ValueError(f"cluster DNS: cannot encode {record!r}")


def to_rr(record: Record) -> dnslib.RR:
    return dnslib.RR(label(record.name), record.rtype, CLASS_IN, record.ttl, _rdata(record))


def build(query: Query, outcome: Outcome, limit: int, foreign: Sequence[dnslib.RR] = (),
          ede: tuple[int, str] | None = None) -> bytes:
    """The reply to ``query`` (its question lowercased): ``outcome``'s records, then
    ``foreign`` ones (answers from upstream to an alias), truncated to ``limit`` (TC set,
    no records) when it does not fit."""
    header = dnslib.DNSHeader(id=query.id, qr=1, aa=int(outcome.authoritative), ra=1,
                              rd=int(query.rd), cd=int(query.cd), rcode=outcome.rcode & 0x0F)
    reply = dnslib.DNSRecord(header, q=dnslib.DNSQuestion(dnslib.DNSLabel(query.labels),
                                                          query.qtype, query.qclass))
    opt = None
    if query.edns is not None:
        options = [dnslib.EDNSOption(EDE, struct.pack("!H", ede[0]) + ede[1].encode())] \
            if ede else []
        opt = dnslib.EDNS0(udp_len=UDP_PAYLOAD, ext_rcode=outcome.rcode >> 4,
                           flags="do" if query.edns.do else "", opts=options)
    for record in outcome.answer:
        reply.add_answer(to_rr(record))
    for rr in foreign:
        reply.add_answer(rr)
    for record in outcome.authority:
        reply.add_auth(to_rr(record))
    for record in outcome.additional:
        reply.add_ar(to_rr(record))
    if opt is not None:
        reply.add_ar(opt)
    wire = bytes(reply.pack())
    if len(wire) <= limit:
        return wire
    short = dnslib.DNSRecord(header, q=reply.q)
    short.header.tc = 1
    if opt is not None:
        short.add_ar(opt)
    return bytes(short.pack())


def make_query(name: Name, qtype: int, query_id: int) -> bytes:
    """A recursive query for an alias's target (asked upstream)."""
    return bytes(dnslib.DNSRecord(dnslib.DNSHeader(id=query_id, rd=1),
                                  q=dnslib.DNSQuestion(label(name), qtype)).pack())


def answers_of(reply: bytes) -> tuple[int, list[dnslib.RR]] | None:
    """The rcode and answer records of an upstream reply; None when unreadable."""
    try:
        parsed = dnslib.DNSRecord.parse(reply)
    except PARSE_ERRORS:
        return None
    return parsed.header.rcode, list(parsed.rr)


def reply_matches(reply: bytes, query: bytes) -> bool:
    """An upstream reply answers our query: same ID and the same question."""
    if len(reply) < 12 or len(query) < 12 or reply[:2] != query[:2] or not reply[2] & 0x80:
        return False
    end = _question_end(query)
    name_end = end - 4  # the name compares without case, type and class exactly
    return end > 0 and reply[4:6] == query[4:6] and reply[name_end:end] == query[name_end:end] \
        and reply[12:name_end].lower() == query[12:name_end].lower()
