"""The routing table: Ingresses + Services + EndpointSlices -> who answers a request.

``build`` merges the Ingresses this controller takes the way ingress-nginx does: oldest
first (creationTimestamp, then namespace/name), one server per host (exact names, ``*.``
wildcards covering one label, and the catch-all for rules without a host), one location
per (path, pathType) with the oldest Ingress winning a conflict, the root fallback of a
host from the Ingress that created it (its ``defaultBackend``, else the controller's 404),
and the catch-all's fallback from an Ingress with a ``defaultBackend`` and no rules.
Problems (bad backends, conflicts, bad regexes) come back next to the table so the
controller can report them; nothing here raises on a malformed object.

``Table.match(host, path)`` is the hot-path decision: a dict lookup for the host, then
an exact-path lookup and a walk up the path's elements (Prefix) — or, on a host where any
Ingress uses regexes (use-regex or rewrite-target, which ingress-nginx then enforces on
every path of the host), the case-insensitive ``^path`` regexes, longest path first.
ImplementationSpecific paths are nginx prefix locations: plain string prefixes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ingress import annotations as nginx_annotations
from ingress.annotations import Annotations, BackendProtocol
from ingress.classes import Classes

CATCH_ALL = "_"  # nginx's name for the default server
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

ObjectKey = tuple[str, str]  # (namespace, name)
Endpoint = tuple[str, int]  # (pod IP, port)


class PathType(StrEnum):
    EXACT = "Exact"
    PREFIX = "Prefix"
    IMPLEMENTATION_SPECIFIC = "ImplementationSpecific"


@dataclass(frozen=True)
class Problem:
    """Something wrong with an Ingress the controller reports: logged, and recorded as a
    Warning Event unless ``event`` is False (a missing backend: ingress-nginx only logs
    it, and `kubectl describe ingress` shows `<error: ... not found>` by itself)."""

    ingress: ObjectKey
    message: str
    event: bool = True


class Backend:
    """A Service port's ready endpoints (ingress-nginx's upstream), picked round-robin.

    ``error`` says why there is nothing to pick from (the Service or port is missing);
    with neither error nor endpoints the Service simply has no ready pod: both answer
    503. The turn is the only mutable state of a table: ``Table.adopt`` carries it over
    to the next table when the backend did not change."""

    __slots__ = ("name", "endpoints", "protocol", "error", "_turn")

    def __init__(self, name: str, endpoints: tuple[Endpoint, ...] = (),
                 protocol: BackendProtocol = BackendProtocol.HTTP, error: str = "") -> None:
        self.name = name  # "<namespace>-<service>-<port>" as in ingress-nginx's access log
        self.endpoints = endpoints
        self.protocol = protocol
        self.error = error
        self._turn = 0

    def pick(self) -> Endpoint | None:
        endpoints = self.endpoints
        if not endpoints:
            return None
        turn = self._turn
        self._turn = turn + 1
        return endpoints[turn % len(endpoints)]

    @property
    def key(self) -> tuple[str, tuple[Endpoint, ...], BackendProtocol, str]:
        return self.name, self.endpoints, self.protocol, self.error

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, {self.endpoints!r}, error={self.error!r})"


@dataclass(frozen=True, eq=False)
class Route:
    """A location: what answers the requests it matches. ``backend`` None is the
    controller's default backend (the 404 page)."""

    path: str
    path_type: PathType
    backend: Backend | None
    ingress: ObjectKey | None = None
    annotations: Annotations = nginx_annotations.DEFAULT
    redirect: bool = False  # plain-HTTP requests get a 308 to https
    rewrite: re.Pattern[str] | None = None


NOT_FOUND = Route("/", PathType.PREFIX, None)


