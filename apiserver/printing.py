"""Server-side table printing: what kubectl shows for ``kubectl get``.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io``; the apiserver answers
with a meta.k8s.io/v1 Table whose columns and cells follow upstream
pkg/printers/internalversion. Like the real server, rows always carry the wide
(priority 1) cells too; kubectl hides those columns unless ``-o wide``. Objects come in as
stored JSON dicts, ``now`` comes from the caller, and nothing here is mutated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from apiserver import status
from apiserver.resources import APPS, BATCH, COORDINATION, CORE, DISCOVERY, NETWORKING, Resource

Obj = dict[str, Any]
Cell = str | int

_NS_PER_SECOND = 1_000_000_000
_ROLE_PREFIX = "node-role.kubernetes.io/"


# --- durations and timestamps -------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery duration.HumanDuration: ~2-3 significant figures of a duration."""
    ns = round(seconds * _NS_PER_SECOND)
    # Go's int(d.Seconds()) truncates toward zero.
    whole = ns // _NS_PER_SECOND if ns >= 0 else -(-ns // _NS_PER_SECOND)
    # Up to a second in the future still reads "0s": clocks across machines drift.
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = ns // (60 * _NS_PER_SECOND)
    if minutes < 10:
        secs = whole % 60
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{years}y"


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=timezone.utc)


def _since(value: str | None, now: datetime) -> str:
    """translateTimestampSince: "<unknown>" for an unset timestamp."""
    when = _parse_time(value)
    if when is None:
        return "<unknown>"
    return human_duration((_aware(now) - when).total_seconds())


def _age(obj: Obj, now: datetime) -> str:
    return _since(_meta(obj).get("creationTimestamp"), now)


# --- selectors and small formatters -------------------------------------------------------

