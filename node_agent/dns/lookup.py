"""Which records answer a question: ``lookup(zone, settings, qname, qtype) -> Outcome``.

Names in the cluster domain follow the Kubernetes DNS-Based Service Discovery
specification as CoreDNS's kubernetes plugin serves it (``pods insecure``, TTL 5):

- ``<svc>.<ns>.svc.<zone>``: the cluster IPs (A/AAAA); a headless Service's ready
  endpoints, NXDOMAIN when it has none; an ExternalName's CNAME (followed when asked for
  another type); SRV for every port of the Service.
- ``<hostname>.<svc>.<ns>.svc.<zone>``: the endpoints with that hostname (their own
  ``hostname``, else their address with dashes).
- ``_<port>._<proto>.<svc>.<ns>.svc.<zone>`` SRV: the named port, on the Service's name
  (ClusterIP) or on each ready endpoint's name (headless), addresses in Additional.
- ``<a>-<b>-<c>-<d>.<ns>.pod.<zone>``: that address, for any existing namespace.
- ``dns-version.<zone>`` TXT, the apex SOA and NS, ``ns.dns.<zone>`` A.
- PTR for cluster IPs and ready endpoint IPs.

A name that exists without records of the asked type is NODATA, one that does not is
NXDOMAIN; both carry the zone's SOA. Static hosts answer first (CoreDNS's ``hosts``
plugin sits before ``kubernetes``). Reverse names of 127.0.0.0/8 that no Service owns are
NXDOMAIN here (the whole cluster lives in loopback: no upstream knows them); other names
are forwarded. No I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from node_agent.dns.records import (
    A, AAAA, AXFR, CNAME, HOSTS_TTL, IXFR, NOERROR, NS, NXDOMAIN, PTR, REFUSED,
    SCHEMA_VERSION, SOA, SRV, TTL, TXT, VERSION_TTL, Name, Record, Soa, Srv, address, is_under)
from node_agent.dns.settings import Settings
from node_agent.dns.zone import (
    VOLATILE, Endpoint, ServiceView, Tag, Zone, ip_tag, namespace_tag, service_tag)

IN_ADDR: Name = ("in-addr", "arpa")
IP6: Name = ("ip6", "arpa")
LOOPBACK_REVERSE: Name = ("127", *IN_ADDR)
MAX_CHAIN = 8  # CNAMEs followed inside our own data before giving up (loops)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to answer. ``forward``: not ours, ask upstream. ``chase``: the answer ends in
    a CNAME to that name outside our data; resolve it and append what it answers."""

    rcode: int = NOERROR
    answer: tuple[Record, ...] = ()
    authority: tuple[Record, ...] = ()
    additional: tuple[Record, ...] = ()
    authoritative: bool = True
    tags: frozenset[Tag] = field(default_factory=frozenset)
    forward: bool = False
    chase: Name | None = None

    @property
    def cacheable(self) -> bool:
        return not self.forward and self.chase is None


FORWARD = Outcome(authoritative=False, forward=True)
REFUSE = Outcome(rcode=REFUSED, authoritative=False)


def lookup(zone: Zone, settings: Settings, qname: Name, qtype: int) -> Outcome:
    return _lookup(zone, settings, qname, qtype, 0)


def _lookup(zone: Zone, settings: Settings, qname: Name, qtype: int, depth: int) -> Outcome:
    if qtype in (AXFR, IXFR):
        return REFUSE  # no zone transfers
    static = settings.hosts.addresses.get(qname)
    if static is not None:
        return Outcome(answer=tuple(_addresses(qname, static, qtype, HOSTS_TTL)))
    if is_under(qname, settings.domain):
        return _Zone(zone, settings, qname, qtype, depth).answer()
    if is_under(qname, IN_ADDR) or is_under(qname, IP6):
        return _reverse(zone, settings, qname, qtype)
    return FORWARD


def soa(zone_name: Name, serial: int) -> Record:
    """The SOA CoreDNS's kubernetes plugin puts in negative answers."""
    return Record(zone_name, SOA, TTL, Soa(("ns", "dns", *zone_name), ("hostmaster", *zone_name),
                                           serial, 7200, 1800, 86400, TTL))


def _family(qtype: int) -> int | None:
    return 4 if qtype == A else 6 if qtype == AAAA else None


def _addresses(owner: Name, ips: Iterable[str], qtype: int, ttl: int = TTL) -> list[Record]:
    """A or AAAA records of those ``ips`` whose family ``qtype`` asks for (once each)."""
    family = _family(qtype)
    return [Record(owner, qtype, ttl, ip) for ip in dict.fromkeys(ips)
            if ipaddress.ip_address(ip).version == family]


