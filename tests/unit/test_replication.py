"""ReplicaSet decisions: pod readiness and availability, replica diffs, the order pods are
deleted in, pods built from the template, and ReplicaSet status."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from apiserver import replication

NOW = datetime(2026, 11, 22, 7, 18, 11, tzinfo=timezone.utc)


def ago(seconds: float) -> str:
    return replication.format_time(NOW - timedelta(seconds=seconds))


def pod(name: str = "p", *, phase: str = "Running", node: str = "n1", ready: bool = True,
        ready_for: float = 3600, created_ago: float | None = 7200, restarts: int = 0,
        sidecar_restarts: int = 0, cost: str | None = None, deleting: bool = False,
        labels: dict[str, str] | None = None, owner_uid: str | None = None) -> dict:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                            "labels": labels if labels is not None else {"app": "web"}}
    if created_ago is not None:
        meta["creationTimestamp"] = ago(created_ago)
    if cost is not None:
        meta["annotations"] = {replication.DELETION_COST: cost}
    if deleting:
        meta["deletionTimestamp"] = ago(1)
    if owner_uid:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                    "uid": owner_uid, "controller": True}]
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx"}],
                            "initContainers": [{"name": "side", "image": "x",
                                                "restartPolicy": "Always"}]}
    if node:
        spec["nodeName"] = node
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                        "lastTransitionTime": ago(ready_for)}],
        "containerStatuses": [{"name": "c", "restartCount": restarts}],
        "initContainerStatuses": [{"name": "side", "restartCount": sidecar_restarts}],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def replicaset(replicas: int | None = 3, *, generation: int = 2, min_ready: int = 0,
               deleting: bool = False, status: dict | None = None) -> dict:
    rs: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-abc12", "namespace": "default", "uid": "rs-uid",
                     "generation": generation},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web", "tier": "front"},
                                           "annotations": {"note": "x"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }
    if replicas is not None:
        rs["spec"]["replicas"] = replicas
    if min_ready:
        rs["spec"]["minReadySeconds"] = min_ready
    if deleting:
        rs["metadata"]["deletionTimestamp"] = ago(1)
    if status is not None:
        rs["status"] = status
    return rs


@pytest.mark.parametrize("p, min_ready, ready, available", [
    (pod(), 0, True, True),
    (pod(ready=False), 0, False, False),
    (pod(ready_for=5), 10, True, False),
    (pod(ready_for=10), 10, True, False),  # exactly minReadySeconds is not yet available
    (pod(ready_for=11), 10, True, True),
    ({"metadata": {"name": "bare"}}, 0, False, False),
], ids=["ready", "not-ready", "ready-too-briefly", "ready-exactly-min", "ready-long-enough",
        "no-conditions"])
def test_readiness_and_availability(p: dict, min_ready: int, ready: bool,
                                    available: bool) -> None:
    assert replication.is_pod_ready(p) is ready
    assert replication.is_pod_available(p, min_ready, NOW) is available


@pytest.mark.parametrize("p, active", [
    (pod(), True),
    (pod(phase="Pending"), True),
    (pod(phase="Succeeded"), False),
    (pod(phase="Failed"), False),
    (pod(deleting=True), False),
], ids=["running", "pending", "succeeded", "failed", "terminating"])
def test_is_pod_active(p: dict, active: bool) -> None:
    assert replication.is_pod_active(p) is active


@pytest.mark.parametrize("p, owned", [
    (pod(owner_uid="rs-uid"), True),
    (pod(owner_uid="other"), False),
    (pod(), False),
], ids=["controller-match", "other-controller", "orphan"])
def test_owned_by(p: dict, owned: bool) -> None:
    assert replication.owned_by(p, replicaset()) is owned


@pytest.mark.parametrize("rs, active, diff", [
    (replicaset(3), 1, 2),
    (replicaset(1), 4, -3),
    (replicaset(2), 2, 0),
    (replicaset(None), 0, 1),
    (replicaset(0), 2, -2),
    (replicaset(900), 0, replication.BURST_REPLICAS),
    (replicaset(0), 700, -replication.BURST_REPLICAS),
    (replicaset(3, deleting=True), 0, 0),
], ids=["scale-up", "scale-down", "steady", "default-one-replica", "scale-to-zero",
        "burst-capped-up", "burst-capped-down", "deleting-rs-left-alone"])
def test_replica_diff(rs: dict, active: int, diff: int) -> None:
    assert replication.replica_diff(rs, [pod(f"p{i}") for i in range(active)]) == diff


@pytest.mark.parametrize("first, second, now", [
    (pod("a", node=""), pod("b", phase="Pending", ready=False), None),
    (pod("a", phase="Pending", ready=False), pod("b", phase="Unknown", ready=False), None),
    (pod("a", phase="Unknown", ready=False), pod("b", ready=False), None),
    (pod("a", ready=False, created_ago=10), pod("b", created_ago=5), None),
    (pod("a", cost="-5"), pod("b"), None),
    (pod("a"), pod("b", cost="10"), None),
    (pod("a", cost="oops"), pod("b", cost="1"), None),
    (pod("a", ready_for=60), pod("b", ready_for=600), None),
    (pod("a", restarts=3), pod("b"), None),
    (pod("a", sidecar_restarts=2), pod("b"), None),
    (pod("a", created_ago=60), pod("b", created_ago=600), None),
    (pod("a", created_ago=None), pod("b"), None),
    (pod("a", created_ago=1000, restarts=0), pod("b", created_ago=1001, restarts=0), None),
    # With a clock, ages in the same power-of-two bucket tie and the uid decides.
    (pod("a", created_ago=1001), pod("b", created_ago=1000), NOW),
    (pod("a", created_ago=10), pod("b", created_ago=1000), NOW),
], ids=["unassigned-first", "pending-before-unknown", "unknown-before-running",
        "not-ready-before-ready", "negative-cost-first", "lower-cost-first",
        "bad-cost-counts-as-zero", "shorter-ready-first", "more-restarts-first",
        "more-sidecar-restarts-first", "newer-first", "zero-creation-first",
        "newer-by-a-second", "log-bucket-tie-by-uid", "log-bucket-newer-first"])
def test_rank_for_deletion_pairs(first: dict, second: dict, now: datetime | None) -> None:
    assert replication.rank_for_deletion([second, first], now=now) == [first, second]
    assert replication.rank_for_deletion([first, second], now=now) == [first, second]


def test_rank_prefers_pods_doubled_up_on_a_node() -> None:
    lonely = pod("lonely", node="n1")
    crowded = pod("crowded", node="n2")
    related = [lonely, crowded, pod("sibling", node="n2"), pod("gone", node="n2", deleting=True)]
    assert replication.rank_for_deletion([lonely, crowded], related) == [crowded, lonely]
    # Counting only themselves, both have one pod per node: nothing tells them apart.
    assert replication.rank_for_deletion([lonely, crowded]) == [lonely, crowded]


@pytest.mark.parametrize("n, expected", [
    (0, []),
    (1, ["pending"]),
    (3, ["pending", "not-ready", "young"]),
    (9, ["pending", "not-ready", "young", "old"]),
], ids=["none", "one", "three", "more-than-there-are"])
def test_pods_to_delete(n: int, expected: list[str]) -> None:
    pods = [pod("old", ready_for=5000), pod("young", ready_for=50),
            pod("not-ready", ready=False), pod("pending", phase="Pending", ready=False)]
    assert [p["metadata"]["name"] for p in replication.pods_to_delete(pods, n)] == expected


def test_pod_from_template() -> None:
    rs = replicaset()
    rs["spec"]["template"]["metadata"]["finalizers"] = ["example.com/keep"]
    before = copy.deepcopy(rs)
    p = replication.pod_from_template(rs, "web-abc12-x7k2q")
    assert p["metadata"] == {
        "name": "web-abc12-x7k2q", "generateName": "web-abc12-", "namespace": "default",
        "labels": {"app": "web", "tier": "front"}, "annotations": {"note": "x"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                             "name": "web-abc12", "uid": "rs-uid", "controller": True,
                             "blockOwnerDeletion": True}],
        "finalizers": ["example.com/keep"]}
    assert p["spec"] == rs["spec"]["template"]["spec"]
    p["spec"]["containers"][0]["image"] = "changed"
    p["metadata"]["labels"]["app"] = "changed"
    assert rs == before


def test_pod_from_template_omits_empty_metadata() -> None:
    rs = replicaset()
    rs["spec"]["template"]["metadata"] = {}
    assert set(replication.pod_from_template(rs, "x")["metadata"]) == {
        "name", "generateName", "namespace", "ownerReferences"}


@pytest.mark.parametrize("rs, pods, expected", [
    (replicaset(3), [pod("a", labels={"app": "web", "tier": "front"}), pod("b"),
                     pod("c", ready=False), pod("d", deleting=True), pod("e", phase="Failed")],
     {"replicas": 3, "fullyLabeledReplicas": 1, "readyReplicas": 2, "availableReplicas": 2,
      "observedGeneration": 2}),
    (replicaset(0, generation=0), [], {"replicas": 0}),
    (replicaset(2, min_ready=30), [pod("a", ready_for=10), pod("b", ready_for=60)],
     {"replicas": 2, "readyReplicas": 2, "availableReplicas": 1, "observedGeneration": 2}),
    (replicaset(2), [pod("a", ready=False)], {"replicas": 1, "observedGeneration": 2}),
], ids=["mixed-pods", "empty-omits-zeroes", "min-ready-seconds", "none-ready-omitted"])
def test_rs_status(rs: dict, pods: list[dict], expected: dict) -> None:
    assert replication.rs_status(rs, pods, NOW) == expected


@pytest.mark.parametrize("rs, pods, error, reason, kept", [
    (replicaset(3), [], "pods is forbidden: exceeded quota", "FailedCreate", True),
    (replicaset(0), [pod()], "boom", "FailedDelete", True),
    (replicaset(1, status={"replicas": 0, "conditions": [
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
         "message": "old", "lastTransitionTime": ago(60)}]}), [], None, None, False),
    (replicaset(1, status={"replicas": 0, "conditions": [
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
         "message": "old", "lastTransitionTime": ago(60)}]}), [], "again", "FailedCreate", True),
], ids=["create-failed", "delete-failed", "cleared-after-clean-sync", "existing-kept"])
def test_rs_status_replica_failure(rs: dict, pods: list[dict], error: str | None,
                                   reason: str | None, kept: bool) -> None:
    conditions = replication.rs_status(rs, pods, NOW, error).get("conditions", [])
    assert bool(conditions) is kept
    if kept:
        assert conditions[0]["type"] == "ReplicaFailure"
        assert conditions[0]["reason"] == reason
        if not (rs.get("status") or {}).get("conditions"):
            assert conditions[0]["message"] == error
            assert conditions[0]["lastTransitionTime"] == replication.format_time(NOW)


@pytest.mark.parametrize("text, expected", [
    ("2026-11-22T07:18:11Z", NOW),
    ("2026-11-22T07:18:11.5Z", NOW + timedelta(milliseconds=500)),
    ("", None),
    (None, None),
], ids=["seconds", "fractional", "empty", "missing"])
def test_parse_time(text: str | None, expected: datetime | None) -> None:
    assert replication.parse_time(text) == expected


def test_format_time_is_utc_seconds() -> None:
    east = timezone(timedelta(hours=2))
    assert replication.format_time(datetime(2026, 11, 22, 9, 18, 11, 999, tzinfo=east)) == \
        "2026-11-22T07:18:11Z"
