"""Container environment as kubelet builds it: service-link variables for the
`kubernetes` Service, then `envFrom` sources, then `env` entries in order with `$(VAR)`
expansion against those defined before them; values from the pod (`fieldRef`), its
resources (`resourceFieldRef`), ConfigMaps and Secrets. Pure functions: ConfigMaps and
Secrets come through a lookup the caller provides."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from decimal import ROUND_CEILING, Decimal

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: `$$` escapes, unknown references stay as written."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _REF.sub(sub, text)


def field_ref(pod: dict, path: str) -> str:
    meta, spec, status = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
    simple = {
        "metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": status.get("podIP", ""), "status.hostIP": status.get("hostIP", ""),
        "status.podIPs": ",".join(p["ip"] for p in status.get("podIPs") or []),
        "status.hostIPs": ",".join(p["ip"] for p in status.get("hostIPs") or []),
    }
    if path in simple:
        return simple[path]
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return (meta.get(m.group(1)) or {}).get(m.group(2), "")
    return ""


Lookup = Callable[[str, str, str], "dict[str, str] | None"]
"""(kind "ConfigMap" or "Secret", namespace, name) -> its data as text, None if missing."""


class ConfigError(Exception):
    """The container cannot be configured yet (kubelet's CreateContainerConfigError):
    a ConfigMap, Secret or key it needs is missing."""


_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


def container_env(pod: dict, container: dict, service_env: dict[str, str],
                  lookup: Lookup | None = None) -> dict[str, str]:
    namespace = pod["metadata"].get("namespace", "default")
    find = lookup or (lambda kind, ns, name: None)
    env = {"HOSTNAME": pod["metadata"]["name"], **service_env}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(field)
            if ref is None:
                continue
            data = find(kind, namespace, ref.get("name", ""))
            if data is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{kind.lower()} "{ref.get("name", "")}" not found')
            for key, value in data.items():
                if _ENV_NAME.fullmatch(prefix + key):  # kubelet skips invalid names
                    env[prefix + key] = value
    for item in container.get("env") or []:
        name = item.get("name", "")
        source = item.get("valueFrom")
        if source is None:
            env[name] = expand(str(item.get("value", "")), env)
        elif "fieldRef" in source:
            env[name] = field_ref(pod, source["fieldRef"].get("fieldPath", ""))
        elif "resourceFieldRef" in source:
            env[name] = resource_field_ref(pod, container, source["resourceFieldRef"])
        elif (found := _key_ref(source, namespace, find)) is not None:
            env[name] = found
    return env


def _key_ref(source: dict, namespace: str, find: Lookup) -> str | None:
    """A configMapKeyRef / secretKeyRef value; None when optional and missing."""
    for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
        ref = source.get(field)
        if ref is None:
            continue
        name, key = ref.get("name", ""), ref.get("key", "")
        data = find(kind, namespace, name)
        if data is None:
            if ref.get("optional"):
                return None
            raise ConfigError(f'{kind.lower()} "{name}" not found')
        if key not in data:
            if ref.get("optional"):
                return None
            raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
        return data[key]
    return ""


_UNITS: dict[str, Decimal | int] = {
    "": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
    "Pi": 2**50, "Ei": 2**60}
_QUANTITY = re.compile(r"([0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")
NODE_CPU, NODE_MEMORY = "2", "16Gi"  # a limit that is not set is the node's allocatable


def quantity(text: str) -> Decimal:
    m = _QUANTITY.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"not a quantity: {text!r}")
    return Decimal(m.group(1)) * Decimal(_UNITS[m.group(2) or ""])


def resource_field_ref(pod: dict, container: dict, ref: dict) -> str:
    """requests/limits of cpu, memory or ephemeral-storage divided by the divisor, rounded
    up as kubelet does (limits.cpu with no limit is the node's cpu count)."""
    target = container
    if ref.get("containerName"):
        target = next((c for c in pod.get("spec", {}).get("containers") or []
                       if c.get("name") == ref["containerName"]), container)
    what = ref.get("resource", "")
    section, _, resource = what.partition(".")
    resources = target.get("resources") or {}
    value = (resources.get(section) or {}).get(resource)
    if value is None and section == "requests":
        value = (resources.get("limits") or {}).get(resource)
    if value is None:
        value = {"cpu": NODE_CPU, "memory": NODE_MEMORY}.get(resource, "0")
    divisor = quantity(str(ref.get("divisor") or "1"))
    result = (quantity(str(value)) / divisor).to_integral_value(ROUND_CEILING)
    return str(max(int(result), 1 if resource == "cpu" else 0))


def decode_secret(secret: dict) -> dict[str, str]:
    """A Secret's data (base64) and stringData as text."""
    data = {k: base64.b64decode(v).decode(errors="replace")
            for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


def service_env(name: str, ip: str, port: int, protocol: str = "TCP") -> dict[str, str]:
    """The docker-link style variables kubelet injects for one Service."""
    prefix = name.upper().replace("-", "_")
    proto = protocol.lower()
    return {
        f"{prefix}_SERVICE_HOST": ip, f"{prefix}_SERVICE_PORT": str(port),
        f"{prefix}_PORT": f"{proto}://{ip}:{port}",
        f"{prefix}_PORT_{port}_{protocol}": f"{proto}://{ip}:{port}",
        f"{prefix}_PORT_{port}_{protocol}_PROTO": proto,
        f"{prefix}_PORT_{port}_{protocol}_PORT": str(port),
        f"{prefix}_PORT_{port}_{protocol}_ADDR": ip,
    }


def command_line(container: dict, env: dict[str, str]) -> tuple[list[str], list[str]]:
    return ([expand(str(c), env) for c in container.get("command") or []],
            [expand(str(a), env) for a in container.get("args") or []])
