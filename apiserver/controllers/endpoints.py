"""The endpoint, endpointslice and endpointslicemirroring controllers in one reconcile
per Service (key: namespace, name): read the Service, its pods or its user-written
Endpoints from the store, let ``apiserver.endpoints`` decide, and write the Endpoints and
EndpointSlices through the registry, all writes of a pass together so they share one
commit. Pod events that change nothing an endpoint shows (most status updates) are
dropped before they queue anything, and the controller's own writes are recognised and
queue nothing either.

A pass costs time in proportion to the Service's pods, so pod events are throttled per
Service: the first change after a quiet spell is reconciled at once, while a burst (a
Deployment scaling to hundreds of pods) gets at most one pass per ``POD_BURST_PERIOD``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable

from apiserver import endpoints, naming, registry, store
from apiserver import status as errors
from apiserver.controllers.base import Controller, Key
from apiserver.resources import require

ENDPOINTS = require("", "v1", "endpoints")
SLICES = require("discovery.k8s.io", "v1", "endpointslices")
POD_BURST_PERIOD = 0.05  # seconds between two pod-driven passes of one Service


class Endpoints(Controller):
    name = "endpoint-controller"
    watches = (registry.SERVICES.key, "pods", ENDPOINTS.key, SLICES.key)

    def __init__(self, reg: registry.Registry) -> None:
        super().__init__(reg)
        self._triggers: dict[Key, endpoints.TriggerState] = {}
        self._gone: set[Key] = set()  # Services deleted since their last reconcile
        self._expected: dict[tuple[str, str, str], tuple | None] = {}
        self._last_pass: dict[Key, float] = {}  # loop time each Service's last pass began

    def keys_for(self, event: store.Event) -> Iterable[Key]:
        if event.resource == registry.SERVICES.key:
            if event.type == "DELETED":
                self._gone.add((event.namespace, event.name))
            yield (event.namespace, event.name)
        elif event.resource == "pods":
            old = event.old
            if old is not None and endpoints.pod_view(old) == endpoints.pod_view(event.obj):
                return
            if not endpoints.in_endpoints(event.obj, True) and not (
                    old is not None and endpoints.in_endpoints(old, True)):
                return  # a pod without an IP (or finished) is no endpoint, before or after
            now = asyncio.get_running_loop().time()
            for s in self.store.list(registry.SERVICES.key, event.namespace):
                if endpoints.selects(s.obj, event.obj) or (
                        old is not None and endpoints.selects(s.obj, old)):
                    key = (event.namespace, s.obj["metadata"]["name"])
                    wait = self._last_pass.get(key, -POD_BURST_PERIOD) + POD_BURST_PERIOD - now
                    if wait <= 0:
                        yield key
                    else:
                        self._enqueue_settled(key, wait)
        elif self._echo(event):
            return
        elif event.resource == ENDPOINTS.key:
            yield (event.namespace, event.name)
        else:
            service = (event.obj["metadata"].get("labels") or {}).get(endpoints.SERVICE_NAME)
            if service:
                yield (event.namespace, service)

    def initial_keys(self) -> Iterable[Key]:
        keys = {(s.obj["metadata"]["namespace"], s.obj["metadata"]["name"])
                for res in (registry.SERVICES.key, ENDPOINTS.key) for s in self.store.iter(res)}
        return sorted(keys)

    async def reconcile(self, key: Key) -> None:
        namespace, name = key
        self._last_pass[key] = asyncio.get_running_loop().time()
        found = self.store.get(registry.SERVICES.key, namespace, name)
        service = found.obj if found is not None else None
        slices = self._slices(namespace, name)
        writes: list[Awaitable[object]] = []
        if service is None:
            self._triggers.pop(key, None)
            self._last_pass.pop(key, None)
            if key in self._gone:
                writes.append(self._delete(ENDPOINTS, self.store.get(ENDPOINTS.key, namespace,
                                                                     name)))
            writes += [self._delete(SLICES, s) for s in slices]
        elif endpoints.uses_selector(service):
            writes += self._sync_pods(key, service, slices)
        else:
            self._triggers.pop(key, None)
            writes += self._sync_mirror(service, slices)
        await _all(writes)
        self._gone.discard(key)

    def _slices(self, namespace: str, name: str) -> list[dict]:
        """Slices of this Service made by either controller."""
        return [s.obj for s in self.store.list(SLICES.key, namespace)
                if (s.obj["metadata"].get("labels") or {}).get(endpoints.SERVICE_NAME) == name
                and (s.obj["metadata"].get("labels") or {}).get(endpoints.MANAGED_BY) in (
                    endpoints.SLICE_CONTROLLER, endpoints.MIRROR_CONTROLLER)]

    def _sync_pods(self, key: Key, service: dict, slices: list[dict]) -> list[Awaitable[object]]:
        namespace, name = key
        pods = endpoints.selected(service, (s.obj for s in self.store.list("pods", namespace)))
        trigger, self._triggers[key] = endpoints.trigger_time(self._triggers.get(key), service,
                                                              pods)
        writes: list[Awaitable[object]] = []
        current = self.store.get(ENDPOINTS.key, namespace, name)
        wanted = endpoints.endpoints_for(service, pods, current.obj if current else None,
                                         trigger)
        if wanted is not None:
            writes.append(self._write_endpoints(current, wanted))
        zones = {s.obj["metadata"]["name"]: (s.obj["metadata"].get("labels") or {}).get(
            endpoints.ZONE, "") for s in self.store.iter("nodes")}
        owned, stale = _split(slices, service, endpoints.SLICE_CONTROLLER)
        plan = endpoints.plan_slices(owned, endpoints.pod_groups(service, pods, zones),
                                     endpoints.pod_slice_meta(service), trigger)
        return writes + self._apply(plan, stale)

    def _sync_mirror(self, service: dict, slices: list[dict]) -> list[Awaitable[object]]:
        meta = service["metadata"]
        found = self.store.get(ENDPOINTS.key, meta["namespace"], meta["name"])
        if found is None or not endpoints.mirrors(found.obj, service):
            return [self._delete(SLICES, s) for s in slices]
        owned, stale = _split(slices, found.obj, endpoints.MIRROR_CONTROLLER)
        plan = endpoints.plan_slices(owned, endpoints.mirror_groups(found.obj),
                                     endpoints.mirror_slice_meta(found.obj), None,
                                     max_endpoints=endpoints.MAX_ENDPOINTS, placeholder=False)
        return self._apply(plan, stale)

    def _apply(self, plan: endpoints.SlicePlan, stale: list[dict]) -> list[Awaitable[object]]:
        writes: list[Awaitable[object]] = [self._create(SLICES, body) for body in plan.create]
        writes += [self._replace(SLICES, body) for body in plan.update]
        writes += [self._delete(SLICES, s) for s in plan.delete + stale]
        return writes

    async def _write_endpoints(self, current: store.Stored | None, wanted: dict) -> None:
        if current is None:
            await self._create(ENDPOINTS, wanted)
        else:
            await self._replace(ENDPOINTS, wanted)

    # Each write first notes what its event will show, so that event (the controller's own
    # echo) queues no second pass over the Service's pods.
    def _expect(self, res: registry.Resource, meta: dict, obj: dict | None) -> tuple:
        key = (res.key, meta["namespace"], meta["name"])
        self._expected[key] = None if obj is None else _owned(res, obj)
        return key

    def _echo(self, event: store.Event) -> bool:
        expected = self._expected.pop((event.resource, event.namespace, event.name), _NOTHING)
        if expected is _NOTHING:
            return False
        if event.type == "DELETED":
            return expected is None
        res = ENDPOINTS if event.resource == ENDPOINTS.key else SLICES
        return expected == _owned(res, event.obj)

    async def _create(self, res: registry.Resource, body: dict) -> None:
        meta = body["metadata"]
        if not meta.get("name"):  # named here, so the echo can be recognised
            meta["name"] = naming.generate_name(meta["generateName"], self.registry.rng)
        key = self._expect(res, meta, body)
        try:
            await self.registry.create(res, meta["namespace"], body)
        except errors.ApiError as e:
            self._expected.pop(key, None)
            if e.reason != "Forbidden":  # Forbidden: the namespace is terminating
                raise

    async def _replace(self, res: registry.Resource, wanted: dict) -> None:
        """Overwrite what the controller owns (``_OWNED``) on the stored object, keeping
        the rest of its metadata."""
        meta_keys, fields = _OWNED[res.key]

        def change(obj: dict) -> bool:
            meta = obj["metadata"]
            for k in meta_keys:
                if wanted["metadata"].get(k):
                    meta[k] = wanted["metadata"][k]
                else:
                    meta.pop(k, None)
            for k in fields:
                if k in wanted:
                    obj[k] = wanted[k]
                else:
                    obj.pop(k, None)
            return True

        key = self._expect(res, wanted["metadata"], wanted)
        try:
            await self.registry.mutate(res, wanted["metadata"]["namespace"],
                                       wanted["metadata"]["name"], change)
        except errors.ApiError:
            self._expected.pop(key, None)
            raise

    async def _delete(self, res: registry.Resource, obj: dict | store.Stored | None) -> None:
        if isinstance(obj, store.Stored):
            obj = obj.obj
        if obj is None:
            return
        meta = obj["metadata"]
        key = self._expect(res, meta, None)
        try:
            await self.registry.delete(res, meta["namespace"], meta["name"],
                                       {"preconditions": {"uid": meta["uid"]}})
        except errors.ApiError as e:
            self._expected.pop(key, None)
            if e.reason not in ("NotFound", "Conflict"):
                raise


# What the controllers own on the objects they write: metadata keys, then fields.
_OWNED = {ENDPOINTS.key: (("labels", "annotations"), ("subsets",)),
          SLICES.key: (("labels", "annotations", "ownerReferences"),
                       ("addressType", "endpoints", "ports"))}
_NOTHING = object()


def _owned(res: registry.Resource, obj: dict) -> tuple:
    meta_keys, fields = _OWNED[res.key]
    return tuple(obj["metadata"].get(k) or None for k in meta_keys) + tuple(
        obj.get(f) or None for f in fields)


def _split(slices: list[dict], owner: dict, manager: str) -> tuple[list[dict], list[dict]]:
    """(slices ``manager`` made for this very owner, every other slice of the Service)."""
    uid = owner["metadata"].get("uid")
    owned: list[dict] = []
    stale: list[dict] = []
    for s in slices:
        refs = s["metadata"].get("ownerReferences") or []
        mine = (s["metadata"].get("labels") or {}).get(endpoints.MANAGED_BY) == manager and \
            any(r.get("uid") == uid and r.get("controller") for r in refs)
        (owned if mine else stale).append(s)
    return owned, stale


async def _all(writes: list[Awaitable[object]]) -> None:
    """Run the writes of one pass together (one group commit); the first error wins
    after all have finished, so a failed write never leaves others unawaited."""
    results = await asyncio.gather(*writes, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
