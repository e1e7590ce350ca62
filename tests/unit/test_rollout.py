"""Deployment decisions: finding and creating ReplicaSets, rollout steps (rolling update,
recreate, proportional scaling, paused), history cleanup and status conditions. The
rollouts are simulated end to end against the ReplicaSet decisions in ``replication``."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from apiserver import replication, rollout
from apiserver.replication import format_time

NOW = datetime(2026, 11, 22, 7, 18, 11, tzinfo=timezone.utc)
T0 = format_time(NOW - timedelta(seconds=1000))
STAMP = format_time(NOW)


def deployment(replicas: int = 4, *, image: str = "nginx:1", strategy: str = "RollingUpdate",
               surge: int | str = "25%", unavailable: int | str = "25%", min_ready: int = 0,
               paused: bool = False, generation: int = 1, history: int = 10,
               deadline: int = 600, status: dict | None = None,
               annotations: dict[str, str] | None = None) -> dict:
    spec: dict[str, Any] = {
        "replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": image}]}},
        "strategy": {"type": strategy}, "revisionHistoryLimit": history,
        "progressDeadlineSeconds": deadline,
    }
    if strategy == "RollingUpdate":
        spec["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    if min_ready:
        spec["minReadySeconds"] = min_ready
    if paused:
        spec["paused"] = True
    meta: dict[str, Any] = {"name": "web", "namespace": "default", "uid": "dep-uid",
                            "generation": generation}
    if annotations:
        meta["annotations"] = annotations
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}
    if status is not None:
        d["status"] = status
    return d


def rs(name: str, replicas: int, *, age: int = 0, image: str | None = None,
       desired: int | None = None, max_replicas: int | None = None,
       revision: int | None = None, status: dict | None = None) -> dict:
    """A ReplicaSet of the ``web`` Deployment created ``age`` seconds before T0's epoch:
    larger ages are older. Its image defaults to its name, so each name is a template."""
    annotations: dict[str, str] = {}
    if revision is not None:
        annotations[rollout.REVISION] = str(revision)
    if desired is not None:
        annotations[rollout.DESIRED_REPLICAS] = str(desired)
        annotations[rollout.MAX_REPLICAS] = str(max_replicas if max_replicas is not None
                                                else desired)
    out: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                     "generation": 1, "annotations": annotations,
                     "creationTimestamp": format_time(NOW - timedelta(seconds=5000 + age)),
                     "labels": {"app": "web", rollout.HASH_LABEL: name}},
        "spec": {"replicas": replicas,
                 "selector": {"matchLabels": {"app": "web", rollout.HASH_LABEL: name}},
                 "template": {"metadata": {"labels": {"app": "web", rollout.HASH_LABEL: name}},
                              "spec": {"containers": [{"name": "web",
                                                       "image": image or name}]}}},
        "status": status if status is not None else {"observedGeneration": 1},
    }
    return out


def ready_pods(owner: str, n: int, *, ready: bool = True) -> list[dict]:
    return [{"metadata": {"name": f"{owner}-{i}", "uid": f"{owner}-{i}",
                          "labels": {"app": "web", rollout.HASH_LABEL: owner}},
             "spec": {"nodeName": "n1"},
             "status": {"phase": "Running",
                        "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                        "lastTransitionTime": T0}]}}
            for i in range(n)]


def sizes(rss: list[dict]) -> dict[str, int]:
    return {r["metadata"]["name"]: r["spec"]["replicas"] for r in rss}


# --- strategy parameters ------------------------------------------------------------------

@pytest.mark.parametrize("replicas, surge, unavailable, expected", [
    (10, "25%", "25%", (3, 2)),
    (4, "25%", "25%", (1, 1)),
    (1, "25%", "25%", (1, 0)),
    (3, 0, "1%", (0, 1)),
    (10, 2, 0, (2, 0)),
    (10, "0%", "0%", (0, 1)),
], ids=["percent-rounding", "four", "one-replica", "both-zero-means-one-unavailable",
        "ints", "explicit-zero-percents"])
def test_resolve_fenceposts(replicas: int, surge: int | str, unavailable: int | str,
                            expected: tuple[int, int]) -> None:
    assert rollout.resolve_fenceposts(deployment(replicas, surge=surge,
                                                 unavailable=unavailable)) == expected


@pytest.mark.parametrize("d, surge, unavailable", [
    (deployment(10, strategy="Recreate"), 0, 0),
    (deployment(0), 0, 0),
    (deployment(2, surge=0, unavailable=5), 0, 2),
    ({"metadata": {"name": "web"}, "spec": {"replicas": 8}}, 2, 2),
], ids=["recreate-has-neither", "zero-replicas", "unavailable-capped-at-replicas",
        "apps-v1-defaults"])
def test_max_surge_and_unavailable(d: dict, surge: int, unavailable: int) -> None:
    assert (rollout.max_surge(d), rollout.max_unavailable(d)) == (surge, unavailable)


# --- finding ReplicaSets ------------------------------------------------------------------

def _template(image: str = "nginx:1", **meta: Any) -> dict:
    return {"metadata": {"labels": {"app": "web"}, **meta},
            "spec": {"containers": [{"name": "web", "image": image}]}}


@pytest.mark.parametrize("a, b, equal", [
    (_template(), _template(labels={"app": "web", rollout.HASH_LABEL: "abc"}), True),
    (_template(labels={"app": "web", rollout.HASH_LABEL: "x"}),
     _template(labels={"app": "web", rollout.HASH_LABEL: "y"}), True),
    (_template(), _template("nginx:2"), False),
    (_template(), _template(creationTimestamp=None, annotations={}), True),
    (_template(), _template(labels={"app": "api"}), False),
    (_template(), _template(labels={"app": "web", "tier": ""}), False),
], ids=["hash-ignored", "different-hashes", "image-differs", "null-and-empty-are-unset",
        "label-differs", "empty-label-value-counts"])
def test_template_equal(a: dict, b: dict, equal: bool) -> None:
    assert rollout.template_equal(a, b) is equal


def test_find_new_and_old_replicasets() -> None:
    d = deployment(image="nginx:1")
    older = rs("web-old", 1, age=100, image="nginx:1")
    newer = rs("web-dup", 1, age=0, image="nginx:1")
    other = rs("web-v0", 3, age=500, image="nginx:0")
    assert rollout.find_new_rs(d, [newer, other, older]) is older
    assert rollout.old_rss(d, [newer, other, older]) == [newer, other]
    assert rollout.find_new_rs(d, [other]) is None
    assert rollout.old_rss(d, [other]) == [other]


# --- the new ReplicaSet -------------------------------------------------------------------

def test_new_rs_object() -> None:
    d = deployment(3, min_ready=5, annotations={
        "team": "blue", rollout.REVISION: "7",
        "kubectl.kubernetes.io/last-applied-configuration": "{}"})
    d["spec"]["selector"]["matchExpressions"] = [{"key": "tier", "operator": "Exists"}]
    before = copy.deepcopy(d)
    created = rollout.new_rs(d, [rs("web-a", 0, revision=1), rs("web-b", 0, revision=2)],
                             "5d8f9c7b6")
    labels = {"app": "web", rollout.HASH_LABEL: "5d8f9c7b6"}
    assert created["metadata"] == {
        "name": "web-5d8f9c7b6", "namespace": "default", "labels": labels,
        "annotations": {"team": "blue", rollout.REVISION: "3",
                        rollout.DESIRED_REPLICAS: "3", rollout.MAX_REPLICAS: "4"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                             "uid": "dep-uid", "controller": True,
                             "blockOwnerDeletion": True}]}
    assert created["spec"]["selector"] == {
        "matchLabels": labels, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}
    assert created["spec"]["template"]["metadata"]["labels"] == labels
    assert created["spec"]["template"]["spec"] == d["spec"]["template"]["spec"]
    assert created["spec"]["minReadySeconds"] == 5
    assert created["spec"]["replicas"] == 3
    assert d == before


@pytest.mark.parametrize("d, existing, replicas", [
    (deployment(4), [], 4),
    (deployment(4), [rs("web-a", 4)], 1),
    (deployment(10), [rs("web-a", 10)], 3),
    (deployment(4, surge=0, unavailable=1), [rs("web-a", 4)], 0),
    (deployment(4), [rs("web-a", 2), rs("web-b", 3)], 0),
    (deployment(4), [rs("web-a", 1)], 4),
    (deployment(4, strategy="Recreate"), [rs("web-a", 0)], 4),
], ids=["brand-new-deployment", "rollout-starts-at-surge", "percent-surge",
        "no-surge-starts-at-zero", "already-over-surge", "room-capped-at-replicas",
        "recreate-full-size"])
def test_new_rs_replicas(d: dict, existing: list[dict], replicas: int) -> None:
    assert rollout.new_rs(d, existing, "h")["spec"]["replicas"] == replicas


@pytest.mark.parametrize("current, olds, expected", [
    ({rollout.REVISION: "1"}, [rs("web-b", 0, revision=3)],
     {rollout.REVISION: "4", rollout.REVISION_HISTORY: "1"}),
    ({rollout.REVISION: "2", rollout.REVISION_HISTORY: "1"}, [rs("web-b", 0, revision=5)],
     {rollout.REVISION: "6", rollout.REVISION_HISTORY: "1,2"}),
    ({}, [rs("web-b", 0, revision=2)], {rollout.REVISION: "3"}),
    ({rollout.REVISION: "9"}, [rs("web-b", 0, revision=2)], None),
], ids=["rollback-records-history", "history-appends", "unrevisioned-gets-revision",
        "already-newest"])
def test_sync_new_rs_revisions(current: dict, olds: list[dict],
                               expected: dict[str, str] | None) -> None:
    new = rs("web-a", 4)
    new["metadata"]["annotations"] = current
    synced = rollout.sync_new_rs(deployment(), new, olds)
    assert (synced["metadata"]["annotations"] if synced else None) == expected


def test_sync_new_rs_copies_annotations_and_min_ready() -> None:
    d = deployment(min_ready=7, annotations={"team": "blue"})
    new = rs("web-a", 4, revision=2)
    synced = rollout.sync_new_rs(d, new, [rs("web-b", 0, revision=1)])
    assert synced is not None
    assert synced["metadata"]["annotations"] == {rollout.REVISION: "2", "team": "blue"}
    assert synced["spec"]["minReadySeconds"] == 7
    assert new["metadata"]["annotations"] == {rollout.REVISION: "2"}


@pytest.mark.parametrize("annotations, new, expected", [
    (None, rs("web-a", 1, revision=3), {rollout.REVISION: "3"}),
    ({rollout.REVISION: "2", "team": "x"}, rs("web-a", 1, revision=3),
     {rollout.REVISION: "3", "team": "x"}),
    ({rollout.REVISION: "3"}, rs("web-a", 1, revision=3), None),
    ({rollout.REVISION: "3"}, None, None),
], ids=["first-revision", "revision-moves", "unchanged", "no-new-rs"])
def test_revision_annotations(annotations: dict | None, new: dict | None,
                              expected: dict | None) -> None:
    assert rollout.revision_annotations(deployment(annotations=annotations), new) == expected


@pytest.mark.parametrize("r, replicas, expected", [
    (rs("web-a", 2, desired=4, max_replicas=5), 3,
     {"replicas": 3, rollout.DESIRED_REPLICAS: "4", rollout.MAX_REPLICAS: "5"}),
    (rs("web-a", 2, desired=3, max_replicas=3), 2,
     {"replicas": 2, rollout.DESIRED_REPLICAS: "4", rollout.MAX_REPLICAS: "5"}),
    (rs("web-a", 2, desired=4, max_replicas=5), 2, None),
], ids=["resize", "annotations-only", "nothing-to-write"])
def test_scaled_rs(r: dict, replicas: int, expected: dict | None) -> None:
    out = rollout.scaled_rs(deployment(4), r, replicas)
    if expected is None:
        assert out is None
        return
    assert out is not None
    assert {"replicas": out["spec"]["replicas"],
            **{k: v for k, v in out["metadata"]["annotations"].items()
               if k != rollout.REVISION}} == expected
    assert r["spec"]["replicas"] == 2


@pytest.mark.parametrize("old, new, message", [
    (0, 3, "Scaled up replica set web-a from 0 to 3"),
    (4, 1, "Scaled down replica set web-a from 4 to 1"),
], ids=["up", "down"])
def test_scaling_message(old: int, new: int, message: str) -> None:
    assert rollout.scaling_message("web-a", old, new) == message


# --- which path a step takes --------------------------------------------------------------

def _terminating(owner: str) -> list[dict]:
    pods = ready_pods(owner, 1)
    pods[0]["metadata"]["deletionTimestamp"] = T0
    return pods


@pytest.mark.parametrize("d, new, olds, pods, create", [
    (deployment(image="web-b"), None, [rs("web-a", 4, desired=4)], {}, True),
    (deployment(image="web-b", paused=True), None, [rs("web-a", 4, desired=4)], {}, False),
    (deployment(8, image="web-b"), None, [rs("web-a", 4, desired=4)], {}, False),
    (deployment(image="web-a"), rs("web-a", 4), [], {}, False),
    (deployment(image="web-b", strategy="Recreate"), None, [rs("web-a", 4, desired=4)], {},
     False),
    (deployment(image="web-b", strategy="Recreate"), None, [rs("web-a", 0, desired=4)],
     {"web-a": _terminating("web-a")}, False),
    (deployment(image="web-b", strategy="Recreate"), None, [rs("web-a", 0, desired=4)],
     {"web-a": []}, True),
], ids=["rolling-update", "paused", "scaling-event-first", "already-exists",
        "recreate-old-still-scaled", "recreate-old-pods-terminating", "recreate-clear"])
def test_should_create_new_rs(d: dict, new: dict | None, olds: list[dict],
                              pods: dict[str, list[dict]], create: bool) -> None:
    assert rollout.should_create_new_rs(d, new, olds, pods) is create


def _annotated(desired: str | None, replicas: int = 2) -> dict:
    r = rs("web-a", replicas)
    if desired is not None:
        r["metadata"]["annotations"][rollout.DESIRED_REPLICAS] = desired
    return r


@pytest.mark.parametrize("r, scaling", [
    (_annotated("4"), False),
    (_annotated("3"), True),
    (_annotated("+3"), True),
    (_annotated("+-5"), False),
    (_annotated(None), False),
    (_annotated("3", replicas=0), False),
], ids=["sized-for-now", "sized-for-other", "signed-number", "malformed-ignored",
        "unannotated", "inactive-ignored"])
def test_is_scaling_event(r: dict, scaling: bool) -> None:
    assert rollout.is_scaling_event(deployment(4), [r, None]) is scaling


def test_deleting_deployment_plans_nothing() -> None:
    d = deployment(image="web-b")
    d["metadata"]["deletionTimestamp"] = T0
    old = [rs("web-a", 4, desired=4)]
    assert rollout.should_create_new_rs(d, None, old, {}) is False
    assert rollout.plan(d, rs("web-b", 1, desired=4), old, {}, NOW) == {}


# --- single rolling steps -----------------------------------------------------------------

@pytest.mark.parametrize("d, new, new_ready, olds, old_ready, expected", [
    (deployment(4), rs("web-b", 1, desired=4, max_replicas=5), 0,
     [rs("web-a", 4, desired=4, max_replicas=5)], {"web-a": 4}, {"web-a": 3}),
    (deployment(4), rs("web-b", 1, desired=4, max_replicas=5), 1,
     [rs("web-a", 3, desired=4, max_replicas=5)], {"web-a": 3}, {"web-b": 2}),
    (deployment(4), rs("web-b", 2, desired=4, max_replicas=5), 0,
     [rs("web-a", 3, desired=4, max_replicas=5)], {"web-a": 3}, {}),
    (deployment(4), rs("web-b", 1, desired=4, max_replicas=5), 1,
     [rs("web-a", 4, desired=4, max_replicas=5)], {"web-a": 2}, {"web-a": 2}),
    (deployment(4), rs("web-b", 5, desired=4, max_replicas=5), 5,
     [rs("web-a", 0, desired=4, max_replicas=5)], {}, {"web-b": 4}),
    (deployment(6, surge=0, unavailable=2), rs("web-b", 0, desired=6, max_replicas=6), 0,
     [rs("web-a", 4, desired=6, age=10), rs("web-c", 2, desired=6, age=20)],
     {"web-a": 4, "web-c": 2}, {"web-c": 0}),
    (deployment(4), rs("web-b", 4, desired=4, max_replicas=5), 4,
     [rs("web-a", 0, desired=4, max_replicas=5)], {}, {}),
], ids=["first-scale-down-after-surge", "new-grows-into-freed-room",
        "new-not-ready-blocks-scale-down", "unhealthy-old-replicas-go-first",
        "new-over-spec-shrinks", "oldest-old-scaled-down-first", "complete"])
def test_rolling_step(d: dict, new: dict, new_ready: int, olds: list[dict],
                      old_ready: dict[str, int], expected: dict[str, int]) -> None:
    pods = {"web-b": ready_pods("web-b", new_ready)}
    for o in olds:
        name = o["metadata"]["name"]
        ready = old_ready.get(name, 0)
        pods[name] = ready_pods(name, ready) + ready_pods(f"{name}-x", o["spec"]["replicas"]
                                                          - ready, ready=False)
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "web-b"
    assert rollout.plan(d, new, olds, pods, NOW) == expected


# --- proportional scaling (upstream TestScale's table) ------------------------------------

NEW, OLD, OLDER = 0, 100, 200  # ages


@pytest.mark.parametrize("now, was, new, olds, expected, annotated", [
    ((12, 0), (10, 0), ("web-v1", 10), [], {"web-v1": 12}, {}),
    ((10, 0), (5, 0), ("web-v2", 2), [("web-v1", 3, OLD)], {"web-v2": 4, "web-v1": 6}, {}),
    ((3, 0), (5, 0), ("web-v2", 2), [("web-v1", 3, OLD)], {"web-v2": 1, "web-v1": 2}, {}),
    ((4, 0), (9, 0), ("web-v2", 8), [("web-v1", 1, OLD)], {"web-v2": 4, "web-v1": 0}, {}),
    ((10, 0), (7, 0), ("web-v3", 2), [("web-v2", 3, OLD), ("web-v1", 2, OLDER)],
     {"web-v3": 3, "web-v2": 4, "web-v1": 3}, {}),
    ((8, 0), (13, 0), ("web-v3", 2), [("web-v2", 8, OLD), ("web-v1", 3, OLDER)],
     {"web-v3": 1, "web-v2": 5, "web-v1": 2}, {}),
    ((4, 0), (3, 0), ("web-v3", 1), [("web-v2", 1, OLD), ("web-v1", 1, OLDER)],
     {"web-v3": 2, "web-v2": 1, "web-v1": 1}, {}),
    ((2, 0), (3, 0), ("web-v3", 1), [("web-v2", 1, OLD), ("web-v1", 1, OLDER)],
     {"web-v3": 1, "web-v2": 1, "web-v1": 0}, {}),
    ((5, 0), (4, 0), None, [("web-v2", 2, OLD), ("web-v1", 2, OLDER)],
     {"web-v2": 3, "web-v1": 2}, {}),
    ((0, 0), (6, 0), ("web-v3", 3), [("web-v2", 2, OLD), ("web-v1", 1, OLDER)],
     {"web-v3": 0, "web-v2": 0, "web-v1": 0}, {}),
    ((6, 0), (6, 0), ("web-v3", 0), [("web-v2", 0, OLD), ("web-v1", 0, OLDER)],
     {"web-v3": 6, "web-v2": 0, "web-v1": 0}, {}),
    ((5, 0), (5, 0), ("web-v3", 2), [("web-v2", 1, OLD), ("web-v1", 1, OLDER)],
     {"web-v3": 2, "web-v2": 2, "web-v1": 1}, {"web-v2": 3}),
    ((20, 2), (10, 2), ("web-v2", 6), [("web-v1", 6, OLD)], {"web-v2": 11, "web-v1": 11}, {}),
    ((50, 6), (10, 3), ("web-v2", 5), [("web-v1", 8, OLD)], {"web-v2": 22, "web-v1": 34}, {}),
], ids=["single-rs-10-to-12", "5-to-10", "5-to-3", "9-to-4", "7-to-10", "13-to-8",
        "leftover-up-goes-to-newest", "leftover-down-comes-from-oldest", "no-new-rs-4-to-5",
        "6-to-0", "0-to-6-latest-takes-all", "stale-annotation", "surge-pods",
        "surge-and-size-change"])
def test_proportional_scaling(now: tuple[int, int], was: tuple[int, int],
                              new: tuple[str, int] | None, olds: list[tuple[str, int, int]],
                              expected: dict[str, int], annotated: dict[str, int]) -> None:
    """(replicas, maxSurge) now and when the ReplicaSets were last sized -> final sizes."""
    d = deployment(now[0], image=new[0] if new else "web-v9", surge=now[1], unavailable=0,
                   paused=True)

    def make(name: str, size: int, age: int) -> dict:
        desired = annotated.get(name, was[0])
        return rs(name, size, age=age, desired=desired, max_replicas=desired + was[1])

    new_rs = make(new[0], new[1], NEW) if new else None
    old = [make(*o) for o in olds]
    steps = rollout.plan(d, new_rs, old, {}, NOW)
    every = [r for r in [new_rs, *old] if r is not None]
    assert {**sizes(every), **steps} == expected
    # The same happens unpaused when the Deployment was resized mid-rollout.
    d["spec"].pop("paused")
    if rollout.is_scaling_event(d, every):
        assert rollout.plan(d, new_rs, old, {}, NOW) == steps


def test_saturated_new_rs_retires_old_ones() -> None:
    d = deployment(2, image="web-v2", paused=True)
    new = rs("web-v2", 2, desired=2)
    olds = [rs("web-v1", 1, desired=2, age=OLD)]
    assert rollout.plan(d, new, olds, {"web-v2": ready_pods("web-v2", 2)}, NOW) == {"web-v1": 0}
    # Not all available: a broken new ReplicaSet leaves the old pods alone.
    assert rollout.plan(d, new, olds, {"web-v2": ready_pods("web-v2", 1)}, NOW) == \
        {"web-v2": 2, "web-v1": 1}


# --- simulated rollouts -------------------------------------------------------------------

@dataclass
class Cluster:
    """A Deployment with its ReplicaSets and pods, driven the way the controllers are."""

    d: dict
    rss: dict[str, dict] = field(default_factory=dict)
    pods: dict[str, list[dict]] = field(default_factory=dict)
    now: datetime = NOW
    serial: int = 0
    log: list[dict[str, int]] = field(default_factory=list)

    def sync_deployment(self) -> None:
        d, rss = self.d, list(self.rss.values())
        new = rollout.find_new_rs(d, rss)
        olds = rollout.old_rss(d, rss)
        created = rollout.should_create_new_rs(d, new, olds, self.pods)
        step: dict[str, int] = {}
        if created:
            image = d["spec"]["template"]["spec"]["containers"][0]["image"]
            new = rollout.new_rs(d, rss, image.replace(":", "").replace(".", ""))
            new["metadata"].update(uid=f"uid-{self.serial}", generation=1,
                                   creationTimestamp=format_time(self.now))
            self.serial += 1
            name = new["metadata"]["name"]
            self.rss[name], self.pods[name] = new, []
            rss.append(new)
            step[name] = new["spec"]["replicas"]
        elif new is not None and (synced := rollout.sync_new_rs(d, new, olds)) is not None:
            self._write(synced)
        planned = rollout.plan(d, new, olds, self.pods, self.now)
        for name, replicas in planned.items():
            scaled = rollout.scaled_rs(d, self.rss[name], replicas)
            if scaled is not None:
                self._write(scaled)
        if not planned:
            for gone in rollout.rss_to_clean_up(d, olds, self.pods):
                del self.rss[gone["metadata"]["name"]]
        status = rollout.deployment_status(d, new, rss, self.pods, self.now, created=created)
        annotations = rollout.revision_annotations(d, new)
        self.d = copy.deepcopy(d)
        self.d["status"] = status
        if annotations is not None:
            self.d["metadata"]["annotations"] = annotations
        self.log.append({**step, **planned})

    def _write(self, r: dict) -> None:
        name = r["metadata"]["name"]
        if r["spec"] != self.rss[name]["spec"]:
            r["metadata"]["generation"] += 1
        self.rss[name] = r

    def sync_replicasets(self) -> None:
        for name, r in self.rss.items():
            pods = self.pods.setdefault(name, [])
            pods[:] = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            active = [p for p in pods if replication.is_pod_active(p)]
            diff = replication.replica_diff(r, active)
            for _ in range(max(diff, 0)):
                p = replication.pod_from_template(r, f"{name}-{self.serial}")
                p["metadata"].update(uid=f"pod-{self.serial}",
                                     creationTimestamp=format_time(self.now))
                p["status"] = {"phase": "Pending"}
                self.serial += 1
                pods.append(p)
            for p in replication.pods_to_delete(active, -diff, now=self.now):
                p["metadata"]["deletionTimestamp"] = format_time(self.now)
            r["status"] = replication.rs_status(r, pods, self.now)

    def make_ready(self, count: int) -> None:
        waiting = [p for pods in self.pods.values() for p in pods
                   if replication.is_pod_active(p) and not replication.is_pod_ready(p)]
        for p in waiting[:count]:
            p["status"] = {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True",
                 "lastTransitionTime": format_time(self.now)}]}

    def round(self, ready_per_round: int) -> None:
        """One second: the Deployment syncs, then its ReplicaSets, then kubelets report."""
        self.sync_deployment()
        self.sync_replicasets()
        self.make_ready(ready_per_round)
        self.now += timedelta(seconds=1)

    def active(self, name: str | None = None) -> list[dict]:
        return [p for n, pods in self.pods.items() if name in (None, n) for p in pods
                if replication.is_pod_active(p)]

    def available(self) -> int:
        min_ready = self.d["spec"].get("minReadySeconds", 0)
        return sum(replication.is_pod_available(p, min_ready, self.now) for p in self.active())

    def settled(self) -> bool:
        new = rollout.find_new_rs(self.d, list(self.rss.values()))
        replicas = self.d["spec"]["replicas"]
        conditions = {c["type"]: c["reason"] for c in self.d["status"].get("conditions", [])}
        return (new is not None and len(self.active(new["metadata"]["name"])) == replicas
                and len(self.active()) == replicas and self.available() == replicas
                and conditions.get("Progressing") == "NewReplicaSetAvailable")

    def run_until_settled(self, ready_per_round: int = 100, check: Any = None) -> int:
        for rounds in range(1, 200):
            self.round(ready_per_round)
            if check is not None:
                check(self)
            if self.settled():
                return rounds
        raise AssertionError(f"no convergence: {self.log[-5:]}")

    def roll_to(self, image: str) -> None:
        self.d["spec"]["template"]["spec"]["containers"][0]["image"] = image
        self.d["metadata"]["generation"] += 1
        self.log.clear()


def test_new_deployment_comes_up_and_reports_complete() -> None:
    cluster = Cluster(deployment(3, image="nginx:1"))
    cluster.run_until_settled()
    assert cluster.log[0] == {"web-nginx1": 3}
    assert cluster.d["metadata"]["annotations"] == {rollout.REVISION: "1"}
    status = cluster.d["status"]
    conditions = status.pop("conditions")
    assert status == {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
                      "readyReplicas": 3, "availableReplicas": 3}
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in conditions] == [
        ("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
        ("Progressing", "True", "NewReplicaSetAvailable",
         'ReplicaSet "web-nginx1" has successfully progressed.')]
    # Progressing has been True since the ReplicaSet was created.
    assert conditions[1]["lastTransitionTime"] == format_time(NOW)


def test_rolling_update_event_sequence() -> None:
    cluster = Cluster(deployment(4, image="nginx:1"))
    cluster.run_until_settled()
    cluster.roll_to("nginx:2")
    cluster.run_until_settled()
    assert [step for step in cluster.log if step] == [
        {"web-nginx2": 1, "web-nginx1": 3}, {"web-nginx2": 2}, {"web-nginx1": 1},
        {"web-nginx2": 4}, {"web-nginx1": 0}]
    assert cluster.rss["web-nginx2"]["metadata"]["annotations"][rollout.REVISION] == "2"
    assert cluster.d["metadata"]["annotations"][rollout.REVISION] == "2"


@pytest.mark.parametrize("replicas, surge, unavailable, ready_per_round, min_ready", [
    (4, "25%", "25%", 100, 0),
    (10, "25%", "25%", 1, 0),
    (10, 0, 1, 100, 0),
    (10, 3, 0, 2, 0),
    (5, "0%", "1%", 100, 0),
    (3, 1, 0, 1, 3),
    (1, "25%", "25%", 100, 0),
    (10, "50%", "50%", 3, 0),
    (7, 2, 3, 1, 2),
], ids=["defaults-4", "defaults-10-slow-readiness", "no-surge", "no-unavailability",
        "both-round-to-zero", "min-ready-seconds", "single-replica", "half-and-half",
        "uneven"])
def test_rolling_update_keeps_bounds_and_converges(replicas: int, surge: int | str,
                                                   unavailable: int | str,
                                                   ready_per_round: int,
                                                   min_ready: int) -> None:
    cluster = Cluster(deployment(replicas, image="nginx:1", surge=surge,
                                 unavailable=unavailable, min_ready=min_ready))
    cluster.run_until_settled()
    max_surge, max_unavailable = rollout.resolve_fenceposts(cluster.d)
    seen = {"max_total": 0, "min_available": replicas}

    def check(c: Cluster) -> None:
        total = len(c.active())
        assert total <= replicas + max_surge
        assert sum(r["spec"]["replicas"] for r in c.rss.values()) <= replicas + max_surge
        assert c.available() >= replicas - max_unavailable
        seen["max_total"] = max(seen["max_total"], total)
        seen["min_available"] = min(seen["min_available"], c.available())

    cluster.roll_to("nginx:2")
    rounds = cluster.run_until_settled(ready_per_round, check)
    assert rounds > 1
    assert not cluster.active("web-nginx1")
    assert cluster.rss["web-nginx1"]["spec"]["replicas"] == 0
    # The rollout used the room it was given.
    assert seen["max_total"] == replicas + max_surge
    assert seen["min_available"] <= replicas - min(max_unavailable, 1)


def test_recreate_never_overlaps_versions() -> None:
    cluster = Cluster(deployment(3, image="nginx:1", strategy="Recreate"))
    cluster.run_until_settled()

    def check(c: Cluster) -> None:
        if c.pods.get("web-nginx1"):  # terminating pods count too
            assert not c.pods.get("web-nginx2")

    cluster.roll_to("nginx:2")
    cluster.run_until_settled(check=check)
    # Old scaled to zero; the new ReplicaSet waits for the terminating pods, then comes up
    # at full size in one step.
    steps = [step for step in cluster.log if step]
    assert steps == [{"web-nginx1": 0}, {"web-nginx2": 3}]
    assert cluster.log.index({"web-nginx2": 3}) >= 2


def test_rollback_reuses_the_old_replicaset() -> None:
    cluster = Cluster(deployment(2, image="nginx:1"))
    cluster.run_until_settled()
    cluster.roll_to("nginx:2")
    cluster.run_until_settled()
    cluster.roll_to("nginx:1")
    cluster.run_until_settled()
    old = cluster.rss["web-nginx1"]["metadata"]["annotations"]
    assert (old[rollout.REVISION], old[rollout.REVISION_HISTORY]) == ("3", "1")
    assert cluster.rss["web-nginx2"]["spec"]["replicas"] == 0
    assert cluster.d["metadata"]["annotations"][rollout.REVISION] == "3"


def test_paused_deployment_scales_but_does_not_roll() -> None:
    cluster = Cluster(deployment(2, image="nginx:1"))
    cluster.run_until_settled()
    cluster.d["spec"]["paused"] = True
    cluster.roll_to("nginx:2")
    cluster.d["spec"]["replicas"] = 5
    for _ in range(5):
        cluster.round(100)
    assert set(cluster.rss) == {"web-nginx1"}
    assert len(cluster.active("web-nginx1")) == 5
    progressing = [c for c in cluster.d["status"]["conditions"] if c["type"] == "Progressing"]
    assert [(c["status"], c["reason"], c["message"]) for c in progressing] == [
        ("Unknown", "DeploymentPaused", "Deployment is paused")]
    cluster.d["spec"].pop("paused")
    cluster.run_until_settled()
    assert len(cluster.active("web-nginx2")) == 5


def test_history_beyond_limit_is_cleaned_up() -> None:
    cluster = Cluster(deployment(1, image="v0", history=2))
    cluster.run_until_settled()
    for version in range(1, 5):
        cluster.roll_to(f"v{version}")
        cluster.run_until_settled()
        cluster.round(100)
    assert sorted(cluster.rss) == ["web-v2", "web-v3", "web-v4"]


# --- cleanup ------------------------------------------------------------------------------

COMPLETE = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
            "availableReplicas": 2}


def _history(*specs: tuple[str, int, int]) -> list[dict]:
    return [rs(name, replicas, revision=revision, age=100 * revision)
            for name, replicas, revision in specs]


@pytest.mark.parametrize("d, olds, pods, expected", [
    (deployment(2, history=2, status=COMPLETE),
     _history(("web-a", 0, 1), ("web-b", 0, 2), ("web-c", 0, 3), ("web-d", 0, 4)), {},
     ["web-a", "web-b"]),
    (deployment(2, history=2, status=COMPLETE),
     _history(("web-a", 0, 1), ("web-b", 1, 2), ("web-c", 0, 3), ("web-d", 0, 4)), {},
     ["web-a"]),
    (deployment(2, history=2, status=COMPLETE),
     _history(("web-a", 0, 1), ("web-b", 0, 2), ("web-c", 0, 3), ("web-d", 0, 4)),
     {"web-a": ready_pods("web-a", 1)}, ["web-b"]),
    (deployment(2, history=3, status=COMPLETE),
     _history(("web-a", 0, 1), ("web-b", 0, 2), ("web-c", 0, 3)), {}, []),
    (deployment(2, history=0, status={"replicas": 2}),
     _history(("web-a", 0, 1)), {}, []),
    (deployment(2, history=0, paused=True, status={"replicas": 2}),
     _history(("web-a", 0, 1)), {}, ["web-a"]),
    (deployment(2, history=rollout.NO_LIMIT, status=COMPLETE),
     _history(("web-a", 0, 1)), {}, []),
], ids=["oldest-revisions-go", "scaled-up-kept", "pods-left-kept", "within-limit",
        "rollout-incomplete-waits", "paused-cleans-anyway", "unlimited"])
def test_rss_to_clean_up(d: dict, olds: list[dict], pods: dict[str, list[dict]],
                         expected: list[str]) -> None:
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "web-z"
    found = rollout.rss_to_clean_up(d, olds, pods)
    assert [r["metadata"]["name"] for r in found] == expected


def test_unobserved_rs_is_not_cleaned_up() -> None:
    d = deployment(2, history=0, status=COMPLETE)
    unobserved = rs("web-a", 0, revision=1)
    unobserved["metadata"]["generation"] = 2
    assert rollout.rss_to_clean_up(d, [unobserved], {}) == []


# --- status -------------------------------------------------------------------------------

def cond(ctype: str, status: str, reason: str, message: str, updated: str = T0,
         transitioned: str = T0) -> dict:
    return {"type": ctype, "status": status, "lastUpdateTime": updated,
            "lastTransitionTime": transitioned, "reason": reason, "message": message}


AVAILABLE = cond("Available", "True", "MinimumReplicasAvailable",
                 "Deployment has minimum availability.")
UNAVAILABLE = cond("Available", "False", "MinimumReplicasUnavailable",
                   "Deployment does not have minimum availability.")
COMPLETED = cond("Progressing", "True", "NewReplicaSetAvailable",
                 'ReplicaSet "web-b" has successfully progressed.')
UPDATING = cond("Progressing", "True", "ReplicaSetUpdated", 'ReplicaSet "web-b" is progressing.')


def _status_case(d: dict, new_ready: int = 0, old_ready: int = 0, created: bool = False,
                 new_size: int = 3, old_size: int = 0,
                 new_status: dict | None = None) -> dict:
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "web-b"
    new = rs("web-b", new_size, desired=3, max_replicas=4, status=new_status)
    old = rs("web-a", old_size, desired=3, max_replicas=4, age=100)
    pods = {"web-b": ready_pods("web-b", new_ready), "web-a": ready_pods("web-a", old_ready)}
    return rollout.deployment_status(d, new, [old, new], pods, NOW, created=created)


@pytest.mark.parametrize("d, kwargs, expected", [
    (deployment(3), {"created": True},
     {"observedGeneration": 1, "unavailableReplicas": 3, "conditions": [
         cond("Progressing", "True", "NewReplicaSetCreated",
              'Created new replica set "web-b"', STAMP, STAMP),
         {**UNAVAILABLE, "lastUpdateTime": STAMP, "lastTransitionTime": STAMP}]}),
    (deployment(3, status={"conditions": [
        cond("Progressing", "True", "NewReplicaSetCreated", 'Created new replica set "web-b"'),
        UNAVAILABLE]}),
     {"new_ready": 3},
     {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
      "availableReplicas": 3, "conditions": [
          {**AVAILABLE, "lastUpdateTime": STAMP, "lastTransitionTime": STAMP},
          {**COMPLETED, "lastUpdateTime": STAMP}]}),
    (deployment(3, generation=2, status={
        "observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 4,
        "availableReplicas": 4, "conditions": [AVAILABLE, UPDATING]}),
     {"new_ready": 2, "old_ready": 2, "new_size": 2, "old_size": 2},
     {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 2, "readyReplicas": 4,
      "availableReplicas": 4, "conditions": [AVAILABLE, {**UPDATING, "lastUpdateTime": STAMP}]}),
    (deployment(3, generation=2, status={
        "observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 3,
        "availableReplicas": 3, "unavailableReplicas": 1, "conditions": [AVAILABLE, UPDATING]}),
     {"new_ready": 0, "old_ready": 3, "new_size": 1, "old_size": 3},
     {"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "availableReplicas": 3,
      "unavailableReplicas": 1, "conditions": [AVAILABLE, {
          **UPDATING, "status": "False", "reason": "ProgressDeadlineExceeded",
          "message": 'ReplicaSet "web-b" has timed out progressing.',
          "lastUpdateTime": STAMP, "lastTransitionTime": STAMP}]}),
    (deployment(3, generation=2, deadline=1200, status={
        "observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 3,
        "availableReplicas": 3, "unavailableReplicas": 1, "conditions": [AVAILABLE, UPDATING]}),
     {"new_ready": 0, "old_ready": 3, "new_size": 1, "old_size": 3},
     {"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "availableReplicas": 3,
      "unavailableReplicas": 1, "conditions": [AVAILABLE, UPDATING]}),
    (deployment(3, status={"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
                           "readyReplicas": 3, "availableReplicas": 3,
                           "conditions": [AVAILABLE, COMPLETED]}),
     {"new_ready": 3},
     {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
      "availableReplicas": 3, "conditions": [AVAILABLE, COMPLETED]}),
    (deployment(3, paused=True, status={"conditions": [AVAILABLE, COMPLETED]}),
     {"new_ready": 3},
     {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
      "availableReplicas": 3, "conditions": [AVAILABLE, cond(
          "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", STAMP, STAMP)]}),
    (deployment(3, status={"conditions": [AVAILABLE, cond(
        "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")]}),
     {"new_ready": 3},
     {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
      "availableReplicas": 3, "conditions": [AVAILABLE, {
          **COMPLETED, "lastUpdateTime": STAMP, "lastTransitionTime": STAMP}]}),
    (deployment(3, status={}), {"new_ready": 1, "new_size": 1, "old_size": 2, "old_ready": 2},
     {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 1, "readyReplicas": 3,
      "availableReplicas": 3, "conditions": [
          {**AVAILABLE, "lastUpdateTime": STAMP, "lastTransitionTime": STAMP},
          {**UPDATING, "lastUpdateTime": STAMP, "lastTransitionTime": STAMP}]}),
    (deployment(3, deadline=rollout.NO_LIMIT, status={"conditions": [AVAILABLE, UPDATING]}),
     {"new_ready": 3},
     {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
      "availableReplicas": 3, "conditions": [AVAILABLE]}),
    (deployment(3, status={"conditions": [AVAILABLE, COMPLETED]}),
     {"new_ready": 3, "new_size": 4, "new_status": {"conditions": [
         {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
          "message": "exceeded quota", "lastTransitionTime": T0}]}},
     {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
      "availableReplicas": 3, "unavailableReplicas": 1, "conditions": [
          AVAILABLE, COMPLETED,
          cond("ReplicaFailure", "True", "FailedCreate", "exceeded quota")]}),
], ids=["new-rs-created", "rollout-completes", "progress-refreshes-update-time",
        "deadline-exceeded", "deadline-not-yet-reached", "steady-state-unchanged",
        "paused", "resumed-and-complete", "found-then-progressing", "no-deadline",
        "replica-failure-promoted"])
def test_deployment_status(d: dict, kwargs: dict, expected: dict) -> None:
    assert _status_case(d, **kwargs) == expected


def test_found_new_replicaset_condition() -> None:
    d = deployment(3, status={})
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "web-b"
    new = rs("web-b", 3, desired=3)
    status = rollout.deployment_status(d, new, [new], {"web-b": []}, NOW)
    assert status["conditions"][0] == cond("Progressing", "True", "FoundNewReplicaSet",
                                           'Found new replica set "web-b"', STAMP, STAMP)


@pytest.mark.parametrize("d, expected", [
    (deployment(3, status={"conditions": [cond(
        "Progressing", "True", "ReplicaSetUpdated", "x",
        updated=format_time(NOW - timedelta(seconds=100)))]}), 501.0),
    (deployment(3, status={"conditions": [cond(
        "Progressing", "True", "ReplicaSetUpdated", "x",
        updated=format_time(NOW - timedelta(seconds=599.5)))]}), 0.0),
    (deployment(3, status={"conditions": [COMPLETED], **COMPLETE, "replicas": 3,
                           "updatedReplicas": 3, "availableReplicas": 3}), None),
    (deployment(3, status={"conditions": [cond("Progressing", "False",
                                               "ProgressDeadlineExceeded", "x")]}), None),
    (deployment(3, deadline=rollout.NO_LIMIT, status={"conditions": [UPDATING]}), None),
    (deployment(3, status={}), None),
], ids=["recheck-at-deadline", "almost-due-now", "complete", "already-timed-out",
        "no-deadline", "no-condition"])
def test_progress_recheck_after(d: dict, expected: float | None) -> None:
    assert rollout.progress_recheck_after(d, NOW) == expected
