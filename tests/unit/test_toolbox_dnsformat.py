"""How the DNS tools print: busybox nslookup blocks, dig's BIND-aligned records, header
and footer, +short, host's sentences, and dig's argument parsing."""

from __future__ import annotations

from datetime import datetime, timezone

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from node_agent.toolbox import dnsformat
from node_agent.toolbox.dnstools import DigOptions, parse_dig
from node_agent.toolbox.resolve import make_query


def reply(qname: str, rdtype: str, records: list[str], authoritative: bool = True,
          edns: bool = False) -> dns.message.Message:
    query = make_query(qname, rdtype, edns=edns)
    query.id = 4242
    response = dns.message.make_response(query)
    if authoritative:
        response.flags |= dns.flags.AA
    for record in records:
        name, kind, value = record.split(" ", 2)
        response.answer.append(dns.rrset.from_text(name, 30, "IN", kind, value))
    return response


SVC = "nginx-app.default.svc.cluster.local."

# (owner, ttl, rdtype, rdata, question, line) — BIND's columns, checked against dig 9.18
RECORDS = [
    (SVC, 30, "A", "10.96.0.20", False,
     "nginx-app.default.svc.cluster.local. 30\tIN A\t10.96.0.20"),
    ("example.com.", 30, "A", "1.2.3.4", False, "example.com.\t\t30\tIN\tA\t1.2.3.4"),
    ("ext.default.svc.cluster.local.", 30, "CNAME", "example.com.", False,
     "ext.default.svc.cluster.local. 30 IN\tCNAME\texample.com."),
    (SVC, None, "A", None, True, ";nginx-app.default.svc.cluster.local. IN\tA"),
    ("nope.example.com.", None, "A", None, True, ";nope.example.com.\t\tIN\tA"),
    ("example.com.", None, "AAAA", None, True, ";example.com.\t\t\tIN\tAAAA"),
    ("20.0.96.10.in-addr.arpa.", None, "PTR", None, True, ";20.0.96.10.in-addr.arpa.\tIN\tPTR"),
]


@pytest.mark.parametrize("owner,ttl,rdtype,rdata,question,line", RECORDS,
                         ids=["long-owner", "short-owner", "cname", "question-long",
                              "question-short", "question-aaaa", "question-ptr"])
def test_record_line(owner: str, ttl: int | None, rdtype: str, rdata: str | None,
                     question: bool, line: str) -> None:
    assert dnsformat.record_line(owner, ttl, "IN", rdtype, rdata, question) == line


# (response, block)
NSLOOKUP = [
    (reply(SVC, "A", [f"{SVC} A 10.96.0.20"]),
     "Name:\tnginx-app.default.svc.cluster.local\nAddress: 10.96.0.20\n\n"),
    (reply("example.com.", "A", ["example.com. A 1.2.3.4"], authoritative=False),
     "Non-authoritative answer:\nName:\texample.com\nAddress: 1.2.3.4\n\n"),
    (reply("ext.", "A", ["ext. CNAME real.", "real. A 1.2.3.4"]),
     "ext\tcanonical name = real\nName:\treal\nAddress: 1.2.3.4\n\n"),
    (reply("5.1.244.10.in-addr.arpa.", "PTR", ["5.1.244.10.in-addr.arpa. PTR web.ns.svc."]),
     "5.1.244.10.in-addr.arpa\tname = web.ns.svc\n\n"),
    (reply("_http._tcp.web.", "SRV", ["_http._tcp.web. SRV 0 100 80 web.ns.svc."]),
     "_http._tcp.web\tservice = 0 100 80 web.ns.svc\n\n"),
    (reply("m.", "MX", ["m. MX 10 mail.m."]), "m\tmail exchanger = 10 mail.m\n\n"),
    (reply("t.", "TXT", ['t. TXT "hello"']), 't\ttext = "hello"\n\n'),
    (reply("z.", "SOA", ["z. SOA ns.z. host.z. 1 2 3 4 5"]),
     "z\n\torigin = ns.z\n\tmail addr = host.z\n\tserial = 1\n\trefresh = 2\n\tretry = 3\n"
     "\texpire = 4\n\tminimum = 5\n\n"),
    (reply(SVC, "AAAA", []), ""),
]


@pytest.mark.parametrize("response,block", NSLOOKUP,
                         ids=["service", "non-authoritative", "cname", "ptr", "srv", "mx",
                              "txt", "soa", "nodata"])
def test_nslookup_block(response: dns.message.Message, block: str) -> None:
    assert dnsformat.nslookup_block(response) == block


def test_nslookup_header() -> None:
    assert dnsformat.nslookup_header("10.96.0.10", 53) == \
        "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n"


