"""What a user's integration test does with a cluster, over the real sockets: apply
manifests (through the real kubectl, so its validation and messages are the user's),
wait for conditions (straight from the REST API, polled every few milliseconds, so
waiting costs little), run commands inside pods (`kubectl exec`), send HTTP requests from
the host the way a browser with an /etc/hosts entry would, and ask the cluster DNS.

``Cluster`` is a ``Client`` of its ``default`` namespace; ``Namespace`` is one of a
namespace it created for a test. ``client.aio`` offers every method as a coroutine.
"""

from __future__ import annotations

import asyncio
import http.client
import ipaddress
import json
import secrets
import socket
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import yaml

from kubeloop import flows as flow_log
from kubeloop import pki
from kubeloop.flows import Flow

if TYPE_CHECKING:
    from kubeloop.cluster import Cluster

T = TypeVar("T")
Manifest = str | Path | Mapping[str, Any] | Iterable[Mapping[str, Any]]
POLL = 0.01  # seconds between two looks at a condition
CLUSTER_DOMAIN = "cluster.local"


class KubeloopError(Exception):
    """A request to the cluster failed; the message says what the cluster answered."""


@dataclass(frozen=True)
class Result:
    """What a command run in a pod (``Client.exec``) gave back."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True)
class Response:
    """An HTTP response received from the host (``Client.http``)."""

    status: int
    headers: dict[str, str]
    body: bytes
    http_version: str = "HTTP/1.1"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """Operations on one namespace of a cluster (see the module docstring)."""

    namespace: str = "default"

    @property
    def cluster(self) -> Cluster:
        raise NotImplementedError

    @property
    def aio(self) -> AsyncClient:
        """The same methods as coroutines (each runs in a worker thread)."""
        return AsyncClient(self)

    # --- objects ------------------------------------------------------------------------
    def apply(self, manifest: Manifest) -> list[dict]:
        """``kubectl apply`` a manifest: a file path, YAML text (one or many documents) or
        objects. Objects without a namespace go to this client's. Returns the applied
        objects as the server stored them."""
        documents = _documents(manifest)
        if not documents:
            raise KubeloopError("apply: the manifest holds no object")
        out = self._kubectl("apply", "-o", "json", "-f", "-",
                            input=yaml.safe_dump_all(documents, sort_keys=False))
        applied = json.loads(out)
        return list(applied.get("items", [])) if applied.get("kind") == "List" else [applied]

    def get(self, kind: str, name: str) -> dict:
        """One object as ``kubectl get KIND NAME -o json`` prints it."""
        return json.loads(self._kubectl("get", kind, name, "-o", "json"))  # type: ignore[no-any-return]

    def delete(self, kind: str, name: str, wait: bool = False) -> None:
        self._kubectl("delete", kind, name, "--ignore-not-found", f"--wait={str(wait).lower()}")

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The real kubectl in this namespace (``Cluster`` overrides it: kubectl in the
        kubeconfig's namespace, ``default``)."""
        return self.cluster.kubectl("-n", self.namespace, *args, input=input, check=check,
                                    timeout=timeout)

    def rest(self, path: str) -> dict:
        """GET an API path (``/apis/apps/v1/...``) as JSON, with the admin token."""
        config = self.cluster.config
        request = urllib.request.Request(config.network.api_url + path)
        request.add_header("Authorization", f"Bearer {self.cluster.token}")
        try:
            with urllib.request.urlopen(request, context=self.cluster.api_ssl_context(),
                                        timeout=10) as response:
                return json.loads(response.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as e:
            status = json.loads(e.read() or b"{}")
            raise KubeloopError(f"GET {path}: {e.code} {status.get('message', e.reason)}"
                                ) from None

    # --- waiting --------------------------------------------------------------------------
    def wait_for(self, condition: Callable[[], T | None], timeout: float = 30,
                 what: str = "the condition", explain: Callable[[], str] | None = None) -> T:
        """Poll ``condition`` until it returns something truthy, which is returned. On
        timeout, TimeoutError says what was awaited and, through ``explain``, what the
        cluster showed last."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                detail = f": {explain()}" if explain is not None else ""
                raise TimeoutError(f"waited {timeout:g} s for {what}{detail}")
            time.sleep(POLL)

    def wait_available(self, deployment: str, timeout: float = 60) -> dict:
        """Until every replica of the Deployment is updated and available (what ``kubectl
        rollout status`` waits for). Returns the Deployment."""
        path = f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{deployment}"
        last: dict = {}

        def done() -> dict | None:
            nonlocal last
            last = self._rest_or_empty(path)
            return last if _rolled_out(last) else None

        return self.wait_for(done, timeout, f"deployment {self.namespace}/{deployment} to be "
                             "available", lambda: _deployment_state(last))

    def wait_endpoints(self, service: str, count: int = 1, timeout: float = 60) -> list[str]:
        """Until the Service has at least ``count`` ready endpoint addresses; returns them."""
        path = f"/api/v1/namespaces/{self.namespace}/endpoints/{service}"
        last: dict = {}

        def ready() -> list[str] | None:
            nonlocal last
            last = self._rest_or_empty(path)
            ips = [a["ip"] for s in last.get("subsets") or [] for a in s.get("addresses", [])]
            return ips if len(ips) >= count else None

        return self.wait_for(ready, timeout, f"{count} ready endpoint(s) of service "
                             f"{self.namespace}/{service}",
                             lambda: f"endpoints are {json.dumps(last.get('subsets') or [])}")

    def wait_serving(self, url: str, status: int = 200, timeout: float = 30) -> Response:
        """Until ``http(url)`` answers ``status`` (an Ingress or Service in place)."""
        last: list[str] = ["no answer yet"]

        def answered() -> Response | None:
            try:
                response = self.http(url, timeout=2)
            except (OSError, KubeloopError) as e:
                last[0] = str(e)
                return None
            last[0] = f"last answer {response.status}: {response.text[:200]!r}"
            return response if response.status == status else None

        return self.wait_for(answered, timeout, f"{url} to answer {status}", lambda: last[0])

    # --- traffic --------------------------------------------------------------------------
    def exec(self, pod: str, command: str | list[str], container: str | None = None,
             timeout: float = 60) -> Result:
        """Run a command inside a pod's network identity (``kubectl exec``): a string runs
        with ``sh -c``, a list as it is. ``pod`` may be ``deploy/NAME``."""
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        args = ["exec", pod, *(["-c", container] if container else []), "--", *argv]
        done = self.kubectl(*args, check=False, timeout=timeout)
        return Result(done.returncode, done.stdout, done.stderr)

    def http(self, url: str, method: str = "GET", headers: Mapping[str, str] | None = None,
             body: bytes | str | None = None, timeout: float = 10,
             verify: bool | str | Path = True) -> Response:
        """One HTTP(S) request from the host. A host name is looked up as a browser with
        an /etc/hosts entry for the cluster would: names under the cluster domain through
        the cluster DNS, any other name at the ingress controller. HTTPS uses SNI and, with
        ``verify`` True, the cluster CA (a path: that CA bundle; False: no verification)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise KubeloopError(f"http: {url!r} is not an http:// or https:// URL")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = self.resolve(host)
        sock = socket.create_connection((address, port), timeout=timeout)
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=timeout)
            sock = self._tls_context(verify).wrap_socket(sock, server_hostname=host)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        connection.sock = sock
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            connection.request(method, target, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()},
                        payload, f"HTTP/{response.version // 10}.{response.version % 10}")

    def resolve(self, host: str) -> str:
        """The address ``http`` connects to for ``host`` (see there)."""
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            pass
        name = host.rstrip(".")
        if name == CLUSTER_DOMAIN or name.endswith("." + CLUSTER_DOMAIN):
            answers = self.dns(name + ".")
            if not answers:
                raise KubeloopError(f"{host}: the cluster DNS has no A record for it")
            return answers[0]
        return self.cluster.config.network.ingress_ip

    def dns(self, name: str, rdtype: str = "A", tcp: bool = False,
            timeout: float = 2) -> list[str]:
        """Ask the cluster DNS (kube-dns's address) as a pod of this namespace would: a
        name without a trailing dot goes through the pod's search list. The answers'
        data as text (``[]`` for NXDOMAIN or no data)."""
        server = self.cluster.config.network.dns_ip
        for candidate in self._search(name):
            query = dns.message.make_query(candidate, dns.rdatatype.from_text(rdtype))
            ask = dns.query.tcp if tcp else dns.query.udp
            try:
                answer = ask(query, server, timeout=timeout)
            except dns.exception.Timeout:
                raise KubeloopError(f"the cluster DNS at {server} did not answer for "
                                    f"{candidate} within {timeout:g} s") from None
            records = [rd.to_text() for rrset in answer.answer for rd in rrset
                       if rrset.rdtype == dns.rdatatype.from_text(rdtype)]
            if records:
                return records
        return []

    def _search(self, name: str) -> list[str]:
        if name.endswith("."):
            return [name]
        domains = [f"{self.namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}",
                   CLUSTER_DOMAIN]
        searched = [f"{name}.{d}." for d in domains] if name.count(".") < 5 else []
        return [*searched, name + "."]

    # --- what failed ----------------------------------------------------------------------
    def events(self) -> str:
        """The namespace's events, oldest first, as ``kubectl get events`` prints them."""
        return self.kubectl("get", "events", "--sort-by=.lastTimestamp", check=False).stdout

    def flows(self, verdict: str | None = None) -> list[Flow]:
        """Connections from or to this namespace's pods judged against NetworkPolicy
        (what ``kubeloop flows -n NAMESPACE`` prints), oldest first."""
        return flow_log.select(flow_log.read(self.cluster.config.logs), self.namespace,
                               verdict)

    # --- plumbing -------------------------------------------------------------------------
    def _kubectl(self, *args: str, input: str | None = None) -> str:
        done = self.kubectl(*args, input=input, check=False)
        if done.returncode != 0:
            raise KubeloopError(f"kubectl {' '.join(args[:2])} in namespace "
                                f"{self.namespace}: {done.stderr.strip()}")
        return done.stdout

    def _rest_or_empty(self, path: str) -> dict:
        try:
            return self.rest(path)
        except KubeloopError:
            return {}

    def _tls_context(self, verify: bool | str | Path) -> ssl.SSLContext:
        if verify is False:
            return pki.unverified_client_context()
        cafile = self.cluster.ca_cert if verify is True else Path(verify)
        return ssl.create_default_context(cafile=str(cafile))


