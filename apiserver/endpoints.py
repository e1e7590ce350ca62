"""What the endpoints controllers want to exist, as plain functions over plain objects.

A Service with a selector gets an Endpoints object (ready pods in ``addresses``, the others
in ``notReadyAddresses``) and EndpointSlices (every pod with an IP, terminating ones too,
with ready/serving/terminating conditions), as kube-controller-manager's endpoint and
endpointslice controllers make them. A Service without a selector keeps the Endpoints its
user writes; those are mirrored into EndpointSlices (the endpointslicemirroring
controller). ``plan_slices`` turns the wanted endpoints and the slices that exist into the
creates, updates and deletes that reach the wanted state while touching few slices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apiserver.replication import controller_reference, format_time, is_pod_ready, parse_time

SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
HEADLESS = "service.kubernetes.io/headless"
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
LEADER_ELECTION = "control-plane.alpha.kubernetes.io/leader"
ZONE = "topology.kubernetes.io/zone"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"
MIRROR_CONTROLLER = "endpointslicemirroring-controller.k8s.io"
MAX_ENDPOINTS = 1000  # per Endpoints object, and per mirrored subset
MAX_SLICE_ENDPOINTS = 100  # kube-controller-manager's --max-endpoints-per-slice default
RESERVED_SLICE_LABELS = (SERVICE_NAME, MANAGED_BY, HEADLESS)

PortsKey = tuple[tuple[str, int, str, str], ...]


# --- Services and pods ------------------------------------------------------------------

def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def selector(service: Mapping[str, Any]) -> dict[str, str]:
    """The selector; empty means none (an empty map does not survive storage upstream)."""
    return _spec(service).get("selector") or {}


def uses_selector(service: Mapping[str, Any]) -> bool:
    """Whether the controllers compute this Service's endpoints from pods."""
    return bool(selector(service)) and _spec(service).get("type") != "ExternalName"


