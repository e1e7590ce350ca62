"""Where NetworkPolicy verdicts (kubeloop/netpol) meet sockets. Ingress is judged at the
destination pod's listeners by the true source address (kube-proxy keeps the client pod's
IP); egress when a pod opens a connection or a UDP socket (the exec toolbox, command
containers) and, for Service traffic, in kube-proxy once the endpoint is chosen. The
cluster DNS, which the agent serves itself on the kube-dns ClusterIP, asks ``DnsPolicy``:
a query from a pod is judged as a connection to a kube-dns endpoint (the coredns pods).

What a denial does is the deny action (``kubeloop up --policy-deny``), as Calico's:
``drop`` (the default) holds a TCP connection silent, so the client times out (`wget:
download timed out`), and resets it after DROP_HOLD; ``reject`` resets it at once, and a
connection the toolbox opens fails with "Connection refused". A denied UDP datagram is
dropped either way: a userspace server cannot send the ICMP error a REJECT rule would.
Every judged connection (a UDP flow once per UDP_FLOW_IDLE) is a line of the node's flow
log (kubeloop/flows.py, read by `kubeloop flows`)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubeloop.flows import FlowLog
from kubeloop.netpol import EndpointError, PolicyIndex, Verdict
from node_agent.kube_proxy.tcp import reset

log = logging.getLogger(__name__)

DROP_HOLD = 120.0  # seconds a dropped connection is held open, silent, before it is reset
UDP_FLOW_IDLE = 30.0  # seconds without a datagram after which a UDP flow counts as new
FLOW_MEMORY = 10_000  # UDP flows (and DNS clients) remembered before starting over

Target = tuple[str, int]  # (IP, port) a connection is judged against
Judge = Callable[[str, int], bool]  # (peer IP, peer port) -> allowed
_Judged = tuple[Verdict, Target]  # a DNS client's verdict and the endpoint it names


class Enforcer:
    """Answers "may this new connection pass?" from the policy index; without an index
    (the flannel CNI) everything passes, as flannel does not enforce NetworkPolicy.
    ``reject``: the deny action is reject rather than drop."""

    def __init__(self, index: PolicyIndex | None, service_cidr: str,
                 flows: FlowLog | None = None, *, reject: bool = False) -> None:
        self.index = index
        self.reject = reject
        self._services = ipaddress.ip_network(service_cidr)
        self._flows = flows
        self._udp_flows: dict[tuple[str, int, str, int], float] = {}  # flow -> last seen

    def verdict(self, source: str, destination: str, port: int,
                protocol: str) -> Verdict | None:
        """The index's verdict; None when nothing is enforced or no verdict can be had
        (then the connection passes)."""
        if self.index is None:
            return None
        try:
            return self.index.check(source, destination, port, protocol)
        except (EndpointError, ValueError) as e:
            log.warning("no verdict for %s -> %s:%d/%s (%s); letting it pass", source,
                        destination, port, protocol, e)
            return None

    def allowed(self, source: str, destination: str, port: int, protocol: str,
                source_port: int = 0) -> bool:
        verdict = self.verdict(source, destination, port, protocol)
        if verdict is None:
            return True
        self.record(verdict, source, source_port, destination, port, protocol)
        return verdict.allowed

    def record(self, verdict: Verdict, source: str, source_port: int, destination: str,
               port: int, protocol: str) -> None:
        """A flow log line for a judged connection (for UDP, once per flow)."""
        if self._flows is None or self.index is None or \
                not self._new_flow(source, source_port, destination, port, protocol):
            return
        src_pod, dst_pod = self.index.pod_at(source), self.index.pod_at(destination)
        self._flows.record(
            protocol, f"{source}:{source_port}",
            f"{src_pod.namespace}/{src_pod.name}" if src_pod else "",
            f"{destination}:{port}",
            f"{dst_pod.namespace}/{dst_pod.name}" if dst_pod else "",
            verdict.allowed, f"egress: {verdict.egress.describe()}; "
            f"ingress: {verdict.ingress.describe()}")

    def _new_flow(self, source: str, source_port: int, destination: str, port: int,
                  protocol: str) -> bool:
        if protocol != "UDP":
            return True
        key, now = (source, source_port, destination, port), time.monotonic()
        last = self._udp_flows.get(key)
        if len(self._udp_flows) > FLOW_MEMORY:
            self._udp_flows = {}
        self._udp_flows[key] = now
        return last is None or now - last > UDP_FLOW_IDLE

    def egress_allowed(self, source: str, destination: str, port: int, protocol: str) -> bool:
        """A connection (or UDP socket) a pod opens: False drops it, and the caller lets
        the client wait as for an unanswered SYN. With the reject action a denied TCP
        connection raises ConnectionRefusedError instead, as connect() does when a
        REJECT rule answers the SYN. Service addresses pass here: kube-proxy judges that
        traffic once it has picked the endpoint, as iptables does after DNAT, and the
        cluster DNS judges queries to the kube-dns address."""
        try:
            if ipaddress.ip_address(destination) in self._services:
                return True
        except ValueError:
            return True
        if self.allowed(source, destination, port, protocol):
            return True
        if self.reject and protocol == "TCP":
            raise ConnectionRefusedError(f"NetworkPolicy rejects {source} -> "
                                         f"{destination}:{port}/{protocol}")
        return False

    def deny(self, transport: asyncio.BaseTransport) -> asyncio.TimerHandle | None:
        """What happens to an accepted TCP connection NetworkPolicy denies; returns the
        timer of a held one (to cancel if the client leaves first)."""
        if self.reject:
            reset(transport)
            return None
        transport.pause_reading()  # type: ignore[attr-defined]
        return asyncio.get_running_loop().call_later(DROP_HOLD, reset, transport)

    def guarded(self, factory: Callable[[], Any], pod_ip: str, port: int,
                protocol: str) -> Callable[[], Any]:
        """A listener's protocol factory that judges each new connection (TCP) or each
        datagram (UDP; verdicts are cached, so that costs a dictionary lookup) first."""
        if self.index is None:
            return factory
        if protocol == "UDP":
            return lambda: _DatagramGuard(factory(), self, pod_ip, port)
        return self.judging(factory, lambda ip, peer_port: self.allowed(
            ip, pod_ip, port, "TCP", peer_port))

    def judging(self, factory: Callable[[], Any], judge: Judge) -> Callable[[], Any]:
        """A TCP listener's protocol factory whose connections ``judge`` admits first;
        the others get the deny action."""
        return lambda: _Guard(factory, judge, self.deny)


class DnsPolicy:
    """NetworkPolicy for the cluster DNS the agent serves on the kube-dns ClusterIP: a
    query from a pod passes when a connection from that pod to a ready kube-dns endpoint
    (a coredns pod, its DNS port and the query's protocol) would, for any one of them;
    with no endpoint it is judged against the ClusterIP itself (an ipBlock address).
    Queries from anything but a pod (the host, nodes) are not judged.

    Each client address's outcome is cached until the policy index changes or the
    endpoints do, so a query costs a dictionary lookup (and a flow log check for pods)."""

    def __init__(self, enforcer: Enforcer, service_ip: str, port: int) -> None:
        assert enforcer.index is not None, "DnsPolicy needs an enforcing Enforcer"
        self._enforcer = enforcer
        self._index: PolicyIndex = enforcer.index
        self._service: Target = (service_ip, port)
        self._targets: dict[str, tuple[Target, ...]] = {}  # protocol -> ready endpoints
        self._generation = -1
        self._udp: dict[str, _Judged | None] = {}  # client IP -> outcome (None: no pod)
        self._tcp: dict[str, _Judged | None] = {}

    def endpoints(self, targets: Mapping[str, Iterable[Target]]) -> None:
        """The kube-dns Service's ready endpoints changed: protocol -> (IP, port)s."""
        self._targets = {protocol: tuple(found) for protocol, found in targets.items()}
        self._generation = -1

    def admits(self, source: str, source_port: int, protocol: str) -> bool:
        if self._generation != self._index.generation:
            self._generation = self._index.generation
            self._udp, self._tcp = {}, {}
        cache = self._udp if protocol == "UDP" else self._tcp
        try:
            judged = cache[source]
        except KeyError:
            if len(cache) >= FLOW_MEMORY:
                cache.clear()
            judged = cache[source] = self._judge(source, protocol)
        if judged is None:
            return True
        verdict, (ip, port) = judged
        self._enforcer.record(verdict, source, source_port, ip, port, protocol)
        return verdict.allowed

    def guarded(self, factory: Callable[[], Any]) -> Callable[[], Any]:
        """The DNS TCP listener's protocol factory: denied connections as any other."""
        return self._enforcer.judging(factory, lambda ip, port: self.admits(ip, port, "TCP"))

    def _judge(self, source: str, protocol: str) -> _Judged | None:
        if self._index.pod_at(source) is None:
            return None
        return dns_verdict(lambda ip, port: self._enforcer.verdict(source, ip, port, protocol),
                           self._targets.get(protocol, ()), self._service)


def dns_verdict(check: Callable[[str, int], Verdict | None], targets: Iterable[Target],
                service: Target) -> _Judged | None:
    """The verdict for a DNS query: the first kube-dns endpoint that allows it, else the
    first one's denial; ``service`` stands in when there is no endpoint. None: nothing
    to judge by (the query passes)."""
    denied: _Judged | None = None
    for target in (*targets,) or (service,):
        verdict = check(*target)
        if verdict is None:
            return None
        if verdict.allowed:
            return verdict, target
        denied = denied or (verdict, target)
    return denied


class _Guard(asyncio.Protocol):
    """Judges a connection when it arrives; an allowed one is handed to the real protocol
    (set_protocol: no cost afterwards), a denied one gets the deny action."""

    def __init__(self, factory: Callable[[], asyncio.BaseProtocol], judge: Judge,
                 deny: Callable[[asyncio.BaseTransport], asyncio.TimerHandle | None]) -> None:
        self._factory = factory
        self._judge = judge
        self._deny = deny
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        peer = transport.get_extra_info("peername") or ("", 0)
        if self._judge(peer[0], peer[1]):
            inner = self._factory()
            transport.set_protocol(inner)
            inner.connection_made(transport)
            return
        self._timer = self._deny(transport)

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
    namespaces (and the cluster DNS its Services and EndpointSlices, for the kube-dns
    endpoints): pods start only then, so a new pod is never unprotected."""

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
