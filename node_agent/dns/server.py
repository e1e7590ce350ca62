"""ClusterDns: the node-local cluster DNS server a node agent runs.

Every agent binds the kube-dns ClusterIP on port 53, UDP and TCP, with SO_REUSEPORT, so
the kernel spreads clients over the agents and DNS keeps answering while the apiserver
is down (the records are the agent's watched copy). The socket code only moves bytes:
``Responder`` decides. UDP is an asyncio datagram protocol whose cache hits are answered
inside ``datagram_received``; TCP carries length-prefixed messages, several per
connection, answered as they complete, closed after ``tcp_idle`` seconds of silence.

With a ``QueryPolicy`` (NetworkPolicy, node_agent/enforcement.py) each UDP query and each
TCP connection is admitted first: the agent stands in for the kube-dns endpoints, so the
policy learns them (the kube-system/kube-dns Service's ready endpoints) as they change.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from kubeloop.tasks import TaskGroup
from node_agent.dns import wire
from node_agent.dns.messages import answers_of, make_query
from node_agent.dns.records import SERVFAIL
from node_agent.dns.responder import Pending, Responder
from node_agent.dns.settings import (
    DNS_PORT, Settings, parse_upstream, resolv_conf_nameservers, usable_upstreams)
from node_agent.dns.upstream import Forwarder
from node_agent.dns.zone import Tag, service_tag

log = logging.getLogger(__name__)

FORWARD_TIMEOUT = 2.0  # seconds for all upstreams together before SERVFAIL
TCP_IDLE = 10.0  # seconds a TCP connection may stay silent (RFC 7766 suggests seconds)
MAX_PENDING = 512  # queries waiting on an upstream; more get SERVFAIL at once
TCP_PIPELINE = 64  # per connection: past that, reading pauses until some complete
RESOLV_CONF = "/etc/resolv.conf"

KUBE_DNS = ("kube-system", "kube-dns")  # the Service whose address the agents serve

Send = Callable[[bytes], None]


class QueryPolicy(Protocol):
    """Whether a client may query (node_agent/enforcement.py's DnsPolicy)."""

    def admits(self, source: str, source_port: int, protocol: str) -> bool: ...

    def guarded(self, factory: Callable[[], Any]) -> Callable[[], Any]:
        """The TCP listener's factory: connections not admitted get the deny action."""

    def endpoints(self, targets: Mapping[str, Iterable[tuple[str, int]]]) -> None:
        """The kube-dns endpoints a query stands for: protocol -> (IP, port)s."""


class ClusterDns:
    """Call ``update``/``delete`` with watch events (kind: ``zone.SERVICES``,
    ``zone.ENDPOINT_SLICES`` or ``zone.NAMESPACES``), ``resync`` with a kind's complete
    list after a (re)connect; the next query sees the change. ``start`` binds, ``close``
    unbinds. ``upstreams``: ``IP[:PORT]`` strings, None for the host's resolv.conf, ``[]``
    for none (then outside names get SERVFAIL). ``static_hosts``: name -> IPs.
    ``policy``: NetworkPolicy for queries; None answers everyone."""

    def __init__(self, domain: str = "cluster.local", bind_ip: str = "127.96.0.10",
                 port: int = DNS_PORT, upstreams: Sequence[str] | None = None,
                 static_hosts: Mapping[str, Iterable[str]] | None = None, *,
                 forward_timeout: float = FORWARD_TIMEOUT, tcp_idle: float = TCP_IDLE,
                 resolv_conf: str = RESOLV_CONF, policy: QueryPolicy | None = None) -> None:
        if not 0 < port < 65536:
            raise ValueError(f"cluster DNS: port {port} is out of range 1..65535")
        self.settings = Settings.of(domain, bind_ip, static_hosts)
        self.address = (self.settings.nameserver_ips[0], port)
        self.responder = Responder(self.settings)
        self._upstreams = None if upstreams is None else [parse_upstream(u) for u in upstreams]
        self._resolv_conf = resolv_conf
        self.forwarder = Forwarder((), forward_timeout)
        self.tcp_idle = tcp_idle
        self.policy = policy
        self.tasks = TaskGroup(f"cluster-dns {bind_ip}")
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self.connections: set[_TcpConnection] = set()

    # --- what the agent calls -------------------------------------------------------------

    def update(self, kind: str, obj: dict[str, Any]) -> None:
        self._changed(self.responder.zone.update(kind, obj))

    def delete(self, kind: str, obj: dict[str, Any]) -> None:
        self._changed(self.responder.zone.delete(kind, obj))

    def resync(self, kind: str, objects: Iterable[dict[str, Any]]) -> None:
        self._changed(self.responder.zone.resync(kind, objects))

    def _changed(self, tags: set[Tag]) -> None:
        self.responder.changed(tags, int(time.time()))
        if self.policy is not None and service_tag(KUBE_DNS) in tags:
            view = self.responder.zone.service(*KUBE_DNS)
            port = self.address[1]
            self.policy.endpoints({protocol.upper(): view.targets(port, protocol) if view
                                   else () for protocol in ("udp", "tcp")})

    async def start(self) -> None:
        """Binds UDP and TCP; raises OSError when the address cannot be bound."""
        upstreams = self._upstreams
        if upstreams is None:
            try:
                upstreams = resolv_conf_nameservers(Path(self._resolv_conf).read_text())
            except OSError as e:
                log.warning("cluster DNS: cannot read %s (%s): no upstream", self._resolv_conf, e)
                upstreams = []
        self.forwarder.upstreams = usable_upstreams(upstreams, self.address)
        loop = asyncio.get_running_loop()
        udp = _bound(socket.SOCK_DGRAM, self.address)
        try:
            tcp = _bound(socket.SOCK_STREAM, self.address)
        except OSError:
            udp.close()
            raise
        try:
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=udp)
        except BaseException:
            udp.close()
            tcp.close()
            raise
        try:
            factory: Callable[[], asyncio.Protocol] = lambda: _TcpConnection(self)
            if self.policy is not None:
                factory = self.policy.guarded(factory)
            self._tcp = await loop.create_server(factory, sock=tcp)
        except BaseException:
            tcp.close()
            await self.close()
            raise
        log.info("cluster DNS serving %s on %s:%d (udp, tcp), upstreams %s",
                 ".".join(self.settings.domain), *self.address,
                 ", ".join(f"{h}:{p}" for h, p in self.forwarder.upstreams) or "none")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        for connection in list(self.connections):
            connection.transport.close()
        await self.tasks.close()

    # --- queries that wait on an upstream ---------------------------------------------------

    def resolve_later(self, data: bytes, pending: Pending, tcp: bool, send: Send) -> None:
        """Resolves ``pending`` in the background and hands the reply to ``send`` (at once
        with SERVFAIL when too many queries wait already)."""
        if len(self.tasks) >= MAX_PENDING:
            send(self.responder.failed(data, pending, tcp, "too many queries in flight"))
        else:
            self.tasks.spawn("upstream", self._resolve(data, pending, tcp, send),
                             expect_exit=True)

    async def _resolve(self, data: bytes, pending: Pending, tcp: bool, send: Send) -> None:
        try:
            reply = await self.finish(data, pending, tcp)
        except Exception:  # a bug here must still answer the client, and say so in the log
            log.exception("cluster DNS: resolving a query upstream failed")
            reply = self.responder.failed(data, pending, tcp, "internal error")
        send(reply)

    async def finish(self, data: bytes, pending: Pending, tcp: bool) -> bytes:
        responder = self.responder
        if pending.outcome.forward:
            reply = await self.forwarder.ask(data, tcp)
            if reply is not None:
                return responder.relayed(data, reply)
            return responder.failed(data, pending, tcp, self._silence())
        target = pending.outcome.chase
        assert target is not None
        asked = await self.forwarder.ask(make_query(target, pending.query.qtype, 0), tcp)
        answered = answers_of(asked) if asked is not None else None
        if answered is None or answered[0] == SERVFAIL:
            return responder.failed(data, pending, tcp, self._silence())
        return responder.chased(data, pending, answered[0], answered[1], tcp)

    def _silence(self) -> str:
        if not self.forwarder.upstreams:
            return "no upstream resolver is configured"
        names = ", ".join(f"{h}:{p}" for h, p in self.forwarder.upstreams)
        return f"no answer from {names} within {self.forwarder.timeout:g}s"


