"""ReplicaSet and Deployment controllers: the async glue around the pure decisions in
``replication`` and ``rollout`` (read from the store, decide, write through the registry)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from apiserver import naming, registry, replication, rollout, store
from apiserver import status as errors
from apiserver.controllers.base import Controller, Key, delete_pods, owner_uid, set_status
from apiserver.events import Recorder
from apiserver.resources import require

REPLICASETS = require("apps", "v1", "replicasets")
DEPLOYMENTS = require("apps", "v1", "deployments")


def _owner_key(obj: dict, kind: str, db: store.Store, resource: str) -> Iterable[Key]:
    """The (namespace, name) of obj's controlling owner of ``kind``, if it exists."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == kind:
            ns = obj["metadata"].get("namespace", "")
            if db.get(resource, ns, ref["name"]) is not None:
                yield (ns, ref["name"])


def owned(db: store.Store, resource: str, namespace: str, owner: dict) -> list[dict]:
    uid = owner["metadata"]["uid"]
    return [s.obj for s in db.list(resource, namespace) if owner_uid(s.obj) == uid]


class ReplicaSets(Controller):
    name = "replicaset-controller"
    watches = (REPLICASETS.key, "pods")
    settle = {"pods": 0.05}

    def __init__(self, reg: registry.Registry, recorder: Recorder) -> None:
        super().__init__(reg)
        self.recorder = recorder

    def keys_for(self, event: store.Event) -> Iterable[Key]:
        if event.resource == REPLICASETS.key:
            yield (event.namespace, event.name)
        else:
            yield from _owner_key(event.obj, "ReplicaSet", self.store, REPLICASETS.key)

    def initial_keys(self) -> Iterable[Key]:
        return [(s.obj["metadata"]["namespace"], s.obj["metadata"]["name"])
                for s in self.store.iter(REPLICASETS.key)]

    async def reconcile(self, key: Key) -> None:
        namespace, name = key
        stored = self.store.get(REPLICASETS.key, namespace, name)
        if stored is None:
            return
        rs = stored.obj
        now = self.registry.clock()
        pods = owned(self.store, "pods", namespace, rs)
        active = [p for p in pods if replication.is_pod_active(p)]
        error: str | None = None
        diff = replication.replica_diff(rs, active)
        try:
            if diff > 0:
                await self._create_pods(rs, diff)
            elif diff < 0:
                siblings = [p for p in self.store.list("pods", namespace)
                            if replication.is_pod_active(p.obj)]
                surplus = replication.pods_to_delete(
                    active, -diff, related=[s.obj for s in siblings], now=now)
                await delete_pods(self.registry, self.recorder, self.name, rs, surplus)
        except errors.ApiError as e:
            error = e.message
        pods = owned(self.store, "pods", namespace, rs)
        new_status = replication.rs_status(rs, pods, now, manage_error=error)
        if new_status != rs.get("status"):
            await self.registry.mutate(REPLICASETS, namespace, name,
                                       lambda o: set_status(o, new_status), subresource="status")
        min_ready = rs["spec"].get("minReadySeconds", 0)
        if min_ready and new_status.get("availableReplicas", 0) < new_status.get(
                "readyReplicas", 0):
            self.enqueue_after(key, min_ready + 0.5)  # pods become available with time
        if error:
            raise errors.internal(error)

    async def _create_pods(self, rs: dict, count: int) -> None:
        async def one() -> dict | None:
            for _ in range(5):  # name collisions are retried with a new suffix
                name = f"{rs['metadata']['name']}-{naming.random_suffix(self.registry.rng)}"
                pod = replication.pod_from_template(rs, name)
                try:
                    return await self.registry.create(registry.PODS, rs["metadata"]["namespace"],
                                                      pod)
                except errors.ApiError as e:
                    if e.reason != "AlreadyExists":
                        await self.recorder.record(rs, "Warning", "FailedCreate",
                                                   f"Error creating: {e.message}", self.name)
                        raise
            return None

        created = await asyncio.gather(*(one() for _ in range(count)))
        for pod in created:
            if pod is not None:
                await self.recorder.record(rs, "Normal", "SuccessfulCreate",
                                           f"Created pod: {pod['metadata']['name']}", self.name)

