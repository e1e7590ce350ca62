"""Discovery and OpenAPI documents: tables over the resource registry plus the upstream
facts kubectl depends on (subresource kinds, storage hashes, Accept negotiation, the PATCH
operations its field-validation check looks for)."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver import discovery, openapi, resources
from apiserver.resources import RESOURCES, Resource

KUBECTL_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
V2 = discovery.AGGREGATED_V2_CONTENT_TYPE


def _rid(r: Resource) -> str:
    return f"{r.group_version}/{r.plural}"


def _legacy_entries(group: str, version: str) -> dict[str, dict[str, Any]]:
    doc = discovery.resource_list(group, version)
    assert doc is not None
    return {e["name"]: e for e in doc["resources"]}


def _aggregated_resources() -> dict[tuple[str, str, str], dict[str, Any]]:
    out = {}
    for kind in ("api", "apis"):
        for item in discovery.aggregated_discovery(kind)["items"]:
            group = item["metadata"].get("name", "")
            for v in item["versions"]:
                for entry in v["resources"]:
                    out[(group, v["version"], entry["resource"])] = entry
    return out


# --- legacy discovery ------------------------------------------------------------------


@pytest.mark.parametrize("r", RESOURCES, ids=_rid)
def test_every_resource_is_listed_in_its_group_version(r: Resource) -> None:
    entry = _legacy_entries(r.group, r.version)[r.plural]
    assert entry["kind"] == r.kind
    assert entry["namespaced"] is r.namespaced
    assert entry["singularName"] == r.singular
    assert entry["verbs"] == list(r.verbs)
    assert entry.get("shortNames", []) == list(r.short_names)
    assert entry.get("categories", []) == list(r.categories)
    assert entry["storageVersionHash"] == discovery.storage_version_hash(r)


@pytest.mark.parametrize(
    "r,sub", [(r, s) for r in RESOURCES for s in r.subresources],
    ids=[f"{_rid(r)}/{s}" for r in RESOURCES for s in r.subresources])
def test_every_subresource_is_listed(r: Resource, sub: str) -> None:
    entry = _legacy_entries(r.group, r.version)[f"{r.plural}/{sub}"]
    assert entry["singularName"] == ""
    assert entry["namespaced"] is r.namespaced
    assert "storageVersionHash" not in entry and "shortNames" not in entry


_SUBRESOURCES = [
    ("", "v1", "pods/status", "Pod", ["get", "patch", "update"], None),
    ("", "v1", "pods/log", "Pod", ["get"], None),
    ("", "v1", "pods/exec", "PodExecOptions", ["create", "get"], None),
    ("", "v1", "pods/attach", "PodAttachOptions", ["create", "get"], None),
    ("", "v1", "pods/portforward", "PodPortForwardOptions", ["create", "get"], None),
    ("", "v1", "pods/binding", "Binding", ["create"], None),
    ("", "v1", "namespaces/finalize", "Namespace", ["update"], None),
    ("", "v1", "services/proxy", "ServiceProxyOptions",
     ["create", "delete", "get", "patch", "update"], None),
    ("apps", "v1", "deployments/scale", "Scale", ["get", "patch", "update"],
     ("autoscaling", "v1")),
    ("apps", "v1", "replicasets/scale", "Scale", ["get", "patch", "update"],
     ("autoscaling", "v1")),
]


@pytest.mark.parametrize("group,version,name,kind,verbs,gv", _SUBRESOURCES,
                         ids=[row[2] for row in _SUBRESOURCES])
def test_subresource_entries_match_upstream(group: str, version: str, name: str, kind: str,
                                            verbs: list[str], gv: tuple[str, str] | None
                                            ) -> None:
    entry = _legacy_entries(group, version)[name]
    assert entry["kind"] == kind
    assert entry["verbs"] == verbs
    assert (entry.get("group"), entry.get("version")) == (gv or (None, None))


@pytest.mark.parametrize("gv_plural,expected", [
    ("v1/pods", "xPOwRZ+Yhw8="),
    ("v1/namespaces", "Q3oi5N2YM8M="),
    ("v1/configmaps", "qFsyl6wFWjQ="),
    ("apps/v1/deployments", "8aSe+NMegvE="),
    ("discovery.k8s.io/v1/endpointslices", "qgS0xkrxYAI="),
    ("networking.k8s.io/v1/ingresses", "39NQlfNR+bo="),
    ("coordination.k8s.io/v1/leases", "gqkMMb/YqFM="),
])
def test_storage_version_hash_matches_upstream(gv_plural: str, expected: str) -> None:
    r = next(r for r in RESOURCES if _rid(r) == gv_plural)
    assert discovery.storage_version_hash(r) == expected


@pytest.mark.parametrize("group,version", sorted(
    {(r.group, r.version) for r in RESOURCES}), ids=lambda v: v or "core")
def test_resource_list_is_sorted_and_versioned_like_upstream(group: str, version: str) -> None:
    doc = discovery.resource_list(group, version)
    assert doc is not None
    names = [e["name"] for e in doc["resources"]]
    assert names == sorted(names)
    assert doc["kind"] == "APIResourceList"
    assert doc["groupVersion"] == (f"{group}/{version}" if group else version)
    # Upstream's /api/v1 is the one resource list without an apiVersion.
    assert ("apiVersion" in doc) is bool(group)


@pytest.mark.parametrize("group,version", [
    ("", "v2"), ("apps", "v1beta1"), ("batch", "v1beta1"), ("autoscaling", "v1"),
    ("nope", "v1"),
], ids=["core-v2", "apps-v1beta1", "batch-v1beta1", "autoscaling", "unknown"])
def test_resource_list_unknown_group_version(group: str, version: str) -> None:
    assert discovery.resource_list(group, version) is None


def test_api_versions() -> None:
    assert discovery.api_versions("127.0.0.1:6443") == {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
    }


def test_api_group_list_in_upstream_priority_order() -> None:
    doc = discovery.api_group_list()
    assert (doc["kind"], doc["apiVersion"]) == ("APIGroupList", "v1")
    names = [g["name"] for g in doc["groups"]]
    assert names == ["apps", "batch", "networking.k8s.io", "coordination.k8s.io",
                     "discovery.k8s.io"]
    assert set(names) == {g for g in resources.group_versions() if g}


@pytest.mark.parametrize("group", [g for g in resources.group_versions() if g])
def test_api_group(group: str) -> None:
    doc = discovery.api_group(group)
    version = resources.group_versions()[group][0]
    assert doc == {
        "kind": "APIGroup", "apiVersion": "v1", "name": group,
        "versions": [{"groupVersion": f"{group}/{version}", "version": version}],
        "preferredVersion": {"groupVersion": f"{group}/{version}", "version": version},
    }


@pytest.mark.parametrize("group", ["", "autoscaling", "v1"], ids=["core", "autoscaling", "v1"])
def test_api_group_not_served(group: str) -> None:
    assert discovery.api_group(group) is None


def test_version_info() -> None:
    info = discovery.version_info()
    assert (info["major"], info["minor"]) == ("1", "32")
    assert info["gitVersion"].startswith("v1.32.")
    assert info["platform"] == "linux/amd64"


# --- aggregated discovery --------------------------------------------------------------


@pytest.mark.parametrize("r", RESOURCES, ids=_rid)
def test_aggregated_agrees_with_legacy(r: Resource) -> None:
    entry = _aggregated_resources()[(r.group, r.version, r.plural)]
    assert entry["responseKind"] == {"group": "", "version": "", "kind": r.kind}
    assert entry["scope"] == ("Namespaced" if r.namespaced else "Cluster")
    assert entry["singularResource"] == r.singular
    assert entry["verbs"] == list(r.verbs)
    assert entry.get("shortNames", []) == list(r.short_names)
    assert entry.get("categories", []) == list(r.categories)
    legacy = _legacy_entries(r.group, r.version)
    subs = {s["subresource"]: s for s in entry.get("subresources", [])}
    assert sorted(subs) == sorted(r.subresources)
    for name, sub in subs.items():
        assert sub["verbs"] == legacy[f"{r.plural}/{name}"]["verbs"]
        assert sub["responseKind"]["kind"] == legacy[f"{r.plural}/{name}"]["kind"]


@pytest.mark.parametrize("key,sub,response_kind", [
    (("apps", "v1", "deployments"), "scale",
     {"group": "autoscaling", "version": "v1", "kind": "Scale"}),
    (("apps", "v1", "deployments"), "status", {"group": "", "version": "", "kind": "Deployment"}),
    (("", "v1", "pods"), "exec", {"group": "", "version": "", "kind": "PodExecOptions"}),
], ids=["deployments/scale", "deployments/status", "pods/exec"])
def test_aggregated_subresource_response_kind(key: tuple[str, str, str], sub: str,
                                              response_kind: dict[str, str]) -> None:
    entry = _aggregated_resources()[key]
    found = next(s for s in entry["subresources"] if s["subresource"] == sub)
    assert found["responseKind"] == response_kind


def test_aggregated_core_has_one_unnamed_group() -> None:
    doc = discovery.aggregated_discovery("api")
    assert (doc["kind"], doc["apiVersion"], doc["metadata"]) == (
        "APIGroupDiscoveryList", "apidiscovery.k8s.io/v2", {})
    [item] = doc["items"]
    assert item["metadata"] == {"creationTimestamp": None}
    assert [v["version"] for v in item["versions"]] == ["v1"]
    assert item["versions"][0]["freshness"] == "Current"


def test_aggregated_groups_follow_api_group_list() -> None:
    items = discovery.aggregated_discovery("apis")["items"]
    assert [i["metadata"]["name"] for i in items] == [
        g["name"] for g in discovery.api_group_list()["groups"]]
    assert all(v["freshness"] == "Current" for i in items for v in i["versions"])


def test_aggregated_rejects_other_roots() -> None:
    with pytest.raises(ValueError):
        discovery.aggregated_discovery("/apis/apps")


@pytest.mark.parametrize("accept,expected", [
    (KUBECTL_ACCEPT, V2),
    (V2, V2),
    ("application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io", V2),
    ("application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList", V2),
    ("application/json", None),
    ("application/json, */*", None),
    ("*/*", None),
    ("", None),
    (None, None),
    ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList", None),
    ("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
     None),
    (V2 + ";q=0,application/json", None),
    ("application/json," + V2, None),
    ("application/json;q=0.5," + V2, V2),
    ("application/json;charset=utf-8", None),
], ids=["kubectl", "v2-only", "param-order", "spaces", "json", "json-any", "any", "empty",
        "missing", "v2beta1-only", "protobuf-only", "v2-q0", "json-first", "json-lower-q",
        "json-charset"])
def test_wants_aggregated(accept: str | None, expected: str | None) -> None:
    assert discovery.wants_aggregated(accept) == expected


# --- OpenAPI v3 ------------------------------------------------------------------------


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items()
            for method, op in item.items() if method != "parameters"]


def test_openapi_root_lists_every_group_version() -> None:
    root = openapi.openapi_v3_root()
    expected = {_gv_path(g, v) for g, vs in resources.group_versions().items() for v in vs}
    assert set(root["paths"]) == expected
    for path, entry in root["paths"].items():
        doc = openapi.openapi_v3_document(path)
        assert doc is not None
        assert entry["serverRelativeURL"] == (
            f"/openapi/v3/{path}?hash={openapi.document_hash(doc)}")


@pytest.mark.parametrize("path", ["api/v2", "apis/apps", "apis/autoscaling/v1", "version",
                                  ""])
def test_openapi_document_not_served(path: str) -> None:
    assert openapi.openapi_v3_document(path) is None


@pytest.mark.parametrize("r", RESOURCES, ids=_rid)
def test_patch_operation_declares_field_validation(r: Resource) -> None:
    """What kubectl's queryParamVerifierV3 looks for before sending fieldValidation=Strict."""
    doc = openapi.openapi_v3_document(_gv_path(r.group, r.version))
    assert doc is not None
    gvk = {"group": r.group, "version": r.version, "kind": r.kind}
    item = r.self_link("{namespace}" if r.namespaced else None, "{name}")
    op = doc["paths"][item]["patch"]
    assert op["x-kubernetes-action"] == "patch"
    assert op["x-kubernetes-group-version-kind"] == gvk
    assert {"name": "fieldValidation", "in": "query"}.items() <= next(
        p for p in op["parameters"] if p["name"] == "fieldValidation").items()
    assert "application/strategic-merge-patch+json" in op["requestBody"]["content"]


