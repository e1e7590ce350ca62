"""What a node's service proxy must serve, as pure functions over plain objects.

``plan(service, slices, node)`` turns one Service and its EndpointSlices into the
listeners this node opens (``Frontend``: address, which service port, whose endpoints may
answer, whose address the backend sees) and the endpoints of each service port
(``Backends``). ``proxy.py`` diffs successive plans of a Service and applies only the
difference, so an event costs the size of its Service, not of the cluster. No sockets, no
clock here.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_AFFINITY_SECONDS = 10800  # sessionAffinityConfig.clientIP.timeoutSeconds default
LOCALHOST = "127.0.0.1"
PROTOCOLS = ("TCP", "UDP")  # SCTP has no userspace relay here
MAX_NODE = 250  # a cluster has at most 250 nodes (kubeloop.config)
_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class Entry(StrEnum):
    """How traffic reaches a listener; it decides the traffic policy that applies."""

    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"
    EXTERNAL_IP = "ExternalIP"


class Locality(StrEnum):
    """Which endpoints may answer a connection."""

    CLUSTER = "Cluster"  # any endpoint
    CLIENT_NODE = "ClientNode"  # internalTrafficPolicy Local: on the client's node
    THIS_NODE = "ThisNode"  # externalTrafficPolicy Local: on the node that accepted it


@dataclass(frozen=True, order=True)
class Address:
    """A listening socket: one per (IP, port, protocol) in this process."""

    ip: str
    port: int
    protocol: str

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}/{self.protocol}"


@dataclass(frozen=True, order=True)
class PortRef:
    """A service port: the unit that owns endpoints, round-robin and affinity state."""

    namespace: str
    name: str
    port: str  # the port's name, "" for a single unnamed port
    protocol: str

    def __str__(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.namespace}/{self.name}{port}/{self.protocol}"


@dataclass(frozen=True, order=True)
class Endpoint:
    ip: str
    port: int
    node: str = ""  # nodeName, "" when the slice does not say
    ready: bool = True
    serving: bool = True
    terminating: bool = False


@dataclass(frozen=True)
class Frontend:
    address: Address
    service: PortRef
    entry: Entry
    locality: Locality
    source: str | None  # address the backend sees (SNAT to the node IP); None: the client's
    shared: bool  # other node agents bind the same address (SO_REUSEPORT)


@dataclass(frozen=True)
class Backends:
    endpoints: tuple[Endpoint, ...]  # sorted, one per (ip, port)
    affinity: float | None  # ClientIP affinity timeout in seconds, None without affinity


@dataclass(frozen=True)
class Node:
    """The node this proxy runs on."""

    name: str
    ip: str
    node_ports_on_localhost: bool


@dataclass(frozen=True)
class Plan:
    frontends: dict[Address, Frontend] = field(default_factory=dict)
    backends: dict[PortRef, Backends] = field(default_factory=dict)


EMPTY = Plan()


def usable(endpoints: Iterable[Endpoint]) -> tuple[Endpoint, ...]:
    """The endpoints traffic may go to, as kube-proxy categorizes them: the ready ones;
    when none is ready, the ones still serving while terminating (graceful drain)."""
    endpoints = tuple(endpoints)
    ready = tuple(e for e in endpoints if e.ready)
    if ready:
        return ready
    return tuple(e for e in endpoints if e.serving and e.terminating)


def _ipv4_loopback(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    return str(ip) if ip.version == 4 and ip in _LOOPBACK else None


def _loopback_ips(values: Iterable[object]) -> list[str]:
    return sorted({ip for ip in map(_ipv4_loopback, values) if ip is not None})


def cluster_ips(spec: dict) -> list[str]:
    """The IPv4 loopback cluster IPs of a spec; none for headless or ExternalName."""
    return _loopback_ips(spec.get("clusterIPs") or [spec.get("clusterIP")])


def affinity_timeout(spec: dict) -> float | None:
    if spec.get("sessionAffinity") != "ClientIP":
        return None
    config = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
    seconds = config.get("timeoutSeconds")
    return float(seconds) if isinstance(seconds, int) and seconds > 0 \
        else float(DEFAULT_AFFINITY_SECONDS)


def endpoints_for(port_name: str, protocol: str, slices: Iterable[dict]) -> tuple[Endpoint, ...]:
    """The endpoints of one service port across a Service's slices (IPv4 slices only; the
    slice port is matched by name and protocol as kube-proxy does), sorted, one per
    address: a duplicate across slices (mid-update) counts as ready when either copy is."""
    found: dict[tuple[str, int], Endpoint] = {}
    for s in slices:
        if s.get("addressType", "IPv4") != "IPv4":
            continue
        numbers = [p.get("port") for p in s.get("ports") or []
                   if (p.get("name") or "") == port_name
                   and (p.get("protocol") or "TCP") == protocol]
        for number in numbers:
            if not isinstance(number, int) or not 0 < number < 65536:
                continue
            for e in s.get("endpoints") or []:
                addresses = e.get("addresses") or []
                ip = _ipv4_loopback(addresses[0]) if addresses else None
                if ip is None:
                    continue
                cond = e.get("conditions") or {}
                ready = cond.get("ready") is not False
                ep = Endpoint(ip, number, e.get("nodeName") or "", ready,
                              cond.get("serving", ready) is not False,
                              cond.get("terminating") is True)
                old = found.get((ip, number))
                if old is None or (ep.ready and not old.ready):
                    found[(ip, number)] = ep
    return tuple(sorted(found.values()))


def plan(service: dict | None, slices: Sequence[dict], node: Node) -> Plan:
    """The listeners and backends of one Service on ``node`` (EMPTY for None).

    A listener exists only while its service port has an endpoint it may use: without
    one the address is not bound, so clients get "connection refused" at once (for UDP an
    ICMP port unreachable), as kube-proxy's REJECT rules give. Per-client refusals
    (internalTrafficPolicy Local) happen at accept time in the relay.
    """
    if service is None:
        return EMPTY
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    if kind == "ExternalName":
        return EMPTY
    namespace, name = meta.get("namespace") or "default", meta.get("name") or ""
    internal = Locality.CLIENT_NODE if spec.get("internalTrafficPolicy") == "Local" \
        else Locality.CLUSTER
    external_local = spec.get("externalTrafficPolicy") == "Local"
    external = Locality.THIS_NODE if external_local else Locality.CLUSTER
    source = None if external_local else node.ip  # eTP Cluster masquerades to the node IP
    ips = cluster_ips(spec)
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    lb_ips = _loopback_ips(i.get("ip") for i in ingress if isinstance(i, dict)) \
        if kind == "LoadBalancer" else []
    external_ips = _loopback_ips(spec.get("externalIPs") or [])
    affinity = affinity_timeout(spec)
    frontends: dict[Address, Frontend] = {}
    backends: dict[PortRef, Backends] = {}

    def add(ip: str, number: object, protocol: str, ref: PortRef, entry: Entry,
            locality: Locality, src: str | None, shared: bool) -> None:
        if isinstance(number, int) and 0 < number < 65536:
            address = Address(ip, number, protocol)
            frontends.setdefault(address, Frontend(address, ref, entry, locality, src, shared))

    for port in spec.get("ports") or []:
        protocol = port.get("protocol") or "TCP"
        if protocol not in PROTOCOLS:
            continue
        ref = PortRef(namespace, name, port.get("name") or "", protocol)
        endpoints = endpoints_for(ref.port, protocol, slices)
        backends[ref] = Backends(endpoints, affinity)
        anywhere = bool(usable(endpoints))
        here = bool(usable(e for e in endpoints if e.node == node.name))
        if anywhere:
            for ip in ips:
                add(ip, port.get("port"), protocol, ref, Entry.CLUSTER_IP, internal, None, True)
        if not (here if external_local else anywhere):
            continue
        for ip in external_ips:
            add(ip, port.get("port"), protocol, ref, Entry.EXTERNAL_IP, external, source, True)
        for ip in lb_ips:
            add(ip, port.get("port"), protocol, ref, Entry.LOAD_BALANCER, external, source,
                True)
        if kind in ("NodePort", "LoadBalancer"):
            node_port = port.get("nodePort")
            add(node.ip, node_port, protocol, ref, Entry.NODE_PORT, external, source, False)
            if node.node_ports_on_localhost:
                add(LOCALHOST, node_port, protocol, ref, Entry.NODE_PORT, external, source,
                    True)
    return Plan(frontends, backends)


def ip_number(ip: str) -> int:
    return int.from_bytes(socket.inet_aton(ip), "big")


@dataclass(frozen=True)
class NodeMap:
    """Which node an address belongs to, from the cluster's address plan: node N has the
    node IP ``node_cidr[N]`` and the pod range ``pod_cidr``'s N-th /24. It tells the
    client's node for internalTrafficPolicy Local whichever agent accepted the
    connection."""

    node_base: int
    pod_base: int
    pod_size: int

    @classmethod
    def of(cls, node_cidr: str, pod_cidr: str) -> NodeMap:
        nodes, pods = ipaddress.ip_network(node_cidr), ipaddress.ip_network(pod_cidr)
        return cls(int(nodes.network_address), int(pods.network_address), pods.num_addresses)

    def index(self, ip: str) -> int | None:
        """The node number of a pod or node IP; None for any other address."""
        try:
            n = ip_number(ip)
        except OSError:
            return None
        if 0 <= n - self.pod_base < self.pod_size:
            index = (n - self.pod_base) >> 8
        else:
            index = n - self.node_base
        return index if 1 <= index <= MAX_NODE else None
