"""The cluster's Services as DNS sees them, kept from watch events.

Services, EndpointSlices (discovery.k8s.io/v1) and, when the agent follows them,
Namespaces arrive as plain API objects. Each Service becomes a ``ServiceView``: its
cluster IPs or external name, its ports, and its *ready* endpoints (every endpoint when
the Service publishes not-ready addresses) with the hostname each one answers to. Every
change returns the cache tags whose answers it may alter, so the server drops only
those. No I/O and no clock: the SOA serial is set by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from node_agent.dns.records import address

SERVICES = "services"
ENDPOINT_SLICES = "discovery.k8s.io/endpointslices"  # the apiserver's storage key
NAMESPACES = "namespaces"
KINDS = (SERVICES, ENDPOINT_SLICES, NAMESPACES)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints"

Key = tuple[str, str]  # (namespace, name)
Tag = tuple[str, ...]  # what a cached answer depends on: see the tag helpers below
VOLATILE: Tag = ("volatile",)  # negative answers and the SOA: dropped on every change


def service_tag(key: Key) -> Tag:
    return ("svc", *key)


def ip_tag(ip: str) -> Tag:
    return ("ip", ip)


def namespace_tag(namespace: str) -> Tag:
    return ("ns", namespace)


class Port(NamedTuple):
    name: str  # lowercase; "" for an unnamed port
    protocol: str  # lowercase: tcp, udp, sctp
    port: int


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    hostname: str  # the endpoint's hostname, or its address with dashes (as CoreDNS)
    ports: tuple[Port, ...]


@dataclass(frozen=True, slots=True)
class ServiceView:
    namespace: str
    name: str
    cluster_ips: tuple[str, ...]  # empty for headless and ExternalName Services
    external_name: str  # lowercase, no trailing dot; "" unless type ExternalName
    ports: tuple[Port, ...]
    endpoints: tuple[Endpoint, ...]  # the ready ones

    @property
    def headless(self) -> bool:
        return not self.cluster_ips and not self.external_name

    def addresses(self) -> set[str]:
        """Every IP that names this Service in a PTR record."""
        return set(self.cluster_ips) | {e.ip for e in self.endpoints}

    def targets(self, port: int, protocol: str) -> tuple[tuple[str, int], ...]:
        """Where kube-proxy sends a connection to the Service's ``port``/``protocol``
        (lowercase): each ready endpoint's IP and the endpoint port of that port's name."""
        wanted = next((p for p in self.ports if p.port == port and p.protocol == protocol),
                      None)
        if wanted is None:
            return ()
        return tuple((e.ip, p.port) for e in self.endpoints for p in e.ports
                     if p.name == wanted.name and p.protocol == protocol)


@dataclass(frozen=True, slots=True)
class _Service:
    cluster_ips: tuple[str, ...]
    external_name: str
    ports: tuple[Port, ...]
    publish_not_ready: bool


@dataclass(frozen=True, slots=True)
class _SliceEndpoint:
    ip: str
    hostname: str
    ready: bool


@dataclass(frozen=True, slots=True)
class _Slice:
    service: str  # the owning Service's name, "" when the label is missing
    endpoints: tuple[_SliceEndpoint, ...]
    ports: tuple[Port, ...]


def object_key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not isinstance(name, str) or not name:
        raise ValueError("cluster DNS: an object without metadata.name")
    namespace = meta.get("namespace")  # type: ignore[union-attr]
    return (namespace if isinstance(namespace, str) and namespace else "default"), name


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _ip(value: Any) -> str | None:
    return address(value) if isinstance(value, str) else None


def _ports(items: Any) -> tuple[Port, ...]:
    ports = []
    for item in _list(items):
        item = _mapping(item)
        number = item.get("port")
        if isinstance(number, int) and not isinstance(number, bool) and 0 < number < 65536:
            ports.append(Port(str(item.get("name") or "").lower(),
                              str(item.get("protocol") or "TCP").lower(), number))
    return tuple(ports)


def parse_service(obj: Mapping[str, Any]) -> _Service:
    spec = _mapping(obj.get("spec"))
    annotations = _mapping(_mapping(obj.get("metadata")).get("annotations"))
    publish = spec.get("publishNotReadyAddresses") is True or \
        str(annotations.get(TOLERATE_UNREADY, "")).lower() == "true"
    if spec.get("type") == "ExternalName":
        target = str(spec.get("externalName") or "").strip().rstrip(".").lower()
        return _Service((), target, _ports(spec.get("ports")), publish)
    listed = _list(spec.get("clusterIPs")) or [spec.get("clusterIP")]
    ips = tuple(ip for ip in (_ip(v) for v in listed) if ip is not None)
    return _Service(ips, "", _ports(spec.get("ports")), publish)


def dashed(ip: str) -> str:
    """The hostname CoreDNS gives an endpoint without one: 10.0.0.1 -> 10-0-0-1."""
    return ip.replace(".", "-").replace(":", "-")


def parse_slice(obj: Mapping[str, Any]) -> _Slice:
    labels = _mapping(_mapping(obj.get("metadata")).get("labels"))
    service = labels.get(SERVICE_NAME_LABEL)
    endpoints: list[_SliceEndpoint] = []
    if obj.get("addressType") in ("IPv4", "IPv6"):
        for item in _list(obj.get("endpoints")):
            item = _mapping(item)
            ready = _mapping(item.get("conditions")).get("ready") is not False
            hostname = item.get("hostname")
            for address in _list(item.get("addresses")):
                ip = _ip(address)
                if ip is not None:
                    own = hostname.lower() if isinstance(hostname, str) and hostname else ""
                    endpoints.append(_SliceEndpoint(ip, own or dashed(ip), ready))
    return _Slice(service if isinstance(service, str) else "", tuple(endpoints),
                  _ports(obj.get("ports")))


def build_view(key: Key, service: _Service, slices: Iterable[_Slice]) -> ServiceView:
    endpoints: list[Endpoint] = []
    seen: set[tuple[str, str]] = set()
    if not service.external_name:
        for piece in slices:
            for e in piece.endpoints:
                if (e.ready or service.publish_not_ready) and (e.ip, e.hostname) not in seen:
                    seen.add((e.ip, e.hostname))
                    endpoints.append(Endpoint(e.ip, e.hostname, piece.ports))
    return ServiceView(key[0], key[1], service.cluster_ips, service.external_name,
                       service.ports, tuple(endpoints))


class Zone:
    """Every Service of the cluster with its endpoints, indexed by name and by IP."""

    def __init__(self) -> None:
        self.serial = 0
        self._services: dict[Key, _Service] = {}
        self._slices: dict[Key, _Slice] = {}
        self._slice_owner: dict[Key, Key] = {}
        self._slices_of: dict[Key, set[Key]] = {}
        self._views: dict[Key, ServiceView] = {}
        self._by_ip: dict[str, set[Key]] = {}
        self._namespaces: set[str] = set()  # from Namespace objects, when followed
        self._services_in: dict[str, int] = {}

    # --- queries (the lookup's view) ------------------------------------------------------

    def service(self, namespace: str, name: str) -> ServiceView | None:
        return self._views.get((namespace, name))

    def namespace_exists(self, namespace: str) -> bool:
        """A Namespace object was seen, or a Service lives there (when the agent does
        not follow Namespaces, ``default`` still exists through ``kubernetes``)."""
        return namespace in self._namespaces or namespace in self._services_in

    def owners(self, ip: str) -> list[ServiceView]:
        """The Services whose cluster IP or ready endpoint is ``ip``, in name order."""
        return [self._views[k] for k in sorted(self._by_ip.get(ip, ()))]

    def __len__(self) -> int:
        return len(self._views)

    # --- changes -----------------------------------------------------------------------

    def update(self, kind: str, obj: Mapping[str, Any]) -> set[Tag]:
        """An object was added or modified; returns the tags of the answers it changes."""
        key = object_key(obj)
        if kind == SERVICES:
            self._services[key] = parse_service(obj)
            return self._refresh({key})
        if kind == ENDPOINT_SLICES:
            return self._refresh(self._put_slice(key, parse_slice(obj)))
        if kind == NAMESPACES:
            self._namespaces.add(key[1])
            return {namespace_tag(key[1]), VOLATILE}
        raise ValueError(f"cluster DNS follows {', '.join(KINDS)}, not {kind!r}")

    def delete(self, kind: str, obj: Mapping[str, Any]) -> set[Tag]:
        return self._remove(kind, object_key(obj))

    def resync(self, kind: str, objects: Iterable[Mapping[str, Any]]) -> set[Tag]:
        """The complete list of a kind after a watch (re)started: what is not in it was
        deleted meanwhile."""
        fresh = {object_key(o): o for o in objects}
        known: Iterable[Key]
        if kind == SERVICES:
            known = list(self._services)
        elif kind == ENDPOINT_SLICES:
            known = list(self._slices)
        elif kind == NAMESPACES:
            known = [("", n) for n in self._namespaces]
            fresh = {("", k[1]): o for k, o in fresh.items()}
        else:
            raise ValueError(f"cluster DNS follows {', '.join(KINDS)}, not {kind!r}")
        tags: set[Tag] = set()
        for key in set(known) - set(fresh):
            tags |= self._remove(kind, key)
        for obj in fresh.values():
            tags |= self.update(kind, obj)
        return tags

    def _remove(self, kind: str, key: Key) -> set[Tag]:
        if kind == SERVICES:
            self._services.pop(key, None)
            return self._refresh({key})
        if kind == ENDPOINT_SLICES:
            self._slices.pop(key, None)
            owner = self._detach_slice(key)
            return self._refresh({owner} if owner else set())
        if kind == NAMESPACES:
            self._namespaces.discard(key[1])
            return {namespace_tag(key[1]), VOLATILE}
        raise ValueError(f"cluster DNS follows {', '.join(KINDS)}, not {kind!r}")

    def _put_slice(self, key: Key, piece: _Slice) -> set[Key]:
        affected = set()
        old_owner = self._detach_slice(key)
        if old_owner:
            affected.add(old_owner)
        self._slices[key] = piece
        if piece.service:
            owner = (key[0], piece.service)
            self._slice_owner[key] = owner
            self._slices_of.setdefault(owner, set()).add(key)
            affected.add(owner)
        return affected

    def _detach_slice(self, key: Key) -> Key | None:
        owner = self._slice_owner.pop(key, None)
        if owner is not None:
            siblings = self._slices_of[owner]
            siblings.discard(key)
            if not siblings:
                del self._slices_of[owner]
        return owner

    def _refresh(self, keys: set[Key]) -> set[Tag]:
        """Rebuilds the views of ``keys``; returns the tags their change touches."""
        tags: set[Tag] = set()
        for key in keys:
            old = self._views.pop(key, None)
            spec = self._services.get(key)
            new = None
            if spec is not None:
                slices = [self._slices[k] for k in sorted(self._slices_of.get(key, ()))]
                new = self._views[key] = build_view(key, spec, slices)
            if old == new:
                continue
            self._count(key[0], (new is not None) - (old is not None))
            old_ips = old.addresses() if old else set()
            new_ips = new.addresses() if new else set()
            for ip in old_ips - new_ips:
                owners = self._by_ip[ip]
                owners.discard(key)
                if not owners:
                    del self._by_ip[ip]
            for ip in new_ips - old_ips:
                self._by_ip.setdefault(ip, set()).add(key)
            tags |= {service_tag(key), namespace_tag(key[0]), VOLATILE}
            tags |= {ip_tag(ip) for ip in old_ips | new_ips}
        return tags

    def _count(self, namespace: str, delta: int) -> None:
        count = self._services_in.get(namespace, 0) + delta
        if count > 0:
            self._services_in[namespace] = count
        else:
            self._services_in.pop(namespace, None)
