"""Deployment controller decisions over plain dicts: which ReplicaSet is the new one, what
a new ReplicaSet looks like, how many replicas every ReplicaSet should have after one
reconcile step (rolling update, recreate, proportional scaling, paused), which old
ReplicaSets history no longer keeps, and the Deployment's status and conditions.

One reconcile step, as the glue drives it (pass the same snapshot to every call):

    new = find_new_rs(d, rss); olds = old_rss(d, rss)
    if should_create_new_rs(d, new, olds, pods_by_rs): create new_rs(d, rss, hash)
    elif new: write sync_new_rs(d, new, olds) if not None
    for name, n in plan(d, new, olds, pods_by_rs, now).items(): write scaled_rs(...)
    if the plan was empty: delete rss_to_clean_up(d, olds, pods_by_rs)
    write revision_annotations(d, new) and deployment_status(d, new, rss, ..., created=)

``pods_by_rs`` maps a ReplicaSet's name to every pod it controls, terminating ones
included. Fields absent from the Deployment read as their apps/v1 defaults.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from apiserver import replication
from apiserver.replication import format_time, parse_time, spec_replicas

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Deployment annotations that stay off its ReplicaSets.
_NOT_COPIED = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION,
                         REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
                         "deprecated.deployment.rollback.to"})
MAX_REVISION_HISTORY_CHARS = 2000
NO_LIMIT = 2**31 - 1  # math.MaxInt32: "keep everything" / "no deadline"


class Reason(StrEnum):
    NEW_RS_CREATED = "NewReplicaSetCreated"
    FOUND_NEW_RS = "FoundNewReplicaSet"
    RS_UPDATED = "ReplicaSetUpdated"
    NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
    TIMED_OUT = "ProgressDeadlineExceeded"
    PAUSED = "DeploymentPaused"
    RESUMED = "DeploymentResumed"
    AVAILABLE = "MinimumReplicasAvailable"
    UNAVAILABLE = "MinimumReplicasUnavailable"


# --- strategy -----------------------------------------------------------------------------

def _spec(d: dict) -> dict:
    return d.get("spec") or {}


def _name(obj: dict) -> str:
    return obj["metadata"]["name"]


def is_rolling(d: dict) -> bool:
    return (_spec(d).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def _scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """An IntOrString against ``total``: ``"25%"`` rounds up or down; ints pass through."""
    if value is None:
        value = "25%"
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        return int(value) if value.isdigit() else 0
    part = int(value[:-1]) * total
    return -(-part // 100) if round_up else part // 100


def _rolling_params(d: dict) -> dict:
    return (_spec(d).get("strategy") or {}).get("rollingUpdate") or {}


def resolve_fenceposts(d: dict) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods: surge rounds up, unavailability down, and both
    resolving to zero means one may be unavailable (surge might be blocked by quota)."""
    params, replicas = _rolling_params(d), spec_replicas(d)
    surge = _scaled_value(params.get("maxSurge"), replicas, True)
    unavailable = _scaled_value(params.get("maxUnavailable"), replicas, False)
    return surge, (1 if surge == 0 and unavailable == 0 else unavailable)


def max_surge(d: dict) -> int:
    return resolve_fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: dict) -> int:
    replicas = spec_replicas(d)
    if not is_rolling(d) or replicas == 0:
        return 0
    return min(resolve_fenceposts(d)[1], replicas)


def _progress_deadline(d: dict) -> int | None:
    seconds = _spec(d).get("progressDeadlineSeconds", 600)
    return None if seconds is None or seconds == NO_LIMIT else int(seconds)


# --- finding ReplicaSets ------------------------------------------------------------------

