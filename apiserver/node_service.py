"""The gRPC service node agents use: register, heartbeat, watch the objects they act on,
report pod status, and finish graceful pod deletions. Authenticated with the node token
(``authorization: Bearer ...`` metadata) over TLS with the cluster CA; ``Join``, which
hands a node from another host that token, with a bootstrap token instead."""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import logging
import os
import platform
import re
import time
from typing import Any

import grpc
import orjson

from apiserver import registry, store
from apiserver import status as errors
from apiserver.controllers.nodes import NODES, NodeLifecycle
from apiserver.events import Recorder
from apiserver.resources import RESOURCES
from kubeloop import join, pki
from kubeloop.object_selectors import SelectorError, parse_field_selector, parse_label_selector
from proto import kubeloop_pb2 as pb
from proto import kubeloop_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

BY_KEY = {r.key: r for r in RESOURCES}
KUBELET_VERSION = "v1.32.0"
EVENT_TYPES = {"ADDED": pb.WatchEvent.ADDED, "MODIFIED": pb.WatchEvent.MODIFIED,
               "DELETED": pb.WatchEvent.DELETED}


class NodeService(pb_grpc.NodeServiceServicer):
    def __init__(self, reg: registry.Registry, lifecycle: NodeLifecycle, recorder: Recorder,
                 node_token: str) -> None:
        self.registry = reg
        self.lifecycle = lifecycle
        self.recorder = recorder
        self.token = node_token
        self.config = reg.config
        self._joined: set[int] = set()  # node numbers Join handed out while we run

    async def _auth(self, context: grpc.aio.ServicerContext) -> None:
        if not hmac.compare_digest(_bearer(context), self.token):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                "a valid node token is required")

    # --- join ------------------------------------------------------------------------------
    async def Join(self, request: pb.JoinRequest,
                   context: grpc.aio.ServicerContext) -> pb.JoinResponse:
        """Admits a node from another host: a bootstrap token buys the node token, a
        number (so its name and pod CIDR) and a kubelet certificate for its address."""
        config = self.config
        if not join.accepted(pki.read_bootstrap_tokens(config), _bearer(context), time.time()):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                "the bootstrap token is unknown or expired; create one on "
                                "the control plane with: kubeloop token create")
        problem = join.address_problem(request.address, config.network)
        if problem is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"{problem}; give another with --address")
        pattern = re.compile(re.escape(config.node_name(0)[:-1]) + r"(\d+)")
        names = (s.obj["metadata"]["name"] for s in self.registry.store.iter(NODES.key))
        taken = self._joined | {int(m[1]) for m in map(pattern.fullmatch, names) if m}
        number = join.node_number(request.node_number, config.nodes + 1, taken)
        if number is None:
            return await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                       "every node number (up to 250) is taken")
        self._joined.add(number)  # not a Node until it registers: no one else gets it
        name = config.node_name(number)
        cert, key = pki.issue_certificate(config.ca_cert.read_bytes(),
                                          config.ca_key.read_bytes(), [name], [request.address])
        settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "data_dir"}
        log.info("node %s joins from %s", name, request.address)
        return pb.JoinResponse(node_number=number, node_name=name,
                               pod_cidr=config.network.node_pod_cidr(number),
                               node_token=self.token, cluster_config=orjson.dumps(settings),
                               kubelet_cert=cert, kubelet_key=key)

    # --- register / heartbeat ------------------------------------------------------------
    async def Register(self, request: pb.RegisterRequest,
                       context: grpc.aio.ServicerContext) -> pb.RegisterResponse:
        await self._auth(context)
        name = request.node_name
        try:
            ipaddress.ip_address(request.address)
        except ValueError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"node address {request.address!r} is not an IP address")
        cidr = self._pod_cidr(name, request.pod_cidr)
        if cidr is None:
            return await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"pod CIDR {request.pod_cidr or self.config.network.pod_cidr} "
                                "is taken or exhausted")
        node = self._node_object(name, request, cidr)
        existing = self.registry.store.get(NODES.key, "", name)
        try:
            if existing is None:
                obj = await self.registry.create(NODES, "", node)
                log.info("node %s registered (%s, pods %s)", name, request.address, cidr)
            else:
                def refresh(o: dict) -> bool:
                    o["metadata"].setdefault("labels", {}).update(node["metadata"]["labels"])
                    o["spec"]["podCIDR"], o["spec"]["podCIDRs"] = cidr, [cidr]
                    o["status"].update({k: node["status"][k] for k in (
                        "addresses", "nodeInfo", "capacity", "allocatable", "daemonEndpoints")})
                    return True

                obj = await self.registry.mutate(NODES, "", name, refresh,
                                                 subresource=registry.ALL) or node
                log.info("node %s re-registered", name)
        except errors.ApiError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, e.message)
        await self.lifecycle.heartbeat(name)
        net = self.config.network
        return pb.RegisterResponse(pod_cidr=cidr, node=orjson.dumps(obj), cluster=pb.ClusterInfo(
            cluster_domain=net.cluster_domain, dns_ip=net.dns_ip, service_cidr=net.service_cidr,
            node_port_range=net.node_port_range, lb_cidr=net.lb_cidr, cni=self.config.cni,
            heartbeat_interval=self.config.timing.heartbeat_interval))

    def _pod_cidr(self, name: str, requested: str) -> str | None:
        taken = {s.obj["spec"].get("podCIDR"): s.obj["metadata"]["name"]
                 for s in self.registry.store.iter(NODES.key)}
        if requested:
            owner = taken.get(requested)
            return requested if owner in (None, name) else None
        for n, s in taken.items():
            if s == name and n:
                return n
        pool = ipaddress.ip_network(self.config.network.pod_cidr)
        for subnet in list(pool.subnets(new_prefix=24))[1:]:
            if str(subnet) not in taken:
                return str(subnet)
        return None

    def _node_object(self, name: str, request: pb.RegisterRequest, cidr: str) -> dict:
        uname = platform.uname()
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(uname.machine, uname.machine)
        labels = {"beta.kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux",
                  "kubernetes.io/arch": arch, "kubernetes.io/hostname": name,
                  "kubernetes.io/os": "linux", **dict(request.labels)}
        capacity = {"cpu": str(os.cpu_count() or 1), "memory": "16Gi", "pods": "250",
                    "ephemeral-storage": "100Gi"}
        return {
            "metadata": {"name": name, "labels": labels, "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": request.address},
                              {"type": "Hostname", "address": name}],
                "capacity": capacity, "allocatable": dict(capacity),
                "conditions": [],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "architecture": arch, "bootID": "", "machineID": "", "systemUUID": "",
                    "containerRuntimeVersion": f"kubeloop://{request.agent_version or '0.1.0'}",
                    "kernelVersion": uname.release, "kubeProxyVersion": KUBELET_VERSION,
                    "kubeletVersion": KUBELET_VERSION, "operatingSystem": "linux",
                    "osImage": "kubeloop (loopback emulation)"},
            },
        }

    async def Heartbeat(self, request: pb.HeartbeatRequest,
                        context: grpc.aio.ServicerContext) -> pb.HeartbeatResponse:
        await self._auth(context)
        return pb.HeartbeatResponse(registered=await self.lifecycle.heartbeat(request.node_name))

    # --- watch -----------------------------------------------------------------------------
    async def Watch(self, request: pb.WatchRequest, context: grpc.aio.ServicerContext):  # type: ignore[no-untyped-def]
        await self._auth(context)
        res = BY_KEY.get(request.resource)
        if res is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no resource {request.resource!r}")
            return
        try:
            label = parse_label_selector(request.label_selector)
            field = parse_field_selector(request.field_selector, res.field_selectors)
        except SelectorError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
            return

        def matches(obj: dict) -> bool:
            return label.matches(obj["metadata"].get("labels")) and field.matches(obj)

        db = self.registry.store
        namespace = request.namespace or None
        watcher = db.subscribe(res.key, namespace)  # subscribe first: no gap after the list
        try:
            start_rv = db.rv
            for s in db.list(res.key, namespace):
                if matches(s.obj):
                    yield pb.WatchEvent(type=pb.WatchEvent.ADDED, object=s.raw,
                                        resource_version=s.rv)
            yield pb.WatchEvent(type=pb.WatchEvent.SYNCED, resource_version=start_rv)
            while True:
                event = await watcher.queue.get()
                if event is None:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "watch fell behind; resync")
                    return
                if event.rv <= start_rv:
                    continue
                seen = store.seen_as(event, matches)
                if seen:
                    yield pb.WatchEvent(type=EVENT_TYPES[seen], object=event.raw,
                                        resource_version=event.rv)
        finally:
            db.unsubscribe(watcher)

    # --- status and deletion ---------------------------------------------------------------
    async def UpdateStatus(self, request: pb.UpdateStatusRequest,
                           context: grpc.aio.ServicerContext) -> pb.UpdateStatusResponse:
        await self._auth(context)
        res = BY_KEY.get(request.resource)
        if res is None:
            return await context.abort(grpc.StatusCode.NOT_FOUND,
                                       f"no resource {request.resource!r}")
        try:
            new_status = orjson.loads(request.status)
        except orjson.JSONDecodeError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"status is not JSON: {e}")

        def change(obj: dict) -> bool:
            if request.uid and obj["metadata"].get("uid") != request.uid:
                return False
            if obj.get("status") == new_status:
                return False
            obj["status"] = new_status
            return True

        try:
            obj = await self.registry.mutate(res, request.namespace, request.name, change,
                                             subresource="status")
        except errors.ApiError as e:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, e.message)
        if obj is None:
            return await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.resource} "
                                f"{request.namespace}/{request.name} not found")
        return pb.UpdateStatusResponse(resource_version=int(obj["metadata"]["resourceVersion"]))

    async def FinishDeletion(self, request: pb.ObjectRef,
                             context: grpc.aio.ServicerContext) -> pb.FinishDeletionResponse:
        await self._auth(context)
        res = BY_KEY.get(request.resource)
        if res is None:
            return await context.abort(grpc.StatusCode.NOT_FOUND,
                                       f"no resource {request.resource!r}")
        options: dict[str, Any] = {"gracePeriodSeconds": 0}
        if request.uid:
            options["preconditions"] = {"uid": request.uid}
        try:
            await self.registry.delete(res, request.namespace, request.name, options)
        except errors.ApiError as e:
            if e.reason in ("NotFound", "Conflict"):
                return pb.FinishDeletionResponse(deleted=False)
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, e.message)
        return pb.FinishDeletionResponse(deleted=True)

    async def RecordEvent(self, request: pb.EventRequest,
                          context: grpc.aio.ServicerContext) -> pb.EventResponse:
        await self._auth(context)
        ref = request.object
        res = BY_KEY.get(ref.resource)
        stored = self.registry.store.get(res.key, ref.namespace, ref.name) if res else None
        if stored is None or (ref.uid and stored.obj["metadata"].get("uid") != ref.uid):
            return await context.abort(grpc.StatusCode.NOT_FOUND, f"{ref.resource} "
                                       f"{ref.namespace}/{ref.name} not found")
        if request.type not in ("Normal", "Warning"):
            return await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                       f"event type {request.type!r} is not Normal or Warning")
        await self.recorder.record(stored.obj, request.type, request.reason, request.message,
                                   request.component or "kubelet",
                                   field_path=request.field_path,
                                   host=request.node_name)
        return pb.EventResponse()


def _bearer(context: grpc.aio.ServicerContext) -> str:
    """The call's bearer token ("" without one)."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and value.startswith("Bearer "):
            return str(value.removeprefix("Bearer "))
    return ""