def _srv_records(owner: Name, targets: list[tuple[int, Name]]) -> list[Record]:
    """SRV records of (port, target), weights sharing 100 as CoreDNS computes them."""
    unique = list(dict.fromkeys(targets))
    weight = max(1, 100 // len(unique)) if unique else 0
    return [Record(owner, SRV, TTL, Srv(0, weight, port, target)) for port, target in unique]


class _Zone:
    """One question inside the cluster domain."""

    def __init__(self, zone: Zone, settings: Settings, qname: Name, qtype: int,
                 depth: int) -> None:
        self.zone, self.settings = zone, settings
        self.qname, self.qtype, self.depth = qname, qtype, depth
        self.domain = settings.domain
        self.rel = qname[:len(qname) - len(self.domain)]

    # --- outcomes ----------------------------------------------------------------------

    def nxdomain(self) -> Outcome:
        return Outcome(NXDOMAIN, authority=(soa(self.domain, self.zone.serial),),
                       tags=frozenset({VOLATILE}))

    def nodata(self) -> Outcome:
        return Outcome(authority=(soa(self.domain, self.zone.serial),),
                       tags=frozenset({VOLATILE}))

    def records(self, answer: Iterable[Record], tags: Iterable[Tag],
                additional: Iterable[Record] = ()) -> Outcome:
        """A name that exists: its records, or NODATA when none has the asked type."""
        found = tuple(answer)
        if not found:
            return self.nodata()
        return Outcome(answer=found, additional=tuple(additional), tags=frozenset(tags))

    # --- names ---------------------------------------------------------------------------

    def answer(self) -> Outcome:
        rel, qtype = self.rel, self.qtype
        if not rel:
            return self.apex()
        if rel == ("dns-version",):
            txt = [Record(self.qname, TXT, VERSION_TTL, SCHEMA_VERSION)] if qtype == TXT else []
            return self.records(txt, ())
        if rel == ("ns", "dns"):
            return self.records(_addresses(self.qname, self.settings.nameserver_ips, qtype), ())
        if rel == ("dns",) or rel in (("svc",), ("pod",)):
            return self.nodata()
        if rel[-1] not in ("svc", "pod") or not self.zone.namespace_exists(rel[-2]):
            return self.nxdomain()
        if len(rel) == 2:
            return self.nodata()
        return self.pod() if rel[-1] == "pod" else self.service()

    def apex(self) -> Outcome:
        if self.qtype == SOA:
            return Outcome(answer=(soa(self.domain, self.zone.serial),),
                           tags=frozenset({VOLATILE}))
        if self.qtype == NS:
            server: Name = ("ns", "dns", *self.domain)
            glue = [r for t in (A, AAAA)
                    for r in _addresses(server, self.settings.nameserver_ips, t)]
            return Outcome(answer=(Record(self.domain, NS, TTL, server),), additional=tuple(glue))
        return self.nodata()

    def pod(self) -> Outcome:
        """``pods insecure``: any address spelled with dashes, in an existing namespace."""
        if len(self.rel) != 3:
            return self.nxdomain()
        label = self.rel[0]
        text = label.replace("-", ".") if label.count("-") == 3 and "--" not in label \
            else label.replace("-", ":")
        ip = address(text)
        if ip is None:
            return self.nxdomain()
        return self.records(_addresses(self.qname, [ip], self.qtype),
                            [namespace_tag(self.rel[1])])

    def service(self) -> Outcome:
        rel = self.rel
        svc = self.zone.service(rel[-2], rel[-3])
        if svc is None or len(rel) > 5:
            return self.nxdomain()
        if len(rel) == 3:
            if svc.external_name:
                return self.alias(svc)
            return self.service_name(svc)
        if svc.external_name:
            return self.nxdomain()  # an ExternalName has no endpoints nor ports
        if len(rel) == 4:
            return self.endpoint_name(svc, rel[0])
        port, proto = rel[0], rel[1]
        if not (port.startswith("_") and proto.startswith("_")):
            return self.nxdomain()
        targets, glue = self.srv_targets(svc, port[1:], proto[1:])
        if not targets:
            return self.nxdomain()
        if self.qtype != SRV:
            return self.nodata()
        return self.records(_srv_records(self.qname, targets), [service_tag((svc.namespace,
                                                                             svc.name))], glue)

    def service_owner(self, svc: ServiceView) -> Name:
        return (svc.name, svc.namespace, "svc", *self.domain)

    def endpoint_owner(self, svc: ServiceView, endpoint: Endpoint) -> Name:
        return (endpoint.hostname, *self.service_owner(svc))

    def service_name(self, svc: ServiceView) -> Outcome:
        tags = [service_tag((svc.namespace, svc.name))]
        if svc.headless and not svc.endpoints:
            return self.nxdomain()  # the specification's rule for headless Services
        owner = self.service_owner(svc)
        if self.qtype == SRV:
            targets, glue = self.srv_targets(svc, None, None)
            return self.records(_srv_records(self.qname, targets), tags, glue)
        ips = svc.cluster_ips or [e.ip for e in svc.endpoints]
        return self.records(_addresses(owner, ips, self.qtype), tags)

    def srv_targets(self, svc: ServiceView, port: str | None, proto: str | None
                    ) -> tuple[list[tuple[int, Name]], list[Record]]:
        """(port, target) pairs of the SRV records and the glue of their targets. With no
        port and protocol given, every port counts, unnamed ones too (as CoreDNS)."""
        targets: list[tuple[int, Name]] = []
        glue: list[Record] = []

        def wanted(p_name: str, p_proto: str) -> bool:
            return port is None or (bool(p_name) and p_name == port and p_proto == proto)

        if not svc.headless:
            owner = self.service_owner(svc)
            targets = [(p.port, owner) for p in svc.ports if wanted(p.name, p.protocol)]
            if targets:
                glue = _addresses(owner, svc.cluster_ips, A) + \
                    _addresses(owner, svc.cluster_ips, AAAA)
            return targets, glue
        for endpoint in svc.endpoints:
            owner = self.endpoint_owner(svc, endpoint)
            ports = [(p.port, owner) for p in endpoint.ports if wanted(p.name, p.protocol)]
            if ports:
                targets += ports
                glue += _addresses(owner, [endpoint.ip], A) + \
                    _addresses(owner, [endpoint.ip], AAAA)
        return targets, list(dict.fromkeys(glue))

    def endpoint_name(self, svc: ServiceView, label: str) -> Outcome:
        tags = [service_tag((svc.namespace, svc.name))]
        if label.startswith("_"):
            # _<proto>.<svc>...: an empty non-terminal above the SRV names it holds
            ports = svc.ports if not svc.headless else \
                [p for e in svc.endpoints for p in e.ports]
            if any(p.name and p.protocol == label[1:] for p in ports):
                return self.nodata()
            return self.nxdomain()
        endpoints = [e for e in svc.endpoints if e.hostname == label]
        if not endpoints:
            return self.nxdomain()
        return self.records(_addresses(self.qname, [e.ip for e in endpoints], self.qtype), tags)

    def alias(self, svc: ServiceView) -> Outcome:
        """An ExternalName: its CNAME, and what the target answers for other types."""
        tags = frozenset({service_tag((svc.namespace, svc.name))})
        target = tuple(svc.external_name.split("."))
        if address(svc.external_name) is not None:
            return self.nxdomain()  # CoreDNS serves no CNAME to an address
        cname = Record(self.qname, CNAME, TTL, target)
        if self.qtype == CNAME or self.depth >= MAX_CHAIN:
            return Outcome(answer=(cname,), tags=tags)
        then = _lookup(self.zone, self.settings, target, self.qtype, self.depth + 1)
        if then.forward:
            return Outcome(answer=(cname,), tags=tags, chase=target)
        return replace(then, answer=(cname, *then.answer), tags=tags | then.tags,
                       authoritative=True)


def reverse_ip(qname: Name) -> str | None:
    """The address a reverse name stands for: 4.3.2.1.in-addr.arpa -> 1.2.3.4."""
    try:
        if is_under(qname, IN_ADDR) and len(qname) == 6:
            if all(p.isdigit() and len(p) <= 3 for p in qname[:4]):
                return str(ipaddress.IPv4Address(".".join(reversed(qname[:4]))))
        elif is_under(qname, IP6) and len(qname) == 34:
            nibbles = "".join(reversed(qname[:32]))
            if all(len(n) == 1 for n in qname[:32]):
                return str(ipaddress.IPv6Address(int(nibbles, 16)))
    except ValueError:
        return None
    return None


def _reverse(zone: Zone, settings: Settings, qname: Name, qtype: int) -> Outcome:
    ip = reverse_ip(qname)
    local = is_under(qname, LOOPBACK_REVERSE)
    targets: list[Name] = []
    if ip is not None:
        targets = list(settings.hosts.names.get(ip, ()))
        owners = zone.owners(ip)
        by_cluster_ip = [s for s in owners if ip in s.cluster_ips]
        if by_cluster_ip:
            svc = by_cluster_ip[0]
            targets.append((svc.name, svc.namespace, "svc", *settings.domain))
        else:
            targets += [(e.hostname, s.name, s.namespace, "svc", *settings.domain)
                        for s in owners for e in s.endpoints if e.ip == ip]
    if targets and qtype == PTR:
        return Outcome(answer=tuple(Record(qname, PTR, TTL, t) for t in dict.fromkeys(targets)),
                       tags=frozenset({ip_tag(ip or "")}))
    if not targets and not local:
        return FORWARD
    apex = LOOPBACK_REVERSE if local else IN_ADDR if is_under(qname, IN_ADDR) else IP6
    negative = soa(apex, zone.serial)
    if qname == apex and qtype == SOA:
        return Outcome(answer=(negative,), tags=frozenset({VOLATILE}))
    if targets or ip is None:  # the name exists (or is a partial one: an empty non-terminal)
        return Outcome(authority=(negative,), tags=frozenset({VOLATILE}))
    return Outcome(NXDOMAIN, authority=(negative,), tags=frozenset({VOLATILE}))
