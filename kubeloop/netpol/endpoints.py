"""The two ends of a connection, as NetworkPolicy sees them: a ``Pod`` (namespace, name,
labels, IP, node, named container ports) or an ``External`` address (anything that is not a
pod: the outside world, a node, a hostNetwork pod). ``pod_from_object`` reduces a Pod
object to what policy evaluation reads, so an unchanged reduction means nothing to redo.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROTOCOLS = ("TCP", "UDP", "SCTP")
NAME_LABEL = "kubernetes.io/metadata.name"  # every namespace carries its name as a label
# Pods in these phases hold no IP any more: their address may already be another pod's.
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})

Address = tuple[int, int]  # (IP version, integer value): cheap range checks for ipBlocks
NamedPorts = Mapping[str, frozenset[tuple[int, str]]]  # port name -> {(containerPort, protocol)}


class EndpointError(ValueError):
    """An address or object that cannot stand for a connection's end."""


def parse_address(ip: str) -> Address:
    """``"127.244.1.5"`` -> (4, 2146697477); EndpointError names a malformed address."""
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError as e:
        raise EndpointError(f"not an IP address: {ip!r}") from e
    return parsed.version, int(parsed)


@dataclass(frozen=True, slots=True)
class External:
    """An address that is no pod's: judged by ipBlocks only."""

    ip: str
    address: Address

    @classmethod
    def of(cls, ip: str) -> External:
        return cls(ip, parse_address(ip))

    def __str__(self) -> str:
        return self.ip


@dataclass(frozen=True, slots=True)
class Pod:
    """What policy evaluation needs of a pod. ``host_network`` pods are node traffic: no
    policy selects them and selectors never match them (their IP is the node's)."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    ip: str = ""
    host_ip: str = ""
    named_ports: NamedPorts = field(default_factory=dict)
    host_network: bool = False
    terminated: bool = False
    address: Address | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", parse_address(self.ip) if self.ip else None)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


Endpoint = Pod | External


def _str(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EndpointError(f"{what} must be a string, not {type(value).__name__}")
    return value


def _labels(meta: Mapping[str, Any], what: str) -> dict[str, str]:
    labels = meta.get("labels") or {}
    if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise EndpointError(f"{what}: metadata.labels must map strings to strings")
    return dict(labels)


def _named_ports(spec: Mapping[str, Any], what: str) -> dict[str, frozenset[tuple[int, str]]]:
    """Container ports by name; init containers count too (sidecars serve)."""
    found: dict[str, set[tuple[int, str]]] = {}
    for group in ("containers", "initContainers"):
        for container in spec.get(group) or []:
            if not isinstance(container, Mapping):
                raise EndpointError(f"{what}: spec.{group} entries must be objects")
            for port in container.get("ports") or []:
                if not isinstance(port, Mapping):
                    raise EndpointError(f"{what}: container ports must be objects")
                name, number = port.get("name"), port.get("containerPort")
                if not name:
                    continue
                if not isinstance(number, int) or isinstance(number, bool):
                    raise EndpointError(f"{what}: port {name!r} has no integer containerPort")
                protocol = port.get("protocol") or "TCP"
                found.setdefault(_str(name, "port name"), set()).add((number, protocol))
    return {name: frozenset(ports) for name, ports in found.items()}


def object_key(obj: Any, kind: str) -> tuple[str, str]:
    """(namespace, name) of an API object; namespace "" for cluster-scoped kinds."""
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str) or \
            not meta["name"]:
        raise EndpointError(f"a {kind} object without metadata.name")
    return _str(meta.get("namespace"), "metadata.namespace"), meta["name"]


def pod_from_object(obj: Any) -> Pod:
    """A Pod object (as the apiserver serves it) -> Pod; EndpointError if malformed."""
    namespace, name = object_key(obj, "pods")
    namespace = namespace or "default"
    what = f"pod {namespace}/{name}"
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if not isinstance(spec, Mapping) or not isinstance(status, Mapping):
        raise EndpointError(f"{what}: spec and status must be objects")
    labels, ports = _labels(obj["metadata"], what), _named_ports(spec, what)
    ip = _str(status.get("podIP"), f"{what}: status.podIP")
    host_ip = _str(status.get("hostIP"), f"{what}: status.hostIP")
    try:
        return Pod(namespace, name, labels, ip, host_ip, ports,
                   spec.get("hostNetwork") is True, status.get("phase") in TERMINAL_PHASES)
    except EndpointError as e:
        raise EndpointError(f"{what}: status.podIP: {e}") from e


def namespace_labels(obj: Any) -> tuple[str, dict[str, str]]:
    """A Namespace object -> (name, labels), with the kubernetes.io/metadata.name label the
    apiserver always sets (added here when missing, so selectors on it work regardless)."""
    _, name = object_key(obj, "namespaces")
    labels = _labels(obj["metadata"], f"namespace {name}")
    labels.setdefault(NAME_LABEL, name)
    return name, labels

