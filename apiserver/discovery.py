"""API discovery documents (/version, /api, /apis, /api/v1, /apis/<g>[/<v>]) built from
the resource registry in ``apiserver.resources``.

Two shapes are served, as by kube-apiserver v1.32: the legacy per-group-version
``APIResourceList`` documents, and the aggregated ``apidiscovery.k8s.io/v2``
``APIGroupDiscoveryList`` that clients (kubectl, client-go) ask for first on ``/api`` and
``/apis`` and recognise by the response Content-Type. ``wants_aggregated`` decides which
one an Accept header gets.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from apiserver import resources
from apiserver.resources import Resource

AGGREGATED_V2_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_AGGREGATED_V2_PROFILE = ("apidiscovery.k8s.io", "v2", "APIGroupDiscoveryList")

# kube-apiserver orders /apis by group priority, not by name; groups not listed here
# (none today) follow in registry order.
_GROUP_PRIORITY = (
    "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io",
    "authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io",
    "networking.k8s.io", "policy", "rbac.authorization.k8s.io", "storage.k8s.io",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
    "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "flowcontrol.apiserver.k8s.io",
)


@dataclass(frozen=True)
class _SubresourceRule:
    """How upstream describes a subresource, whichever resource carries it."""

    verbs: tuple[str, ...]
    kind: str | None = None  # a fixed kind, e.g. "Scale"; None: see kind_suffix
    kind_suffix: str | None = None  # "ExecOptions" -> "PodExecOptions"; None: parent's kind
    group: str | None = None  # None: the parent's group and version
    version: str | None = None
    connect: bool = False  # served by a connect (stream/proxy) handler, not as an object


_OBJECT_VERBS = ("get", "patch", "update")
_PROXY_VERBS = ("create", "delete", "get", "patch", "update")

_SUBRESOURCE_RULES: dict[str, _SubresourceRule] = {
    "status": _SubresourceRule(_OBJECT_VERBS),
    "scale": _SubresourceRule(_OBJECT_VERBS, kind="Scale", group="autoscaling", version="v1"),
    "binding": _SubresourceRule(("create",), kind="Binding"),
    "finalize": _SubresourceRule(("update",)),
    "log": _SubresourceRule(("get",)),
    "exec": _SubresourceRule(("create", "get"), kind_suffix="ExecOptions", connect=True),
    "attach": _SubresourceRule(("create", "get"), kind_suffix="AttachOptions", connect=True),
    "portforward": _SubresourceRule(("create", "get"), kind_suffix="PortForwardOptions",
                                    connect=True),
    "proxy": _SubresourceRule(_PROXY_VERBS, kind_suffix="ProxyOptions", connect=True),
}


@dataclass(frozen=True)
class Subresource:
    """One subresource of a resource, e.g. ``deployments/scale`` -> autoscaling/v1 Scale."""

    parent: Resource
    name: str
    group: str
    version: str
    kind: str
    verbs: tuple[str, ...]
    connect: bool

    @property
    def same_group_version(self) -> bool:
        return (self.group, self.version) == (self.parent.group, self.parent.version)


def subresources_of(resource: Resource) -> list[Subresource]:
    """The resource's subresources in discovery (name) order."""
    out = []
    for name in sorted(resource.subresources):
        rule = _SUBRESOURCE_RULES[name]
        if rule.kind is not None:
            kind = rule.kind
        elif rule.kind_suffix is not None:
            kind = resource.kind + rule.kind_suffix
        else:
            kind = resource.kind
        out.append(Subresource(
            parent=resource, name=name, kind=kind, verbs=rule.verbs, connect=rule.connect,
            group=resource.group if rule.group is None else rule.group,
            version=resource.version if rule.version is None else rule.version,
        ))
    return out


def storage_version_hash(resource: Resource) -> str:
    """Upstream's opaque hash of the storage group/version/kind (first 8 bytes of SHA-256)."""
    gvk = f"{resource.group}/{resource.version}/{resource.kind}"
    return base64.b64encode(hashlib.sha256(gvk.encode()).digest()[:8]).decode()


def version_info(platform: str = "linux/amd64") -> dict[str, str]:
    """GET /version."""
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-kubeloop",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "go1.23.3",
        "compiler": "gc",
        "platform": platform,
    }


def api_versions(server_address: str) -> dict[str, Any]:
    """GET /api: the core group's versions and the address clients should use."""
    return {
        "kind": "APIVersions",
        "versions": resources.group_versions().get(resources.CORE, []),
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address},
        ],
    }


def _named_groups() -> list[str]:
    names = [g for g in resources.group_versions() if g != resources.CORE]

    def priority(group: str) -> int:
        return _GROUP_PRIORITY.index(group) if group in _GROUP_PRIORITY else len(_GROUP_PRIORITY)

    return sorted(names, key=priority)  # stable: unknown groups keep registry order


