"""ReplicaSet controller decisions over plain pod and ReplicaSet dicts: which pods count,
how many pods to create or delete, which ones go first, what a new pod looks like and
what the ReplicaSet's status reports.

The controller glue lists a ReplicaSet's pods, calls these functions and writes the
results; nothing here touches the store or reads the clock (``now`` is passed in, and
must be timezone-aware).
"""

from __future__ import annotations

import copy
import functools
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

# Upstream's --concurrent burst: at most this many pods are created or deleted per sync.
BURST_REPLICAS = 500
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}
_INT32 = re.compile(r"[+-]?[0-9]+")


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime; None for a missing (zero) time."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def format_time(t: datetime) -> str:
    """``2026-11-22T07:18:11Z``: metav1.Time's wire form (UTC, whole seconds)."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def spec_replicas(obj: dict) -> int:
    """spec.replicas of a ReplicaSet or Deployment, with the apps/v1 default of 1."""
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


# --- pods ---------------------------------------------------------------------------------

def _ready_condition(pod: dict) -> dict | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond
    return None


def is_pod_ready(pod: dict) -> bool:
    cond = _ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def is_pod_available(pod: dict, min_ready_seconds: int, now: datetime) -> bool:
    """Ready, and has been for more than ``min_ready_seconds``."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds == 0:
        return True
    since = parse_time((_ready_condition(pod) or {}).get("lastTransitionTime"))
    return since is not None and (now - since).total_seconds() > min_ready_seconds


def is_pod_active(pod: dict) -> bool:
    """Not finished (Succeeded/Failed) and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


# --- ownership ----------------------------------------------------------------------------

def controller_ref(obj: dict) -> dict | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owned_by(obj: dict, owner: dict) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == owner["metadata"].get("uid")


def controller_reference(owner: dict, api_version: str, kind: str) -> dict:
    """The ownerReference a controller puts on the objects it creates for ``owner``."""
    return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"],
            "uid": owner["metadata"].get("uid", ""), "controller": True,
            "blockOwnerDeletion": True}


# --- replica management -------------------------------------------------------------------

def replica_diff(rs: dict, active_pods: list[dict]) -> int:
    """Pods to create (positive) or delete (negative) this sync, at most BURST_REPLICAS."""
    if rs["metadata"].get("deletionTimestamp"):
        return 0  # a ReplicaSet being deleted is left to the garbage collector
    diff = spec_replicas(rs) - len(active_pods)
    return max(-BURST_REPLICAS, min(BURST_REPLICAS, diff))


@dataclass(frozen=True)
class _Rank:
    """What the deletion order looks at, read once per pod."""

    pod: dict
    assigned: bool
    phase: int
    ready: bool
    cost: int
    colocated: int
    ready_since: datetime | None
    restarts: tuple[int, int]
    created: datetime | None
    uid: str


def _deletion_cost(pod: dict) -> int:
    raw = (pod["metadata"].get("annotations") or {}).get(DELETION_COST)
    if raw is None or not _INT32.fullmatch(raw):
        return 0  # upstream ignores unparsable costs
    value = int(raw)
    return value if -2**31 <= value < 2**31 else 0


def _max_restarts(pod: dict) -> tuple[int, int]:
    """(highest regular container restarts, highest sidecar restarts)."""
    status = pod.get("status") or {}
    regular = max((c.get("restartCount", 0) for c in status.get("containerStatuses") or []),
                  default=0)
    sidecars = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []
                if c.get("restartPolicy") == "Always"}
    sidecar = max((c.get("restartCount", 0) for c in status.get("initContainerStatuses") or []
                   if c.get("name") in sidecars), default=0)
    return regular, sidecar


def _rank(pod: dict, colocated: Counter[str]) -> _Rank:
    node = (pod.get("spec") or {}).get("nodeName") or ""
    ready = is_pod_ready(pod)
    ready_cond = _ready_condition(pod) or {}
    return _Rank(
        pod=pod, assigned=bool(node),
        phase=_PHASE_ORDER.get((pod.get("status") or {}).get("phase", ""), 0),
        ready=ready, cost=_deletion_cost(pod), colocated=colocated[node],
        ready_since=parse_time(ready_cond.get("lastTransitionTime")) if ready else None,
        restarts=_max_restarts(pod),
        created=parse_time(pod["metadata"].get("creationTimestamp")),
        uid=pod["metadata"].get("uid", ""))


def _log_rank(t: datetime, now: datetime) -> int:
    """floor(log2(age in nanoseconds)), -1 for no age: upstream's logarithmic buckets."""
    age = now - t
    nanos = (age.days * 86400 + age.seconds) * 10**9 + age.microseconds * 1000
    return int(math.log2(nanos)) if nanos > 0 else -1


