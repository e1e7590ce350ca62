"""The API resources kubeloop serves: one table that discovery, routing, storage,
OpenAPI and printing all read, so a kind is added in exactly one place."""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    """One REST resource (e.g. ``pods`` in group ``""`` version ``v1``)."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # Field paths (besides metadata.name / metadata.namespace) usable in fieldSelector.
    field_selectors: tuple[str, ...] = ()
    # Whether the object has a status that only the status subresource writes.
    has_status: bool = True
    # Whether it carries metadata.generation, bumped when anything but metadata/status
    # changes (as the upstream strategies of these kinds do; Pods, Services, Nodes do not).
    generation: bool = False

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def key(self) -> str:
        """Storage key prefix, stable across API versions of the same group."""
        return f"{self.group}/{self.plural}" if self.group else self.plural

    def url_prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def self_link(self, namespace: str | None, name: str | None = None) -> str:
        path = self.url_prefix()
        if self.namespaced and namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{self.plural}"
        if name:
            path += f"/{name}"
        return path


CORE = ""
APPS = "apps"
BATCH = "batch"
DISCOVERY = "discovery.k8s.io"
NETWORKING = "networking.k8s.io"
COORDINATION = "coordination.k8s.io"
EVENTS = "events.k8s.io"

RESOURCES: tuple[Resource, ...] = (
    Resource(CORE, "v1", "Namespace", "namespaces", False, ("ns",),
             subresources=("status", "finalize"), field_selectors=("status.phase",),
             verbs=tuple(v for v in ALL_VERBS if v != "deletecollection")),
    Resource(CORE, "v1", "Node", "nodes", False, ("no",), subresources=("status",),
             field_selectors=("spec.unschedulable",)),
    Resource(CORE, "v1", "Pod", "pods", True, ("po",), ("all",),
             subresources=("status", "binding", "log", "exec", "portforward", "attach"),
             field_selectors=("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                              "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                              "status.podIP", "status.nominatedNodeName")),
    Resource(CORE, "v1", "Service", "services", True, ("svc",), ("all",),
             subresources=("status", "proxy"), field_selectors=("spec.clusterIP", "spec.type")),
    Resource(CORE, "v1", "Endpoints", "endpoints", True, ("ep",), has_status=False),
    Resource(CORE, "v1", "ConfigMap", "configmaps", True, ("cm",), has_status=False),
    Resource(CORE, "v1", "Secret", "secrets", True, has_status=False, field_selectors=("type",)),
    Resource(CORE, "v1", "ServiceAccount", "serviceaccounts", True, ("sa",), has_status=False),
    Resource(CORE, "v1", "Event", "events", True, ("ev",), has_status=False,
             field_selectors=("involvedObject.kind", "involvedObject.namespace",
                              "involvedObject.name", "involvedObject.uid",
                              "involvedObject.apiVersion", "involvedObject.resourceVersion",
                              "involvedObject.fieldPath", "reason", "reportingComponent",
                              "source", "type")),
    Resource(APPS, "v1", "Deployment", "deployments", True, ("deploy",), ("all",),
             subresources=("status", "scale"), generation=True),
    Resource(APPS, "v1", "ReplicaSet", "replicasets", True, ("rs",), ("all",),
             subresources=("status", "scale"), field_selectors=("status.replicas",),
             generation=True),
    Resource(BATCH, "v1", "Job", "jobs", True, (), ("all",), subresources=("status",),
             generation=True),
    Resource(DISCOVERY, "v1", "EndpointSlice", "endpointslices", True, has_status=False,
             generation=True),
    Resource(NETWORKING, "v1", "Ingress", "ingresses", True, ("ing",), subresources=("status",),
             generation=True),
    Resource(NETWORKING, "v1", "IngressClass", "ingressclasses", False, has_status=False,
             generation=True),
    Resource(NETWORKING, "v1", "NetworkPolicy", "networkpolicies", True, ("netpol",),
             has_status=False, generation=True),
    Resource(COORDINATION, "v1", "Lease", "leases", True, has_status=False),
)

# Subresources that are not plain object reads/writes: served by dedicated handlers.
STREAMING_SUBRESOURCES = frozenset({"log", "exec", "portforward", "attach", "proxy"})

BY_PATH: dict[tuple[str, str, str], Resource] = {
    (r.group, r.version, r.plural): r for r in RESOURCES
}
BY_KIND: dict[tuple[str, str], Resource] = {(r.group, r.kind): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return BY_PATH.get((group, version, plural))


def require(group: str, version: str, plural: str) -> Resource:
    """A resource this module defines (for module-level constants elsewhere)."""
    return BY_PATH[(group, version, plural)]


def for_kind(api_version: str, kind: str) -> Resource | None:
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    return BY_KIND.get((group, kind))


def group_versions() -> dict[str, list[str]]:
    """Group name -> served versions, in RESOURCES order."""
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        versions = out.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    return out


def in_group_version(group: str, version: str) -> list[Resource]:
    return [r for r in RESOURCES if r.group == group and r.version == version]