def selects(service: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    wanted = selector(service)
    if not wanted:
        return False
    if pod["metadata"].get("namespace") != service["metadata"].get("namespace"):
        return False
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def is_headless(service: Mapping[str, Any]) -> bool:
    return _spec(service).get("clusterIP") in (None, "", "None")


def pod_ip(pod: Mapping[str, Any]) -> str | None:
    """The pod's IPv4 address (the cluster is single-stack IPv4)."""
    status = pod.get("status") or {}
    for entry in status.get("podIPs") or []:
        ip = entry.get("ip") or ""
        if ip and ":" not in ip:
            return ip
    ip = status.get("podIP") or ""
    return ip if ip and ":" not in ip else None


def in_endpoints(pod: Mapping[str, Any], include_terminating: bool) -> bool:
    """ShouldPodBeInEndpoints: not finished, has an IP, and (unless asked) not terminating."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    if pod_ip(pod) is None:
        return False
    return include_terminating or not pod["metadata"].get("deletionTimestamp")


def find_port(pod: Mapping[str, Any], service_port: Mapping[str, Any]) -> int | None:
    """The pod port a Service port targets: a number as is, a name looked up in the
    containers' (and sidecars') ports of the same protocol; None when the pod has none."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    protocol = service_port.get("protocol", "TCP")
    spec = _spec(pod)
    containers = list(spec.get("containers") or []) + [
        c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for container in containers:
        for port in container.get("ports") or []:
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return port.get("containerPort")
    return None


def pod_view(pod: Mapping[str, Any]) -> tuple:
    """Everything of a pod that an endpoint shows or that decides whether it is one, so
    a status update that changes none of it costs no reconcile."""
    meta, spec, status = pod["metadata"], _spec(pod), pod.get("status") or {}
    ready: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    ports = [c.get("ports") for c in spec.get("containers") or []] + \
        [c.get("ports") for c in spec.get("initContainers") or []]
    return (meta.get("labels"), meta.get("deletionTimestamp"), meta.get("uid"),
            spec.get("nodeName"), spec.get("hostname"), spec.get("subdomain"), ports,
            status.get("phase"), status.get("podIP"), status.get("podIPs"),
            ready.get("status"), ready.get("lastTransitionTime"))


def _hostname(pod: Mapping[str, Any], service: Mapping[str, Any]) -> str | None:
    """A pod's hostname is published when its subdomain names this Service."""
    spec = _spec(pod)
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"] and \
            pod["metadata"].get("namespace") == service["metadata"].get("namespace"):
        return str(spec["hostname"])
    return None


def _target_ref(pod: Mapping[str, Any]) -> dict[str, str]:
    meta = pod["metadata"]
    return {"kind": "Pod", "name": meta["name"], "namespace": meta.get("namespace", ""),
            "uid": meta.get("uid", "")}


def selected(service: Mapping[str, Any], pods: Iterable[dict]) -> list:
    """The pods ``service`` selects, by name: the ``pods`` argument of the functions
    below, which trust it (a Service of 1,000 pods is reconciled often)."""
    return sorted((p for p in pods if selects(service, p)), key=lambda p: p["metadata"]["name"])


# --- trigger time -----------------------------------------------------------------------

@dataclass(frozen=True)
class TriggerState:
    """What the last sync of a Service saw: its creation time and each pod's last Ready
    transition, so the next sync can tell which of them changed since."""

    service: datetime | None
    pods: Mapping[str, datetime] = field(default_factory=dict)


def trigger_time(previous: TriggerState | None, service: Mapping[str, Any],
                 pods: Iterable[dict]) -> tuple[str | None, TriggerState]:
    """The endpoints.kubernetes.io/last-change-trigger-time of this sync (upstream's
    TriggerTimeTracker): the Service's creation on its first sync, then the earliest
    changed trigger among the pods' Ready transitions; None when nothing changed."""
    created = parse_time(service["metadata"].get("creationTimestamp"))
    times: dict[str, datetime] = {}
    earliest: datetime | None = None
    for pod in pods:
        ready = next((c for c in (pod.get("status") or {}).get("conditions") or []
                      if c.get("type") == "Ready"), None)
        when = parse_time((ready or {}).get("lastTransitionTime"))
        if when is None:
            continue
        name = pod["metadata"]["name"]
        times[name] = when
        before = previous.pods.get(name) if previous else None
        if before is None or when > before:
            earliest = when if earliest is None else min(earliest, when)
    state = TriggerState(created, times)
    if previous is None:
        return service["metadata"].get("creationTimestamp"), state
    if created is not None and (previous.service is None or created > previous.service):
        earliest = created if earliest is None else min(earliest, created)
    return (format_time(earliest) if earliest else None), state


# --- Endpoints ----------------------------------------------------------------------------

def _endpoint_port(service_port: Mapping[str, Any], number: int) -> dict[str, Any]:
    port: dict[str, Any] = {}
    if service_port.get("name"):
        port["name"] = service_port["name"]
    port["port"] = number
    port["protocol"] = service_port.get("protocol", "TCP")
    if service_port.get("appProtocol") is not None:
        port["appProtocol"] = service_port["appProtocol"]
    return port


def _port_key(port: Mapping[str, Any]) -> tuple[str, int, str, str]:
    return (port.get("name") or "", int(port.get("port") or 0), port.get("protocol") or "TCP",
            port.get("appProtocol") or "")


def _address_order(address: Mapping[str, Any]) -> tuple:
    ip = address.get("ip", "")
    try:
        numeric = tuple(int(p) for p in ip.split("."))
    except ValueError:
        numeric = ()
    return numeric, ip, (address.get("targetRef") or {}).get("uid", "")


def repack(entries: Iterable[tuple[dict, bool, dict | None]]) -> list[dict]:
    """RepackSubsets: (address, ready, port or None) triples into subsets, one per set of
    addresses that offer the same ports. An address ready for a port in any entry is
    ready for it."""
    addresses: dict[tuple[str, str], dict] = {}
    by_port: dict[tuple, dict[tuple[str, str], bool]] = {}
    port_objs: dict[tuple, dict | None] = {}
    for address, ready, port in entries:
        akey = (address.get("ip", ""), (address.get("targetRef") or {}).get("uid", ""))
        addresses.setdefault(akey, address)
        pkey = _port_key(port) if port is not None else ()
        port_objs.setdefault(pkey, port)
        seen = by_port.setdefault(pkey, {})
        seen[akey] = seen.get(akey, False) or ready
    groups: dict[frozenset[tuple[tuple[str, str], bool]], list[tuple]] = {}
    for pkey, readiness in by_port.items():
        groups.setdefault(frozenset(readiness.items()), []).append(pkey)
    subsets = []
    for members, pkeys in groups.items():
        subset: dict[str, Any] = {}
        up = sorted((addresses[a] for a, r in members if r), key=_address_order)
        down = sorted((addresses[a] for a, r in members if not r), key=_address_order)
        if up:
            subset["addresses"] = up
        if down:
            subset["notReadyAddresses"] = down
        ports = [port_objs[k] for k in pkeys if k != ()]
        if ports:
            subset["ports"] = ports
        subsets.append(subset)
    return subsets


def _truncate(subsets: list[dict]) -> bool:
    """Keep at most MAX_ENDPOINTS addresses, ready ones first, spread over the subsets in
    proportion (truncateEndpoints); True when something was cut."""
    ready = sum(len(s.get("addresses") or []) for s in subsets)
    not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
    if ready + not_ready <= MAX_ENDPOINTS:
        return False
    cut_ready = ready > MAX_ENDPOINTS
    budget = MAX_ENDPOINTS if cut_ready else MAX_ENDPOINTS - ready
    total = ready if cut_ready else not_ready
    left = budget
    for subset in subsets:
        field_name = "addresses" if cut_ready else "notReadyAddresses"
        members = subset.get(field_name) or []
        share = min(-(-len(members) * budget // total), left)
        kept = members[:share]
        left -= len(kept)
        if kept:
            subset[field_name] = kept
        else:
            subset.pop(field_name, None)
        if cut_ready:
            subset.pop("notReadyAddresses", None)
    return True


def endpoints_for(service: Mapping[str, Any], pods: Iterable[dict],
                  current: Mapping[str, Any] | None, trigger: str | None) -> dict | None:
    """The Endpoints object a selector Service should have, or None when ``current``
    already says the same (subsets, labels and capacity annotation; the trigger time
    alone is no reason to write)."""
    spec = _spec(service)
    tolerate = bool(spec.get("publishNotReadyAddresses"))
    ports = spec.get("ports") or []
    entries: list[tuple[dict, bool, dict | None]] = []
    for pod in pods:
        if not in_endpoints(pod, tolerate):
            continue
        address: dict[str, Any] = {"ip": pod_ip(pod)}
        hostname = _hostname(pod, service)
        if hostname:
            address["hostname"] = hostname
        if _spec(pod).get("nodeName"):
            address["nodeName"] = _spec(pod)["nodeName"]
        address["targetRef"] = _target_ref(pod)
        ready = tolerate or is_pod_ready(pod)
        if not ports:
            if spec.get("clusterIP") == "None":
                entries.append((address, ready, None))
            continue
        for service_port in ports:
            number = find_port(pod, service_port)
            if number is not None:
                entries.append((address, ready, _endpoint_port(service_port, number)))
    subsets = repack(entries)
    truncated = _truncate(subsets)
    labels = dict(service["metadata"].get("labels") or {})
    labels.pop(HEADLESS, None)
    if is_headless(service):
        labels[HEADLESS] = ""
    if current is not None:
        annotations = current["metadata"].get("annotations") or {}
        if (current.get("subsets") or []) == subsets and \
                (current["metadata"].get("labels") or {}) == labels and \
                (OVER_CAPACITY in annotations) == truncated:
            return None
        annotations = dict(annotations)
    else:
        annotations = {}
    annotations.pop(TRIGGER_TIME, None)
    annotations.pop(OVER_CAPACITY, None)
    if trigger:
        annotations[TRIGGER_TIME] = trigger
    if truncated:
        annotations[OVER_CAPACITY] = "truncated"
    meta: dict[str, Any] = {"name": service["metadata"]["name"],
                            "namespace": service["metadata"].get("namespace", "")}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta}
    if subsets:
        body["subsets"] = subsets
    return body


# --- EndpointSlices -----------------------------------------------------------------------

@dataclass(frozen=True)
class Group:
    """Endpoints sharing one address type and one list of ports: one or more slices."""

    address_type: str
    ports: tuple[dict, ...]
    endpoints: tuple[dict, ...]

    @property
    def key(self) -> tuple[str, PortsKey]:
        return self.address_type, tuple(sorted(_port_key(p) for p in self.ports))


def _slice_port(service_port: Mapping[str, Any], number: int) -> dict[str, Any]:
    port: dict[str, Any] = {"name": service_port.get("name") or "", "port": number,
                            "protocol": service_port.get("protocol", "TCP")}
    if service_port.get("appProtocol") is not None:
        port["appProtocol"] = service_port["appProtocol"]
    return port


def pod_groups(service: Mapping[str, Any], pods: Iterable[dict],
               zones: Mapping[str, str]) -> list[Group]:
    """The endpoints of a selector Service's slices, grouped by the ports each pod offers
    (a named targetPort may resolve differently per pod, or not at all)."""
    spec = _spec(service)
    publish = bool(spec.get("publishNotReadyAddresses"))
    headless_without_ports = not spec.get("ports") and spec.get("clusterIP") == "None"
    grouped: dict[tuple, tuple[list[dict], list[dict]]] = {}
    for pod in pods:
        if not in_endpoints(pod, True):
            continue
        ports = [] if headless_without_ports else [
            _slice_port(sp, number) for sp in spec.get("ports") or []
            if (number := find_port(pod, sp)) is not None]
        serving = is_pod_ready(pod)
        terminating = bool(pod["metadata"].get("deletionTimestamp"))
        endpoint: dict[str, Any] = {
            "addresses": [pod_ip(pod)],
            "conditions": {"ready": publish or (serving and not terminating),
                           "serving": serving, "terminating": terminating},
        }
        hostname = _hostname(pod, service)
        if hostname:
            endpoint["hostname"] = hostname
        node = _spec(pod).get("nodeName")
        if node:
            endpoint["nodeName"] = node
        endpoint["targetRef"] = _target_ref(pod)
        if node and zones.get(node):
            endpoint["zone"] = zones[node]
        key = tuple(sorted(_port_key(p) for p in ports))
        grouped.setdefault(key, (ports, []))[1].append(endpoint)
    return [Group("IPv4", tuple(ports), tuple(eps)) for ports, eps in grouped.values()]


def mirror_groups(endpoints: Mapping[str, Any]) -> list[Group]:
    """The slices mirroring a user's Endpoints: one group per subset's ports and address
    type, at most MAX_ENDPOINTS addresses per subset."""
    grouped: dict[tuple, tuple[list[dict], list[dict]]] = {}
    for subset in endpoints.get("subsets") or []:
        ports = [{"name": p.get("name") or "", "port": p.get("port"),
                  "protocol": p.get("protocol", "TCP"),
                  **({"appProtocol": p["appProtocol"]} if p.get("appProtocol") else {})}
                 for p in subset.get("ports") or []]
        listed = [(a, True) for a in subset.get("addresses") or []] + \
                 [(a, False) for a in subset.get("notReadyAddresses") or []]
        for address, ready in listed[:MAX_ENDPOINTS]:
            ip = address.get("ip") or ""
            if not ip:
                continue
            endpoint: dict[str, Any] = {"addresses": [ip], "conditions": {"ready": ready}}
            if address.get("hostname"):
                endpoint["hostname"] = address["hostname"]
            if address.get("nodeName"):
                endpoint["nodeName"] = address["nodeName"]
            if address.get("targetRef"):
                endpoint["targetRef"] = address["targetRef"]
            family = "IPv6" if ":" in ip else "IPv4"
            key = (family, tuple(sorted(_port_key(p) for p in ports)))
            grouped.setdefault(key, (ports, []))[1].append(endpoint)
    return [Group(key[0], tuple(ports), tuple(eps)) for key, (ports, eps) in grouped.items()]


def pod_slice_meta(service: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata of the endpointslice controller's slices for ``service``."""
    meta = service["metadata"]
    labels = {k: v for k, v in (meta.get("labels") or {}).items()
              if k not in RESERVED_SLICE_LABELS}
    if is_headless(service):
        labels[HEADLESS] = ""
    labels[SERVICE_NAME] = meta["name"]
    labels[MANAGED_BY] = SLICE_CONTROLLER
    return {"namespace": meta.get("namespace", ""), "generateName": f"{meta['name']}-",
            "labels": labels,
            "ownerReferences": [controller_reference(dict(service), "v1", "Service")]}


def mirror_slice_meta(endpoints: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata of mirrored slices: the Endpoints' labels and annotations, owned by it."""
    meta = endpoints["metadata"]
    labels = dict(meta.get("labels") or {})
    labels[SERVICE_NAME] = meta["name"]
    labels[MANAGED_BY] = MIRROR_CONTROLLER
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k not in (TRIGGER_TIME, LAST_APPLIED)}
    out: dict[str, Any] = {"namespace": meta.get("namespace", ""),
                           "generateName": f"{meta['name']}-", "labels": labels,
                           "ownerReferences": [controller_reference(dict(endpoints), "v1",
                                                                    "Endpoints")]}
    if annotations:
        out["annotations"] = annotations
    return out


def mirrors(endpoints: Mapping[str, Any], service: Mapping[str, Any] | None) -> bool:
    """Whether user-written Endpoints are mirrored: their Service exists without a
    selector, and they do not opt out (skip-mirror, leader-election records)."""
    meta = endpoints["metadata"]
    if service is None or selector(service):
        return False
    if (meta.get("labels") or {}).get(SKIP_MIRROR) == "true":
        return False
    return LEADER_ELECTION not in (meta.get("annotations") or {})


@dataclass
class SlicePlan:
    create: list[dict] = field(default_factory=list)
    update: list[dict] = field(default_factory=list)
    delete: list[dict] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.create or self.update or self.delete)


def _slice_key(obj: Mapping[str, Any]) -> tuple[str, PortsKey]:
    return obj.get("addressType", ""), tuple(sorted(_port_key(p) for p in obj.get("ports") or []))


def _endpoint_key(endpoint: Mapping[str, Any]) -> tuple:
    return tuple(endpoint.get("addresses") or ()), (endpoint.get("targetRef") or {}).get("uid")


def _body(meta: Mapping[str, Any], trigger: str | None, address_type: str,
          ports: Iterable[dict], endpoints: list[dict], name: str | None) -> dict:
    metadata = {k: v for k, v in meta.items() if k != "generateName"} if name else dict(meta)
    if name:
        metadata["name"] = name
    annotations = dict(meta.get("annotations") or {})
    if trigger:
        annotations[TRIGGER_TIME] = trigger
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": metadata,
            "addressType": address_type, "endpoints": endpoints, "ports": list(ports)}


def _same(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Equal in everything the controller owns; the trigger time does not count."""
    def owned(obj: Mapping[str, Any]) -> tuple:
        meta = obj["metadata"]
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                       if k != TRIGGER_TIME}
        return (meta.get("labels") or {}, annotations, meta.get("ownerReferences") or [],
                obj.get("addressType"), obj.get("ports") or [], obj.get("endpoints") or [])
    return owned(existing) == owned(wanted)


def _order(endpoints: list[dict]) -> list[dict]:
    return sorted(endpoints, key=lambda e: _address_order({"ip": (e.get("addresses") or [""])[0],
                                                           "targetRef": e.get("targetRef")}))


def plan_slices(existing: Iterable[Mapping[str, Any]], groups: Iterable[Group],
                meta: Mapping[str, Any], trigger: str | None, *,
                max_endpoints: int = MAX_SLICE_ENDPOINTS, placeholder: bool = True) -> SlicePlan:
    """The writes that turn ``existing`` slices into ``groups``: endpoints stay in the
    slice they are in, new ones fill slices with room before new slices are made, and a
    slice that would be created takes the name of one that would be deleted. With no
    endpoints at all a Service keeps one empty placeholder slice (``placeholder``)."""
    current = sorted(existing, key=lambda s: s["metadata"]["name"])
    by_key: dict[tuple, list[Mapping[str, Any]]] = {}
    for s in current:
        by_key.setdefault(_slice_key(s), []).append(s)
    wanted: list[tuple[Mapping[str, Any] | None, Group, list[dict]]] = []
    doomed: list[Mapping[str, Any]] = []
    groups = [g for g in groups if g.endpoints]
    for group in groups:
        desired = {_endpoint_key(e): e for e in group.endpoints}
        placed: set[tuple] = set()
        filling: list[tuple[Mapping[str, Any], list[dict], bool]] = []
        for s in by_key.pop(group.key, []):
            kept = []
            for e in s.get("endpoints") or []:
                k = _endpoint_key(e)
                if k in desired and k not in placed:
                    kept.append(desired[k])
                    placed.add(k)
            changed = len(kept) != len(s.get("endpoints") or [])
            filling.append((s, kept, changed))
        remaining = [e for k, e in desired.items() if k not in placed]
        # Slices being rewritten anyway take new endpoints first, then the fullest.
        filling.sort(key=lambda t: (not t[2], -len(t[1])))
        for s, kept, _ in filling:
            room = max_endpoints - len(kept)
            if room > 0 and remaining:
                kept.extend(remaining[:room])
                remaining = remaining[room:]
            if kept:
                wanted.append((s, group, kept))
            else:
                doomed.append(s)
        for i in range(0, len(remaining), max_endpoints):
            wanted.append((None, group, remaining[i:i + max_endpoints]))
    for leftovers in by_key.values():
        doomed.extend(leftovers)
    if not wanted and placeholder:
        empty = Group("IPv4", (), ())
        kept_empty = [s for s in doomed if _same(s, _body(meta, None, "IPv4", (), [], None))]
        if kept_empty:
            doomed.remove(kept_empty[0])
        else:
            wanted.append((None, empty, []))
    plan = SlicePlan()
    for target, group, eps in wanted:
        if target is None:  # recycle a slice that would be deleted
            target = next((d for d in doomed if d.get("addressType") == group.address_type),
                          None)
            if target is not None:
                doomed.remove(target)
        name = target["metadata"]["name"] if target is not None else None
        body = _body(meta, trigger, group.address_type, group.ports, _order(eps), name)
        if target is None:
            plan.create.append(body)
        elif not _same(target, body):
            plan.update.append(body)
    plan.delete = [dict(s) for s in doomed]
    return plan
