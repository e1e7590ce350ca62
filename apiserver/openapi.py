"""OpenAPI v3 documents (GET /openapi/v3 and /openapi/v3/<api|apis/group>/<version>) built
from the resource registry.

Each group-version document lists the REST operations of its resources, with the
``x-kubernetes-action`` and ``x-kubernetes-group-version-kind`` extensions and the query
parameters upstream declares. kubectl reads them for one decision: a PATCH operation for
the object's GVK that declares the ``fieldValidation`` query parameter means the server
validates fields itself, so kubectl sends ``?fieldValidation=Strict`` instead of validating
client-side against OpenAPI v2. Object schemas are deliberately left out of
``components.schemas``: with no schema carrying a GVK, ``kubectl apply`` computes
strategic merge patches from its compiled-in types rather than from our documents.

GET /openapi/v2 is answered with an empty Swagger document (JSON, or the protobuf kubectl
asks for); see the note above ``openapi_v2_document``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from apiserver import discovery, resources
from apiserver.resources import Resource

_PATCH_SCHEMA = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
_PATCH_CONTENT_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def _query(name: str, type_: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": type_, "uniqueItems": True}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "description": description, "required": True,
            "schema": {"type": "string", "uniqueItems": True}}


_LIST_PARAMS = (
    _query("allowWatchBookmarks", "boolean"), _query("continue"), _query("fieldSelector"),
    _query("labelSelector"), _query("limit", "integer"), _query("resourceVersion"),
    _query("resourceVersionMatch"), _query("sendInitialEvents", "boolean"),
    _query("timeoutSeconds", "integer"), _query("watch", "boolean"),
)
_WRITE_PARAMS = (_query("dryRun"), _query("fieldManager"), _query("fieldValidation"))
_PATCH_PARAMS = (_query("dryRun"), _query("force", "boolean"), _query("fieldManager"),
                 _query("fieldValidation"))
_DELETE_PARAMS = (
    _query("gracePeriodSeconds", "integer"),
    _query("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean"),
    _query("orphanDependents", "boolean"), _query("propagationPolicy"), _query("dryRun"),
)
_PRETTY = {**_query("pretty"), "description": "If 'true', then the output is pretty printed."}


@dataclass(frozen=True)
class _Action:
    """One x-kubernetes-action: how upstream names, parameterises and answers it."""

    method: str
    op_verb: str  # operationId prefix: list, create, read, replace, patch, delete, connect
    text: str  # description prefix
    params: tuple[dict[str, Any], ...]
    codes: tuple[str, ...]


_ACTIONS: dict[str, _Action] = {
    "list": _Action("get", "list", "list or watch objects of kind", _LIST_PARAMS, ("200",)),
    "post": _Action("post", "create", "create", _WRITE_PARAMS, ("200", "201", "202")),
    "deletecollection": _Action("delete", "delete", "delete collection of",
                                _DELETE_PARAMS + _LIST_PARAMS, ("200",)),
    "get": _Action("get", "read", "read the specified", (), ("200",)),
    "put": _Action("put", "replace", "replace the specified", _WRITE_PARAMS, ("200", "201")),
    "patch": _Action("patch", "patch", "partially update the specified", _PATCH_PARAMS,
                     ("200", "201")),
    "delete": _Action("delete", "delete", "delete", _DELETE_PARAMS, ("200", "202")),
    # The method of a connect operation is the one its verb maps to (see _SUBRESOURCE_VERBS).
    "connect": _Action("", "connect", "connect", (), ("200",)),
}
_COLLECTION_VERBS = {"list": "list", "create": "post", "deletecollection": "deletecollection"}
_ITEM_VERBS = {"get": "get", "update": "put", "patch": "patch", "delete": "delete"}
_SUBRESOURCE_VERBS = {"create": "post", **_ITEM_VERBS}
_RESPONSE_TEXT = {"200": "OK", "201": "Created", "202": "Accepted"}


def _group_prefix(group: str) -> str:
    """Upstream's operationId/tag stem: "" -> Core, networking.k8s.io -> Networking."""
    if not group:
        return "Core"
    return "".join(part.capitalize() for part in group.removesuffix(".k8s.io").split("."))


