"""The ingress-nginx annotations kubeloop honours, read from an Ingress's metadata.

``parse`` turns the annotation map of one Ingress into ``Annotations`` (defaults as
ingress-nginx's) plus the problems found; an annotation with a bad value keeps its default
and is reported, as ingress-nginx does. Annotations kubeloop does not know are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

PREFIX = "nginx.ingress.kubernetes.io/"
REWRITE_TARGET = PREFIX + "rewrite-target"
USE_REGEX = PREFIX + "use-regex"
SSL_REDIRECT = PREFIX + "ssl-redirect"
FORCE_SSL_REDIRECT = PREFIX + "force-ssl-redirect"
PROXY_BODY_SIZE = PREFIX + "proxy-body-size"
BACKEND_PROTOCOL = PREFIX + "backend-protocol"
CLUSTER_ISSUER = "cert-manager.io/cluster-issuer"
INGRESS_CLASS = "kubernetes.io/ingress.class"

DEFAULT_BODY_SIZE = 1 << 20  # ingress-nginx's proxy-body-size "1m"
_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]?)\s*$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class BackendProtocol(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"


@dataclass(frozen=True)
class Annotations:
    """What the annotations of one Ingress ask for (the defaults when absent)."""

    rewrite_target: str = ""
    use_regex: bool = False
    ssl_redirect: bool = True  # only acts on a host that has TLS
    force_ssl_redirect: bool = False
    body_limit: int | None = DEFAULT_BODY_SIZE  # bytes; None = unlimited ("0")
    backend_protocol: BackendProtocol = BackendProtocol.HTTP
    cluster_issuer: str = ""
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def regex(self) -> bool:
        """Paths of this Ingress are regexes (rewrite-target implies it in ingress-nginx)."""
        return self.use_regex or bool(self.rewrite_target)


DEFAULT = Annotations()


def parse_size(text: str) -> int | None:
    """nginx's size syntax ("8m", "512k", "1g", "1024"); "0" means unlimited (None)."""
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a size (like 1m, 512k or 1024)")
    size = int(m.group(1)) * _UNITS[m.group(2).lower()]
    return size or None


def _flag(value: str) -> bool:
    """Go's strconv.ParseBool, which ingress-nginx uses for boolean annotations."""
    lowered = value.strip()
    if lowered in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if lowered in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ValueError(f"{value!r} is not a boolean")


def parse(annotations: object) -> Annotations:
    """The annotations of an Ingress (``metadata.annotations``) as ``Annotations``."""
    if not isinstance(annotations, dict):
        return DEFAULT
    values: dict[str, object] = {}
    problems: list[str] = []

    def take(key: str, attr: str, convert: Callable[[str], object]) -> None:
        raw = annotations.get(key)
        if raw is None:
            return
        try:
            values[attr] = convert(str(raw))
        except ValueError as e:
            problems.append(f"annotation {key}: {e}; using the default")

    take(REWRITE_TARGET, "rewrite_target", str.strip)
    take(USE_REGEX, "use_regex", _flag)
    take(SSL_REDIRECT, "ssl_redirect", _flag)
    take(FORCE_SSL_REDIRECT, "force_ssl_redirect", _flag)
    take(PROXY_BODY_SIZE, "body_limit", parse_size)
    take(BACKEND_PROTOCOL, "backend_protocol", _protocol)
    take(CLUSTER_ISSUER, "cluster_issuer", str.strip)
    if not values and not problems:
        return DEFAULT
    return Annotations(problems=tuple(problems), **values)  # type: ignore[arg-type]


def _protocol(value: str) -> BackendProtocol:
    try:
        return BackendProtocol(value.strip().upper())
    except ValueError:
        raise ValueError(f"{value!r} is not supported (HTTP or HTTPS)") from None


_CAPTURE = re.compile(r"\$(\d)|\$\{(\d)\}")


def expand(target: str, match: re.Match[str]) -> str:
    """nginx's rewrite replacement: $1..$9 (or ${1}) are the path regex's captures; a
    group that did not take part, or does not exist, expands to nothing."""
    groups = match.groups()

    def group(m: re.Match[str]) -> str:
        index = int(m.group(1) or m.group(2))
        if index == 0:
            return match.group(0)
        return (groups[index - 1] or "") if index <= len(groups) else ""

    return _CAPTURE.sub(group, target)


def rewrite(pattern: re.Pattern[str], target: str, path: str, query: str) -> str | None:
    """The request-target after ``rewrite "(?i)<path>" <target> break;``: the whole URI is
    replaced when the path regex matches anywhere in it; the original query follows
    (after the target's own arguments), unless the target ends with "?". None when the
    regex does not match (the request goes on unchanged)."""
    m = pattern.search(path)
    if m is None:
        return None
    new = expand(target, m)
    if new.endswith("?"):
        return new[:-1]
    if not query:
        return new
    return f"{new}&{query}" if "?" in new else f"{new}?{query}"