def _canonical(value: Any) -> Any:
    """Drops null and empty fields, which Go's semantic equality treats as unset."""
    if isinstance(value, dict):
        out = {k: _canonical(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _without_hash(template: dict) -> dict:
    template = copy.deepcopy(template or {})
    labels = (template.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return _canonical(template)


def template_equal(a: dict, b: dict) -> bool:
    """Pod templates equal apart from the pod-template-hash label."""
    return _without_hash(a) == _without_hash(b)


_ZERO_TIME = datetime.min.replace(tzinfo=timezone.utc)


def _by_age(rss: Iterable[dict]) -> list[dict]:
    """Oldest first, ties by name; a missing creationTimestamp is the oldest."""
    return sorted(rss, key=lambda rs: (
        parse_time(rs["metadata"].get("creationTimestamp")) or _ZERO_TIME, _name(rs)))


def find_new_rs(d: dict, rss: Iterable[dict]) -> dict | None:
    """The oldest of the Deployment's ReplicaSets whose template is the Deployment's."""
    template = _spec(d).get("template") or {}
    return next((rs for rs in _by_age(rss)
                 if template_equal(rs["spec"].get("template") or {}, template)), None)


def old_rss(d: dict, rss: Iterable[dict]) -> list[dict]:
    """Every ReplicaSet of the Deployment but the new one (including scaled-down ones)."""
    rss = list(rss)
    new = find_new_rs(d, rss)
    return [rs for rs in rss if new is None or _name(rs) != _name(new)]


def _active(rss: Iterable[dict | None]) -> list[dict]:
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


# --- revisions and the new ReplicaSet -----------------------------------------------------

def _revision(obj: dict) -> int | None:
    """The revision annotation; 0 when absent, None when unparsable."""
    raw = (obj["metadata"].get("annotations") or {}).get(REVISION)
    if raw is None:
        return 0
    try:
        return int(raw)
    except ValueError:
        return None


def max_revision(rss: Iterable[dict]) -> int:
    return max((r for r in map(_revision, rss) if r is not None), default=0)


def replica_annotations(d: dict) -> dict[str, str]:
    """desired-replicas and max-replicas: what the ReplicaSets believe the Deployment wants."""
    replicas = spec_replicas(d)
    return {DESIRED_REPLICAS: str(replicas), MAX_REPLICAS: str(replicas + max_surge(d))}


def _rs_annotations(d: dict, current: Mapping[str, str], new_revision: int,
                    exists: bool) -> dict[str, str]:
    """The new ReplicaSet's annotations: the Deployment's (minus bookkeeping ones), its
    revision raised to ``new_revision`` (remembering the one it replaces, as a rollback
    does), and the replica annotations when it is being created."""
    out = dict(current)
    out.update((k, v) for k, v in (d["metadata"].get("annotations") or {}).items()
               if k not in _NOT_COPIED)
    old = out.get(REVISION)
    try:
        old_revision = int(old) if old else 0
    except ValueError:
        return out
    if old_revision < new_revision:
        out[REVISION] = str(new_revision)
        if old is not None:
            out[REVISION_HISTORY] = _append_history(out.get(REVISION_HISTORY, ""), old)
    if not exists:
        out.update(replica_annotations(d))
    return out


def _append_history(history: str, revision: str) -> str:
    if not history:
        return revision
    entries = history.split(",")
    total = len(history) + len(revision) + 1
    start = 0
    while total > MAX_REVISION_HISTORY_CHARS and start < len(entries):
        total -= len(entries[start]) + 1
        start += 1
    if total > MAX_REVISION_HISTORY_CHARS:
        return history
    return ",".join(entries[start:] + [revision])


def _new_rs_replicas(d: dict, all_rss: Iterable[dict], new: dict) -> int:
    """Upstream NewRSNewReplicas: as far toward spec.replicas as the surge allows."""
    replicas, current = spec_replicas(d), spec_replicas(new)
    if not is_rolling(d):
        return replicas
    surge = _scaled_value(_rolling_params(d).get("maxSurge"), replicas, True)
    room = replicas + surge - sum(spec_replicas(rs) for rs in all_rss)
    if room <= 0:
        return current
    return current + min(room, replicas - current)


def new_rs(d: dict, rss: Iterable[dict], hash: str) -> dict:
    """The ReplicaSet to create for the Deployment's current template."""
    olds = old_rss(d, rss)
    spec = _spec(d)
    template = copy.deepcopy(spec.get("template") or {})
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: hash}
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: hash}
    meta = d["metadata"]
    rs: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{hash}", "namespace": meta.get("namespace", ""),
            "labels": dict(tmeta["labels"]),
            "annotations": _rs_annotations(d, {}, max_revision(olds) + 1, exists=False),
            "ownerReferences": [replication.controller_reference(d, "apps/v1", "Deployment")]},
        "spec": {"replicas": 0},
    }
    if spec.get("minReadySeconds"):
        rs["spec"]["minReadySeconds"] = spec["minReadySeconds"]
    rs["spec"].update(selector=selector, template=template)
    rs["spec"]["replicas"] = _new_rs_replicas(d, [*olds, rs], rs)
    return rs


