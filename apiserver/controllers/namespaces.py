"""Namespace lifecycle: a new namespace gets its `default` ServiceAccount and the
`kube-root-ca.crt` ConfigMap; a terminating one is emptied, then its `kubernetes`
finalizer is removed so the deletion completes (what `kubectl delete ns` waits for)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apiserver import registry, store
from apiserver import status as errors
from apiserver.controllers.base import Controller, Key
from apiserver.resources import RESOURCES, require

SERVICE_ACCOUNTS = require("", "v1", "serviceaccounts")
CONFIG_MAPS = require("", "v1", "configmaps")
NAMESPACED = [r for r in RESOURCES if r.namespaced]


class Namespaces(Controller):
    name = "namespace-controller"
    watches = ("namespaces",) + tuple(r.key for r in NAMESPACED)
    workers = 2

    def __init__(self, reg: registry.Registry, ca_pem: str) -> None:
        super().__init__(reg)
        self.ca_pem = ca_pem

    def keys_for(self, event: store.Event) -> Iterable[Key]:
        if event.resource == "namespaces":
            yield (event.name,)
        elif event.type == "DELETED":
            ns = self.store.get("namespaces", "", event.namespace)
            if ns is not None and ns.obj["metadata"].get("deletionTimestamp"):
                yield (event.namespace,)

    def initial_keys(self) -> Iterable[Key]:
        return [(s.obj["metadata"]["name"],) for s in self.store.iter("namespaces")]

    async def reconcile(self, key: Key) -> None:
        (name,) = key
        ns = self.store.get("namespaces", "", name)
        if ns is None:
            return
        if ns.obj["metadata"].get("deletionTimestamp"):
            await self._empty(name)
        else:
            await self._ensure_defaults(name)

    async def _ensure_defaults(self, ns: str) -> None:
        wanted: list[tuple[registry.Resource, dict[str, Any]]] = [
            (SERVICE_ACCOUNTS, {"metadata": {"name": "default"}}),
            (CONFIG_MAPS, {"metadata": {"name": "kube-root-ca.crt", "annotations": {
                "kubernetes.io/description": "Contains a CA bundle that can be used to verify "
                "the kube-apiserver when using internal endpoints such as the internal service "
                "IP or kubernetes.default.svc. No other usage is guaranteed across distributions "
                "of Kubernetes clusters."}}, "data": {"ca.crt": self.ca_pem}}),
        ]
        for res, body in wanted:
            if self.store.get(res.key, ns, body["metadata"]["name"]) is None:
                try:
                    await self.registry.create(res, ns, body)
                except errors.ApiError as e:
                    if e.reason not in ("AlreadyExists", "Forbidden", "NotFound"):
                        raise

    async def _empty(self, ns: str) -> None:
        remaining = 0
        for res in NAMESPACED:
            for stored in self.store.list(res.key, ns):
                remaining += 1
                if stored.obj["metadata"].get("deletionTimestamp") and res is not registry.PODS:
                    continue
                try:
                    await self.registry.delete(res, ns, stored.obj["metadata"]["name"],
                                               {"propagationPolicy": "Background",
                                                "gracePeriodSeconds": 0})
                except errors.ApiError as e:
                    if e.reason != "NotFound":
                        raise
        if remaining:
            # Deletions above emit events that requeue this namespace; check again then.
            return

        def finalize(obj: dict) -> bool:
            finalizers = obj.get("spec", {}).get("finalizers") or []
            if "kubernetes" not in finalizers:
                return False
            obj["spec"]["finalizers"] = [f for f in finalizers if f != "kubernetes"]
            return True

        await self.registry.mutate(registry.NAMESPACES, "", ns, finalize, subresource=registry.ALL)