@dataclass(eq=False)
class Server:
    """One host's locations (ingress-nginx's server block)."""

    hostname: str
    fallback: Route = NOT_FOUND
    tls: bool = False
    tls_secret: ObjectKey | None = None  # None with tls: the default certificate
    tls_ingress: ObjectKey | None = None  # the Ingress whose TLS section decided
    exact: dict[str, Route] = field(default_factory=dict)
    prefix: dict[str, Route] = field(default_factory=dict)  # path without trailing "/"
    strings: tuple[tuple[str, Route], ...] = ()  # ImplementationSpecific, longest first
    regexes: tuple[tuple[re.Pattern[str], Route], ...] = ()
    regex: bool = False

    def route(self, path: str) -> Route:
        if self.regex:
            for pattern, route in self.regexes:
                if pattern.match(path):
                    return route
            return self.fallback
        exact = self.exact.get(path)
        if exact is not None:
            return exact
        found, length = self.fallback, -1
        prefix = self.prefix
        if prefix:
            p = path.rstrip("/")
            while True:
                hit = prefix.get(p)
                if hit is not None:
                    found, length = hit, len(p)
                    break
                if not p:
                    break
                p = p[:p.rfind("/")].rstrip("/")
        for text, route in self.strings:
            if len(text) <= length:
                break
            if path.startswith(text):
                return route
        return found

    def routes(self) -> Iterable[Route]:
        yield self.fallback
        yield from self.exact.values()
        yield from self.prefix.values()
        for _, route in self.strings:
            yield route
        for _, route in self.regexes:
            yield route


@dataclass(eq=False)
class Table:
    servers: dict[str, Server] = field(default_factory=dict)  # exact host names
    wildcards: dict[str, Server] = field(default_factory=dict)  # "*.x.y" under "x.y"
    default: Server = field(default_factory=lambda: Server(CATCH_ALL))

    def server(self, host: str) -> Server:
        """The server for a Host (lower case, without port): exact name, then the
        wildcard one label up, then the catch-all."""
        server = self.servers.get(host)
        if server is None:
            dot = host.find(".")
            if dot > 0:
                server = self.wildcards.get(host[dot + 1:])
            if server is None:
                server = self.default
        return server

    def match(self, host: str, path: str) -> Route:
        return self.server(host).route(path)

    def all_servers(self) -> Iterable[Server]:
        yield self.default
        yield from self.servers.values()
        yield from self.wildcards.values()

    def backends(self) -> dict[str, Backend]:
        found: dict[str, Backend] = {}
        for server in self.all_servers():
            for route in server.routes():
                if route.backend is not None:
                    found.setdefault(route.backend.name, route.backend)
        return found

    def adopt(self, previous: Table) -> None:
        """Keeps the previous table's Backend objects (and so their round-robin turns)
        where a backend did not change."""
        old = {b.key: b for b in previous.backends().values()}
        for server in self.all_servers():
            server.fallback = _adopted(server.fallback, old)
            server.exact = {k: _adopted(r, old) for k, r in server.exact.items()}
            server.prefix = {k: _adopted(r, old) for k, r in server.prefix.items()}
            server.strings = tuple((k, _adopted(r, old)) for k, r in server.strings)
            server.regexes = tuple((k, _adopted(r, old)) for k, r in server.regexes)


def _adopted(route: Route, old: Mapping[tuple, Backend]) -> Route:
    if route.backend is None:
        return route
    kept = old.get(route.backend.key)
    if kept is None or kept is route.backend:
        return route
    return Route(route.path, route.path_type, kept, route.ingress, route.annotations,
                 route.redirect, route.rewrite)


# --- building -------------------------------------------------------------------------------

def object_key(obj: dict) -> ObjectKey:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise ValueError("an object without metadata.name")
    return str(meta.get("namespace") or ""), meta["name"]


def slice_service(obj: dict) -> ObjectKey | None:
    """The Service an EndpointSlice belongs to (its kubernetes.io/service-name label)."""
    namespace, _ = object_key(obj)
    name = ((obj.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL)
    return (namespace or "default", name) if isinstance(name, str) and name else None


def _age(ingress: dict) -> tuple[str, str, str]:
    meta = ingress.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("namespace") or ""),
            str(meta.get("name") or ""))


