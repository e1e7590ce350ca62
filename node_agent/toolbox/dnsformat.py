"""How the DNS tools print answers, without I/O: busybox nslookup's blocks, dig's
sections (BIND's tab-aligned columns, header, footer, +short) and host's sentences.
Every function takes a dnspython message and plain values, and returns text."""

from __future__ import annotations

import ipaddress
from datetime import datetime

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

DIG_VERSION = "9.18.28"
TTL_COLUMN, CLASS_COLUMN, TYPE_COLUMN, RDATA_COLUMN = 24, 32, 40, 48


def reverse_name(address: str) -> str | None:
    """The in-addr.arpa (or ip6.arpa) name of an address, without the final dot."""
    try:
        return ipaddress.ip_address(address).reverse_pointer
    except ValueError:
        return None


def _bare(name: object) -> str:
    return str(name).rstrip(".") or "."


# --- busybox nslookup --------------------------------------------------------------

def nslookup_header(server: str, port: int) -> str:
    return f"Server:\t\t{server}\nAddress:\t{server}:{port}\n\n"


def nslookup_answers(response: dns.message.Message) -> str:
    """The answer records of one reply in busybox's wording (empty for none)."""
    lines: list[str] = []
    for rrset in response.answer:
        owner = _bare(rrset.name)
        for rd in rrset:
            t = rrset.rdtype
            if t in (dns.rdatatype.A, dns.rdatatype.AAAA):
                lines.append(f"Name:\t{owner}\nAddress: {rd.to_text()}\n")
            elif t == dns.rdatatype.CNAME:
                lines.append(f"{owner}\tcanonical name = {_bare(rd.target)}\n")
            elif t == dns.rdatatype.NS:
                lines.append(f"{owner}\tnameserver = {_bare(rd.target)}\n")
            elif t == dns.rdatatype.PTR:
                lines.append(f"{owner}\tname = {_bare(rd.target)}\n")
            elif t == dns.rdatatype.MX:
                lines.append(f"{owner}\tmail exchanger = {rd.preference} {_bare(rd.exchange)}\n")
            elif t == dns.rdatatype.SRV:
                lines.append(f"{owner}\tservice = {rd.priority} {rd.weight} {rd.port} "
                             f"{_bare(rd.target)}\n")
            elif t == dns.rdatatype.TXT:
                text = b"".join(rd.strings).decode(errors="replace")
                lines.append(f'{owner}\ttext = "{text}"\n')
            elif t == dns.rdatatype.SOA:
                lines.append(f"{owner}\n\torigin = {_bare(rd.mname)}\n\tmail addr = "
                             f"{_bare(rd.rname)}\n\tserial = {rd.serial}\n\trefresh = "
                             f"{rd.refresh}\n\tretry = {rd.retry}\n\texpire = {rd.expire}\n"
                             f"\tminimum = {rd.minimum}\n")
    return "".join(lines)


def nslookup_block(response: dns.message.Message) -> str:
    """One reply's block: busybox notes non-authoritative answers, ends with a blank line."""
    answers = nslookup_answers(response)
    if not answers:
        return ""
    note = "" if response.flags & dns.flags.AA else "Non-authoritative answer:\n"
    return note + answers + "\n"


# --- dig ----------------------------------------------------------------------------

