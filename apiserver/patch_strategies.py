"""Strategic merge patch: the patch metadata of every served kind and the merge itself.

The metadata mirrors the ``patchStrategy``/``patchMergeKey`` struct tags of k8s.io/api v1.32
(ObjectMeta, PodSpec, Container, ...). ``strategic_merge`` walks a patch map alongside the live
object and the kind's schema, the way apimachinery's ``strategicpatch.StrategicMergeMapPatch``
does: maps merge key by key, ``null`` deletes, lists with strategy ``merge`` merge by their merge
key (or as sets of scalars), every other list is replaced, and the directives ``$patch``,
``$retainKeys``, ``$setElementOrder/<field>`` and ``$deleteFromPrimitiveList/<field>`` are
honoured. Values taken over from the patch lose their nulls and directive keys, as they do
when the real apiserver decodes the merged map into its typed object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_NO_FIELDS: Mapping[str, Field] = MappingProxyType({})

PATCH = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"


@dataclass(frozen=True)
class Field:
    """Patch metadata of one field: its struct tags and the schema of its value (the struct's
    fields, or for a list the fields of each element)."""

    strategy: str = ""  # the raw tag: "merge", "merge,retainKeys" or "retainKeys"
    merge_key: str = ""
    fields: Mapping[str, Field] = field(default_factory=lambda: _NO_FIELDS)

    @property
    def merges_list(self) -> bool:
        return "merge" in self.strategy.split(",")


Struct = Mapping[str, Field]
NO_METADATA = Field()


def _struct(**fields: Field) -> Struct:
    return MappingProxyType(fields)


def _merge(merge_key: str = "", fields: Struct = _NO_FIELDS,
           retain_keys: bool = False) -> Field:
    return Field("merge,retainKeys" if retain_keys else "merge", merge_key, fields)


def _nested(fields: Struct) -> Field:
    return Field(fields=fields)


CONDITIONS = _merge("type")
OBJECT_META = _struct(finalizers=_merge(), ownerReferences=_merge("uid"))
CONTAINER = _struct(
    ports=_merge("containerPort"),
    env=_merge("name"),
    volumeMounts=_merge("mountPath"),
    volumeDevices=_merge("devicePath"),
)
POD_SPEC = _struct(
    volumes=_merge("name", retain_keys=True),
    initContainers=_merge("name", CONTAINER),
    containers=_merge("name", CONTAINER),
    ephemeralContainers=_merge("name", CONTAINER),
    imagePullSecrets=_merge("name"),
    hostAliases=_merge("ip"),
    topologySpreadConstraints=_merge("topologyKey"),
    schedulingGates=_merge("name"),
    resourceClaims=_merge("name", retain_keys=True),
)
# containerStatuses and friends carry no tags: the kubelet always sends them whole.
POD_STATUS = _struct(
    conditions=CONDITIONS,
    podIPs=_merge("ip"),
    hostIPs=_merge("ip"),
    resourceClaimStatuses=_merge("name", retain_keys=True),
)
POD_TEMPLATE = _struct(metadata=_nested(OBJECT_META), spec=_nested(POD_SPEC))


def _object(spec: Struct | None = None, status: Struct | None = None, **top: Field) -> Struct:
    fields = {"metadata": _nested(OBJECT_META), **top}
    if spec is not None:
        fields["spec"] = _nested(spec)
    if status is not None:
        fields["status"] = _nested(status)
    return MappingProxyType(fields)


PLAIN_OBJECT = _object()

SCHEMAS: Mapping[str, Struct] = MappingProxyType({
    "Pod": _object(POD_SPEC, POD_STATUS),
    "Service": _object(_struct(ports=_merge("port")), _struct(conditions=CONDITIONS)),
    "Endpoints": PLAIN_OBJECT,
    "EndpointSlice": PLAIN_OBJECT,
    "Node": _object(_struct(podCIDRs=_merge()),
                    _struct(conditions=CONDITIONS, addresses=_merge("type"))),
    "Namespace": _object(status=_struct(conditions=CONDITIONS)),
    "ConfigMap": PLAIN_OBJECT,
    "Secret": PLAIN_OBJECT,
    "ServiceAccount": _object(secrets=_merge("name")),
    "Event": PLAIN_OBJECT,
    "Lease": PLAIN_OBJECT,
    "Ingress": PLAIN_OBJECT,
    "IngressClass": PLAIN_OBJECT,
    "NetworkPolicy": PLAIN_OBJECT,
    "Deployment": _object(_struct(strategy=Field("retainKeys"), template=_nested(POD_TEMPLATE)),
                          _struct(conditions=CONDITIONS)),
    "ReplicaSet": _object(_struct(template=_nested(POD_TEMPLATE)), _struct(conditions=CONDITIONS)),
    "Job": _object(_struct(template=_nested(POD_TEMPLATE)), _struct(conditions=CONDITIONS)),
})


class MergeError(Exception):
    """A patch the strategic merge cannot apply, with the HTTP code the apiserver answers."""

    def __init__(self, message: str, path: str = "", code: int = 500) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.code = code


def strategic_merge(live: dict[str, Any], patch: dict[str, Any], kind: str) -> dict[str, Any]:
    """Apply ``patch`` to ``live`` (which is modified and returned). Kinds without a schema
    still get ObjectMeta's metadata; their other lists are replaced."""
    return _merge_map(live, patch, SCHEMAS.get(kind, PLAIN_OBJECT), "")


