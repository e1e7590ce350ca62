"""From a datagram to the bytes of its reply, with no sockets and no clock.

``respond`` first tries the cache with the hot-path key (``wire.question_key``); on a
miss it parses the query fully (``messages.parse``), asks ``lookup`` for the outcome,
builds the reply with dnslib and files it in the cache when the outcome depends only on
our data. Outcomes that need an upstream (a forwarded name, an alias leaving the
cluster) come back as ``Pending``; the server resolves them and calls ``relayed``,
``chased`` or ``failed`` for the bytes to send.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import dnslib

from node_agent.dns import wire
from node_agent.dns.cache import AnswerCache
from node_agent.dns.lookup import Outcome, lookup
from node_agent.dns.messages import EDE_NO_REACHABLE_AUTHORITY, Query, build, parse
from node_agent.dns.records import SERVFAIL
from node_agent.dns.settings import Settings
from node_agent.dns.zone import Tag, Zone


@dataclass(frozen=True, slots=True)
class Pending:
    query: Query
    outcome: Outcome


class Responder:
    def __init__(self, settings: Settings, cache: AnswerCache | None = None) -> None:
        self.settings = settings
        self.zone = Zone()
        self.cache = cache if cache is not None else AnswerCache()

    def changed(self, tags: Iterable[Tag], serial: int) -> None:
        """The zone changed: drop the replies built from what changed."""
        tags = set(tags)
        if tags:
            self.zone.serial = serial
            self.cache.invalidate(tags)

    def respond(self, data: bytes, transport: bytes) -> bytes | Pending | None:
        """The reply to a datagram, ``Pending`` when it needs an upstream, or None when it
        deserves no reply. ``transport`` is ``wire.UDP`` or ``wire.TCP``."""
        hit = wire.question_key(data, transport)
        if hit is not None:
            entry = self.cache.entries.get(hit[0])
            if entry is not None:
                return wire.splice(data, entry[0], entry[1], hit[1])
        query = parse(data)
        if not isinstance(query, Query):
            return query
        outcome = lookup(self.zone, self.settings, query.qname, query.qtype)
        if not outcome.cacheable:
            return Pending(query, outcome)
        reply = build(query, outcome, query.limit(transport == wire.TCP))
        if hit is not None:
            head, tail = wire.split(reply, hit[1])
            self.cache.put(hit[0], head, tail, outcome.tags)
        return _as_asked(data, query, reply)

    def relayed(self, data: bytes, reply: bytes) -> bytes:
        """An upstream's reply to a forwarded query, under the client's ID."""
        return data[:2] + reply[2:]

    def chased(self, data: bytes, pending: Pending, rcode: int,
               answers: Sequence[dnslib.RR], tcp: bool) -> bytes:
        """An alias's reply with what upstream answered for its target."""
        outcome = replace(pending.outcome, rcode=rcode, chase=None)
        reply = build(pending.query, outcome, pending.query.limit(tcp), foreign=answers)
        return _as_asked(data, pending.query, reply)

    def failed(self, data: bytes, pending: Pending, tcp: bool, why: str) -> bytes:
        """SERVFAIL (keeping an alias's CNAME), with an Extended DNS Error saying why."""
        outcome = replace(pending.outcome, rcode=SERVFAIL, chase=None, forward=False,
                          authoritative=False, authority=(), additional=())
        reply = build(pending.query, outcome, pending.query.limit(tcp),
                      ede=(EDE_NO_REACHABLE_AUTHORITY, why))
        return _as_asked(data, pending.query, reply)


def _as_asked(data: bytes, query: Query, reply: bytes) -> bytes:
    """The reply with the question exactly as the client spelled it (0x20 case)."""
    if not query.qend:
        return reply
    return wire.splice(data, reply[2:12], reply[query.qend:], query.qend)
