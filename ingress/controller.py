"""IngressController: keeps the objects it is told about and serves what they say.

The lead process feeds it watch events (``update``/``delete``) and full lists after a
(re)connect (``resync``) of five kinds. Every change that concerns an Ingress rebuilds the
routing table (``routing.build``, pure) and swaps it into the proxy in one assignment:
requests in flight keep the route they were given, the next ones take the new table.
The certificate store is re-pointed at the same time. Problems (bad backends, missing or
invalid TLS Secrets, conflicts) are handed to ``on_problem`` once each, when they appear;
Secrets that ``cert-manager.io/cluster-issuer`` asks for are signed by the cluster CA and
handed to ``on_secret`` to be created.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ingress import http2, routing, tls
from ingress.classes import CLASS_NAME, CONTROLLER, Classes
from ingress.proxy import ClientConnection, Proxy, ProxyConfig
from ingress.routing import ObjectKey, Problem, Table
from kubeloop.tasks import TaskGroup

log = logging.getLogger(__name__)

INGRESSES = "networking.k8s.io/ingresses"  # the apiserver's storage keys
INGRESS_CLASSES = "networking.k8s.io/ingressclasses"
SERVICES = "services"
ENDPOINT_SLICES = "discovery.k8s.io/endpointslices"
SECRETS = "secrets"
KINDS = (INGRESSES, INGRESS_CLASSES, SERVICES, ENDPOINT_SLICES, SECRETS)

Address = tuple[str, int]


@dataclass(frozen=True)
class ControllerConfig:
    class_name: str = CLASS_NAME  # --ingress-class
    controller: str = CONTROLLER  # --controller-class
    use_http2: bool = True  # ingress-nginx's use-http2: ALPN offers h2 on the HTTPS port
    proxy: ProxyConfig = field(default_factory=ProxyConfig)

    def validate(self) -> None:
        if not self.class_name or not self.controller:
            raise ValueError("ingress: class_name and controller must not be empty")
        self.proxy.validate()


class IngressController:
    """ingress-nginx's behaviour over kubeloop's objects (see README.md)."""

    def __init__(self, config: ControllerConfig | None = None, *,
                 on_problem: Callable[[Problem], None] | None = None,
                 on_secret: Callable[[dict], None] | None = None,
                 ca: tuple[bytes, bytes] | None = None,
                 access_log: Callable[[list[str]], None] | None = None) -> None:
        """``on_problem``: called once per new problem (the lead records a Warning Event
        on the Ingress). ``on_secret``: called with a Secret manifest to create or replace
        for cert-manager annotations, signed with ``ca`` (PEM certificate and key).
        ``access_log``: receives ingress-nginx access log lines (one per request, without
        newlines), those of one turn of the event loop at a time."""
        self.config = config or ControllerConfig()
        self.config.validate()
        self.tasks = TaskGroup("ingress")
        self.proxy = Proxy(self.config.proxy, self.tasks, access_log)
        self.certificates = tls.CertificateStore(http2=self.config.use_http2)
        self.on_problem = on_problem
        self.on_secret = on_secret
        self.ca = ca
        self._objects: dict[str, dict[ObjectKey, dict]] = {kind: {} for kind in KINDS}
        self._slices_of: dict[ObjectKey, dict[ObjectKey, dict]] = {}  # service -> slices
        self._services_used: set[ObjectKey] = set()
        self._secrets_used: set[ObjectKey] = set()
        self._reported: set[Problem] = set()
        self._issued: set[tls.SecretRequest] = set()
        self._servers: list[asyncio.AbstractServer] = []
        self._https: http2.TlsListener | None = None

    @property
    def table(self) -> Table:
        return self.proxy.table

    @property
    def problems(self) -> set[Problem]:
        """The problems of the current objects."""
        return set(self._reported)

    # --- what the lead calls --------------------------------------------------------------

    async def update(self, kind: str, obj: dict) -> None:
        """An object was added or modified."""
        if self._store(kind, obj):
            self._rebuild()

    async def delete(self, kind: str, obj: dict) -> None:
        if self._remove(kind, routing.object_key(obj)):
            self._rebuild()

    async def resync(self, kind: str, objects: Iterable[dict]) -> None:
        """The complete list of a kind: what is not in it was deleted meanwhile."""
        fresh = {routing.object_key(o): o for o in objects}
        for key in set(self._objects[_kind(kind)]) - set(fresh):
            self._remove(kind, key)
        for obj in fresh.values():
            self._store(kind, obj)
        self._rebuild()

    async def start(self, http_addr: Address | None, https_addr: Address | None) -> None:
        """Listens for HTTP and HTTPS (either may be None)."""
        loop = asyncio.get_running_loop()
        proxy = self.proxy
        if https_addr is not None:
            proxy.https_port = https_addr[1]
        try:
            if http_addr is not None:
                self._servers.append(await loop.create_server(
                    lambda: ClientConnection(proxy, b"http", http_addr[1]), *http_addr,
                    backlog=1024, reuse_address=True))
            if https_addr is not None:
                self._https = http2.TlsListener(proxy, https_addr[1],
                                                http2=self.config.use_http2)
                self._servers.append(await loop.create_server(
                    self._https, *https_addr,
                    ssl=self.certificates.default, backlog=1024, reuse_address=True,
                    ssl_handshake_timeout=self.config.proxy.client_header_timeout))
        except OSError:
            await self.close()
            raise
        self.tasks.spawn("sweep", proxy.run_sweeper())
        log.info("ingress controller listening on %s",
                 ", ".join(f"{a[0]}:{a[1]}" for a in (http_addr, https_addr) if a))

    async def close(self) -> None:
        """Stops listening and ends every connection."""
        for server in self._servers:
            server.close()
        if self._https is not None:
            self._https.close_all()  # GOAWAY before the streams' handlers are aborted
        self.proxy.close_all()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        await self.tasks.close()

    # --- state ------------------------------------------------------------------------------

    def _store(self, kind: str, obj: dict) -> bool:
        """Keeps an object; whether the routing may have changed."""
        kind = _kind(kind)
        key = routing.object_key(obj)
        if kind == SECRETS and obj.get("type") != tls.TLS_TYPE:
            return self._remove(kind, key)  # only TLS Secrets are kept
        if kind == ENDPOINT_SLICES:
            self._remove(kind, key)
            service = routing.slice_service(obj)
            if service is not None:
                self._slices_of.setdefault(service, {})[key] = obj
        self._objects[kind][key] = obj
        return self._concerns(kind, key, obj)

    def _remove(self, kind: str, key: ObjectKey) -> bool:
        kind = _kind(kind)
        obj = self._objects[kind].pop(key, None)
        if obj is None:
            return False
        if kind == ENDPOINT_SLICES:
            service = routing.slice_service(obj)
            siblings = self._slices_of.get(service) if service else None
            if siblings is not None:
                siblings.pop(key, None)
                if not siblings:
                    del self._slices_of[service]  # type: ignore[arg-type]
        return self._concerns(kind, key, obj)

    def _concerns(self, kind: str, key: ObjectKey, obj: dict) -> bool:
        """Services, slices and Secrets no Ingress names do not touch the table."""
        if kind == SERVICES:
            return key in self._services_used
        if kind == ENDPOINT_SLICES:
            return routing.slice_service(obj) in self._services_used
        if kind == SECRETS:
            return key in self._secrets_used
        return True

    def _rebuild(self) -> None:
        started = time.perf_counter()
        ingresses = list(self._objects[INGRESSES].values())
        classes = Classes.of(self._objects[INGRESS_CLASSES].values(),
                             class_name=self.config.class_name,
                             controller=self.config.controller)
        slices = {service: list(of.values()) for service, of in self._slices_of.items()}
        table, problems = routing.build(ingresses, self._objects[SERVICES], slices, classes)
        table.adopt(self.proxy.table)
        secrets = self._objects[SECRETS]
        problems += self.certificates.apply(table, secrets)
        self.proxy.table = table
        self._services_used, self._secrets_used = _references(ingresses, classes)
        self._report(problems)
        self._issue(ingresses, secrets, classes)
        log.debug("ingress: routing table rebuilt in %.1f ms", (time.perf_counter() - started)
                  * 1000)

    def _report(self, problems: list[Problem]) -> None:
        current = set(problems)
        for problem in problems:
            if problem not in self._reported:
                log.warning("Ingress %s/%s: %s", *problem.ingress, problem.message)
                if self.on_problem is not None:
                    self.on_problem(problem)
        self._reported = current

    def _issue(self, ingresses: list[dict], secrets: dict[ObjectKey, dict],
               classes: Classes) -> None:
        if self.ca is None or self.on_secret is None:
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        wanted = tls.certificate_requests(ingresses, secrets, classes, now)
        for request in wanted:
            if request in self._issued:
                continue  # already handed over; waiting for the Secret to appear
            self._issued.add(request)
            self.on_secret(tls.issue_secret(request, *self.ca, now))
        self._issued &= set(wanted)


def _references(ingresses: list[dict], classes: Classes
                ) -> tuple[set[ObjectKey], set[ObjectKey]]:
    """The Services and TLS Secrets our Ingresses name."""
    services: set[ObjectKey] = set()
    secrets: set[ObjectKey] = set()
    for ing in ingresses:
        if not classes.takes(ing):
            continue
        namespace = routing.object_key(ing)[0] or "default"
        spec = ing.get("spec") or {}
        backends = [spec.get("defaultBackend")]
        for rule in spec.get("rules") or ():
            for p in ((rule or {}).get("http") or {}).get("paths") or ():
                backends.append((p or {}).get("backend"))
        for b in backends:
            name = ((b or {}).get("service") or {}).get("name") if isinstance(b, dict) else None
            if name:
                services.add((namespace, str(name)))
        for entry in spec.get("tls") or ():
            if isinstance(entry, dict) and entry.get("secretName"):
                secrets.add((namespace, str(entry["secretName"])))
    return services, secrets


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"the ingress controller follows {', '.join(KINDS)}, not {kind!r}")
    return kind


__all__ = ["IngressController", "ControllerConfig", "ProxyConfig", "Problem", "KINDS",
           "INGRESSES", "INGRESS_CLASSES", "SERVICES", "ENDPOINT_SLICES", "SECRETS"]
