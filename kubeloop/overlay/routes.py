"""Which node owns a pod IP, and whether reaching it needs the tunnel: pure decisions over
Node objects, as flannel's subnet table (pod CIDR -> node address) is.

``Routes.of(nodes)`` reads each Node's ``spec.podCIDR`` and its ``InternalIP`` address;
``owner(ip)`` finds the route of the pod range holding an address (None for Service IPs,
node IPs and anything outside the pod ranges). ``mode(setting, addresses)`` settles
``--overlay auto`` from the node addresses. No sockets here."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class Mode(StrEnum):
    """How pod traffic crosses nodes."""

    SHARED = "shared"  # every pod IP is connectable from every node (one loopback)
    TUNNEL = "tunnel"  # pods of other nodes are reached through their node's tunnel


def mode(setting: str, addresses: Iterable[str]) -> Mode:
    """``auto``: shared when every node address is on 127.0.0.0/8 (the nodes share this
    host's loopback), else tunnel; ``shared`` and ``tunnel`` are taken as they are."""
    if setting != "auto":
        return Mode(setting)
    return Mode.SHARED if all(is_loopback(a) for a in addresses) else Mode.TUNNEL


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in _LOOPBACK
    except ValueError:
        return False


def _number(ip: str) -> int:
    return int.from_bytes(socket.inet_aton(ip), "big")


@dataclass(frozen=True)
class Route:
    """A node's pod range and the address its tunnel listens on."""

    node: str
    cidr: str
    address: str


@dataclass(frozen=True)
class Routes:
    """Pod ranges by prefix length, then by network number: a lookup costs one dict probe
    per distinct prefix length (one, /24, in a kubeloop cluster)."""

    by_prefix: dict[int, dict[int, Route]] = field(default_factory=dict)

    @classmethod
    def of(cls, nodes: Iterable[dict]) -> Routes:
        """The routes of the Nodes that have both a pod CIDR and an InternalIP; a Node
        missing either (still registering) owns nothing yet."""
        return cls.build(r for r in map(route_of, nodes) if r is not None)

    @classmethod
    def build(cls, routes: Iterable[Route]) -> Routes:
        table: dict[int, dict[int, Route]] = {}
        for route in routes:
            net = ipaddress.ip_network(route.cidr)
            table.setdefault(net.prefixlen, {})[int(net.network_address)] = route
        return cls(table)

    def owner(self, ip: str) -> Route | None:
        """The route of the pod range that holds ``ip``; None outside every pod range."""
        try:
            n = _number(ip)
        except OSError:
            return None
        for prefix, networks in self.by_prefix.items():
            route = networks.get(n >> (32 - prefix) << (32 - prefix))
            if route is not None:
                return route
        return None

    def addresses(self) -> list[str]:
        return [r.address for networks in self.by_prefix.values() for r in networks.values()]


def route_of(node: dict) -> Route | None:
    """A Node's route; None while it lacks a pod CIDR or an InternalIP."""
    meta, spec, status = (node.get(k) or {} for k in ("metadata", "spec", "status"))
    cidr = spec.get("podCIDR")
    address = next((a.get("address") for a in status.get("addresses") or ()
                    if a.get("type") == "InternalIP"), None)
    if not (isinstance(cidr, str) and isinstance(address, str) and meta.get("name")):
        return None
    try:
        net = ipaddress.ip_network(cidr)
        ipaddress.IPv4Address(address)
    except ValueError:
        return None
    if net.version != 4:
        return None
    return Route(meta["name"], str(net), address)


def next_hop(routes: Routes, current: Mode, local_node: str, ip: str) -> str | None:
    """The tunnel address to reach ``ip`` through, or None to connect directly: shared
    mode, an address outside the pod ranges (Services are served on every node, node IPs
    are routed), or a pod of this node."""
    if current is Mode.SHARED:
        return None
    route = routes.owner(ip)
    if route is None or route.node == local_node:
        return None
    return route.address
