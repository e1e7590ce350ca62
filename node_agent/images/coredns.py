"""CoreDNS as kubeadm and minikube deploy it (registry.k8s.io/coredns/coredns run with
``-conf /etc/coredns/Corefile``): DNS on port 53, UDP and TCP; the health plugin's
``/health`` on 8080, the ready plugin's ``/ready`` on 8181, Prometheus metrics on 9153.

The kubernetes plugin's work is already done by the cluster DNS every node agent serves
(node_agent/dns), so each query is relayed there, to the pod's resolv.conf nameserver,
and its answer passed back unchanged; an upstream that stays silent or refuses gets the
client a SERVFAIL and the errors plugin's log line, as CoreDNS's forward plugin does. The
counters behind /metrics move with each query. Pure: relay.py and httpserver.py do the
sockets and call these."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import NamedTuple

from node_agent.images import formats
from node_agent.images.goapps import NOT_FOUND, go_respond
from node_agent.images.model import (Exit, HttpApp, Listener, Program, RelayApp,
                                     RelayFailure, Request, Response)

VERSION = "1.11.3"
GO_VERSION = "go1.21.11"  # what CoreDNS 1.11.3 was built with, and its commit
REVISION = "a6338e9"
BUILD = f"linux/amd64, {GO_VERSION}, {REVISION}"
UPSTREAM_PORT = 53  # the node agents' cluster DNS
TIMEOUT = 5.0  # the forward plugin's deadline for one query, all tries included
MAX_CONCURRENT = 1000  # kubeadm's Corefile: forward . /etc/resolv.conf { max_concurrent 1000 }
HEALTH_PORT, READY_PORT, METRICS_PORT = 8080, 8181, 9153
SERVFAIL, REFUSED = 2, 5

# What `coredns -plugins` lists for a stock build.
PLUGINS = ("acl any auto autopath azure bind bufsize cache cancel chaos clouddns debug dns64 "
           "dnssec dnstap erratic errors etcd file forward geoip grpc header health hosts "
           "k8s_external kubernetes loadbalance local log loop metadata minimal nsid pprof "
           "prometheus ready reload rewrite root route53 secondary sign template timeouts "
           "tls trace transfer tsig view whoami").split()
# The handler plugins of kubeadm's Corefile, as coredns_plugin_enabled names them.
CHAIN = ("cache", "errors", "forward", "kubernetes", "loadbalance", "loop", "prometheus")

_TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT",
          28: "AAAA", 33: "SRV", 35: "NAPTR", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY",
          50: "NSEC3", 64: "SVCB", 65: "HTTPS", 251: "IXFR", 252: "AXFR", 255: "ANY"}
# The query types CoreDNS's request metrics name; every other type counts as "other".
_MONITORED = frozenset({"A", "AAAA", "CNAME", "DNSKEY", "DS", "MX", "NSEC3", "NSEC", "NS",
                        "PTR", "RRSIG", "SOA", "SRV", "TXT", "HTTPS", "IXFR", "AXFR", "ANY"})
_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
           5: "REFUSED", 6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH",
           10: "NOTZONE"}


def plugins_listing() -> tuple[str, ...]:
    """What ``coredns -plugins`` prints."""
    return ("Server types:", "  dns", "", "Caddyfile loaders:", "  flag", "  default", "",
            "Other plugins:", *(f"  dns.{name}" for name in PLUGINS), "  on")


def type_name(qtype: int) -> str:
    """A query type as miekg/dns prints it."""
    return _TYPES.get(qtype, f"TYPE{qtype}")


def rcode_name(rcode: int) -> str:
    return _RCODES.get(rcode, f"RCODE{rcode}")


class Question(NamedTuple):
    name: str  # with its final dot, as CoreDNS logs it
    qtype: int
    end: int  # the offset just past the question


def question(query: bytes) -> Question | None:
    """The first question of a message; None when there is none or it does not parse
    (a compressed name in a query's question is not followed)."""
    if len(query) < 12 or query[4:6] == b"\x00\x00":
        return None
    labels: list[str] = []
    i = 12
    while i < len(query) and query[i]:
        size = query[i]
        if size > 63 or i + 1 + size > len(query):
            return None
        labels.append("".join(map(_escaped, query[i + 1:i + 1 + size])))
        i += 1 + size
    if i + 5 > len(query):
        return None
    qtype = int.from_bytes(query[i + 1:i + 3], "big")
    return Question(".".join(labels) + ".", qtype, i + 5)


_SPECIAL = frozenset(b".' @;()\"\\")


def _escaped(byte: int) -> str:
    """One byte of a label as miekg/dns prints it: specials after a backslash, bytes
    outside printable ASCII as \\DDD."""
    if byte in _SPECIAL:
        return "\\" + chr(byte)
    return chr(byte) if 0x20 < byte < 0x7F else f"\\{byte:03d}"


def error_reply(query: bytes, rcode: int) -> bytes:
    """The reply CoreDNS writes itself when forwarding failed: the query's ID, opcode,
    RD and question, QR and RA set, the rcode, no records."""
    flags = bytes((0x80 | (query[2] & 0x79), 0x80 | rcode))
    asked = question(query)
    if asked is None:
        return query[:2] + flags + bytes(8)
    return query[:2] + flags + b"\x00\x01" + bytes(6) + query[12:asked.end]


def go_error(failure: RelayFailure, upstream: tuple[str, int], tcp: bool) -> str:
    """A failed exchange in the words of Go's net package."""
    proto = "tcp" if tcp else "udp"
    remote = f"{upstream[0]}:{upstream[1]}"
    if failure.kind == "overloaded":
        return f"concurrent queries exceeded maximum {MAX_CONCURRENT}"
    if failure.local is None or (tcp and failure.kind == "refused"):  # no connection made
        reason = {"timeout": "i/o timeout", "refused": "connect: connection refused"}
        return f"dial {proto} {remote}: {reason.get(failure.kind, failure.detail)}"
    reason = {"timeout": "i/o timeout", "refused": "read: connection refused"}
    return (f"read {proto} {failure.local[0]}:{failure.local[1]}->{remote}: "
            f"{reason.get(failure.kind, failure.detail)}")


@dataclass
class Counters:
    """What the metrics count: requests by (protocol, type), responses by rcode."""

    requests: dict[tuple[str, str], int] = field(default_factory=dict)
    responses: dict[str, int] = field(default_factory=dict)
    rejected: int = 0  # queries refused past max_concurrent

    def request(self, proto: str, qtype: str) -> None:
        self.requests[proto, qtype] = self.requests.get((proto, qtype), 0) + 1

    def response(self, rcode: int) -> None:
        name = rcode_name(rcode)
        self.responses[name] = self.responses.get(name, 0) + 1


class Forward(RelayApp):
    """Port 53: every query is relayed to the cluster DNS and counted."""

    max_concurrent = MAX_CONCURRENT
    timeout = TIMEOUT

    def __init__(self, upstream: tuple[str, int], counters: Counters) -> None:
        self.upstream = upstream
        self.counters = counters

    def received(self, query: bytes, tcp: bool) -> bool:
        if len(query) < 12 or query[2] & 0x80:  # too short for a header, or a response
            return False
        asked = question(query)
        qtype = type_name(asked.qtype) if asked is not None else "other"
        self.counters.request("tcp" if tcp else "udp",
                              qtype if qtype in _MONITORED else "other")
        return True

    def answer(self, query: bytes, reply: bytes | None, failure: RelayFailure | None,
               tcp: bool) -> tuple[bytes | None, str | None]:
        if reply is not None:
            self.counters.response(reply[3] & 0x0F)
            return reply, None
        assert failure is not None
        rcode = REFUSED if failure.kind == "overloaded" else SERVFAIL
        if rcode == REFUSED:
            self.counters.rejected += 1
        self.counters.response(rcode)
        asked = question(query)
        name, qtype = (asked.name, type_name(asked.qtype)) if asked else (".", "None")
        return error_reply(query, rcode), (f"[ERROR] plugin/errors: {rcode} {name} {qtype}: "
                                           f"{go_error(failure, self.upstream, tcp)}")


class Probe(HttpApp):
    """The health plugin's /health and the ready plugin's /ready: 200 "OK" (the
    kubernetes plugin's data is the agents', always synced); other paths, Go's 404."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._ok = go_respond(200, b"OK")

    def handle(self, req: Request) -> Response:
        return self._ok if req.path == self.path else NOT_FOUND


class Metrics(HttpApp):
    """The prometheus plugin's /metrics, in Prometheus's text format."""

    def __init__(self, version: str, server: str, counters: Counters, started: float) -> None:
        self.version, self.server = version, server
        self.counters = counters
        self.started = started

    def handle(self, req: Request) -> Response:
        if req.path != "/metrics":
            return NOT_FOUND
        return go_respond(200, self.render().encode(),
                          [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])

    def render(self) -> str:
        zone = f'server="{self.server}",view="",zone="."'
        c = self.counters
        families: list[formats.Family] = [
            ("coredns_build_info", "gauge", "A metric with a constant '1' value labeled by "
             "version, revision, and goversion from which CoreDNS was built.",
             [(f'goversion="{GO_VERSION}",revision="{REVISION}",version="{self.version}"', 1)]),
            ("coredns_dns_requests_total", "counter",
             "Counter of DNS requests made per zone, protocol and family.",
             # family 1: every client of a pod on loopback is IPv4
             [(f'family="1",proto="{proto}",server="{self.server}",type="{qtype}",view="",'
               f'zone="."', n) for (proto, qtype), n in sorted(c.requests.items())]),
            ("coredns_dns_responses_total", "counter", "Counter of response status codes.",
             [(f'plugin="",rcode="{rcode}",{zone}', n)
              for rcode, n in sorted(c.responses.items())]),
            ("coredns_forward_max_concurrent_rejects_total", "counter", "Counter of the "
             "number of queries rejected because the concurrent queries were at maximum.",
             [("", c.rejected)]),
            ("coredns_plugin_enabled", "gauge", "A metric that indicates whether a plugin is "
             "enabled on per server and zone basis.",
             [(f'name="{name}",{zone}', 1) for name in CHAIN]),
            # read from /proc in clock ticks: hundredths of a second
            ("process_start_time_seconds", "gauge",
             "Start time of the process since unix epoch in seconds.",
             [("", round(self.started, 2))]),
        ]
        return formats.prometheus_text(families)


class CoreDns(Program):
    """The coredns binary with kubeadm's Corefile (or, without ``-conf``, serving DNS on
    ``-dns.port``): the listeners above, its start-up lines, SIGTERM's lameduck."""

    def __init__(self, version: str, port: int, quiet: bool, upstream: tuple[str, int],
                 started: float) -> None:
        self.version, self.port, self.quiet = version, port, quiet
        self.upstream = upstream
        self.counters = Counters()
        forward = Forward(upstream, self.counters)
        # Plugins start their HTTP listeners before the servers bind (caddy's OnStartup).
        self.listeners = (
            Listener(READY_PORT, "TCP", Probe("/ready")),
            Listener(HEALTH_PORT, "TCP", Probe("/health")),
            Listener(METRICS_PORT, "TCP",
                     Metrics(version, f"dns://:{port}", self.counters, started)),
            Listener(port, "TCP", forward),
            Listener(port, "UDP", forward))

    def corefile(self) -> str:
        """The configuration this emulation runs, as a Corefile."""
        return (f".:{self.port} {{\n    errors\n    health {{\n       lameduck 5s\n    }}\n"
                f"    ready\n    prometheus :{METRICS_PORT}\n"
                f"    forward . {self.upstream[0]}:{self.upstream[1]} {{\n"
                f"       max_concurrent {MAX_CONCURRENT}\n    }}\n    reload\n}}\n")

    def banner(self, now: float) -> list[str]:
        digest = hashlib.sha512(self.corefile().encode()).hexdigest()
        reload = f"[INFO] plugin/reload: Running configuration SHA512 = {digest}"
        if self.quiet:
            return [reload]
        return [f".:{self.port}", reload, f"CoreDNS-{self.version}", BUILD]

    def terminated(self, now: float) -> Exit:
        return Exit(0, ("[INFO] SIGTERM: Shutting down servers then terminating",
                        "[INFO] plugin/health: Going into lameduck mode for 5s"))

    def bind_failed(self, listener: Listener, errno: int, reason: str, now: float) -> Exit:
        proto = listener.protocol.lower()
        error = f"listen {proto} :{listener.port}: bind: {reason.lower()}"
        if isinstance(listener.app, Forward):  # the DNS server's own sockets
            error = f"{'Listen' if proto == 'tcp' else 'ListenPacket'}: {error}"
        return Exit(1, (error,))