class Deployments(Controller):
    name = "deployment-controller"
    watches = (DEPLOYMENTS.key, REPLICASETS.key)
    settle = {REPLICASETS.key: 0.05}

    def __init__(self, reg: registry.Registry, recorder: Recorder) -> None:
        super().__init__(reg)
        self.recorder = recorder

    def keys_for(self, event: store.Event) -> Iterable[Key]:
        if event.resource == DEPLOYMENTS.key:
            yield (event.namespace, event.name)
        else:
            yield from _owner_key(event.obj, "Deployment", self.store, DEPLOYMENTS.key)

    def initial_keys(self) -> Iterable[Key]:
        return [(s.obj["metadata"]["namespace"], s.obj["metadata"]["name"])
                for s in self.store.iter(DEPLOYMENTS.key)]

    async def reconcile(self, key: Key) -> None:
        namespace, name = key
        stored = self.store.get(DEPLOYMENTS.key, namespace, name)
        if stored is None or stored.obj["metadata"].get("deletionTimestamp"):
            return
        dep = stored.obj
        now = self.registry.clock()
        rss = owned(self.store, REPLICASETS.key, namespace, dep)
        pods_by_rs = {rs["metadata"]["name"]: owned(self.store, "pods", namespace, rs)
                      for rs in rss}
        new_rs = rollout.find_new_rs(dep, rss)
        olds = rollout.old_rss(dep, rss)
        created = False
        if rollout.should_create_new_rs(dep, new_rs, olds, pods_by_rs):
            new_rs = await self._create_new_rs(dep, rss)
            created = new_rs is not None
        elif new_rs is not None:
            synced = rollout.sync_new_rs(dep, new_rs, olds)
            if synced is not None:
                new_rs = await self._write_rs(synced) or new_rs
        annotations = rollout.revision_annotations(dep, new_rs)
        if annotations is not None:
            await self.registry.mutate(DEPLOYMENTS, namespace, name,
                                       lambda o: _set_annotations(o, annotations))
        all_rss = olds + ([new_rs] if new_rs is not None else [])
        # Status comes from the snapshot plan() sees, before this step's writes (upstream).
        new_status = rollout.deployment_status(dep, new_rs, all_rss, pods_by_rs, now,
                                               created=created)
        targets = rollout.plan(dep, new_rs, olds, pods_by_rs, now)
        for rs in all_rss:
            wanted = targets.get(rs["metadata"]["name"])
            if wanted is None:
                continue
            resized = rollout.scaled_rs(dep, rs, wanted)
            if resized is None:
                continue
            await self._write_rs(resized)
            before = rs["spec"].get("replicas", 0)
            if before != wanted:
                await self.recorder.record(dep, "Normal", "ScalingReplicaSet",
                                           rollout.scaling_message(rs["metadata"]["name"],
                                                                   before, wanted), self.name)
        if not targets:
            for rs in rollout.rss_to_clean_up(dep, olds, pods_by_rs):
                try:
                    await self.registry.delete(REPLICASETS, namespace, rs["metadata"]["name"],
                                               {"preconditions": {"uid": rs["metadata"]["uid"]}})
                except errors.ApiError as e:
                    if e.reason not in ("NotFound", "Conflict"):
                        raise
        if new_status != dep.get("status"):
            await self.registry.mutate(DEPLOYMENTS, namespace, name,
                                       lambda o: set_status(o, new_status), subresource="status")
        recheck = rollout.progress_recheck_after({**dep, "status": new_status}, now)
        if recheck is not None:
            self.enqueue_after(key, recheck)

    async def _write_rs(self, rs: dict) -> dict | None:
        def replace(o: dict) -> bool:
            changed = o["spec"] != rs["spec"] or o["metadata"].get("annotations") != \
                rs["metadata"].get("annotations")
            o["spec"] = rs["spec"]
            o["metadata"]["annotations"] = rs["metadata"].get("annotations") or {}
            return changed

        return await self.registry.mutate(REPLICASETS, rs["metadata"]["namespace"],
                                          rs["metadata"]["name"], replace)

    async def _create_new_rs(self, dep: dict, rss: list[dict]) -> dict | None:
        template_hash = naming.template_hash(dep["spec"]["template"])
        body = rollout.new_rs(dep, rss, template_hash)
        try:
            created = await self.registry.create(REPLICASETS, dep["metadata"]["namespace"], body)
        except errors.ApiError as e:
            if e.reason != "AlreadyExists":
                raise
            existing = self.store.get(REPLICASETS.key, dep["metadata"]["namespace"],
                                      body["metadata"]["name"])
            return existing.obj if existing else None
        await self.recorder.record(
            dep, "Normal", "ScalingReplicaSet",
            rollout.scaling_message(created["metadata"]["name"], 0,
                                    created["spec"].get("replicas", 0)), self.name)
        return created


def _set_annotations(obj: dict, annotations: dict[str, str]) -> bool:
    if obj["metadata"].get("annotations") == annotations:
        return False
    obj["metadata"]["annotations"] = annotations
    return True