def _bound(kind: int, address: tuple[str, int]) -> socket.socket:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # one per node agent
        if kind == socket.SOCK_DGRAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)  # ride out bursts
        sock.bind(address)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, dns: ClusterDns) -> None:
        self.dns = dns
        self.respond = dns.responder.respond
        self.admits = dns.policy.admits if dns.policy is not None else None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        admits = self.admits
        if admits is not None and not admits(addr[0], addr[1], "UDP"):
            return  # NetworkPolicy drops it: the client times out
        try:
            reply = self.respond(data, wire.UDP)
        except Exception:  # the server must outlive any query: log it, answer nothing
            log.exception("cluster DNS: failed to answer a %d-byte UDP query from %s",
                          len(data), addr)
            return
        if reply is None:
            return
        if isinstance(reply, Pending):
            self.dns.resolve_later(data, reply, False, lambda out: self._send(out, addr))
            return
        self.transport.sendto(reply, addr)  # type: ignore[union-attr]

    def _send(self, reply: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("cluster DNS: UDP error %r", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class _TcpConnection(asyncio.Protocol):
    """Length-prefixed messages; replies leave as they are ready (RFC 7766 allows
    out-of-order replies); silence for ``tcp_idle`` seconds closes the connection."""

    def __init__(self, dns: ClusterDns) -> None:
        self.dns = dns
        self.buffer = bytearray()
        self.pending = 0
        self.paused = False
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.loop = asyncio.get_running_loop()
        self.last = self.loop.time()
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.dns.connections.add(self)
        self.timer = self.loop.call_later(self.dns.tcp_idle, self._check_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self.dns.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()

    def data_received(self, data: bytes) -> None:
        self.last = self.loop.time()
        self.buffer += data
        for message in wire.tcp_messages(self.buffer):
            self._answer(message)

    def _answer(self, message: bytes) -> None:
        try:
            reply = self.dns.responder.respond(message, wire.TCP)
        except Exception:  # as for UDP: log, answer nothing, keep serving
            log.exception("cluster DNS: failed to answer a %d-byte TCP query", len(message))
            return
        if isinstance(reply, Pending):
            self.pending += 1  # before: an overloaded server replies (and counts down) at once
            self.dns.resolve_later(message, reply, True, self._finished)
            if self.pending >= TCP_PIPELINE:
                self._pause()
        elif reply is not None:
            self._write(reply)

    def _finished(self, reply: bytes) -> None:
        self.pending -= 1
        self.last = self.loop.time()
        self._write(reply)
        if self.pending < TCP_PIPELINE:
            self._resume()

    def _write(self, reply: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(wire.tcp_frame(reply))

    def pause_writing(self) -> None:  # the client does not read its replies: stop reading
        self._pause()

    def resume_writing(self) -> None:
        self._resume()

    def _pause(self) -> None:
        if not self.paused and not self.transport.is_closing():
            self.paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        if self.paused and not self.transport.is_closing():
            self.paused = False
            self.transport.resume_reading()

    def _check_idle(self) -> None:
        quiet = self.loop.time() - self.last
        if quiet >= self.dns.tcp_idle and not self.pending:
            self.transport.close()
        else:
            self.timer = self.loop.call_later(max(self.dns.tcp_idle - quiet, 0.05),
                                              self._check_idle)
