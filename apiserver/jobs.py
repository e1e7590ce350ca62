"""Job controller decisions over plain Job and pod dicts: the selector and labels a new
Job gets, the pods it creates, how its finished pods are counted, how many pods to create
or delete, when it has succeeded or failed (completions, backoffLimit, restarts under
OnFailure, activeDeadlineSeconds), what its status and events say, and when a finished
Job's ttlSecondsAfterFinished runs out.

Counting survives pod deletion as upstream's does: a Job's pods carry the
``batch.kubernetes.io/job-tracking`` finalizer; once one has finished (or is being
deleted) its uid goes into ``status.uncountedTerminatedPods``, then the controller
removes the finalizer, then :func:`flush` moves the uid into ``succeeded``/``failed``.
Terminal conditions come in two steps, as in v1.32: ``SuccessCriteriaMet`` or
``FailureTarget`` as soon as the outcome is known, ``Complete`` or ``Failed`` once no pod
of the Job is left running or terminating.

The controller glue (``controllers/jobs.py``) lists the Job's pods, calls these functions
and writes the results; ``now`` is passed in, timezone-aware."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from apiserver import replication
from apiserver.replication import format_time, parse_time
from apiserver.validate_jobs import (
    CONTROLLER_UID, JOB_NAME, LEGACY_CONTROLLER_UID, LEGACY_JOB_NAME)

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
# The delay before a failed pod is replaced doubles with each failure since the last
# success, from 10 s up to 6 min (DefaultJobPodFailureBackOff, MaxJobPodFailureBackOff).
DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0
SUCCEEDED, FAILED = "succeeded", "failed"


class Reason(StrEnum):
    COMPLETIONS_REACHED = "CompletionsReached"
    BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    SUSPENDED = "JobSuspended"
    RESUMED = "JobResumed"


MESSAGES: dict[str, str] = {
    Reason.COMPLETIONS_REACHED: "Reached expected number of succeeded pods",
    Reason.BACKOFF_LIMIT_EXCEEDED: "Job has reached the specified backoff limit",
    Reason.DEADLINE_EXCEEDED: "Job was active longer than specified deadline",
    Reason.SUSPENDED: "Job suspended",
    Reason.RESUMED: "Job resumed",
}


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


# --- creation ------------------------------------------------------------------------------

def prepare_for_create(job: dict) -> None:
    """The Job strategy's PrepareForCreate: unless ``manualSelector``, the template gets
    the controller-uid and job-name labels (both spellings) and the selector matches the
    uid. A Job without labels of its own shows the template's, as upstream's defaulting
    gives it when the object is read back. Runs after defaulting, before validation."""
    spec, meta = job.setdefault("spec", {}), job["metadata"]
    if not isinstance(spec, dict) or spec.get("manualSelector") is True:
        return
    template = spec.setdefault("template", {})
    tmeta = template.setdefault("metadata", {}) if isinstance(template, dict) else None
    if not isinstance(tmeta, dict):
        return
    labels = tmeta.get("labels")
    labels = tmeta["labels"] = dict(labels) if isinstance(labels, dict) else {}
    uid, name = meta.get("uid", ""), meta.get("name", "")
    for key, value in ((LEGACY_JOB_NAME, name), (JOB_NAME, name),
                       (LEGACY_CONTROLLER_UID, uid), (CONTROLLER_UID, uid)):
        labels.setdefault(key, value)
    selector = spec.get("selector")
    selector = spec["selector"] = selector if isinstance(selector, dict) else {}
    match = selector.get("matchLabels")
    match = selector["matchLabels"] = match if isinstance(match, dict) else {}
    match.setdefault(CONTROLLER_UID, uid)
    if not meta.get("labels"):
        meta["labels"] = dict(labels)


def pod_from_template(job: dict) -> dict:
    """A new pod for ``job`` (named by the apiserver from ``<job>-``): the template's
    metadata, the tracking finalizer and a controller reference to the Job."""
    template = job["spec"].get("template") or {}
    tmeta = template.get("metadata") or {}
    meta: dict[str, Any] = {"generateName": f"{job['metadata']['name']}-",
                            "namespace": job["metadata"].get("namespace", "")}
    for key in ("labels", "annotations"):
        if tmeta.get(key):
            meta[key] = dict(tmeta[key])
    meta["ownerReferences"] = [replication.controller_reference(job, "batch/v1", "Job")]
    meta["finalizers"] = [*(tmeta.get("finalizers") or []), TRACKING_FINALIZER]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


# --- pods ----------------------------------------------------------------------------------

def _phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase", "")


def is_active(pod: dict) -> bool:
    return replication.is_pod_active(pod)


def is_terminating(pod: dict) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp")) and \
        _phase(pod) not in ("Succeeded", "Failed")


def tracked(pod: dict) -> bool:
    return TRACKING_FINALIZER in (pod["metadata"].get("finalizers") or [])


def outcome(pod: dict) -> str | None:
    """How a pod counts once it is over: succeeded, failed (a pod deleted before it
    finished failed too), or None while it runs."""
    phase = _phase(pod)
    if phase == "Succeeded":
        return SUCCEEDED
    if phase == "Failed" or pod["metadata"].get("deletionTimestamp"):
        return FAILED
    return None


def _finished_at(pod: dict) -> datetime | None:
    times = [parse_time(((s.get("state") or {}).get("terminated") or {}).get("finishedAt"))
             for s in (pod.get("status") or {}).get("containerStatuses") or []]
    known = [t for t in times if t is not None]
    return max(known) if known else None


# --- tracking finished pods -----------------------------------------------------------------

def _uncounted_lists(status: dict) -> dict[str, list[str]]:
    found = status.get("uncountedTerminatedPods") or {}
    return {k: list(found.get(k) or []) for k in (SUCCEEDED, FAILED)}


def pending(job: dict, pods: Iterable[dict]) -> dict[str, str]:
    """uid -> outcome of every finished pod not yet in the counts: those the status lists
    as uncounted, and tracked pods that are over."""
    out = {uid: kind for kind, uids in _uncounted_lists(job.get("status") or {}).items()
           for uid in uids}
    for pod in pods:
        result = outcome(pod)
        if result is not None and tracked(pod):
            out.setdefault(pod["metadata"]["uid"], result)
    return out


def with_uncounted(status: dict, waiting: dict[str, str]) -> dict:
    """``status`` listing ``waiting`` as uncountedTerminatedPods (uids in a stable order)."""
    out = copy.deepcopy(status)
    lists = {kind: sorted(uid for uid, k in waiting.items() if k == kind)
             for kind in (SUCCEEDED, FAILED)}
    out["uncountedTerminatedPods"] = {k: v for k, v in lists.items() if v}
    return out


def to_untrack(pods: Iterable[dict], waiting: dict[str, str]) -> list[dict]:
    """Pods whose tracking finalizer can go: they are recorded as uncounted."""
    return [p for p in pods if tracked(p) and p["metadata"]["uid"] in waiting]


def flush(status: dict, waiting: dict[str, str], pods: Iterable[dict]) -> dict:
    """``status`` with the uncounted pods that no longer carry the finalizer (or are gone)
    moved into the succeeded/failed counts; the others stay uncounted."""
    still = {p["metadata"]["uid"] for p in pods if tracked(p)}
    counts = {k: int(status.get(k) or 0) for k in (SUCCEEDED, FAILED)}
    left: dict[str, str] = {}
    for uid, kind in waiting.items():
        if uid in still:
            left[uid] = kind
        else:
            counts[kind] += 1
    out = with_uncounted(status, left)
    for kind, n in counts.items():
        if n:
            out[kind] = n
        else:
            out.pop(kind, None)
    return out


# --- conditions -----------------------------------------------------------------------------

def condition(job: dict, ctype: str) -> dict | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype and c.get("status") == "True":
            return c
    return None


def is_finished(job: dict) -> bool:
    return condition(job, "Complete") is not None or condition(job, "Failed") is not None


def _condition(ctype: str, status: str, reason: str, message: str, now: datetime) -> dict:
    stamp = format_time(now)
    return {"type": ctype, "status": status, "lastProbeTime": stamp,
            "lastTransitionTime": stamp, "reason": reason, "message": message}


def _set_condition(conditions: list[dict], new: dict) -> bool:
    """Add ``new`` or update the condition of its type; False when nothing changed."""
    for i, c in enumerate(conditions):
        if c.get("type") == new["type"]:
            if (c.get("status"), c.get("reason"), c.get("message")) == (
                    new["status"], new["reason"], new["message"]):
                return False
            conditions[i] = new
            return True
    conditions.append(new)
    return True


# --- one sync -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """What one sync does: pods to create and to delete, the status to write, events to
    record, and when to look again (a deadline, a backoff or a TTL running out)."""

    status: dict
    create: int = 0
    delete: tuple[dict, ...] = ()
    events: tuple[Event, ...] = ()
    recheck: float | None = None
    expired: bool = False  # the finished Job's TTL is over: delete it


def _counts(status: dict) -> tuple[int, int]:
    lists = _uncounted_lists(status)
    return (int(status.get(SUCCEEDED) or 0) + len(lists[SUCCEEDED]),
            int(status.get(FAILED) or 0) + len(lists[FAILED]))


def wanted_active(job: dict, succeeded: int, active: int) -> int:
    """How many pods should run now: the completions still missing, at most parallelism;
    without completions (a work queue) parallelism until one pod succeeds."""
    spec = job["spec"]
    parallelism = int(spec.get("parallelism", 1) or 0)
    completions = spec.get("completions")
    if completions is None:
        return active if succeeded > 0 else parallelism
    return max(0, min(parallelism, int(completions) - succeeded))


def backoff_remaining(pods: Iterable[dict], now: datetime) -> float:
    """Seconds before a replacement may be created: 10 s doubled per failure since the
    last success (at most 6 min), counted from the last failure."""
    pods = list(pods)
    last_success = max((t for p in pods if _phase(p) == "Succeeded"
                        for t in [_finished_at(p)] if t is not None), default=None)
    failures = [t for p in pods if _phase(p) == "Failed" for t in [_finished_at(p)]
                if t is not None and (last_success is None or t > last_success)]
    if not failures:
        return 0.0
    delay = min(DEFAULT_BACKOFF * 2 ** (len(failures) - 1), MAX_BACKOFF)
    return max(0.0, delay - (now - max(failures)).total_seconds())


def _restarts(pods: Iterable[dict]) -> int:
    return sum(s.get("restartCount", 0) for p in pods if _phase(p) in ("Pending", "Running")
               for key in ("initContainerStatuses", "containerStatuses")
               for s in (p.get("status") or {}).get(key) or [])


def _failure(job: dict, failed: int, pods: list[dict], now: datetime) -> Reason | None:
    spec = job["spec"]
    limit = int(spec.get("backoffLimit", 6))
    on_failure = ((spec.get("template") or {}).get("spec") or {}).get(
        "restartPolicy") == "OnFailure"
    restarts = _restarts(pods) if on_failure else 0
    if failed > limit or (on_failure and (restarts > 0 if limit == 0 else restarts >= limit)):
        return Reason.BACKOFF_LIMIT_EXCEEDED
    deadline, started = spec.get("activeDeadlineSeconds"), parse_time(
        (job.get("status") or {}).get("startTime"))
    if deadline is not None and started is not None and not spec.get("suspend") and \
            (now - started).total_seconds() >= int(deadline):
        return Reason.DEADLINE_EXCEEDED
    return None


def _deadline_in(job: dict, now: datetime) -> float | None:
    deadline = job["spec"].get("activeDeadlineSeconds")
    started = parse_time((job.get("status") or {}).get("startTime"))
    if deadline is None or started is None or job["spec"].get("suspend"):
        return None
    return int(deadline) - (now - started).total_seconds()


def ttl_remaining(job: dict, now: datetime) -> float | None:
    """Seconds until a finished Job with ttlSecondsAfterFinished is due for deletion
    (zero or less: now); None when it has no TTL or has not finished."""
    ttl = job["spec"].get("ttlSecondsAfterFinished")
    done = condition(job, "Complete") or condition(job, "Failed")
    finished = parse_time((done or {}).get("lastTransitionTime"))
    if ttl is None or finished is None:
        return None
    return int(ttl) - (now - finished).total_seconds()


def sync(job: dict, pods: list[dict], now: datetime) -> Step:
    """One pass of the Job controller over a Job whose finished pods are already
    accounted for (see :func:`pending` and :func:`flush`)."""
    spec = job["spec"]
    status = copy.deepcopy(job.get("status") or {})
    conditions: list[dict] = status.get("conditions") or []
    active = [p for p in pods if is_active(p)]
    terminating = [p for p in pods if is_terminating(p)]
    succeeded, failed = _counts(status)
    events: list[Event] = []
    create = 0
    delete: list[dict] = []
    recheck: float | None = None

    if is_finished(job):
        delete = active
        remaining = ttl_remaining(job, now)
        if remaining is not None and remaining <= 0:
            return Step(_finish_status(status, conditions, [], terminating + delete),
                        delete=tuple(delete), expired=True)
        return Step(_finish_status(status, conditions, [], terminating + delete),
                    delete=tuple(delete), recheck=remaining)

    suspended = bool(spec.get("suspend"))
    if not suspended and not status.get("startTime"):
        status["startTime"] = format_time(now)
    job_now = {**job, "status": status}
    # An outcome once reached stays, whatever the pods deleted because of it count as.
    target, criteria = condition(job, "FailureTarget"), condition(job, "SuccessCriteriaMet")
    reason: str | None = target.get("reason") if target else (
        None if criteria else _failure(job_now, failed, pods, now))
    success = criteria is not None or (
        spec.get("completions") is not None and succeeded >= int(spec["completions"])) or (
        spec.get("completions") is None and succeeded > 0 and not active)

    if reason is not None:
        message = target.get("message", "") if target else MESSAGES.get(reason, "")
        _set_condition(conditions, _condition("FailureTarget", "True", reason, message, now))
        delete = active
        if not active and not terminating:
            _set_condition(conditions, _condition("Failed", "True", reason, message, now))
            events.append(Event("Warning", reason, message))
    elif success:
        message = MESSAGES[Reason.COMPLETIONS_REACHED]
        _set_condition(conditions, _condition("SuccessCriteriaMet", "True",
                                              Reason.COMPLETIONS_REACHED, message, now))
        delete = active
        if not active and not terminating:
            _set_condition(conditions, _condition("Complete", "True",
                                                  Reason.COMPLETIONS_REACHED, message, now))
            status["completionTime"] = format_time(now)
            events.append(Event("Normal", "Completed", "Job completed"))
    elif suspended:
        delete = active
        if _set_condition(conditions, _condition("Suspended", "True", Reason.SUSPENDED,
                                                 MESSAGES[Reason.SUSPENDED], now)):
            events.append(Event("Normal", "Suspended", MESSAGES[Reason.SUSPENDED]))
    else:
        if condition(job, "Suspended") is not None:
            _set_condition(conditions, _condition("Suspended", "False", Reason.RESUMED,
                                                  MESSAGES[Reason.RESUMED], now))
            events.append(Event("Normal", "Resumed", MESSAGES[Reason.RESUMED]))
            status["startTime"] = format_time(now)
        diff = wanted_active(job, succeeded, len(active)) - len(active)
        if diff < 0:
            delete = replication.pods_to_delete(active, -diff, now=now)
        elif diff > 0:
            wait = backoff_remaining(pods, now)
            if wait > 0:
                recheck = wait
            else:
                create = min(diff, replication.BURST_REPLICAS)
        deadline = _deadline_in(job_now, now)
        if deadline is not None:
            recheck = deadline if recheck is None else min(recheck, deadline)

    running = [p for p in active if p not in delete]
    status = _finish_status(status, conditions, running, terminating + delete, create)
    return Step(status, create=create, delete=tuple(delete), events=tuple(events),
                recheck=recheck)


def _finish_status(status: dict, conditions: list[dict], running: list[dict],
                   terminating: list[dict], created: int = 0) -> dict:
    """The pod counts upstream reports: active (omitted at 0), ready and terminating
    (always), and an empty uncountedTerminatedPods when nothing waits."""
    out = dict(status)
    active = len(running) + created
    if active:
        out["active"] = active
    else:
        out.pop("active", None)
    out["ready"] = sum(1 for p in running if replication.is_pod_ready(p))
    out["terminating"] = len(terminating)
    out.setdefault("uncountedTerminatedPods", {})
    if conditions:
        out["conditions"] = conditions
    return out
