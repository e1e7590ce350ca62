"""The tiny scheduler: filters, spreading score, and FailedScheduling messages."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver import scheduling
from apiserver.scheduling import Decision

NOT_HELPFUL_3 = "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."


def node(name: str, labels: dict[str, str] | None = None,
         taints: list[dict[str, str]] | None = None, ready: str | None = "True",
         unschedulable: bool = False) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": name, "labels": labels or {}},
                           "spec": {}, "status": {"conditions": []}}
    if taints:
        obj["spec"]["taints"] = taints
    if unschedulable:
        obj["spec"]["unschedulable"] = True
    if ready is not None:
        obj["status"]["conditions"].append({"type": "Ready", "status": ready})
    return obj


def pod(name: str = "web", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": dict(spec)}


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}


def pinned(*names: str) -> dict[str, Any]:
    """The affinity the DaemonSet controller gives its pods."""
    return required({"matchFields": [{"key": "metadata.name", "operator": "In",
                                      "values": list(names)}]})


NO_EXECUTE_TAINT = {"key": "dedicated", "value": "db", "effect": "NoExecute"}
THREE = [node("node-a", {"zone": "a", "size": "4"}), node("node-b", {"zone": "b", "size": "8"}),
         node("node-c", {"zone": "c", "size": "16"})]

# (pod, nodes, chosen node)
PLACEMENTS = [
    (pod(), THREE, "node-a"),
    (pod(nodeSelector={"zone": "b"}), THREE, "node-b"),
    (pod(affinity=required({"matchExpressions": [
        {"key": "zone", "operator": "In", "values": ["c", "d"]}]})), THREE, "node-c"),
    (pod(affinity=required({"matchExpressions": [
        {"key": "zone", "operator": "NotIn", "values": ["a", "b"]}]})), THREE, "node-c"),
    (pod(affinity=required({"matchExpressions": [{"key": "size", "operator": "Gt",
                                                  "values": ["4"]}]})), THREE, "node-b"),
    (pod(affinity=required({"matchExpressions": [{"key": "size", "operator": "Lt",
                                                  "values": ["8"]}]})), THREE, "node-a"),
    (pod(affinity=required({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]})),
     THREE, "node-a"),
    (pod(affinity=required(
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]},
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]})),
     THREE, "node-b"),
    (pod(affinity=required({"matchFields": [{"key": "metadata.name", "operator": "NotIn",
                                             "values": ["node-a"]}]})), THREE, "node-b"),
    (pod(affinity=pinned("node-c")), THREE, "node-c"),
    (pod(), [node("node-a", ready="False"), node("node-b")], "node-b"),
    (pod(), [node("node-a", unschedulable=True), node("node-b")], "node-b"),
    (pod(tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                       "effect": "NoSchedule"}]),
     [node("node-a", unschedulable=True), node("node-b")], "node-a"),
    (pod(), [node("node-a", taints=[NO_EXECUTE_TAINT]), node("node-b")], "node-b"),
    (pod(tolerations=[{"key": "dedicated", "value": "db", "effect": "NoExecute"}]),
     [node("node-a", taints=[NO_EXECUTE_TAINT]), node("node-b")], "node-a"),
    (pod(), [node("node-a", taints=[{"key": "soft", "effect": "PreferNoSchedule"}])], "node-a"),
    (pod(tolerations=[{"operator": "Exists"}]), [node("node-a", ready="Unknown")], "node-a"),
    (pod(nodeName="node-z"), [node("node-z", ready="False", unschedulable=True)], "node-z"),
]


@pytest.mark.parametrize(("the_pod", "nodes", "expected"), PLACEMENTS, ids=[
    "no-constraints-first-by-name", "node-selector", "affinity-in", "affinity-notin",
    "affinity-gt", "affinity-lt", "affinity-does-not-exist", "terms-are-ored",
    "match-fields-notin", "daemonset-pinned", "skips-not-ready", "skips-cordoned",
    "cordon-tolerated", "skips-no-execute-taint", "taint-tolerated",
    "prefer-no-schedule-ignored", "tolerate-everything", "preset-node-name-bypasses-filters"])
def test_placement(the_pod: dict[str, Any], nodes: list[dict[str, Any]], expected: str) -> None:
    assert scheduling.schedule(the_pod, nodes, {}).node == expected


def test_success_message_is_the_scheduled_event() -> None:
    assert scheduling.schedule(pod("web-1"), THREE, {}) == Decision(
        "node-a", "Successfully assigned default/web-1 to node-a")


# (pod, nodes, FailedScheduling message)
FAILURES = [
    (pod(), [], "no nodes available to schedule pods"),
    (pod(nodeSelector={"zone": "x"}), THREE,
     "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
     + NOT_HELPFUL_3),
    (pod(nodeSelector={"zone": "a"}),
     [node("node-a", {"zone": "a"}, ready="False"), node("node-b"), node("node-c", ready=None)],
     "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
     "2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. " + NOT_HELPFUL_3),
    (pod(), [node("node-a", ready="Unknown"), node("node-b", unschedulable=True),
             node("node-c", taints=[NO_EXECUTE_TAINT])],
     "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, "
     "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
     "1 node(s) were unschedulable. " + NOT_HELPFUL_3),
    (pod(affinity=pinned("node-b")),
     [node("node-a"), node("node-b", ready="False"), node("node-c")],
     "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
     "2 node(s) didn't satisfy plugin(s) [NodeAffinity]. " + NOT_HELPFUL_3),
    (pod(affinity=pinned("gone")), THREE,
     "0/3 nodes are available: 3 node(s) didn't satisfy plugin(s) [NodeAffinity]. "
     + NOT_HELPFUL_3),
    (pod(affinity=required({"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": ["node-a"]},
        {"key": "metadata.name", "operator": "In", "values": ["node-b"]}]})), THREE,
     "0/3 nodes are available: pod affinity terms conflict. " + NOT_HELPFUL_3),
    (pod(affinity=required({"matchExpressions": [{"key": "zone", "operator": "In"}]})), THREE,
     "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
     + NOT_HELPFUL_3),
    (pod(affinity=required()), THREE,
     "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
     + NOT_HELPFUL_3),
    (pod(affinity=required({})), THREE,
     "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
     + NOT_HELPFUL_3),
    (pod(nodeSelector={"zone": "x"}, preemptionPolicy="Never"), THREE,
     "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
     "preemption: not eligible due to preemptionPolicy=Never."),
    (pod(nodeName="node-z"), THREE,
     "0/3 nodes are available: 3 node(s) didn't match the requested node name. " + NOT_HELPFUL_3),
]


@pytest.mark.parametrize(("the_pod", "nodes", "message"), FAILURES, ids=[
    "no-nodes", "selector-matches-none", "not-ready-and-selector", "sorted-reasons",
    "daemonset-target-not-ready", "daemonset-target-gone", "pinned-terms-conflict",
    "invalid-expression-never-matches", "no-terms-match-nothing", "empty-term-matches-nothing",
    "preemption-policy-never", "preset-node-missing"])
def test_failed_scheduling_message(the_pod: dict[str, Any], nodes: list[dict[str, Any]],
                                   message: str) -> None:
    assert scheduling.schedule(the_pod, nodes, {}) == Decision(None, message)


def test_reason_histogram_sorts_as_strings() -> None:
    message = scheduling.fit_error(pod(), 12, {"node(s) x": 10, "node(s) y": 2})
    assert message.startswith("0/12 nodes are available: 10 node(s) x, 2 node(s) y. ")


# (toleration, taint, tolerated)
TOLERATIONS = [
    ({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"},
     {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
    ({"key": "k", "value": "v"}, {"key": "k", "value": "v", "effect": "NoExecute"}, True),
    ({"key": "k", "value": "other"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, False),
    ({"key": "k", "operator": "Exists"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
    ({"key": "k", "operator": "Exists", "effect": "NoExecute"},
     {"key": "k", "effect": "NoSchedule"}, False),
    ({"operator": "Exists"}, {"key": "anything", "effect": "NoExecute"}, True),
    ({"operator": "Exists", "effect": "NoSchedule"}, {"key": "a", "effect": "NoExecute"}, False),
    ({"key": "other", "operator": "Exists"}, {"key": "k", "effect": "NoSchedule"}, False),
    ({"key": "k"}, {"key": "k", "effect": "NoSchedule"}, True),
    ({"key": "k", "operator": "Gt", "value": "1"}, {"key": "k", "value": "2",
                                                    "effect": "NoSchedule"}, False),
]


@pytest.mark.parametrize(("toleration", "taint", "expected"), TOLERATIONS, ids=[
    "equal-exact", "empty-effect-matches-all", "value-differs", "exists-any-value",
    "effect-differs", "empty-key-exists-matches-all", "empty-key-still-checks-effect",
    "key-differs", "empty-value-equals-empty", "unknown-operator"])
def test_tolerates(toleration: dict[str, str], taint: dict[str, str], expected: bool) -> None:
    assert scheduling.tolerates(toleration, taint) is expected


@pytest.mark.parametrize(("the_node", "keys"), [
    (node("n", ready="True"), []),
    (node("n", ready="False"), ["node.kubernetes.io/not-ready"]),
    (node("n", ready=None), ["node.kubernetes.io/not-ready"]),
    (node("n", ready="Unknown"), ["node.kubernetes.io/unreachable"]),
    (node("n", ready="False", taints=[{"key": "node.kubernetes.io/not-ready",
                                       "effect": "NoSchedule"}]),
     ["node.kubernetes.io/not-ready"]),
], ids=["ready", "not-ready", "no-condition-yet", "unknown", "already-tainted"])
def test_node_taints_reflect_readiness(the_node: dict[str, Any], keys: list[str]) -> None:
    assert [t["key"] for t in scheduling.node_taints(the_node)] == keys


@pytest.mark.parametrize(("counts", "expected"), [
    ({}, "node-a"),
    ({"node-a": 2, "node-b": 1, "node-c": 1}, "node-b"),
    ({"node-a": 1, "node-b": 1, "node-c": 0}, "node-c"),
], ids=["empty-ties-by-name", "fewest-then-name", "fewest"])
def test_score_prefers_fewest_pods(counts: dict[str, int], expected: str) -> None:
    assert scheduling.schedule(pod(), THREE, counts).node == expected


def test_schedule_many_spreads_evenly_without_mutating_counts() -> None:
    counts = {"node-a": 2}
    decisions = scheduling.schedule_many([pod(f"p{i}") for i in range(7)], THREE, counts)
    placed = [d.node for d in decisions]
    assert placed == ["node-b", "node-c", "node-b", "node-c", "node-a", "node-b", "node-c"]
    assert counts == {"node-a": 2}


def test_schedule_many_reports_each_unschedulable_pod() -> None:
    pods = [pod("a"), pod("b", nodeSelector={"zone": "x"}), pod("c")]
    decisions = scheduling.schedule_many(pods, THREE, {})
    assert [d.node for d in decisions] == ["node-a", None, "node-b"]
    assert decisions[1].message.startswith("0/3 nodes are available: 3 node(s) didn't match")