@pytest.mark.parametrize("path", sorted(openapi.openapi_v3_root()["paths"]))
def test_every_patch_action_declares_field_validation(path: str) -> None:
    doc = openapi.openapi_v3_document(path)
    assert doc is not None
    patches = [op for _, _, op in _operations(doc) if op["x-kubernetes-action"] == "patch"]
    assert patches
    for op in patches:
        assert "fieldValidation" in [p["name"] for p in op["parameters"] if p["in"] == "query"]


@pytest.mark.parametrize("path", sorted(openapi.openapi_v3_root()["paths"]))
def test_no_schema_claims_a_gvk(path: str) -> None:
    """A schema with a GVK would make kubectl apply build patches from our (absent)
    patch-merge metadata instead of its compiled-in types."""
    doc = openapi.openapi_v3_document(path)
    assert doc is not None
    assert doc["openapi"].startswith("3.")
    schemas = doc["components"]["schemas"]
    assert all("x-kubernetes-group-version-kind" not in s for s in schemas.values())


@pytest.mark.parametrize("path", sorted(openapi.openapi_v3_root()["paths"]))
def test_operation_ids_are_unique(path: str) -> None:
    doc = openapi.openapi_v3_document(path)
    assert doc is not None
    ids = [op["operationId"] for _, _, op in _operations(doc)]
    assert len(ids) == len(set(ids))


