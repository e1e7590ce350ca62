"""The DNS tools: busybox nslookup, BIND's dig and host. They query the pod's nameserver
(or the one named on the command line) from the pod IP with resolve.exchange and print
through dnsformat. nslookup and host walk the resolv.conf search list as the pod's libc
does; dig asks exactly the name it is given, as dig does by default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import dns.message
import dns.rcode
import dns.rdatatype

from node_agent.toolbox import dnsformat
from node_agent.toolbox.process import Proc, parse_seconds
from node_agent.toolbox import resolve
from node_agent.toolbox.resolve import DnsError, Exchange, exchange, make_query, search_names

NSLOOKUP_USAGE = ("Usage: nslookup [-type=QUERY_TYPE] [-debug] HOST [DNS_SERVER]\n\n"
                  "Query DNS about HOST\n\n"
                  "QUERY_TYPE: soa,ns,a,aaaa,cname,mx,txt,ptr,srv,any\n")
NSLOOKUP_TYPES = ("SOA", "NS", "A", "AAAA", "CNAME", "MX", "TXT", "PTR", "SRV", "ANY")


@dataclass
class _Search:
    """The outcome of walking the search list for one query type."""

    exchange: Exchange | None = None  # the reply that had answers (or the last one)
    name: str = ""  # the name that answered
    rcode: dns.rcode.Rcode = dns.rcode.NXDOMAIN


async def _search(proc: Proc, names: list[str], rdtype: dns.rdatatype.RdataType, server: str,
                  port: int, timeout: float) -> _Search:
    """Asks each name in turn until one has answers: NXDOMAIN and empty answers move
    on, as the resolver does. Raises DnsError when the server cannot be reached."""
    found = _Search()
    for name in names:
        result = await exchange(proc.identity, make_query(name, rdtype), server, port,
                                timeout=timeout)
        rcode = result.response.rcode()
        if rcode == dns.rcode.NOERROR and result.response.answer:
            return _Search(result, name, rcode)
        if found.exchange is None or rcode != dns.rcode.NXDOMAIN:
            found = _Search(result, name, rcode)
    return found


# --- nslookup -----------------------------------------------------------------------

async def nslookup(argv: list[str], proc: Proc) -> int:
    args = argv[1:]
    types: list[str] = []
    port, timeout = resolve.DNS_PORT, 5.0
    while args and args[0].startswith("-") and len(args[0]) > 1:
        key, _, value = args.pop(0)[1:].partition("=")
        if key in ("type", "querytype", "query", "q", "ty"):
            if value.upper() not in NSLOOKUP_TYPES:
                return await proc.fail(f'invalid query type "{value}"')
            types.append(value.upper())
        elif key in ("port", "po") and value.isdigit():
            port = int(value)
        elif key in ("timeout", "t") and parse_seconds(value):
            timeout = parse_seconds(value) or timeout
        elif key not in ("debug", "retry", "ret"):
            await proc.err(NSLOOKUP_USAGE)
            return 1
    if not args or len(args) > 2:
        await proc.err(NSLOOKUP_USAGE)
        return 1
    name = args[0]
    server = args[1] if len(args) > 1 else proc.identity.resolver.nameserver
    reverse = dnsformat.reverse_name(name)
    explicit = bool(types)
    if not types:
        types = ["PTR"] if reverse else ["A", "AAAA"]
    conf = proc.identity.resolver
    names = [reverse + "."] if reverse else search_names(name, conf.search, conf.ndots)
    out: list[str] = []
    status = 0
    try:
        for qtype in types:
            found = await _search(proc, names, dns.rdatatype.from_text(qtype), server, port,
                                  timeout)
            if found.name:
                names = [found.name]  # the other types ask the name that answered
            assert found.exchange is not None
            if found.rcode == dns.rcode.NOERROR:
                block = dnsformat.nslookup_block(found.exchange.response)
                if not block and len(types) == 1:
                    block = f"*** Can't find {name}: No answer\n\n"
                out.append(block)
            elif not status and (qtype == types[0] or explicit):
                # the AAAA of a name whose A answered is a bonus, its failure no news
                out.append(f"** server can't find {name}: {dns.rcode.to_text(found.rcode)}\n\n")
                status = 1
    except DnsError:
        await proc.out(";; connection timed out; no servers could be reached\n\n")
        return 1
    await proc.out(dnsformat.nslookup_header(server, port) + "".join(out))
    return status


# --- dig ----------------------------------------------------------------------------

DIG_USAGE = ("Usage:  dig [@global-server] [domain] [q-type] [q-class] {q-opt}\n"
             "            {global-d-opt} host [@local-server] {local-d-opt}\n"
             "            [ host [@local-server] {local-d-opt} [...]]\n")


@dataclass
class DigOptions:
    name: str = ""
    rdtype: str = ""
    server: str = ""
    port: int | None = None  # the standard port
    short: bool = False
    tcp: bool = False
    search: bool = False
    recurse: bool = True
    timeout: float = 5.0
    tries: int = 3


def parse_dig(args: list[str]) -> DigOptions | str:
    """dig's arguments, or an error message."""
    o = DigOptions()
    words = list(args)
    while words:
        word = words.pop(0)
        if word.startswith("@"):
            o.server = word[1:]
        elif word in ("-p", "-t", "-c", "-x", "-q"):
            if not words:
                return f"option requires an argument -- '{word[1]}'"
            value = words.pop(0)
            if word == "-p":
                if not value.isdigit():
                    return f"invalid port number '{value}'"
                o.port = int(value)
            elif word == "-t":
                o.rdtype = value.upper()
            elif word == "-x":
                o.name, o.rdtype = (dnsformat.reverse_name(value) or value) + ".", "PTR"
            elif word == "-q":
                o.name = value
        elif word.startswith("+"):
            flag, _, value = word[1:].partition("=")
            negated = flag.startswith("no")
            base = flag[2:] if negated else flag
            if base == "short":
                o.short = not negated
            elif base in ("tcp", "vc"):
                o.tcp = not negated
            elif base == "search":
                o.search = not negated
            elif base in ("recurse", "rec"):
                o.recurse = not negated
            elif base in ("time", "timeout") and parse_seconds(value):
                o.timeout = parse_seconds(value) or o.timeout
            elif base in ("tries", "retry") and value.isdigit():
                o.tries = max(int(value) + (base == "retry"), 1)
            elif base not in ("all", "answer", "cmd", "comments", "stats", "question",
                              "authority", "additional", "cookie", "edns", "nssearch"):
                return f"Invalid option: {word}"
        elif word.upper() == "IN":
            continue
        elif o.name and not o.rdtype and word.upper() in dns.rdatatype.RdataType.__members__:
            o.rdtype = word.upper()
        elif not o.name:
            o.name = word
        else:
            return f"Invalid option: {word}"
    o.rdtype = o.rdtype or ("NS" if not o.name else "A")
    o.name = o.name or "."
    return o