def _group_entry(group: str) -> dict[str, Any]:
    versions = [
        {"groupVersion": f"{group}/{v}", "version": v}
        for v in resources.group_versions()[group]
    ]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> dict[str, Any]:
    """GET /apis (legacy form)."""
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_entry(g) for g in _named_groups()],
    }


def api_group(group: str) -> dict[str, Any] | None:
    """GET /apis/<group>; None when the group is not served."""
    if group == resources.CORE or group not in resources.group_versions():
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group)}


def _legacy_resource(r: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    entry["storageVersionHash"] = storage_version_hash(r)
    return entry


def _legacy_subresource(sub: Subresource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": f"{sub.parent.plural}/{sub.name}",
        "singularName": "",
        "namespaced": sub.parent.namespaced,
    }
    if not sub.same_group_version:
        entry["group"] = sub.group
        entry["version"] = sub.version
    entry["kind"] = sub.kind
    entry["verbs"] = list(sub.verbs)
    return entry


def _sorted_resources(group: str, version: str) -> list[Resource]:
    return sorted(resources.in_group_version(group, version), key=lambda r: r.plural)


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    """GET /api/v1 or /apis/<group>/<version>; None when not served."""
    served = _sorted_resources(group, version)
    if not served:
        return None
    entries = []
    for r in served:
        entries.append(_legacy_resource(r))
        entries.extend(_legacy_subresource(s) for s in subresources_of(r))
    doc: dict[str, Any] = {"kind": "APIResourceList"}
    if group != resources.CORE:  # upstream's /api/v1 carries no apiVersion
        doc["apiVersion"] = "v1"
    doc["groupVersion"] = f"{group}/{version}" if group else version
    doc["resources"] = entries
    return doc


def _response_kind(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def _aggregated_resource(r: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": r.plural,
        "responseKind": _response_kind("", "", r.kind),
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    subs = subresources_of(r)
    if subs:
        entry["subresources"] = [
            {
                "subresource": s.name,
                # Same-group kinds leave group/version empty, as upstream does.
                "responseKind": (_response_kind("", "", s.kind) if s.same_group_version
                                 else _response_kind(s.group, s.version, s.kind)),
                "verbs": list(s.verbs),
            }
            for s in subs
        ]
    return entry


def _aggregated_group(group: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"creationTimestamp": None}
    if group:
        metadata["name"] = group
    return {
        "metadata": metadata,
        "versions": [
            {
                "version": v,
                "resources": [_aggregated_resource(r) for r in _sorted_resources(group, v)],
                "freshness": "Current",
            }
            for v in resources.group_versions()[group]
        ],
    }


def aggregated_discovery(kind: str) -> dict[str, Any]:
    """The apidiscovery.k8s.io/v2 APIGroupDiscoveryList for ``kind`` "api" (the core
    group, served at /api) or "apis" (every named group, served at /apis)."""
    if kind == "api":
        groups = [resources.CORE] if resources.CORE in resources.group_versions() else []
    elif kind == "apis":
        groups = _named_groups()
    else:
        raise ValueError(f"aggregated discovery is served for 'api' or 'apis', not {kind!r}")
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": [_aggregated_group(g) for g in groups],
    }


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str], float]]:
    """Parse an Accept header into (type/subtype, params without q, q) in header order."""
    out = []
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        if not fields[0]:
            continue
        params: dict[str, str] = {}
        q = 1.0
        for field in fields[1:]:
            key, _, value = field.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"')
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            elif key:
                params[key] = value
        out.append((fields[0].lower(), params, q))
    return out


def wants_aggregated(accept: str | None) -> str | None:
    """For a request to /api or /apis: the Content-Type to answer with when the client
    prefers the aggregated v2 form, else None (serve the legacy form as application/json).

    The most preferred (highest q, then earliest) range we can serve wins; v2beta1 and
    protobuf are not served, so they never win."""
    best: tuple[float, str | None] | None = None
    for media_type, params, q in _media_ranges(accept or ""):
        if q <= 0:
            continue
        profile = (params.get("g"), params.get("v"), params.get("as"))
        if profile == (None, None, None) and media_type in ("application/json", "application/*",
                                                            "*/*"):
            choice = None
        elif media_type == "application/json" and profile == _AGGREGATED_V2_PROFILE:
            choice = AGGREGATED_V2_CONTENT_TYPE
        else:
            continue  # a format we don't serve (e.g. v2beta1, protobuf)
        if best is None or q > best[0]:
            best = (q, choice)
    return None if best is None else best[1]
