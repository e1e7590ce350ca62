"""The enforcement decisions that need no socket: DNS queries judged as connections to the
kube-dns endpoints (which endpoint decides, the Service IP standing in without one, the
per-client cache and what empties it), the deny action at the toolbox's connects, and
where a Service port sends a connection (the DNS side's kube-dns targets)."""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.netpol import PolicyIndex
from kubeloop.netpol.index import NAMESPACES, PODS, POLICIES
from node_agent.dns.zone import ENDPOINT_SLICES, SERVICES, Zone
from node_agent.enforcement import DnsPolicy, Enforcer
from tests.unit.test_netpol_matrix import match, namespace_object, netpol, pod_object

SERVICE_CIDR = "127.96.0.0/16"
DNS_IP = "127.96.0.10"
COREDNS, COREDNS_2 = "127.244.1.50", "127.244.2.50"
CLIENT, OTHER = "127.244.1.11", "127.244.2.11"  # x/a and x/b
HOST = "127.0.0.1"

DNS_PORTS = [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
             {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}]
TO_KUBE_DNS = {"namespaceSelector": match(**{"kubernetes.io/metadata.name": "kube-system"}),
               "podSelector": match(**{"k8s-app": "kube-dns"})}
UDP_53 = {"port": 53, "protocol": "UDP"}
TCP_53 = {"port": 53, "protocol": "TCP"}

DENY_EGRESS = netpol("deny-egress", match(pod="a"), types=["Egress"])
ALLOW_DNS = netpol("allow-dns", match(pod="a"), types=["Egress"],
                   egress=[{"to": [TO_KUBE_DNS], "ports": [UDP_53, TCP_53]}])
ALLOW_DNS_UDP = netpol("allow-dns", match(pod="a"), types=["Egress"],
                       egress=[{"to": [TO_KUBE_DNS], "ports": [UDP_53]}])
ALLOW_SERVICE_IP = netpol("allow-dns-ip", match(pod="a"), types=["Egress"],
                          egress=[{"to": [{"ipBlock": {"cidr": f"{DNS_IP}/32"}}]}])
ALLOW_SECOND_COREDNS = netpol("allow-coredns-2", match(pod="a"), types=["Egress"],
                              egress=[{"to": [{"namespaceSelector": {}, "podSelector": match(
                                  replica="2")}]}])
COREDNS_DENY_INGRESS = netpol("deny-ingress", {}, namespace="kube-system", types=["Ingress"])


def coredns(name: str, ip: str, **labels: str) -> dict:
    pod = pod_object("kube-system", name, {"k8s-app": "kube-dns", **labels}, ip=ip)
    pod["spec"]["containers"][0]["ports"] = DNS_PORTS
    return pod


def index(*policies: dict) -> PolicyIndex:
    built = PolicyIndex()
    built.resync(NAMESPACES, [namespace_object("x"), namespace_object("kube-system")])
    built.resync(PODS, [pod_object("x", "a"), pod_object("x", "b"),
                        coredns("coredns-1", COREDNS, replica="1"),
                        coredns("coredns-2", COREDNS_2, replica="2")])
    built.resync(POLICIES, list(policies))
    return built


def dns_policy(built: PolicyIndex, *endpoints: str, reject: bool = False) -> DnsPolicy:
    policy = DnsPolicy(Enforcer(built, SERVICE_CIDR, reject=reject), DNS_IP, 53)
    policy.endpoints({"UDP": [(ip, 53) for ip in endpoints],
                      "TCP": [(ip, 53) for ip in endpoints]})
    return policy


# (policies, kube-dns endpoints, client, protocol) -> whether the query is answered
QUERIES = [
    pytest.param([], [COREDNS], CLIENT, "UDP", True, id="no-policy"),
    pytest.param([DENY_EGRESS], [COREDNS], CLIENT, "UDP", False, id="default-deny-egress"),
    pytest.param([DENY_EGRESS], [COREDNS], CLIENT, "TCP", False, id="default-deny-egress-tcp"),
    pytest.param([DENY_EGRESS], [COREDNS], OTHER, "UDP", True, id="other-pod-unaffected"),
    pytest.param([DENY_EGRESS], [COREDNS], HOST, "UDP", True, id="host-not-judged"),
    pytest.param([DENY_EGRESS, ALLOW_DNS], [COREDNS], CLIENT, "UDP", True,
                 id="kube-dns-rule-allows-udp"),
    pytest.param([DENY_EGRESS, ALLOW_DNS], [COREDNS], CLIENT, "TCP", True,
                 id="kube-dns-rule-allows-tcp"),
    pytest.param([ALLOW_DNS_UDP], [COREDNS], CLIENT, "TCP", False, id="udp-only-rule"),
    pytest.param([ALLOW_DNS], [], CLIENT, "UDP", False,
                 id="no-endpoint-judged-as-service-ip"),
    pytest.param([ALLOW_SERVICE_IP], [], CLIENT, "UDP", True,
                 id="no-endpoint-ipblock-of-service-ip"),
    pytest.param([ALLOW_SERVICE_IP], [COREDNS], CLIENT, "UDP", False,
                 id="ipblock-of-service-ip-is-not-the-endpoint"),
    pytest.param([ALLOW_SECOND_COREDNS], [COREDNS, COREDNS_2], CLIENT, "UDP", True,
                 id="any-endpoint-allowing-is-enough"),
    pytest.param([ALLOW_SECOND_COREDNS], [COREDNS], CLIENT, "UDP", False,
                 id="only-ready-endpoints-count"),
    pytest.param([COREDNS_DENY_INGRESS], [COREDNS], CLIENT, "UDP", False,
                 id="coredns-ingress-denied"),
    pytest.param([COREDNS_DENY_INGRESS], [COREDNS], COREDNS, "UDP", True,
                 id="coredns-relaying-to-itself"),
]


