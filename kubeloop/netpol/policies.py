"""A NetworkPolicy object compiled once into what each connection check reads: the pod
selector, and per direction the rules, with peers (pod/namespace selectors, ipBlocks as
integer ranges) and ports (protocol, number or range, or a name resolved on the
destination pod) ready to test. ``compile_policy`` applies the API's defaults itself
(policyTypes, protocol TCP), so objects that skipped the apiserver's defaulting (files
given to ``policy check``) mean the same.

Label selectors are apiserver/selectors.py's (``from_label_selector``): one matcher for
the cluster, with the semantics and error messages of k8s.io/apimachinery.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeloop.object_selectors import EVERYTHING, LabelSelector, SelectorError, from_label_selector
from kubeloop.netpol.endpoints import PROTOCOLS, Address, EndpointError, NamedPorts, object_key


class PolicyError(ValueError):
    """A NetworkPolicy that cannot be evaluated; the message names the policy and field."""


_selector_numbers: dict[LabelSelector, int] = {}


def selector_number(selector: LabelSelector) -> int:
    """A number for good per distinct selector: evaluation memoizes selector results per
    pod identity and per namespace under it, so equal selectors of different policies
    share one result, and a number never changes meaning (memos outlive policy changes).
    The table grows with the distinct selectors ever compiled in the process."""
    return _selector_numbers.setdefault(selector, len(_selector_numbers))


@dataclass(frozen=True, slots=True)
class IPBlock:
    """``cidr`` minus ``except``, as inclusive integer ranges. Matches any address in it,
    pod IPs included (as Calico does; upstream leaves cluster-internal IPs open)."""

    cidr: str
    version: int
    first: int
    last: int
    excepts: tuple[tuple[int, int], ...] = ()

    def contains(self, address: Address | None) -> bool:
        if address is None or address[0] != self.version:
            return False
        value = address[1]
        if not self.first <= value <= self.last:
            return False
        return not any(lo <= value <= hi for lo, hi in self.excepts)


@dataclass(frozen=True, slots=True)
class PodPeer:
    """Pods matching ``pods`` (None: all) in the namespaces matching ``namespaces`` (None:
    only the policy's own namespace, ``home``). hostNetwork pods are never tested: they
    are the node. ``*_number``: the selectors' numbers (``selector_number``), under which
    evaluation memoizes their results."""

    home: str
    namespaces: LabelSelector | None
    pods: LabelSelector | None
    namespaces_number: int = field(init=False, compare=False, repr=False)
    pods_number: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "namespaces_number",
                           -1 if self.namespaces is None else selector_number(self.namespaces))
        object.__setattr__(self, "pods_number",
                           -1 if self.pods is None else selector_number(self.pods))


Peer = IPBlock | PodPeer


@dataclass(frozen=True, slots=True)
class PolicyPort:
    """One ``ports`` entry: a protocol and a range of its ports (all of them by default;
    one port when there is no endPort), or a container port ``name``."""

    protocol: str
    first: int = 1
    last: int = 65535
    name: str | None = None

    def matches(self, port: int, protocol: str, named_ports: NamedPorts | None) -> bool:
        """``named_ports``: the container ports of the pod connected to (None: not a pod),
        which resolve a name."""
        if protocol != self.protocol:
            return False
        if self.name is None:
            return self.first <= port <= self.last
        return named_ports is not None and (port, protocol) in named_ports.get(self.name, ())


@dataclass(frozen=True, slots=True)
class Rule:
    """One ingress/egress rule: traffic matching a peer AND a port. None means every peer
    (an empty or missing from/to) or every port (empty or missing ports)."""

    peers: tuple[Peer, ...] | None
    ports: tuple[PolicyPort, ...] | None

    def port_matches(self, port: int, protocol: str, named_ports: NamedPorts | None) -> bool:
        return self.ports is None or \
            any(entry.matches(port, protocol, named_ports) for entry in self.ports)

    def number_matches(self, port: int, protocol: str) -> bool | None:
        """The port test before knowing the pod connected to: True when the rule admits
        the port, False when it cannot, None when only a named port could (it depends on
        that pod's container ports)."""
        if self.ports is None:
            return True
        depends = False
        for entry in self.ports:
            if entry.protocol == protocol:
                if entry.name is not None:
                    depends = True
                elif entry.first <= port <= entry.last:
                    return True
        return None if depends else False


@dataclass(frozen=True, slots=True)
class Policy:
    """A compiled NetworkPolicy. ``ingress``/``egress`` is None when the policy does not
    apply to that direction, else its rules (empty: it denies everything)."""

    namespace: str
    name: str
    pod_selector: LabelSelector
    ingress: tuple[Rule, ...] | None
    egress: tuple[Rule, ...] | None


def _selector(raw: Any, path: str) -> LabelSelector:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{path}: must be a label selector object")
    try:
        return from_label_selector(raw)
    except SelectorError as e:
        raise PolicyError(f"{path}: {e}") from e


def _network(text: Any, path: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(text, str) or not text:
        raise PolicyError(f"{path}: a CIDR is required")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as e:
        raise PolicyError(f"{path}: invalid CIDR {text!r}: {e}") from e


def _ip_block(raw: Any, path: str) -> IPBlock:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{path}: must be an object")
    network = _network(raw.get("cidr"), f"{path}.cidr")
    excepts = []
    for i, text in enumerate(raw.get("except") or []):
        hole = _network(text, f"{path}.except[{i}]")
        if hole.version != network.version or hole.prefixlen <= network.prefixlen or \
                not hole.subnet_of(network):  # type: ignore[arg-type]
            raise PolicyError(f"{path}.except[{i}]: {text!r} must be a strict subset of "
                              f"{raw['cidr']!r}")
        excepts.append((int(hole.network_address), int(hole.broadcast_address)))
    return IPBlock(str(raw["cidr"]), network.version, int(network.network_address),
                   int(network.broadcast_address), tuple(excepts))


def _peer(raw: Any, home: str, path: str) -> Peer:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{path}: must be an object")
    pods, namespaces, block = (raw.get(k) for k in ("podSelector", "namespaceSelector",
                                                    "ipBlock"))
    if block is not None:
        if pods is not None or namespaces is not None:
            raise PolicyError(f"{path}: may not specify both ipBlock and another peer")
        return _ip_block(block, f"{path}.ipBlock")
    if pods is None and namespaces is None:
        raise PolicyError(f"{path}: must specify a peer")
    pod_selector = None if pods is None else _selector(pods, f"{path}.podSelector")
    return PodPeer(home,
                   None if namespaces is None else
                   _selector(namespaces, f"{path}.namespaceSelector"),
                   None if pod_selector == EVERYTHING else pod_selector)


def _port_number(value: Any, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise PolicyError(f"{path}: must be a port number between 1 and 65535, not {value!r}")
    return value


def _port(raw: Any, path: str) -> PolicyPort:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{path}: must be an object")
    protocol = raw.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        raise PolicyError(f"{path}.protocol: {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    port, end = raw.get("port"), raw.get("endPort")
    if port is None:
        if end is not None:
            raise PolicyError(f"{path}.endPort: may not be specified when `port` is not")
        return PolicyPort(protocol)
    if isinstance(port, str):
        if end is not None:
            raise PolicyError(f"{path}.endPort: may not be specified when `port` is a name")
        return PolicyPort(protocol, name=port)
    first = _port_number(port, f"{path}.port")
    last = first if end is None else _port_number(end, f"{path}.endPort")
    if last < first:
        raise PolicyError(f"{path}.endPort: {last} must be greater than or equal to `port`")
    return PolicyPort(protocol, first, last)


def _list(raw: Any, path: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PolicyError(f"{path}: must be a list")
    return raw


def _rules(raw: Any, peers_key: str, home: str, path: str) -> tuple[Rule, ...]:
    rules = []
    for i, rule in enumerate(_list(raw, path)):
        rpath = f"{path}[{i}]"
        if not isinstance(rule, Mapping):
            raise PolicyError(f"{rpath}: must be an object")
        peers = tuple(_peer(p, home, f"{rpath}.{peers_key}[{j}]")
                      for j, p in enumerate(_list(rule.get(peers_key), f"{rpath}.{peers_key}")))
        ports = tuple(_port(p, f"{rpath}.ports[{j}]")
                      for j, p in enumerate(_list(rule.get("ports"), f"{rpath}.ports")))
        rules.append(Rule(peers or None, ports or None))
    return tuple(rules)


def policy_types(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """spec.policyTypes, or upstream's default: Ingress always, Egress when there are
    egress rules (a policy meant to deny all egress must list Egress explicitly)."""
    types = spec.get("policyTypes")
    if types:
        if not isinstance(types, list):
            raise PolicyError("spec.policyTypes: must be a list")
        return tuple(types)
    return ("Ingress", "Egress") if spec.get("egress") else ("Ingress",)


def compile_policy(obj: Any) -> Policy:
    """A networking.k8s.io/v1 NetworkPolicy object -> Policy; PolicyError if malformed."""
    try:
        namespace, name = object_key(obj, "networkpolicies")
    except EndpointError as e:
        raise PolicyError(str(e)) from e
    namespace = namespace or "default"
    what = f"networkpolicy {namespace}/{name}"
    spec = obj.get("spec") or {}
    if not isinstance(spec, Mapping):
        raise PolicyError(f"{what}: spec must be an object")
    try:
        types = policy_types(spec)
        unknown = [t for t in types if t not in ("Ingress", "Egress")]
        if unknown:
            raise PolicyError(f"spec.policyTypes: {unknown[0]!r} is not Ingress or Egress")
        selector = _selector(spec.get("podSelector") or {}, "spec.podSelector")
        ingress = _rules(spec.get("ingress"), "from", namespace, "spec.ingress") \
            if "Ingress" in types else None
        egress = _rules(spec.get("egress"), "to", namespace, "spec.egress") \
            if "Egress" in types else None
    except PolicyError as e:
        raise PolicyError(f"{what}: {e}") from e
    return Policy(namespace, name, selector, ingress, egress)