def _tag(group: str, version: str) -> str:
    prefix = _group_prefix(group)
    return f"{prefix[0].lower()}{prefix[1:]}_{version}"


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def _op_id(verb: str, r: Resource, middle: str = "", suffix: str = "",
           scoped: bool | None = None) -> str:
    """e.g. patchCoreV1NamespacedPodStatus, deleteAppsV1CollectionNamespacedDeployment."""
    scope = "Namespaced" if (r.namespaced if scoped is None else scoped) else ""
    return f"{verb}{_group_prefix(r.group)}{r.version.capitalize()}{middle}{scope}{r.kind}{suffix}"


def _operation(action: str, op_id: str, description: str, r: Resource,
               gvk: dict[str, str]) -> dict[str, Any]:
    spec = _ACTIONS[action]
    op: dict[str, Any] = {
        "tags": [_tag(r.group, r.version)],
        "description": description,
        "operationId": op_id,
    }
    if spec.params:
        op["parameters"] = [dict(p) for p in spec.params]
    if action == "patch":
        op["requestBody"] = {
            "content": {t: {"schema": {"$ref": f"#/components/schemas/{_PATCH_SCHEMA}"}}
                        for t in _PATCH_CONTENT_TYPES},
            "required": True,
        }
    op["responses"] = {**{c: {"description": _RESPONSE_TEXT[c]} for c in spec.codes},
                       "401": {"description": "Unauthorized"}}
    op["x-kubernetes-action"] = action
    op["x-kubernetes-group-version-kind"] = gvk
    return op


def _resource_paths(r: Resource) -> dict[str, dict[str, Any]]:
    prefix = r.url_prefix() + ("/namespaces/{namespace}" if r.namespaced else "")
    collection, item = f"{prefix}/{r.plural}", f"{prefix}/{r.plural}/{{name}}"
    scope_params = [_path_param("namespace", "object name and auth scope, such as for teams "
                                "and projects")] if r.namespaced else []
    gvk = _gvk(r.group, r.version, r.kind)
    paths: dict[str, dict[str, Any]] = {
        collection: {"parameters": [*scope_params, dict(_PRETTY)]},
        item: {"parameters": [_path_param("name", f"name of the {r.kind}"), *scope_params,
                              dict(_PRETTY)]},
    }
    for verb in r.verbs:
        if verb in _COLLECTION_VERBS:
            action, target = _COLLECTION_VERBS[verb], collection
        elif verb in _ITEM_VERBS:
            action, target = _ITEM_VERBS[verb], item
        else:
            continue  # watch is ?watch=true on list; the deprecated /watch/ paths are not served
        spec = _ACTIONS[action]
        middle = "Collection" if action == "deletecollection" else ""
        paths[target][spec.method] = _operation(action, _op_id(spec.op_verb, r, middle),
                                                f"{spec.text} {r.kind}", r, gvk)
    if r.namespaced and "list" in r.verbs:
        paths[f"{r.url_prefix()}/{r.plural}"] = {
            "parameters": [dict(_PRETTY)],
            "get": _operation("list", _op_id("list", r, suffix="ForAllNamespaces", scoped=False),
                              f"{_ACTIONS['list'].text} {r.kind}", r, gvk),
        }
    for sub in discovery.subresources_of(r):
        sub_gvk = _gvk(sub.group, sub.version, sub.kind)
        suffix = sub.name.capitalize()
        path_item: dict[str, Any] = {
            "parameters": [_path_param("name", f"name of the {sub.kind}"), *scope_params,
                           dict(_PRETTY)],
        }
        for verb in sub.verbs:
            action = _SUBRESOURCE_VERBS[verb]
            method = _ACTIONS[action].method
            if sub.connect:
                op = _operation("connect", _op_id("connect", r, method.capitalize(), suffix),
                                f"connect {method.upper()} requests to {sub.name} of {r.kind}",
                                r, sub_gvk)
            else:
                spec = _ACTIONS[action]
                op = _operation(action, _op_id(spec.op_verb, r, suffix=suffix),
                                f"{spec.text} {sub.name} of the specified {r.kind}", r, sub_gvk)
            path_item[method] = op
        paths[f"{item}/{sub.name}"] = path_item
    return paths


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _served_gv_paths() -> dict[str, tuple[str, str]]:
    return {
        _gv_path(group, version): (group, version)
        for group, versions in resources.group_versions().items()
        for version in versions
    }


