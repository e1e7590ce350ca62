"""Write semantics of the API: what create, update, patch and delete do to an object before
it reaches the store (metadata, defaults, validation, allocation, status/spec split,
graceful deletion). The HTTP layer and the controllers both write through here, so every
object in the store has passed the same checks."""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from apiserver import allocation, fields, jobs, naming, patching, services, store
from apiserver import status as errors
from apiserver.resources import Resource, for_kind, require
from apiserver.defaults import apply_defaults, drop_type_dependent_fields
from apiserver.validate_networking import INGRESS_CLASS_ANNOTATION
from apiserver.validation import Cause, invalid_message, validate
from kubeloop.config import ClusterConfig

NAMESPACES = require("", "v1", "namespaces")
SERVICES = require("", "v1", "services")
PODS = require("", "v1", "pods")
assert NAMESPACES and SERVICES and PODS

# Objects whose deletion waits for someone (a controller, the kubelet) to finish it.
FOREGROUND = "foregroundDeletion"
# Subresource marker for internal writers (kubelet-like, scheduler) that own spec and status.
ALL = "*"
ORPHAN = "orphan"


def rfc3339(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _spec_of(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class Registry:
    def __init__(self, db: store.Store, config: ClusterConfig,
                 clock: Callable[[], datetime] = utcnow, rng: random.Random | None = None) -> None:
        self.store = db
        self.config = config
        self.clock = clock
        self.rng = rng or random.Random()
        net = config.network
        self.ranges = allocation.Ranges(net.service_cidr, net.node_ports, net.lb_cidr)

    # --- helpers -------------------------------------------------------------------------
    def get(self, res: Resource, namespace: str, name: str) -> store.Stored:
        found = self.store.get(res.key, namespace if res.namespaced else "", name)
        if found is None:
            raise errors.not_found(res, name)
        return found

    def _check_kind(self, res: Resource, body: Any) -> dict:
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON or YAML object")
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if kind and kind != res.kind and not (kind == "Scale"):
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({res.kind})")
        if api_version and api_version != res.api_version and kind != "Scale":
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({res.api_version})")
        body["apiVersion"], body["kind"] = res.api_version, res.kind
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        return meta

    def _check_namespace(self, res: Resource, namespace: str, meta: dict) -> None:
        if not res.namespaced:
            meta.pop("namespace", None)
            return
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request")
        meta["namespace"] = namespace

    def _validate(self, res: Resource, obj: dict, old: dict | None) -> None:
        causes = validate(res.kind, obj, old)
        if causes:
            name = obj["metadata"].get("name", "")
            raise errors.invalid(res, name, invalid_message(res.kind, name, causes), causes)

    # --- create ----------------------------------------------------------------------------
    async def create(self, res: Resource, namespace: str, body: Any, *,
                     dry_run: bool = False) -> dict:
        meta = self._check_kind(res, body)
        self._check_namespace(res, namespace, meta)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = naming.generate_name(meta["generateName"], self.rng)
        if res.namespaced:
            ns = self.store.get(NAMESPACES.key, "", namespace)
            if ns is None:
                raise errors.not_found(NAMESPACES, namespace)
            if ns.obj["metadata"].get("deletionTimestamp"):
                raise errors.forbidden(res, meta.get("name", ""),
                                       f"unable to create new content in namespace {namespace} "
                                       "because it is being terminated")
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = rfc3339(self.clock())
        if res.generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        apply_defaults(res.kind, body)
        if res.kind == "Job":
            jobs.prepare_for_create(body)
        self._validate(res, body, None)
        self._on_create(res, body)
        if dry_run:
            return body
        try:
            return (await self.store.create(res.key, body)).obj
        except store.AlreadyExists as e:
            raise errors.already_exists(res, meta["name"]) from e

    def _on_create(self, res: Resource, obj: dict) -> None:
        if res is PODS:
            obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj)}
        elif res is SERVICES:
            self._allocate_service(obj, None)
            obj.setdefault("status", {"loadBalancer": {}})
        elif res.kind in ("Deployment", "ReplicaSet", "Job"):
            obj["status"] = {}
        elif res.kind == "Ingress":
            self._default_ingress_class(obj)

    def _default_ingress_class(self, ingress: dict) -> None:
        """The DefaultIngressClass admission plugin: an Ingress that names no class gets
        the default IngressClass (the newest one, if several claim to be default)."""
        spec = ingress.setdefault("spec", {})
        annotations = ingress["metadata"].get("annotations") or {}
        if spec.get("ingressClassName") or INGRESS_CLASS_ANNOTATION in annotations:
            return
        defaults = [s.obj for s in self.store.iter("networking.k8s.io/ingressclasses")
                    if (s.obj["metadata"].get("annotations") or {}).get(
                        "ingressclass.kubernetes.io/is-default-class") == "true"]
        if defaults:
            newest = max(defaults, key=lambda c: c["metadata"].get("creationTimestamp", ""))
            spec["ingressClassName"] = newest["metadata"]["name"]

    def _allocate_service(self, svc: dict, old: dict | None) -> None:
        others = [s.obj for s in self.store.iter(SERVICES.key)
                  if old is None or s.obj["metadata"]["uid"] != old["metadata"]["uid"]]
        used_ips, used_ports = allocation.used_service_values(others)
        try:
            services.allocate(svc, old, self.ranges, used_ips, used_ports, self.rng)
        except allocation.AllocationError as e:
            cause = services.cause_for(e)
            name = svc["metadata"].get("name", "")
            raise errors.invalid(SERVICES, name, invalid_message("Service", name, [cause]),
                                 [cause]) from e

    # --- update ----------------------------------------------------------------------------
    async def update(self, res: Resource, namespace: str, name: str, body: Any, *,
                     subresource: str = "", dry_run: bool = False,
                     expect_rv: int | None = None) -> dict:
        current = self.get(res, namespace, name)
        meta = self._check_kind(res, body)
        self._check_namespace(res, namespace, meta)
        if meta.get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the "
                f"URL ({name})")
        meta["name"] = name
        if meta.get("resourceVersion"):
            try:
                requested = int(meta["resourceVersion"])
            except ValueError as e:
                raise errors.bad_request(
                    f"invalid resourceVersion {meta['resourceVersion']!r}") from e
            if requested != current.rv:
                raise errors.conflict(res, name)
        return await self._replace(res, current, body, subresource=subresource, dry_run=dry_run,
                                   expect_rv=current.rv if expect_rv is None else expect_rv)

    async def _replace(self, res: Resource, current: store.Stored, new: dict, *,
                       subresource: str, dry_run: bool, expect_rv: int | None) -> dict:
        old = current.obj
        meta, old_meta = new["metadata"], old["metadata"]
        for field in ("uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation"):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        if subresource == "status":
            status = new.get("status")
            new = store.copy(current)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        else:
            if subresource != ALL and res.has_status and "status" in old:
                new["status"] = copy.deepcopy(old["status"])  # defaults may edit it
            elif subresource != ALL and res.has_status:
                new.pop("status", None)
            if res is SERVICES:
                drop_type_dependent_fields(new, old)
            apply_defaults(res.kind, new)
        # Internal writers (binding, node status) make transitions users may not make.
        self._validate(res, new, None if subresource == ALL else old)
        if subresource != "status":
            if res is SERVICES:
                self._allocate_service(new, old)
            if res.generation and _spec_of(new) != _spec_of(old):
                new["metadata"]["generation"] = old_meta.get("generation", 1) + 1
        if old_meta.get("deletionTimestamp") and not new["metadata"].get("finalizers") and not (
                res is NAMESPACES and (new.get("spec") or {}).get("finalizers")):
            # The last finalizer went away: the pending deletion completes now.
            if dry_run:
                return new
            return (await self.store.delete(res.key, current.obj["metadata"].get("namespace", ""),
                                            old_meta["name"])).obj
        new["metadata"]["resourceVersion"] = old_meta.get("resourceVersion")
        if new == old:
            return old  # no-op updates do not bump the resourceVersion, as upstream
        if dry_run:
            return new
        try:
            return (await self.store.update(res.key, new, expect_rv)).obj
        except store.Conflict as e:
            raise errors.conflict(res, old_meta["name"]) from e
        except store.NotFound as e:
            raise errors.not_found(res, old_meta["name"]) from e

    # --- patch -----------------------------------------------------------------------------
    async def patch(self, res: Resource, namespace: str, name: str, patch: bytes,
                    content_type: str, *, subresource: str = "", dry_run: bool = False,
                    strict: bool = False) -> dict:
        for _ in range(5):  # retry a lost compare-and-swap against the latest object
            current = self.get(res, namespace, name)
            base = store.copy(current)
            try:
                patched = patching.apply_patch(base, patch, content_type, res.kind)
            except patching.PatchError as e:
                raise errors.ApiError(e.code, e.reason, e.message) from e
            unknown = fields.prune(res.api_version, res.kind, patched)
            if unknown and strict:
                raise errors.bad_request(fields.strict_message(res.kind, res.api_version,
                                                               unknown))
            rv = patched.get("metadata", {}).get("resourceVersion")
            if rv and rv != current.obj["metadata"]["resourceVersion"]:
                raise errors.conflict(res, name)
            try:
                return await self.update(res, namespace, name, patched, subresource=subresource,
                                         dry_run=dry_run, expect_rv=current.rv)
            except errors.ApiError as e:
                if e.reason != "Conflict" or rv:
                    raise
        raise errors.conflict(res, name)

    async def mutate(self, res: Resource, namespace: str, name: str,
                     change: Callable[[dict], Awaitable[bool] | bool], *,
                     subresource: str = "") -> dict | None:
        """Read-modify-write for controllers: ``change`` edits a copy and returns whether
        anything changed; conflicts are retried. Returns None when the object is gone."""
        for _ in range(10):
            current = self.store.get(res.key, namespace if res.namespaced else "", name)
            if current is None:
                return None
            obj = store.copy(current)
            changed = change(obj)
            if not isinstance(changed, bool):
                changed = await changed
            if not changed:
                return current.obj
            try:
                return await self._replace(res, current, obj, subresource=subresource,
                                           dry_run=False, expect_rv=current.rv)
            except errors.ApiError as e:
                if e.reason == "NotFound":
                    return None
                if e.reason != "Conflict":
                    raise
        raise errors.conflict(res, name, "too many concurrent changes")

    # --- delete ----------------------------------------------------------------------------
    async def delete(self, res: Resource, namespace: str, name: str, options: dict | None = None,
                     *, dry_run: bool = False) -> dict:
        options = options or {}
        current = self.get(res, namespace, name)
        obj = current.obj
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
            raise errors.conflict(res, name, f"Precondition failed: UID in precondition: "
                                  f"{pre['uid']}, UID in object meta: {obj['metadata']['uid']}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            raise errors.conflict(res, name, "Precondition failed: ResourceVersion in "
                                  f"precondition: {pre['resourceVersion']}, ResourceVersion in "
                                  f"object meta: {obj['metadata']['resourceVersion']}")
        policy = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents")
                                                      else "Background")
        grace = options.get("gracePeriodSeconds")
        finalizers = list(obj["metadata"].get("finalizers") or [])
        if policy == "Foreground" and FOREGROUND not in finalizers:
            finalizers.append(FOREGROUND)
        elif policy == "Orphan" and ORPHAN not in finalizers:
            finalizers.append(ORPHAN)
        graceful = res is PODS and obj["spec"].get("nodeName") and grace != 0 and \
            not obj["metadata"].get("deletionTimestamp")
        pending = finalizers or graceful or (res is NAMESPACES)
        if obj["metadata"].get("deletionTimestamp") and not (res is PODS and grace == 0):
            return obj  # already being deleted
        if not pending or (res is PODS and grace == 0 and not finalizers):
            if dry_run:
                return obj
            try:
                return (await self.store.delete(res.key, obj["metadata"].get("namespace", ""),
                                                name)).obj
            except store.NotFound as e:
                raise errors.not_found(res, name) from e

        def mark(o: dict) -> bool:
            m = o["metadata"]
            m["deletionTimestamp"] = rfc3339(self.clock())
            if res is PODS:
                period = grace if grace is not None else o["spec"].get(
                    "terminationGracePeriodSeconds", 30)
                m["deletionGracePeriodSeconds"] = period
            elif finalizers:
                m["deletionGracePeriodSeconds"] = 0
            if finalizers:
                m["finalizers"] = finalizers
            if res is NAMESPACES:
                o.setdefault("status", {})["phase"] = "Terminating"
            return True

        if dry_run:
            copy = store.copy(current)
            mark(copy)
            return copy
        new = store.copy(current)
        mark(new)
        stored = await self.store.update(res.key, new, current.rv)
        return stored.obj

    # --- scale subresource ---------------------------------------------------------------
    def scale_of(self, res: Resource, obj: dict) -> dict:
        from apiserver.printing import format_label_selector

        meta = obj["metadata"]
        status: dict[str, Any] = {"replicas": (obj.get("status") or {}).get("replicas", 0)}
        selector = format_label_selector(obj["spec"].get("selector"))
        if selector and selector != "<none>":
            status["selector"] = selector
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                               "creationTimestamp") if k in meta},
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": status,
        }

    async def set_scale(self, res: Resource, namespace: str, name: str, scale: Any) -> dict:
        if not isinstance(scale, dict) or not isinstance(scale.get("spec"), dict):
            raise errors.bad_request("the body must be an autoscaling/v1 Scale")
        replicas = scale["spec"].get("replicas")
        current = self.get(res, namespace, name)
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != current.obj["metadata"]["resourceVersion"]:
            raise errors.conflict(res, name)
        if not isinstance(replicas, int) or replicas < 0:
            cause = Cause("spec.replicas", "FieldValueInvalid",
                          f"Invalid value: {replicas}: must be greater than or equal to 0")
            raise errors.invalid(res, name, f'Scale.autoscaling "{name}" is invalid: '
                                 f"spec.replicas: {cause.message}", [cause])
        obj = store.copy(current)
        obj["spec"]["replicas"] = replicas
        updated = await self._replace(res, current, obj, subresource="", dry_run=False,
                                      expect_rv=current.rv)
        return self.scale_of(res, updated)

    # --- binding ---------------------------------------------------------------------------
    async def bind(self, namespace: str, name: str, node: str) -> None:
        def assign(pod: dict) -> bool:
            current = pod["spec"].get("nodeName")
            if current:
                raise errors.conflict(PODS, name, f"pod {name} is already assigned to node "
                                      f'"{current}"')
            pod["spec"]["nodeName"] = node
            set_condition(pod, "PodScheduled", "True", rfc3339(self.clock()))
            return True

        if await self.mutate(PODS, namespace, name, assign, subresource=ALL) is None:
            raise errors.not_found(PODS, name)