class Namespace(Client):
    """A namespace a test created (``Cluster.create_namespace``); ``delete()`` or leaving
    its ``with`` block removes it and everything in it."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self._cluster = cluster
        self.namespace = name

    @property
    def cluster(self) -> Cluster:
        return self._cluster

    @property
    def name(self) -> str:
        return self.namespace

    def delete_namespace(self) -> None:
        """Delete the namespace without waiting for its objects to be gone."""
        self.cluster.kubectl("delete", "namespace", self.namespace, "--wait=false",
                                 "--ignore-not-found", check=False)

    def __enter__(self) -> Namespace:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.delete_namespace()


def new_namespace(cluster: Cluster, prefix: str = "test") -> Namespace:
    """Create a namespace with a unique name starting with ``prefix``."""
    stem = "".join(c if c.isalnum() else "-" for c in prefix.lower()).strip("-")[:40] or "test"
    name = f"{stem}-{secrets.token_hex(3)}"
    done = cluster.kubectl("create", "namespace", name, check=False)
    if done.returncode != 0:
        raise KubeloopError(f"cannot create namespace {name}: {done.stderr.strip()}")
    return Namespace(cluster, name)


class AsyncClient:
    """``client.aio``: every method of the wrapped client as a coroutine, run in a worker
    thread so that an event loop (pytest-asyncio, an aiohttp test) keeps turning."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._client, name)
        if not callable(method):
            raise AttributeError(f"{type(self._client).__name__}.{name} is not a method")

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