class _Resolver:
    """Service backends of Ingresses -> Backend, each built once per table."""

    def __init__(self, services: Mapping[ObjectKey, dict],
                 slices: Mapping[ObjectKey, Iterable[dict]]) -> None:
        self.services = services
        self.slices = slices
        self.cache: dict[tuple[str, str, str, BackendProtocol], Backend] = {}

    def backend(self, namespace: str, spec: object, protocol: BackendProtocol) -> Backend:
        """``spec`` is an IngressBackend; its ``error`` is set when it cannot be served."""
        service = spec.get("service") if isinstance(spec, dict) else None
        if not isinstance(service, dict):
            what = "resource backends are" if isinstance(spec, dict) and spec.get("resource") \
                else "a backend without a service is"
            return Backend(f"{namespace}-invalid", error=f"{what} not supported")
        name = str(service.get("name") or "")
        port = _dict(service.get("port"))
        number, port_name = port.get("number"), port.get("name")
        ref = str(number) if number is not None else str(port_name or "")
        key = (namespace, name, ref, protocol)
        cached = self.cache.get(key)
        if cached is None:
            cached = self.cache[key] = self._resolve(namespace, name, number, port_name, ref,
                                                     protocol)
        return cached

    def _resolve(self, namespace: str, name: str, number: object, port_name: object,
                 ref: str, protocol: BackendProtocol) -> Backend:
        upstream = f"{namespace}-{name}-{ref}"
        svc = self.services.get((namespace, name))
        if svc is None:
            return Backend(upstream, protocol=protocol,
                           error=f'service "{namespace}/{name}" not found')
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            return Backend(upstream, protocol=protocol,
                           error=f'service "{namespace}/{name}" is of type ExternalName, '
                                 "which kubeloop's ingress does not proxy")
        for sp in spec.get("ports") or ():
            if not isinstance(sp, dict) or (sp.get("protocol") or "TCP") != "TCP":
                continue
            if (number is not None and sp.get("port") == number) or \
                    (number is None and port_name and sp.get("name") == port_name):
                endpoints = _endpoints(str(sp.get("name") or ""),
                                       self.slices.get((namespace, name), ()))
                return Backend(upstream, endpoints, protocol)
        return Backend(upstream, protocol=protocol,
                       error=f'service "{namespace}/{name}" does not have port {ref}')


def _endpoints(port_name: str, slices: Iterable[dict]) -> tuple[Endpoint, ...]:
    """Ready endpoints of one service port, from the slices' ports of the same name."""
    found: set[Endpoint] = set()
    for s in slices:
        numbers = [p.get("port") for p in s.get("ports") or () if isinstance(p, dict)
                   and (p.get("name") or "") == port_name
                   and (p.get("protocol") or "TCP") == "TCP"]
        for number in numbers:
            if not isinstance(number, int):
                continue
            for ep in s.get("endpoints") or ():
                addresses = ep.get("addresses") if isinstance(ep, dict) else None
                ready = (ep.get("conditions") or {}).get("ready") if addresses else False
                if addresses and ready is not False:
                    found.add((str(addresses[0]), number))
    return tuple(sorted(found))


@dataclass
class _Location:
    route: Route
    regex_source: bool  # its Ingress asked for regexes


class _ServerDraft:
    def __init__(self, hostname: str, fallback: Route) -> None:
        self.hostname = hostname
        self.fallback = fallback
        self.tls: bool = False
        self.tls_secret: ObjectKey | None = None
        self.tls_ingress: ObjectKey | None = None
        self.locations: dict[tuple[str, PathType], _Location] = {}


def build(ingresses: Iterable[dict], services: Mapping[ObjectKey, dict],
          slices: Mapping[ObjectKey, Iterable[dict]], classes: Classes
          ) -> tuple[Table, list[Problem]]:
    """The routing table for the Ingresses this controller takes, and what is wrong."""
    problems: list[Problem] = []
    resolver = _Resolver(services, slices)
    drafts: dict[str, _ServerDraft] = {CATCH_ALL: _ServerDraft(CATCH_ALL, NOT_FOUND)}
    ours = sorted((i for i in ingresses if isinstance(i, dict) and classes.takes(i)), key=_age)

    for ing in ours:
        key = object_key(ing)
        namespace = key[0] or "default"
        spec = _dict(ing.get("spec"))
        ann = nginx_annotations.parse((ing.get("metadata") or {}).get("annotations"))
        problems += [Problem(key, p) for p in ann.problems]
        rules = [r for r in spec.get("rules") or () if isinstance(r, dict)]

        fallback = NOT_FOUND
        if spec.get("defaultBackend") is not None:
            backend = resolver.backend(namespace, spec["defaultBackend"], ann.backend_protocol)
            _check(problems, key, "defaultBackend", backend)
            fallback = Route("/", PathType.PREFIX, backend, key, ann)
            catch_all = drafts[CATCH_ALL]
            if not rules and catch_all.fallback is NOT_FOUND:
                catch_all.fallback = fallback

        hosts = []
        for rule in rules:
            host = str(rule.get("host") or CATCH_ALL).lower()
            hosts.append(host)
            if host not in drafts:
                drafts[host] = _ServerDraft(host, fallback)

        for host in hosts:
            _decide_tls(drafts[host], spec.get("tls"), key)

        for rule, host in zip(rules, hosts):
            draft = drafts[host]
            http = _dict(rule.get("http"))
            for p in http.get("paths") or ():
                if not isinstance(p, dict):
                    continue
                path = str(p.get("path") or "/")
                try:
                    path_type = PathType(p.get("pathType") or PathType.IMPLEMENTATION_SPECIFIC)
                except ValueError:
                    problems.append(Problem(key, f"path {path}: unknown pathType "
                                                 f"{p.get('pathType')!r}; path ignored"))
                    continue
                backend = resolver.backend(namespace, p.get("backend"), ann.backend_protocol)
                _check(problems, key, f"path {_where(host, path)}", backend)
                existing = draft.locations.get((path, path_type))
                if existing is not None:
                    owner = "/".join(existing.route.ingress or ("", ""))
                    problems.append(Problem(key, f"path {_where(host, path)} ({path_type}) "
                                                 f"is already defined by Ingress {owner}; "
                                                 "ignored"))
                    continue
                draft.locations[(path, path_type)] = _Location(
                    Route(path, path_type, backend, key, ann), ann.regex)

    table = Table()
    for host, draft in drafts.items():
        server = _finish(draft, problems)
        if host == CATCH_ALL:
            table.default = server
        elif host.startswith("*."):
            table.wildcards[host[2:]] = server
        else:
            table.servers[host] = server
    return table, problems


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _where(host: str, path: str) -> str:
    return path if host == CATCH_ALL else f"{host}{path}"


