"""What the apiserver refuses to store, and how it says so: ``validate(kind, obj, old)``
returns every field error of a create (``old`` is None) or an update, with the paths,
CauseTypes and texts of the Kubernetes v1.32 apiserver; ``invalid_message`` builds the
Status message around them.

Objects are expected defaulted (``apiserver.defaults.apply_defaults``) and, for Services,
allocated, as upstream decodes with defaulting and allocates before validating. Kind
families live in ``validate_*`` modules; the small kinds are here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

from apiserver.resources import RESOURCES
from apiserver.validate_containers import port_warnings
from apiserver.validate_formats import (
    Cause, GoValue, Reason, as_dict, as_int, as_list, as_str, check_cidr, config_map_key,
    dicts, duplicate, each_invalid, forbidden, go_quote, go_slice, invalid, label_value,
    name_is_dns_label, name_is_dns_subdomain, not_supported, parse_cidr, parse_quantity,
    qualified_name, required, too_long)
from apiserver.validate_jobs import validate_job, validate_job_update
from apiserver.validate_meta import (
    immutable, kube_finalizer_name, validate_object_meta, validate_object_meta_update)
from apiserver.validate_networking import (
    ingress_warnings, validate_ingress, validate_ingress_class, validate_ingress_class_update,
    validate_ingress_create, validate_network_policy)
from apiserver.validate_pods import validate_pod, validate_pod_update
from apiserver.validate_services import (
    validate_endpoint_slice, validate_endpoint_slice_update, validate_endpoints,
    validate_service, validate_service_update)
from apiserver.validate_workloads import (
    selector_immutable, validate_deployment, validate_replica_set)

__all__ = ["Cause", "Reason", "invalid_message", "validate", "warnings"]

MAX_SECRET_SIZE = 1024 * 1024
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"
_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


# --- ConfigMap and Secret -------------------------------------------------------------

def _base64_error(text: str) -> int | None:
    """Where Go's base64.StdEncoding would fail decoding ``text``, or None if it would not
    (the offset the JSON decoder reports: "illegal base64 data at input byte N")."""
    src, si = text.encode(), 0
    newline = (ord("\r"), ord("\n"))
    while True:
        j = 0
        while j < 4:
            if si == len(src):
                return None if j == 0 else si - j
            ch = src[si]
            si += 1
            if ch in _B64_ALPHABET:
                j += 1
            elif ch in newline:
                continue
            elif ch != ord("=") or j < 2:
                return si - 1
            else:
                if j == 2:
                    while si < len(src) and src[si] in newline:
                        si += 1
                    if si == len(src):
                        return len(src)
                    if src[si] != ord("="):
                        return si - 1
                    si += 1
                while si < len(src) and src[si] in newline:
                    si += 1
                return si if si < len(src) else None


def _decoded_size(text: str) -> int:
    stripped = text.replace("\r", "").replace("\n", "")
    return len(stripped) * 3 // 4 - stripped[-2:].count("=")


def _validate_config_map(obj: dict) -> list[Cause]:
    causes = validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)
    data, binary = as_dict(obj.get("data")), as_dict(obj.get("binaryData"))
    size = 0
    for key in sorted(data):
        causes += each_invalid(f"data[{key}]", key, config_map_key(key))
        if key in binary:
            causes.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        size += len(as_str(data[key]).encode())
    for key in sorted(binary):
        causes += each_invalid(f"binaryData[{key}]", key, config_map_key(key))
        size += _decoded_size(as_str(binary[key]))
    if size > MAX_SECRET_SIZE:
        causes.append(too_long("", MAX_SECRET_SIZE))
    return causes


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def _validate_secret(obj: dict) -> list[Cause]:
    meta = as_dict(obj.get("metadata"))
    causes = validate_object_meta(meta, True, name_is_dns_subdomain)
    data = as_dict(obj.get("data"))
    size = 0
    for key in sorted(data):
        causes += each_invalid(f"data[{key}]", key, config_map_key(key))
        offset = _base64_error(as_str(data[key]))
        if offset is not None:
            causes.append(invalid(f"data[{key}]", "<secret contents redacted>",
                                  f"illegal base64 data at input byte {offset}"))
        else:
            size += _decoded_size(as_str(data[key]))
    if size > MAX_SECRET_SIZE:
        causes.append(too_long("data", MAX_SECRET_SIZE))
    kind = as_str(obj.get("type"))
    if kind == "kubernetes.io/service-account-token":
        if not as_str(as_dict(meta.get("annotations")).get("kubernetes.io/service-account.name")):
            causes.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            causes += [required("data[username]"), required("data[password]")]
    for key in _SECRET_REQUIRED_KEYS.get(kind, ()):
        if key not in data or (key == "ssh-privatekey" and not data[key]):
            causes.append(required(f"data[{key}]"))
            if kind != "kubernetes.io/tls":
                break
        elif key.startswith(".docker") and _base64_error(as_str(data[key])) is None:
            causes += _docker_config(key, as_str(data[key]))
    return causes


def _docker_config(key: str, encoded: str) -> list[Cause]:
    try:
        parsed = json.loads(base64.b64decode(encoded))
    except (ValueError, binascii.Error) as e:
        return [invalid(f"data[{key}]", "<secret contents redacted>", str(e))]
    if not isinstance(parsed, dict):
        return [invalid(f"data[{key}]", "<secret contents redacted>",
                        "json: cannot unmarshal into Go value of type map[string]interface {}")]
    return []


def _immutable_data(obj: dict, old: dict, keys: tuple[str, ...]) -> list[Cause]:
    if old.get("immutable") is not True:
        return []
    causes = [] if obj.get("immutable") is True else [forbidden("immutable", IMMUTABLE_WHEN_SET)]
    return causes + [forbidden(key, IMMUTABLE_WHEN_SET) for key in keys
                     if (obj.get(key) or None) != (old.get(key) or None)]


# --- Namespace, Node ----------------------------------------------------------------

def _validate_namespace(obj: dict) -> list[Cause]:
    causes = validate_object_meta(obj.get("metadata"), False, name_is_dns_label)
    for name in as_list(as_dict(obj.get("spec")).get("finalizers")):
        name = as_str(name)
        causes += each_invalid("spec.finalizers", name, qualified_name(name))
        causes += kube_finalizer_name(name, "spec.finalizers")
    return causes


def node_pod_cidrs(spec: dict) -> list[str]:
    cidrs = [as_str(c) for c in as_list(spec.get("podCIDRs"))]
    return cidrs or ([as_str(spec["podCIDR"])] if as_str(spec.get("podCIDR")) else [])


def _validate_node(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = validate_object_meta(obj.get("metadata"), False, name_is_dns_subdomain)
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(dicts(spec.get("taints"))):
        path = f"metadata.taints[{i}]"  # sic: upstream reports node taints under metadata
        key, value, effect = (as_str(taint.get(k)) for k in ("key", "value", "effect"))
        causes += each_invalid(f"{path}.key", key, qualified_name(key))
        errors = label_value(value)
        if errors:
            causes.append(invalid(f"{path}.value", value, ";".join(errors)))
        if not effect:
            causes.append(required(f"{path}.effect"))
        elif effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            causes.append(not_supported(f"{path}.effect", effect,
                                        ("NoSchedule", "PreferNoSchedule", "NoExecute")))
        if (key, effect) in seen:
            shown = GoValue(f"core.Taint{{Key:{go_quote(key)}, Value:{go_quote(value)}, "
                            f"Effect:{go_quote(effect)}, TimeAdded:(*v1.Time)(nil)}}")
            cause = duplicate(path, shown)
            causes.append(Cause(cause.field, cause.reason,
                                cause.message + ": taints must be unique by key and effect pair"))
            continue
        seen.add((key, effect))
    for section in ("capacity", "allocatable"):
        for name, text in sorted(as_dict(as_dict(obj.get("status")).get(section)).items()):
            quantity = parse_quantity(text)
            if quantity is not None and quantity.value < 0:
                causes.append(invalid(f"status.{section}.{name}", str(quantity),
                                      "must be greater than or equal to 0"))
    cidrs = node_pod_cidrs(spec)
    for i, cidr in enumerate(cidrs):
        causes += check_cidr(f"spec.podCIDRs[{i}]", cidr)
    if len(cidrs) > 1:
        versions = sorted(n.version for n in map(parse_cidr, cidrs) if n is not None)
        if versions != [4, 6]:
            causes.append(invalid("spec.podCIDRs", go_slice(cidrs),
                                  "may specify no more than one CIDR for each IP family"))
        for i, cidr in enumerate(cidrs):
            if cidr in cidrs[:i]:
                causes.append(duplicate(f"spec.podCIDRs[{i}]", cidr))
    return causes


def _validate_node_update(obj: dict, old: dict) -> list[Cause]:
    spec, old_spec = as_dict(obj.get("spec")), as_dict(old.get("spec"))
    causes = _validate_node(obj)
    old_cidrs = node_pod_cidrs(old_spec)
    if old_cidrs and node_pod_cidrs(spec) != old_cidrs:
        causes.append(forbidden("spec.podCIDRs",
                                'node updates may not change podCIDR except from "" to valid'))
    old_provider = as_str(old_spec.get("providerID"))
    if old_provider and as_str(spec.get("providerID")) != old_provider:
        causes.append(forbidden("spec.providerID",
                                'node updates may not change providerID except from "" to valid'))
    return causes


# --- Event, Lease, ServiceAccount -----------------------------------------------------

def _validate_event(obj: dict) -> list[Cause]:
    """core/v1 Events keep the legacy rules: free-form names, namespace agreement."""
    meta = as_dict(obj.get("metadata"))
    namespace = as_str(meta.get("namespace"))
    involved = as_str(as_dict(obj.get("involvedObject")).get("namespace"))
    causes = [] if as_str(meta.get("name")) else [
        required("metadata.name", "name or generateName is required")]
    mismatch = invalid("involvedObject.namespace", involved, "does not match event.namespace")
    if not obj.get("eventTime"):
        if (involved and namespace != involved) or (not involved and namespace not in ("",
                                                                                      "default")):
            causes.append(mismatch)
    else:
        if not involved and namespace not in ("default", "kube-system"):
            causes.append(mismatch)
        controller = as_str(obj.get("reportingComponent"))
        if not controller:
            causes.append(required("reportingComponent"))
        causes += each_invalid("reportingComponent", controller, qualified_name(controller))
        for key, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
            if not as_str(obj.get(key)):
                causes.append(required(key))
            if len(as_str(obj.get(key))) > limit:
                causes.append(invalid(key, "", f"can have at most {limit} characters"))
        if len(as_str(obj.get("message"))) > 1024:
            causes.append(invalid("message", "", "can have at most 1024 characters"))
    return causes + each_invalid("namespace", namespace, name_is_dns_subdomain(namespace))


def _validate_lease(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)
    duration, transitions = (as_int(spec.get("leaseDurationSeconds")),
                             as_int(spec.get("leaseTransitions")))
    if duration is not None and duration <= 0:
        causes.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    if transitions is not None and transitions < 0:
        causes.append(invalid("spec.leaseTransitions", transitions,
                              "must be greater than or equal to 0"))
    return causes


def _validate_service_account(obj: dict) -> list[Cause]:
    return validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)


# --- dispatch -------------------------------------------------------------------------

Check = Callable[[dict], list[Cause]]
UpdateCheck = Callable[[dict, dict], list[Cause]]


def _update_checks_first(create: Check, *extra: UpdateCheck) -> UpdateCheck:
    return lambda obj, old: [c for check in extra for c in check(obj, old)] + create(obj)


def _update_checks_last(create: Check, extra: UpdateCheck) -> UpdateCheck:
    return lambda obj, old: create(obj) + extra(obj, old)


_CREATE: dict[str, Check] = {
    "Pod": validate_pod,
    "Deployment": validate_deployment,
    "ReplicaSet": validate_replica_set,
    "Job": validate_job,
    "Service": validate_service,
    "Endpoints": validate_endpoints,
    "EndpointSlice": validate_endpoint_slice,
    "ConfigMap": _validate_config_map,
    "Secret": _validate_secret,
    "Namespace": _validate_namespace,
    "Node": _validate_node,
    "Ingress": validate_ingress_create,
    "IngressClass": validate_ingress_class,
    "NetworkPolicy": validate_network_policy,
    "Event": _validate_event,
    "Lease": _validate_lease,
    "ServiceAccount": _validate_service_account,
}

# Updates: the object metadata rules, then these (kinds not listed re-run their create
# validation on the new object, as upstream does).
_UPDATE: dict[str, UpdateCheck] = {
    "Pod": validate_pod_update,
    "Deployment": _update_checks_last(validate_deployment, selector_immutable),
    "ReplicaSet": _update_checks_last(validate_replica_set, selector_immutable),
    "Job": validate_job_update,
    "Service": validate_service_update,
    "EndpointSlice": validate_endpoint_slice_update,
    "ConfigMap": _update_checks_first(
        _validate_config_map, lambda obj, old: _immutable_data(obj, old, ("data", "binaryData"))),
    "Secret": _update_checks_first(
        _validate_secret,
        lambda obj, old: immutable("type", as_str(obj.get("type")), as_str(old.get("type"))),
        lambda obj, old: _immutable_data(obj, old, ("data",))),
    "Namespace": lambda obj, old: [],
    "Node": _validate_node_update,
    "Ingress": lambda obj, old: validate_ingress(obj),
    "IngressClass": validate_ingress_class_update,
}


def validate(kind: str, obj: dict, old: dict | None = None) -> list[Cause]:
    """Every problem with ``obj`` (a create when ``old`` is None, else an update)."""
    if kind not in _CREATE:
        return []
    if old is None:
        causes = _CREATE[kind](obj)
    else:
        update = _UPDATE.get(kind)
        causes = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
        causes += update(obj, old) if update else _CREATE[kind](obj)
    return list(dict.fromkeys(causes))  # upstream re-checks some fields; report each once


_GROUP_BY_KIND = {r.kind: r.group for r in RESOURCES}


def invalid_message(kind: str, name: str, causes: list[Cause]) -> str:
    """``Deployment.apps "web" is invalid: [spec.replicas: ..., ...]`` as NewInvalid builds
    it: duplicate lines dropped, brackets only around more than one."""
    group = _GROUP_BY_KIND.get(kind, "")
    qualified = f"{kind}.{group}" if group else kind
    lines = list(dict.fromkeys(str(c) for c in causes))
    if not lines:
        return f'{qualified} "{name}" is invalid'
    body = lines[0] if len(lines) == 1 else "[" + ", ".join(lines) + "]"
    return f'{qualified} "{name}" is invalid: {body}'


def warnings(kind: str, obj: dict) -> list[str]:
    """The ``Warning:`` lines a successful create of ``obj`` returns: duplicate container
    ports, the deprecated Ingress class annotation."""
    if kind == "Ingress":
        return ingress_warnings(obj)
    if kind == "Pod":
        return port_warnings(as_dict(obj.get("spec")), "spec")
    if kind in ("Deployment", "ReplicaSet", "Job"):
        template = as_dict(as_dict(obj.get("spec")).get("template"))
        return port_warnings(as_dict(template.get("spec")), "spec.template.spec")
    return []

