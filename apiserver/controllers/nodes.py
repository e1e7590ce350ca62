"""Node lifecycle: heartbeats (from node agents over gRPC) keep nodes Ready; a node silent
for the grace period becomes NotReady (Ready=Unknown, unreachable taints), and after the
eviction timeout its pods are deleted so their controllers recreate them elsewhere.

After an apiserver (re)start, the nodes it already knows get a fresh grace period from
when this controller starts running, plus the time their agents may take to reconnect:
an agent backs off up to 2 s (with jitter) while the apiserver is away, so with a short
grace period its nodes would turn NotReady, and lose their pods, for the outage alone."""

from __future__ import annotations

import asyncio
import logging
import time

from apiserver import registry
from apiserver import status as errors
from apiserver.events import Recorder
from apiserver.resources import require
from kubeloop.config import Timing

log = logging.getLogger(__name__)

NODES = require("", "v1", "nodes")
LEASES = require("coordination.k8s.io", "v1", "leases")
NODE_LEASE_NS = "kube-node-lease"
UNREACHABLE = "node.kubernetes.io/unreachable"
COMPONENT = "node-controller"
STATUS_REFRESH = 10.0  # seconds between lastHeartbeatTime writes for a healthy node
RECONNECT_ALLOWANCE = 3.0  # seconds: a node agent's longest reconnect backoff, jittered


def silence(now: float, seen: float | None, started: float, known_at_start: bool) -> float:
    """Seconds a node counts as silent: since its last heartbeat, or for a node known
    before this apiserver started and not heard from since, since the start less the
    agents' reconnect allowance. Negative while it is still in that allowance."""
    if seen is not None:
        return now - seen
    if known_at_start:
        return now - started - RECONNECT_ALLOWANCE
    return 0.0


class NodeLifecycle:
    def __init__(self, reg: registry.Registry, recorder: Recorder, timing: Timing) -> None:
        self.registry = reg
        self.recorder = recorder
        self.timing = timing
        self.started = time.monotonic()  # reset when run() starts
        # The apiserver may have restarted: these nodes get a fresh grace period.
        self.known_at_start = {s.obj["metadata"]["name"] for s in reg.store.iter(NODES.key)}
        self.last_seen: dict[str, float] = {}
        self._written: dict[str, float] = {}
        self._not_ready_since: dict[str, float] = {}

    async def heartbeat(self, name: str) -> bool:
        """Record a heartbeat; returns False if the node object does not exist."""
        now = time.monotonic()
        self.last_seen[name] = now
        node = self.registry.store.get(NODES.key, "", name)
        if node is None:
            return False
        ready = _ready_status(node.obj)
        if ready != "True" or now - self._written.get(name, 0) >= STATUS_REFRESH:
            await self._renew_lease(node.obj)
            await self._set_ready(name, True)
            self._written[name] = now
            self._not_ready_since.pop(name, None)
        return True

    async def _renew_lease(self, node: dict) -> None:
        """The node's Lease in kube-node-lease, as a kubelet keeps it (kubectl describe
        node shows it); renewed with the node status, not on every heartbeat."""
        name = node["metadata"]["name"]
        renew = self.registry.clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        def change(lease: dict) -> bool:
            lease["spec"]["renewTime"] = renew
            return True

        if await self.registry.mutate(LEASES, NODE_LEASE_NS, name, change) is None:
            try:
                await self.registry.create(LEASES, NODE_LEASE_NS, {
                    "metadata": {"name": name, "ownerReferences": [{
                        "apiVersion": "v1", "kind": "Node", "name": name,
                        "uid": node["metadata"]["uid"]}]},
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                             "renewTime": renew}})
            except errors.ApiError as e:
                if e.reason != "AlreadyExists":
                    raise

    async def run(self) -> None:
        self.started = time.monotonic()  # the apiserver starts serving now
        while True:
            await asyncio.sleep(min(1.0, self.timing.heartbeat_interval))
            await self.check(time.monotonic())

    async def check(self, now: float) -> None:
        for stored in self.registry.store.iter(NODES.key):
            name = stored.obj["metadata"]["name"]
            known = name in self.known_at_start
            if name not in self.last_seen and not known:
                self.last_seen[name] = now  # a new node (not from an agent): grace from now
            silent = silence(now, self.last_seen.get(name), self.started, known)
            if silent <= self.timing.node_grace_period:
                continue
            if _ready_status(stored.obj) == "True":
                log.warning("node %s: no heartbeat for %.1fs; marking it NotReady",
                            name, silent)
                await self._set_ready(name, False)
                self._not_ready_since[name] = now
                await self.recorder.record(stored.obj, "Normal", "NodeNotReady",
                                           f"Node {name} status is now: NodeNotReady", COMPONENT)
            since = self._not_ready_since.setdefault(name, now)
            if now - since >= self.timing.pod_eviction_timeout:
                await self._evict(name)

    async def _evict(self, node: str) -> None:
        for stored in self.registry.store.iter(registry.PODS.key):
            pod = stored.obj
            if pod["spec"].get("nodeName") != node:
                continue
            meta = pod["metadata"]
            log.info("node %s: deleting pod %s/%s (node unreachable)", node, meta["namespace"],
                     meta["name"])
            await self.recorder.record(pod, "Normal", "TaintManagerEviction",
                                       f"Marking for deletion Pod {meta['namespace']}/"
                                       f"{meta['name']}", "taint-eviction-controller")
            try:
                await self.registry.delete(registry.PODS, meta["namespace"], meta["name"],
                                           {"gracePeriodSeconds": 0})
            except Exception as e:  # the pod may be gone already
                log.debug("evicting %s: %s", meta["name"], e)

    async def _set_ready(self, name: str, ready: bool) -> None:
        now = registry.rfc3339(self.registry.clock())

        def change(node: dict) -> bool:
            conds = node.setdefault("status", {}).setdefault("conditions", [])
            if ready:
                registry.set_condition(node, "Ready", "True", now, "KubeletReady",
                                       "kubelet is posting ready status")
            else:
                registry.set_condition(node, "Ready", "Unknown", now, "NodeStatusUnknown",
                                       "Kubelet stopped posting node status.")
            for c in conds:
                if c["type"] == "Ready":
                    c["lastHeartbeatTime"] = now if ready else c.get("lastHeartbeatTime", now)
            taints = [t for t in node["spec"].get("taints") or [] if t.get("key") != UNREACHABLE]
            if not ready:
                taints += [{"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": now},
                           {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now}]
            if taints:
                node["spec"]["taints"] = taints
            else:
                node["spec"].pop("taints", None)
            return True

        await self.registry.mutate(NODES, "", name, change, subresource=registry.ALL)


def _ready_status(node: dict) -> str:
    for c in node.get("status", {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return str(c.get("status"))
    return "Unknown"