def _check(problems: list[Problem], key: ObjectKey, where: str, backend: Backend) -> None:
    if backend.error:
        problems.append(Problem(key, f"{where}: {backend.error}", event=False))


def _decide_tls(draft: _ServerDraft, tls: object, ingress: ObjectKey) -> None:
    """ingress-nginx: the oldest Ingress of a host that has a TLS section gives the host
    TLS: the secret of the entry listing the host, else the default certificate."""
    if draft.tls_ingress is not None or not isinstance(tls, list) or not tls:
        return
    draft.tls = True
    draft.tls_ingress = ingress
    namespace = ingress[0] or "default"
    for entry in tls:
        if not isinstance(entry, dict):
            continue
        hosts = [str(h).lower() for h in entry.get("hosts") or ()]
        if draft.hostname in hosts and entry.get("secretName"):
            draft.tls_secret = (namespace, str(entry["secretName"]))
            return


def _finish(draft: _ServerDraft, problems: list[Problem]) -> Server:
    regex = any(loc.regex_source for loc in draft.locations.values())
    server = Server(draft.hostname, tls=draft.tls, tls_secret=draft.tls_secret,
                    tls_ingress=draft.tls_ingress, regex=regex)

    def finished(route: Route) -> Route:
        ann = route.annotations
        redirect = ann.force_ssl_redirect or (ann.ssl_redirect and draft.tls)
        rewrite = None
        if ann.rewrite_target and route.ingress is not None and route is not draft.fallback:
            rewrite = re.compile(route.path, re.IGNORECASE)
        if redirect == route.redirect and rewrite is None:
            return route
        return Route(route.path, route.path_type, route.backend, route.ingress, ann,
                     redirect, rewrite)

    server.fallback = finished(draft.fallback)
    if regex:
        ordered = sorted(draft.locations.values(),
                         key=lambda loc: (len(loc.route.path), loc.route.path), reverse=True)
        regexes = []
        for loc in ordered:
            route = loc.route
            try:
                pattern = re.compile(route.path, re.IGNORECASE)
            except re.error as e:
                problems.append(Problem(route.ingress or ("", ""),
                                        f"path {_where(draft.hostname, route.path)} is not "
                                        f"a valid regular expression ({e}); path ignored"))
                continue
            # nginx's `location ~* "^path"`: anchored at the start only.
            regexes.append((re.compile("^(?:" + pattern.pattern + ")", re.IGNORECASE),
                            finished(route)))
        server.regexes = tuple(regexes)
        return server
    strings = []
    for (path, path_type), loc in draft.locations.items():
        route = finished(loc.route)
        if path_type is PathType.EXACT:
            server.exact[path] = route
        elif path_type is PathType.PREFIX:
            server.prefix.setdefault(path.rstrip("/"), route)
        else:
            strings.append((path, route))
    server.strings = tuple(sorted(strings, key=lambda s: len(s[0]), reverse=True))
    return server
