"""kube-proxy endpoint selection: round-robin, locality, fallback, ClientIP affinity."""

from __future__ import annotations

import pytest

from node_agent.kube_proxy.rules import Backends, Endpoint
from node_agent.kube_proxy.selection import Balancer, rendezvous

A = Endpoint("127.250.1.1", 80, "n1")
B = Endpoint("127.250.2.1", 80, "n2")
C = Endpoint("127.250.3.1", 80, "n3")
A2 = Endpoint("127.250.1.2", 80, "n1")
DRAINING = Endpoint("127.250.1.9", 80, "n1", ready=False, serving=True, terminating=True)


def balancer(*endpoints: Endpoint, affinity: float | None = None) -> Balancer:
    b = Balancer()
    b.update(Backends(tuple(sorted(endpoints)), affinity))
    return b


# (endpoints, node) -> picks of 6 connections from one client (no affinity)
ROUND_ROBIN = [
    pytest.param((A, B, C), None, [A, B, C, A, B, C], id="cluster-wide"),
    pytest.param((A, A2, B), "n1", [A, A2, A, A2, A, A2], id="local-to-n1"),
    pytest.param((A, B), "n3", [None] * 6, id="local-none-refused"),
    pytest.param((A, DRAINING), None, [A] * 6, id="ready-before-draining"),
    pytest.param((DRAINING, Endpoint(B.ip, 80, "n2", ready=False, serving=False)), None,
                 [DRAINING] * 6, id="fallback-to-serving-terminating"),
    pytest.param((), None, [None] * 6, id="no-endpoints"),
]


@pytest.mark.parametrize("endpoints, node, expected", ROUND_ROBIN)
def test_round_robin(endpoints: tuple[Endpoint, ...], node: str | None,
                     expected: list[Endpoint | None]) -> None:
    b = balancer(*endpoints)
    assert [b.pick("127.250.9.9", node, now=0.0) for _ in expected] == expected


def test_round_robin_turn_survives_update() -> None:
    b = balancer(A, B, C)
    assert b.pick("x", None, 0) == A
    b.update(Backends((A, B, C), None))
    assert b.pick("x", None, 0) == B


def test_affinity_sticks_until_idle_timeout() -> None:
    b = balancer(A, B, C, affinity=10)
    first = b.pick("127.250.9.9", None, now=0.0)
    assert first == rendezvous("127.250.9.9", (A, B, C))
    assert {b.pick("127.250.9.9", None, now=t) for t in (1, 5, 14, 23)} == {first}
    clients = {b.pick(f"127.250.9.{i}", None, now=0.0) for i in range(1, 40)}
    assert clients == {A, B, C}, "different clients spread over endpoints"


def test_affinity_keeps_client_when_endpoint_added_then_expires() -> None:
    client = next(f"127.250.9.{i}" for i in range(1, 255)
                  if rendezvous(f"127.250.9.{i}", (A, B)) == A
                  and rendezvous(f"127.250.9.{i}", (A, B, C)) == C)
    b = balancer(A, B, affinity=10)
    assert b.pick(client, None, now=0.0) == A
    assert b.update(Backends((A, B, C), 10)) == set()
    assert b.pick(client, None, now=5.0) == A, "remembered while active"
    assert b.expire(now=14.0) == 0
    assert b.expire(now=16.0) == 1
    assert b.pick(client, None, now=16.0) == C, "after the idle timeout the hash decides"


def test_affinity_moves_when_endpoint_removed() -> None:
    b = balancer(A, B, C, affinity=100)
    first = b.pick("c", None, 0.0)
    assert first is not None
    rest = tuple(e for e in (A, B, C) if e != first)
    assert b.update(Backends(rest, 100)) == {(first.ip, first.port)}
    assert b.pick("c", None, 1.0) in rest


def test_affinity_respects_locality() -> None:
    b = balancer(A, A2, B, affinity=100)
    assert b.pick("c", "n2", 0.0) == B
    assert b.pick("c", "n1", 1.0) in (A, A2)


def test_affinity_off_forgets() -> None:
    b = balancer(A, B, affinity=100)
    b.pick("c", None, 0.0)
    b.update(Backends((A, B), None))
    assert [b.pick("c", None, 1.0) for _ in range(2)] == [A, B]
    assert b.expire(1e9) == 0


def test_rendezvous_is_stable_across_orderings() -> None:
    assert rendezvous("127.250.1.7", (A, B, C)) == rendezvous("127.250.1.7", (C, A, B))
