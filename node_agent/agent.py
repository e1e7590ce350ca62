"""The node agent process: registers its node, keeps it Ready with heartbeats, and
follows the pods bound to it (a watch over gRPC). When the apiserver goes away the agent
keeps what it runs and reconnects with backoff, then resyncs from a fresh watch."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal

import grpc
import orjson

from kubeloop.config import ClusterConfig
from kubeloop.tasks import TaskGroup
from node_agent import client, ipam, kubelet
from node_agent.containers import Directory
from node_agent.runtime import NodeInfo, PodRuntime
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
        self.runtimes: dict[str, PodRuntime] = {}  # pod uid -> its runtime
        self.directory = Directory()
        self.node: NodeInfo | None = None
        self.tasks = TaskGroup(self.name)
        self._unreported: set[str] = set()  # uids whose status did not reach the apiserver
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
        info = reply.cluster
        self.node = NodeInfo(self.name, self.address, info.cluster_domain, info.dns_ip,
                             info.service_cidr)
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
        listed: set[str] | None = set()
        async for event in stream:
            if event.type == pb.WatchEvent.SYNCED:
                assert listed is not None
                for uid in set(self.runtimes) - listed:  # deleted while we were away
                    await self._stop_pod(uid)
                listed = None
                for uid in list(self._unreported):
                    if uid in self.runtimes:
                        await self.report(self.runtimes[uid])
                log.info("running %d pods on %s", len(self.runtimes), self.name)
                continue
            pod = orjson.loads(event.object)
            uid = pod["metadata"]["uid"]
            if listed is not None:
                listed.add(uid)
            if event.type == pb.WatchEvent.DELETED:
                await self._stop_pod(uid)
            elif pod["metadata"].get("deletionTimestamp"):
                await self._stop_pod(uid)
                await self._finish_deletion(pod)
            elif uid in self.runtimes:
                self.runtimes[uid].pod = pod
            elif (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                self._start_pod(pod)  # (a finished pod stays finished across agent restarts)

    def _start_pod(self, pod: dict) -> None:
        assert self.node is not None
        meta = pod["metadata"]
        used = {r.ip for r in self.runtimes.values()}
        previous = (pod.get("status") or {}).get("podIP")
        if previous and previous not in used and \
                ipaddress.ip_address(previous) in ipaddress.ip_network(self.pod_cidr):
            ip = previous  # the agent restarted: the pod keeps its address
        else:
            try:
                ip = ipam.allocate(self.pod_cidr, used)
            except ipam.PoolExhausted as e:
                log.error("cannot start %s/%s: %s", meta["namespace"], meta["name"], e)
                return
        runtime = PodRuntime(pod, self.node, ip, self.directory, self.report)
        self.runtimes[meta["uid"]] = runtime
        log.info("starting pod %s/%s on %s", meta["namespace"], meta["name"], ip)
        self.tasks.spawn(f"start-{meta['namespace']}/{meta['name']}", runtime.start(),
                         expect_exit=True)

    async def _stop_pod(self, uid: str) -> None:
        runtime = self.runtimes.pop(uid, None)
        self._unreported.discard(uid)
        if runtime is not None:
            log.info("stopping pod %s/%s", runtime.namespace, runtime.name)
            await runtime.stop()

    async def report(self, runtime: PodRuntime) -> None:
        """Send a pod's status; kept for a retry after reconnecting if it cannot go now."""
        if runtime.stopping:
            return
        try:
            await self._stub.UpdateStatus(pb.UpdateStatusRequest(
                resource="pods", namespace=runtime.namespace, name=runtime.name,
                uid=runtime.uid, status=orjson.dumps(runtime.status())), timeout=5)
            self._unreported.discard(runtime.uid)
        except grpc.aio.AioRpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:
                self._unreported.add(runtime.uid)

    async def _finish_deletion(self, pod: dict) -> None:
        """The pod's containers are stopped: its deletion can complete, as a kubelet
        confirms it once the containers are gone."""
        meta = pod["metadata"]
        await self._stub.FinishDeletion(pb.ObjectRef(resource="pods", namespace=meta["namespace"],
                                                     name=meta["name"], uid=meta["uid"]))

    async def close(self) -> None:
        for uid in list(self.runtimes):
            await self._stop_pod(uid)
        await self.tasks.close()
        await self._channel.close()


async def serve(config: ClusterConfig, index: int) -> None:
    agent = Agent(config, index)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    cert, key = kubelet.serving_certificate(config, agent.name, agent.address)
    server = kubelet.KubeletServer(agent.directory, agent.address, kubelet.KUBELET_PORT, cert,
                                   key, config.node_token_file.read_text().strip())
    await server.start()
    try:
        await agent.run(stop)
    finally:
        await server.stop()
        await agent.close()
        log.info("stopped")
