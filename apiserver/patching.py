"""PATCH bodies applied to stored objects: the one place that knows the patch content types
the apiserver accepts. The server decodes nothing itself; it passes the raw body and the
Content-Type here and turns a ``PatchError`` into a ``Status`` with the error's code.

- ``application/json-patch+json``: RFC 6902 operations, applied one by one with ``jsonpatch``.
- ``application/merge-patch+json``: RFC 7386 (``null`` deletes, any non-object replaces).
- ``application/strategic-merge-patch+json``: Kubernetes strategic merge patch, see
  ``patch_strategies`` for the per-kind list semantics and the ``$`` directives.
- ``application/apply-patch+yaml``: server-side apply, APPROXIMATED as a strategic merge of the
  applied configuration (YAML or JSON) onto the live object. There are no managed fields, so
  nothing is ever removed because a manager stopped applying it and there are no conflicts
  between managers; lists merge by their strategic-merge keys rather than by their
  ``x-kubernetes-list-map-keys``.

``apply_patch`` never mutates the object it is given.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import jsonpatch
import jsonpointer
import yaml

from apiserver import patch_strategies

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
# In the order the apiserver lists them in its 415 message.
CONTENT_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)

_REASONS = {400: "BadRequest", 415: "UnsupportedMediaType", 422: "Invalid"}


class PatchError(ValueError):
    """A patch that cannot be applied. ``code`` is the HTTP status the real apiserver answers
    with: 400 (undecodable body or malformed directive), 415 (unsupported Content-Type),
    422 (well-formed patch that does not apply) or 500 (strategic merge errors the apiserver
    reports as internal, such as a list item without its merge key)."""

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    @property
    def reason(self) -> str:
        """The ``Status`` reason for ``code`` ("" for 500, as the apiserver sends)."""
        return _REASONS.get(self.code, "")


class UnsupportedPatchType(PatchError):
    """The Content-Type names no patch format the apiserver accepts (HTTP 415)."""

    def __init__(self, content_type: str) -> None:
        super().__init__("the body of the request was in an unknown format - accepted media "
                         f"types include: {', '.join(CONTENT_TYPES)}", 415)
        self.content_type = content_type


def apply_patch(obj: dict[str, Any], patch: bytes, content_type: str, kind: str) -> dict[str, Any]:
    """Return a new object: ``obj`` with the PATCH body ``patch`` applied as ``content_type``
    (without parameters) says, using ``kind``'s strategic-merge metadata where relevant."""
    apply = _APPLIERS.get(content_type.strip().lower())
    if apply is None:
        raise UnsupportedPatchType(content_type)
    return apply(copy.deepcopy(obj), patch, kind)


def _json_patch(doc: dict[str, Any], body: bytes, kind: str) -> dict[str, Any]:
    operations = _decode_json(body)
    if not isinstance(operations, list):
        raise PatchError(f"json: cannot unmarshal {_json_type(operations)} into Go value of "
                         "type jsonpatch.Patch", 400)
    for operation in operations:
        if not isinstance(operation, dict):
            raise PatchError(f"json: cannot unmarshal {_json_type(operation)} into Go value of "
                             "type jsonpatch.Operation", 400)
    result: Any = doc
    for number, operation in enumerate(operations):
        try:
            result = jsonpatch.JsonPatch([operation]).apply(result, in_place=True)
        except jsonpatch.InvalidJsonPatch as e:
            raise PatchError(f"invalid JSON patch operation {number}: {e}") from e
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
            raise PatchError(_json_patch_failure(result, operation)) from e
    if not isinstance(result, dict):
        raise PatchError(f"the patched document is a JSON {_json_type(result)}, not an object")
    return result


def _json_patch_failure(doc: Any, operation: dict[str, Any]) -> str:
    """Say why an operation failed in the words of the apiserver's JSON patch library."""
    name, path = operation.get("op"), operation.get("path")
    if name in ("move", "copy") and not _resolves(doc, operation.get("from")):
        return (f'{name} operation does not apply: doc is missing from path: '
                f'"{operation.get("from")}": missing value')
    if name == "test" and _resolves(doc, path):
        return f"testing value {path} failed: test failed"
    return f'{name} operation does not apply: doc is missing path: "{path}": missing value'


def _resolves(doc: Any, pointer: Any) -> bool:
    missing = object()
    try:
        return jsonpointer.resolve_pointer(doc, pointer, missing) is not missing
    except (jsonpointer.JsonPointerException, TypeError, AttributeError):
        return False


def _merge_patch(doc: dict[str, Any], body: bytes, kind: str) -> dict[str, Any]:
    patch = _decode_json(body)
    if not isinstance(patch, dict):
        raise PatchError(f"a merge patch must be a JSON object, not a JSON {_json_type(patch)}",
                         400)
    merged: dict[str, Any] = _merge_rfc7386(doc, patch)
    return merged


def _merge_rfc7386(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_rfc7386(result.get(key), value)
    return result


def _strategic_merge_patch(doc: dict[str, Any], body: bytes, kind: str) -> dict[str, Any]:
    patch = _decode_json(body)
    if not isinstance(patch, dict):
        raise PatchError(f"json: cannot unmarshal {_json_type(patch)} into Go value of type "
                         "map[string]interface {}", 400)
    return _strategic_merge(doc, patch, kind)


def _apply_patch(doc: dict[str, Any], body: bytes, kind: str) -> dict[str, Any]:
    config = _decode_yaml(body)
    if not isinstance(config, dict):
        raise PatchError(f"error decoding YAML: the applied configuration is a "
                         f"{_json_type(config)}, not an object", 400)
    return _strategic_merge(doc, config, kind)


def _strategic_merge(doc: dict[str, Any], patch: dict[str, Any], kind: str) -> dict[str, Any]:
    try:
        return patch_strategies.strategic_merge(doc, patch, kind)
    except patch_strategies.MergeError as e:
        raise PatchError(str(e), e.code) from e


def _decode_json(body: bytes) -> Any:
    text = _text(body)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise PatchError(f"invalid JSON in patch body: {e.msg} at line {e.lineno} column "
                         f"{e.colno}", 400) from e
    except ValueError as e:
        raise PatchError(f"invalid JSON in patch body: {e}", 400) from e


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


class _JsonCompatibleLoader(yaml.SafeLoader):
    """A YAML loader that keeps dates as strings: API objects carry timestamps as text."""


_JsonCompatibleLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _decode_yaml(body: bytes) -> Any:
    text = _text(body)
    try:
        value = yaml.load(text, Loader=_JsonCompatibleLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as e:
        raise PatchError(f"error decoding YAML: {e}", 400) from e
    try:
        # The JSON round trip turns non-string keys into strings, as the apiserver's YAML
        # decoder does, and rejects what JSON cannot hold (binary, sets, NaN).
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise PatchError(f"error decoding YAML: {e}", 400) from e


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PatchError(f"patch body is not valid UTF-8: {e}", 400) from e


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"


_APPLIERS: dict[str, Callable[[dict[str, Any], bytes, str], dict[str, Any]]] = {
    JSON_PATCH: _json_patch,
    MERGE_PATCH: _merge_patch,
    STRATEGIC_MERGE_PATCH: _strategic_merge_patch,
    APPLY_PATCH: _apply_patch,
}