def _merge_map(original: dict[str, Any], patch: dict[str, Any], struct: Struct,
               path: str) -> dict[str, Any]:
    if PATCH in patch:
        return _map_directive(patch, path)
    patch = dict(patch)
    _apply_retain_keys(original, patch, path)
    _merge_ordered_lists(original, patch, struct, path)
    for key, value in patch.items():
        is_delete_list = key.startswith(DELETE_FROM_PRIMITIVE_LIST)
        if is_delete_list:
            key = _directive_target(key, DELETE_FROM_PRIMITIVE_LIST, path)
        here = _join(path, key)
        if value is None:
            original.pop(key, None)
            continue
        if key not in original or _shape(original[key]) != _shape(value):
            if is_delete_list:
                continue
            # A new value that is itself a directive is dropped, as apimachinery does.
            if _is_directive_item(value):
                original.pop(key, None)
            else:
                original[key] = _taken(value, fresh=True)
            continue
        meta = struct.get(key, NO_METADATA)
        if isinstance(value, dict):
            original[key] = _merge_map(original[key], value, meta.fields, here)
        elif isinstance(value, list):
            original[key] = _merge_list_field(original[key], value, meta, is_delete_list, here)
        else:
            original[key] = value
    return original


def _map_directive(patch: dict[str, Any], path: str) -> dict[str, Any]:
    directive = patch[PATCH]
    if directive == "replace":
        replacement: dict[str, Any] = _taken({k: v for k, v in patch.items() if k != PATCH})
        return replacement
    if directive == "delete":
        return {}
    raise MergeError(f"unknown patch type: {_go(directive)} in map: {_go(patch)}", path)


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any], path: str) -> None:
    if RETAIN_KEYS not in patch:
        return
    retained = patch.pop(RETAIN_KEYS)
    if not isinstance(retained, list):
        raise MergeError("invalid patch format of retainKeys", path, 400)
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if key not in retained:
            raise MergeError(f"invalid patch format of retainKeys: {key!r} is not listed",
                             path, 400)
    for key in [k for k in original if k not in retained]:
        del original[key]


def _merge_ordered_lists(original: dict[str, Any], patch: dict[str, Any], struct: Struct,
                         path: str) -> None:
    """Merge each list named by a ``$setElementOrder/<field>`` directive, then order it:
    the directive's order first, then the order in the live list."""
    for directive in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        key = _directive_target(directive, SET_ELEMENT_ORDER, path)
        here = _join(path, key)
        meta = struct.get(key, NO_METADATA)
        live = original.get(key, [])
        has_changes = key in patch
        changes = patch.pop(key, [])
        for name, value in ((directive, order), (key, live), (key, changes)):
            if not isinstance(value, list):
                raise MergeError(f"expected a list for {name}, but received {_go(value)}", here)
        if not live and not changes:
            continue
        _check_element_order(changes, order, meta.merge_key, here)
        merged = _merge_list_field(live, changes, meta, False, here) if has_changes else live
        in_order, server_only = _partition(merged, order, meta.merge_key, here)
        original[key] = _normalize(in_order, server_only, order, live, meta.merge_key, here)


def _check_element_order(changes: list[Any], order: list[Any], merge_key: str,
                         path: str) -> None:
    """The patch list must name its items in the relative order of the directive list."""
    if not order:
        return
    items = [item for item in changes if not _is_directive_item(item)]
    at = 0
    for wanted in order:
        if at == len(items):
            return
        if _eq(_identity(items[at], merge_key, path), _identity(wanted, merge_key, path)):
            at += 1
    if at < len(items):
        raise MergeError(f"the order in patch list {_go(changes)} doesn't match "
                         f"{SET_ELEMENT_ORDER} list {_go(order)}", path)


def _merge_list_field(original: list[Any], patch: list[Any], meta: Field, is_delete_list: bool,
                      path: str) -> list[Any]:
    # Deletions from a primitive list apply whatever the field's strategy, as upstream.
    if not meta.merges_list and not is_delete_list:
        replacement: list[Any] = _taken(patch)
        return replacement
    if not original and not patch:
        return original
    if _element_kind(original + patch, path) is not dict:
        if is_delete_list:
            return [item for item in original if not _contains(patch, item)]
        merged = _dedupe(original + patch)
        return _normalize(*_partition(merged, patch, "", path), patch, original, "", path)
    key = meta.merge_key
    if not key:
        raise MergeError("cannot merge lists of objects without a merge key", path)
    original, patch = _apply_list_directives(original, patch, key, path)
    merged = list(original)
    for item in patch:
        value = _identity(item, key, path)
        at = _index(merged, item, key, path)
        if at < 0:
            merged.append(_taken(item))
        else:
            merged[at] = _merge_map(merged[at], item, meta.fields, f"{path}[{key}={_go(value)}]")
    return _normalize(*_partition(merged, patch, key, path), patch, original, key, path)


