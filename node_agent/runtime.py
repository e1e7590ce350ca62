"""The pod runtime of a node agent: one PodRuntime per pod bound to the node. It gives the
pod its IP, starts each container through the emulated images, runs its probes, restarts
containers by the pod's restartPolicy, and reports the pod status like kubelet does."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from node_agent import environment, images, toolbox
from node_agent.containers import (Admission, Console, ContainerContext, ContainerHandle,
                                   Directory, Identity, LogBuffer, Resolver, Running,
                                   Streams)
from node_agent.toolbox.fs import FileSystem
from node_agent.probes import ProbeSpec, Tracker, check

log = logging.getLogger("node_agent.runtime")

BACKOFF_START = 1.0  # seconds before the first restart of a crashed container
BACKOFF_MAX = 60.0
CONFIG_RETRY = 1.0  # seconds between attempts to configure a container (missing ConfigMap)


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class NodeInfo:
    name: str
    ip: str
    cluster_domain: str
    dns_ip: str
    service_cidr: str


@dataclass
class ContainerState:
    spec: dict
    context: ContainerContext
    running: Running | None = None
    restarts: int = 0
    state: dict = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict = field(default_factory=dict)
    readiness: Tracker | None = None
    liveness: Tracker | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    files: FileSystem | None = None  # made on first use: most containers never need one
    config_error: str = ""  # why the container cannot be configured yet (a missing ConfigMap)
    previous_log: LogBuffer | None = None

    def __post_init__(self) -> None:
        self.context.run = self.run

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def console(self) -> Console:
        return self.context.console

    async def run(self, argv: list[str], identity: Identity, streams: Streams) -> int:
        """A process of this container (main command, exec, exec probe): all of them see
        the same files, as in a real container's writable layer."""
        if self.files is None:
            self.files = toolbox.filesystem(self.context.identity)
        return await toolbox.run(argv, identity, streams, fs=self.files)

    def restarted(self) -> None:
        """A new instance of the container: fresh files, stdin and log (the last one stays
        for `kubectl logs --previous`), one more restart."""
        self.restarts += 1
        self.files = None
        self.console.reopen()
        self.previous_log, self.console.log = self.console.log, LogBuffer()
        self.previous_log.close()

    @property
    def ready(self) -> bool:
        return "running" in self.state and (self.readiness is None or self.readiness.passing)


EventSink = Callable[["PodRuntime", str, str, str, str], None]
"""(pod, type, reason, message, container name): a kubelet Event about a container."""


