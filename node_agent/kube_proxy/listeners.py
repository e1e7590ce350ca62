"""What the TCP and UDP relays share: binding sockets, routing a new connection (locality
-> endpoint -> source address), and the runtime of a service port (its balancer and its
open connections, so that connections to a removed endpoint end)."""

from __future__ import annotations

import abc
import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kubeloop.tasks import TaskGroup
from node_agent.kube_proxy.rules import Address, Backends, Endpoint, Frontend, Locality, \
    NodeMap, PortRef
from node_agent.kube_proxy.selection import Balancer, EndpointKey

BACKLOG = 1024
def bound_socket(address: Address, shared: bool) -> socket.socket:
    """A non-blocking socket bound to a frontend address. ``shared``: SO_REUSEPORT, so
    every node agent binds the same ClusterIP and the kernel spreads clients over them."""
    kind = socket.SOCK_STREAM if address.protocol == "TCP" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setblocking(False)
        sock.bind((address.ip, address.port))
    except OSError:
        sock.close()
        raise
    return sock


class Connection(Protocol):
    """A relayed TCP connection or UDP flow."""

    def abort(self) -> None: ...


class ServicePort:
    """One service port at run time: its balancer and its connections by endpoint."""

    def __init__(self, ref: PortRef) -> None:
        self.ref = ref
        self.balancer = Balancer()
        self.connections: dict[EndpointKey, set[Connection]] = {}

    def update(self, backends: Backends) -> None:
        for key in self.balancer.update(backends):
            for conn in list(self.connections.pop(key, ())):
                conn.abort()

    def add(self, key: EndpointKey, conn: Connection) -> None:
        self.connections.setdefault(key, set()).add(conn)

    def discard(self, key: EndpointKey, conn: Connection) -> None:
        conns = self.connections.get(key)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.connections[key]

    def open_connections(self) -> int:
        return sum(map(len, self.connections.values()))

    def close(self) -> None:
        """The service port is gone: its connections end."""
        for conns in list(self.connections.values()):
            for conn in list(conns):
                conn.abort()
        self.connections.clear()


class Admission(Protocol):
    """NetworkPolicy for relayed TCP connections (node_agent/enforcement.py)."""

    def allowed(self, source: str, destination: str, port: int, protocol: str,
                source_port: int = 0) -> bool: ...

    def deny(self, transport: asyncio.BaseTransport) -> object:
        """Drops or rejects a connection it did not allow, per the deny action."""


@dataclass
class Context:
    """What every listener of one proxy needs."""

    node: str  # this node's name
    node_map: NodeMap
    node_name: Callable[[int], str]  # node number -> node name
    tasks: TaskGroup
    udp_idle: float  # seconds a UDP flow lives without traffic
    # NetworkPolicy, judged once the endpoint is chosen (as iptables does after DNAT).
    # None lets everything pass.
    policy: Admission | None = None

    def client_node(self, client_ip: str) -> str:
        """The node a client runs on: the one whose pod range or node IP holds its
        address; any other address (127.0.0.1 on the host) counts as this node's."""
        index = self.node_map.index(client_ip)
        return self.node if index is None else self.node_name(index)


class Listener(abc.ABC):
    """A bound frontend address. ``frontend`` and ``port`` change in place when a plan
    changes what the address serves but not how it is bound."""

    def __init__(self, frontend: Frontend, port: ServicePort, context: Context) -> None:
        self.frontend = frontend
        self.port = port
        self.context = context

    def route(self, client_ip: str) -> tuple[Endpoint, str] | None:
        """(endpoint, source address) for a new connection from ``client_ip``; None:
        refuse it (no endpoint its traffic policy allows)."""
        frontend = self.frontend
        if frontend.locality is Locality.CLUSTER:
            node: str | None = None
        elif frontend.locality is Locality.THIS_NODE:
            node = self.context.node
        else:
            node = self.context.client_node(client_ip)
        endpoint = self.port.balancer.pick(client_ip, node, time.monotonic())
        if endpoint is None:
            return None
        return endpoint, frontend.source or client_ip

    @abc.abstractmethod
    async def open(self) -> None:
        """Binds the address (OSError when it cannot) and starts serving."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stops serving the address."""

    def expire(self, now: float) -> None:
        """Ends what idled too long (UDP flows)."""
