"""Parsing of REST paths and request parameters: pure functions from URL pieces to what
the request addresses, so the HTTP layer only decodes and dispatches."""

from __future__ import annotations

from dataclasses import dataclass

from apiserver import resources
from apiserver.resources import Resource


@dataclass(frozen=True)
class Target:
    resource: Resource
    namespace: str  # "" for cluster-scoped resources or all namespaces
    name: str = ""
    subresource: str = ""


def parse(path: str) -> Target | None:
    """``/api/v1/namespaces/ns/pods/name/status`` -> Target; None if no such resource."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        candidate = resources.lookup(group, version, rest[2])
        if candidate is not None and candidate.namespaced:
            namespace, rest = rest[1], rest[2:]
    res = resources.lookup(group, version, rest[0])
    if res is None or len(rest) > 3:
        return None
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if sub and sub not in res.subresources:
        return None
    return Target(res, namespace, name, sub)


@dataclass(frozen=True)
class MediaType:
    mime: str
    params: dict[str, str]


def parse_accept(header: str) -> list[MediaType]:
    out = []
    for item in header.split(","):
        pieces = [p.strip() for p in item.split(";")]
        if not pieces[0]:
            continue
        params = {}
        for p in pieces[1:]:
            k, _, v = p.partition("=")
            params[k.strip()] = v.strip()
        out.append(MediaType(pieces[0].lower(), params))
    return out


def wants_table(accept: str) -> bool:
    """True when the client asks for a meta.k8s.io Table (kubectl get does)."""
    return any(m.params.get("as") == "Table" and m.params.get("g") == "meta.k8s.io"
               for m in parse_accept(accept))


def flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "")


def parse_int(value: str | None, what: str) -> int | None:
    """An optional non-negative integer query parameter; ValueError names the parameter."""
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except ValueError as e:
        raise ValueError(f"invalid value {value!r} for {what}: must be an integer") from e
    if n < 0:
        raise ValueError(f"invalid value {value!r} for {what}: must be >= 0")
    return n
