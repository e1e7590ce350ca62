"""(qname, qtype) -> rcode, answers: the cluster zone as the Kubernetes DNS specification
and CoreDNS's kubernetes plugin (pods insecure) serve it, static hosts, reverse names."""

from __future__ import annotations

import pytest

from node_agent.dns.lookup import Outcome, lookup
from node_agent.dns.records import NOERROR, NXDOMAIN, REFUSED, TYPE_NUMBERS, name
from node_agent.dns.settings import Settings
from node_agent.dns.zone import ENDPOINT_SLICES, NAMESPACES, SERVICES, Zone

SERIAL = 1499347823
SOA = ("cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. "
       f"{SERIAL} 7200 1800 86400 5")
REVERSE_SOA = ("127.in-addr.arpa. 5 IN SOA ns.dns.127.in-addr.arpa. hostmaster.127.in-addr.arpa. "
               f"{SERIAL} 7200 1800 86400 5")


def service(ns: str, svc: str, cluster_ip: str | list[str] | None = None,
            ports: list[dict] | None = None, **spec: object) -> dict:
    body: dict = {"ports": ports or [], **spec}
    if isinstance(cluster_ip, list):
        body["clusterIPs"] = cluster_ip
        body["clusterIP"] = cluster_ip[0]
    elif cluster_ip is not None:
        body["clusterIP"] = cluster_ip
    return {"metadata": {"name": svc, "namespace": ns}, "spec": body}


