"""Which endpoint a new connection of a service port goes to: pure state, no sockets,
``now`` passed in.

- Round-robin over the usable endpoints (``rules.usable``: ready ones, else serving ones
  that terminate), per locality: all endpoints, or those of one node for the Local
  traffic policies.
- ``sessionAffinity: ClientIP``: a client IP sticks to its endpoint until it has been idle
  for the timeout. The first choice for a client is a rendezvous hash of (client IP,
  endpoint) rather than the round-robin turn: every node agent accepts connections for
  the same ClusterIP (SO_REUSEPORT), each with its own memory, and the hash makes them all
  choose the same endpoint for a client without sharing state. The memory keeps a client
  on its endpoint when endpoints are added; it moves only when its endpoint goes or when
  it opened no connection for the timeout (iptables' ``recent`` match counts the same).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from node_agent.kube_proxy.rules import Backends, Endpoint, usable

EndpointKey = tuple[str, int]


@dataclass
class _Stick:
    endpoint: Endpoint
    last: float


def rendezvous(client_ip: str, candidates: tuple[Endpoint, ...]) -> Endpoint:
    """The candidate with the highest hash weight for this client: stable across
    processes, and adding an endpoint moves only the clients the new one wins."""
    def weight(e: Endpoint) -> bytes:
        return hashlib.blake2b(f"{client_ip}|{e.ip}:{e.port}".encode(), digest_size=8).digest()
    return max(candidates, key=weight)


class Balancer:
    """One service port's endpoints and its choice state (round-robin turns, affinity)."""

    def __init__(self) -> None:
        self.endpoints: tuple[Endpoint, ...] = ()
        self.affinity: float | None = None
        self._candidates: dict[str | None, tuple[Endpoint, ...]] = {}  # locality -> usable
        self._turn: dict[str | None, int] = {}
        self._sticky: dict[str, _Stick] = {}  # client IP -> its endpoint

    def update(self, backends: Backends) -> set[EndpointKey]:
        """Takes new endpoints; returns the addresses that are gone (their connections
        must end). Turns and affinities of the endpoints that stay are kept."""
        old = {(e.ip, e.port) for e in self.endpoints}
        self.endpoints, self.affinity = backends.endpoints, backends.affinity
        self._candidates.clear()
        gone = old - {(e.ip, e.port) for e in self.endpoints}
        if self.affinity is None:
            self._sticky.clear()
        elif gone:
            self._sticky = {c: s for c, s in self._sticky.items()
                            if (s.endpoint.ip, s.endpoint.port) not in gone}
        return gone

    def candidates(self, node: str | None) -> tuple[Endpoint, ...]:
        """Usable endpoints anywhere (None) or on one node."""
        found = self._candidates.get(node)
        if found is None:
            pool = self.endpoints if node is None else (e for e in self.endpoints
                                                       if e.node == node)
            found = self._candidates[node] = usable(pool)
        return found

    def pick(self, client_ip: str, node: str | None, now: float) -> Endpoint | None:
        """The endpoint for a new connection (or UDP flow); None: refuse it."""
        candidates = self.candidates(node)
        if not candidates:
            return None
        if self.affinity is not None:
            stick = self._sticky.get(client_ip)
            if stick is not None and now - stick.last <= self.affinity \
                    and stick.endpoint in candidates:
                stick.last = now
                return stick.endpoint
            chosen = rendezvous(client_ip, candidates)
            self._sticky[client_ip] = _Stick(chosen, now)
            return chosen
        turn = self._turn.get(node, 0) % len(candidates)
        self._turn[node] = turn + 1
        return candidates[turn]

    def expire(self, now: float) -> int:
        """Forgets affinities idle past the timeout; returns how many."""
        if self.affinity is None or not self._sticky:
            return 0
        limit = self.affinity
        stale = [c for c, s in self._sticky.items() if now - s.last > limit]
        for client in stale:
            del self._sticky[client]
        return len(stale)