@pytest.mark.parametrize("policies, endpoints, client, protocol, answered", QUERIES)
def test_dns_query_judged_as_connection_to_kube_dns(policies: list[dict], endpoints: list[str],
                                                    client: str, protocol: str,
                                                    answered: bool) -> None:
    policy = dns_policy(index(*policies), *endpoints)
    assert policy.admits(client, 40000, protocol) is answered
    assert policy.admits(client, 40001, protocol) is answered  # cached: the same


def test_policy_change_reaches_cached_clients() -> None:
    built = index()
    policy = dns_policy(built, COREDNS)
    assert policy.admits(CLIENT, 40000, "UDP")
    built.update(POLICIES, DENY_EGRESS)
    assert not policy.admits(CLIENT, 40000, "UDP")
    built.update(POLICIES, ALLOW_DNS)
    assert policy.admits(CLIENT, 40000, "UDP")


def test_endpoint_change_reaches_cached_clients() -> None:
    policy = dns_policy(index(ALLOW_SECOND_COREDNS), COREDNS)
    assert not policy.admits(CLIENT, 40000, "UDP")
    policy.endpoints({"UDP": [(COREDNS, 53), (COREDNS_2, 53)]})
    assert policy.admits(CLIENT, 40000, "UDP")


def test_client_pod_appearing_is_judged() -> None:
    built = index(netpol("deny-all-egress", {}, types=["Egress"]))
    policy = dns_policy(built, COREDNS)
    newcomer = "127.244.3.11"
    assert policy.admits(newcomer, 40000, "UDP")  # no pod there yet: not judged
    built.update(PODS, pod_object("x", "c", ip=newcomer))
    assert not policy.admits(newcomer, 40000, "UDP")


# (deny action, destination, protocol) -> what egress_allowed says ("refused": raises)
EGRESS = [
    pytest.param(False, OTHER, "TCP", False, id="drop-tcp"),
    pytest.param(True, OTHER, "TCP", "refused", id="reject-tcp"),
    pytest.param(True, OTHER, "UDP", False, id="reject-udp-still-dropped"),
    pytest.param(True, "127.96.0.20", "TCP", True, id="service-ip-left-to-kube-proxy"),
    pytest.param(True, DNS_IP, "UDP", True, id="dns-ip-left-to-the-cluster-dns"),
]


@pytest.mark.parametrize("reject, destination, protocol, outcome", EGRESS)
def test_toolbox_egress_honours_the_deny_action(reject: bool, destination: str,
                                                protocol: str, outcome: Any) -> None:
    enforcer = Enforcer(index(DENY_EGRESS), SERVICE_CIDR, reject=reject)
    if outcome == "refused":
        with pytest.raises(ConnectionRefusedError):
            enforcer.egress_allowed(CLIENT, destination, 80, protocol)
    else:
        assert enforcer.egress_allowed(CLIENT, destination, 80, protocol) is outcome


def test_flannel_enforces_nothing() -> None:
    enforcer = Enforcer(None, SERVICE_CIDR, reject=True)
    assert enforcer.egress_allowed(CLIENT, OTHER, 80, "TCP")
    assert enforcer.allowed(CLIENT, OTHER, 80, "UDP")


def kube_dns_zone(publish_ports: list[dict[str, Any]]) -> Zone:
    zone = Zone()
    zone.update(SERVICES, {"metadata": {"namespace": "kube-system", "name": "kube-dns"},
                           "spec": {"clusterIP": DNS_IP, "ports": [
                               {"name": "dns", "port": 53, "protocol": "UDP"},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                               {"name": "metrics", "port": 9153, "protocol": "TCP"}]}})
    zone.update(ENDPOINT_SLICES, {
        "metadata": {"namespace": "kube-system", "name": "kube-dns-abc",
                     "labels": {"kubernetes.io/service-name": "kube-dns"}},
        "addressType": "IPv4", "ports": publish_ports,
        "endpoints": [{"addresses": [COREDNS], "conditions": {"ready": True}},
                      {"addresses": [COREDNS_2], "conditions": {"ready": False}}]})
    return zone


SLICE_PORTS = [{"name": "dns", "port": 5353, "protocol": "UDP"},
               {"name": "dns-tcp", "port": 5354, "protocol": "TCP"},
               {"name": "metrics", "port": 9153, "protocol": "TCP"}]

# (service port, protocol) -> the ready endpoints' (IP, target port)
TARGETS = [
    pytest.param(53, "udp", ((COREDNS, 5353),), id="udp-target-port-by-name"),
    pytest.param(53, "tcp", ((COREDNS, 5354),), id="tcp-same-number-other-name"),
    pytest.param(9153, "tcp", ((COREDNS, 9153),), id="metrics"),
    pytest.param(53, "sctp", (), id="no-such-protocol"),
    pytest.param(54, "udp", (), id="no-such-port"),
]


@pytest.mark.parametrize("port, protocol, targets", TARGETS)
def test_service_port_targets(port: int, protocol: str,
                              targets: tuple[tuple[str, int], ...]) -> None:
    view = kube_dns_zone(SLICE_PORTS).service("kube-system", "kube-dns")
    assert view is not None
    assert view.targets(port, protocol) == targets