_NAMED_OPERATIONS = [
    ("api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "patch",
     "patchCoreV1NamespacedPod", "patch", "Pod"),
    ("api/v1", "/api/v1/pods", "get", "listCoreV1PodForAllNamespaces", "list", "Pod"),
    ("api/v1", "/api/v1/namespaces/{namespace}/pods", "delete",
     "deleteCoreV1CollectionNamespacedPod", "deletecollection", "Pod"),
    ("api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/status", "patch",
     "patchCoreV1NamespacedPodStatus", "patch", "Pod"),
    ("api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/exec", "post",
     "connectCoreV1PostNamespacedPodExec", "connect", "PodExecOptions"),
    ("api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/log", "get",
     "readCoreV1NamespacedPodLog", "get", "Pod"),
    ("api/v1", "/api/v1/namespaces/{name}/finalize", "put",
     "replaceCoreV1NamespaceFinalize", "put", "Namespace"),
    ("api/v1", "/api/v1/nodes/{name}", "patch", "patchCoreV1Node", "patch", "Node"),
    ("apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "patch",
     "patchAppsV1NamespacedDeploymentScale", "patch", "Scale"),
    ("apis/networking.k8s.io/v1", "/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses",
     "post", "createNetworkingV1NamespacedIngress", "post", "Ingress"),
    ("apis/coordination.k8s.io/v1",
     "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}", "put",
     "replaceCoordinationV1NamespacedLease", "put", "Lease"),
]


