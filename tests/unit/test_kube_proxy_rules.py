"""kube-proxy rules: Service + EndpointSlices -> listeners and backends of a node."""

from __future__ import annotations

from typing import Any

import pytest

from node_agent.kube_proxy.rules import Address, Endpoint, Entry, Locality, Node, NodeMap, \
    endpoints_for, plan, usable

HERE = Node("kp-node-1", "127.249.0.1", node_ports_on_localhost=True)
NO_LOCALHOST = Node("kp-node-1", "127.249.0.1", node_ports_on_localhost=False)


def service(type: str = "ClusterIP", ports: list[dict] | None = None,
            status: dict | None = None, **spec: Any) -> dict:
    spec = {"type": type, "clusterIP": "127.251.0.10", "clusterIPs": ["127.251.0.10"],
            "ports": ports if ports is not None else
            [{"port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080}], **spec}
    return {"metadata": {"name": "web", "namespace": "shop"}, "spec": spec,
            "status": status or {}}


def ep(ip: str, node: str = "kp-node-1", ready: bool | None = True, serving: bool | None = None,
       terminating: bool | None = None) -> dict:
    conditions = {k: v for k, v in (("ready", ready), ("serving", serving),
                                    ("terminating", terminating)) if v is not None}
    return {"addresses": [ip], "conditions": conditions, "nodeName": node}


def endpoint_slice(*endpoints: dict, port: int = 8080, name: str = "", protocol: str = "TCP",
                   address_type: str = "IPv4") -> dict:
    return {"metadata": {"name": "web-x", "namespace": "shop",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": address_type,
            "ports": [{"name": name, "port": port, "protocol": protocol}],
            "endpoints": list(endpoints)}


THREE = [endpoint_slice(ep("127.250.1.5"), ep("127.250.2.5", "kp-node-2"),
                        ep("127.250.3.5", "kp-node-3"))]
ELSEWHERE = [endpoint_slice(ep("127.250.2.5", "kp-node-2"))]
LB = {"loadBalancer": {"ingress": [{"ip": "127.248.0.7"}]}}

# (service, slices, node) -> sorted [(address, entry, locality, source, shared)]
CASES = [
    pytest.param(service(), THREE, HERE,
                 [("127.251.0.10:80/TCP", "ClusterIP", "Cluster", None, True)], id="cluster-ip"),
    pytest.param(service(), [], HERE, [], id="no-endpoints-nothing-bound"),
    pytest.param(service(), [endpoint_slice(ep("127.250.1.5", ready=False))], HERE, [],
                 id="only-unready-nothing-bound"),
    pytest.param(service(), [endpoint_slice(ep("127.250.1.5", ready=False, serving=True,
                                               terminating=True))], HERE,
                 [("127.251.0.10:80/TCP", "ClusterIP", "Cluster", None, True)],
                 id="terminating-but-serving-still-bound"),
    pytest.param(service(clusterIP="None", clusterIPs=["None"]), THREE, HERE, [], id="headless"),
    pytest.param(service("ExternalName", externalName="example.com"), THREE, HERE, [],
                 id="external-name"),
    pytest.param(service(internalTrafficPolicy="Local"), ELSEWHERE, HERE,
                 [("127.251.0.10:80/TCP", "ClusterIP", "ClientNode", None, True)],
                 id="internal-local-bound-for-every-client-node"),
    pytest.param(service("NodePort", externalTrafficPolicy="Cluster"), THREE, HERE,
                 [("127.0.0.1:30080/TCP", "NodePort", "Cluster", "127.249.0.1", True),
                  ("127.249.0.1:30080/TCP", "NodePort", "Cluster", "127.249.0.1", False),
                  ("127.251.0.10:80/TCP", "ClusterIP", "Cluster", None, True)],
                 id="node-port-cluster-snat"),
    pytest.param(service("NodePort"), THREE, NO_LOCALHOST,
                 [("127.249.0.1:30080/TCP", "NodePort", "Cluster", "127.249.0.1", False),
                  ("127.251.0.10:80/TCP", "ClusterIP", "Cluster", None, True)],
                 id="node-port-not-on-localhost"),
    pytest.param(service("NodePort", externalTrafficPolicy="Local"), THREE, HERE,
                 [("127.0.0.1:30080/TCP", "NodePort", "ThisNode", None, True),
                  ("127.249.0.1:30080/TCP", "NodePort", "ThisNode", None, False),
                  ("127.251.0.10:80/TCP", "ClusterIP", "Cluster", None, True)],
                 id="node-port-local-keeps-client"),
    pytest.param(service("NodePort", externalTrafficPolicy="Local"), ELSEWHERE, HERE,
                 [("127.251.0.10:80/TCP", "ClusterIP", "Cluster", None, True)],
                 id="node-port-local-without-local-endpoint"),
    pytest.param(service("LoadBalancer", status=LB), THREE, NO_LOCALHOST,
                 [("127.248.0.7:80/TCP", "LoadBalancer", "Cluster", "127.249.0.1", True),
                  ("127.249.0.1:30080/TCP", "NodePort", "Cluster", "127.249.0.1", False),
                  ("127.251.0.10:80/TCP", "ClusterIP", "Cluster", None, True)],
                 id="load-balancer"),
    pytest.param(service("LoadBalancer", externalTrafficPolicy="Local", status=LB), ELSEWHERE,
                 NO_LOCALHOST, [("127.251.0.10:80/TCP", "ClusterIP", "Cluster", None, True)],
                 id="load-balancer-local-elsewhere"),
    pytest.param(service("LoadBalancer", ports=[{"port": 80, "protocol": "TCP"}]), THREE,
                 NO_LOCALHOST, [("127.251.0.10:80/TCP", "ClusterIP", "Cluster", None, True)],
                 id="load-balancer-pending-no-node-port"),
    pytest.param(service("ClusterIP", status=LB), THREE, HERE,
                 [("127.251.0.10:80/TCP", "ClusterIP", "Cluster", None, True)],
                 id="stale-lb-status-ignored"),
    pytest.param(service(externalIPs=["127.247.0.9", "10.0.0.1"]), THREE, HERE,
                 [("127.247.0.9:80/TCP", "ExternalIP", "Cluster", "127.249.0.1", True),
                  ("127.251.0.10:80/TCP", "ClusterIP", "Cluster", None, True)],
                 id="external-ips-loopback-only"),
    pytest.param(service(ports=[{"port": 53, "protocol": "UDP"}, {"port": 9, "protocol": "SCTP"}]),
                 [endpoint_slice(ep("127.250.1.5"), port=53, protocol="UDP")], HERE,
                 [("127.251.0.10:53/UDP", "ClusterIP", "Cluster", None, True)], id="udp-not-sctp"),
    pytest.param(service(ports=[{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}]),
                 [endpoint_slice(ep("127.250.1.5"), name="http")], HERE,
                 [("127.251.0.10:80/TCP", "ClusterIP", "Cluster", None, True)],
                 id="named-ports-matched-by-name"),
]


@pytest.mark.parametrize("svc, slices, node, expected", CASES)
def test_plan_frontends(svc: dict, slices: list[dict], node: Node, expected: list) -> None:
    got = sorted((str(f.address), f.entry.value, f.locality.value, f.source, f.shared)
                 for f in plan(svc, slices, node).frontends.values())
    assert got == sorted(expected)


def test_plan_none_and_backends() -> None:
    assert plan(None, THREE, HERE).frontends == {}
    backends = plan(service(sessionAffinity="ClientIP"), THREE, HERE).backends
    (ref, b), = backends.items()
    assert str(ref) == "shop/web/TCP" and b.affinity == 10800.0
    assert [(e.ip, e.port, e.node) for e in b.endpoints] == [
        ("127.250.1.5", 8080, "kp-node-1"), ("127.250.2.5", 8080, "kp-node-2"),
        ("127.250.3.5", 8080, "kp-node-3")]
    custom = service(sessionAffinity="ClientIP",
                     sessionAffinityConfig={"clientIP": {"timeoutSeconds": 5}})
    assert next(iter(plan(custom, THREE, HERE).backends.values())).affinity == 5.0
    assert next(iter(plan(service(), THREE, HERE).backends.values())).affinity is None


E = Endpoint
# (slices, port name, protocol) -> endpoints
ENDPOINT_CASES = [
    pytest.param([endpoint_slice({"addresses": ["127.250.1.5"]})], "", "TCP",
                 [E("127.250.1.5", 8080, "", True, True, False)], id="nil-conditions-ready"),
    pytest.param([endpoint_slice(ep("127.250.1.5", ready=False)),
                  endpoint_slice(ep("127.250.1.5"))], "", "TCP",
                 [E("127.250.1.5", 8080, "kp-node-1", True, True, False)],
                 id="duplicate-across-slices-ready-wins"),
    pytest.param([endpoint_slice(ep("127.250.1.5", ready=False, terminating=True))], "", "TCP",
                 [E("127.250.1.5", 8080, "kp-node-1", False, False, True)],
                 id="serving-defaults-to-ready"),
    pytest.param([endpoint_slice(ep("::1"), address_type="IPv6"),
                  endpoint_slice(ep("a.example"), address_type="FQDN")], "", "TCP", [],
                 id="non-ipv4-slices-skipped"),
    pytest.param([endpoint_slice(ep("10.0.0.5"))], "", "TCP", [], id="non-loopback-skipped"),
    pytest.param([endpoint_slice(ep("127.250.1.5"))], "", "UDP", [], id="protocol-mismatch"),
    pytest.param([endpoint_slice(ep("127.250.1.5"), name="http")], "", "TCP", [],
                 id="name-mismatch"),
    pytest.param([endpoint_slice({"addresses": []}, {"conditions": {}})], "", "TCP", [],
                 id="no-addresses"),
]


@pytest.mark.parametrize("slices, name, protocol, expected", ENDPOINT_CASES)
def test_endpoints_for(slices: list[dict], name: str, protocol: str, expected: list) -> None:
    assert list(endpoints_for(name, protocol, slices)) == expected


# endpoints -> usable
USABLE_CASES = [
    pytest.param([E("a", 1, ready=True), E("b", 1, ready=False, serving=True, terminating=True)],
                 ["a"], id="ready-only-when-any"),
    pytest.param([E("a", 1, ready=False, serving=False, terminating=True),
                  E("b", 1, ready=False, serving=True, terminating=True)],
                 ["b"], id="fallback-serving-terminating"),
    pytest.param([E("a", 1, ready=False, serving=True, terminating=False)], [],
                 id="unready-not-terminating"),
]


@pytest.mark.parametrize("endpoints, expected", USABLE_CASES)
def test_usable(endpoints: list[Endpoint], expected: list[str]) -> None:
    assert [e.ip for e in usable(endpoints)] == expected


NODES = NodeMap.of("127.249.0.0/24", "127.250.0.0/16")


@pytest.mark.parametrize("ip, expected", [
    pytest.param("127.250.3.17", 3, id="pod-ip"),
    pytest.param("127.249.0.2", 2, id="node-ip"),
    pytest.param("127.250.0.9", None, id="pod-range-zero-is-no-node"),
    pytest.param("127.249.0.254", None, id="apiserver-ip"),
    pytest.param("127.0.0.1", None, id="localhost"),
    pytest.param("not-an-ip", None, id="garbage"),
])
def test_node_map(ip: str, expected: int | None) -> None:
    assert NODES.index(ip) == expected


def test_addresses_order_and_text() -> None:
    assert str(Address("127.0.0.1", 80, "UDP")) == "127.0.0.1:80/UDP"
    assert Entry.NODE_PORT == "NodePort" and Locality.THIS_NODE == "ThisNode"

