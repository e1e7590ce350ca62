"""KubeProxy: a node agent's service proxy.

It keeps the Services and EndpointSlices it is told about (watch events, or a whole list
after a reconnect), and on each change re-plans only the Service concerned
(``rules.plan``), then applies the difference to the previous plan: listeners opened or
closed, endpoints swapped in the balancer of each service port (connections to removed
endpoints end). A background sweep expires idle UDP flows and affinities and retries
addresses that could not be bound.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Collection, Iterable

from kubeloop.config import ClusterConfig
from kubeloop.tasks import TaskGroup
from node_agent.kube_proxy import rules
from node_agent.kube_proxy.listeners import Admission, Context, Listener, ServicePort
from node_agent.kube_proxy.rules import Address, Frontend, Plan, PortRef
from node_agent.kube_proxy.tcp import TcpListener
from node_agent.kube_proxy.udp import UdpListener

log = logging.getLogger(__name__)

SERVICES = "services"
ENDPOINT_SLICES = "discovery.k8s.io/endpointslices"  # the apiserver's storage key
SWEEP_INTERVAL = 1.0  # seconds between sweeps of idle UDP flows, affinities, failed binds
UDP_IDLE = 30.0  # seconds, as conntrack's UDP timeout

ObjectKey = tuple[str, str]  # (namespace, name)


def raise_fd_limit() -> None:
    """Every listener, client and upstream is a file descriptor: 1,000 Services exceed
    the usual soft limit of 1,024, so take the hard limit, as kube-proxy's host would."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as e:
            log.warning("cannot raise the open-file limit from %d: %s", soft, e)


def object_key(obj: dict) -> ObjectKey:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise ValueError("kube-proxy: an object without metadata.name")
    return str(meta.get("namespace") or "default"), meta["name"]


def slice_owner(obj: dict) -> ObjectKey | None:
    """The Service an EndpointSlice belongs to (its kubernetes.io/service-name label)."""
    namespace, _ = object_key(obj)
    name = ((obj.get("metadata") or {}).get("labels") or {}).get(rules.SERVICE_NAME_LABEL)
    return (namespace, name) if isinstance(name, str) and name else None