@pytest.mark.parametrize("gv,path,method,op_id,action,kind", _NAMED_OPERATIONS,
                         ids=[row[3] for row in _NAMED_OPERATIONS])
def test_operations_are_named_like_upstream(gv: str, path: str, method: str, op_id: str,
                                            action: str, kind: str) -> None:
    doc = openapi.openapi_v3_document(gv)
    assert doc is not None
    op = doc["paths"][path][method]
    assert op["operationId"] == op_id
    assert op["x-kubernetes-action"] == action
    assert op["x-kubernetes-group-version-kind"]["kind"] == kind


def test_document_hash_tracks_content() -> None:
    doc = openapi.openapi_v3_document("api/v1")
    assert doc is not None
    first = openapi.document_hash(doc)
    assert len(first) == 128 and first == first.upper()
    assert openapi.document_hash(openapi.openapi_v3_document("api/v1") or {}) == first
    doc["info"]["version"] = "changed"
    assert openapi.document_hash(doc) != first


# --- OpenAPI v2 ------------------------------------------------------------------------


def test_openapi_v2_json_has_no_definitions() -> None:
    doc = openapi.openapi_v2_document()
    assert doc["swagger"] == "2.0"
    assert (doc["paths"], doc["definitions"]) == ({}, {})


def test_openapi_v2_protobuf_encodes_swagger_and_info() -> None:
    version = discovery.version_info()["gitVersion"].encode()
    info = b"\x0a\x0aKubernetes" + b"\x12" + bytes([len(version)]) + version
    assert openapi.openapi_v2_protobuf() == b"\x0a\x032.0" + b"\x12" + bytes([len(info)]) + info


def test_openapi_v2_protobuf_content_type_is_parseable() -> None:
    # client-go rejects a response Content-Type with "@" in it.
    assert "@" not in openapi.OPENAPI_V2_PROTOBUF_CONTENT_TYPE
    assert "@" in openapi.OPENAPI_V2_PROTOBUF_ACCEPT
