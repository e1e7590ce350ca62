"""The vocabulary of the DNS server: names, resource records and the numbers of the
protocol, as plain values that the zone model and the lookup produce and that
``messages`` turns into wire format. No I/O here."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# A domain name as lowercase labels, most specific first: ("web", "default", "svc",
# "cluster", "local"). Query labels are decoded as latin-1, so any byte survives.
Name = tuple[str, ...]

# Resource record types (RFC 1035, 3596, 2782, 6891) and the meta types we treat apart.
A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, OPT = 1, 2, 5, 6, 12, 15, 16, 28, 33, 41
IXFR, AXFR, ANY = 251, 252, 255
CLASS_IN = 1

# Response codes (RFC 1035, 6891).
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
BADVERS = 16  # extended: 1 in the OPT record's upper rcode bits, 0 in the header

# TTLs as CoreDNS's kubernetes and hosts plugins use them by default.
TTL = 5  # every record of the cluster zone, and the SOA minimum
VERSION_TTL = 28800  # dns-version.<zone> TXT
HOSTS_TTL = 3600  # static hosts entries
SCHEMA_VERSION = "1.1.0"  # the DNS schema CoreDNS serves (kubernetes/dns specification)

TYPE_NAMES = {A: "A", NS: "NS", CNAME: "CNAME", SOA: "SOA", PTR: "PTR", MX: "MX", TXT: "TXT",
              AAAA: "AAAA", SRV: "SRV", OPT: "OPT", ANY: "ANY", AXFR: "AXFR", IXFR: "IXFR"}
TYPE_NUMBERS = {v: k for k, v in TYPE_NAMES.items()}


@dataclass(frozen=True, slots=True)
class Srv:
    priority: int
    weight: int
    port: int
    target: Name


@dataclass(frozen=True, slots=True)
class Soa:
    mname: Name
    rname: Name
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int


# A/AAAA: the address as text; CNAME/PTR/NS: a Name; TXT: the text; SRV, SOA: the tuples.
Rdata = str | Name | Srv | Soa


@dataclass(frozen=True, slots=True)
class Record:
    name: Name
    rtype: int
    ttl: int
    data: Rdata

    def text(self) -> str:
        """The record as a zone-file line (what tests compare and dig prints)."""
        return f"{dotted(self.name)} {self.ttl} IN {TYPE_NAMES.get(self.rtype, self.rtype)} " \
            + _rdata_text(self.data)


def _rdata_text(data: Rdata) -> str:
    if isinstance(data, Srv):
        return f"{data.priority} {data.weight} {data.port} {dotted(data.target)}"
    if isinstance(data, Soa):
        return (f"{dotted(data.mname)} {dotted(data.rname)} {data.serial} {data.refresh} "
                f"{data.retry} {data.expire} {data.minimum}")
    if isinstance(data, tuple):
        return dotted(data)
    return data


def name(text: str) -> Name:
    """'Web.Default.svc.cluster.local.' -> ('web', 'default', 'svc', 'cluster', 'local')."""
    text = text.strip().rstrip(".").lower()
    return tuple(text.split(".")) if text else ()


def dotted(labels: Name) -> str:
    return ".".join(labels) + "." if labels else "."


def is_under(labels: Name, suffix: Name) -> bool:
    return len(labels) >= len(suffix) and labels[len(labels) - len(suffix):] == suffix


def address(text: str) -> str | None:
    """The canonical text of an IP address; None for anything else, scoped IPv6 addresses
    included (no record carries a scope)."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return None if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id else str(ip)