def set_condition(obj: dict, ctype: str, status: str, now: str, reason: str = "",
                  message: str = "") -> bool:
    """Set a status condition, keeping lastTransitionTime when the status is unchanged."""
    conds = obj.setdefault("status", {}).setdefault("conditions", [])
    for c in conds:
        if c.get("type") == ctype:
            if c.get("status") == status and c.get("reason", "") == reason and \
                    c.get("message", "") == message:
                return False
            if c.get("status") != status:
                c["lastTransitionTime"] = now
            c["status"] = status
            c["lastProbeTime"] = None
            for k, v in (("reason", reason), ("message", message)):
                if v:
                    c[k] = v
                else:
                    c.pop(k, None)
            return True
    cond: dict[str, Any] = {"type": ctype, "status": status, "lastProbeTime": None,
                            "lastTransitionTime": now}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    conds.append(cond)
    return True


def _qos_class(pod: dict) -> str:
    containers = pod.get("spec", {}).get("containers") or []
    requests = [c.get("resources", {}) for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in requests):
        return "BestEffort"
    guaranteed = all(
        r.get("limits", {}).get(k) and r.get("requests", r.get("limits", {})).get(k) ==
        r["limits"][k] for r in requests for k in ("cpu", "memory"))
    return "Guaranteed" if guaranteed else "Burstable"


def resource_for(obj: dict) -> Resource | None:
    return for_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