class PodRuntime:
    def __init__(self, pod: dict, node: NodeInfo, ip: str, directory: Directory,
                 report: Callable[[PodRuntime], Awaitable[None]],
                 lookup: environment.Lookup | None = None,
                 events: EventSink | None = None,
                 admission: Admission | None = None) -> None:
        self.pod = pod
        self.node = node
        self.ip = ip
        self.directory = directory
        self._report = report
        self._lookup = lookup  # ConfigMaps and Secrets of env sources
        self._events = events
        self._admission = admission  # NetworkPolicy at this pod's edges
        meta = pod["metadata"]
        self.namespace, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.started_at = now_rfc3339()
        self.init_containers: dict[str, ContainerState] = {}
        self.containers: dict[str, ContainerState] = {}
        self.stopping = False
        self.identity = self._identity()

    # --- identity and environment ----------------------------------------------------
    def _identity(self) -> Identity:
        domain = self.node.cluster_domain
        search = (f"{self.namespace}.svc.{domain}", f"svc.{domain}", domain)
        spec = self.pod.get("spec", {})
        hostname = spec.get("hostname") or self.name
        hosts = tuple((a.get("ip", ""), "\t".join(a.get("hostnames") or []))
                      for a in spec.get("hostAliases") or [])
        return Identity(self.ip, self.name, self.namespace, hostname,
                        Resolver(self.node.dns_ip, search), {}, hosts, self._admission)

    def _pod_for_env(self) -> dict:
        pod = dict(self.pod)
        pod["status"] = {**(pod.get("status") or {}), "podIP": self.ip,
                         "podIPs": [{"ip": self.ip}], "hostIP": self.node.ip,
                         "hostIPs": [{"ip": self.node.ip}]}
        return pod

    def _context(self, spec: dict, console: Console) -> tuple[ContainerContext, str]:
        """The container's start context, and why it cannot start yet ("" when it can)."""
        kube_ip = str(ipaddress.ip_network(self.node.service_cidr)[1])
        service_env = environment.service_env("kubernetes", kube_ip, 443)
        try:
            env, error = environment.container_env(self._pod_for_env(), spec, service_env,
                                                   self._lookup), ""
        except environment.ConfigError as e:
            env, error = {}, str(e)
        command, args = environment.command_line(spec, env)
        identity = replace(self.identity, env=env)
        return ContainerContext(identity, spec["name"], spec.get("image", ""), command, args,
                                spec.get("ports") or [], console, bool(spec.get("tty"))), error

    # --- lifecycle ---------------------------------------------------------------------
    def _new_container(self, spec: dict) -> ContainerState:
        console = Console(LogBuffer(), stdin=bool(spec.get("stdin")),
                          stdin_once=bool(spec.get("stdinOnce")))
        context, error = self._context(spec, console)
        return ContainerState(spec, context, config_error=error)

    @property
    def every_container(self) -> list[ContainerState]:
        return [*self.init_containers.values(), *self.containers.values()]

    async def start(self) -> None:
        spec = self.pod["spec"]
        for c_spec in spec.get("initContainers") or []:
            self.init_containers[c_spec["name"]] = self._new_container(c_spec)
        for c_spec in spec.get("containers") or []:
            c = self.containers[c_spec["name"]] = self._new_container(c_spec)
            if self.init_containers:
                c.state = {"waiting": {"reason": "PodInitializing"}}
        self._publish()
        if self.init_containers:
            await self._report(self)
            if not await self._initialize():
                return
        await asyncio.gather(*(self._start_container(c) for c in self.containers.values()))
        await self._report(self)

    async def _initialize(self) -> bool:
        """Init containers in order, each run to completion (restarted on failure unless
        the pod's restartPolicy is Never); a sidecar (restartPolicy Always) is started and
        left running. False when the pod failed or is being stopped."""
        for c in self.init_containers.values():
            if c.spec.get("restartPolicy") == "Always":
                await self._start_container(c)
                await self._report(self)
                continue
            while not self.stopping:
                code = await self._run_to_completion(c)
                await self._report(self)
                if code == 0:
                    break
                if self.pod["spec"].get("restartPolicy", "Always") == "Never":
                    return False
                await self._back_off(c)
            if self.stopping:
                return False
        return True

    async def _run_to_completion(self, c: ContainerState) -> int:
        while c.config_error and not self.stopping:
            context, c.config_error = self._context(c.spec, c.console)
            if not c.config_error:
                c.context, c.context.run = context, c.run
                self._publish()
                break
            c.state = {"waiting": {"reason": "CreateContainerConfigError",
                                   "message": c.config_error}}
            self._event(c, "Warning", "Failed", f"Error: {c.config_error}")
            await self._report(self)
            await asyncio.sleep(CONFIG_RETRY)
        started = now_rfc3339()
        try:
            running = await images.start(c.context)
        except Exception as e:  # as for a main container: a failed start, not a crash
            self._event(c, "Warning", "Failed", f"Error: {e}")
            c.state = {"terminated": {"exitCode": 128, "reason": "StartError",
                                      "message": str(e), "startedAt": None,
                                      "finishedAt": now_rfc3339()}}
            return 128
        c.running = running
        c.state = {"running": {"startedAt": started}}
        self._started_events(c)
        await self._report(self)
        code = await running.exited
        c.running = None
        c.console.close()
        c.console.log.close()
        c.state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0
                                  else "Error", "startedAt": started,
                                  "finishedAt": now_rfc3339(),
                                  "containerID": self._container_id(c)}}
        return code

    def _publish(self) -> None:
        """Make the containers reachable for logs, exec, attach and port-forward."""
        self.directory.put(self.namespace, self.name, {
            c.name: ContainerHandle(c.context.identity, c.name, c.console.log, c.console, c.run,
                                    c.previous_log)
            for c in [*self.containers.values(), *self.init_containers.values()]})

    async def _start_container(self, c: ContainerState) -> None:
        if c.config_error:
            context, c.config_error = self._context(c.spec, c.console)
            if c.config_error:  # kubelet retries on its next sync
                c.state = {"waiting": {"reason": "CreateContainerConfigError",
                                       "message": c.config_error}}
                self._event(c, "Warning", "Failed", f"Error: {c.config_error}")
                self._spawn(c, self._retry_config(c))
                return
            c.context = context
            c.context.run = c.run
            self._publish()
        try:
            c.running = await images.start(c.context)
        except Exception as e:  # an image that cannot start is a failed container, not a crash
            log.warning("%s/%s: container %s failed to start: %s", self.namespace, self.name,
                        c.name, e)
            self._event(c, "Warning", "Failed", f"Error: {e}")
            c.state = {"terminated": {"exitCode": 128, "reason": "StartError",
                                      "message": str(e), "startedAt": None,
                                      "finishedAt": now_rfc3339()}}
            self._spawn(c, self._after_exit(c, 128))
            return
        c.state = {"running": {"startedAt": now_rfc3339()}}
        self._started_events(c)
        if c.spec.get("readinessProbe"):
            c.readiness = Tracker(ProbeSpec.parse(c.spec["readinessProbe"]), passing=False)
            self._spawn(c, self._probe(c, c.readiness, "Readiness"))
        if c.spec.get("livenessProbe"):
            c.liveness = Tracker(ProbeSpec.parse(c.spec["livenessProbe"]), passing=True)
            self._spawn(c, self._probe(c, c.liveness, "Liveness"))
        running = c.running
        self._spawn(c, self._watch_exit(c, running))

    async def _retry_config(self, c: ContainerState) -> None:
        await asyncio.sleep(CONFIG_RETRY)
        if not self.stopping:
            await self._start_container(c)
            await self._report(self)

    def _started_events(self, c: ContainerState) -> None:
        self._event(c, "Normal", "Pulled",
                    f'Container image "{c.context.image}" already present on machine')
        self._event(c, "Normal", "Created", f"Created container: {c.name}")
        self._event(c, "Normal", "Started", f"Started container {c.name}")

    def _event(self, c: ContainerState, etype: str, reason: str, message: str) -> None:
        if self._events is not None:
            self._events(self, etype, reason, message, c.name)

    def _spawn(self, c: ContainerState, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        c.tasks = [t for t in c.tasks if not t.done()]
        c.tasks.append(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s/%s: container task failed: %r", self.namespace, self.name,
                      task.exception(), exc_info=task.exception())

    async def _watch_exit(self, c: ContainerState, running: Running) -> None:
        code = await running.exited
        if self.stopping or c.running is not running:
            return
        await self._after_exit(c, code)

    async def _after_exit(self, c: ContainerState, code: int) -> None:
        c.console.close()
        c.console.log.close()  # `kubectl logs -f` ends with the container
        started = c.state.get("running", {}).get("startedAt")
        reason = "Completed" if code == 0 else c.state.get("terminated", {}).get("reason", "Error")
        c.state = {"terminated": {"exitCode": code, "reason": reason, "startedAt": started,
                                  "finishedAt": now_rfc3339(),
                                  "containerID": self._container_id(c)}}
        c.running = None
        policy = c.spec.get("restartPolicy") or self.pod["spec"].get("restartPolicy", "Always")
        if policy == "Never" or (policy == "OnFailure" and code == 0):
            await self._report(self)
            return
        await self._back_off(c)
        if not self.stopping:
            await self._start_container(c)
            await self._report(self)

    async def _back_off(self, c: ContainerState) -> None:
        """CrashLoopBackOff: wait (doubling per restart), then a new instance."""
        c.last_state, delay = c.state, min(BACKOFF_START * 2 ** c.restarts, BACKOFF_MAX)
        c.state = {"waiting": {"reason": "CrashLoopBackOff", "message": (
            f"back-off {delay:g}s restarting failed container={c.name} "
            f"pod={self.name}_{self.namespace}({self.uid})")}}
        self._event(c, "Warning", "BackOff", f"Back-off restarting failed container {c.name} "
                    f"in pod {self.name}_{self.namespace}({self.uid})")
        await self._report(self)
        await asyncio.sleep(delay)
        if not self.stopping:
            c.restarted()
            self._publish()

    async def _probe(self, c: ContainerState, tracker: Tracker, kind: str) -> None:
        spec = tracker.spec
        await asyncio.sleep(spec.initial_delay)
        while not self.stopping and c.running is not None:
            ok, message = await check(spec, c.context.identity, c.spec, c.run)
            if not ok:
                log.debug("%s/%s: %s probe of %s failed: %s", self.namespace, self.name, kind,
                          c.name, message)
                self._event(c, "Warning", "Unhealthy", f"{kind} probe failed: {message}")
            if tracker.record(ok):
                if kind == "Liveness" and not tracker.passing:
                    self._event(c, "Normal", "Killing", f"Container {c.name} failed liveness "
                                "probe, will be restarted")
                    await self._restart_for_liveness(c)
                    return
                await self._report(self)
            await asyncio.sleep(spec.period)

    async def _restart_for_liveness(self, c: ContainerState) -> None:
        running, c.running = c.running, None
        for task in c.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        c.tasks = [t for t in c.tasks if t is asyncio.current_task()]
        if running is not None:
            await running.stop()
        c.last_state = {"terminated": {"exitCode": 137, "reason": "Error",
                                       "startedAt": c.state.get("running", {}).get("startedAt"),
                                       "finishedAt": now_rfc3339(),
                                       "containerID": self._container_id(c)}}
        c.console.close()
        c.restarted()
        self._publish()
        await self._start_container(c)
        await self._report(self)

    async def stop(self) -> None:
        self.stopping = True
        self.directory.remove(self.namespace, self.name)
        for c in self.every_container:
            for task in c.tasks:
                task.cancel()
            running, c.running = c.running, None
            if running is not None:
                self._event(c, "Normal", "Killing", f"Stopping container {c.name}")
                await running.stop()
            c.console.close()
            c.console.log.close()

    # --- status --------------------------------------------------------------------------
    def _container_id(self, c: ContainerState) -> str:
        return f"kubeloop://{self.uid[:8]}-{c.name}-{c.restarts}"

    def _container_status(self, c: ContainerState, ready: bool) -> dict[str, Any]:
        image = c.spec.get("image", "")
        entry: dict[str, Any] = {
            "name": c.name, "state": c.state, "lastState": c.last_state, "ready": ready,
            "restartCount": c.restarts, "image": image, "imageID": f"kubeloop.local/{image}",
            "started": "running" in c.state}
        if "waiting" not in c.state:
            entry["containerID"] = self._container_id(c)
        return entry

    def _initialized(self) -> bool:
        """Every init container completed (or, for a sidecar, runs)."""
        return all(c.state.get("terminated", {}).get("exitCode") == 0 or
                   (c.spec.get("restartPolicy") == "Always" and "running" in c.state)
                   for c in self.init_containers.values())

    def status(self) -> dict:
        current = self.pod.get("status") or {}
        now = now_rfc3339()
        statuses = [self._container_status(c, c.ready) for c in self.containers.values()]
        init_statuses = [self._container_status(
            c, c.ready if c.spec.get("restartPolicy") == "Always"
            else c.state.get("terminated", {}).get("exitCode") == 0)
            for c in self.init_containers.values()]
        initialized = self._initialized()
        all_ready = bool(statuses) and all(s["ready"] for s in statuses)
        terminated = [s["state"]["terminated"] for s in statuses if "terminated" in s["state"]]
        policy = self.pod["spec"].get("restartPolicy", "Always")
        init_failed = policy == "Never" and any(
            s["state"].get("terminated", {}).get("exitCode", 0) != 0 for s in init_statuses)
        if init_failed:
            phase = "Failed"
        elif not initialized:
            phase = "Pending"
        elif statuses and len(terminated) == len(statuses) and policy != "Always":
            phase = "Succeeded" if all(t["exitCode"] == 0 for t in terminated) else "Failed"
        elif any("running" in s["state"] or "terminated" in s["state"] or
                 s["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff"
                 for s in statuses):
            phase = "Running"
        else:
            phase = "Pending"
        conditions = {c["type"]: c for c in current.get("conditions") or []}

        def cond(ctype: str, ok: bool, reason: str = "") -> dict:
            status = "True" if ok else "False"
            old = conditions.get(ctype)
            out = {"type": ctype, "status": status, "lastProbeTime": None,
                   "lastTransitionTime": old["lastTransitionTime"]
                   if old and old.get("status") == status else now}
            if not ok and reason:
                out["reason"] = reason
            return out

        not_ready = "PodCompleted" if phase in ("Succeeded", "Failed") else \
            "ContainersNotReady" if initialized else "ContainersNotInitialized"
        new_conditions = [
            cond("PodReadyToStartContainers", True),
            cond("Initialized", initialized, "ContainersNotInitialized"),
            cond("Ready", all_ready, not_ready), cond("ContainersReady", all_ready, not_ready)]
        if "PodScheduled" in conditions:
            new_conditions.append(conditions["PodScheduled"])
        status: dict[str, Any] = {
            "phase": phase, "conditions": new_conditions,
            "hostIP": self.node.ip, "hostIPs": [{"ip": self.node.ip}],
            "podIP": self.ip, "podIPs": [{"ip": self.ip}], "startTime": self.started_at,
            "containerStatuses": statuses,
        }
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        if "qosClass" in current:
            status["qosClass"] = current["qosClass"]
        return status
