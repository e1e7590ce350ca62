"""Garbage collector: dependents (ownerReferences) of deleted owners are deleted
(Background), deleted first (Foreground: the owner waits with a finalizer) or released
(Orphan), as `kubectl delete --cascade=...` asks."""

from __future__ import annotations

from collections.abc import Iterable

from apiserver import registry, store
from apiserver import status as errors
from apiserver.controllers.base import Controller, Key
from apiserver.resources import RESOURCES

# Key: (resource key, namespace, name) of an owner being deleted, or ("scan", ns, "").
OWNER_KINDS = {r.key: r for r in RESOURCES}
NAMESPACED = [r for r in RESOURCES if r.namespaced]


class GarbageCollector(Controller):
    name = "garbage-collector"
    watches = tuple(r.key for r in RESOURCES)
    workers = 4

    def keys_for(self, event: store.Event) -> Iterable[Key]:
        meta = event.obj["metadata"]
        if event.type == "DELETED":
            yield ("scan", event.namespace, meta.get("uid", ""))
            for ref in meta.get("ownerReferences") or []:  # a foreground owner may be done
                owner = registry.for_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
                if owner is not None:
                    yield (owner.key, event.namespace if owner.namespaced else "", ref["name"])
        elif meta.get("deletionTimestamp") and set(meta.get("finalizers") or []) & {
                registry.FOREGROUND, registry.ORPHAN}:
            yield (event.resource, event.namespace, event.name)

    def initial_keys(self) -> Iterable[Key]:
        namespaces = {s.obj["metadata"]["name"] for s in self.store.iter("namespaces")}
        return [("scan", ns, "") for ns in sorted(namespaces)]

    def _dependents(self, namespace: str, owner_uid: str) -> list[tuple[registry.Resource, dict]]:
        out = []
        for res in NAMESPACED:
            for s in self.store.list(res.key, namespace or None):
                refs = s.obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == owner_uid for r in refs):
                    out.append((res, s.obj))
        return out

    def _owner_exists(self, namespace: str, uid: str, ref: dict) -> bool:
        res = registry.for_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if res is None:
            return True  # unknown owner kinds are left alone
        found = self.store.get(res.key, namespace if res.namespaced else "", ref.get("name", ""))
        return found is not None and found.obj["metadata"].get("uid") == uid

    async def reconcile(self, key: Key) -> None:
        kind, namespace, ident = key
        if kind == "scan":
            await self._collect_orphans(namespace, ident)
        else:
            await self._finish_owner(kind, namespace, ident)

    async def _collect_orphans(self, namespace: str, uid: str) -> None:
        """Delete objects all of whose owners are gone (one owner when uid is given)."""
        for res in NAMESPACED:
            for s in self.store.list(res.key, namespace or None):
                meta = s.obj["metadata"]
                refs = meta.get("ownerReferences") or []
                if not refs or (uid and not any(r.get("uid") == uid for r in refs)):
                    continue
                if any(self._owner_exists(meta.get("namespace", ""), r.get("uid", ""), r)
                       for r in refs):
                    continue
                await self._delete(res, meta, "Background")

    async def _finish_owner(self, resource: str, namespace: str, name: str) -> None:
        res = OWNER_KINDS[resource]
        owner = self.store.get(resource, namespace, name)
        if owner is None:
            return
        meta = owner.obj["metadata"]
        finalizers = meta.get("finalizers") or []
        if not meta.get("deletionTimestamp") or not {registry.ORPHAN, registry.FOREGROUND} & set(
                finalizers):
            return
        dependents = self._dependents(namespace, meta["uid"])
        if registry.ORPHAN in finalizers:
            for dep_res, dep in dependents:
                uid = meta["uid"]
                await self.registry.mutate(
                    dep_res, dep["metadata"].get("namespace", ""), dep["metadata"]["name"],
                    lambda o: _drop_owner(o, uid), subresource=registry.ALL)
            dependents = []
        elif registry.FOREGROUND in finalizers and dependents:
            for dep_res, dep in dependents:
                await self._delete(dep_res, dep["metadata"], "Foreground")
            return  # dependents' deletions requeue nothing here; their DELETED events rescan

        def release(o: dict) -> bool:
            o["metadata"]["finalizers"] = [f for f in o["metadata"].get("finalizers") or []
                                           if f not in (registry.ORPHAN, registry.FOREGROUND)]
            if not o["metadata"]["finalizers"]:
                del o["metadata"]["finalizers"]
            return True

        if not dependents:
            await self.registry.mutate(res, namespace, name, release, subresource=registry.ALL)

    async def _delete(self, res: registry.Resource, meta: dict, policy: str) -> None:
        try:
            await self.registry.delete(res, meta.get("namespace", ""), meta["name"],
                                       {"propagationPolicy": policy,
                                        "preconditions": {"uid": meta["uid"]}})
        except errors.ApiError as e:
            if e.reason not in ("NotFound", "Conflict"):
                raise


def _drop_owner(obj: dict, uid: str) -> bool:
    refs = obj["metadata"].get("ownerReferences") or []
    kept = [r for r in refs if r.get("uid") != uid]
    if len(kept) == len(refs):
        return False
    if kept:
        obj["metadata"]["ownerReferences"] = kept
    else:
        del obj["metadata"]["ownerReferences"]
    return True
