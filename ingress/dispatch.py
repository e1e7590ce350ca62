"""Where a request goes, from its Host and request-target: the route (or 400 for a target
nginx refuses, or the 308 to https), the Host forwarded and the target sent to the
backend (rewrite-target applied). Pure: it depends on the routing table, the listener's
scheme and the https port, so the proxy keeps each answer until the table is replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from ingress import annotations as nginx_annotations
from ingress import messages
from ingress.routing import Route, Table

# What nginx leaves unescaped when it writes a rewritten URI back out.
_URI_SAFE = "/?&=%:@!$'()*+,;~-._"


@dataclass(frozen=True, slots=True)
class Dispatch:
    route: Route | None  # None: the target is refused (400)
    host: bytes = b""  # the Host the backend is sent (and X-Forwarded-Host)
    target: bytes = b""  # the request-target the backend is sent
    location: str = ""  # set: answer 308 to this https URL instead


BAD_TARGET = Dispatch(None)


def dispatch(table: Table, host: bytes, url: bytes, *, https: bool,
             https_port: int) -> Dispatch:
    """The decision for a request with Host ``host`` and request-target ``url`` (an
    absolute-form target's host overrides Host, as in nginx)."""
    target = messages.parse_target(url.decode("latin-1"))
    if target is None:
        return BAD_TARGET
    host_value = target.host or host.decode("latin-1")
    if not messages.valid_host(host_value):
        return BAD_TARGET
    hostname = messages.split_host(host_value)
    route = table.match(hostname, target.path)
    if route.redirect and not https:
        return Dispatch(route, location=messages.https_location(hostname, https_port,
                                                                target.raw))
    # nginx sends the backend the origin form of an absolute-form target.
    forward = target.raw.encode("latin-1") if target.host else url
    if route.rewrite is not None:
        rewritten = nginx_annotations.rewrite(route.rewrite, route.annotations.rewrite_target,
                                              target.path, target.query)
        if rewritten is not None:
            forward = quote(rewritten, safe=_URI_SAFE).encode()
    return Dispatch(route, host_value.encode("latin-1"), forward)
