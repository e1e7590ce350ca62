"""The node agent process: registers its node, keeps it Ready with heartbeats, and
follows the pods bound to it (a watch over gRPC). When the apiserver goes away the agent
keeps what it runs and reconnects with backoff, then resyncs from a fresh watch.

Each watch starts with the pods bound here (ADDED ... SYNCED). Pods to start from that
list are started together at SYNCED, so the ones a previous agent ran keep their
``status.podIP`` before new ones take free addresses; running pods missing from it were
deleted meanwhile and stop. A restarted agent (pods were running, this process has no
runtime for them) starts their containers again, counting that as one restart each, as
the kubelet does after a node reboot."""

from __future__ import annotations

import asyncio
import logging
import signal

import grpc
import orjson

from kubeloop import grpc_client, logs, overlay
from kubeloop.config import ClusterConfig
from kubeloop.flows import FlowLog
from kubeloop.overlay.follower import NODES, RouteFollower
from kubeloop.follow import Follower, follow
from kubeloop.tasks import TaskGroup, until_first
from node_agent import kubelet, objects
from node_agent.containers import Directory
from node_agent.handover import Carried, assign_ips, carried_over, continue_status
from node_agent.dns import ENDPOINT_SLICES, NAMESPACES, SERVICES, ClusterDns
from node_agent.enforcement import DnsPolicy, Enforcer, SyncGate
from node_agent.kube_proxy import KubeProxy
from node_agent.overlay.server import TunnelServer
from kubeloop.netpol import PODS, POLICIES, PolicyIndex
from node_agent.runtime import NodeInfo, PodRuntime
from node_agent.status_sync import StatusSync
from proto import kubeloop_pb2 as pb

log = logging.getLogger("node_agent")

