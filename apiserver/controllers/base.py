"""The reconcile loop shared by all controllers: events map to keys, keys go into a
de-duplicating queue, a few workers reconcile them (never the same key twice at once),
and failures are retried with backoff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any
from apiserver import registry, store
from apiserver import status as errors
from apiserver.events import Recorder
from kubeloop.tasks import TaskGroup

log = logging.getLogger(__name__)

Key = tuple[str, ...]  # e.g. (namespace, name)


class Controller:
    """Subclasses set ``name`` and ``watches`` and implement keys_for and reconcile."""

    name = "controller"
    watches: tuple[str, ...] = ()
    workers = 8
    # Seconds to let events of a watched resource gather before their key is queued: a
    # burst of 1,000 pod status changes then costs a few reconciles, not 1,000 scans.
    settle: dict[str, float] = {}

    def __init__(self, reg: registry.Registry) -> None:
        self.registry = reg
        self.store: store.Store = reg.store
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()
        self._settling: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self.idle = asyncio.Event()
        self.idle.set()

    # --- to implement ----------------------------------------------------------------------
    def keys_for(self, event: store.Event) -> Iterable[Key]:
        raise NotImplementedError

    def initial_keys(self) -> Iterable[Key]:
        return ()

    async def reconcile(self, key: Key) -> None:
        raise NotImplementedError

    # --- machinery -----------------------------------------------------------------------
    def enqueue(self, key: Key) -> None:
        if key in self._active:
            self._dirty.add(key)  # reconcile again once the running pass ends
            return
        if key not in self._queued:
            self._queued.add(key)
            self.idle.clear()
            self._queue.put_nowait(key)

    def enqueue_after(self, key: Key, delay: float) -> None:
        asyncio.get_running_loop().call_later(max(delay, 0.0), self.enqueue, key)

    def _enqueue_settled(self, key: Key, delay: float) -> None:
        if key in self._settling or key in self._queued:
            return
        self._settling.add(key)
        self.idle.clear()

        def due() -> None:
            self._settling.discard(key)
            self.enqueue(key)

        asyncio.get_running_loop().call_later(delay, due)

    def start(self, tasks: TaskGroup) -> None:
        for resource in self.watches:
            watcher = self.store.subscribe(resource)
            tasks.spawn(f"{self.name}/watch-{resource}", self._pump(watcher))
        for key in self.initial_keys():
            self.enqueue(key)
        for i in range(self.workers):
            tasks.spawn(f"{self.name}/worker-{i}", self._work())

    async def _pump(self, watcher: store.Watcher) -> None:
        while True:
            event = await watcher.queue.get()
            if event is None:
                log.warning("%s: watch of %s ended; resyncing", self.name, watcher.resource)
                for key in self.initial_keys():
                    self.enqueue(key)
                watcher = self.store.subscribe(watcher.resource)
                continue
            delay = self.settle.get(event.resource, 0.0)
            for key in self.keys_for(event):
                if delay:
                    self._enqueue_settled(key, delay)
                else:
                    self.enqueue(key)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            try:
                await self.reconcile(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except (errors.ApiError, store.StoreError) as e:
                self._retry(key, e)
            except Exception as e:  # a bug in one key must not stop the controller
                log.exception("%s: reconcile %s crashed", self.name, key)
                self._retry(key, e)
            finally:
                self._active.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self.enqueue(key)
                if not self._queued and not self._active and not self._settling:
                    self.idle.set()

    def _retry(self, key: Key, error: Exception) -> None:
        n = self._failures.get(key, 0) + 1
        self._failures[key] = n
        delay = min(0.05 * 2 ** n, 10.0)
        log.info("%s: %s failed (%s); retry %d in %.2fs", self.name, key, error, n, delay)
        self.enqueue_after(key, delay)


def owner_uid(obj: dict, kind: str | None = None) -> str | None:
    """UID of the controlling owner (of the given kind, when set)."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller") and (kind is None or ref.get("kind") == kind):
            return ref.get("uid")
    return None


async def delete_pods(reg: registry.Registry, recorder: Recorder, source: str, owner: dict,
                      pods: Iterable[dict]) -> None:
    """Deletes ``pods`` of ``owner`` (each by its UID: a newer pod of the same name is not
    touched), recording SuccessfulDelete on the owner; pods already gone are skipped."""
    for pod in pods:
        meta = pod["metadata"]
        try:
            await reg.delete(registry.PODS, meta["namespace"], meta["name"],
                             {"preconditions": {"uid": meta["uid"]}})
        except errors.ApiError as e:
            if e.reason not in ("NotFound", "Conflict"):
                raise
            continue
        await recorder.record(owner, "Normal", "SuccessfulDelete",
                              f"Deleted pod: {meta['name']}", source)


def set_status(obj: dict, status: dict[str, Any]) -> bool:
    """A registry mutation writing ``status``; False (no write) when it is already so."""
    if obj.get("status") == status:
        return False
    obj["status"] = status
    return True
