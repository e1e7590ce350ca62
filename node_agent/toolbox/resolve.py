"""Name resolution as a pod's libc does it: /etc/hosts first, then the nameserver of the
pod's resolv.conf through its search list and ndots, over UDP with a retry over TCP when
the answer is truncated, every packet leaving from the pod IP. The DNS tools (nslookup,
dig, host) use the raw ``exchange``. Messages are built and read with dnspython; the
choices (which names to try, what a hosts file or an answer says) are pure functions."""

from __future__ import annotations

import asyncio
import ipaddress
import struct
import time
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from node_agent.containers import Identity
from node_agent.toolbox import net

DNS_PORT = 53  # read at each call, so tests without root can point it elsewhere
TIMEOUT = 5.0  # per attempt, resolv.conf's default "timeout:5"
ATTEMPTS = 2  # resolv.conf's default "attempts:2"
EDNS_PAYLOAD = 1232


class DnsError(Exception):
    """No usable answer from the server: ``kind`` is "timeout", "refused" or "network"."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@dataclass(frozen=True)
class Exchange:
    response: dns.message.Message
    size: int  # bytes of the answer as received
    elapsed: float  # seconds
    tcp: bool


@dataclass(frozen=True)
class Resolution:
    """Where a name points: its IPv4 addresses, or why there are none ("NXDOMAIN",
    "NODATA", "SERVFAIL", "timeout", "refused"...)."""

    addresses: tuple[str, ...]
    error: str | None = None
    canonical: str = ""  # the name that answered, without the trailing dot


# --- pure decisions -----------------------------------------------------------------

def is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def search_names(name: str, search: tuple[str, ...], ndots: int) -> list[str]:
    """The absolute names to try for ``name``, in glibc's order: a trailing dot means
    only itself; fewer than ``ndots`` dots tries the search domains first."""
    if name.endswith("."):
        return [name]
    expanded = [f"{name}.{domain.strip('.')}." for domain in search if domain.strip(".")]
    if name.count(".") >= ndots:
        return [f"{name}.", *expanded]
    return [*expanded, f"{name}."]


def hosts_addresses(hosts_text: str, name: str) -> list[str]:
    """IPv4 addresses /etc/hosts gives ``name`` (case-insensitive, trailing dot ignored)."""
    wanted = name.rstrip(".").lower()
    found = []
    for line in hosts_text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and is_ipv4(fields[0]) and wanted in (f.lower() for f in fields[1:]):
            found.append(fields[0])
    return found


def answer_addresses(response: dns.message.Message, qname: str,
                     rdtype: dns.rdatatype.RdataType = dns.rdatatype.A) -> tuple[str, list[str]]:
    """(canonical name, addresses) for ``qname`` in a response, following CNAMEs."""
    name = dns.name.from_text(qname)
    for _ in range(16):  # bound a CNAME loop
        cname = next((rr for rr in response.answer
                      if rr.name == name and rr.rdtype == dns.rdatatype.CNAME), None)
        if cname is None:
            break
        name = next(iter(cname)).target
    addresses = [r.to_text() for rr in response.answer
                 if rr.name == name and rr.rdtype == rdtype for r in rr]
    return name.to_text(omit_final_dot=True), addresses


def make_query(qname: str, rdtype: dns.rdatatype.RdataType | str, recursion: bool = True,
               edns: bool = False) -> dns.message.Message:
    query = (dns.message.make_query(qname, rdtype, use_edns=0, payload=EDNS_PAYLOAD) if edns
             else dns.message.make_query(qname, rdtype))
    if not recursion:
        query.flags &= ~dns.flags.RD
    return query


# --- I/O ----------------------------------------------------------------------------

async def exchange(identity: Identity, query: dns.message.Message, server: str,
                   port: int | None = None, tcp: bool = False, timeout: float = TIMEOUT,
                   attempts: int = ATTEMPTS) -> Exchange:
    """Sends ``query`` from the pod IP and returns the matching answer; a truncated UDP
    answer is asked again over TCP. Raises DnsError."""
    port = DNS_PORT if port is None else port
    started = time.monotonic()
    if not tcp:
        wire = await _udp(identity, query, server, port, timeout, attempts)
        response = _decode(query, wire)
        if response is not None and not response.flags & dns.flags.TC:
            return Exchange(response, len(wire), time.monotonic() - started, False)
    wire = await _tcp(identity, query, server, port, timeout)
    response = _decode(query, wire)
    if response is None:
        raise DnsError("network", "malformed answer")
    return Exchange(response, len(wire), time.monotonic() - started, True)


def _decode(query: dns.message.Message, wire: bytes) -> dns.message.Message | None:
    try:
        response = dns.message.from_wire(wire, ignore_trailing=True)
    except (dns.exception.DNSException, ValueError):
        return None
    return response if query.is_response(response) else None


async def _udp(identity: Identity, query: dns.message.Message, server: str, port: int,
               timeout: float, attempts: int) -> bytes:
    try:
        transport, replies = await net.udp(identity, server, port)
    except net.ConnectError as e:
        raise DnsError("network", e.text) from e
    try:
        for _ in range(attempts):
            transport.sendto(query.to_wire())
            try:
                async with asyncio.timeout(timeout):
                    while True:
                        item = await replies.queue.get()
                        if isinstance(item, ConnectionRefusedError):
                            raise DnsError("refused", "connection refused")
                        if isinstance(item, OSError):
                            raise DnsError("network", item.strerror or str(item))
                        if isinstance(item, bytes) and _decode(query, item) is not None:
                            return item
            except TimeoutError:
                continue
        raise DnsError("timeout", "timed out")
    finally:
        transport.close()


async def _tcp(identity: Identity, query: dns.message.Message, server: str, port: int,
               timeout: float) -> bytes:
    conn = None
    try:
        async with asyncio.timeout(timeout):
            conn = await net.connect(identity, server, port)
            wire = query.to_wire()
            conn.writer.write(struct.pack("!H", len(wire)) + wire)
            (length,) = struct.unpack("!H", await conn.reader.readexactly(2))
            return await conn.reader.readexactly(length)
    except TimeoutError:
        raise DnsError("timeout", "timed out") from None
    except net.ConnectError as e:
        raise DnsError(e.kind if e.kind in ("refused", "timeout") else "network", e.text) from e
    except (OSError, asyncio.IncompleteReadError) as e:
        raise DnsError("network", str(e)) from e
    finally:
        if conn is not None:
            conn.close()


async def resolve(identity: Identity, name: str) -> Resolution:
    """IPv4 addresses for ``name`` as getaddrinfo would find them inside the pod."""
    bare = name[:-1] if name.endswith(".") else name
    if is_ipv4(bare):
        return Resolution((bare,), canonical=bare)
    from_hosts = hosts_addresses(identity.etc_hosts(), bare)
    if from_hosts:
        return Resolution(tuple(from_hosts), canonical=bare)
    if not bare or ".." in bare:
        return Resolution((), "NXDOMAIN")
    conf = identity.resolver
    error = "NXDOMAIN"
    for candidate in search_names(name, conf.search, conf.ndots):
        query = make_query(candidate, dns.rdatatype.A)
        try:
            result = await exchange(identity, query, conf.nameserver)
        except DnsError as e:
            return Resolution((), e.kind)
        rcode = result.response.rcode()
        if rcode == dns.rcode.NOERROR:
            canonical, addresses = answer_addresses(result.response, candidate)
            if not addresses and canonical != candidate.rstrip("."):
                return await _chase(identity, canonical)
            if addresses:
                return Resolution(tuple(addresses), canonical=canonical)
            error = "NODATA" if error == "NXDOMAIN" else error
        elif rcode != dns.rcode.NXDOMAIN:
            error = dns.rcode.to_text(rcode)
    return Resolution((), error)


async def _chase(identity: Identity, name: str, hops: int = 8) -> Resolution:
    """Follows a CNAME whose target the server left out of its answer."""
    for _ in range(hops):
        try:
            result = await exchange(identity, make_query(name + ".", dns.rdatatype.A),
                                    identity.resolver.nameserver)
        except DnsError as e:
            return Resolution((), e.kind)
        if result.response.rcode() != dns.rcode.NOERROR:
            return Resolution((), dns.rcode.to_text(result.response.rcode()))
        canonical, addresses = answer_addresses(result.response, name + ".")
        if addresses or canonical == name:
            return Resolution(tuple(addresses), None if addresses else "NODATA", canonical)
        name = canonical
    return Resolution((), "SERVFAIL")
