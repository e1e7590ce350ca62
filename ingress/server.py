"""The ingress controller process: the five kinds it routes on arrive over the apiserver's
gRPC watch (kubeloop/follow.py) and feed the ``IngressController``, which serves HTTP and
HTTPS on the cluster's ingress address (``network.ingress_ip``, ports 80 and 443). Back to
the apiserver go the Ingresses' ``status.loadBalancer`` (gRPC UpdateStatus), their Sync
and Warning Events (gRPC RecordEvent) and cert-manager's Secrets (the REST API with the
admin token: the agents' gRPC contract creates nothing, and a Secret is an ordinary
create-or-replace that REST already validates). When the apiserver goes away the last
known routing keeps serving; the watches reconnect with backoff and resync."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import ssl
import sys
from collections.abc import Callable
from typing import Any

import aiohttp
import grpc
import orjson

from ingress.classes import Classes
from ingress.controller import (ENDPOINT_SLICES, INGRESS_CLASSES, INGRESSES, KINDS, SECRETS,
                                SERVICES, ControllerConfig, IngressController)
from ingress.routing import Problem, object_key
from ingress.status import (COMPONENT, SYNC_MESSAGE, SYNC_REASON, problem_event,
                            status_updates)
from kubeloop import grpc_client, logs, overlay
from kubeloop.addons import INGRESS_CONTROLLER, INGRESS_LABELS, INGRESS_NAMESPACE, label_selector
from kubeloop.config import ClusterConfig
from kubeloop.follow import FirstSync, Follower, follow
from kubeloop.overlay.follower import NODES, RouteFollower
from kubeloop.tasks import TaskGroup, until_first
from proto import kubeloop_pb2 as pb

log = logging.getLogger(__name__)

HTTP_PORT = 80
HTTPS_PORT = 443
MAX_BACKOFF = 2.0  # seconds between attempts to write a Secret, at most
EVENT_BACKLOG = 1000  # Events waiting to be sent; more are dropped (best effort)
SECRET_BACKLOG = 100
FIRST_SYNC_ORDER = (SECRETS, ENDPOINT_SLICES, SERVICES, INGRESS_CLASSES, INGRESSES)
# gRPC codes that say "this object, not the connection": logged, the session goes on.
OBJECT_ERRORS = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
                 grpc.StatusCode.INVALID_ARGUMENT)


class StatusPublisher:
    """Follows Ingresses and IngressClasses, writes our address into the status of the
    Ingresses we serve (awaited inside the watch, so the echo of a write is seen after
    the write) and records a Sync Event for each version of them we take in."""

    def __init__(self, stub: Any, config: ControllerConfig, address: str,
                 event: Callable[[str, str, str, str, str], None]) -> None:
        self.stub = stub
        self.config = config
        self.address = address
        self.event = event  # (namespace, name, type, reason, message)
        self.ingresses: dict[tuple[str, str], dict] = {}
        self.classes: dict[tuple[str, str], dict] = {}

    def _table(self, kind: str) -> dict[tuple[str, str], dict]:
        return self.ingresses if kind == INGRESSES else self.classes

    async def resync(self, kind: str, objects: list[dict]) -> None:
        self._table(kind).clear()
        self._table(kind).update((object_key(o), o) for o in objects)
        if kind == INGRESSES:
            self._synced(objects)
        await self._publish(self.ingresses.values())

    async def update(self, kind: str, obj: dict) -> None:
        self._table(kind)[object_key(obj)] = obj
        if kind == INGRESSES:
            self._synced([obj])
        await self._publish(self.ingresses.values() if kind == INGRESS_CLASSES else [obj])

    async def delete(self, kind: str, obj: dict) -> None:
        self._table(kind).pop(object_key(obj), None)
        if kind == INGRESS_CLASSES:
            await self._publish(self.ingresses.values())

    def _classes(self) -> Classes:
        return Classes.of(self.classes.values(), class_name=self.config.class_name,
                          controller=self.config.controller)

    def _synced(self, ingresses: list[dict]) -> None:
        classes = self._classes()
        for ingress in ingresses:
            if classes.takes(ingress):
                namespace, name = object_key(ingress)
                self.event(namespace, name, "Normal", SYNC_REASON, SYNC_MESSAGE)

    async def _publish(self, ingresses: Any) -> None:
        for ingress, status in list(status_updates(ingresses, self._classes(),
                                                   self.address)):
            meta = ingress["metadata"]
            try:
                await self.stub.UpdateStatus(pb.UpdateStatusRequest(
                    resource=INGRESSES, namespace=meta.get("namespace", ""),
                    name=meta["name"], uid=meta.get("uid", ""), status=orjson.dumps(status)))
            except grpc.aio.AioRpcError as e:
                if e.code() not in OBJECT_ERRORS:
                    raise
                log.info("status of Ingress %s/%s not written: %s", meta.get("namespace"),
                         meta["name"], e.details())


class OwnPod:
    """Follows the controller's own pod (the add-on Deployment's, in its namespace) and
    hands its IP to ``use``: backends see connections from that pod, as from a real
    ingress-nginx pod, so NetworkPolicies that admit the ingress-nginx namespace or pods
    apply. "" while no such pod runs (connections then come from the ingress address)."""

    def __init__(self, use: Callable[[str], None]) -> None:
        self.use = use
        self.pods: dict[tuple[str, str], dict] = {}
        self.ip = ""

    def resync(self, kind: str, objects: list[dict]) -> None:
        self.pods = {object_key(o): o for o in objects}
        self._choose()

    def update(self, kind: str, obj: dict) -> None:
        self.pods[object_key(obj)] = obj
        self._choose()

    def delete(self, kind: str, obj: dict) -> None:
        self.pods.pop(object_key(obj), None)
        self._choose()

    def _choose(self) -> None:
        running = sorted(
            (key, pod["status"]["podIP"]) for key, pod in self.pods.items()
            if pod.get("status", {}).get("phase") == "Running"
            and pod["status"].get("podIP") and not pod["metadata"].get("deletionTimestamp"))
        ip = running[0][1] if running else ""
        if ip != self.ip:
            self.ip = ip
            self.use(ip)
            if ip:
                log.info("connecting to backends from pod %s/%s (%s)", *running[0][0], ip)
            else:
                log.info("no %s pod runs: connecting to backends from the ingress address",
                         INGRESS_CONTROLLER)


class SecretWriter:
    """Creates or replaces cert-manager's Secrets through the REST API, retrying while
    the apiserver is away."""

    def __init__(self, config: ClusterConfig) -> None:
        self.url = config.network.api_url
        self.token = config.admin_token_file.read_text().strip()
        self.ssl = ssl.create_default_context(cafile=str(config.ca_cert))
        self.queue: asyncio.Queue[dict] = asyncio.Queue(SECRET_BACKLOG)

    def submit(self, secret: dict) -> None:
        try:
            self.queue.put_nowait(secret)
        except asyncio.QueueFull:
            log.error("dropping Secret %s/%s: %d Secrets already wait for the apiserver",
                      secret["metadata"].get("namespace"), secret["metadata"]["name"],
                      SECRET_BACKLOG)

    async def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            while True:
                secret = await self.queue.get()
                backoff = 0.1
                while not await self._write(session, secret):
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)

    async def _write(self, session: aiohttp.ClientSession, secret: dict) -> bool:
        """One attempt; False to try again (the apiserver is unreachable)."""
        namespace, name = secret["metadata"]["namespace"], secret["metadata"]["name"]
        collection = f"{self.url}/api/v1/namespaces/{namespace}/secrets"
        try:
            async with session.post(collection, data=orjson.dumps(secret), ssl=self.ssl,
                                    headers={"Content-Type": "application/json"}) as reply:
                if reply.status == 409:
                    async with session.put(f"{collection}/{name}", data=orjson.dumps(secret),
                                           ssl=self.ssl,
                                           headers={"Content-Type": "application/json"}
                                           ) as reply:
                        return _written(reply.status, namespace, name, await reply.text())
                return _written(reply.status, namespace, name, await reply.text())
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            log.warning("Secret %s/%s: apiserver unreachable (%s); retrying", namespace,
                        name, e)
            return False


def _written(status: int, namespace: str, name: str, body: str) -> bool:
    if status < 300:
        log.info("Secret %s/%s written (cert-manager annotation)", namespace, name)
    elif status >= 500:
        log.warning("Secret %s/%s: apiserver answered %d; retrying", namespace, name, status)
        return False
    else:
        log.error("Secret %s/%s rejected (%d): %s", namespace, name, status, body[:300])
    return True


class IngressProcess:
    """One ingress controller process: listeners, watches, and what goes back.
    ``address``: where it listens and what the Ingresses' status shows (default: the
    cluster's ingress address; another when it runs on a host of its own)."""

    def __init__(self, config: ClusterConfig, address: str | None = None) -> None:
        self.config = config
        self.address = address or config.network.ingress_ip
        self.tasks = TaskGroup("ingress")
        self.events: asyncio.Queue[pb.EventRequest] = asyncio.Queue(EVENT_BACKLOG)
        self.secrets = SecretWriter(config)
        self.controller = IngressController(
            ControllerConfig(), on_problem=self._problem, on_secret=self.secrets.submit,
            ca=(config.ca_cert.read_bytes(), config.ca_key.read_bytes()),
            access_log=_access_log)
        self.channel, self.stub = grpc_client.connect(config)
        publisher = StatusPublisher(self.stub, self.controller.config, self.address,
                                    self._event)
        # Neither judges before every list it needs is in: the Services and slices before
        # the Ingresses naming them, the IngressClasses before telling which are ours.
        routes = FirstSync(self.controller, FIRST_SYNC_ORDER)
        statuses = FirstSync(publisher, (INGRESS_CLASSES, INGRESSES))
        self.followers: dict[str, list[Follower]] = {kind: [routes] for kind in KINDS}
        self.followers[INGRESSES].append(statuses)
        self.followers[INGRESS_CLASSES].append(statuses)
        self.own_pod = OwnPod(self._connect_from)
        # Backends on nodes that do not share this loopback: through their tunnels.
        self.dialer = overlay.Dialer(config.overlay)
        overlay.install(self.dialer)
        if config.overlay != overlay.Mode.SHARED:
            self.followers[NODES] = [RouteFollower(self.dialer)]

    async def start(self) -> None:
        """Listens; OSError when the address or ports cannot be had."""
        await self.controller.start((self.address, HTTP_PORT), (self.address, HTTPS_PORT))
        self.tasks.spawn("events", self._send_events())
        self.tasks.spawn("secrets", self.secrets.run())

    async def run(self, stop: asyncio.Event) -> None:
        await grpc_client.reconnecting(lambda: self._session(stop), stop,
                                       "serving the last known routes")

    async def _session(self, stop: asyncio.Event) -> None:
        """One connected period: every watch until one fails or we are asked to stop."""
        own_pod = follow(self.stub, "pods", [self.own_pod], namespace=INGRESS_NAMESPACE,
                         label_selector=label_selector(INGRESS_LABELS))
        await until_first([own_pod, *(follow(self.stub, kind, followers)
                                      for kind, followers in self.followers.items())], stop)

    def _connect_from(self, ip: str) -> None:
        self.controller.proxy.source_ip = ip

    def _problem(self, problem: Problem) -> None:
        event = problem_event(problem)
        if event is not None:
            namespace, name, reason, message = event
            self._event(namespace, name, "Warning", reason, message)

    def _event(self, namespace: str, name: str, type_: str, reason: str, message: str
               ) -> None:
        """Queues an Event on the Ingress ``namespace/name``."""
        request = pb.EventRequest(
            object=pb.ObjectRef(resource=INGRESSES, namespace=namespace, name=name),
            type=type_, reason=reason, message=message, component=COMPONENT,
            node_name=INGRESS_CONTROLLER)
        try:
            self.events.put_nowait(request)
        except asyncio.QueueFull:
            log.warning("dropping a Warning Event for Ingress %s/%s: backlog full",
                        namespace, name)

    async def _send_events(self) -> None:
        """Best effort, as a kubelet's recorder: an Event that cannot be sent is dropped."""
        while True:
            request = await self.events.get()
            try:
                await self.stub.RecordEvent(request, timeout=5, wait_for_ready=True)
            except grpc.aio.AioRpcError as e:
                log.info("Event for Ingress %s/%s not recorded: %s", request.object.namespace,
                         request.object.name, e.details())

    async def close(self) -> None:
        await self.controller.close()
        await self.tasks.close()
        await self.dialer.close()
        await self.channel.close()


