"""Figure: NetworkPolicy evaluation latency per new connection (target: p99 under 50 us
with 1,000 policies), cold (the first check of a connection after a change emptied the
verdict cache) and warm (cached), and the time for one policy change to take effect
(``update`` until the next check reflects it). Also the first checks right after loading
the cluster, before any identity has met a port or a peer. Pure CPU, no cluster: the index
is fed the objects an agent's watches would deliver.

The cluster: 20 namespaces x 150 pods (10 Deployments of 15 replicas: app, tier,
pod-template-hash labels; named ports), and 50 policies per namespace mixing a
default-deny, allow-from-namespace/pod/both peers, matchExpressions, ipBlocks with except,
numeric, named, UDP and endPort ports, and egress rules. Connections: random pod pairs,
one in ten to or from an outside address, over a few ports.
    python3 bench/netpol_eval.py [--namespaces 20] [--pods 150] [--policies 50]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from kubeloop.netpol import NAMESPACES, PODS, POLICIES, Direction, PolicyIndex

TIERS = ("web", "api", "db")
PORTS = ((80, "TCP"), (443, "TCP"), (8080, "TCP"), (5432, "TCP"), (53, "UDP"), (9100, "TCP"))
OUTSIDE = [f"127.200.{i}.{j}" for i in range(4) for j in range(1, 30)]


def namespace(i: int) -> dict:
    return {"metadata": {"name": f"ns{i}", "labels": {"team": f"team{i % 5}",
                                                     "env": ("prod", "dev")[i % 2]}}}


def pod(ns: int, app: int, replica: int, number: int) -> dict:
    """The ``number``-th pod of the cluster, on node 1 + number % 20 (its /24 of pods)."""
    name, node = f"app{app}-{replica}", 1 + number % 20
    ports = [{"name": "http", "containerPort": 8080}, {"name": "metrics",
                                                       "containerPort": 9100}]
    return {"metadata": {"namespace": f"ns{ns}", "name": name,
                         "labels": {"app": f"app{app}", "tier": TIERS[app % 3],
                                    "pod-template-hash": f"h{ns}x{app}"}},
            "spec": {"containers": [{"name": "c", "ports": ports}]},
            "status": {"phase": "Running", "podIP": f"127.244.{node}.{1 + number // 20}",
                       "hostIP": f"127.10.0.{node}"}}


def policy(ns: int, k: int, variant: int = 0) -> dict:
    """The k-th policy of a namespace; ``variant`` changes its rules (for updates)."""
    app = f"app{(k + variant) % 10}"
    kind = k % 10
    selector: dict[str, Any] = {"matchLabels": {"app": app}}
    spec: dict[str, Any]
    if k == 0:
        spec = {"podSelector": {}, "policyTypes": ["Ingress"]}  # default deny ingress
    elif kind == 1:
        spec = {"podSelector": selector, "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"team": f"team{(k + variant) % 5}"}}}],
            "ports": [{"port": 80}, {"port": 443}]}]}
    elif kind == 2:
        spec = {"podSelector": selector, "ingress": [{"from": [
            {"podSelector": {"matchExpressions": [{"key": "tier", "operator": "In",
                                                   "values": ["web", "api"]}]}}],
            "ports": [{"port": "http"}]}]}
    elif kind == 3:
        spec = {"podSelector": {"matchExpressions": [{"key": "tier", "operator": "In",
                                                      "values": [TIERS[k % 3]]}]},
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"env": "prod"}},
                                       "podSelector": {"matchLabels": {"app": app}}}]}]}
    elif kind == 4:
        spec = {"podSelector": selector, "ingress": [{"from": [
            {"ipBlock": {"cidr": "127.200.0.0/16", "except": [f"127.200.{variant % 4}.0/24"]}},
            {"ipBlock": {"cidr": "127.244.0.0/16"}}],
            "ports": [{"port": 8000, "endPort": 8100}]}]}
    elif kind == 5:
        spec = {"podSelector": selector, "policyTypes": ["Egress"], "egress": [
            {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"tier": "db"}}}],
             "ports": [{"port": 5432}]},
            {"to": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": "ns0"}}}],
             "ports": [{"port": 53, "protocol": "UDP"}]}]}
    elif kind == 6:
        spec = {"podSelector": selector, "ingress": [{"ports": [{"port": "metrics"}]}]}
    elif kind == 7:
        spec = {"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn",
                                                      "values": [app]}]},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": app}}}]}]}
    elif kind == 8:
        spec = {"podSelector": selector, "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [
                    {"key": "team", "operator": "Exists"}]}}]}],
                "egress": [{"to": [{"ipBlock": {"cidr": "127.0.0.0/8",
                                                "except": ["127.200.0.0/16"]}}]}]}
    else:
        spec = {"podSelector": selector, "ingress": [{"from": [
            {"podSelector": {"matchLabels": {"tier": "web"}}},
            {"namespaceSelector": {"matchLabels": {"team": "team0"}}}],
            "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}]}
    return {"metadata": {"namespace": f"ns{ns}", "name": f"policy-{k}"}, "spec": spec}


def percentiles(samples: Sequence[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {statistics.median(ordered):6.1f} us  p99 {p99:6.1f} us  "
            f"max {ordered[-1]:7.1f} us  ({len(ordered)} samples)")


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - started) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=20)
    parser.add_argument("--pods", type=int, default=150, help="per namespace")
    parser.add_argument("--policies", type=int, default=50, help="per namespace")
    parser.add_argument("--rounds", type=int, default=50, help="changes, each then cold checks")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    namespaces = [namespace(i) for i in range(args.namespaces)]
    if args.namespaces * args.pods > 20 * 250:
        parser.error("at most 5,000 pods (20 nodes of 250)")
    pods = [pod(ns, i // 15, i % 15, ns * args.pods + i)
            for ns in range(args.namespaces) for i in range(args.pods)]
    policies = [policy(ns, k) for ns in range(args.namespaces) for k in range(args.policies)]
    index = PolicyIndex()

    def load() -> None:
        index.resync(NAMESPACES, namespaces)
        index.resync(PODS, pods)
        index.resync(POLICIES, policies)

    loading = timed(load)
    print(f"{len(policies)} policies, {len(pods)} pods, {len(namespaces)} namespaces: "
          f"loaded in {loading / 1000:.0f} ms")

    ips = [p["status"]["podIP"] for p in pods]
    pairs = []
    for _ in range(2000):
        src, dst = rng.choice(ips), rng.choice(ips)
        roll = rng.random()
        if roll < 0.05:
            src = rng.choice(OUTSIDE)
        elif roll < 0.1:
            dst = rng.choice(OUTSIDE)
        port, protocol = rng.choice(PORTS)
        pairs.append((src, dst, port, protocol))

    # First contact: right after the load, no identity has met a port or a peer yet.
    first = [timed(lambda: index.check(src, dst, port, protocol))
             for src, dst, port, protocol in pairs]
    cold, warm, change, effect = [], [], [], []
    allowed = 0
    for round_ in range(args.rounds):
        ns, k = rng.randrange(args.namespaces), rng.randrange(1, args.policies)
        changed = policy(ns, k, variant=round_ + 1)
        change.append(timed(lambda: index.update(POLICIES, changed)))
        sample = rng.sample(pairs, 200)
        for src, dst, port, protocol in sample:
            cold.append(timed(lambda: index.check(src, dst, port, protocol)))
        for src, dst, port, protocol in sample:
            warm.append(timed(lambda: index.check(src, dst, port, protocol)))
            allowed += index.check(src, dst, port, protocol).allowed
        # A change that flips a verdict: allow all ingress in the namespace of a pod that
        # its policies deny, then delete that policy; each step timed until a check shows.
        src, dst, port, protocol = rng.choice([
            pair for pair in sample if index.check(*pair).denied is Direction.INGRESS])
        target = index.pod_at(dst)
        assert target is not None
        allow = {"metadata": {"namespace": target.namespace, "name": "bench-allow"},
                 "spec": {"podSelector": {}, "ingress": [{}]}}
        for step, expected in ((index.update, True), (index.delete, False)):
            started = time.perf_counter_ns()
            step(POLICIES, allow)
            outcome = index.check(src, dst, port, protocol).allowed
            effect.append((time.perf_counter_ns() - started) / 1000)
            assert outcome is expected, "the change did not show"

    print(f"first check after the load:         {percentiles(first)}")
    print(f"cold check (first after a change):  {percentiles(cold)}")
    print(f"warm check (cached):                {percentiles(warm)}")
    print(f"policy update call:                 {percentiles(change)}")
    print(f"update + first check reflecting it: {percentiles(effect)}")
    print(f"({allowed / len(warm):.0%} of the sampled connections allowed)")


if __name__ == "__main__":
    main()
