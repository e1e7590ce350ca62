"""Container validation shared by Pods and pod templates: names, images, ports, env,
volume mounts, probes and lifecycle handlers, resources and security context, plus the
port-overlap warnings the apiserver returns alongside a successful write."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from apiserver.validate_formats import (
    Cause, as_dict, as_int, as_list, as_str, check_port_num_or_name, config_map_key, dicts,
    dns1123_label, duplicate, each_invalid, env_var_name, forbidden, http_header_name,
    inclusive_range_error, invalid, name_is_dns_subdomain, nonnegative, not_found,
    not_supported, parse_quantity, port_name, port_num, qualified_name, required,
    QUANTITY_FORMAT_ERROR)

PROTOCOLS = ("SCTP", "TCP", "UDP")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                    "spec.serviceAccountName", "status.hostIP", "status.hostIPs",
                    "status.podIP", "status.podIPs")
# Labels ConvertDownwardAPIFieldLabel accepts for v1, before the per-use whitelist.
_DOWNWARD_LABELS = frozenset({
    "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
    "metadata.uid", "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName",
    "spec.schedulerName", "status.phase", "status.hostIP", "status.hostIPs", "status.podIP",
    "status.podIPs"})
_RESOURCE_FIELD_PATHS = ("limits.cpu", "limits.ephemeral-storage", "limits.memory",
                         "requests.cpu", "requests.ephemeral-storage", "requests.memory")
_STANDARD_RESOURCES = frozenset({
    "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
    "pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
    "persistentvolumeclaims", "storage", "requests.storage", "services.nodeports",
    "services.loadbalancers"})
_MAX_ID = 0xFFFFFFFF


# --- downward API and env -------------------------------------------------------------

def split_subscript(path: str) -> tuple[str, str] | None:
    """fieldpath.SplitMaybeSubscriptedPath: "metadata.labels['app']" -> (path, key)."""
    if not path.endswith("']"):
        return None
    head, sep, key = path[:-2].partition("['")
    return (head, key) if sep and head else None


def validate_field_selector(ref: dict, allowed: Collection[str], path: str) -> list[Cause]:
    api_version, field_path = as_str(ref.get("apiVersion")), as_str(ref.get("fieldPath"))
    if not api_version:
        return [required(f"{path}.apiVersion")]
    if not field_path:
        return [required(f"{path}.fieldPath")]
    sub = split_subscript(field_path)
    if api_version != "v1":
        why = f"unsupported pod version: {api_version}"
    elif sub is not None and sub[0] not in ("metadata.annotations", "metadata.labels"):
        why = f"field label does not support subscript: {field_path}"
    elif sub is None and field_path not in _DOWNWARD_LABELS | {"spec.host"}:
        why = f"field label not supported: {field_path}"
    else:
        why = ""
    if why:
        return [invalid(f"{path}.fieldPath", field_path, f"error converting fieldPath: {why}")]
    if sub is not None:
        key = sub[1].lower() if sub[0] == "metadata.annotations" else sub[1]
        return each_invalid(path, key, qualified_name(key))
    internal = "spec.nodeName" if field_path == "spec.host" else field_path
    if internal not in allowed:
        return [not_supported(f"{path}.fieldPath", internal, sorted(allowed))]
    return []


def _key_selector(ref: dict, path: str) -> list[Cause]:
    name, key = as_str(ref.get("name")), as_str(ref.get("key"))
    causes = each_invalid(f"{path}.name", name, name_is_dns_subdomain(name))
    if not key:
        causes.append(required(f"{path}.key"))
    else:
        causes += each_invalid(f"{path}.key", key, config_map_key(key))
    return causes


def _env_value_from(env: dict, path: str) -> list[Cause]:
    source = env.get("valueFrom")
    if source is None:
        return []
    source = as_dict(source)
    causes: list[Cause] = []
    if "fieldRef" in source:
        causes += validate_field_selector(as_dict(source["fieldRef"]), _ENV_FIELD_PATHS,
                                          f"{path}.fieldRef")
    if "resourceFieldRef" in source:
        resource = as_str(as_dict(source["resourceFieldRef"]).get("resource"))
        rpath = f"{path}.resourceFieldRef.resource"
        if not resource:
            causes.append(required(rpath))
        elif resource not in _RESOURCE_FIELD_PATHS and not resource.startswith(
                ("requests.hugepages-", "limits.hugepages-")):
            causes.append(not_supported(rpath, resource, _RESOURCE_FIELD_PATHS))
    for key in ("configMapKeyRef", "secretKeyRef"):
        if key in source:
            causes += _key_selector(as_dict(source[key]), f"{path}.{key}")
    count = sum(k in source for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef",
                                      "secretKeyRef"))
    if count == 0:
        causes.append(invalid(path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                        "`configMapKeyRef` or `secretKeyRef`"))
    elif as_str(env.get("value")):
        causes.append(invalid(path, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        causes.append(invalid(path, "", "may not have more than one field specified at a time"))
    return causes


def _env(container: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, env in enumerate(dicts(container.get("env"))):
        name = as_str(env.get("name"))
        if not name:
            causes.append(required(f"{path}.env[{i}].name"))
        else:
            causes += each_invalid(f"{path}.env[{i}].name", name, env_var_name(name))
        causes += _env_value_from(env, f"{path}.env[{i}].valueFrom")
    for i, source in enumerate(dicts(container.get("envFrom"))):
        prefix = as_str(source.get("prefix"))
        if prefix:
            causes += each_invalid(f"{path}.envFrom[{i}].prefix", prefix, env_var_name(prefix))
        refs = [k for k in ("configMapRef", "secretRef") if k in source]
        for key in refs:
            name = as_str(as_dict(source[key]).get("name"))
            if not name:
                causes.append(required(f"{path}.envFrom[{i}].{key}.name"))
            else:
                causes += each_invalid(f"{path}.envFrom[{i}].{key}.name", name,
                                       name_is_dns_subdomain(name, True))
        if not refs:
            causes.append(invalid(f"{path}.envFrom", "",
                                  "must specify one of: `configMapRef` or `secretRef`"))
        elif len(refs) > 1:
            causes.append(invalid(f"{path}.envFrom", "",
                                  "may not have more than one field specified at a time"))
    return causes


# --- ports, mounts ----------------------------------------------------------------------

def _ports(container: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(dicts(container.get("ports"))):
        ppath = f"{path}.ports[{i}]"
        name = as_str(port.get("name"))
        if name:
            errors = port_name(name)
            if errors:
                causes += each_invalid(f"{ppath}.name", name, errors)
            elif name in names:
                causes.append(duplicate(f"{ppath}.name", name))
            else:
                names.add(name)
        number = as_int(port.get("containerPort")) or 0
        if number == 0:
            causes.append(required(f"{ppath}.containerPort"))
        else:
            causes += each_invalid(f"{ppath}.containerPort", number, port_num(number))
        host = as_int(port.get("hostPort")) or 0
        if host:
            causes += each_invalid(f"{ppath}.hostPort", host, port_num(host))
        protocol = as_str(port.get("protocol"))
        if not protocol:
            causes.append(required(f"{ppath}.protocol"))
        elif protocol not in PROTOCOLS:
            causes.append(not_supported(f"{ppath}.protocol", protocol, PROTOCOLS))
    return causes


def _descending_path(value: str, path: str) -> list[Cause]:
    causes = [invalid(path, value, "must be a relative path")] if value.startswith("/") else []
    if ".." in value.replace("\\", "/").split("/"):
        causes.append(invalid(path, value, "must not contain '..'"))
    return causes


def local_non_reserved_path(value: str, path: str) -> list[Cause]:
    causes = _descending_path(value, path)
    if value.startswith("..") and not value.startswith("../"):
        causes.append(invalid(path, value, "must not start with '..'"))
    return causes


def _volume_mounts(container: dict, volumes: Collection[str], path: str) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, mount in enumerate(dicts(container.get("volumeMounts"))):
        mpath = f"{path}.volumeMounts[{i}]"
        name, mount_path = as_str(mount.get("name")), as_str(mount.get("mountPath"))
        if not name:
            causes.append(required(f"{mpath}.name"))
        if name not in volumes:
            causes.append(not_found(f"{mpath}.name", name))
        if not mount_path:
            causes.append(required(f"{mpath}.mountPath"))
        if mount_path in seen:
            causes.append(invalid(f"{mpath}.mountPath", mount_path, "must be unique"))
        seen.add(mount_path)
        # Upstream reports sub-path problems without the mount's index.
        for key in ("subPath", "subPathExpr"):
            if as_str(mount.get(key)):
                causes += _descending_path(as_str(mount[key]), f"{path}.volumeMounts.{key}")
        if as_str(mount.get("subPath")) and as_str(mount.get("subPathExpr")):
            causes.append(invalid(f"{mpath}.subPathExpr", mount["subPathExpr"],
                                  "subPathExpr and subPath are mutually exclusive"))
    return causes


# --- probes and handlers ------------------------------------------------------------

def _handler(handler: dict, grace: int | None, path: str, sleep_allowed: bool) -> list[Cause]:
    causes: list[Cause] = []
    kinds = ["exec", "httpGet", "tcpSocket", "grpc"] + (["sleep"] if sleep_allowed else [])
    seen = 0
    for kind in kinds:
        if handler.get(kind) is None:
            continue
        if seen:
            causes.append(forbidden(f"{path}.{kind}", "may not specify more than 1 handler type"))
            continue
        seen += 1
        action, apath = as_dict(handler[kind]), f"{path}.{kind}"
        if kind == "exec" and not as_list(action.get("command")):
            causes.append(required(f"{apath}.command"))
        elif kind == "httpGet":
            if not as_str(action.get("path")):
                causes.append(required(f"{apath}.path"))
            causes += check_port_num_or_name(f"{apath}.port", action.get("port"))
            scheme = as_str(action.get("scheme"))
            if scheme not in ("HTTP", "HTTPS"):
                causes.append(not_supported(f"{apath}.scheme", scheme, ("HTTP", "HTTPS")))
            for header in dicts(action.get("httpHeaders")):
                hname = as_str(header.get("name"))
                causes += each_invalid(f"{apath}.httpHeaders", hname, http_header_name(hname))
        elif kind == "tcpSocket":
            causes += check_port_num_or_name(f"{apath}.port", action.get("port"))
        elif kind == "grpc":
            number = as_int(action.get("port")) or 0
            causes += each_invalid(f"{apath}.port", number, port_num(number))
        elif kind == "sleep":
            seconds = as_int(action.get("seconds")) or 0
            if grace is not None and not 0 < seconds <= grace:
                causes.append(invalid(apath, seconds, "must be greater than 0 and less than "
                                      f"terminationGracePeriodSeconds ({grace}). Enable "
                                      "AllowPodLifecycleSleepActionZeroValue feature gate for "
                                      "zero sleep."))
    if not seen:
        causes.append(required(path, "must specify a handler type"))
    return causes


def _probe(probe: Any, kind: str, grace: int | None, path: str) -> list[Cause]:
    if probe is None:
        return []
    probe = as_dict(probe)
    causes = _handler(probe, grace, path, sleep_allowed=False)
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                "failureThreshold"):
        causes += nonnegative(f"{path}.{key}", probe.get(key))
    tgps = as_int(probe.get("terminationGracePeriodSeconds"))
    if tgps is not None and tgps <= 0:
        causes.append(invalid(f"{path}.terminationGracePeriodSeconds", tgps,
                              "must be greater than 0"))
    if kind in ("livenessProbe", "startupProbe"):
        success = as_int(probe.get("successThreshold")) or 0
        if success != 1:
            causes.append(invalid(f"{path}.successThreshold", success, "must be 1"))
    elif probe.get("terminationGracePeriodSeconds") is not None:
        causes.append(invalid(f"{path}.terminationGracePeriodSeconds", tgps,
                              "must not be set for readinessProbes"))
    return causes


def _probes_and_lifecycle(container: dict, grace: int | None, path: str) -> list[Cause]:
    causes: list[Cause] = []
    lifecycle = container.get("lifecycle")
    if lifecycle is not None:
        for hook in ("postStart", "preStop"):
            if as_dict(lifecycle).get(hook) is not None:
                causes += _handler(as_dict(lifecycle[hook]), grace, f"{path}.lifecycle.{hook}",
                                   sleep_allowed=True)
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        causes += _probe(container.get(kind), kind, grace, f"{path}.{kind}")
    return causes


# --- resources and security context ---------------------------------------------------

def _is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _is_extended(name: str) -> bool:
    return (not _is_native(name) and not name.startswith("requests.")
            and not qualified_name("requests." + name))


def _resource_name(name: str, path: str) -> list[Cause]:
    causes = each_invalid(path, name, qualified_name(name))
    if not causes and "/" not in name and not (name in _STANDARD_RESOURCES or name.startswith(
            ("hugepages-", "requests.hugepages-"))):
        causes.append(invalid(path, name, "must be a standard resource type or fully qualified"))
    if "/" not in name:
        if name not in ("cpu", "memory", "ephemeral-storage") and not name.startswith("hugepages-"):
            causes.append(invalid(path, name, "must be a standard resource for containers"))
    elif not _is_native(name) and not _is_extended(name):
        causes.append(invalid(path, name, "doesn't follow extended resource name standard"))
    return causes


def _resources(resources: Any, path: str) -> list[Cause]:
    resources = as_dict(resources)
    limits, requests = as_dict(resources.get("limits")), as_dict(resources.get("requests"))
    causes: list[Cause] = []
    parsed: dict[str, dict[str, Any]] = {"limits": {}, "requests": {}}
    for section, values in (("limits", limits), ("requests", requests)):
        for name in sorted(values):
            rpath = f"{path}.{section}[{name}]"
            causes += _resource_name(name, rpath)
            quantity = parse_quantity(values[name])
            if quantity is None:
                causes.append(invalid(rpath, str(values[name]), QUANTITY_FORMAT_ERROR))
                continue
            parsed[section][name] = quantity
            if quantity.value < 0:
                causes.append(invalid(rpath, str(quantity), "must be greater than or equal to 0"))
            if _is_extended(name) and quantity.value.denominator != 1:
                causes.append(invalid(rpath, quantity.go(), "must be an integer"))
            if section == "limits":
                continue
            overcommit = _is_native(name) and not name.startswith("hugepages-")
            limit = parsed["limits"].get(name)
            if limit is not None:
                if quantity.value != limit.value and not overcommit:
                    causes.append(invalid(f"{path}.requests", str(quantity),
                                          f"must be equal to {name} limit of {limit}"))
                elif quantity.value > limit.value:
                    causes.append(invalid(f"{path}.requests", str(quantity),
                                          f"must be less than or equal to {name} limit of {limit}"))
            elif not overcommit:
                causes.append(required(f"{path}.limits",
                                       "Limit must be set for non overcommitable resources"))
    names = set(limits) | set(requests)
    if any(n.startswith("hugepages-") for n in names) and not names & {"cpu", "memory"}:
        causes.append(forbidden(path, "HugePages require cpu or memory"))
    return causes


def _security_context(context: Any, path: str) -> list[Cause]:
    if context is None:
        return []
    context = as_dict(context)
    causes: list[Cause] = []
    for key in ("runAsUser", "runAsGroup"):
        value = as_int(context.get(key))
        if value is not None and not 0 <= value <= _MAX_ID:
            causes.append(invalid(f"{path}.{key}", value, inclusive_range_error(0, _MAX_ID)))
    proc_mount = context.get("procMount")
    if proc_mount is not None and proc_mount not in ("Default", "Unmasked"):
        causes.append(not_supported(f"{path}.procMount", as_str(proc_mount),
                                    ("Default", "Unmasked")))
    causes += seccomp_profile(context.get("seccompProfile"), f"{path}.seccompProfile")
    return causes


def seccomp_profile(profile: Any, path: str) -> list[Cause]:
    if profile is None:
        return []
    profile = as_dict(profile)
    kind = as_str(profile.get("type"))
    causes: list[Cause] = []
    if not kind:
        causes.append(required(f"{path}.type", "type is required when seccompProfile is set"))
    elif kind not in ("Localhost", "RuntimeDefault", "Unconfined"):
        causes.append(not_supported(f"{path}.type", kind,
                                    ("Localhost", "RuntimeDefault", "Unconfined")))
    if kind == "Localhost":
        if profile.get("localhostProfile") is None:
            causes.append(required(f"{path}.localhostProfile",
                                   "must be set when seccomp type is Localhost"))
        else:
            causes += _descending_path(as_str(profile["localhostProfile"]),
                                       f"{path}.localhostProfile")
    return causes


# --- containers -----------------------------------------------------------------------

def _container_common(container: dict, volumes: Collection[str], path: str) -> list[Cause]:
    causes: list[Cause] = []
    name = as_str(container.get("name"))
    if not name:
        causes.append(required(f"{path}.name"))
    else:
        causes += each_invalid(f"{path}.name", name, dns1123_label(name))
    if not as_str(container.get("image")):
        causes.append(required(f"{path}.image"))
    policy = as_str(container.get("terminationMessagePolicy"))
    if not policy:
        causes.append(required(f"{path}.terminationMessagePolicy"))
    elif policy not in ("File", "FallbackToLogsOnError"):
        causes.append(not_supported(f"{path}.terminationMessagePolicy", policy,
                                    ("File", "FallbackToLogsOnError")))
    causes += _ports(container, path)
    causes += _env(container, path)
    causes += _volume_mounts(container, volumes, path)
    pull = as_str(container.get("imagePullPolicy"))
    if not pull:
        causes.append(required(f"{path}.imagePullPolicy"))
    elif pull not in PULL_POLICIES:
        causes.append(not_supported(f"{path}.imagePullPolicy", pull, PULL_POLICIES))
    causes += _resources(container.get("resources"), f"{path}.resources")
    causes += _security_context(container.get("securityContext"), f"{path}.securityContext")
    return causes


def _host_port_conflicts(containers: list[dict], path: str, seen: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    for ci, container in enumerate(containers):
        for pi, port in enumerate(dicts(container.get("ports"))):
            host = as_int(port.get("hostPort")) or 0
            if not host:
                continue
            key = f"{as_str(port.get('protocol'))}/{as_str(port.get('hostIP'))}/{host}"
            if key in seen:
                causes.append(duplicate(f"{path}[{ci}].ports[{pi}].hostPort", key))
            seen.add(key)
    return causes


def validate_containers(containers: list[dict], volumes: Collection[str], grace: int | None,
                        path: str) -> list[Cause]:
    if not containers:
        return [required(path)]
    causes: list[Cause] = []
    names: set[str] = set()
    for i, container in enumerate(containers):
        cpath = f"{path}[{i}]"
        causes += _container_common(container, volumes, cpath)
        name = as_str(container.get("name"))
        if name in names:
            causes.append(duplicate(f"{cpath}.name", name))
        names.add(name)
        causes += _probes_and_lifecycle(container, grace, cpath)
        if container.get("restartPolicy") is not None:
            causes.append(forbidden(f"{cpath}.restartPolicy",
                                    "may not be set for non-init containers"))
    return causes + _host_port_conflicts(containers, path, set())


def validate_init_containers(init: list[dict], regular: list[dict], volumes: Collection[str],
                             grace: int | None, path: str) -> list[Cause]:
    causes: list[Cause] = []
    names = {as_str(c.get("name")) for c in regular}
    for i, container in enumerate(init):
        cpath = f"{path}[{i}]"
        causes += _container_common(container, volumes, cpath)
        policy = container.get("restartPolicy")
        if policy is not None and policy != "Always":
            causes.append(not_supported(f"{cpath}.restartPolicy", as_str(policy), ("Always",)))
        name = as_str(container.get("name"))
        if name in names:
            causes.append(duplicate(f"{cpath}.name", name))
        elif name:
            names.add(name)
        # Init containers run one at a time, so only their own host ports can clash.
        causes += _host_port_conflicts([container], path, set())
        if policy == "Always":
            causes += _probes_and_lifecycle(container, grace, cpath)
        else:
            for key in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if container.get(key) is not None:
                    causes.append(forbidden(f"{cpath}.{key}", "may not be set for init "
                                            "containers without restartPolicy=Always"))
    return causes


def image_whitespace(containers: list[dict], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, container in enumerate(containers):
        image = as_str(container.get("image"))
        if image != image.strip():
            causes.append(invalid(f"{path}[{i}].image", image,
                                  "must not have leading or trailing whitespace"))
    return causes


def port_warnings(spec: dict, path: str) -> list[str]:
    """The apiserver's warnings for container ports that repeat a port/protocol pair."""
    warnings: list[str] = []
    seen: dict[str, list[tuple[str, dict]]] = {}
    for group in ("initContainers", "containers"):
        for ci, container in enumerate(dicts(spec.get(group))):
            for pi, port in enumerate(dicts(container.get("ports"))):
                here = f"{path}.{group}[{ci}].ports[{pi}]"
                key = f"{as_int(port.get('containerPort')) or 0}/{as_str(port.get('protocol'))}"
                for other_path, other in seen.get(key, []):
                    warnings += _overlap(here, port, other_path, other)
                seen.setdefault(key, []).append((here, port))
    return warnings


def _overlap(here: str, port: dict, other_path: str, other: dict) -> list[str]:
    host, other_host = as_int(port.get("hostPort")) or 0, as_int(other.get("hostPort")) or 0
    ip, other_ip = as_str(port.get("hostIP")), as_str(other.get("hostIP"))
    if ip == other_ip and host == other_host:
        return [f"{here}: duplicate port definition with {other_path}"]
    if host == 0 or other_host == 0:
        return [f"{here}: overlapping port definition with {other_path}"]
    if host == other_host and (ip == "") != (other_ip == ""):
        return [f"{here}: dangerously ambiguous port definition with {other_path}"]
    return []
