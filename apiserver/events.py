"""Kubernetes Events written by the controllers (Scheduled, SuccessfulCreate,
ScalingReplicaSet, ...), so `kubectl describe` and `kubectl get events` tell what happened.
Repeats of the same event bump its count instead of adding objects, as upstream does."""

from __future__ import annotations

import logging
import time

from apiserver import registry
from apiserver import status as errors
from apiserver.resources import require

log = logging.getLogger(__name__)

EVENTS = require("", "v1", "events")


class Recorder:
    def __init__(self, reg: registry.Registry) -> None:
        self.registry = reg
        self._seen: dict[tuple[str, str, str, str], tuple[str, str]] = {}

    async def record(self, obj: dict, etype: str, reason: str, message: str,
                     component: str, field_path: str = "", host: str = "") -> None:
        """``field_path`` names the part of the object (``spec.containers{web}``);
        ``host`` the node of a kubelet event."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (meta.get("uid", ""), reason, message, component + field_path)
        now = registry.rfc3339(self.registry.clock())
        try:
            if key in self._seen:
                ns, name = self._seen[key]

                def bump(ev: dict) -> bool:
                    ev["count"] = ev.get("count", 1) + 1
                    ev["lastTimestamp"] = now
                    return True

                if await self.registry.mutate(EVENTS, ns, name, bump) is not None:
                    return
            name = f"{meta['name']}.{time.time_ns():x}"[:253]
            await self.registry.create(EVENTS, namespace, {
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {
                    "kind": obj.get("kind"), "namespace": meta.get("namespace", ""),
                    "name": meta["name"], "uid": meta.get("uid"),
                    "apiVersion": obj.get("apiVersion"),
                    "resourceVersion": meta.get("resourceVersion"),
                    **({"fieldPath": field_path} if field_path else {}),
                },
                "reason": reason, "message": message, "type": etype,
                "source": {"component": component, **({"host": host} if host else {})},
                "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                "reportingComponent": component, "reportingInstance": host,
            })
            self._seen[key] = (namespace, name)
            if len(self._seen) > 10_000:
                self._seen.pop(next(iter(self._seen)))
        except errors.ApiError as e:  # events are best effort, as upstream
            log.debug("event %s/%s not recorded: %s", reason, meta.get("name"), e.message)
