"""Compiling NetworkPolicy objects (defaults, peers, ports, errors naming the field), and
the ``policy check`` helpers a CLI calls over plain object lists."""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.object_selectors import EVERYTHING
from kubeloop.netpol import (
    EndpointError, External, Pod, PolicyError, parse_port, policy_check, resolve, truth_table)
from kubeloop.netpol.check import load
from kubeloop.netpol.policies import IPBlock, PodPeer, PolicyPort, Rule, compile_policy
from tests.unit.test_netpol_matrix import (
    DENY_INGRESS, ONLY_XA, match, namespace_object, netpol, pod_ip, pod_object)


def spec_policy(**spec: Any) -> dict:
    return {"metadata": {"name": "p", "namespace": "x"}, "spec": spec}


@pytest.mark.parametrize("spec, ingress, egress", [
    pytest.param({}, (), None, id="nothing-is-ingress-deny-all"),
    pytest.param({"egress": [{}]}, (), (Rule(None, None),), id="egress-rules-add-egress"),
    pytest.param({"egress": []}, (), None, id="empty-egress-adds-nothing"),
    pytest.param({"policyTypes": ["Egress"], "ingress": [{}]}, None, (), id="explicit-types"),
    pytest.param({"ingress": [{"from": [], "ports": []}]}, (Rule(None, None),), None,
                 id="empty-lists-mean-all"),
    pytest.param({"ingress": [{"ports": [{}, {"protocol": "UDP", "port": 53},
                                         {"port": 8000, "endPort": 8080},
                                         {"port": "http"}]}]},
                 (Rule(None, (PolicyPort("TCP"), PolicyPort("UDP", 53, 53),
                              PolicyPort("TCP", 8000, 8080), PolicyPort("TCP", name="http"))),),
                 None, id="ports-default-to-tcp"),
    pytest.param({"ingress": [{"from": [{"podSelector": {}}, {"namespaceSelector": {}},
                                        {"ipBlock": {"cidr": "127.0.0.0/8",
                                                     "except": ["127.0.0.0/16"]}}]}]},
                 (Rule((PodPeer("x", None, None), PodPeer("x", EVERYTHING, None),
                        IPBlock("127.0.0.0/8", 4, 0x7F000000, 0x7FFFFFFF,
                                ((0x7F000000, 0x7F00FFFF),))), None),),
                 None, id="peers"),
])
def test_compile(spec: dict, ingress: tuple | None, egress: tuple | None) -> None:
    policy = compile_policy(spec_policy(**spec))
    assert (policy.ingress, policy.egress) == (ingress, egress)


