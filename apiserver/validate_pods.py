"""Pods and pod templates: PodSpec validation (volumes, containers, scheduling fields,
DNS, tolerations, security context), the Pod create checks, and the update rule that
freezes a Pod's spec except images, activeDeadlineSeconds and added tolerations."""

from __future__ import annotations

import json
from typing import Any

from apiserver import validate_containers as containers
from apiserver.validate_formats import (
    Cause, as_dict, as_int, as_list, as_str, check_ip, dicts, dns1123_label, duplicate,
    each_invalid, forbidden, inclusive_range_error, invalid, label_value, name_is_dns_subdomain,
    not_supported, parse_quantity, qualified_name, required)
from apiserver.validate_meta import validate_annotations, validate_labels, validate_object_meta

MAX_INT32 = 2**31 - 1
_FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"
# VolumeSource members in the order upstream checks them ("more than 1 volume type").
VOLUME_TYPES = (
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret",
    "nfs", "iscsi", "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs",
    "quobyte", "downwardAPI", "fc", "flexVolume", "configMap", "azureFile", "vsphereVolume",
    "photonPersistentDisk", "portworxVolume", "azureDisk", "storageos", "projected", "scaleIO",
    "csi", "ephemeral", "image")
# Upstream spells these two differently in its "more than 1 volume type" paths.
_FORBIDDEN_PATH_NAME = {"cephfs": "cephFS", "downwardAPI": "downwarAPI"}
_HOST_PATH_TYPES = ("", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File",
                    "FileOrCreate", "Socket")
_VOLUME_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name",
                       "metadata.namespace", "metadata.uid")
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
UPDATABLE_POD_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
    "negative)",
)


# --- volumes --------------------------------------------------------------------------

def _mode(value: Any, path: str) -> list[Cause]:
    mode = as_int(value)
    if mode is not None and not 0 <= mode <= 0o777:
        return [invalid(path, mode, _FILE_MODE_ERROR)]
    return []