def _newer_first(a: datetime | None, b: datetime | None, ua: str, ub: str,
                 now: datetime | None) -> int:
    """Order two different times: zero first, then newer first (in log2 age buckets when
    ``now`` is known, so pods of similar age are not told apart by seconds)."""
    if a is None or b is None:
        return -1 if a is None else 1
    if now is None:
        return -1 if a > b else 1
    diff = _log_rank(a, now) - _log_rank(b, now)
    if diff == 0:
        return (ua > ub) - (ua < ub)
    return -1 if diff < 0 else 1


def _compare(a: _Rank, b: _Rank, now: datetime | None) -> int:
    """Negative when ``a`` should be deleted before ``b``."""
    if a.assigned != b.assigned:
        return -1 if not a.assigned else 1
    if a.phase != b.phase:
        return a.phase - b.phase
    if a.ready != b.ready:
        return -1 if not a.ready else 1
    if a.cost != b.cost:
        return -1 if a.cost < b.cost else 1
    if a.colocated != b.colocated:
        return -1 if a.colocated > b.colocated else 1
    if a.ready and b.ready and a.ready_since != b.ready_since:
        return _newer_first(a.ready_since, b.ready_since, a.uid, b.uid, now)
    if a.restarts != b.restarts:
        return -1 if a.restarts > b.restarts else 1
    if a.created != b.created:
        return _newer_first(a.created, b.created, a.uid, b.uid, now)
    return 0


def rank_for_deletion(pods: Iterable[dict], related: Iterable[dict] | None = None,
                      now: datetime | None = None) -> list[dict]:
    """Pods in the order a ReplicaSet deletes them: unassigned, then Pending < Unknown <
    Running, not ready, lower pod-deletion-cost, more active ``related`` pods on the same
    node (``related`` defaults to ``pods``; upstream passes every pod of the Deployment's
    ReplicaSets), shorter ready time, more restarts, newer."""
    pods = list(pods)
    colocated: Counter[str] = Counter(
        (p.get("spec") or {}).get("nodeName") or ""
        for p in (pods if related is None else related) if is_pod_active(p))
    def order(a: _Rank, b: _Rank) -> int:
        return _compare(a, b, now)

    ranked = sorted((_rank(p, colocated) for p in pods), key=functools.cmp_to_key(order))
    return [r.pod for r in ranked]


def pods_to_delete(pods: Iterable[dict], n: int, related: Iterable[dict] | None = None,
                   now: datetime | None = None) -> list[dict]:
    """The first ``n`` pods of :func:`rank_for_deletion`."""
    return rank_for_deletion(pods, related, now)[:max(n, 0)]


# --- pods from the template ---------------------------------------------------------------

def pod_from_template(rs: dict, name: str) -> dict:
    """A new Pod for ``rs``: the template's labels, annotations, finalizers and spec, and a
    controller reference back to the ReplicaSet."""
    template = rs["spec"].get("template") or {}
    tmeta = template.get("metadata") or {}
    meta: dict[str, Any] = {"name": name, "generateName": f"{rs['metadata']['name']}-",
                            "namespace": rs["metadata"].get("namespace", "")}
    if tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    meta["ownerReferences"] = [controller_reference(rs, "apps/v1", "ReplicaSet")]
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


# --- status -------------------------------------------------------------------------------

def rs_status(rs: dict, pods: Iterable[dict], now: datetime,
              manage_error: str | None = None) -> dict:
    """ReplicaSet status from the pods it controls (any state; only active ones count).
    ``manage_error`` is the message of a failed pod create/delete this sync: it raises a
    ReplicaFailure condition, which stays until a sync manages replicas without error."""
    active = [p for p in pods if is_pod_active(p)]
    template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = rs["spec"].get("minReadySeconds", 0) or 0
    fully_labeled = sum(1 for p in active if _has_labels(p, template_labels))
    ready = [p for p in active if is_pod_ready(p)]
    available = sum(1 for p in ready if is_pod_available(p, min_ready, now))

    status: dict[str, Any] = {"replicas": len(active)}
    # Zero counts are omitted, as upstream's omitempty JSON tags do.
    for key, value in (("fullyLabeledReplicas", fully_labeled), ("readyReplicas", len(ready)),
                       ("availableReplicas", available),
                       ("observedGeneration", rs["metadata"].get("generation", 0))):
        if value:
            status[key] = value
    conditions = [dict(c) for c in (rs.get("status") or {}).get("conditions") or []]
    has_failure = any(c.get("type") == "ReplicaFailure" for c in conditions)
    if manage_error is not None and not has_failure:
        diff = len(active) - spec_replicas(rs)
        failure: dict[str, Any] = {"type": "ReplicaFailure", "status": "True",
                                   "lastTransitionTime": format_time(now)}
        if diff:
            failure["reason"] = "FailedCreate" if diff < 0 else "FailedDelete"
        failure["message"] = manage_error
        conditions.append(failure)
    elif manage_error is None and has_failure:
        conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
    if conditions:
        status["conditions"] = conditions
    return status


def _has_labels(obj: dict, labels: dict[str, str]) -> bool:
    have = obj["metadata"].get("labels") or {}
    return all(have.get(k) == v for k, v in labels.items())
