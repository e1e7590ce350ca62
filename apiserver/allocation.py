"""ClusterIP, NodePort and LoadBalancer address allocation: pure choices over the set of
values already in use, so the registry decides and the tests need no server."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable
from dataclasses import dataclass


class AllocationError(ValueError):
    """A requested value cannot be had; ``field`` says where, the message why."""

    def __init__(self, field: str, value: object, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


@dataclass(frozen=True)
class Ranges:
    service_cidr: str
    node_ports: tuple[int, int]
    lb_cidr: str


def used_service_values(services: Iterable[dict]) -> tuple[set[str], set[tuple[int, str]]]:
    """Cluster IPs and (nodePort, protocol) pairs taken by the given Services."""
    ips: set[str] = set()
    ports: set[tuple[int, str]] = set()
    for svc in services:
        spec = svc.get("spec", {})
        for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
            if ip and ip != "None":
                ips.add(ip)
        for p in spec.get("ports") or []:
            if p.get("nodePort"):
                ports.add((p["nodePort"], p.get("protocol", "TCP")))
    return ips, ports


def allocate_cluster_ip(requested: str | None, cidr: str, used: set[str],
                        rng: random.Random) -> str:
    """The requested IP if valid and free, else a random free one from the range.

    As upstream, the lower part of the range (first 1/16, at least 16 and at most 256
    addresses) is left for static requests such as the DNS service's ``.10``."""
    net = ipaddress.ip_network(cidr)
    if requested:
        try:
            ip = ipaddress.ip_address(requested)
        except ValueError as e:
            raise AllocationError("spec.clusterIPs", [requested],
                                  f"failed to allocate IP {requested}: not an IP address") from e
        if ip not in net or ip in (net.network_address, net.broadcast_address):
            raise AllocationError(
                "spec.clusterIPs", [requested],
                f"failed to allocate IP {requested}: the provided IP ({requested}) is not in "
                f"the valid range. The range of valid IPs is {cidr}")
        if requested in used:
            raise AllocationError("spec.clusterIPs", [requested],
                                  f"failed to allocate IP {requested}: provided IP is already "
                                  "allocated")
        return requested
    size = net.num_addresses - 2
    reserved = min(max(16, size // 16), 256)
    if size - reserved - len(used) <= 0:
        raise AllocationError("spec.clusterIPs", None,
                              f"failed to allocate IP: range {cidr} is full")
    base = int(net.network_address)
    for _ in range(64):
        candidate = str(ipaddress.ip_address(base + 1 + reserved + rng.randrange(size - reserved)))
        if candidate not in used:
            return candidate
    for offset in range(1 + reserved, size + 1):  # crowded range: scan
        candidate = str(ipaddress.ip_address(base + offset))
        if candidate not in used:
            return candidate
    raise AllocationError("spec.clusterIPs", None, f"failed to allocate IP: range {cidr} is full")


def allocate_node_port(requested: int | None, protocol: str, index: int,
                       node_ports: tuple[int, int], used: set[tuple[int, str]],
                       rng: random.Random) -> int:
    low, high = node_ports
    field = f"spec.ports[{index}].nodePort"
    if requested:
        if not low <= requested <= high:
            raise AllocationError(field, requested,
                                  f"provided port is not in the valid range. The range of valid "
                                  f"ports is {low}-{high}")
        if (requested, protocol) in used:
            raise AllocationError(field, requested, "provided port is already allocated")
        return requested
    free = (high - low + 1) - sum(1 for p, proto in used if proto == protocol and low <= p <= high)
    if free <= 0:
        raise AllocationError(field, None, f"range {low}-{high} is full")
    while True:
        port = rng.randint(low, high)
        if (port, protocol) not in used:
            return port


def allocate_lb_ip(cidr: str, used: set[str]) -> str | None:
    """The lowest free address of the LoadBalancer pool (stable, easy to read)."""
    for ip in ipaddress.ip_network(cidr).hosts():
        if str(ip) not in used:
            return str(ip)
    return None
