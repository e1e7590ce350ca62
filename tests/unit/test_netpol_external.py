"""Connections with an end that is not a pod: outside addresses, the host (127.0.0.1), node
IPs and hostNetwork pods. ipBlocks judge them; pod and namespace selectors never match
them; a pod's own node always reaches it and is always reachable from it."""

from __future__ import annotations

import pytest

from kubeloop.netpol import PolicyIndex, Reason
from kubeloop.netpol.index import PODS
from tests.unit.test_netpol_matrix import (
    DENY_ALL, DENY_EGRESS, DENY_INGRESS, ONLY_XA, match, netpol, node_ip, pod_ip, pod_object,
    world)

XA = pod_ip("x", "a")  # on node 1
OUTSIDE = "127.200.0.7"
HOST = "127.0.0.1"


def ip_block(cidr: str, *excepts: str) -> dict:
    return {"ipBlock": {"cidr": cidr, **({"except": list(excepts)} if excepts else {})}}


def from_(*peers: dict, ports: list | None = None) -> list[dict]:
    return [{"from": list(peers), **({"ports": ports} if ports is not None else {})}]


def to(*peers: dict, ports: list | None = None) -> list[dict]:
    return [{"to": list(peers), **({"ports": ports} if ports is not None else {})}]


def egress_only(name: str, *rules: dict) -> dict:
    return netpol(name, ONLY_XA, egress=list(rules), types=["Egress"])


# (policies, source, destination, port, protocol) -> (allowed, egress reason, ingress reason)
CASES = [
    pytest.param([], XA, OUTSIDE, 80, "TCP", True, Reason.NOT_ISOLATED, Reason.NOT_A_POD,
                 id="egress-to-outside-not-isolated"),
    pytest.param([DENY_EGRESS], XA, OUTSIDE, 80, "TCP", False, Reason.DENIED, Reason.NOT_A_POD,
                 id="default-deny-egress-to-outside"),
    pytest.param([egress_only("out", *to(ip_block("127.200.0.0/24")))], XA, OUTSIDE, 80, "TCP",
                 True, Reason.ALLOWED, Reason.NOT_A_POD, id="egress-ip-block"),
    pytest.param([egress_only("out", *to(ip_block("127.200.0.0/24", "127.200.0.0/29")))],
                 XA, OUTSIDE, 80, "TCP", False, Reason.DENIED, Reason.NOT_A_POD,
                 id="egress-ip-block-except"),
    pytest.param([egress_only("out", *to(ip_block("0.0.0.0/0")))], XA, OUTSIDE, 80, "TCP",
                 True, Reason.ALLOWED, Reason.NOT_A_POD, id="egress-everywhere"),
    pytest.param([egress_only("out", *to(ip_block("::/0")))], XA, OUTSIDE, 80, "TCP",
                 False, Reason.DENIED, Reason.NOT_A_POD, id="ipv6-block-never-matches-ipv4"),
    pytest.param([egress_only("out", *to(ip_block("127.200.0.0/24"), ports=[{"port": 443}]))],
                 XA, OUTSIDE, 80, "TCP", False, Reason.DENIED, Reason.NOT_A_POD,
                 id="egress-ip-block-other-port"),
    pytest.param([egress_only("out", {"ports": [{"port": "serve-80-tcp"}]})], XA, OUTSIDE, 80,
                 "TCP", False, Reason.DENIED, Reason.NOT_A_POD,
                 id="egress-named-port-never-matches-outside"),
    pytest.param([egress_only("out", *to({"namespaceSelector": {}}))], XA, OUTSIDE, 80, "TCP",
                 False, Reason.DENIED, Reason.NOT_A_POD,
                 id="egress-namespace-selector-never-matches-outside"),
    pytest.param([DENY_EGRESS], XA, node_ip("a"), 10250, "TCP", True, Reason.OWN_NODE,
                 Reason.NOT_A_POD, id="egress-to-own-node-always-allowed"),
    pytest.param([DENY_EGRESS], XA, node_ip("b"), 10250, "TCP", False, Reason.DENIED,
                 Reason.NOT_A_POD, id="egress-to-other-node-denied"),
    pytest.param([DENY_INGRESS], OUTSIDE, XA, 80, "TCP", False, Reason.NOT_A_POD,
                 Reason.DENIED, id="default-deny-ingress-from-outside"),
    pytest.param([netpol("in", ONLY_XA, ingress=from_(ip_block("127.200.0.0/16")))],
                 OUTSIDE, XA, 80, "TCP", True, Reason.NOT_A_POD, Reason.ALLOWED,
                 id="ingress-ip-block-from-outside"),
    pytest.param([netpol("in", ONLY_XA, ingress=[{"ports": [{"port": 80}]}])], OUTSIDE, XA, 80,
                 "TCP", True, Reason.NOT_A_POD, Reason.ALLOWED,
                 id="ingress-ports-only-rule-admits-outside"),
    pytest.param([netpol("in", ONLY_XA, ingress=from_({"namespaceSelector": {}}))], OUTSIDE,
                 XA, 80, "TCP", False, Reason.NOT_A_POD, Reason.DENIED,
                 id="ingress-all-namespaces-excludes-outside"),
    pytest.param([DENY_INGRESS], HOST, XA, 80, "TCP", False, Reason.NOT_A_POD, Reason.DENIED,
                 id="host-loopback-is-outside"),
    pytest.param([netpol("in", ONLY_XA, ingress=from_(ip_block("127.0.0.1/32")))], HOST, XA,
                 80, "TCP", True, Reason.NOT_A_POD, Reason.ALLOWED,
                 id="host-loopback-allowed-by-ip-block"),
    pytest.param([DENY_ALL], node_ip("a"), XA, 80, "TCP", True, Reason.NOT_A_POD,
                 Reason.OWN_NODE, id="ingress-from-own-node-always-allowed"),
    pytest.param([DENY_INGRESS], node_ip("b"), XA, 80, "TCP", False, Reason.NOT_A_POD,
                 Reason.DENIED, id="ingress-from-other-node-denied"),
    pytest.param([netpol("nodes", ONLY_XA, ingress=from_(ip_block("127.10.0.0/24")))],
                 node_ip("b"), XA, 80, "TCP", True, Reason.NOT_A_POD, Reason.ALLOWED,
                 id="ingress-from-other-node-by-ip-block"),
    pytest.param([DENY_ALL], XA, XA, 80, "TCP", True, Reason.SAME_POD, Reason.SAME_POD,
                 id="pod-to-itself-always-allowed"),
    pytest.param([], HOST, OUTSIDE, 80, "TCP", True, Reason.NOT_A_POD, Reason.NOT_A_POD,
                 id="no-pod-at-either-end"),
]