def test_dig_answer() -> None:
    response = reply(SVC, "A", [f"{SVC} A 10.96.0.20"], edns=True)
    response.use_edns(0, payload=1232)
    response.flags |= dns.flags.RA
    text = dnsformat.dig_answer(response, SVC, "10.96.0.10", 53, False, 0.0012, 81,
                                datetime(2026, 11, 2, 8, 13, 53, tzinfo=timezone.utc))
    assert text == (
        ";; Got answer:\n"
        ";; WARNING: .local is reserved for Multicast DNS\n"
        ";; You are currently testing what happens when an mDNS query is leaked to DNS\n"
        ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4242\n"
        ";; flags: qr aa rd ra; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1\n\n"
        ";; OPT PSEUDOSECTION:\n; EDNS: version: 0, flags:; udp: 1232\n"
        ";; QUESTION SECTION:\n;nginx-app.default.svc.cluster.local. IN\tA\n\n"
        ";; ANSWER SECTION:\nnginx-app.default.svc.cluster.local. 30\tIN A\t10.96.0.20\n\n"
        ";; Query time: 1 msec\n;; SERVER: 10.96.0.10#53(10.96.0.10) (UDP)\n"
        ";; WHEN: Mon Nov 02 08:13:53 UTC 2026\n;; MSG SIZE  rcvd: 81\n\n")


def test_dig_answer_nxdomain_over_tcp() -> None:
    response = reply("nope.example.", "A", [])
    response.set_rcode(dns.rcode.NXDOMAIN)
    text = dnsformat.dig_answer(response, "nope.example.", "10.0.0.10", 5353, True, 0, 30,
                                datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert "status: NXDOMAIN" in text and "ANSWER SECTION" not in text
    assert ";; SERVER: 10.0.0.10#5353(10.0.0.10) (TCP)\n" in text
    assert "WARNING" not in text


def test_dig_preamble() -> None:
    assert dnsformat.dig_preamble(["@10.0.0.10", "a"], True) == \
        "\n; <<>> DiG 9.18.28 <<>> @10.0.0.10 a\n; (1 server found)\n;; global options: +cmd\n"
    assert "(1 server found)" not in dnsformat.dig_preamble(["a"], False)


def test_dig_short() -> None:
    assert dnsformat.dig_short(reply("ext.", "A", ["ext. CNAME real.", "real. A 1.2.3.4"])) == \
        "real.\n1.2.3.4\n"


@pytest.mark.parametrize("response,lines", [
    (reply(SVC, "A", [f"{SVC} A 10.96.0.20"]),
     "nginx-app.default.svc.cluster.local has address 10.96.0.20\n"),
    (reply("ext.", "A", ["ext. CNAME real.", "real. A 1.2.3.4"]),
     "ext is an alias for real.\nreal has address 1.2.3.4\n"),
    (reply("m.", "MX", ["m. MX 10 mail.m."]), "m mail is handled by 10 mail.m.\n"),
    (reply("v6.", "AAAA", ["v6. AAAA ::1"]), "v6 has IPv6 address ::1\n"),
    (reply("5.1.244.10.in-addr.arpa.", "PTR", ["5.1.244.10.in-addr.arpa. PTR web.ns.svc."]),
     "5.1.244.10.in-addr.arpa domain name pointer web.ns.svc.\n"),
], ids=["a", "cname", "mx", "aaaa", "ptr"])
def test_host_lines(response: dns.message.Message, lines: str) -> None:
    assert dnsformat.host_lines(response) == lines


@pytest.mark.parametrize("address,name", [
    ("10.244.1.5", "5.1.244.10.in-addr.arpa"), ("::1", "1." + "0." * 31 + "ip6.arpa"),
    ("nginx", None),
], ids=["v4", "v6", "name"])
def test_reverse_name(address: str, name: str | None) -> None:
    assert dnsformat.reverse_name(address) == name


# (args, fields)
DIG_ARGS = [
    (["nginx"], {"name": "nginx", "rdtype": "A", "server": "", "short": False}),
    (["@10.0.0.10", "-p", "5353", "a.b", "AAAA"],
     {"server": "10.0.0.10", "port": 5353, "name": "a.b", "rdtype": "AAAA"}),
    (["-t", "srv", "_x._tcp.svc", "+short", "+tcp"], {"rdtype": "SRV", "short": True,
                                                      "tcp": True}),
    (["-x", "10.244.1.5"], {"name": "5.1.244.10.in-addr.arpa.", "rdtype": "PTR"}),
    (["+search", "+time=1", "+tries=2", "web", "IN", "A"], {"search": True, "timeout": 1.0,
                                                            "tries": 2}),
    (["+norecurse", "+noall", "+answer", "x"], {"recurse": False, "name": "x"}),
    ([], {"name": ".", "rdtype": "NS"}),
]


@pytest.mark.parametrize("args,fields", DIG_ARGS, ids=[" ".join(a[0]) or "none" for a in DIG_ARGS])
def test_parse_dig(args: list[str], fields: dict[str, object]) -> None:
    options = parse_dig(args)
    assert isinstance(options, DigOptions)
    assert {k: getattr(options, k) for k in fields} == fields


@pytest.mark.parametrize("args,message", [
    (["+frob", "x"], "Invalid option: +frob"), (["-p"], "option requires an argument -- 'p'"),
    (["-p", "x", "a"], "invalid port number 'x'"), (["a", "A", "extra"], "Invalid option: extra"),
], ids=["plus", "missing", "port", "extra"])
def test_parse_dig_errors(args: list[str], message: str) -> None:
    assert parse_dig(args) == message