def openapi_v3_document(path: str) -> dict[str, Any] | None:
    """GET /openapi/v3/<path> (path like "api/v1" or "apis/apps/v1"); None if not served."""
    gv = _served_gv_paths().get(path.strip("/"))
    if gv is None:
        return None
    paths: dict[str, dict[str, Any]] = {}
    for r in sorted(resources.in_group_version(*gv), key=lambda r: r.plural):
        paths.update(_resource_paths(r))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": discovery.version_info()["gitVersion"]},
        "paths": paths,
        "components": {
            "schemas": {
                _PATCH_SCHEMA: {
                    "description": "Patch is provided to give a concrete name and type to the "
                                   "Kubernetes PATCH request body.",
                    "type": "object",
                },
            },
            "securitySchemes": {
                "BearerToken": {"type": "apiKey", "description": "Bearer Token authentication",
                                "name": "authorization", "in": "header"},
            },
        },
        "security": [{"BearerToken": []}],
    }


def document_hash(document: dict[str, Any]) -> str:
    """The ETag-like hash upstream puts in serverRelativeURL: SHA-512, upper-case hex."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha512(canonical.encode()).hexdigest().upper()


def openapi_v3_root() -> dict[str, Any]:
    """GET /openapi/v3: one entry per served group-version."""
    entries = {}
    for path in _served_gv_paths():
        doc = openapi_v3_document(path)
        assert doc is not None
        entries[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={document_hash(doc)}"}
    return {"paths": entries}


# GET /openapi/v2 exists only because kubectl still reads it in two places: client-side
# validation of `kind: List` files (whose items it looks up by GVK, skipping unknown ones)
# and the apply patcher's legacy fallback. Both accept a document without definitions,
# which then falls through to kubectl's compiled-in types; a 404 would instead fail
# `kubectl create -f list.yaml` with "error validating data".
OPENAPI_V2_PROTOBUF_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
# What upstream answers with: "@" is not a valid media-type character, and client-go fails
# to parse a response Content-Type that contains it.
OPENAPI_V2_PROTOBUF_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def openapi_v2_document() -> dict[str, Any]:
    """GET /openapi/v2 as JSON: a Swagger 2.0 document with no paths or definitions."""
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": discovery.version_info()["gitVersion"]},
        "paths": {},
        "definitions": {},
    }


def _length_delimited(field: int, payload: bytes) -> bytes:
    out = bytearray([field << 3 | 2])
    size = len(payload)
    while size >= 0x80:
        out.append(size & 0x7F | 0x80)
        size >>= 7
    out.append(size)
    return bytes(out) + payload


def openapi_v2_protobuf() -> bytes:
    """The same document encoded as gnostic's openapi_v2.Document protobuf, which is what
    kubectl asks for (Accept: OPENAPI_V2_PROTOBUF_ACCEPT): swagger = 1, info = 2 {title = 1,
    version = 2}; empty paths and definitions are simply absent."""
    doc = openapi_v2_document()
    info = (_length_delimited(1, doc["info"]["title"].encode())
            + _length_delimited(2, doc["info"]["version"].encode()))
    return _length_delimited(1, doc["swagger"].encode()) + _length_delimited(2, info)
