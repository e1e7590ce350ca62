"""The node agent process: registers its node, keeps it Ready with heartbeats, and
follows the pods bound to it (a watch over gRPC). When the apiserver goes away the agent
keeps what it runs and reconnects with backoff, then resyncs from a fresh watch."""

from __future__ import annotations

import asyncio
import logging
import signal

import grpc
import orjson

from kubeloop.config import ClusterConfig
from node_agent import client
from proto import kubeloop_pb2 as pb

log = logging.getLogger("node_agent")

VERSION = "0.1.0"
MAX_BACKOFF = 2.0


class Agent:
    def __init__(self, config: ClusterConfig, index: int) -> None:
        self.config = config
        self.index = index
        self.name = config.node_name(index)
        self.address = config.network.node_ip(index)
        self.pod_cidr = config.network.node_pod_cidr(index)
        self.pods: dict[str, dict] = {}  # uid -> pod bound to this node
        self._channel, self._stub = client.connect(config)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.05
        while not stop.is_set():
            try:
                await self._session(stop)
                backoff = 0.05
            except grpc.aio.AioRpcError as e:
                if stop.is_set():
                    break
                log.warning("apiserver connection lost (%s: %s); retrying in %.1fs",
                            e.code().name, e.details(), backoff)
                try:
                    await asyncio.wait_for(stop.wait(), backoff)
                except asyncio.TimeoutError:
                    pass
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _session(self, stop: asyncio.Event) -> None:
        """One connected period: register, then heartbeat and watch until either fails."""
        register = asyncio.ensure_future(self._stub.Register(pb.RegisterRequest(
            node_name=self.name, address=self.address, pod_cidr=self.pod_cidr,
            agent_version=VERSION), wait_for_ready=True))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({register, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not register.done():  # asked to stop while the apiserver is unreachable
            register.cancel()
            return
        reply = register.result()
        self.pod_cidr = reply.pod_cidr
        log.info("registered as %s (%s, pods %s)", self.name, self.address, self.pod_cidr)
        heartbeat = asyncio.ensure_future(self._heartbeat(reply.cluster.heartbeat_interval))
        watch = asyncio.ensure_future(self._watch_pods())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            done, _ = await asyncio.wait({heartbeat, watch, stopping},
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopping and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in (heartbeat, watch, stopping):
                task.cancel()
            await asyncio.gather(heartbeat, watch, stopping, return_exceptions=True)

    async def _heartbeat(self, interval: float) -> None:
        while True:
            reply = await self._stub.Heartbeat(pb.HeartbeatRequest(node_name=self.name),
                                               timeout=max(interval * 3, 2.0))
            if not reply.registered:
                log.warning("node object %s is gone; registering again", self.name)
                return
            await asyncio.sleep(interval)

    async def _watch_pods(self) -> None:
        stream = self._stub.Watch(pb.WatchRequest(resource="pods",
                                                  field_selector=f"spec.nodeName={self.name}"))
        synced = False
        async for event in stream:
            if event.type == pb.WatchEvent.SYNCED:
                synced = True
                log.info("watching %d pods bound to %s", len(self.pods), self.name)
                continue
            pod = orjson.loads(event.object)
            uid = pod["metadata"]["uid"]
            if event.type == pb.WatchEvent.DELETED:
                self.pods.pop(uid, None)
                continue
            self.pods[uid] = pod
            if pod["metadata"].get("deletionTimestamp"):
                await self._finish_deletion(pod)
        if not synced:
            log.warning("pod watch ended before it synced")

    async def _finish_deletion(self, pod: dict) -> None:
        """Nothing runs the pod yet (node agents serve pods in a later release), so a
        terminating pod is done at once, as a kubelet does once its containers stopped."""
        meta = pod["metadata"]
        await self._stub.FinishDeletion(pb.ObjectRef(resource="pods", namespace=meta["namespace"],
                                                     name=meta["name"], uid=meta["uid"]))

    async def close(self) -> None:
        await self._channel.close()


async def serve(config: ClusterConfig, index: int) -> None:
    agent = Agent(config, index)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await agent.run(stop)
    finally:
        await agent.close()
        log.info("stopped")