def _access_log(lines: list[str]) -> None:
    sys.stdout.write("\n".join(lines) + "\n")


def bind_hint(code: int | None) -> str:
    """How to fix a failed bind of the ingress ports."""
    if code == errno.EADDRINUSE:
        return ("Another process listens there: find it with `ss -ltnp` (an ingress of an "
                "older cluster on this slot?) and stop it")
    if code == errno.EACCES:
        return ("Ports below 1024 need root or CAP_NET_BIND_SERVICE: run kubeloop as root, "
                f"or `sudo setcap cap_net_bind_service=+ep $(readlink -f {sys.executable})`")
    return "The address must be on the loopback (all of 127.0.0.0/8 is, on Linux)"


async def serve(config: ClusterConfig, address: str | None = None) -> int:
    """The process's life: listen (on ``address``, see IngressProcess), follow until
    SIGTERM/SIGINT, close. The exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logs.dump_tasks_on_sigusr1()
    process = IngressProcess(config, address)
    try:
        await process.start()
    except OSError as e:
        log.error("cannot listen on %s ports %d and %d: %s. %s", process.address, HTTP_PORT,
                  HTTPS_PORT, e.strerror or e, bind_hint(e.errno))
        await process.close()
        if e.errno != errno.EACCES:
            return 1
        # Not privileged: the rest of the cluster still works; stay up, idle, so that
        # `kubeloop up` succeeds and `kubeloop status` points here.
        await stop.wait()
    else:
        try:
            await process.run(stop)
        finally:
            await process.close()
    log.info("stopped")
    return 0