def _apply_list_directives(original: list[Any], patch: list[Any], key: str,
                           path: str) -> tuple[list[Any], list[Any]]:
    """Apply ``$patch`` elements: return the live list left after deletions (or the
    replacement list) and the patch elements still to merge."""
    remaining: list[Any] = []
    replace = False
    for item in patch:
        if PATCH not in item:
            remaining.append(item)
            continue
        directive = item[PATCH]
        if directive == "delete":
            value = _identity(item, key, path)
            original = [e for e in original if not (key in e and _eq(e[key], value))]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise MergeError("merging lists cannot yet be specified in the patch", path)
        else:
            raise MergeError(f"unknown patch type: {_go(directive)} in map: {_go(item)}", path)
    if replace:
        return _taken(remaining), []
    return original, remaining


def _partition(merged: list[Any], by: list[Any], key: str,
               path: str) -> tuple[list[Any], list[Any]]:
    present = [item for item in merged if _index(by, item, key, path) >= 0]
    absent = [item for item in merged if _index(by, item, key, path) < 0]
    return present, absent


def _normalize(from_patch: list[Any], server_only: list[Any], patch_order: list[Any],
               server_order: list[Any], key: str, path: str) -> list[Any]:
    """Sort patch items by the patch's order and server-only items by the live order, then
    interleave them: a server-only item goes first only when the live list put it before the
    patch item it is compared with, so items new to the list lead."""
    def by(order: list[Any]) -> Callable[[Any], int]:
        def position(item: Any) -> int:
            found = _index(order, item, key, path)
            return found if found >= 0 else len(order)
        return position

    right = sorted(from_patch, key=by(patch_order))
    left = sorted(server_only, key=by(server_order))
    out: list[Any] = []
    while left and right:
        li = _index(server_order, left[0], key, path)
        ri = _index(server_order, right[0], key, path)
        out.append(left.pop(0) if 0 <= li < ri else right.pop(0))
    return out + left + right


def _index(items: list[Any], item: Any, key: str, path: str) -> int:
    wanted = _identity(item, key, path)
    for i, candidate in enumerate(items):
        if _eq(_identity(candidate, key, path), wanted):
            return i
    return -1


def _identity(item: Any, key: str, path: str) -> Any:
    """What a list element is matched by: its merge key's value, or itself for scalars."""
    if not key:
        return item
    if not isinstance(item, dict):
        raise MergeError(f"expected a map in a list merged by {key}, but received {_go(item)}",
                         path)
    if key not in item:
        raise MergeError(f"map: {_go(item)} does not contain declared merge key: {key}", path)
    return item[key]


def _element_kind(items: list[Any], path: str) -> type:
    kinds = {type(item) for item in items}
    if list in kinds:
        raise MergeError("lists of lists are not supported", path, 422)
    if len(kinds) > 1:
        raise MergeError(f"list element types are not identical: {_go(items)}", path)
    return kinds.pop()


def _directive_target(key: str, prefix: str, path: str) -> str:
    head, _, target = key.partition("/")
    if head != prefix or not target:
        kind = "primitive list" if prefix == DELETE_FROM_PRIMITIVE_LIST else "setElementOrder list"
        raise MergeError(f"invalid patch format of {kind}: {key!r}", path, 400)
    return target


def _is_directive_key(key: str) -> bool:
    return key in (PATCH, RETAIN_KEYS) or key.startswith(
        (SET_ELEMENT_ORDER + "/", DELETE_FROM_PRIMITIVE_LIST + "/"))


def _is_directive_item(item: Any) -> bool:
    return isinstance(item, dict) and PATCH in item


def _taken(value: Any, fresh: bool = False) -> Any:
    """A patch value as the typed object keeps it once the apiserver decodes the merge result:
    no nulls and no directive keys. In a value the live object did not have (``fresh``), maps
    and list items that carry ``$patch`` are dropped whole, as apimachinery's merge does."""
    if isinstance(value, dict):
        return {k: _taken(v, fresh) for k, v in value.items()
                if v is not None and not _is_directive_key(k)
                and not (fresh and _is_directive_item(v))}
    if isinstance(value, list):
        return [_taken(v, fresh) for v in value if not (fresh and _is_directive_item(v))]
    return value


def _shape(value: Any) -> type:
    return dict if isinstance(value, dict) else list if isinstance(value, list) else object


def _eq(a: Any, b: Any) -> bool:
    # Go compares decoded JSON values with their types: 1, 1.0 and true all differ.
    return type(a) is type(b) and a == b


def _contains(items: list[Any], value: Any) -> bool:
    return any(_eq(item, value) for item in items)


def _dedupe(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if not _contains(out, item):
            out.append(item)
    return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _go(value: Any) -> str:
    """Render a value as Go's %v does, as the apiserver's own messages show patches."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
