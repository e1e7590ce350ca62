"""The service-lb controller: gives each LoadBalancer Service an address from the
cluster's LoadBalancer pool (``status.loadBalancer.ingress``, so `kubectl get svc` shows
an EXTERNAL-IP). Addresses are held only by the Services' status, so deleting a Service,
or changing its type (the registry then drops the status), frees its address; the choice
itself is ``services.load_balancer_ingress``. One worker, so two Services never race for one
address."""

from __future__ import annotations

from collections.abc import Iterable

from apiserver import registry, services, store
from apiserver.controllers.base import Controller, Key
from apiserver.events import Recorder

COMPONENT = "service-controller"  # the event source a cloud provider's controller uses


class LoadBalancers(Controller):
    name = "service-lb-controller"
    watches = (registry.SERVICES.key,)
    workers = 1

    def __init__(self, reg: registry.Registry, recorder: Recorder) -> None:
        super().__init__(reg)
        self.recorder = recorder
        self.pool = reg.config.network.lb_cidr
        self._failed: dict[Key, str] = {}  # the error last reported, so it is told once
        self._released: set[Key] = set()  # stopped being LoadBalancers while holding an IP

    def keys_for(self, event: store.Event) -> Iterable[Key]:
        key = (event.namespace, event.name)
        yield key
        if event.type == "DELETED":
            self._failed.pop(key, None)
            freed = bool(services.ingress_ips(event.obj))
        else:
            # Judged from the type alone: the registry clears the status with the type.
            left = event.old is not None and services.wants_load_balancer(event.old) and \
                (event.obj.get("spec") or {}).get("type") != "LoadBalancer"
            if left:
                self._released.add(key)
            freed = left or bool(set(services.ingress_ips(event.old or {})) -
                                 set(services.ingress_ips(event.obj)))
        if freed:  # Services waiting for an address may get this one now
            yield from self._waiting()

    def initial_keys(self) -> Iterable[Key]:
        return [(s.obj["metadata"]["namespace"], s.obj["metadata"]["name"])
                for s in self.store.iter(registry.SERVICES.key)]

    def _waiting(self) -> Iterable[Key]:
        for s in self.store.iter(registry.SERVICES.key):
            if services.wants_load_balancer(s.obj) and not services.ingress_ips(s.obj):
                yield (s.obj["metadata"]["namespace"], s.obj["metadata"]["name"])

    async def reconcile(self, key: Key) -> None:
        namespace, name = key
        found = self.store.get(registry.SERVICES.key, namespace, name)
        if found is None:
            return
        svc = found.obj
        if key in self._released:
            # The registry dropped the address with the type; tell it as a cloud would.
            self._released.discard(key)
            self._failed.pop(key, None)
            await self.recorder.record(svc, "Normal", "DeletingLoadBalancer",
                                       "Deleting load balancer", COMPONENT)
            await self.recorder.record(svc, "Normal", "DeletedLoadBalancer",
                                       "Deleted load balancer", COMPONENT)
        if not services.wants_load_balancer(svc):
            return
        uid = svc["metadata"]["uid"]
        others = (s.obj for s in self.store.iter(registry.SERVICES.key)
                  if s.obj["metadata"]["uid"] != uid)
        decision = services.load_balancer_ingress(
            svc, self.pool, services.lb_ips_in_use(others, self.pool))
        if decision.error and self._failed.get(key) != decision.error:
            self._failed[key] = decision.error
            await self.recorder.record(svc, "Warning", "SyncLoadBalancerFailed",
                                       "Error syncing load balancer: failed to ensure load "
                                       f"balancer: {decision.error}", COMPONENT)
        current = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if decision.ingress == current:
            return
        if decision.ingress:
            self._failed.pop(key, None)
            await self.recorder.record(svc, "Normal", "EnsuringLoadBalancer",
                                       "Ensuring load balancer", COMPONENT)
        if await self._set_ingress(namespace, name, decision.ingress) is not None and \
                decision.ingress:
            await self.recorder.record(svc, "Normal", "EnsuredLoadBalancer",
                                       "Ensured load balancer", COMPONENT)

    async def _set_ingress(self, namespace: str, name: str, ingress: list[dict]) -> dict | None:
        def change(obj: dict) -> bool:
            status = obj.setdefault("status", {})
            lb = {"ingress": ingress} if ingress else {}
            if status.get("loadBalancer") == lb:
                return False
            status["loadBalancer"] = lb
            return True

        return await self.registry.mutate(registry.SERVICES, namespace, name, change,
                                          subresource="status")