@pytest.mark.parametrize("policies, source, destination, port, protocol, allowed, egress, "
                         "ingress", CASES)
def test_non_pod_ends(policies: list[dict], source: str, destination: str, port: int,
                      protocol: str, allowed: bool, egress: Reason, ingress: Reason) -> None:
    verdict = world(*policies).check(source, destination, port, protocol)
    assert (verdict.allowed, verdict.egress.reason, verdict.ingress.reason) == \
        (allowed, egress, ingress)


def host_network_index(*policies: dict) -> PolicyIndex:
    """World plus x/agent, a hostNetwork pod on node 2 (its IP is the node's)."""
    index = world(*policies)
    index.update(PODS, pod_object("x", "agent", {"pod": "agent"}, ip=node_ip("b"),
                                  host_ip=node_ip("b"), hostNetwork=True))
    return index


# (policies, source, destination) -> (allowed, egress reason, ingress reason)
HOST_NETWORK_CASES = [
    pytest.param([DENY_INGRESS], node_ip("b"), XA, False, Reason.NOT_A_POD, Reason.DENIED,
                 id="host-network-pod-is-node-traffic"),
    pytest.param([netpol("in", ONLY_XA, ingress=from_({"podSelector": match(pod="agent")}))],
                 node_ip("b"), XA, False, Reason.NOT_A_POD, Reason.DENIED,
                 id="pod-selector-never-matches-host-network-pod"),
    pytest.param([netpol("in", ONLY_XA, ingress=from_(ip_block("127.10.0.2/32")))],
                 node_ip("b"), XA, True, Reason.NOT_A_POD, Reason.ALLOWED,
                 id="ip-block-matches-host-network-pod"),
    pytest.param([netpol("deny-agent", match(pod="agent"), ingress=[], types=["Ingress",
                                                                              "Egress"])],
                 XA, node_ip("b"), True, Reason.NOT_ISOLATED, Reason.NOT_A_POD,
                 id="policies-never-select-host-network-pods"),
    pytest.param([DENY_INGRESS], node_ip("b"), pod_ip("x", "b"), True, Reason.NOT_A_POD,
                 Reason.OWN_NODE, id="host-network-pod-on-the-same-node"),
]


@pytest.mark.parametrize("policies, source, destination, allowed, egress, ingress",
                         HOST_NETWORK_CASES)
def test_host_network_pods(policies: list[dict], source: str, destination: str, allowed: bool,
                           egress: Reason, ingress: Reason) -> None:
    index = host_network_index(*policies)
    verdict = index.check(source, destination, 80)
    assert (verdict.allowed, verdict.egress.reason, verdict.ingress.reason) == \
        (allowed, egress, ingress)
    assert index.pod_at(node_ip("b")) is None  # the node's address stays the node's
    assert index.isolated(index.pod("x", "agent")) == (False, False)  # type: ignore[arg-type]
