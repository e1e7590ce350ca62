"""Where NetworkPolicy verdicts (kubeloop/netpol) meet sockets. Ingress is judged at the
destination pod's listeners by the true source address (kube-proxy keeps the client pod's
IP); egress when a pod opens a connection (the exec toolbox, command containers) and,
for Service traffic, in kube-proxy once the endpoint is chosen. A
denied TCP connection is dropped, as Calico does: the kernel accepts it but nothing ever
answers, so the client times out (`wget: download timed out`). Every judged connection (a
UDP flow once per UDP_FLOW_IDLE) is a line of the node's flow log (kubeloop/flows.py, read
by `kubeloop flows`)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable
from typing import Any

from kubeloop.flows import FlowLog
from kubeloop.netpol import EndpointError, PolicyIndex

log = logging.getLogger(__name__)

DROP_HOLD = 120.0  # seconds a dropped connection is held open, silent, before it is reset
UDP_FLOW_IDLE = 30.0  # seconds without a datagram after which a UDP flow counts as new


class Enforcer:
    """Answers "may this new connection pass?" from the policy index; without an index
    (the flannel CNI) everything passes, as flannel does not enforce NetworkPolicy."""

    def __init__(self, index: PolicyIndex | None, service_cidr: str,
                 flows: FlowLog | None = None) -> None:
        self.index = index
        self._services = ipaddress.ip_network(service_cidr)
        self._flows = flows
        self._udp_flows: dict[tuple[str, int, str, int], float] = {}  # flow -> last seen

    def allowed(self, source: str, destination: str, port: int, protocol: str,
                source_port: int = 0) -> bool:
        if self.index is None:
            return True
        try:
            verdict = self.index.check(source, destination, port, protocol)
        except (EndpointError, ValueError) as e:
            log.warning("no verdict for %s -> %s:%d/%s (%s); letting it pass", source,
                        destination, port, protocol, e)
            return True
        if self._flows is not None and self._new_flow(source, source_port, destination, port,
                                                      protocol):
            src_pod, dst_pod = self.index.pod_at(source), self.index.pod_at(destination)
            self._flows.record(
                protocol, f"{source}:{source_port}",
                f"{src_pod.namespace}/{src_pod.name}" if src_pod else "",
                f"{destination}:{port}",
                f"{dst_pod.namespace}/{dst_pod.name}" if dst_pod else "",
                verdict.allowed, f"egress: {verdict.egress.describe()}; "
                f"ingress: {verdict.ingress.describe()}")
        return verdict.allowed

    def _new_flow(self, source: str, source_port: int, destination: str, port: int,
                  protocol: str) -> bool:
        if protocol != "UDP":
            return True
        key, now = (source, source_port, destination, port), time.monotonic()
        last = self._udp_flows.get(key)
        if len(self._udp_flows) > 10_000:
            self._udp_flows = {}
        self._udp_flows[key] = now
        return last is None or now - last > UDP_FLOW_IDLE

    def egress_allowed(self, source: str, destination: str, port: int, protocol: str) -> bool:
        """A connection a pod opens. Service addresses pass here: kube-proxy judges that
        traffic once it has picked the endpoint, as iptables does after DNAT."""
        try:
            if ipaddress.ip_address(destination) in self._services:
                return True
        except ValueError:
            return True
        return self.allowed(source, destination, port, protocol)

    def guarded(self, factory: Callable[[], Any], pod_ip: str, port: int,
                protocol: str) -> Callable[[], Any]:
        """A listener's protocol factory that judges each new connection (TCP) or each
        datagram (UDP; verdicts are cached, so that costs a dictionary lookup) first."""
        if self.index is None:
            return factory
        if protocol == "UDP":
            return lambda: _DatagramGuard(factory(), self, pod_ip, port)
        return lambda: _Guard(factory, self, pod_ip, port)


class _Guard(asyncio.Protocol):
    """Judges a connection when it arrives; an allowed one is handed to the real protocol
    (set_protocol: no cost afterwards), a denied one is held silent, then reset."""

    def __init__(self, factory: Callable[[], asyncio.BaseProtocol], enforcer: Enforcer,
                 pod_ip: str, port: int) -> None:
        self._factory = factory
        self._enforcer = enforcer
        self._pod_ip = pod_ip
        self._port = port
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        peer = transport.get_extra_info("peername") or ("", 0)
        if self._enforcer.allowed(peer[0], self._pod_ip, self._port, "TCP", peer[1]):
            inner = self._factory()
            transport.set_protocol(inner)
            inner.connection_made(transport)
            return
        transport.pause_reading()
        self._timer = asyncio.get_running_loop().call_later(DROP_HOLD, transport.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()


class _DatagramGuard(asyncio.DatagramProtocol):
    """Passes the datagrams NetworkPolicy allows to the real protocol; drops the rest."""

    def __init__(self, inner: Any, enforcer: Enforcer, pod_ip: str, port: int) -> None:
        self._inner = inner
        self._enforcer = enforcer
        self._pod_ip = pod_ip
        self._port = port

    def connection_made(self, transport: Any) -> None:
        self._inner.connection_made(transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._enforcer.allowed(addr[0], self._pod_ip, self._port, "UDP", addr[1]):
            self._inner.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self._inner.error_received(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)


class SyncGate:
    """Set once the policy index has its first full lists of policies, pods and
    namespaces: pods start only then, so a new pod is never unprotected."""

    def __init__(self, kinds: set[str], open_now: bool) -> None:
        self._waiting = set() if open_now else set(kinds)
        self.ready = asyncio.Event()
        if not self._waiting:
            self.ready.set()

    def resync(self, kind: str, objects: list[dict]) -> None:
        self._waiting.discard(kind)
        if not self._waiting:
            self.ready.set()

    def update(self, kind: str, obj: dict) -> None:
        return None

    def delete(self, kind: str, obj: dict) -> None:
        return None