def _items(source: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, item in enumerate(dicts(source.get("items"))):
        ipath = f"{path}.items[{i}]"
        if not as_str(item.get("key")):
            causes.append(required(f"{ipath}.key"))
        item_path = as_str(item.get("path"))
        if not item_path:
            causes.append(required(f"{ipath}.path"))
        causes += containers.local_non_reserved_path(item_path, f"{ipath}.path")
        causes += _mode(item.get("mode"), f"{ipath}.mode")
    return causes


def _downward_items(source: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    # Upstream reports downward API items at the source's path, without an index.
    for item in dicts(source.get("items")):
        item_path = as_str(item.get("path"))
        if not item_path:
            causes.append(required(f"{path}.path"))
        causes += containers.local_non_reserved_path(item_path, f"{path}.path")
        if item.get("fieldRef") is not None:
            causes += containers.validate_field_selector(
                as_dict(item["fieldRef"]), _VOLUME_FIELD_PATHS, f"{path}.fieldRef")
            if item.get("resourceFieldRef") is not None:
                causes.append(invalid(path, "resource", "fieldRef and resourceFieldRef can not be "
                                                        "specified simultaneously"))
        elif item.get("resourceFieldRef") is None:
            causes.append(required(path, "one of fieldRef and resourceFieldRef is required"))
        causes += _mode(item.get("mode"), f"{path}.mode")
    return causes


def _volume_source(kind: str, source: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if kind == "emptyDir":
        limit = parse_quantity(source.get("sizeLimit")) if "sizeLimit" in source else None
        if limit is not None and limit.value < 0:
            causes.append(forbidden(f"{path}.sizeLimit",
                                    "SizeLimit field must be a valid resource quantity"))
    elif kind == "hostPath":
        host_path = as_str(source.get("path"))
        if not host_path:
            return [required(f"{path}.path")]
        if ".." in host_path.split("/"):
            causes.append(invalid(f"{path}.path", host_path, "must not contain '..'"))
        if source.get("type") is not None and as_str(source["type"]) not in _HOST_PATH_TYPES:
            causes.append(not_supported(f"{path}.type", as_str(source["type"]), _HOST_PATH_TYPES))
    elif kind in ("secret", "configMap"):
        name_key = "secretName" if kind == "secret" else "name"
        if not as_str(source.get(name_key)):
            causes.append(required(f"{path}.{name_key}"))
        causes += _mode(source.get("defaultMode"), f"{path}.defaultMode")
        causes += _items(source, path)
    elif kind == "persistentVolumeClaim" and not as_str(source.get("claimName")):
        causes.append(required(f"{path}.claimName"))
    elif kind == "downwardAPI":
        causes += _mode(source.get("defaultMode"), f"{path}.defaultMode")
        causes += _downward_items(source, path)
    elif kind == "projected":
        causes += _mode(source.get("defaultMode"), f"{path}.defaultMode")
        for i, projection in enumerate(dicts(source.get("sources"))):
            count = sum(projection.get(k) is not None for k in projection)
            if count > 1:
                causes.append(forbidden(f"{path}.sources[{i}]",
                                        "may not specify more than 1 volume type per source"))
    elif kind == "nfs":
        nfs_path = as_str(source.get("path"))
        if not as_str(source.get("server")):
            causes.append(required(f"{path}.server"))
        if not nfs_path:
            causes.append(required(f"{path}.path"))
        if not nfs_path.startswith("/"):
            causes.append(invalid(f"{path}.path", nfs_path, "must be an absolute path"))
    return causes


def validate_volumes(volumes: list[dict], path: str) -> tuple[set[str], list[Cause]]:
    """The names of the volumes that passed, and the problems of the rest."""
    names: set[str] = set()
    causes: list[Cause] = []
    for i, volume in enumerate(volumes):
        vpath = f"{path}[{i}]"
        errors: list[Cause] = []
        seen = 0
        for kind in VOLUME_TYPES:
            if volume.get(kind) is None:
                continue
            if seen:
                errors.append(forbidden(f"{vpath}.{_FORBIDDEN_PATH_NAME.get(kind, kind)}",
                                        "may not specify more than 1 volume type"))
                continue
            seen += 1
            errors += _volume_source(kind, as_dict(volume[kind]), f"{vpath}.{kind}")
        if not seen:
            errors.append(required(vpath, "must specify a volume type"))
        name = as_str(volume.get("name"))
        if not name:
            errors.append(required(f"{vpath}.name"))
        else:
            errors += each_invalid(f"{vpath}.name", name, dns1123_label(name))
        if name in names:
            errors.append(duplicate(f"{vpath}.name", name))
        if errors:
            causes += errors
        else:
            names.add(name)
    return names, causes


# --- scheduling and DNS fields --------------------------------------------------------

def validate_tolerations(tolerations: list[dict], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, toleration in enumerate(tolerations):
        tpath = f"{path}[{i}]"
        key, operator = as_str(toleration.get("key")), as_str(toleration.get("operator"))
        value, effect = as_str(toleration.get("value")), as_str(toleration.get("effect"))
        if key:
            causes += each_invalid(f"{tpath}.key", key, qualified_name(key))
        if not key and operator != "Exists":
            causes.append(invalid(f"{tpath}.operator", operator, "operator must be Exists when "
                                  '`key` is empty, which means "match all values and all keys"'))
        if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
            causes.append(invalid(f"{tpath}.effect", effect,
                                  "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if operator in ("Equal", ""):
            errors = label_value(value)
            if errors:
                causes.append(invalid(f"{tpath}.operator", value, ";".join(errors)))
        elif operator == "Exists":
            if value:
                causes.append(invalid(f"{tpath}.operator", value,
                                      "value must be empty when `operator` is 'Exists'"))
        else:
            causes.append(not_supported(f"{tpath}.operator", operator, ("Equal", "Exists")))
        if effect and effect not in _TAINT_EFFECTS:
            causes.append(not_supported(f"{tpath}.effect", effect, _TAINT_EFFECTS))
    return causes


def _dns_config(spec: dict, path: str) -> list[Cause]:
    config = spec.get("dnsConfig")
    if spec.get("dnsPolicy") == "None":
        if config is None:
            return [required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not as_list(as_dict(config).get("nameservers")):
            return [required(f"{path}.nameservers", "must provide at least one DNS nameserver "
                                                    "when `dnsPolicy` is None")]
    if config is None:
        return []
    config = as_dict(config)
    causes: list[Cause] = []
    nameservers = [as_str(n) for n in as_list(config.get("nameservers"))]
    if len(nameservers) > 3:
        causes.append(invalid(f"{path}.nameservers", nameservers,
                              "must not have more than 3 nameservers"))
    for i, server in enumerate(nameservers):
        causes += check_ip(f"{path}.nameservers[{i}]", server)
    searches = [as_str(s) for s in as_list(config.get("searches"))]
    if len(searches) > 32:
        causes.append(invalid(f"{path}.searches", searches, "must not have more than 32 search "
                                                             "paths"))
    if len(" ".join(searches)) > 2048:
        causes.append(invalid(f"{path}.searches", searches, "must not have more than 2048 "
                              "characters (including spaces) in the search list"))
    for i, search in enumerate(searches):
        search = search.removesuffix(".")
        causes += each_invalid(f"{path}.searches[{i}]", search, name_is_dns_subdomain(search))
    for i, option in enumerate(dicts(config.get("options"))):
        if not as_str(option.get("name")):
            causes.append(required(f"{path}.options[{i}]", "must not be empty"))
    return causes


def _pod_security_context(spec: dict, path: str) -> list[Cause]:
    context = spec.get("securityContext")
    if context is None:
        return []
    context = as_dict(context)
    causes: list[Cause] = []
    ids = [(key, context.get(key)) for key in ("fsGroup", "runAsUser", "runAsGroup")]
    ids += [(f"supplementalGroups[{i}]", g) for i, g in enumerate(as_list(
        context.get("supplementalGroups")))]
    for key, value in ids:
        number = as_int(value)
        if number is not None and not 0 <= number <= 0xFFFFFFFF:
            causes.append(invalid(f"{path}.{key}", number, inclusive_range_error(0, 0xFFFFFFFF)))
    if context.get("shareProcessNamespace") is True and spec.get("hostPID") is True:
        causes.append(invalid(f"{path}.shareProcessNamespace", True,
                              "ShareProcessNamespace and HostPID cannot both be enabled"))
    policy = context.get("fsGroupChangePolicy")
    if policy is not None and policy not in ("Always", "OnRootMismatch"):
        causes.append(not_supported(f"{path}.fsGroupChangePolicy", as_str(policy),
                                    ("Always", "OnRootMismatch")))
    causes += containers.seccomp_profile(context.get("seccompProfile"), f"{path}.seccompProfile")
    return causes


def _enum(spec: dict, key: str, allowed: tuple[str, ...], path: str) -> list[Cause]:
    value = as_str(spec.get(key))
    if not value:
        return [required(f"{path}.{key}")]
    return [] if value in allowed else [not_supported(f"{path}.{key}", value, allowed)]


def _named(spec: dict, key: str, path: str) -> list[Cause]:
    value = as_str(spec.get(key))
    return each_invalid(f"{path}.{key}", value, name_is_dns_subdomain(value)) if value else []


def validate_pod_spec(spec: Any, path: str, is_pod: bool) -> list[Cause]:
    """ValidatePodSpec; ``is_pod`` marks a Pod's own spec rather than a template's."""
    spec = as_dict(spec)
    causes: list[Cause] = []
    grace = as_int(spec.get("terminationGracePeriodSeconds"))
    if spec.get("terminationGracePeriodSeconds") is None:
        causes.append(required(f"{path}.terminationGracePeriodSeconds"))
    volumes, volume_causes = validate_volumes(dicts(spec.get("volumes")), f"{path}.volumes")
    causes += volume_causes
    regular, init = dicts(spec.get("containers")), dicts(spec.get("initContainers"))
    causes += containers.validate_containers(regular, volumes, grace, f"{path}.containers")
    causes += containers.validate_init_containers(init, regular, volumes, grace,
                                                  f"{path}.initContainers")
    if spec.get("hostNetwork") is True:
        for ci, container in enumerate(regular):
            for pi, port in enumerate(dicts(container.get("ports"))):
                host, target = as_int(port.get("hostPort")) or 0, as_int(port.get("containerPort"))
                if (is_pod or host != 0) and host != target:
                    causes.append(invalid(f"{path}.containers[{ci}].ports[{pi}].hostPort", host,
                                          "must match `containerPort` when `hostNetwork` is true"))
    causes += _enum(spec, "restartPolicy", ("Always", "OnFailure", "Never"), path)
    causes += _enum(spec, "dnsPolicy", ("ClusterFirstWithHostNet", "ClusterFirst", "Default",
                                        "None"), path)
    causes += validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    causes += _pod_security_context(spec, f"{path}.securityContext")
    causes += _dns_config(spec, f"{path}.dnsConfig")
    for i, gate in enumerate(dicts(spec.get("readinessGates"))):
        condition = as_str(gate.get("conditionType"))
        causes += each_invalid(f"{path}.readinessGates[{i}].conditionType", condition,
                               qualified_name(condition))
    gates: set[str] = set()
    for i, gate in enumerate(dicts(spec.get("schedulingGates"))):
        name = as_str(gate.get("name"))
        causes += each_invalid(f"{path}.schedulingGates[{i}]", name, qualified_name(name))
        if name in gates:
            causes.append(duplicate(f"{path}.schedulingGates[{i}]", name))
        gates.add(name)
    causes += _named(spec, "serviceAccountName", path)
    causes += _named(spec, "nodeName", path)
    deadline = as_int(spec.get("activeDeadlineSeconds"))
    if deadline is not None and not 1 <= deadline <= MAX_INT32:
        causes.append(invalid(f"{path}.activeDeadlineSeconds", deadline,
                              inclusive_range_error(1, MAX_INT32)))
    for key in ("hostname", "subdomain"):
        value = as_str(spec.get(key))
        if value:
            causes += each_invalid(f"{path}.{key}", value, dns1123_label(value))
    causes += validate_tolerations(dicts(spec.get("tolerations")), f"{path}.tolerations")
    for i, alias in enumerate(dicts(spec.get("hostAliases"))):
        causes += check_ip(f"{path}.hostAliases[{i}].ip", as_str(alias.get("ip")))
        for j, host in enumerate(as_list(alias.get("hostnames"))):
            causes += each_invalid(f"{path}.hostAliases[{i}].hostnames[{j}]", as_str(host),
                                   name_is_dns_subdomain(as_str(host)))
    causes += _named(spec, "priorityClassName", path)
    if spec.get("runtimeClassName") is not None:
        runtime = as_str(spec["runtimeClassName"])
        causes += each_invalid(f"{path}.runtimeClassName", runtime, name_is_dns_subdomain(runtime))
    if spec.get("preemptionPolicy") is not None:
        causes += _enum(spec, "preemptionPolicy", ("PreemptLowerPriority", "Never"), path)
    if spec.get("os") is not None:
        os_name = as_str(as_dict(spec["os"]).get("name"))
        if not os_name:
            causes.append(required(f"{path}.os.name", "cannot be empty"))
        elif os_name not in ("linux", "windows"):
            causes.append(not_supported(f"{path}.os", os_name, ("linux", "windows")))
    return causes


def validate_pod_template(template: Any, path: str) -> list[Cause]:
    """ValidatePodTemplateSpec: labels and annotations land at ``<path>.labels``."""
    template = as_dict(template)
    meta = as_dict(template.get("metadata"))
    causes = validate_labels(meta.get("labels"), f"{path}.labels")
    causes += validate_annotations(meta.get("annotations"), f"{path}.annotations")
    spec = as_dict(template.get("spec"))
    causes += validate_pod_spec(spec, f"{path}.spec", is_pod=False)
    if as_list(spec.get("ephemeralContainers")):
        causes.append(forbidden(f"{path}.spec.ephemeralContainers",
                                "ephemeral containers not allowed in pod template"))
    return causes


# --- Pods -----------------------------------------------------------------------------

def _pod(pod: dict) -> list[Cause]:
    spec = as_dict(pod.get("spec"))
    causes = validate_object_meta(pod.get("metadata"), True, name_is_dns_subdomain)
    causes += validate_pod_spec(spec, "spec", is_pod=True)
    causes += containers.image_whitespace(dicts(spec.get("containers")), "spec.containers")
    causes += containers.image_whitespace(dicts(spec.get("initContainers")), "spec.initContainers")
    return causes


def validate_pod(pod: dict) -> list[Cause]:
    causes = _pod(pod)
    spec = as_dict(pod.get("spec"))
    if as_list(spec.get("ephemeralContainers")):
        causes.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if as_str(spec.get("nodeName")) and as_list(spec.get("schedulingGates")):
        causes.append(forbidden("spec.nodeName",
                                "cannot be set until all schedulingGates have been cleared"))
    return causes


def _toleration_key(toleration: dict) -> tuple[str, ...]:
    return tuple(as_str(toleration.get(k)) for k in ("key", "operator", "value", "effect"))


def _spec_diff(old: dict, new: dict) -> str:
    """A readable stand-in for the cmp.Diff upstream appends (whose spacing is randomised)."""
    lines = ["  core.PodSpec{"]
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            name = key[0].upper() + key[1:]
            for sign, side in (("-", old), ("+", new)):
                if key in side:
                    lines.append(f"{sign} \t{name}: {json.dumps(side[key], sort_keys=True)},")
    lines.append("  }")
    return "\n".join(lines) + "\n"


def validate_pod_update(pod: dict, old: dict) -> list[Cause]:
    spec, old_spec = as_dict(pod.get("spec")), as_dict(old.get("spec"))
    causes = _pod(pod)
    for group in ("containers", "initContainers"):
        new_list, old_list = dicts(spec.get(group)), dicts(old_spec.get(group))
        if len(new_list) != len(old_list):
            causes.append(forbidden(f"spec.{group}", "pod updates may not add or remove "
                                                     "containers"))
            return causes
        for i, container in enumerate(new_list):
            if not as_str(container.get("image")):
                causes.append(required(f"spec.{group}[{i}].image"))
        causes += containers.image_whitespace(new_list, f"spec.{group}")
    deadline = spec.get("activeDeadlineSeconds")
    old_deadline = old_spec.get("activeDeadlineSeconds")
    if deadline is not None:
        number = as_int(deadline) or 0
        if not 0 <= number <= MAX_INT32:
            causes.append(invalid("spec.activeDeadlineSeconds", number,
                                  inclusive_range_error(0, MAX_INT32)))
            return causes
        if old_deadline is not None and (as_int(old_deadline) or 0) < number:
            causes.append(invalid("spec.activeDeadlineSeconds", number,
                                  "must be less than or equal to previous value"))
            return causes
    elif old_deadline is not None:
        causes.append(invalid("spec.activeDeadlineSeconds", None,
                              "must not update from a positive integer to nil value"))
    tolerations = dicts(spec.get("tolerations"))
    kept = {_toleration_key(t) for t in tolerations}
    if any(_toleration_key(t) not in kept for t in dicts(old_spec.get("tolerations"))):
        causes.append(forbidden("spec.tolerations",
                                "existing toleration can not be modified except its "
                                "tolerationSeconds"))
    else:
        causes += validate_tolerations(tolerations, "spec.tolerations")
    old_gates = {as_str(g.get("name")) for g in dicts(old_spec.get("schedulingGates"))}
    for i, gate in enumerate(dicts(spec.get("schedulingGates"))):
        if as_str(gate.get("name")) not in old_gates:
            causes.append(forbidden(f"spec.schedulingGates[{i}].name",
                                    "only deletion is allowed, but found new scheduling gate "
                                    f"'{as_str(gate.get('name'))}'"))
    munged = json.loads(json.dumps(spec))
    for group in ("containers", "initContainers"):
        for container, old_container in zip(dicts(munged.get(group)), dicts(old_spec.get(group))):
            container["image"] = old_container.get("image")
    for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        munged.pop(key, None)
        if key in old_spec:
            munged[key] = old_spec[key]
    old_grace = as_int(old_spec.get("terminationGracePeriodSeconds"))
    if old_grace is not None and old_grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if munged != old_spec:
        causes.append(forbidden("spec", "pod updates may not change fields other than "
                                + ",".join(UPDATABLE_POD_FIELDS) + "\n"
                                + _spec_diff(old_spec, munged)))
    return causes