async def dig(argv: list[str], proc: Proc) -> int:
    o = parse_dig(argv[1:])
    if isinstance(o, str):
        await proc.err(f"{o}\n{DIG_USAGE}")
        return 1
    server = o.server or proc.identity.resolver.nameserver
    port = resolve.DNS_PORT if o.port is None else o.port
    conf = proc.identity.resolver
    names = search_names(o.name, conf.search, conf.ndots) if o.search else \
        [o.name if o.name.endswith(".") else o.name + "."]
    preamble = "" if o.short else dnsformat.dig_preamble(argv[1:], bool(o.server))
    rdtype = dns.rdatatype.from_text(o.rdtype)
    result = None
    for name in names:
        query = make_query(name, rdtype, recursion=o.recurse, edns=True)
        try:
            result = await exchange(proc.identity, query, server, port, o.tcp, o.timeout,
                                    attempts=o.tries)
        except DnsError as e:
            reason = "connection refused" if e.kind == "refused" else "timed out"
            await proc.out(f";; communications error to {server}#{port}: {reason}\n" * o.tries
                           + preamble + ";; no servers could be reached\n")
            return 9
        if result.response.rcode() != dns.rcode.NXDOMAIN:
            break
    assert result is not None
    if o.short:
        await proc.out(dnsformat.dig_short(result.response))
    else:
        await proc.out(preamble + dnsformat.dig_answer(
            result.response, name, server, port, result.tcp, result.elapsed, result.size,
            datetime.now(timezone.utc)))
    return 0


# --- host ---------------------------------------------------------------------------

async def host(argv: list[str], proc: Proc) -> int:
    args = argv[1:]
    rdtypes: list[str] = []
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt == "-t" and args:
            rdtypes.append(args.pop(0).upper())
        elif opt not in ("-v", "-a", "-4"):
            return await proc.fail(f"invalid option: {opt}")
    if not args or len(args) > 2:
        await proc.err("Usage: host [-t type] hostname [server]\n")
        return 1
    name = args[0]
    server = args[1] if len(args) > 1 else proc.identity.resolver.nameserver
    reverse = dnsformat.reverse_name(name)
    conf = proc.identity.resolver
    names = [reverse + "."] if reverse else search_names(name, conf.search, conf.ndots)
    rdtypes = rdtypes or (["PTR"] if reverse else ["A", "AAAA", "MX"])
    out = []
    if len(args) > 1:
        out.append(f"Using domain server:\nName: {server}\nAddress: {server}#{resolve.DNS_PORT}\n"
                   "Aliases: \n\n")
    try:
        for index, qtype in enumerate(rdtypes):
            found = await _search(proc, names, dns.rdatatype.from_text(qtype), server,
                                  resolve.DNS_PORT, 5.0)
            assert found.exchange is not None
            if found.rcode != dns.rcode.NOERROR:
                shown = (reverse + ".") if reverse else name
                code = dns.rcode.to_text(found.rcode)
                await proc.out("".join(out) + f"Host {shown} not found: {found.rcode}({code})\n")
                return 1
            names = [found.name]
            text = dnsformat.host_lines(found.exchange.response)
            if index and text.startswith(found.name.rstrip(".") + " is an alias"):
                text = "".join(line + "\n" for line in text.splitlines()
                               if " is an alias for " not in line)  # said once, for A
            out.append(text)
    except DnsError:
        await proc.out(";; connection timed out; no servers could be reached\n")
        return 1
    await proc.out("".join(out))
    return 0


COMMANDS = {"nslookup": nslookup, "dig": dig, "host": host}