def _indent(column: int, to: int) -> tuple[str, int]:
    """BIND's column alignment: tabs to the tab stop below ``to``, then spaces; at
    least one character of separation."""
    to = max(to, column + 1)
    tabs = to // 8 - column // 8
    if tabs > 0:
        return "\t" * tabs + " " * (to - to // 8 * 8), to
    return " " * (to - column), to


def record_line(owner: str, ttl: int | None, rdclass: str, rdtype: str, rdata: str | None,
                question: bool = False) -> str:
    """One line of a dig section. A question has no TTL and no rdata, and its leading
    ";" does not count towards the columns."""
    text, column = owner, len(owner)
    if ttl is not None:
        pad, column = _indent(column, TTL_COLUMN)
        text += pad + str(ttl)
        column += len(str(ttl))
    for value, target in ((rdclass, CLASS_COLUMN), (rdtype, TYPE_COLUMN)):
        pad, column = _indent(column, target)
        text += pad + value
        column += len(value)
    if rdata is not None:
        pad, column = _indent(column, RDATA_COLUMN)
        text += pad + rdata
    return (";" if question else "") + text


def _section(title: str, rrsets: list[dns.rrset.RRset], question: bool = False) -> str:
    lines = []
    for rrset in rrsets:
        rdclass = dns.rdataclass.to_text(rrset.rdclass)
        rdtype = dns.rdatatype.to_text(rrset.rdtype)
        if question:
            lines.append(record_line(rrset.name.to_text(), None, rdclass, rdtype, None, True))
            continue
        for rd in rrset:
            lines.append(record_line(rrset.name.to_text(), rrset.ttl, rdclass, rdtype,
                                     rd.to_text()))
    return f";; {title} SECTION:\n" + "".join(f"{line}\n" for line in lines) + "\n"


def dig_flags(flags: int) -> str:
    names = [(dns.flags.QR, "qr"), (dns.flags.AA, "aa"), (dns.flags.TC, "tc"),
             (dns.flags.RD, "rd"), (dns.flags.RA, "ra"), (dns.flags.AD, "ad"),
             (dns.flags.CD, "cd")]
    return " ".join(name for bit, name in names if flags & bit)


def dig_preamble(args: list[str], server_given: bool) -> str:
    return (f"\n; <<>> DiG {DIG_VERSION} <<>> {' '.join(args)}\n"
            + ("; (1 server found)\n" if server_given else "") + ";; global options: +cmd\n")


def dig_answer(response: dns.message.Message, qname: str, server: str, port: int, tcp: bool,
               elapsed: float, size: int, now: datetime) -> str:
    """Everything dig prints after its preamble for one reply."""
    additional = len(response.additional) + (1 if response.edns >= 0 else 0)
    out = [";; Got answer:\n"]
    if qname.rstrip(".").endswith(".local") or qname.rstrip(".") == "local":
        out.append(";; WARNING: .local is reserved for Multicast DNS\n;; You are currently "
                   "testing what happens when an mDNS query is leaked to DNS\n")
    out.append(f";; ->>HEADER<<- opcode: {dns.opcode.to_text(response.opcode())}, status: "
               f"{dns.rcode.to_text(response.rcode())}, id: {response.id}\n"
               f";; flags: {dig_flags(response.flags)}; QUERY: {len(response.question)}, "
               f"ANSWER: {sum(len(r) for r in response.answer)}, AUTHORITY: "
               f"{sum(len(r) for r in response.authority)}, ADDITIONAL: {additional}\n\n")
    if response.edns >= 0:
        out.append(f";; OPT PSEUDOSECTION:\n; EDNS: version: {response.edns}, flags:; udp: "
                   f"{response.payload}\n")
    out.append(_section("QUESTION", response.question, question=True))
    for title, rrsets in (("ANSWER", response.answer), ("AUTHORITY", response.authority),
                          ("ADDITIONAL", response.additional)):
        if rrsets:
            out.append(_section(title, rrsets))
    out.append(f";; Query time: {int(elapsed * 1000)} msec\n"
               f";; SERVER: {server}#{port}({server}) ({'TCP' if tcp else 'UDP'})\n"
               f";; WHEN: {now.strftime('%a %b %d %H:%M:%S %Z %Y')}\n"
               f";; MSG SIZE  rcvd: {size}\n\n")
    return "".join(out)


def dig_short(response: dns.message.Message) -> str:
    return "".join(f"{rd.to_text()}\n" for rrset in response.answer for rd in rrset)


# --- host ---------------------------------------------------------------------------

def host_lines(response: dns.message.Message) -> str:
    """bind's host(1) sentences for the answers of one reply."""
    lines = []
    for rrset in response.answer:
        owner = _bare(rrset.name)
        for rd in rrset:
            t = rrset.rdtype
            if t == dns.rdatatype.A:
                lines.append(f"{owner} has address {rd.to_text()}")
            elif t == dns.rdatatype.AAAA:
                lines.append(f"{owner} has IPv6 address {rd.to_text()}")
            elif t == dns.rdatatype.CNAME:
                lines.append(f"{owner} is an alias for {rd.target}")
            elif t == dns.rdatatype.MX:
                lines.append(f"{owner} mail is handled by {rd.preference} {rd.exchange}")
            elif t == dns.rdatatype.PTR:
                lines.append(f"{owner} domain name pointer {rd.target}")
            elif t == dns.rdatatype.SRV:
                lines.append(f"{owner} has SRV record {rd.to_text()}")
            elif t == dns.rdatatype.TXT:
                lines.append(f"{owner} descriptive text {rd.to_text()}")
            else:
                lines.append(f"{owner} has {dns.rdatatype.to_text(t)} record {rd.to_text()}")
    return "".join(f"{line}\n" for line in lines)