class KubeProxy:
    """Serves every Service of the cluster on this node (see README.md for the model).

    Call ``update``/``delete`` with watch events of ``SERVICES`` and ``ENDPOINT_SLICES``,
    ``resync`` with a kind's full list after a (re)connect (kubeloop/follow.py does it
    for the agent); ``close`` at shutdown.
    """

    def __init__(self, config: ClusterConfig, index: int, *, udp_idle: float = UDP_IDLE,
                 reserved: Collection[tuple[str, int]] = (),
                 policy: Admission | None = None) -> None:
        """``index``: this node's number. ``reserved``: (IP, port) pairs other servers of
        the agent bind themselves (the cluster DNS on the kube-dns ClusterIP:53), which
        the proxy never binds, so it does not join their SO_REUSEPORT group. ``policy``:
        NetworkPolicy for TCP connections once their endpoint is picked (UDP datagrams
        are judged at the endpoint pod, which sees the client's address)."""
        raise_fd_limit()
        network = config.network
        self.node = rules.Node(config.node_name(index), network.node_ip(index),
                               network.node_ports_on_localhost)
        self.tasks = TaskGroup(f"kube-proxy {self.node.name}")
        self._context = Context(self.node.name,
                                rules.NodeMap.of(network.node_cidr, network.pod_cidr),
                                config.node_name, self.tasks, udp_idle, policy)
        self._services: dict[ObjectKey, dict] = {}
        self._slices: dict[ObjectKey, dict] = {}
        self._slice_owner: dict[ObjectKey, ObjectKey] = {}
        self._slices_of: dict[ObjectKey, set[ObjectKey]] = {}
        self._plans: dict[ObjectKey, Plan] = {}
        self._ports: dict[PortRef, ServicePort] = {}
        self._listeners: dict[Address, Listener] = {}
        self._owner: dict[Address, ObjectKey] = {}  # which Service holds each listener
        self._failed: set[ObjectKey] = set()  # Services with an address not bound yet
        self._unbound: dict[Address, str] = {}  # address -> why it could not be bound
        self._reserved = frozenset(reserved)
        self._lock = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None

    # --- what the agent calls -------------------------------------------------------------

    async def update(self, kind: str, obj: dict) -> None:
        """An object was added or modified."""
        async with self._lock:
            for key in self._store(kind, obj):
                await self._apply(key)

    async def delete(self, kind: str, obj: dict) -> None:
        async with self._lock:
            for key in self._remove(kind, object_key(obj)):
                await self._apply(key)

    async def resync(self, kind: str, objects: Iterable[dict]) -> None:
        """The complete list of a kind (after a watch (re)started): what is not in it
        was deleted meanwhile. Only Services whose plan changed touch a socket."""
        fresh = {object_key(o): o for o in objects}
        async with self._lock:
            affected: set[ObjectKey] = set()
            known = self._services if _kind(kind) == SERVICES else self._slices
            for key in set(known) - set(fresh):
                affected.update(self._remove(kind, key))
            for obj in fresh.values():
                affected.update(self._store(kind, obj))
            for key in sorted(affected):
                await self._apply(key)
        log.info("kube-proxy %s: %d services, %d listeners after resyncing %s",
                 self.node.name, len(self._services), len(self._listeners), kind)

    async def close(self) -> None:
        """Closes every listener and connection."""
        async with self._lock:
            await self.tasks.close()
            self._sweeper = None
            for listener in self._listeners.values():
                listener.close()
            for port in self._ports.values():
                port.close()
            for store in (self._services, self._slices, self._slice_owner, self._slices_of,
                          self._plans, self._ports, self._listeners, self._owner):
                store.clear()
            self._failed.clear()
            self._unbound.clear()

    # --- inspection (tests, benchmarks) ------------------------------------------------

    def listening(self) -> dict[Address, Frontend]:
        return {address: listener.frontend for address, listener in self._listeners.items()}

    def open_connections(self) -> int:
        return sum(port.open_connections() for port in self._ports.values())

    # --- state --------------------------------------------------------------------------

    def _store(self, kind: str, obj: dict) -> set[ObjectKey]:
        """Keeps an object; returns the Services to re-plan."""
        key = object_key(obj)
        if _kind(kind) == SERVICES:
            self._services[key] = obj
            return {key}
        affected = self._remove(kind, key)
        self._slices[key] = obj
        owner = slice_owner(obj)
        if owner is not None:
            self._slice_owner[key] = owner
            self._slices_of.setdefault(owner, set()).add(key)
            affected.add(owner)
        return affected

    def _remove(self, kind: str, key: ObjectKey) -> set[ObjectKey]:
        if _kind(kind) == SERVICES:
            self._services.pop(key, None)
            return {key}
        self._slices.pop(key, None)
        owner = self._slice_owner.pop(key, None)
        if owner is None:
            return set()
        siblings = self._slices_of[owner]
        siblings.discard(key)
        if not siblings:
            del self._slices_of[owner]
        return {owner}

    # --- applying a plan ------------------------------------------------------------------

    async def _apply(self, key: ObjectKey) -> None:
        self._start_sweeper()
        slices = [self._slices[k] for k in self._slices_of.get(key, ())]
        try:
            new = rules.plan(self._services.get(key), slices, self.node)
        except (AttributeError, TypeError, ValueError) as e:  # a shape the API would refuse
            log.warning("Service %s/%s: cannot proxy it (%r); serving nothing for it", *key, e)
            new = rules.EMPTY
        old = self._plans.get(key, rules.EMPTY)
        if new == old and key not in self._failed:
            return
        self._failed.discard(key)
        for ref, backends in new.backends.items():
            port = self._ports.get(ref)
            if port is None:
                port = self._ports[ref] = ServicePort(ref)
                port.update(backends)
            elif old.backends.get(ref) != backends:
                port.update(backends)
        for address in old.frontends.keys() - new.frontends.keys():
            self._release(address, key)
        for address, frontend in new.frontends.items():
            await self._serve(key, frontend)
        for ref in old.backends.keys() - new.backends.keys():
            self._ports.pop(ref).close()
        if new.frontends or new.backends:
            self._plans[key] = new
        else:
            self._plans.pop(key, None)

    async def _serve(self, key: ObjectKey, frontend: Frontend) -> None:
        address, port = frontend.address, self._ports[frontend.service]
        if (address.ip, address.port) in self._reserved:
            return
        current = self._listeners.get(address)
        if current is not None:
            if self._owner[address] != key:
                holder = "/".join(self._owner[address])
                self._cannot_bind(key, address, f"{frontend.service}: held by Service {holder}")
                return
            if current.frontend.shared == frontend.shared:
                current.frontend, current.port = frontend, port
                return
            self._release(address, key)
        listener: Listener = (TcpListener if address.protocol == "TCP" else UdpListener)(
            frontend, port, self._context)
        try:
            await listener.open()
        except OSError as e:
            self._cannot_bind(key, address, f"{frontend.service}: {e.strerror or e}")
            return
        self._listeners[address] = listener
        self._owner[address] = key
        if self._unbound.pop(address, None) is not None:
            log.info("%s: listening on %s now", frontend.service, address)

    def _cannot_bind(self, key: ObjectKey, address: Address, reason: str) -> None:
        """Logged once per address and reason; retried by the sweep."""
        self._failed.add(key)
        if self._unbound.get(address) != reason:
            self._unbound[address] = reason
            log.warning("cannot listen on %s (%s); retrying every %.0fs", address, reason,
                        SWEEP_INTERVAL)

    def _release(self, address: Address, key: ObjectKey) -> None:
        self._unbound.pop(address, None)
        if self._owner.get(address) == key:
            self._listeners.pop(address).close()
            del self._owner[address]

    # --- background -----------------------------------------------------------------------

    def _start_sweeper(self) -> None:
        if self._sweeper is None:
            self._sweeper = self.tasks.spawn("sweep", self._sweep())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = time.monotonic()
            for listener in list(self._listeners.values()):
                listener.expire(now)
            for port in self._ports.values():
                port.balancer.expire(now)
            if self._failed:
                async with self._lock:
                    for key in sorted(self._failed):
                        await self._apply(key)


def _kind(kind: str) -> str:
    if kind not in (SERVICES, ENDPOINT_SLICES):
        raise ValueError(f"kube-proxy follows {SERVICES!r} and {ENDPOINT_SLICES!r}, "
                         f"not {kind!r}")
    return kind
