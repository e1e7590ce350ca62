"""Asking the upstream resolvers: names outside the cluster, and aliases' targets.

Each query goes to the upstreams in order under a fresh random ID, over the transport
the client used (UDP, or TCP for a TCP client), and the whole exchange is bounded by
``timeout`` seconds shared among them. A SERVFAIL or REFUSED from one upstream moves on
to the next. ``None`` means no upstream answered: the caller replies SERVFAIL.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence

from node_agent.dns import wire
from node_agent.dns.messages import reply_matches
from node_agent.dns.records import REFUSED, SERVFAIL
from node_agent.dns.settings import Upstream

log = logging.getLogger(__name__)


class _Exchange(asyncio.DatagramProtocol):
    """One query on a connected UDP socket: the first matching reply wins."""

    def __init__(self, query: bytes, done: asyncio.Future[bytes]) -> None:
        self.query, self.done = query, done

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.done.done() and reply_matches(data, self.query):
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():  # e.g. ICMP port unreachable: nobody listens there
            self.done.set_exception(exc)


async def _udp(query: bytes, upstream: Upstream) -> bytes:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Exchange(query, done),
                                                       remote_addr=upstream)
    try:
        transport.sendto(query)
        return await done
    finally:
        transport.close()


async def _tcp(query: bytes, upstream: Upstream) -> bytes:
    reader, writer = await asyncio.open_connection(*upstream)
    try:
        writer.write(wire.tcp_frame(query))
        while True:
            size = int.from_bytes(await reader.readexactly(2), "big")
            reply = await reader.readexactly(size)
            if reply_matches(reply, query):
                return reply
    finally:
        writer.close()


class Forwarder:
    def __init__(self, upstreams: Sequence[Upstream], timeout: float) -> None:
        self.upstreams = tuple(upstreams)
        self.timeout = timeout

    async def ask(self, query: bytes, tcp: bool) -> bytes | None:
        """The reply of the first upstream that answers ``query`` (its ID kept)."""
        if not self.upstreams:
            return None
        each = self.timeout / len(self.upstreams)
        last: bytes | None = None
        for upstream in self.upstreams:
            sent = secrets.randbits(16).to_bytes(2, "big") + query[2:]
            try:
                reply = await asyncio.wait_for(_tcp(sent, upstream) if tcp
                                               else _udp(sent, upstream), each)
            except (OSError, EOFError, asyncio.TimeoutError) as e:
                log.debug("upstream %s:%d: %r", *upstream, e)
                continue
            last = query[:2] + reply[2:]
            if reply[3] & 0x0F not in (SERVFAIL, REFUSED):
                return last
        return last