def _selector_string(sel: Obj | None) -> str:
    """labels.Selector.String() of metav1.LabelSelectorAsSelector; ValueError if invalid."""
    if not sel:
        return ""
    rendered: list[tuple[str, str]] = [
        (key, f"{key}={value}") for key, value in (sel.get("matchLabels") or {}).items()]
    for expr in sel.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                raise ValueError("for 'in', 'notin' operators, values set can't be empty")
            word = " in " if op == "In" else " notin "
            rendered.append((key, f"{key}{word}({','.join(sorted(values))})"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                raise ValueError("values set must be empty for exists and does not exist")
            rendered.append((key, key if op == "Exists" else f"!{key}"))
        else:
            raise ValueError(f'"{op}" is not a valid label selector operator')
    # The selector orders requirements by key; the sort is stable for equal keys.
    return ",".join(text for _, text in sorted(rendered, key=lambda item: item[0]))


def format_label_selector(sel: Obj | None) -> str:
    """metav1.FormatLabelSelector: "a=b,c in (x,y),!d", "<none>" when empty, "<error>"."""
    try:
        text = _selector_string(sel)
    except ValueError:
        return "<error>"
    return text or "<none>"


def _format_labels(labels: dict[str, str] | None) -> str:
    """labels.FormatLabels: sorted "k=v" pairs or "<none>"."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def _more(items: list[str], more: bool, count: int, limit: int, empty: str) -> str:
    text = ",".join(items)
    if more:
        return f"{text} + {count - limit} more..."
    return text or empty


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _lb_addresses(ingress: Iterable[Obj] | None) -> str:
    """The sorted, de-duplicated IPs (else hostnames) of a load-balancer status; never
    clipped, because the server always prints wide."""
    found = {i.get("ip") or i.get("hostname") for i in ingress or []}
    return ",".join(sorted(a for a in found if a))


def _containers(template_spec: Obj) -> list[Cell]:
    containers = template_spec.get("containers") or []
    return [",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers)]


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name", ""))


def _condition(conditions: Iterable[Obj] | None, kind: str) -> Obj | None:
    return next((c for c in conditions or [] if c.get("type") == kind), None)


def _condition_true(conditions: Iterable[Obj] | None, kind: str) -> bool:
    found = _condition(conditions, kind)
    return found is not None and found.get("status") == "True"


def _template_spec(obj: Obj) -> Obj:
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


# --- pods ---------------------------------------------------------------------------------

def _is_sidecar(container: Obj | None) -> bool:
    return container is not None and container.get("restartPolicy") == "Always"


def _finished_at(container_status: Obj) -> datetime | None:
    last_state = container_status.get("lastState") or {}
    return _parse_time((last_state.get("terminated") or {}).get("finishedAt"))


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is not None and (current is None or candidate > current):
        return candidate
    return current


def _exit_reason(terminated: Obj, prefix: str) -> str:
    if terminated.get("reason"):
        return f"{prefix}{terminated['reason']}"
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def _pod_cells(pod: Obj, now: datetime) -> list[Cell]:
    """printPod: READY, STATUS and RESTARTS summarise init, sidecar and app containers."""
    spec, pod_status, meta = pod.get("spec") or {}, pod.get("status") or {}, _meta(pod)
    conditions = pod_status.get("conditions")
    init_specs = spec.get("initContainers") or []
    init_by_name = {c.get("name"): c for c in init_specs}
    total = len(spec.get("containers") or []) + sum(1 for c in init_specs if _is_sidecar(c))
    phase = pod_status.get("phase", "")
    reason = pod_status.get("reason") or phase
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
           for c in conditions or []):
        reason = "SchedulingGated"

    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    sidecar_last_restart: datetime | None = None
    initializing = False
    for index, cs in enumerate(pod_status.get("initContainerStatuses") or []):
        restarts += cs.get("restartCount", 0)
        last_restart = _later(last_restart, _finished_at(cs))
        sidecar = _is_sidecar(init_by_name.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += cs.get("restartCount", 0)
            sidecar_last_restart = _later(sidecar_last_restart, _finished_at(cs))
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started") is True:
            ready += 1 if cs.get("ready") else 0
            continue
        if terminated is not None:
            reason = _exit_reason(terminated, "Init:")
        elif waiting is not None and waiting.get("reason") not in (None, "", "PodInitializing"):
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(conditions, "Initialized"):
        restarts, last_restart = sidecar_restarts, sidecar_last_restart
        has_running = False
        # Walked backwards so the first container's reason is the one left standing.
        for cs in reversed(pod_status.get("containerStatuses") or []):
            restarts += cs.get("restartCount", 0)
            last_restart = _later(last_restart, _finished_at(cs))
            state = cs.get("state") or {}
            terminated, waiting = state.get("terminated"), state.get("waiting")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = _exit_reason(terminated, "")
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(conditions, "Ready") else "NotReady"

    if meta.get("deletionTimestamp") and pod_status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        ago = human_duration((_aware(now) - last_restart).total_seconds())
        restarts_text = f"{restarts} ({ago} ago)"

    pod_ip = pod_status.get("podIP") or next(
        (p.get("ip", "") for p in pod_status.get("podIPs") or []), "")
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        passed = sum(1 for g in gates if _condition_true(conditions, g.get("conditionType", "")))
        gates_text = f"{passed}/{len(gates)}"
    return [_name(pod), f"{ready}/{total}", reason, restarts_text, _age(pod, now),
            pod_ip or "<none>", spec.get("nodeName") or "<none>",
            pod_status.get("nominatedNodeName") or "<none>", gates_text]


def _row_conditions(resource: Resource, obj: Obj) -> list[Obj]:
    """Pods that ran to completion are flagged so clients may dim or hide them."""
    if (resource.group, resource.kind) != (CORE, "Pod"):
        return []
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Succeeded":
        message = "The pod has completed successfully."
    elif phase == "Failed":
        message = "The pod failed."
    else:
        return []
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]


# --- other kinds --------------------------------------------------------------------------
# Fallbacks such as Service type ClusterIP, protocol TCP, Secret type Opaque and one replica
# are the API defaults, so an object stored without them prints as the real server would.

def _service_external_ip(spec: Obj, svc_status: Obj) -> str:
    svc_type = spec.get("type", "ClusterIP")
    external = spec.get("externalIPs") or []
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if svc_type == "LoadBalancer":
        lb = _lb_addresses((svc_status.get("loadBalancer") or {}).get("ingress"))
        if external:
            return ",".join((lb.split(",") if lb else []) + external)
        return lb or "<pending>"
    if svc_type == "ExternalName":
        return str(spec.get("externalName", ""))
    return "<unknown>"


def _service_cells(svc: Obj, now: datetime) -> list[Cell]:
    spec = svc.get("spec") or {}
    # Like the v1->internal conversion, a set spec.clusterIP wins over spec.clusterIPs.
    cluster_ip = spec.get("clusterIP") or next(iter(spec.get("clusterIPs") or []), "<none>")
    ports = ",".join(
        f"{p.get('port', 0)}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
        else f"{p.get('port', 0)}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or [])
    return [_name(svc), spec.get("type", "ClusterIP"), cluster_ip,
            _service_external_ip(spec, svc.get("status") or {}), ports or "<none>",
            _age(svc, now), _format_labels(spec.get("selector"))]


def _node_cells(node: Obj, now: datetime) -> list[Cell]:
    spec, node_status = node.get("spec") or {}, node.get("status") or {}
    # The last Ready condition wins, as in upstream's type-keyed map.
    ready = [c for c in node_status.get("conditions") or [] if c.get("type") == "Ready"]
    states = ["Unknown"]
    if ready:
        states = ["Ready" if ready[-1].get("status") == "True" else "NotReady"]
    if spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    roles: set[str] = set()
    for key, value in (_meta(node).get("labels") or {}).items():
        if key.startswith(_ROLE_PREFIX):
            roles.add(key.removeprefix(_ROLE_PREFIX))
        elif key == "kubernetes.io/role":
            roles.add(value)
    roles.discard("")
    info = node_status.get("nodeInfo") or {}
    addresses = node_status.get("addresses") or []

    def address(kind: str) -> str:
        return next((a.get("address", "") for a in addresses if a.get("type") == kind), "<none>")

    return [_name(node), ",".join(states), ",".join(sorted(roles)) or "<none>", _age(node, now),
            info.get("kubeletVersion", ""), address("InternalIP"), address("ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


def _endpoints_text(subsets: list[Obj] | None) -> str:
    if not subsets:
        return "<none>"
    limit, count, more = 3, 0, False
    shown: list[str] = []
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        # Headless services may publish addresses without ports.
        targets = [None] if not subset.get("ports") else [p.get("port") for p in subset["ports"]]
        for port in targets:
            count += len(addresses)
            for ip in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(ip if port is None else _join_host_port(ip, port))
    return _more(shown, more, count, limit, "")


def _capped(values: Iterable[str]) -> str:
    """listWithMoreString over the first three values, "<unset>" when there are none."""
    everything = list(values)
    return _more(everything[:3], len(everything) > 3, len(everything), 3, "<unset>")


def _endpoint_slice_cells(eps: Obj, now: datetime) -> list[Cell]:
    ports = [str(p["port"]) if p.get("port") is not None
             else p["name"] if p.get("name") is not None else "*"
             for p in eps.get("ports") or []]
    addresses = [a for e in eps.get("endpoints") or [] for a in e.get("addresses") or []]
    return [_name(eps), eps.get("addressType", ""), _capped(ports), _capped(addresses),
            _age(eps, now)]


def _event_cells(event: Obj, now: datetime) -> list[Cell]:
    first = (_since(event["firstTimestamp"], now) if event.get("firstTimestamp")
             else _since(event.get("eventTime"), now))
    last = _since(event["lastTimestamp"], now) if event.get("lastTimestamp") else first
    count = event.get("count") or 0
    series = event.get("series")
    if series is not None:
        last, count = _since(series.get("lastObservedTime"), now), series.get("count", 0)
    elif count == 0:
        count = 1  # singleton events of the new API carry no count
    involved = event.get("involvedObject") or {}
    target = involved.get("kind", "").lower()
    if involved.get("name"):
        target = f"{target}/{involved['name']}"
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent", "")
    host = source.get("host") or event.get("reportingInstance", "")
    return [last, event.get("type", ""), event.get("reason", ""), target,
            involved.get("fieldPath", ""), f"{component}, {host}" if host else component,
            event.get("message", "").strip(), first, count, _name(event)]


def _deployment_cells(deploy: Obj, now: datetime) -> list[Cell]:
    spec, dstatus = deploy.get("spec") or {}, deploy.get("status") or {}
    try:
        selector = _selector_string(spec.get("selector"))
    except ValueError:
        selector = "<invalid>"
    return [_name(deploy), f"{dstatus.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            dstatus.get("updatedReplicas", 0), dstatus.get("availableReplicas", 0),
            _age(deploy, now), *_containers(_template_spec(deploy)), selector]


def _replica_set_cells(rs: Obj, now: datetime) -> list[Cell]:
    spec, rstatus = rs.get("spec") or {}, rs.get("status") or {}
    return [_name(rs), spec.get("replicas", 1), rstatus.get("replicas", 0),
            rstatus.get("readyReplicas", 0), _age(rs, now), *_containers(_template_spec(rs)),
            format_label_selector(spec.get("selector"))]


def _job_status(job: Obj) -> str:
    """printJob's STATUS: terminal conditions first, then deletion, then the interim ones."""
    conditions = (job.get("status") or {}).get("conditions")
    for kind in ("Complete", "Failed"):
        if _condition_true(conditions, kind):
            return kind
    if _meta(job).get("deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if _condition_true(conditions, kind):
            return kind
    return "Running"


def _job_cells(job: Obj, now: datetime) -> list[Cell]:
    spec, jstatus = job.get("spec") or {}, job.get("status") or {}
    succeeded = jstatus.get("succeeded", 0)
    parallelism = spec.get("parallelism") or 0
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif parallelism > 1:
        completions = f"{succeeded}/1 of {parallelism}"
    else:
        completions = f"{succeeded}/1"
    started = _parse_time(jstatus.get("startTime"))
    finished = _parse_time(jstatus.get("completionTime"))
    duration = ""
    if started is not None:
        duration = human_duration(((finished or _aware(now)) - started).total_seconds())
    return [_name(job), _job_status(job), completions, duration, _age(job, now),
            *_containers(_template_spec(job)), format_label_selector(spec.get("selector"))]


def _ingress_cells(ing: Obj, now: datetime) -> list[Cell]:
    spec = ing.get("spec") or {}
    rules = spec.get("rules") or []
    hosts: list[str] = []
    more = False
    for rule in rules:
        more = more or len(hosts) == 3
        if not more and rule.get("host"):
            hosts.append(rule["host"])
    hosts_text = "*" if not hosts else (
        f"{','.join(hosts)} + {len(rules) - 3} more..." if more else ",".join(hosts))
    class_name = spec.get("ingressClassName")
    lb = ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    return [_name(ing), "<none>" if class_name is None else class_name, hosts_text,
            _lb_addresses(lb), "80, 443" if spec.get("tls") else "80", _age(ing, now)]


def _ingress_class_cells(ic: Obj, now: datetime) -> list[Cell]:
    spec = ic.get("spec") or {}
    params = spec.get("parameters")
    text = "<none>"
    if params is not None:
        text = params.get("kind", "")
        if params.get("apiGroup") is not None:
            text += "." + params["apiGroup"]
        text += "/" + params.get("name", "")
    return [_name(ic), spec.get("controller", ""), text, _age(ic, now)]


def _namespace_cells(ns: Obj, now: datetime) -> list[Cell]:
    return [_name(ns), (ns.get("status") or {}).get("phase", ""), _age(ns, now)]


def _endpoints_cells(ep: Obj, now: datetime) -> list[Cell]:
    return [_name(ep), _endpoints_text(ep.get("subsets")), _age(ep, now)]


def _config_map_cells(cm: Obj, now: datetime) -> list[Cell]:
    return [_name(cm), len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), _age(cm, now)]


def _secret_cells(secret: Obj, now: datetime) -> list[Cell]:
    return [_name(secret), secret.get("type", "Opaque"), len(secret.get("data") or {}),
            _age(secret, now)]


def _service_account_cells(sa: Obj, now: datetime) -> list[Cell]:
    return [_name(sa), len(sa.get("secrets") or []), _age(sa, now)]


def _network_policy_cells(np: Obj, now: datetime) -> list[Cell]:
    return [_name(np), format_label_selector((np.get("spec") or {}).get("podSelector")),
            _age(np, now)]


def _lease_cells(lease: Obj, now: datetime) -> list[Cell]:
    return [_name(lease), (lease.get("spec") or {}).get("holderIdentity") or "", _age(lease, now)]


def _fallback_cells(obj: Obj, now: datetime) -> list[Cell]:
    created = _parse_time(_meta(obj).get("creationTimestamp"))
    stamp = (created.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if created
             else "0001-01-01T00:00:00Z")
    return [_name(obj), stamp]


# --- column definitions -------------------------------------------------------------------

@dataclass(frozen=True)
class _Column:
    name: str
    description: str
    type: str = "string"
    priority: int = 0  # 1: shown by kubectl only with -o wide
    format: str = ""

    def definition(self) -> Obj:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


def _wide(name: str, description: str) -> _Column:
    return _Column(name, description, priority=1)


# Name and Age carry the full ObjectMeta docs; other columns carry the first sentence of
# the upstream field doc, since clients only ever show the column names.
_NAME = _Column("Name", "Name must be unique within a namespace. Is required when creating "
                "resources, although some resources may allow a client to request the "
                "generation of an appropriate name automatically. Name is primarily intended "
                "for creation idempotence and configuration definition. Cannot be updated. "
                "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/"
                "names#names", format="name")
_CREATED = ("CreationTimestamp is a timestamp representing the server time when this object "
            "was created. It is not guaranteed to be set in happens-before order across "
            "separate operations. Clients may not set this value. It is represented in RFC3339 "
            "form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More "
            "info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
            "api-conventions.md#metadata")
_AGE = _Column("Age", _CREATED)
_WIDE_CONTAINERS = (_wide("Containers", "Names of each container in the template."),
                    _wide("Images", "Images referenced by each container in the template."))
_ADDRESSES = "List of addresses reachable to the node."

_Printer = tuple[tuple[_Column, ...], Callable[[Obj, datetime], list[Cell]]]

_PRINTERS: dict[tuple[str, str], _Printer] = {
    (CORE, "Pod"): ((
        _NAME,
        _Column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        _Column("Status", "The aggregate status of the containers in this pod."),
        _Column("Restarts", "The number of times the containers in this pod have been restarted "
                "and when the last container in this pod has restarted."),
        _AGE,
        _wide("IP", "podIP address allocated to the pod."),
        _wide("Node", "NodeName indicates in which node this pod is scheduled."),
        _wide("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods "
              "on the node, but it cannot be scheduled right away as preemption victims receive "
              "their graceful termination periods."),
        _wide("Readiness Gates", "If specified, all readiness gates will be evaluated for pod "
              "readiness."),
    ), _pod_cells),
    (CORE, "Service"): ((
        _NAME,
        _Column("Type", "type determines how the Service is exposed."),
        _Column("Cluster-IP", "clusterIP is the IP address of the service and is usually "
                "assigned randomly."),
        _Column("External-IP", "externalIPs is a list of IP addresses for which nodes in the "
                "cluster will also accept traffic for this service."),
        _Column("Port(s)", "The list of ports that are exposed by this service."),
        _AGE,
        _wide("Selector", "Route service traffic to pods with label keys and values matching "
              "this selector."),
    ), _service_cells),
    (CORE, "Node"): ((
        _NAME,
        _Column("Status", "The status of the node"),
        _Column("Roles", "The roles of the node"),
        _AGE,
        _Column("Version", "Kubelet Version reported by the node."),
        _wide("Internal-IP", _ADDRESSES),
        _wide("External-IP", _ADDRESSES),
        _wide("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian "
              "GNU/Linux 7 (wheezy))."),
        _wide("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. "
              "3.16.0-0.bpo.4-amd64)."),
        _wide("Container-Runtime", "ContainerRuntime Version reported by the node through "
              "runtime remote API (e.g. containerd://1.4.2)."),
    ), _node_cells),
    (CORE, "Namespace"): (
        (_NAME, _Column("Status", "The status of the namespace"), _AGE), _namespace_cells),
    (CORE, "Endpoints"): (
        (_NAME, _Column("Endpoints", "The set of all endpoints is the union of all subsets."),
         _AGE), _endpoints_cells),
    (DISCOVERY, "EndpointSlice"): ((
        _NAME,
        _Column("AddressType", "addressType specifies the type of address carried by this "
                "EndpointSlice."),
        _Column("Ports", "ports specifies the list of network ports exposed by each endpoint in "
                "this slice."),
        _Column("Endpoints", "endpoints is a list of unique endpoints in this slice."),
        _AGE,
    ), _endpoint_slice_cells),
    (CORE, "ConfigMap"): (
        (_NAME, _Column("Data", "Data contains the configuration data."), _AGE),
        _config_map_cells),
    (CORE, "Secret"): ((
        _NAME,
        _Column("Type", "Used to facilitate programmatic handling of secret data."),
        _Column("Data", "Data contains the secret data."),
        _AGE,
    ), _secret_cells),
    (CORE, "ServiceAccount"): (
        (_NAME, _Column("Secrets", "Secrets is a list of the secrets in the same namespace that "
                        "pods running using this ServiceAccount are allowed to use."), _AGE),
        _service_account_cells),
    (CORE, "Event"): ((
        _Column("Last Seen", "The time at which the most recent occurrence of this event was "
                "recorded."),
        _Column("Type", "Type of this event (Normal, Warning), new types could be added in the "
                "future"),
        _Column("Reason", "This should be a short, machine understandable string that gives the "
                "reason for the transition into the object's current status."),
        _Column("Object", "The object that this event is about."),
        _wide("Subobject", "If referring to a piece of an object instead of an entire object, "
              "this string should contain a valid JSON/Go field access statement, such as "
              "desiredState.manifest.containers[2]."),
        _wide("Source", "The component reporting this event."),
        _Column("Message", "A human-readable description of the status of this operation."),
        _wide("First Seen", "The time at which the event was first recorded."),
        _wide("Count", "The number of times this event has occurred."),
        _Column("Name", _NAME.description, priority=1, format="name"),
    ), _event_cells),
    (APPS, "Deployment"): ((
        _NAME,
        _Column("Ready", "Number of the pod with ready state"),
        _Column("Up-to-date", "Total number of non-terminated pods targeted by this deployment "
                "that have the desired template spec."),
        _Column("Available", "Total number of available pods (ready for at least "
                "minReadySeconds) targeted by this deployment."),
        _AGE, *_WIDE_CONTAINERS,
        _wide("Selector", "Label selector for pods."),
    ), _deployment_cells),
    (APPS, "ReplicaSet"): ((
        _NAME,
        _Column("Desired", "Replicas is the number of desired replicas.", type="integer"),
        _Column("Current", "Replicas is the most recently observed number of replicas.",
                type="integer"),
        _Column("Ready", "The number of ready replicas for this replica set.", type="integer"),
        _AGE, *_WIDE_CONTAINERS,
        _wide("Selector", "Selector is a label query over pods that should match the replica "
              "count."),
    ), _replica_set_cells),
    (BATCH, "Job"): ((
        _NAME,
        _Column("Status", "Status of the job."),
        _Column("Completions", "The number of pods which reached phase Succeeded."),
        _Column("Duration", "Time required to complete the job."),
        _AGE, *_WIDE_CONTAINERS,
        _wide("Selector", "A label query over pods that should match the pod count."),
    ), _job_cells),
    (NETWORKING, "Ingress"): ((
        _NAME,
        _Column("Class", "The name of the IngressClass resource that should be used for "
                "additional configuration"),
        _Column("Hosts", "Hosts that incoming requests are matched against before the ingress "
                "rule"),
        _Column("Address", "Address is a list containing ingress points for the load-balancer"),
        _Column("Ports", "Ports of TLS configurations that open"),
        _AGE,
    ), _ingress_cells),
    (NETWORKING, "IngressClass"): ((
        _NAME,
        _Column("Controller", "Controller that is responsible for handling this class"),
        _Column("Parameters", "A reference to a resource with additional parameters"),
        _AGE,
    ), _ingress_class_cells),
    (NETWORKING, "NetworkPolicy"): (
        (_NAME, _Column("Pod-Selector", "Selects the pods to which this NetworkPolicy object "
                        "applies."), _AGE), _network_policy_cells),
    (COORDINATION, "Lease"): (
        (_NAME, _Column("Holder", "holderIdentity contains the identity of the holder of a "
                        "current lease."), _AGE), _lease_cells),
}

# The apiserver's default table convertor, for kinds without a dedicated printer.
_FALLBACK: _Printer = ((_NAME, _Column("Created At", _CREATED, type="date")), _fallback_cells)


def _printer(resource: Resource) -> _Printer:
    return _PRINTERS.get((resource.group, resource.kind), _FALLBACK)


# --- public entry points ------------------------------------------------------------------

def column_definitions(resource: Resource) -> list[Obj]:
    """meta.k8s.io/v1 TableColumnDefinitions for ``resource``, in upstream order."""
    return [column.definition() for column in _printer(resource)[0]]


def cells(resource: Resource, obj: Obj, now: datetime) -> list[Cell]:
    """One row's cells, wide columns included, exactly as upstream prints them."""
    return _printer(resource)[1](obj, now)


def table(resource: Resource, objs: list[Obj], now: datetime, include_object: str = "Metadata",
          resource_version: str = "", continue_token: str = "",
          with_columns: bool = True) -> Obj:
    """The full meta.k8s.io/v1 Table. ``with_columns=False`` is for watch events after the
    first, which carry rows only. Raises a 400 ApiError for an unknown includeObject."""
    if include_object not in ("None", "Metadata", "Object", ""):
        raise status.bad_request(f'unrecognized includeObject value: "{include_object}"')
    metadata: Obj = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    rows: list[Obj] = []
    for obj in objs:
        row: Obj = {"cells": cells(resource, obj, now)}
        conditions = _row_conditions(resource, obj)
        if conditions:
            row["conditions"] = conditions
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": _meta(obj)}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
            "columnDefinitions": column_definitions(resource) if with_columns else [],
            "rows": rows}