@pytest.mark.parametrize("spec, message", [
    pytest.param({"podSelector": {"matchLabels": {"bad key!": "v"}}},
                 r"x/p: spec.podSelector: key: Invalid value", id="bad-selector-key"),
    pytest.param({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Gt",
                                                        "values": ["1"]}]}},
                 r"spec.podSelector: \"Gt\" is not a valid label selector operator",
                 id="gt-not-allowed-in-label-selector"),
    pytest.param({"podSelector": "app=web"}, r"spec.podSelector: must be a label selector",
                 id="selector-as-text"),
    pytest.param({"policyTypes": ["Sideways"]}, r"'Sideways' is not Ingress or Egress",
                 id="bad-policy-type"),
    pytest.param({"policyTypes": "Ingress"}, r"spec.policyTypes: must be a list",
                 id="policy-types-not-a-list"),
    pytest.param({"ingress": {"from": []}}, r"spec.ingress: must be a list",
                 id="ingress-not-a-list"),
    pytest.param({"ingress": [{"from": [{}]}]}, r"spec.ingress\[0\].from\[0\]: must specify",
                 id="empty-peer"),
    pytest.param({"egress": [{"to": [{"ipBlock": {"cidr": "127.0.0.0/8"},
                                      "podSelector": {}}]}]},
                 r"spec.egress\[0\].to\[0\]: may not specify both ipBlock",
                 id="ip-block-with-selector"),
    pytest.param({"ingress": [{"from": [{"ipBlock": {"cidr": "127.0.0.0/33"}}]}]},
                 r"ipBlock.cidr: invalid CIDR '127.0.0.0/33'", id="bad-cidr"),
    pytest.param({"ingress": [{"from": [{"ipBlock": {}}]}]}, r"ipBlock.cidr: a CIDR is required",
                 id="missing-cidr"),
    pytest.param({"ingress": [{"from": [{"ipBlock": {"cidr": "127.0.0.0/16",
                                                     "except": ["127.0.0.0/16"]}}]}]},
                 r"except\[0\]: '127.0.0.0/16' must be a strict subset", id="except-not-strict"),
    pytest.param({"ingress": [{"from": [{"ipBlock": {"cidr": "127.0.0.0/16",
                                                     "except": ["10.0.0.0/24"]}}]}]},
                 r"except\[0\]: '10.0.0.0/24' must be a strict subset", id="except-outside"),
    pytest.param({"ingress": [{"ports": [{"protocol": "ICMP"}]}]},
                 r"ports\[0\].protocol: 'ICMP' is not one of TCP, UDP, SCTP", id="bad-protocol"),
    pytest.param({"ingress": [{"ports": [{"port": 70000}]}]},
                 r"ports\[0\].port: must be a port number", id="port-too-big"),
    pytest.param({"ingress": [{"ports": [{"port": 90, "endPort": 80}]}]},
                 r"endPort: 80 must be greater than or equal", id="end-port-below-port"),
    pytest.param({"ingress": [{"ports": [{"endPort": 80}]}]},
                 r"endPort: may not be specified when `port` is not", id="end-port-alone"),
    pytest.param({"ingress": [{"ports": [{"port": "http", "endPort": 80}]}]},
                 r"endPort: may not be specified when `port` is a name",
                 id="end-port-with-named-port"),
])
def test_malformed_policies_name_the_field(spec: dict, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        compile_policy(spec_policy(**spec))


def test_policy_without_name() -> None:
    with pytest.raises(PolicyError, match="networkpolicies object without metadata.name"):
        compile_policy({"spec": {}})


NAMESPACES = [namespace_object("x"), namespace_object("y")]
PODS = [pod_object(ns, p) for ns in ("x", "y") for p in ("a", "b")]


@pytest.mark.parametrize("end, namespace, expected", [
    pytest.param("x/a", "default", "x/a", id="namespace-and-name"),
    pytest.param("b", "y", "y/b", id="name-in-given-namespace"),
    pytest.param(pod_ip("x", "b"), "default", "x/b", id="pod-address"),
    pytest.param("127.200.0.1", "default", "127.200.0.1", id="outside-address"),
])
def test_resolve(end: str, namespace: str, expected: str) -> None:
    assert str(resolve(load([], PODS, NAMESPACES), end, namespace)) == expected


@pytest.mark.parametrize("end, message", [
    pytest.param("x/zz", 'pod "zz" not found in namespace "x"', id="unknown-pod"),
    pytest.param("a", 'pod "a" not found in namespace "default"', id="default-namespace"),
    pytest.param("x/a/b", "neither NAMESPACE/NAME, NAME nor an IP address", id="two-slashes"),
    pytest.param("x/", "neither", id="no-name"),
])
def test_resolve_refuses(end: str, message: str) -> None:
    with pytest.raises(EndpointError, match=message):
        resolve(load([], PODS, NAMESPACES), end)


@pytest.mark.parametrize("text, expected", [
    pytest.param("80", (80, "TCP"), id="number"),
    pytest.param("53/udp", (53, "UDP"), id="udp-lowercase"),
    pytest.param("9/SCTP", (9, "SCTP"), id="sctp"),
])
def test_parse_port(text: str, expected: tuple[int, str]) -> None:
    assert parse_port(text) == expected


@pytest.mark.parametrize("text", ["", "http", "0", "65536", "80/icmp", "-1", "80/"])
def test_parse_port_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a port"):
        parse_port(text)


def test_policy_check() -> None:
    policies = [netpol("from-b", ONLY_XA, ingress=[{"from": [{"podSelector": match(pod="b")}],
                                                    "ports": [{"port": 80}]}])]
    assert policy_check(policies, PODS, NAMESPACES, "x/b", "x/a", 80).allowed
    verdict = policy_check(policies, PODS, NAMESPACES, "b", "a", 80, namespace="y")
    assert verdict.describe() == "ALLOWED (egress: not isolated; ingress: not isolated)"
    denied = policy_check(policies, PODS, NAMESPACES, "y/b", pod_ip("x", "a"), 80)
    assert denied.describe() == ("DENIED at ingress (egress: not isolated; ingress: denied, "
                                 "isolated by from-b)")
    with pytest.raises(PolicyError, match="x/bad"):
        policy_check([netpol("bad", ingress=[{"from": [{}]}])], PODS, NAMESPACES, "x/a", "x/b",
                     80)


def test_truth_table_prints_like_upstream() -> None:
    index = load([DENY_INGRESS], PODS, NAMESPACES)
    ends = [index.pod(ns, p) for ns in ("x", "y") for p in ("a", "b")]
    outside = External.of("127.200.0.1")
    assert truth_table(index, [*ends, outside], 80) == "\n".join([  # type: ignore[list-item]
        "-           x/a         x/b         y/a         y/b         127.200.0.1",
        "x/a         .           X           .           .           .",
        "x/b         X           .           .           .           .",
        "y/a         X           X           .           .           .",
        "y/b         X           X           .           .           .",
        "127.200.0.1 X           X           .           .           ."])


def test_pod_endpoint_defaults() -> None:
    pod = Pod("x", "a", {})
    assert (pod.address, dict(pod.named_ports), str(pod)) == (None, {}, "x/a")