def _documents(manifest: Manifest) -> list[dict]:
    if isinstance(manifest, Path):
        manifest = manifest.read_text()
    elif isinstance(manifest, str) and "\n" not in manifest and Path(manifest).is_file():
        manifest = Path(manifest).read_text()
    if isinstance(manifest, str):
        try:
            loaded = [d for d in yaml.safe_load_all(manifest) if d]
        except yaml.YAMLError as e:
            raise KubeloopError(f"apply: the manifest is not valid YAML: {e}") from None
        return loaded
    if isinstance(manifest, Mapping):
        return [dict(manifest)]
    return [dict(m) for m in manifest]


def _rolled_out(deployment: dict) -> bool:
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    if not spec or status.get("observedGeneration", 0) < deployment["metadata"].get(
            "generation", 0):
        return False
    replicas = spec.get("replicas", 1)
    return (status.get("updatedReplicas", 0) >= replicas
            and status.get("availableReplicas", 0) >= replicas
            and status.get("replicas", 0) <= replicas)


def _deployment_state(deployment: dict) -> str:
    if not deployment:
        return "it does not exist"
    status = deployment.get("status", {})
    conditions = "; ".join(f"{c.get('type')}={c.get('status')} ({c.get('message', '')})"
                           for c in status.get("conditions", []))
    return (f"{status.get('availableReplicas', 0)}/{deployment['spec'].get('replicas', 1)} "
            f"available, {status.get('updatedReplicas', 0)} updated; {conditions}")