def endpoint_slice(ns: str, svc: str, endpoints: list[dict], ports: list[dict] | None = None,
                   suffix: str = "x") -> dict:
    return {"metadata": {"name": f"{svc}-{suffix}", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports}


def ep(ip: str, hostname: str | None = None, ready: bool | None = True) -> dict:
    out: dict = {"addresses": [ip], "conditions": {"ready": ready}}
    if hostname:
        out["hostname"] = hostname
    return out


HTTP = {"name": "http", "port": 80, "protocol": "TCP"}


def cluster() -> Zone:
    zone = Zone()
    for obj in [
        service("default", "kubernetes", "127.96.0.1", [{"name": "https", "port": 443}]),
        service("testns", "svc1", "127.96.0.11",
                [HTTP, {"name": "dns", "port": 53, "protocol": "UDP"}, {"port": 8080}]),
        service("testns", "svc6", ["127.96.0.16", "fd00::16"], [HTTP]),
        service("testns", "hdls1", "None", [HTTP]),
        service("testns", "hdlsprtls", "None"),
        service("testns", "hdlsempty", "None", [HTTP]),
        service("testns", "hdlspub", "None", [HTTP], publishNotReadyAddresses=True),
        service("testns", "external", type="ExternalName", externalName="ext.interwebs.test"),
        service("testns", "external-to-service", type="ExternalName",
                externalName="svc1.testns.svc.cluster.local."),
        service("testns", "extip", type="ExternalName", externalName="1.2.3.4"),
    ]:
        zone.update(SERVICES, obj)
    for obj in [
        endpoint_slice("testns", "hdls1", [
            ep("127.244.1.2"), ep("127.244.1.3"), ep("127.244.1.4", "dup-name"),
            ep("127.244.1.5", "dup-name"), ep("127.244.1.6", ready=False)], [HTTP]),
        endpoint_slice("testns", "svc1", [ep("127.244.1.7", "web-0")], [HTTP]),
        endpoint_slice("testns", "hdlsprtls", [ep("127.244.1.20")]),
        endpoint_slice("testns", "hdlsempty", [ep("127.244.1.21", ready=False)], [HTTP]),
        endpoint_slice("testns", "hdlspub", [ep("127.244.1.30", ready=False)], [HTTP]),
    ]:
        zone.update(ENDPOINT_SLICES, obj)
    zone.update(NAMESPACES, {"metadata": {"name": "emptyns"}})
    zone.serial = SERIAL
    return zone


SETTINGS = Settings.of("cluster.local", "127.96.0.10", {"test.local": ["127.200.0.1"]})
ZONE = cluster()

NODATA: tuple = (NOERROR, [], [SOA])
NX: tuple = (NXDOMAIN, [], [SOA])


def a(owner: str, *ips: str) -> list[str]:
    return [f"{owner}. 5 IN {'AAAA' if ':' in ip else 'A'} {ip}" for ip in ips]


def srv(owner: str, weight: int, *targets: tuple[int, str]) -> list[str]:
    return [f"{owner}. 5 IN SRV 0 {weight} {port} {target}." for port, target in targets]


def ask(qname: str, qtype: str) -> Outcome:
    return lookup(ZONE, SETTINGS, name(qname), TYPE_NUMBERS[qtype])


SVC1 = "svc1.testns.svc.cluster.local"
HDLS1 = "hdls1.testns.svc.cluster.local"

CASES = [
    # ClusterIP Services
    ("kubernetes.default.svc.cluster.local", "A", NOERROR,
     a("kubernetes.default.svc.cluster.local", "127.96.0.1"), []),
    (SVC1, "A", NOERROR, a(SVC1, "127.96.0.11"), []),
    (SVC1, "AAAA", *NODATA),
    (SVC1, "MX", *NODATA),
    (SVC1, "SRV", NOERROR, srv(SVC1, 33, (80, SVC1), (53, SVC1), (8080, SVC1)), []),
    (f"_http._tcp.{SVC1}", "SRV", NOERROR, srv(f"_http._tcp.{SVC1}", 100, (80, SVC1)), []),
    (f"_dns._udp.{SVC1}", "SRV", NOERROR, srv(f"_dns._udp.{SVC1}", 100, (53, SVC1)), []),
    (f"_http._udp.{SVC1}", "SRV", *NX),
    (f"_nope._tcp.{SVC1}", "SRV", *NX),
    (f"http.tcp.{SVC1}", "SRV", *NX),
    (f"_http._tcp.{SVC1}", "A", *NODATA),
    (f"_tcp.{SVC1}", "A", *NODATA),
    (f"_sctp.{SVC1}", "A", *NX),
    (f"web-0.{SVC1}", "A", NOERROR, a(f"web-0.{SVC1}", "127.244.1.7"), []),
    (f"a.b.c.{SVC1}", "A", *NX),
    ("svc6.testns.svc.cluster.local", "A", NOERROR,
     a("svc6.testns.svc.cluster.local", "127.96.0.16"), []),
    ("svc6.testns.svc.cluster.local", "AAAA", NOERROR,
     a("svc6.testns.svc.cluster.local", "fd00::16"), []),
    # headless Services: ready endpoints only, NXDOMAIN when none
    (HDLS1, "A", NOERROR,
     a(HDLS1, "127.244.1.2", "127.244.1.3", "127.244.1.4", "127.244.1.5"), []),
    (HDLS1, "AAAA", *NODATA),
    (f"_http._tcp.{HDLS1}", "SRV", NOERROR,
     srv(f"_http._tcp.{HDLS1}", 33, (80, f"127-244-1-2.{HDLS1}"), (80, f"127-244-1-3.{HDLS1}"),
         (80, f"dup-name.{HDLS1}")), []),
    (f"dup-name.{HDLS1}", "A", NOERROR, a(f"dup-name.{HDLS1}", "127.244.1.4", "127.244.1.5"),
     []),
    (f"127-244-1-3.{HDLS1}", "A", NOERROR, a(f"127-244-1-3.{HDLS1}", "127.244.1.3"), []),
    (f"127-244-1-3.{HDLS1}", "TXT", *NODATA),
    (f"127-244-1-6.{HDLS1}", "A", *NX),
    (f"bogusendpoint.{HDLS1}", "A", *NX),
    ("hdlsprtls.testns.svc.cluster.local", "A", NOERROR,
     a("hdlsprtls.testns.svc.cluster.local", "127.244.1.20"), []),
    ("hdlsprtls.testns.svc.cluster.local", "SRV", *NODATA),
    ("127-244-1-20.hdlsprtls.testns.svc.cluster.local", "A", NOERROR,
     a("127-244-1-20.hdlsprtls.testns.svc.cluster.local", "127.244.1.20"), []),
    ("hdlsempty.testns.svc.cluster.local", "A", *NX),
    ("_http._tcp.hdlsempty.testns.svc.cluster.local", "SRV", *NX),
    ("hdlspub.testns.svc.cluster.local", "A", NOERROR,
     a("hdlspub.testns.svc.cluster.local", "127.244.1.30"), []),
    # ExternalName
    ("external.testns.svc.cluster.local", "CNAME", NOERROR,
     ["external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test."], []),
    ("external-to-service.testns.svc.cluster.local", "A", NOERROR,
     ["external-to-service.testns.svc.cluster.local. 5 IN CNAME svc1.testns.svc.cluster.local.",
      *a(SVC1, "127.96.0.11")], []),
    ("external-to-service.testns.svc.cluster.local", "AAAA", NOERROR,
     ["external-to-service.testns.svc.cluster.local. 5 IN CNAME svc1.testns.svc.cluster.local."],
     [SOA]),
    ("endpoint.external.testns.svc.cluster.local", "CNAME", *NX),
    ("extip.testns.svc.cluster.local", "A", *NX),
    # names that do not exist, and names that exist without records (NODATA)
    ("svc0.testns.svc.cluster.local", "A", *NX),
    ("svc0.testns.svc.cluster.local", "AAAA", *NX),
    ("svc0.svc-nons.svc.cluster.local", "A", *NX),
    ("testns.svc.cluster.local", "A", *NODATA),
    ("emptyns.svc.cluster.local", "A", *NODATA),
    ("nons.svc.cluster.local", "A", *NX),
    ("svc.cluster.local", "A", *NODATA),
    ("svc.cluster.local", "NS", *NODATA),
    ("pod.cluster.local", "A", *NODATA),
    ("foo.cluster.local", "NS", *NX),
    ("foo.svc.cluster.local", "NS", *NX),
    ("cluster.local", "A", *NODATA),
    ("cluster.local", "SOA", NOERROR, [SOA], []),
    ("cluster.local", "NS", NOERROR, ["cluster.local. 5 IN NS ns.dns.cluster.local."], []),
    ("ns.dns.cluster.local", "A", NOERROR, a("ns.dns.cluster.local", "127.96.0.10"), []),
    ("dns-version.cluster.local", "TXT", NOERROR,
     ["dns-version.cluster.local. 28800 IN TXT 1.1.0"], []),
    ("dns-version.cluster.local", "A", *NODATA),
    # pods insecure
    ("127-244-1-9.testns.pod.cluster.local", "A", NOERROR,
     a("127-244-1-9.testns.pod.cluster.local", "127.244.1.9"), []),
    ("127-244-1-9.testns.pod.cluster.local", "AAAA", *NODATA),
    ("fd00--1.testns.pod.cluster.local", "AAAA", NOERROR,
     a("fd00--1.testns.pod.cluster.local", "fd00::1"), []),
    ("1-2-3-4.emptyns.pod.cluster.local", "A", NOERROR,
     a("1-2-3-4.emptyns.pod.cluster.local", "1.2.3.4"), []),
    ("1-2-3-4.nons.pod.cluster.local", "A", *NX),
    ("not-an-ip.testns.pod.cluster.local", "A", *NX),
    ("1-2-3-400.testns.pod.cluster.local", "A", *NX),
    ("fe80--1%eth0.testns.pod.cluster.local", "AAAA", *NX),
    ("001-2-3-4.testns.pod.cluster.local", "A", *NX),
    ("x.1-2-3-4.testns.pod.cluster.local", "A", *NX),
    ("testns.pod.cluster.local", "A", *NODATA),
    # reverse: cluster IPs first, then ready endpoints; unknown 127/8 is NXDOMAIN here
    ("11.0.96.127.in-addr.arpa", "PTR", NOERROR,
     [f"11.0.96.127.in-addr.arpa. 5 IN PTR {SVC1}."], []),
    ("3.1.244.127.in-addr.arpa", "PTR", NOERROR,
     [f"3.1.244.127.in-addr.arpa. 5 IN PTR 127-244-1-3.{HDLS1}."], []),
    ("4.1.244.127.in-addr.arpa", "PTR", NOERROR,
     [f"4.1.244.127.in-addr.arpa. 5 IN PTR dup-name.{HDLS1}."], []),
    ("6.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", "PTR", NOERROR,
     ["6.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 5 IN PTR "
      "svc6.testns.svc.cluster.local."], []),
    ("1.0.200.127.in-addr.arpa", "PTR", NOERROR,
     ["1.0.200.127.in-addr.arpa. 5 IN PTR test.local."], []),
    ("11.0.96.127.in-addr.arpa", "A", NOERROR, [], [REVERSE_SOA]),
    ("6.1.244.127.in-addr.arpa", "PTR", NXDOMAIN, [], [REVERSE_SOA]),
    ("99.99.99.127.in-addr.arpa", "PTR", NXDOMAIN, [], [REVERSE_SOA]),
    ("96.127.in-addr.arpa", "PTR", NOERROR, [], [REVERSE_SOA]),
    ("127.in-addr.arpa", "SOA", NOERROR, [REVERSE_SOA], []),
    # static hosts
    ("test.local", "A", NOERROR, ["test.local. 3600 IN A 127.200.0.1"], []),
    ("test.local", "AAAA", NOERROR, [], []),
    # no zone transfers
    ("cluster.local", "AXFR", REFUSED, [], []),
]


@pytest.mark.parametrize("qname,qtype,rcode,answer,authority", CASES,
                         ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_lookup(qname: str, qtype: str, rcode: int, answer: list[str],
                authority: list[str]) -> None:
    out = ask(qname, qtype)
    assert not out.forward and out.chase is None
    assert (out.rcode, [r.text() for r in out.answer], [r.text() for r in out.authority]) == \
        (rcode, answer, authority)
    assert out.authoritative == (rcode != REFUSED)


ADDITIONAL = [
    (f"_http._tcp.{SVC1}", "SRV", a(SVC1, "127.96.0.11")),
    ("svc6.testns.svc.cluster.local", "SRV",
     a("svc6.testns.svc.cluster.local", "127.96.0.16", "fd00::16")),
    (f"_http._tcp.{HDLS1}", "SRV",
     a(f"127-244-1-2.{HDLS1}", "127.244.1.2") + a(f"127-244-1-3.{HDLS1}", "127.244.1.3")
     + a(f"dup-name.{HDLS1}", "127.244.1.4", "127.244.1.5")),
    ("cluster.local", "NS", a("ns.dns.cluster.local", "127.96.0.10")),
]


@pytest.mark.parametrize("qname,qtype,additional", ADDITIONAL,
                         ids=[f"{c[0]} {c[1]}" for c in ADDITIONAL])
def test_additional_section_holds_the_targets_addresses(qname: str, qtype: str,
                                                        additional: list[str]) -> None:
    assert [r.text() for r in ask(qname, qtype).additional] == additional


GOES_UPSTREAM = [
    ("google.com", "A", None),
    ("com", "NS", None),
    ("1.0.0.10.in-addr.arpa", "PTR", None),
    ("external.testns.svc.cluster.local", "A", "ext.interwebs.test."),
    ("external.testns.svc.cluster.local", "MX", "ext.interwebs.test."),
]


@pytest.mark.parametrize("qname,qtype,chase", GOES_UPSTREAM,
                         ids=[f"{c[0]} {c[1]}" for c in GOES_UPSTREAM])
def test_names_only_upstream_knows(qname: str, qtype: str, chase: str | None) -> None:
    out = ask(qname, qtype)
    assert not out.cacheable
    if chase is None:
        assert out.forward and not out.answer
    else:
        assert [r.text() for r in out.answer] == \
            [f"{qname}. 5 IN CNAME {chase}"] and out.chase == name(chase)


def test_alias_loops_stop() -> None:
    zone = Zone()
    zone.update(SERVICES, service("ns", "a", type="ExternalName",
                                  externalName="b.ns.svc.cluster.local"))
    zone.update(SERVICES, service("ns", "b", type="ExternalName",
                                  externalName="a.ns.svc.cluster.local"))
    out = lookup(zone, SETTINGS, name("a.ns.svc.cluster.local"), TYPE_NUMBERS["A"])
    assert out.cacheable and len(out.answer) == 9
    assert all(r.rtype == TYPE_NUMBERS["CNAME"] for r in out.answer)


def test_other_cluster_domain() -> None:
    settings = Settings.of("k8s.example", "127.96.0.10")
    assert lookup(ZONE, settings, name(f"{SVC1[:-len('cluster.local')]}k8s.example"),
                  TYPE_NUMBERS["A"]).answer[0].text() == "svc1.testns.svc.k8s.example. 5 IN A " \
                                                         "127.96.0.11"
    assert lookup(ZONE, settings, name(SVC1), TYPE_NUMBERS["A"]).forward
