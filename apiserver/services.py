"""Service address bookkeeping: which ClusterIP and NodePorts a Service gets on create
and update, keeping what it already had (as the upstream Service REST storage does), and
which LoadBalancer pool address its status should carry."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from apiserver import allocation
from apiserver.validation import Cause

NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def allocate(svc: dict, old: dict | None, ranges: allocation.Ranges, used_ips: set[str],
             used_ports: set[tuple[int, str]], rng: random.Random) -> None:
    """Fill spec.clusterIP(s) and nodePorts of ``svc`` in place; raises AllocationError."""
    spec = svc.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    stype = spec.get("type", "ClusterIP")
    if stype == "ExternalName":
        for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            spec.pop(field, None)
    else:
        requested = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
        if not requested and old_spec.get("clusterIP"):
            requested = old_spec["clusterIP"]  # an update that omits it keeps it
            used_ips = used_ips - {requested}
        if requested == "None":
            spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
        elif requested and requested == old_spec.get("clusterIP"):
            spec["clusterIP"], spec["clusterIPs"] = requested, [requested]
        else:
            ip = allocation.allocate_cluster_ip(requested, ranges.service_cidr, used_ips, rng)
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                 for p in old_spec.get("ports") or [] if p.get("nodePort")}
    taken = set(used_ports)
    for i, port in enumerate(spec.get("ports") or []):
        protocol = port.get("protocol", "TCP")
        if stype not in NODE_PORT_TYPES:
            if port.get("nodePort") and stype == "ClusterIP" and old is not None and \
                    port["nodePort"] == old_ports.get((port.get("port"), protocol)):
                port.pop("nodePort")  # switching back to ClusterIP releases the port
            continue
        wanted = port.get("nodePort") or old_ports.get((port.get("port"), protocol))
        if wanted and wanted == old_ports.get((port.get("port"), protocol)):
            port["nodePort"] = wanted
        else:
            port["nodePort"] = allocation.allocate_node_port(
                wanted, protocol, i, ranges.node_ports, taken, rng)
        taken.add((port["nodePort"], protocol))


def cause_for(error: allocation.AllocationError) -> Cause:
    value = error.value
    if isinstance(value, list):
        shown = "[]string{" + ", ".join(f'"{v}"' for v in value) + "}"
    else:
        shown = str(value)
    return Cause(error.field, "FieldValueInvalid", f"Invalid value: {shown}: {error}")


# --- LoadBalancer addresses -------------------------------------------------------------

def wants_load_balancer(svc: dict) -> bool:
    """A LoadBalancer Service this cluster's pool serves (a loadBalancerClass names
    another implementation, which the default controller leaves alone)."""
    spec = svc.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")


def ingress_ips(svc: dict) -> list[str]:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [i["ip"] for i in ingress if i.get("ip")]


def lb_ips_in_use(services: Iterable[dict], pool: str) -> dict[str, str]:
    """Pool addresses held by the given Services' status: IP -> "namespace/name"."""
    net = ipaddress.ip_network(pool)
    held: dict[str, str] = {}
    for svc in services:
        for ip in ingress_ips(svc):
            if _in_network(ip, net):
                held[ip] = f"{svc['metadata'].get('namespace', '')}/{svc['metadata']['name']}"
    return held


@dataclass(frozen=True)
class LoadBalancerDecision:
    ingress: list[dict]  # the wanted status.loadBalancer.ingress, [] for none
    error: str | None = None  # why no address could be had


def load_balancer_ingress(svc: dict, pool: str, held: Mapping[str, str]) -> LoadBalancerDecision:
    """The address of a LoadBalancer Service: ``spec.loadBalancerIP`` when it is a free
    pool address, else the one it already has, else the lowest free one. ``held`` maps
    addresses other Services hold to their names."""
    requested = (svc.get("spec") or {}).get("loadBalancerIP") or ""
    net = ipaddress.ip_network(pool)
    if requested:
        if not _in_network(requested, net) or requested in (str(net.network_address),
                                                            str(net.broadcast_address)):
            return LoadBalancerDecision([], f"requested loadBalancerIP {requested} is not an "
                                            f"address of the LoadBalancer pool {pool}")
        if requested in held:
            return LoadBalancerDecision([], f"requested loadBalancerIP {requested} is already "
                                            f"assigned to Service {held[requested]}")
        return LoadBalancerDecision(_vip(requested))
    current = [ip for ip in ingress_ips(svc) if _in_network(ip, net) and ip not in held]
    if current:
        return LoadBalancerDecision(_vip(current[0]))
    ip = allocation.allocate_lb_ip(pool, set(held))
    if ip is None:
        return LoadBalancerDecision([], f"no free address left in the LoadBalancer pool {pool}")
    return LoadBalancerDecision(_vip(ip))


def _vip(ip: str) -> list[dict]:
    return [{"ip": ip, "ipMode": "VIP"}]


def _in_network(ip: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(ip) in net
    except ValueError:
        return False