def sync_new_rs(d: dict, new: dict, olds: Iterable[dict]) -> dict | None:
    """The existing new ReplicaSet with its annotations and minReadySeconds brought in line
    with the Deployment, or None when it already is."""
    current = new["metadata"].get("annotations") or {}
    annotations = _rs_annotations(d, current, max_revision(olds) + 1, exists=True)
    min_ready = _spec(d).get("minReadySeconds", 0) or 0
    if annotations == current and (new["spec"].get("minReadySeconds", 0) or 0) == min_ready:
        return None
    out = copy.deepcopy(new)
    out["metadata"]["annotations"] = annotations
    out["spec"].pop("minReadySeconds", None)
    if min_ready:
        out["spec"]["minReadySeconds"] = min_ready
    return out


def revision_annotations(d: dict, new: dict | None) -> dict[str, str] | None:
    """The Deployment's annotations carrying its new ReplicaSet's revision, or None when
    they already do (or there is no new ReplicaSet yet)."""
    if new is None:
        return None
    current = d["metadata"].get("annotations") or {}
    revision = (new["metadata"].get("annotations") or {}).get(REVISION, "")
    return None if current.get(REVISION) == revision else {**current, REVISION: revision}


# --- one reconcile step -------------------------------------------------------------------

def _annotation_int(rs: dict, key: str) -> int | None:
    """An integer annotation as strconv.Atoi reads it; None when absent or malformed."""
    raw = (rs["metadata"].get("annotations") or {}).get(key, "")
    digits = raw[1:] if raw[:1] in ("+", "-") else raw
    return int(raw) if digits.isdigit() and digits.isascii() else None


def _counts(rs: dict, pods_by_rs: Mapping[str, list[dict]], now: datetime) -> dict:
    return replication.rs_status(rs, pods_by_rs.get(_name(rs), []), now)


def is_scaling_event(d: dict, rss: Iterable[dict | None]) -> bool:
    """Whether an active ReplicaSet was sized for another spec.replicas (a scale, not a
    rollout, is in progress)."""
    replicas = spec_replicas(d)
    return any(desired is not None and desired != replicas
               for desired in (_annotation_int(rs, DESIRED_REPLICAS) for rs in _active(rss)))


def _mode(d: dict, new: dict | None, olds: list[dict]) -> str:
    """Which upstream sync path runs: status only, scale only, or a rollout."""
    if d["metadata"].get("deletionTimestamp"):
        return "status"
    if _spec(d).get("paused") or is_scaling_event(d, [*olds, new]):
        return "scale"
    return "rollout"


