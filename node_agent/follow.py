"""Following resources over the agent's gRPC watch: each watched resource has followers
(kube-proxy, the cluster DNS, the ConfigMap/Secret cache) that mirror it. A watch starts
with the full list, handed over at SYNCED (what is missing from it was deleted while the
agent was away), then every change. One stream per resource feeds all its followers."""

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


async def follow(stub: Any, resource: str, followers: Sequence[Follower]) -> None:
    """Feed ``followers`` from a watch of ``resource`` until the stream fails (the
    ``grpc.aio.AioRpcError`` propagates; the agent reconnects and calls it again)."""
    listed: dict[tuple[str, str], dict] | None = {}  # the initial list, until SYNCED
    async for event in stub.Watch(pb.WatchRequest(resource=resource)):
        if event.type == pb.WatchEvent.SYNCED:
            objects = list((listed or {}).values())
            for f in followers:
                await _call(f.resync(resource, objects))
            listed = None
            continue
        try:
            obj = orjson.loads(event.object)
            key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
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
