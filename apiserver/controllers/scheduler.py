"""kube-scheduler: binds pending pods to nodes. All pending pods are scheduled in one pass
(one key), so a burst of 100 new pods costs one scan and spreads evenly."""

from __future__ import annotations

from collections.abc import Iterable

from apiserver import registry, scheduling, store
from apiserver import status as errors
from apiserver.controllers.base import Controller, Key
from apiserver.events import Recorder

PASS = ("pending",)
COMPONENT = "default-scheduler"


def is_pending(pod: dict) -> bool:
    spec = pod.get("spec", {})
    return not spec.get("nodeName") and not pod["metadata"].get("deletionTimestamp") and \
        spec.get("schedulerName", COMPONENT) == COMPONENT


class Scheduler(Controller):
    name = "scheduler"
    watches = ("pods", "nodes")
    workers = 1

    def __init__(self, reg: registry.Registry, recorder: Recorder) -> None:
        super().__init__(reg)
        self.recorder = recorder
        self._reported: dict[str, str] = {}  # pod uid -> last unschedulable message

    def keys_for(self, event: store.Event) -> Iterable[Key]:
        if event.resource == "nodes" or (event.type != "DELETED" and is_pending(event.obj)):
            yield PASS

    def initial_keys(self) -> Iterable[Key]:
        yield PASS

    async def reconcile(self, key: Key) -> None:
        pods = [s.obj for s in self.store.iter("pods")]
        pending = [p for p in pods if is_pending(p)]
        if not pending:
            return
        nodes = [s.obj for s in self.store.list("nodes")]
        counts: dict[str, int] = {}
        for p in pods:
            node = p["spec"].get("nodeName")
            if node and p.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                counts[node] = counts.get(node, 0) + 1
        pending.sort(key=lambda p: p["metadata"].get("creationTimestamp", ""))
        decisions = scheduling.schedule_many(pending, nodes, counts)
        for pod, decision in zip(pending, decisions):
            meta = pod["metadata"]
            if decision.node:
                try:
                    await self.registry.bind(meta["namespace"], meta["name"], decision.node)
                except errors.ApiError as e:
                    if e.reason in ("NotFound", "Conflict"):
                        continue
                    raise
                self._reported.pop(meta["uid"], None)
                await self.recorder.record(
                    pod, "Normal", "Scheduled",
                    f"Successfully assigned {meta['namespace']}/{meta['name']} to "
                    f"{decision.node}", COMPONENT)
            elif self._reported.get(meta["uid"]) != decision.message:
                self._reported[meta["uid"]] = decision.message
                await self._unschedulable(pod, decision.message)

    async def _unschedulable(self, pod: dict, message: str) -> None:
        meta = pod["metadata"]
        now = registry.rfc3339(self.registry.clock())
        await self.registry.mutate(
            registry.PODS, meta["namespace"], meta["name"],
            lambda p: registry.set_condition(p, "PodScheduled", "False", now, "Unschedulable",
                                             message),
            subresource="status")
        await self.recorder.record(pod, "Warning", "FailedScheduling", message, COMPONENT)
