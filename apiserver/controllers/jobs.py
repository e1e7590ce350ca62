"""The Job controller (kube-controller-manager's job and ttl-after-finished controllers):
the async glue around the pure decisions in ``apiserver.jobs``. Each pass counts the
Job's finished pods (uncounted first, then their tracking finalizer removed, then
counted), syncs (create or delete pods, status, events) and deletes a finished Job whose
TTL is over. Pods still carrying the tracking finalizer after their Job is gone lose it,
so a cascading delete completes."""

from __future__ import annotations

from collections.abc import Iterable

from apiserver import jobs, registry, store
from apiserver import status as errors
from apiserver.controllers.base import Controller, Key, delete_pods, owner_uid, set_status
from apiserver.controllers.workloads import owned
from apiserver.events import Recorder
from apiserver.resources import require

JOBS = require("batch", "v1", "jobs")
ORPHAN = "orphan-pod"  # key (ORPHAN, namespace, pod name): a tracked pod without its Job


class Jobs(Controller):
    name = "job-controller"
    watches = (JOBS.key, "pods")
    settle = {"pods": 0.05}

    def __init__(self, reg: registry.Registry, recorder: Recorder) -> None:
        super().__init__(reg)
        self.recorder = recorder

    def keys_for(self, event: store.Event) -> Iterable[Key]:
        if event.resource == JOBS.key:
            yield (event.namespace, event.name)
            return
        pod = event.obj
        if event.type == "DELETED":
            ref = self._job_ref(pod)
            if ref is not None:
                yield (event.namespace, ref)
            return
        ref = self._job_ref(pod)
        job = self.store.get(JOBS.key, event.namespace, ref) if ref else None
        if job is not None and job.obj["metadata"]["uid"] == owner_uid(pod, "Job"):
            yield (event.namespace, ref or "")
        elif jobs.tracked(pod):
            yield (ORPHAN, event.namespace, event.name)

    @staticmethod
    def _job_ref(pod: dict) -> str | None:
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "Job":
                return str(ref.get("name", ""))
        return None

    def initial_keys(self) -> Iterable[Key]:
        keys: list[Key] = [(s.obj["metadata"]["namespace"], s.obj["metadata"]["name"])
                           for s in self.store.iter(JOBS.key)]
        keys += [(ORPHAN, s.obj["metadata"]["namespace"], s.obj["metadata"]["name"])
                 for s in self.store.iter("pods") if jobs.tracked(s.obj)]
        return keys

    async def reconcile(self, key: Key) -> None:
        if key[0] == ORPHAN and len(key) == 3:
            await self._release_orphan(key[1], key[2])
            return
        namespace, name = key
        stored = self.store.get(JOBS.key, namespace, name)
        if stored is None:
            return
        job = stored.obj
        if job["metadata"].get("deletionTimestamp"):
            for pod in owned(self.store, "pods", namespace, job):
                await self._untrack(pod)
            return
        counted = await self._count_finished(job)
        if counted is None:
            return
        job = counted
        now = self.registry.clock()
        step = jobs.sync(job, owned(self.store, "pods", namespace, job), now)
        if step.expired:
            await self._delete_job(job)
            return
        error: errors.ApiError | None = None
        try:
            await delete_pods(self.registry, self.recorder, self.name, job, step.delete)
            await self._create_pods(job, step.create)
        except errors.ApiError as e:
            error = e
        if step.status != job.get("status"):
            await self.registry.mutate(JOBS, namespace, name,
                                       lambda o: set_status(o, step.status),
                                       subresource="status")
        for event in step.events:
            await self.recorder.record(job, event.type, event.reason, event.message, self.name)
        if step.recheck is not None:
            self.enqueue_after(key, step.recheck + 0.05)
        if error is not None:
            raise error

    async def _count_finished(self, job: dict) -> dict | None:
        """Upstream's three steps: record finished pods as uncounted, drop their tracking
        finalizer, then move them into the counts. Returns the Job as now stored."""
        meta = job["metadata"]
        pods = owned(self.store, "pods", meta["namespace"], job)
        waiting = jobs.pending(job, pods)
        if not waiting:
            return job
        status = job.get("status") or {}
        interim = jobs.with_uncounted(status, waiting)
        if interim.get("uncountedTerminatedPods") != status.get("uncountedTerminatedPods"):
            updated = await self.registry.mutate(JOBS, meta["namespace"], meta["name"],
                                                 lambda o: set_status(o, interim),
                                                 subresource="status")
            if updated is None:
                return None
            job = updated
        for pod in jobs.to_untrack(pods, waiting):
            await self._untrack(pod)
        counted = jobs.flush(job.get("status") or {}, waiting,
                             owned(self.store, "pods", meta["namespace"], job))
        return await self.registry.mutate(JOBS, meta["namespace"], meta["name"],
                                          lambda o: set_status(o, counted),
                                          subresource="status")

    async def _untrack(self, pod: dict) -> None:
        def drop(o: dict) -> bool:
            finalizers = o["metadata"].get("finalizers") or []
            if jobs.TRACKING_FINALIZER not in finalizers:
                return False
            kept = [f for f in finalizers if f != jobs.TRACKING_FINALIZER]
            if kept:
                o["metadata"]["finalizers"] = kept
            else:
                o["metadata"].pop("finalizers", None)
            return True

        meta = pod["metadata"]
        await self.registry.mutate(registry.PODS, meta["namespace"], meta["name"], drop,
                                   subresource=registry.ALL)

    async def _release_orphan(self, namespace: str, name: str) -> None:
        stored = self.store.get("pods", namespace, name)
        if stored is None or not jobs.tracked(stored.obj):
            return
        ref = self._job_ref(stored.obj)
        job = self.store.get(JOBS.key, namespace, ref) if ref else None
        if job is None or job.obj["metadata"]["uid"] != owner_uid(stored.obj, "Job") or \
                job.obj["metadata"].get("deletionTimestamp"):
            await self._untrack(stored.obj)

    async def _create_pods(self, job: dict, count: int) -> None:
        for _ in range(count):
            try:
                pod = await self.registry.create(registry.PODS, job["metadata"]["namespace"],
                                                 jobs.pod_from_template(job))
            except errors.ApiError as e:
                await self.recorder.record(job, "Warning", "FailedCreate",
                                           f"Error creating: {e.message}", self.name)
                raise
            await self.recorder.record(job, "Normal", "SuccessfulCreate",
                                       f"Created pod: {pod['metadata']['name']}", self.name)

    async def _delete_job(self, job: dict) -> None:
        """ttl-after-finished: the Job goes, its pods after it (foreground)."""
        meta = job["metadata"]
        try:
            await self.registry.delete(JOBS, meta["namespace"], meta["name"],
                                       {"propagationPolicy": "Foreground",
                                        "preconditions": {"uid": meta["uid"]}})
        except errors.ApiError as e:
            if e.reason not in ("NotFound", "Conflict"):
                raise
