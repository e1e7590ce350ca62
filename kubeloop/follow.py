"""Following resources over the apiserver's gRPC watch (node agents, the ingress
controller): each watched resource has followers (kube-proxy, the cluster DNS, the
ConfigMap/Secret cache, the ingress routing table) that mirror it. A watch starts
with the full list, handed over at SYNCED (what is missing from it was deleted while the
process was away), then every change. One stream per resource feeds all its followers."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

import orjson

from proto import kubeloop_pb2 as pb

log = logging.getLogger(__name__)


class Follower(Protocol):
    """Mirrors some resources; methods may be plain or coroutines."""

    def resync(self, kind: str, objects: list[dict]) -> Awaitable[None] | None: ...

    def update(self, kind: str, obj: dict) -> Awaitable[None] | None: ...

    def delete(self, kind: str, obj: dict) -> Awaitable[None] | None: ...


async def _call(result: Awaitable[None] | None) -> None:
    if inspect.isawaitable(result):
        await result


async def follow(stub: Any, resource: str, followers: Sequence[Follower], *,
                 namespace: str = "", label_selector: str = "") -> None:
    """Feed ``followers`` from a watch of ``resource`` (in ``namespace`` and matching
    ``label_selector`` when given) until the stream fails (the ``grpc.aio.AioRpcError``
    propagates; the caller reconnects and calls it again)."""
    listed: dict[tuple[str, str], dict] | None = {}  # the initial list, until SYNCED
    request = pb.WatchRequest(resource=resource, namespace=namespace,
                              label_selector=label_selector)
    async for event in stub.Watch(request):
        if event.type == pb.WatchEvent.SYNCED:
            objects = list((listed or {}).values())
            for f in followers:
                await _call(f.resync(resource, objects))
            listed = None
            continue
        try:
            obj = orjson.loads(event.object)
            key = _key(obj)
        except (ValueError, KeyError, TypeError) as e:
            log.warning("skipping a malformed %s event: %s", resource, e)
            continue
        if listed is not None:
            if event.type == pb.WatchEvent.DELETED:
                listed.pop(key, None)
            else:
                listed[key] = obj
            continue
        for f in followers:
            if event.type == pb.WatchEvent.DELETED:
                await _call(f.delete(resource, obj))
            else:
                await _call(f.update(resource, obj))


class FirstSync:
    """Holds a follower's input until each of ``kinds`` has its first full list, then
    hands the lists over in ``kinds``' order, so the follower never judges a partial
    picture (an Ingress whose Service list has not arrived yet is not a missing Service).
    Afterwards everything passes straight through (a reconnect's resync included)."""

    def __init__(self, follower: Follower, kinds: Sequence[str]) -> None:
        self.follower = follower
        self.kinds = tuple(kinds)
        self.pending: dict[str, dict[tuple[str, str], dict]] | None = {}  # None: open

    async def resync(self, kind: str, objects: list[dict]) -> None:
        if self.pending is None:
            await _call(self.follower.resync(kind, objects))
            return
        self.pending[kind] = {_key(o): o for o in objects}
        if set(self.pending) >= set(self.kinds):
            pending, self.pending = self.pending, None
            for k in self.kinds:
                await _call(self.follower.resync(k, list(pending[k].values())))

    async def update(self, kind: str, obj: dict) -> None:
        if self.pending is None:
            await _call(self.follower.update(kind, obj))
        else:
            self.pending.setdefault(kind, {})[_key(obj)] = obj

    async def delete(self, kind: str, obj: dict) -> None:
        if self.pending is None:
            await _call(self.follower.delete(kind, obj))
        else:
            self.pending.setdefault(kind, {}).pop(_key(obj), None)


def _key(obj: dict) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
