"""Unknown-field handling (the `fieldValidation` query parameter): fields an object's
type does not have are found by walking it against the same field tables the protobuf
decoder uses, then dropped (as the typed decoder of the real apiserver drops them),
reported as warnings, or refused with Strict."""

from __future__ import annotations

from functools import cache

from apiserver.proto_schema import KINDS, MESSAGES, SPECIAL

TOP_LEVEL = frozenset({"apiVersion", "kind"})


@cache
def _fields(message: str) -> dict[str, tuple[str, str | None, str]]:
    """JSON name -> (kind, message type, flags), with inline structs flattened."""
    out: dict[str, tuple[str, str | None, str]] = {}
    for name, kind, mtype, flags in MESSAGES.get(message, {}).values():
        if "i" in flags and mtype:
            out.update(_fields(mtype))
        else:
            out[name] = (kind, mtype, flags)
    return out


def prune(api_version: str, kind: str, obj: dict) -> list[str]:
    """Remove unknown fields from ``obj`` in place; their paths, in document order."""
    message = KINDS.get((api_version, kind))
    if message is None:
        return []
    found: list[str] = []
    _walk(obj, message, "", found, TOP_LEVEL)
    return found


def _walk(value: object, message: str, path: str, found: list[str],
          extra: frozenset[str] = frozenset()) -> None:
    if message in SPECIAL or not isinstance(value, dict) or message not in MESSAGES:
        return
    fields = _fields(message)
    for key in list(value):
        spec = fields.get(key)
        if spec is None:
            if key not in extra:
                found.append(f"{path}{key}")
                del value[key]
            continue
        kind, mtype, flags = spec
        child = value[key]
        if kind != "message" or mtype is None or child is None:
            continue
        if "m" in flags and isinstance(child, dict):
            for k, v in child.items():
                _walk(v, mtype, f"{path}{key}[{k}].", found)
        elif "r" in flags and isinstance(child, list):
            for i, item in enumerate(child):
                _walk(item, mtype, f"{path}{key}[{i}].", found)
        else:
            _walk(child, mtype, f"{path}{key}.", found)


def strict_message(kind: str, api_version: str, paths: list[str]) -> str:
    version = api_version.rpartition("/")[2]
    unknown = ", ".join(f'unknown field "{p}"' for p in paths)
    return f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding ' \
           f"error: {unknown}"