VERSION = "0.1.0"
DNS_PORT = 53
STATUS_TIMEOUT = 10.0  # seconds for one status delivery before it is retried
EVENT_BACKLOG = 1000  # kubelet Events waiting to be sent; more are dropped (best effort)


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
        self.statuses = StatusSync(self._send_status)
        self.objects = objects.ObjectCache()  # ConfigMaps and Secrets, for env sources
        net = config.network
        # NetworkPolicy: enforced with calico (the default), not with flannel, as there.
        enforcing = config.cni == "calico"
        self.policies = PolicyIndex()
        self.flows = FlowLog(config.logs / f"flows-{self.name}.jsonl", self.name) \
            if enforcing else None
        self.enforcer = Enforcer(self.policies if enforcing else None, net.service_cidr,
                                 self.flows, reject=config.policy_deny == "reject")
        # Every agent serves the kube-dns address itself (SO_REUSEPORT), node-local DNS
        # style: it keeps answering while the apiserver is away. Queries from pods are
        # judged as connections to the kube-dns endpoints.
        self.dns = ClusterDns(net.cluster_domain, net.dns_ip, DNS_PORT, config.dns.upstreams,
                              config.dns.hosts, policy=DnsPolicy(self.enforcer, net.dns_ip,
                                                                 DNS_PORT) if enforcing else None)
        self.proxy = KubeProxy(config, index, reserved={(net.dns_ip, DNS_PORT)},
                               policy=self.enforcer if enforcing else None)
        # Pods start once policies, pods and namespaces are known, and the kube-dns
        # endpoints their DNS queries are judged against.
        self.policies_synced = SyncGate({POLICIES, PODS, NAMESPACES, SERVICES, ENDPOINT_SLICES},
                                        open_now=not enforcing)
        gate: list[Follower] = [self.policies_synced] if enforcing else []
        netpol: list[Follower] = [self.policies, *gate] if enforcing else []
        self.followers: dict[str, list[Follower]] = {
            SERVICES: [self.proxy, self.dns, *gate],
            ENDPOINT_SLICES: [self.proxy, self.dns, *gate],
            NAMESPACES: [self.dns, *netpol],
            **{resource: [self.objects] for resource in objects.RESOURCES.values()}}
        if enforcing:
            self.followers.update({POLICIES: netpol, PODS: netpol})
        # The pod network between nodes: connections to pods of other nodes go through
        # their tunnel unless every node shares this loopback (node_agent/README.md).
        self.dialer = overlay.Dialer(config.overlay, self.name, self.address)
        overlay.install(self.dialer)
        self.tunnel = TunnelServer(self.address)
        if config.overlay != overlay.Mode.SHARED:
            self.followers[NODES] = [RouteFollower(self.dialer)]
        self._events: asyncio.Queue[pb.EventRequest] = asyncio.Queue(EVENT_BACKLOG)
        self._last_ip: str | None = None  # the pod IP handed out last
        self._carried: dict[str, Carried] = {}  # uid -> from a previous agent process
        self._channel, self._stub = grpc_client.connect(config)

    async def run(self, stop: asyncio.Event) -> None:
        self.tasks.spawn("status-sync", self.statuses.run())
        self.tasks.spawn("events", self._send_events())
        await grpc_client.reconnecting(lambda: self._session(stop), stop,
                                       "pods keep running")

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
        await until_first([self._heartbeat(reply.cluster.heartbeat_interval),
                           self._watch_pods(),
                           *(follow(self._stub, resource, followers)
                             for resource, followers in self.followers.items())], stop)

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
        listed: dict[str, dict] | None = {}  # the initial list, until SYNCED
        async for event in stream:
            if event.type == pb.WatchEvent.SYNCED:
                assert listed is not None
                for uid in set(self.runtimes) - set(listed):  # deleted while we were away
                    await self._stop_pod(uid)
                # A pod never serves before this node knows every policy that selects it.
                await self.policies_synced.ready.wait()
                self._start_pods([p for uid, p in listed.items() if uid not in self.runtimes])
                listed = None
                self.statuses.retry_now()
                log.info("running %d pods on %s", len(self.runtimes), self.name)
                continue
            pod = orjson.loads(event.object)
            uid = pod["metadata"]["uid"]
            if listed is not None:
                listed[uid] = pod
            if event.type == pb.WatchEvent.DELETED:
                if listed is not None:
                    listed.pop(uid, None)
                await self._stop_pod(uid)
            elif pod["metadata"].get("deletionTimestamp"):
                if listed is not None:
                    listed.pop(uid, None)
                await self._stop_pod(uid)
                await self._finish_deletion(pod)
            elif uid in self.runtimes:
                self.runtimes[uid].pod = pod
            elif listed is None:
                self._start_pods([pod])
            elif not _startable(pod):
                listed.pop(uid, None)

    def _start_pods(self, pods: list[dict]) -> None:
        """Start pods that do not run here yet; IPs are chosen for the batch at once."""
        assert self.node is not None
        pods = [p for p in pods if _startable(p)]
        ips = assign_ips(pods, self.pod_cidr, {r.ip for r in self.runtimes.values()},
                         self._last_ip)
        for pod in pods:
            meta = pod["metadata"]
            ip = ips[meta["uid"]]
            if ip is not None and ip != (pod.get("status") or {}).get("podIP"):
                self._last_ip = ip  # the IPAM cursor: freed addresses are not reused at once
            if ip is None:
                log.error("cannot start %s/%s: no free pod IP left in %s", meta["namespace"],
                          meta["name"], self.pod_cidr)
                continue
            carried = carried_over(pod.get("status"))
            if carried is not None:
                self._carried[meta["uid"]] = carried
                log.info("pod %s/%s ran under an earlier agent; starting it again",
                         meta["namespace"], meta["name"])
            runtime = PodRuntime(pod, self.node, ip, self.directory, self.report,
                                 self.objects.lookup, self.event, self.enforcer)
            self.runtimes[meta["uid"]] = runtime
            log.info("starting pod %s/%s on %s", meta["namespace"], meta["name"], ip)
            self.tasks.spawn(f"start-{meta['namespace']}/{meta['name']}", _start(runtime),
                             expect_exit=True)

    async def _stop_pod(self, uid: str) -> None:
        runtime = self.runtimes.pop(uid, None)
        self.statuses.forget(uid)
        self._carried.pop(uid, None)
        if runtime is not None:
            log.info("stopping pod %s/%s", runtime.namespace, runtime.name)
            await runtime.stop()

    async def report(self, runtime: PodRuntime) -> None:
        """The pod's status changed: the status sync delivers its latest status."""
        if not runtime.stopping:
            self.statuses.mark(runtime.uid)

    async def _send_status(self, uid: str) -> bool:
        runtime = self.runtimes.get(uid)
        if runtime is None or runtime.stopping:
            return True
        status = continue_status(runtime.status(), self._carried.get(uid))
        try:
            await self._stub.UpdateStatus(pb.UpdateStatusRequest(
                resource="pods", namespace=runtime.namespace, name=runtime.name,
                uid=uid, status=orjson.dumps(status)), timeout=STATUS_TIMEOUT)
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return True  # the pod is gone; its deletion reaches us through the watch
            log.debug("status of %s/%s not delivered (%s); will retry", runtime.namespace,
                      runtime.name, e.code().name)
            return False
        return True

    def event(self, runtime: PodRuntime, etype: str, reason: str, message: str,
              container: str) -> None:
        """Queue a kubelet Event about one of the pod's containers."""
        try:
            self._events.put_nowait(pb.EventRequest(
                object=pb.ObjectRef(resource="pods", namespace=runtime.namespace,
                                    name=runtime.name, uid=runtime.uid),
                type=etype, reason=reason, message=message,
                field_path=f"spec.containers{{{container}}}", node_name=self.name))
        except asyncio.QueueFull:
            log.debug("event %s for %s/%s dropped: backlog full", reason, runtime.namespace,
                      runtime.name)

    async def _send_events(self) -> None:
        while True:
            request = await self._events.get()
            try:
                await self._stub.RecordEvent(request, timeout=STATUS_TIMEOUT)
            except grpc.aio.AioRpcError as e:  # events are best effort, as kubelet's
                log.debug("event %s not recorded: %s", request.reason, e.code().name)

    async def _finish_deletion(self, pod: dict) -> None:
        """The pod's containers are stopped: its deletion can complete, as a kubelet
        confirms it once the containers are gone."""
        meta = pod["metadata"]
        await self._stub.FinishDeletion(pb.ObjectRef(resource="pods", namespace=meta["namespace"],
                                                     name=meta["name"], uid=meta["uid"]))

    async def start_dns(self) -> None:
        """Serve the cluster DNS; an agent that cannot bind it runs on without it."""
        try:
            await self.dns.start()
        except OSError as e:
            log.error("cluster DNS not served on %s:%d: %s. Port 53 needs root or "
                      "CAP_NET_BIND_SERVICE (sudo setcap cap_net_bind_service=+ep on the "
                      "python binary)", self.dns.address[0], DNS_PORT, e.strerror or e)

    async def start_tunnel(self) -> None:
        """Carry other nodes' traffic to this node's pods; without the port, pods here are
        reachable only from nodes sharing this loopback."""
        try:
            await self.tunnel.start()
        except OSError as e:
            log.error("overlay tunnel not served on %s:%d: %s", self.address, self.tunnel.port,
                      e.strerror or e)

    async def close(self) -> None:
        await self.dns.close()
        await self.tunnel.close()
        await self.proxy.close()
        if self.flows is not None:
            self.flows.close()
        for uid in list(self.runtimes):
            await self._stop_pod(uid)
        await self.tasks.close()
        await self.dialer.close()
        await self._channel.close()


def _startable(pod: dict) -> bool:
    # A finished pod stays finished across agent restarts.
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


async def _start(runtime: PodRuntime) -> None:
    """Start a pod; if it was stopped meanwhile (deleted while its listeners were still
    opening), stop it again so nothing it opened late keeps running."""
    try:
        await runtime.start()
    finally:
        if runtime.stopping:
            await runtime.stop()


async def serve(config: ClusterConfig, index: int) -> None:
    agent = Agent(config, index)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logs.dump_tasks_on_sigusr1()
    if config.joined_node:  # no CA key on this host: Join issued the certificate
        cert, key = config.kubelet_cert(agent.name), config.kubelet_key(agent.name)
    else:
        cert, key = kubelet.serving_certificate(config, agent.name, agent.address)
    server = kubelet.KubeletServer(agent.directory, agent.address, kubelet.KUBELET_PORT, cert,
                                   key, config.node_token_file.read_text().strip())
    await server.start()
    await agent.start_dns()
    await agent.start_tunnel()
    try:
        await agent.run(stop)
    finally:
        await server.stop()
        await agent.close()
        log.info("stopped")
