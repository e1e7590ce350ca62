"""Defaulting, as the apiserver applies it between decoding a write and validating it:
the v1 API defaulters (SetDefaults_*), the v1 conversions that fold deprecated or
convenience fields (``serviceAccount``, ``stringData``), the default admission plugins
that touch every Pod (ServiceAccount, Priority, DefaultTolerationSeconds), and the
Namespace/Service create-time fields upstream sets in its registry strategies.

``apply_defaults`` mutates the object in place and is idempotent. It never allocates
cluster IPs or node ports (``apiserver.services`` does).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from apiserver.validate_pods import VOLUME_TYPES

SYSTEM_PRIORITIES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
DEFAULT_TOLERATION_SECONDS = 300
DEFAULT_FILE_MODE = 0o644

_DOMAIN_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_RE = re.compile(
    rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::(?P<tag>[\w][\w.-]{{0,127}}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?")


def _child(parent: dict, key: str) -> dict:
    """parent[key] as a dict, created when absent (a non-object value is left alone)."""
    value = parent.setdefault(key, {})
    return value if isinstance(value, dict) else {}


def _items(parent: dict, key: str) -> list[dict]:
    value = parent.get(key)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _unset_or_zero(obj: dict, key: str, value: Any) -> None:
    if obj.get(key) in (None, 0, ""):
        obj[key] = value


def image_pull_policy(image: str) -> str:
    """SetDefaults_Container: Always for ``:latest`` or an untagged name without digest."""
    match = _IMAGE_RE.fullmatch(image)
    if match is None:  # an unparsable reference has no tag
        return "IfNotPresent"
    tag = match.group("tag") or ("" if match.group("digest") else "latest")
    return "Always" if tag == "latest" else "IfNotPresent"


# --- pods -----------------------------------------------------------------------------

def _handler(handler: dict) -> None:
    http = handler.get("httpGet")
    if isinstance(http, dict):
        _unset_or_zero(http, "path", "/")
        _unset_or_zero(http, "scheme", "HTTP")
    grpc = handler.get("grpc")
    if isinstance(grpc, dict) and grpc.get("service") is None:
        grpc["service"] = ""


def _container(container: dict) -> None:
    if not container.get("imagePullPolicy"):
        image = container.get("image")
        container["imagePullPolicy"] = image_pull_policy(image if isinstance(image, str) else "")
    _unset_or_zero(container, "terminationMessagePath", "/dev/termination-log")
    _unset_or_zero(container, "terminationMessagePolicy", "File")
    _child(container, "resources")
    for port in _items(container, "ports"):
        _unset_or_zero(port, "protocol", "TCP")
    for env in _items(container, "env"):
        source = env.get("valueFrom")
        if isinstance(source, dict) and isinstance(source.get("fieldRef"), dict):
            _unset_or_zero(source["fieldRef"], "apiVersion", "v1")
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(kind)
        if isinstance(probe, dict):
            for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10),
                               ("successThreshold", 1), ("failureThreshold", 3)):
                _unset_or_zero(probe, key, value)
            _handler(probe)
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            if isinstance(lifecycle.get(hook), dict):
                _handler(lifecycle[hook])


def _downward_items(source: dict) -> None:
    for item in _items(source, "items"):
        if isinstance(item.get("fieldRef"), dict):
            _unset_or_zero(item["fieldRef"], "apiVersion", "v1")


def _volume(volume: dict) -> None:
    if not any(volume.get(kind) is not None for kind in VOLUME_TYPES):
        volume["emptyDir"] = {}
    for kind in ("secret", "configMap", "downwardAPI", "projected"):
        source = volume.get(kind)
        if isinstance(source, dict) and source.get("defaultMode") is None:
            source["defaultMode"] = DEFAULT_FILE_MODE
    if isinstance(volume.get("downwardAPI"), dict):
        _downward_items(volume["downwardAPI"])
    if isinstance(volume.get("projected"), dict):
        for projection in _items(volume["projected"], "sources"):
            if isinstance(projection.get("downwardAPI"), dict):
                _downward_items(projection["downwardAPI"])
            token = projection.get("serviceAccountToken")
            if isinstance(token, dict) and token.get("expirationSeconds") is None:
                token["expirationSeconds"] = 3600
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""


def _pod_spec(spec: dict) -> None:
    """SetDefaults_PodSpec and what it recurses into; shared by Pods and templates."""
    _unset_or_zero(spec, "dnsPolicy", "ClusterFirst")
    _unset_or_zero(spec, "restartPolicy", "Always")
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    _child(spec, "securityContext")
    _unset_or_zero(spec, "schedulerName", "default-scheduler")
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for container in _items(spec, group):
            _container(container)
    for volume in _items(spec, "volumes"):
        _volume(volume)


def _tolerates(tolerations: list[dict], key: str) -> bool:
    return any(t.get("key") in (key, None, "") and t.get("effect") in ("NoExecute", None, "")
               for t in tolerations)


def _pod(pod: dict) -> None:
    spec = _child(pod, "spec")
    _pod_spec(spec)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    for group in ("initContainers", "containers"):
        for container in _items(spec, group):
            resources = _child(container, "resources")
            limits = resources.get("limits")
            if isinstance(limits, dict) and limits:
                requests = _child(resources, "requests")
                for name, quantity in limits.items():
                    requests.setdefault(name, quantity)
            if spec.get("hostNetwork") is True:
                for port in _items(container, "ports"):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")
    # ServiceAccount admission; the v1 conversion mirrors the name into the old field.
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = spec["serviceAccount"] = account
    # Priority admission, with no cluster-wide default PriorityClass.
    class_name = spec.get("priorityClassName") or ""
    if spec.get("priority") is None and (not class_name or class_name in SYSTEM_PRIORITIES):
        spec["priority"] = SYSTEM_PRIORITIES.get(class_name, 0)
    if spec.get("preemptionPolicy") is None:
        spec["preemptionPolicy"] = "PreemptLowerPriority"
    # DefaultTolerationSeconds admission.
    present = _items(spec, "tolerations")
    added = [{"key": key, "operator": "Exists", "effect": "NoExecute",
              "tolerationSeconds": DEFAULT_TOLERATION_SECONDS}
             for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
             if not _tolerates(present, key)]
    if added:
        spec["tolerations"] = present + added


def _template(spec: dict) -> None:
    _pod_spec(_child(_child(spec, "template"), "spec"))


def _deployment(obj: dict) -> None:
    spec = _child(obj, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = _child(spec, "strategy")
    _unset_or_zero(strategy, "type", "RollingUpdate")
    if strategy.get("type") == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        for key in ("maxUnavailable", "maxSurge"):
            if rolling.get(key) is None:
                rolling[key] = "25%"
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    _template(spec)


def _replica_set(obj: dict) -> None:
    spec = _child(obj, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _template(spec)


def _job(obj: dict) -> None:
    """SetDefaults_Job (with JobPodReplacementPolicy on, as in v1.32)."""
    spec = _child(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6
    labels = _child(spec, "template").get("metadata")
    labels = labels.get("labels") if isinstance(labels, dict) else None
    meta = _child(obj, "metadata")
    if isinstance(labels, dict) and labels and not meta.get("labels"):
        meta["labels"] = dict(labels)
    _unset_or_zero(spec, "completionMode", "NonIndexed")
    if spec.get("suspend") is None:
        spec["suspend"] = False
    failure_policy = spec.get("podFailurePolicy")
    if isinstance(failure_policy, dict):
        for rule in _items(failure_policy, "rules"):
            for pattern in _items(rule, "onPodConditions"):
                _unset_or_zero(pattern, "status", "True")
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if isinstance(failure_policy, dict) \
            else "TerminatingOrFailed"
    if spec.get("manualSelector") is None:
        spec["manualSelector"] = False
    _template(spec)


# --- networking kinds -----------------------------------------------------------------

def _service(obj: dict) -> None:
    spec = _child(obj, "spec")
    _unset_or_zero(spec, "type", "ClusterIP")
    _unset_or_zero(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        config = spec.get("sessionAffinityConfig")
        client = config.get("clientIP") if isinstance(config, dict) else None
        if not isinstance(client, dict) or client.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    for port in _items(spec, "ports"):
        _unset_or_zero(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    kind = spec["type"]
    externally_accessible = kind in ("NodePort", "LoadBalancer") or (
        kind == "ClusterIP" and bool(spec.get("externalIPs")))
    if externally_accessible:
        _unset_or_zero(spec, "externalTrafficPolicy", "Cluster")
    if kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        if spec.get("internalTrafficPolicy") is None:
            spec["internalTrafficPolicy"] = "Cluster"
        # Set by the Service REST storage before allocation; single-stack IPv4 cluster.
        headless = spec.get("clusterIP") == "None" or spec.get("clusterIPs") == ["None"]
        if spec.get("ipFamilyPolicy") is None:
            selectorless = headless and not spec.get("selector")
            spec["ipFamilyPolicy"] = "RequireDualStack" if selectorless else "SingleStack"
        if not spec.get("ipFamilies"):
            first = (spec.get("clusterIPs") or [spec.get("clusterIP")])[0]
            spec["ipFamilies"] = ["IPv6" if isinstance(first, str) and ":" in first else "IPv4"]
    if kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True


def drop_type_dependent_fields(new: dict, old: dict) -> None:
    """Before validating a Service update, forget what only the old type needed and the
    user left as it was (upstream's Service strategy), so ``type: NodePort`` ->
    ``ClusterIP`` does not trip over the leftover externalTrafficPolicy or nodePorts."""
    spec, old_spec = _child(new, "spec"), _child(old, "spec")
    was, now = old_spec.get("type"), spec.get("type")
    node_port_types = ("NodePort", "LoadBalancer")

    def same(key: str) -> bool:
        return spec.get(key) == old_spec.get(key)

    if was in node_port_types and now not in node_port_types and all(
            p.get("nodePort") in (None, q.get("nodePort"))
            for p, q in zip(_items(spec, "ports"), _items(old_spec, "ports"))):
        for port in _items(spec, "ports"):
            port.pop("nodePort", None)
    if was == "LoadBalancer" and now != "LoadBalancer":
        for key in ("allocateLoadBalancerNodePorts", "loadBalancerClass", "healthCheckNodePort"):
            if same(key):
                spec.pop(key, None)
        if isinstance(new.get("status"), dict):
            new["status"]["loadBalancer"] = {}
    if was in node_port_types and now not in node_port_types and not spec.get("externalIPs") \
            and same("externalTrafficPolicy"):
        spec.pop("externalTrafficPolicy", None)


def _endpoints(obj: dict) -> None:
    for subset in _items(obj, "subsets"):
        for port in _items(subset, "ports"):
            _unset_or_zero(port, "protocol", "TCP")


def _endpoint_slice(obj: dict) -> None:
    for port in _items(obj, "ports"):
        if port.get("name") is None:
            port["name"] = ""
        if port.get("protocol") is None:
            port["protocol"] = "TCP"


def _network_policy(obj: dict) -> None:
    spec = _child(obj, "spec")
    _child(spec, "podSelector")
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    for direction in ("ingress", "egress"):
        for rule in _items(spec, direction):
            for port in _items(rule, "ports"):
                _unset_or_zero(port, "protocol", "TCP")


def _ingress_class(obj: dict) -> None:
    params = _child(obj, "spec").get("parameters")
    if isinstance(params, dict) and params.get("scope") is None:
        params["scope"] = "Cluster"


# --- core kinds -----------------------------------------------------------------------

def _namespace(obj: dict) -> None:
    name = _child(obj, "metadata").get("name")
    if isinstance(name, str) and name:
        _child(obj["metadata"], "labels")["kubernetes.io/metadata.name"] = name
    # Upstream adds the finalizer at create and keeps the stored list on update; an
    # explicit list (even empty, as the namespace controller writes it) is left alone.
    spec = _child(obj, "spec")
    if spec.get("finalizers") is None:
        spec["finalizers"] = ["kubernetes"]
    _unset_or_zero(_child(obj, "status"), "phase", "Active")


def _secret(obj: dict) -> None:
    _unset_or_zero(obj, "type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = _child(obj, "data")
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _node(obj: dict) -> None:
    status = obj.get("status")
    if isinstance(status, dict) and isinstance(status.get("capacity"), dict) and \
            status.get("allocatable") is None:
        status["allocatable"] = dict(status["capacity"])


_DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "Pod": _pod,
    "Deployment": _deployment,
    "ReplicaSet": _replica_set,
    "Job": _job,
    "Service": _service,
    "Endpoints": _endpoints,
    "EndpointSlice": _endpoint_slice,
    "NetworkPolicy": _network_policy,
    "IngressClass": _ingress_class,
    "Namespace": _namespace,
    "Secret": _secret,
    "Node": _node,
}


def apply_defaults(kind: str, obj: dict) -> None:
    """Fill in what the apiserver fills in for ``kind``; ``obj`` is changed in place."""
    defaulter = _DEFAULTERS.get(kind)
    if defaulter is not None and isinstance(obj, dict):
        defaulter(obj)