def _old_pods_running(new: dict | None, pods_by_rs: Mapping[str, list[dict]]) -> bool:
    """Whether a pod outside the new ReplicaSet may still run (terminating ones do)."""
    return any((p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
               for name, pods in pods_by_rs.items()
               if new is None or name != _name(new) for p in pods)


def should_create_new_rs(d: dict, new: dict | None, olds: list[dict],
                         pods_by_rs: Mapping[str, list[dict]]) -> bool:
    """Whether this step creates the new ReplicaSet: only in a rollout, and for Recreate
    only once the old ReplicaSets are scaled down and their pods are gone."""
    if new is not None or _mode(d, new, olds) != "rollout":
        return False
    if is_rolling(d):
        return True
    return not _active(olds) and not _old_pods_running(new, pods_by_rs)


def plan(d: dict, new: dict | None, olds: list[dict],
         pods_by_rs: Mapping[str, list[dict]], now: datetime) -> dict[str, int]:
    """ReplicaSet name -> spec.replicas for every ReplicaSet this step writes (see
    :func:`scaled_rs`); ReplicaSets left alone are absent. An entry may repeat the current
    size when only the replica annotations are stale, as in proportional scaling."""
    mode = _mode(d, new, olds)
    if mode == "status":
        return {}
    avail = {_name(rs): _counts(rs, pods_by_rs, now).get("availableReplicas", 0)
             for rs in [*olds, new] if rs is not None}
    if mode == "scale":
        return _scale(d, new, olds, avail)
    if not is_rolling(d):
        return _recreate(d, new, olds, pods_by_rs)
    if new is None:
        return {}
    return _rolling(d, new, olds, avail)


def _rolling(d: dict, new: dict, olds: list[dict], avail: dict[str, int]) -> dict[str, int]:
    """Scale the new ReplicaSet up within maxSurge; if it cannot move, scale old ones down
    as far as maxUnavailable allows, unhealthy replicas first."""
    replicas, size = spec_replicas(d), spec_replicas(new)
    all_rss = [*olds, new]
    if size > replicas:
        return {_name(new): replicas}
    if size < replicas:
        grown = _new_rs_replicas(d, all_rss, new)
        if grown != size:
            return {_name(new): grown}

    active_olds = _by_age(_active(olds))
    if not active_olds:
        return {}
    min_available = replicas - max_unavailable(d)
    new_unavailable = size - avail[_name(new)]
    budget = sum(spec_replicas(rs) for rs in all_rss) - min_available - new_unavailable
    if budget <= 0:
        return {}

    sizes: dict[str, int] = {}
    cleaned = 0
    for rs in active_olds:  # unhealthy replicas go first: removing them costs no availability
        if cleaned >= budget:
            break
        unhealthy = spec_replicas(rs) - avail[_name(rs)]
        if unhealthy == 0:
            continue
        if unhealthy < 0:
            return sizes  # more available pods than replicas: upstream aborts the step here
        count = min(budget - cleaned, unhealthy)
        sizes[_name(rs)] = spec_replicas(rs) - count
        cleaned += count

    excess = sum(avail[_name(rs)] for rs in [*active_olds, new]) - min_available
    removed = 0
    for rs in active_olds:
        if removed >= excess:
            break
        current = sizes.get(_name(rs), spec_replicas(rs))
        if current == 0:
            continue
        count = min(current, excess - removed)
        sizes[_name(rs)] = current - count
        removed += count
    return sizes


def _recreate(d: dict, new: dict | None, olds: list[dict],
              pods_by_rs: Mapping[str, list[dict]]) -> dict[str, int]:
    """All old ReplicaSets to zero; the new one to full size once no old pod is left."""
    active_olds = _active(olds)
    if active_olds:
        return {_name(rs): 0 for rs in active_olds}
    if new is None or _old_pods_running(new, pods_by_rs):
        return {}
    replicas = spec_replicas(d)
    return {} if spec_replicas(new) == replicas else {_name(new): replicas}


def _scale(d: dict, new: dict | None, olds: list[dict],
           avail: dict[str, int]) -> dict[str, int]:
    """A scale without a rollout: the one active (or latest) ReplicaSet takes all replicas,
    a saturated new one retires the old, otherwise replicas are shared proportionally."""
    replicas = spec_replicas(d)
    target = _active_or_latest(new, olds)
    if target is not None:
        return {} if spec_replicas(target) == replicas else {_name(target): replicas}
    if new is not None and _saturated(d, new, avail[_name(new)]):
        return {_name(rs): 0 for rs in _active(olds)}
    if not is_rolling(d):
        return {}

    active = _active([*olds, new])
    allowed = replicas + max_surge(d) if replicas > 0 else 0
    to_add = allowed - sum(spec_replicas(rs) for rs in active)
    # Largest first; among equals, scale newer ones up first and older ones down first.
    by_age = _by_age(active)
    age = {_name(rs): i for i, rs in enumerate(by_age)}
    newer_first = to_add > 0
    active.sort(key=lambda rs: (-spec_replicas(rs),
                                -age[_name(rs)] if newer_first else age[_name(rs)]))
    sizes: dict[str, int] = {}
    added = 0
    for rs in active:
        share = _proportion(d, rs, to_add, added)
        sizes[_name(rs)] = spec_replicas(rs) + share
        added += share
    if to_add and active:
        first = _name(active[0])
        sizes[first] = max(0, sizes[first] + to_add - added)
    return sizes


def _active_or_latest(new: dict | None, olds: list[dict]) -> dict | None:
    if new is None and not olds:
        return None
    active = _active([*reversed(_by_age(olds)), new])
    if len(active) == 1:
        return active[0]
    if active:
        return None
    return new if new is not None else _by_age(olds)[-1]


def _saturated(d: dict, rs: dict, available: int) -> bool:
    replicas = spec_replicas(d)
    return (_annotation_int(rs, DESIRED_REPLICAS) == replicas
            and spec_replicas(rs) == replicas and available == replicas)


def _round_half_away(x: float) -> int:
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def _proportion(d: dict, rs: dict, to_add: int, added: int) -> int:
    """This ReplicaSet's share of ``to_add``, by its size relative to max-replicas."""
    size = spec_replicas(rs)
    if size == 0 or to_add == 0 or to_add == added:
        return 0
    replicas = spec_replicas(d)
    if replicas == 0:
        fraction = -size
    else:
        annotated = _annotation_int(rs, MAX_REPLICAS)
        if annotated is None:
            annotated = (d.get("status") or {}).get("replicas", 0)
        # Without a basis to scale from, leave the whole change to the leftover step.
        fraction = (_round_half_away(size * (replicas + max_surge(d)) / annotated) - size
                    if annotated > 0 else 0)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def scaled_rs(d: dict, rs: dict, replicas: int) -> dict | None:
    """``rs`` resized to ``replicas`` with current replica annotations, or None when it
    already is."""
    annotations = rs["metadata"].get("annotations") or {}
    wanted = replica_annotations(d)
    if spec_replicas(rs) == replicas and all(annotations.get(k) == v for k, v in wanted.items()):
        return None
    out = copy.deepcopy(rs)
    out["spec"]["replicas"] = replicas
    out["metadata"]["annotations"] = {**annotations, **wanted}
    return out


def scaling_message(rs_name: str, old: int, new: int) -> str:
    """The ScalingReplicaSet event message."""
    return f"Scaled {'up' if new > old else 'down'} replica set {rs_name} from {old} to {new}"


def rss_to_clean_up(d: dict, olds: list[dict],
                    pods_by_rs: Mapping[str, list[dict]]) -> list[dict]:
    """Old ReplicaSets beyond revisionHistoryLimit (lowest revisions first) that are
    scaled to zero, have no pods left and were observed by their controller. A rollout
    only cleans up once the Deployment's recorded status says it completed."""
    limit = _spec(d).get("revisionHistoryLimit", 10)
    mode = _mode(d, None, olds)
    if limit is None or limit == NO_LIMIT or mode == "status":
        return []
    if mode == "rollout" and not deployment_complete(d, d.get("status") or {}):
        return []
    alive = [rs for rs in olds if not rs["metadata"].get("deletionTimestamp")]
    excess = len(alive) - limit
    if excess <= 0:
        return []
    by_age = {_name(rs): i for i, rs in enumerate(_by_age(alive))}
    revisions = [_revision(rs) for rs in alive]
    # Upstream compares by creation whenever a revision is unparsable.
    key = ((lambda rs: by_age[_name(rs)]) if None in revisions
           else (lambda rs: (_revision(rs), by_age[_name(rs)])))
    return [rs for rs in sorted(alive, key=key)[:excess]
            if spec_replicas(rs) == 0
            and not any(replication.is_pod_active(p) for p in pods_by_rs.get(_name(rs), []))
            and rs["metadata"].get("generation", 0)
            <= (rs.get("status") or {}).get("observedGeneration", 0)]


# --- status -------------------------------------------------------------------------------

def deployment_complete(d: dict, status: Mapping[str, Any]) -> bool:
    replicas = spec_replicas(d)
    return (status.get("updatedReplicas", 0) == replicas
            and status.get("replicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas
            and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 0))


def _condition(conditions: list[dict], ctype: str) -> dict | None:
    return next((c for c in conditions if c.get("type") == ctype), None)


def _put_condition(conditions: list[dict], cond: dict) -> list[dict]:
    """Upstream SetDeploymentCondition: same status and reason keep the old condition;
    same status keeps lastTransitionTime; the updated condition moves to the end."""
    current = _condition(conditions, cond["type"])
    if current and current.get("status") == cond["status"] \
            and current.get("reason") == cond["reason"]:
        return conditions
    if current and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    return [c for c in conditions if c.get("type") != cond["type"]] + [cond]


def _new_condition(ctype: str, status: str, reason: str, message: str,
                   now: datetime) -> dict:
    stamp = format_time(now)
    return {"type": ctype, "status": status, "lastUpdateTime": stamp,
            "lastTransitionTime": stamp, "reason": str(reason), "message": message}


def _without(conditions: list[dict], ctype: str) -> list[dict]:
    return [c for c in conditions if c.get("type") != ctype]


def _subject(d: dict, new: dict | None) -> str:
    return f'ReplicaSet "{_name(new)}"' if new is not None else f'Deployment "{_name(d)}"'


def _prelude_conditions(d: dict, new: dict | None, mode: str, created: bool,
                        conditions: list[dict], now: datetime) -> list[dict]:
    """What a sync records before it scales: paused/resumed, and the new ReplicaSet it
    created or found."""
    paused = bool(_spec(d).get("paused"))
    progressing = _condition(conditions, "Progressing")
    reason = progressing.get("reason") if progressing else None
    if mode != "status" and reason != Reason.TIMED_OUT:
        if paused and reason != Reason.PAUSED:
            conditions = _put_condition(conditions, _new_condition(
                "Progressing", "Unknown", Reason.PAUSED, "Deployment is paused", now))
        elif not paused and reason == Reason.PAUSED:
            conditions = _put_condition(conditions, _new_condition(
                "Progressing", "Unknown", Reason.RESUMED, "Deployment is resumed", now))
    if new is None or _progress_deadline(d) is None:
        return conditions
    if created:
        return _put_condition(conditions, _new_condition(
            "Progressing", "True", Reason.NEW_RS_CREATED,
            f'Created new replica set "{_name(new)}"', now))
    if _condition(conditions, "Progressing") is None:
        return _put_condition(conditions, _new_condition(
            "Progressing", "True", Reason.FOUND_NEW_RS,
            f'Found new replica set "{_name(new)}"', now))
    return conditions


def deployment_status(d: dict, new: dict | None, all_rss: list[dict],
                      pods_by_rs: Mapping[str, list[dict]], now: datetime,
                      created: bool = False) -> dict:
    """The Deployment's status after this step, from the same snapshot plan() saw;
    ``created`` says the step created ``new``. Unchanged conditions keep their times."""
    old = d.get("status") or {}
    olds = [rs for rs in all_rss if new is None or _name(rs) != _name(new)]
    mode = _mode(d, new, olds)
    conditions = _prelude_conditions(d, new, mode, created,
                                     [dict(c) for c in old.get("conditions") or []], now)
    before = _condition(conditions, "Progressing")

    counts = [_counts(rs, pods_by_rs, now) for rs in all_rss]
    new_counts = _counts(new, pods_by_rs, now) if new is not None else {}
    available = sum(c.get("availableReplicas", 0) for c in counts)
    status: dict[str, Any] = {}
    for key, value in (
            ("observedGeneration", d["metadata"].get("generation", 0)),
            ("replicas", sum(c["replicas"] for c in counts)),
            ("updatedReplicas", new_counts.get("replicas", 0)),
            ("readyReplicas", sum(c.get("readyReplicas", 0) for c in counts)),
            ("availableReplicas", available),
            ("unavailableReplicas",
             max(0, sum(spec_replicas(rs) for rs in all_rss) - available))):
        if value:
            status[key] = value  # omitempty, as upstream serialises them
    if available >= spec_replicas(d) - max_unavailable(d):
        available_cond = _new_condition("Available", "True", Reason.AVAILABLE,
                                        "Deployment has minimum availability.", now)
    else:
        available_cond = _new_condition("Available", "False", Reason.UNAVAILABLE,
                                        "Deployment does not have minimum availability.", now)
    conditions = _put_condition(conditions, available_cond)
    if mode == "rollout":
        conditions = _progress_conditions(d, new, old, status, conditions, before, now)
        conditions = _failure_conditions(new, all_rss, conditions)
    if conditions:
        status["conditions"] = conditions
    if "collisionCount" in old:
        status["collisionCount"] = old["collisionCount"]
    return status


def _progressed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    def get(s: Mapping[str, Any], key: str) -> int:
        return int(s.get(key, 0))
    return (get(new, "updatedReplicas") > get(old, "updatedReplicas")
            or get(new, "replicas") - get(new, "updatedReplicas")
            < get(old, "replicas") - get(old, "updatedReplicas")
            or get(new, "readyReplicas") > get(old, "readyReplicas")
            or get(new, "availableReplicas") > get(old, "availableReplicas"))


def _timed_out(d: dict, conditions: list[dict], now: datetime) -> bool:
    deadline = _progress_deadline(d)
    cond = _condition(conditions, "Progressing")
    if deadline is None or cond is None or cond.get("reason") == Reason.NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == Reason.TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    return since is None or (now - since).total_seconds() > deadline


def _progress_conditions(d: dict, new: dict | None, old: Mapping[str, Any], status: dict,
                         conditions: list[dict], before: dict | None,
                         now: datetime) -> list[dict]:
    """Progressing as a rollout reports it: complete, progressing or timed out."""
    if _progress_deadline(d) is None:
        return _without(conditions, "Progressing")
    finished = (before is not None and before.get("reason") == Reason.NEW_RS_AVAILABLE
                and status.get("replicas", 0) == status.get("updatedReplicas", 0))
    if finished:
        return conditions
    subject = _subject(d, new)
    if deployment_complete(d, status):
        return _put_condition(conditions, _new_condition(
            "Progressing", "True", Reason.NEW_RS_AVAILABLE,
            f"{subject} has successfully progressed.", now))
    if _progressed(old, status):
        # Progress refreshes lastUpdateTime even when the reason stays the same.
        cond = _new_condition("Progressing", "True", Reason.RS_UPDATED,
                              f"{subject} is progressing.", now)
        if before is not None and before.get("status") == "True":
            cond["lastTransitionTime"] = before.get("lastTransitionTime")
        return _without(conditions, "Progressing") + [cond]
    if _timed_out(d, conditions, now):
        return _put_condition(conditions, _new_condition(
            "Progressing", "False", Reason.TIMED_OUT,
            f"{subject} has timed out progressing.", now))
    return conditions


def _failure_conditions(new: dict | None, all_rss: list[dict],
                        conditions: list[dict]) -> list[dict]:
    """A ReplicaSet's ReplicaFailure, the new one's first, becomes the Deployment's."""
    def failures(rs: dict) -> list[dict]:
        return [c for c in (rs.get("status") or {}).get("conditions") or []
                if c.get("type") == "ReplicaFailure"]
    found = (failures(new) if new is not None else []) or [
        c for rs in all_rss for c in failures(rs)]
    if not found:
        return _without(conditions, "ReplicaFailure")
    c = found[0]
    return _put_condition(conditions, {
        "type": "ReplicaFailure", "status": c.get("status", "True"),
        "lastUpdateTime": c.get("lastTransitionTime"),
        "lastTransitionTime": c.get("lastTransitionTime"),
        "reason": c.get("reason", ""), "message": c.get("message", "")})


def progress_recheck_after(d: dict, now: datetime) -> float | None:
    """Seconds until a stalled rollout should be synced again to notice its progress
    deadline, or None when nothing needs checking (no deadline, complete, timed out)."""
    deadline = _progress_deadline(d)
    status = d.get("status") or {}
    cond = _condition(status.get("conditions") or [], "Progressing")
    if (deadline is None or cond is None or _spec(d).get("paused")
            or d["metadata"].get("deletionTimestamp")
            or deployment_complete(d, status) or cond.get("reason") == Reason.TIMED_OUT):
        return None
    since = parse_time(cond.get("lastUpdateTime")) or now
    after = (since - now).total_seconds() + deadline
    # Under a second is checked at once; otherwise a second more absorbs clock skew.
    return 0.0 if after < 1 else after + 1
