"""Service addresses: ClusterIP and NodePort allocation (with the upstream apiserver's
error wording) and the LoadBalancer pool choice of the service-lb controller."""

from __future__ import annotations

import random

import pytest

from apiserver import allocation, services

POOL = "127.200.0.0/24"
RANGES = allocation.Ranges("127.96.0.0/16", (30000, 32767), POOL)


def lb(name: str = "web", requested: str = "", ingress: str = "", *,
       lb_class: str = "", stype: str = "LoadBalancer") -> dict:
    spec = {"type": stype, **({"loadBalancerIP": requested} if requested else {}),
            **({"loadBalancerClass": lb_class} if lb_class else {})}
    status = {"loadBalancer": {"ingress": [{"ip": ingress, "ipMode": "VIP"}]} if ingress else {}}
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec, "status": status}


@pytest.mark.parametrize("svc, held, ingress, error", [
    (lb(), {}, "127.200.0.1", None),
    (lb(), {"127.200.0.1": "default/a"}, "127.200.0.2", None),
    (lb(ingress="127.200.0.9"), {"127.200.0.1": "default/a"}, "127.200.0.9", None),
    (lb(ingress="127.200.0.9"), {"127.200.0.9": "default/a"}, "127.200.0.1", None),
    (lb(ingress="127.5.0.1"), {}, "127.200.0.1", None),
    (lb(requested="127.200.0.50"), {}, "127.200.0.50", None),
    (lb(requested="127.200.0.50", ingress="127.200.0.1"), {}, "127.200.0.50", None),
    (lb(requested="127.200.0.50"), {"127.200.0.50": "default/a"}, None,
     "requested loadBalancerIP 127.200.0.50 is already assigned to Service default/a"),
    (lb(requested="127.5.0.1"), {}, None,
     "requested loadBalancerIP 127.5.0.1 is not an address of the LoadBalancer pool "
     "127.200.0.0/24"),
    (lb(requested="127.200.0.255"), {}, None,
     "requested loadBalancerIP 127.200.0.255 is not an address of the LoadBalancer pool "
     "127.200.0.0/24"),
    (lb(requested="not-an-ip"), {}, None,
     "requested loadBalancerIP not-an-ip is not an address of the LoadBalancer pool "
     "127.200.0.0/24"),
    (lb(), {f"127.200.0.{i}": "default/x" for i in range(1, 255)}, None,
     "no free address left in the LoadBalancer pool 127.200.0.0/24"),
], ids=["lowest-free", "skips-held", "keeps-its-own", "own-taken-reallocates",
        "outside-pool-reallocates", "requested", "requested-replaces-current",
        "requested-held", "requested-outside-pool", "requested-broadcast", "requested-garbage",
        "pool-full"])
def test_load_balancer_ingress(svc: dict, held: dict[str, str], ingress: str | None,
                               error: str | None) -> None:
    decision = services.load_balancer_ingress(svc, POOL, held)
    assert decision.ingress == ([{"ip": ingress, "ipMode": "VIP"}] if ingress else [])
    assert decision.error == error


@pytest.mark.parametrize("svc, expected", [
    (lb(), True),
    (lb(lb_class="example.com/lb"), False),
    (lb(stype="NodePort"), False),
], ids=["load-balancer", "other-class", "node-port"])
def test_wants_load_balancer(svc: dict, expected: bool) -> None:
    assert services.wants_load_balancer(svc) is expected


def test_lb_ips_in_use_only_counts_pool_addresses() -> None:
    held = services.lb_ips_in_use([lb("a", ingress="127.200.0.3"),
                                   lb("b", ingress="127.9.9.9"), lb("c")], POOL)
    assert held == {"127.200.0.3": "default/a"}


# --- ClusterIPs and NodePorts -----------------------------------------------------------

def svc(stype: str = "ClusterIP", cluster_ip: str = "", *ports: dict) -> dict:
    spec: dict = {"type": stype, "ports": list(ports) or [{"port": 80, "protocol": "TCP"}]}
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return {"metadata": {"name": "s"}, "spec": spec}


@pytest.mark.parametrize("body, used_ips, used_ports, field, message", [
    (svc(cluster_ip="127.96.0.10"), {"127.96.0.10"}, set(), "spec.clusterIPs",
     'Invalid value: []string{"127.96.0.10"}: failed to allocate IP 127.96.0.10: provided IP '
     'is already allocated'),
    (svc(cluster_ip="127.1.0.10"), set(), set(), "spec.clusterIPs",
     'Invalid value: []string{"127.1.0.10"}: failed to allocate IP 127.1.0.10: the provided IP '
     '(127.1.0.10) is not in the valid range. The range of valid IPs is 127.96.0.0/16'),
    (svc("NodePort", "", {"port": 80, "protocol": "TCP", "nodePort": 30080}), set(),
     {(30080, "TCP")}, "spec.ports[0].nodePort",
     "Invalid value: 30080: provided port is already allocated"),
    (svc("NodePort", "", {"port": 80, "protocol": "TCP", "nodePort": 80}), set(), set(),
     "spec.ports[0].nodePort", "Invalid value: 80: provided port is not in the valid range. "
     "The range of valid ports is 30000-32767"),
], ids=["ip-taken", "ip-out-of-range", "node-port-taken", "node-port-out-of-range"])
def test_allocation_errors_read_like_upstream(body: dict, used_ips: set[str],
                                              used_ports: set[tuple[int, str]], field: str,
                                              message: str) -> None:
    with pytest.raises(allocation.AllocationError) as raised:
        services.allocate(body, None, RANGES, used_ips, used_ports, random.Random(1))
    cause = services.cause_for(raised.value)
    assert (cause.field, cause.message) == (field, message)


def test_node_port_same_number_other_protocol_is_free() -> None:
    body = svc("NodePort", "", {"port": 53, "protocol": "UDP", "nodePort": 30053})
    services.allocate(body, None, RANGES, set(), {(30053, "TCP")}, random.Random(1))
    assert body["spec"]["ports"][0]["nodePort"] == 30053


def test_explicit_cluster_ip_and_kept_addresses_on_update() -> None:
    body = svc("NodePort", "127.96.5.5")
    services.allocate(body, None, RANGES, set(), set(), random.Random(1))
    assert body["spec"]["clusterIPs"] == ["127.96.5.5"]
    node_port = body["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    update = svc("NodePort")
    services.allocate(update, body, RANGES, {"127.96.5.5"}, set(), random.Random(2))
    assert update["spec"]["clusterIP"] == "127.96.5.5"
    assert update["spec"]["ports"][0]["nodePort"] == node_port
    back = svc("ClusterIP", "", {"port": 80, "protocol": "TCP", "nodePort": node_port})
    services.allocate(back, update, RANGES, set(), set(), random.Random(3))
    assert "nodePort" not in back["spec"]["ports"][0]


def test_dynamic_cluster_ips_skip_the_static_block() -> None:
    rng = random.Random(7)
    for _ in range(50):
        body = svc()
        services.allocate(body, None, RANGES, set(), set(), rng)
        last = body["spec"]["clusterIP"].split(".")
        assert (int(last[2]) << 8 | int(last[3])) > 256
