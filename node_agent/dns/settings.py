"""What the server is told at start-up, checked and put in the shape the lookup uses:
the cluster domain, the nameserver's own addresses, static hosts entries (CoreDNS's
``hosts`` plugin) and the upstream resolvers (the host's resolv.conf by default).
Bad values raise ``ValueError`` with the offending entry. No I/O: the caller reads
resolv.conf and passes its text."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from node_agent.dns.records import Name, address, name

_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
DNS_PORT = 53

Upstream = tuple[str, int]  # (ip, port)


def check_domain(text: str, what: str) -> Name:
    labels = name(text)
    if not labels or any(not _LABEL.match(label) for label in labels) or \
            len(".".join(labels)) > 253:
        raise ValueError(f"cluster DNS: {what} {text!r} is not a valid domain name")
    return labels


@dataclass(frozen=True)
class StaticHosts:
    """Names that answer with fixed addresses, and the reverse of those addresses."""

    addresses: Mapping[Name, tuple[str, ...]] = field(default_factory=dict)
    names: Mapping[str, tuple[Name, ...]] = field(default_factory=dict)  # ip -> names

    @classmethod
    def of(cls, entries: Mapping[str, Iterable[str]] | None) -> StaticHosts:
        """``{"test.local": ["127.200.0.1"]}``: each name with one or more IPs."""
        addresses: dict[Name, list[str]] = {}
        names: dict[str, list[Name]] = {}
        for host, ips in (entries or {}).items():
            labels = check_domain(host, "static host")
            if isinstance(ips, str):
                ips = [ips]
            for raw in ips:
                ip = address(raw) if isinstance(raw, str) else None
                if ip is None:
                    raise ValueError(f"cluster DNS: static host {host!r}: {raw!r} is not an "
                                     "IP address")
                addresses.setdefault(labels, []).append(ip)
                names.setdefault(ip, []).append(labels)
        return cls({k: tuple(v) for k, v in addresses.items()},
                   {k: tuple(v) for k, v in names.items()})


@dataclass(frozen=True)
class Settings:
    domain: Name
    nameserver_ips: tuple[str, ...]  # what ns.dns.<zone> answers: the address we serve on
    hosts: StaticHosts = field(default_factory=StaticHosts)

    @classmethod
    def of(cls, domain: str, nameserver_ip: str,
           static_hosts: Mapping[str, Iterable[str]] | None = None) -> Settings:
        try:
            ip = str(ipaddress.ip_address(nameserver_ip))
        except ValueError as e:
            raise ValueError(f"cluster DNS: bind address {nameserver_ip!r} is not an IP "
                             "address") from e
        return cls(check_domain(domain, "cluster domain"), (ip,), StaticHosts.of(static_hosts))


def parse_upstream(text: str) -> Upstream:
    """'127.0.0.53', '127.0.0.53:5353', '[::1]:53' or '::1' -> (ip, port)."""
    host, port = text.strip(), DNS_PORT
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        if rest:
            port = _port(text, rest.removeprefix(":"))
    elif host.count(":") == 1:
        host, _, rest = host.partition(":")
        port = _port(text, rest)
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError as e:
        raise ValueError(f"cluster DNS: upstream {text!r} is not IP[:PORT]") from e


def _port(text: str, value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"cluster DNS: upstream {text!r} has a bad port")
    return int(value)


def resolv_conf_nameservers(text: str) -> list[Upstream]:
    """The ``nameserver`` lines of a resolv.conf, in order (IPv6 zone ids dropped)."""
    found = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                found.append((str(ipaddress.ip_address(words[1].split("%", 1)[0])), DNS_PORT))
            except ValueError:
                continue  # as libc: a line it cannot read is skipped
    return found


def usable_upstreams(upstreams: Iterable[Upstream], own: Upstream) -> tuple[Upstream, ...]:
    """Upstreams minus ourselves: forwarding to our own address would loop."""
    return tuple(dict.fromkeys(u for u in upstreams if u != own))
