"""Container environment as kubelet builds it: service-link variables for the
`kubernetes` Service, `env` entries in order with `$(VAR)` expansion against those
defined before them, and `fieldRef` values from the pod. Pure functions."""

from __future__ import annotations

import re

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


def container_env(pod: dict, container: dict, service_env: dict[str, str]) -> dict[str, str]:
    env = {"HOSTNAME": pod["metadata"]["name"], **service_env}
    for item in container.get("env") or []:
        name = item.get("name", "")
        if "value" in item:
            env[name] = expand(str(item["value"]), env)
        elif (item.get("valueFrom") or {}).get("fieldRef"):
            env[name] = field_ref(pod, item["valueFrom"]["fieldRef"].get("fieldPath", ""))
        else:
            env[name] = ""  # configMap/secret refs need object access (later release)
    return env


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
