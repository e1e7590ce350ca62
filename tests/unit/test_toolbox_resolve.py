"""The pod's stub resolver decisions: which names the search list and ndots make it try,
what /etc/hosts says, and which addresses an answer holds (following CNAMEs)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rrset
import pytest

from node_agent.toolbox.resolve import answer_addresses, hosts_addresses, is_ipv4, make_query, \
    search_names

SEARCH = ("default.svc.cluster.local", "svc.cluster.local", "cluster.local")

# (name, ndots, candidates)
CANDIDATES = [
    ("nginx", 5, ["nginx.default.svc.cluster.local.", "nginx.svc.cluster.local.",
                  "nginx.cluster.local.", "nginx."]),
    ("nginx.other", 5, ["nginx.other.default.svc.cluster.local.",
                        "nginx.other.svc.cluster.local.", "nginx.other.cluster.local.",
                        "nginx.other."]),
    ("example.com", 1, ["example.com.", "example.com.default.svc.cluster.local.",
                        "example.com.svc.cluster.local.", "example.com.cluster.local."]),
    ("nginx.default.svc.cluster.local.", 5, ["nginx.default.svc.cluster.local."]),
]


@pytest.mark.parametrize("name,ndots,candidates", CANDIDATES, ids=[c[0] for c in CANDIDATES])
def test_search_names(name: str, ndots: int, candidates: list[str]) -> None:
    assert search_names(name, SEARCH, ndots) == candidates


def test_search_names_skips_empty_domains() -> None:
    assert search_names("a", ("", ".", "x"), 5) == ["a.x.", "a."]


HOSTS = ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
         "10.244.1.5\tweb-0\n10.1.2.3\tdb.local\tdb  # alias\n10.1.2.4 db\n")


@pytest.mark.parametrize("name,addresses", [
    ("localhost", ["127.0.0.1"]), ("WEB-0", ["10.244.1.5"]), ("db", ["10.1.2.3", "10.1.2.4"]),
    ("db.local.", ["10.1.2.3"]), ("alias", []), ("ip6-localhost", []), ("nope", []),
], ids=["localhost", "case", "two-lines", "trailing-dot", "comment", "ipv6-only", "missing"])
def test_hosts_addresses(name: str, addresses: list[str]) -> None:
    assert hosts_addresses(HOSTS, name) == addresses


def response(qname: str, *records: str) -> dns.message.Message:
    reply = dns.message.make_response(make_query(qname, "A"))
    for record in records:
        name, rdtype, value = record.split()
        reply.answer.append(dns.rrset.from_text(name, 30, "IN", rdtype, value))
    return reply


@pytest.mark.parametrize("reply,qname,canonical,addresses", [
    (response("a.ns.svc.", "a.ns.svc. A 10.0.0.1", "a.ns.svc. A 10.0.0.2"), "a.ns.svc.",
     "a.ns.svc", ["10.0.0.1", "10.0.0.2"]),
    (response("ext.", "ext. CNAME real.example.", "real.example. A 1.2.3.4"), "ext.",
     "real.example", ["1.2.3.4"]),
    (response("loop.", "loop. CNAME loop."), "loop.", "loop", []),
    (response("none."), "none.", "none", []),
    (response("x.", "other. A 9.9.9.9"), "x.", "x", []),
], ids=["two", "cname", "cname-loop", "empty", "unrelated"])
def test_answer_addresses(reply: dns.message.Message, qname: str, canonical: str,
                          addresses: list[str]) -> None:
    assert answer_addresses(reply, qname) == (canonical, addresses)


@pytest.mark.parametrize("text,ok", [
    ("10.0.0.1", True), ("127.244.1.5", True), ("256.1.1.1", False), ("nginx", False),
    ("::1", False), ("", False),
], ids=["ip", "pod", "bad-octet", "name", "ipv6", "empty"])
def test_is_ipv4(text: str, ok: bool) -> None:
    assert is_ipv4(text) is ok


def test_make_query_flags() -> None:
    plain, edns, iterative = (make_query("a.", "A"), make_query("a.", "A", edns=True),
                              make_query("a.", "A", recursion=False))
    assert (plain.edns, edns.edns, edns.payload) == (-1, 0, 1232)
    assert (bool(plain.flags & dns.flags.RD), bool(iterative.flags & dns.flags.RD)) == \
        (True, False)
