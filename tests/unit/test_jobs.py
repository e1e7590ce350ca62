"""The Job controller's decisions (apiserver/jobs.py) over plain dicts, the Job defaults,
and `kubectl get jobs` rows: what a create adds, how finished pods are counted, what one
sync creates, deletes and reports, and when a finished Job's TTL runs out."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from apiserver import jobs, printing, resources
from apiserver.defaults import apply_defaults
from apiserver.validation import validate

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
UID = "11111111-2222-3333-4444-555555555555"


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_job(**spec: Any) -> dict:
    """A Job as the registry stores it: defaulted, then prepared for create."""
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "pi", "namespace": "default", "uid": UID,
                        "creationTimestamp": ago(60)},
           "spec": {**spec, "template": {"spec": {
               "restartPolicy": spec.pop("restartPolicy", "Never"),
               "containers": [{"name": "pi", "image": "busybox"}]}}}}
    apply_defaults("Job", job)
    jobs.prepare_for_create(job)
    return job


def started(job: dict, seconds: float = 30, **status: Any) -> dict:
    return {**job, "status": {"startTime": ago(seconds), **status}}


def pod(name: str, phase: str = "Running", finished: float | None = None, ready: bool = False,
        tracked: bool = True, deleting: bool = False, restarts: int = 0) -> dict:
    state: dict[str, Any] = {"running": {}}
    if finished is not None:
        state = {"terminated": {"exitCode": 0 if phase == "Succeeded" else 1,
                                "finishedAt": ago(finished)}}
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    if tracked:
        meta["finalizers"] = [jobs.TRACKING_FINALIZER]
    if deleting:
        meta["deletionTimestamp"] = ago(1)
    return {"metadata": meta, "status": {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": [{"name": "pi", "state": state, "restartCount": restarts}]}}


def types(status: dict) -> list[tuple[str, str]]:
    return [(c["type"], c["reason"]) for c in status.get("conditions") or []]


# --- defaults and create --------------------------------------------------------------------

def test_defaults_and_generated_selector() -> None:
    job = new_job()
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"],
            spec["completionMode"], spec["suspend"], spec["manualSelector"],
            spec["podReplacementPolicy"]) == (1, 1, 6, "NonIndexed", False, False,
                                              "TerminatingOrFailed")
    labels = {"batch.kubernetes.io/controller-uid": UID, "batch.kubernetes.io/job-name": "pi",
              "controller-uid": UID, "job-name": "pi"}
    assert spec["template"]["metadata"]["labels"] == labels
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}
    assert job["metadata"]["labels"] == labels
    assert validate("Job", job) == []


@pytest.mark.parametrize("spec,completions,parallelism", [
    ({}, 1, 1),
    ({"parallelism": 3}, None, 3),  # a work queue: no completions
    ({"completions": 5}, 5, 1),
    ({"completions": 5, "parallelism": 2}, 5, 2),
], ids=["none", "parallelism-only", "completions-only", "both"])
def test_completions_default_only_without_parallelism(spec: dict, completions: int | None,
                                                      parallelism: int) -> None:
    job = new_job(**spec)
    assert (job["spec"].get("completions"), job["spec"]["parallelism"]) == (completions,
                                                                          parallelism)


def test_manual_selector_keeps_the_users_labels() -> None:
    job = {"metadata": {"name": "m", "uid": UID}, "spec": {
        "manualSelector": True, "selector": {"matchLabels": {"app": "m"}},
        "template": {"metadata": {"labels": {"app": "m"}}, "spec": {}}}}
    jobs.prepare_for_create(job)
    assert job["spec"]["template"]["metadata"]["labels"] == {"app": "m"}
    assert job["spec"]["selector"] == {"matchLabels": {"app": "m"}}


def test_pod_from_template() -> None:
    made = jobs.pod_from_template(new_job())
    meta = made["metadata"]
    assert meta["generateName"] == "pi-" and "name" not in meta
    assert meta["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "Job", "name": "pi",
                                        "uid": UID, "controller": True,
                                        "blockOwnerDeletion": True}]
    assert meta["finalizers"] == [jobs.TRACKING_FINALIZER]
    assert meta["labels"]["batch.kubernetes.io/job-name"] == "pi"
    assert made["spec"]["restartPolicy"] == "Never"


# --- counting finished pods -----------------------------------------------------------------

@pytest.mark.parametrize("p,expected", [
    (pod("a"), None),
    (pod("a", "Pending"), None),
    (pod("a", "Succeeded", 1), jobs.SUCCEEDED),
    (pod("a", "Failed", 1), jobs.FAILED),
    (pod("a", deleting=True), jobs.FAILED),  # deleted before it finished
], ids=["running", "pending", "succeeded", "failed", "deleted-running"])
def test_outcome(p: dict, expected: str | None) -> None:
    assert jobs.outcome(p) == expected


def test_finished_pods_go_through_uncounted_into_the_counts() -> None:
    job = started(new_job(), succeeded=1)
    pods = [pod("a", "Succeeded", 5), pod("b", "Failed", 5), pod("c"),
            pod("d", "Succeeded", 9, tracked=False)]  # already counted
    waiting = jobs.pending(job, pods)
    assert waiting == {"uid-a": jobs.SUCCEEDED, "uid-b": jobs.FAILED}
    interim = jobs.with_uncounted(job["status"], waiting)
    assert interim["uncountedTerminatedPods"] == {"succeeded": ["uid-a"], "failed": ["uid-b"]}
    assert [p["metadata"]["name"] for p in jobs.to_untrack(pods, waiting)] == ["a", "b"]
    # The finalizer came off a only: b stays uncounted until its own is removed.
    untracked = [pod("a", "Succeeded", 5, tracked=False), pod("b", "Failed", 5), pod("c")]
    flushed = jobs.flush(interim, waiting, untracked)
    assert (flushed["succeeded"], flushed.get("failed")) == (2, None)
    assert flushed["uncountedTerminatedPods"] == {"failed": ["uid-b"]}
    assert jobs.pending({**job, "status": flushed}, untracked) == {"uid-b": jobs.FAILED}


# --- how many pods --------------------------------------------------------------------------

@pytest.mark.parametrize("spec,succeeded,active,expected", [
    ({}, 0, 0, 1),
    ({}, 1, 0, 0),
    ({"completions": 4, "parallelism": 2}, 0, 0, 2),
    ({"completions": 4, "parallelism": 2}, 3, 1, 1),
    ({"completions": 4, "parallelism": 8}, 1, 0, 3),
    ({"parallelism": 3}, 0, 3, 3),  # work queue: parallelism until one succeeds
    ({"parallelism": 3}, 1, 2, 2),  # then no new pods
], ids=["single", "single-done", "parallel-start", "parallel-last", "capped-by-completions",
        "queue-running", "queue-one-done"])
def test_wanted_active(spec: dict, succeeded: int, active: int, expected: int) -> None:
    assert jobs.wanted_active(new_job(**spec), succeeded, active) == expected


@pytest.mark.parametrize("pods,expected", [
    ([], 0.0),
    ([pod("a", "Failed", 4)], 6.0),  # 10 s after the first failure
    ([pod("a", "Failed", 30), pod("b", "Failed", 4)], 16.0),  # 20 s after the second
    ([pod("a", "Failed", 30)], 0.0),  # over
    ([pod("a", "Failed", 9), pod("b", "Succeeded", 5), pod("c", "Failed", 4)], 6.0),
    ([pod(str(i), "Failed", 1) for i in range(10)], 359.0),  # at most 6 min
], ids=["none", "first", "second-doubles", "elapsed", "success-resets", "capped"])
def test_backoff_remaining(pods: list[dict], expected: float) -> None:
    assert jobs.backoff_remaining(pods, NOW) == pytest.approx(expected)


# --- one sync -------------------------------------------------------------------------------

def test_new_job_starts_and_creates_its_pod() -> None:
    step = jobs.sync(new_job(), [], NOW)
    assert (step.create, step.delete, step.events, step.recheck) == (1, (), (), None)
    assert step.status == {"startTime": "2024-05-01T12:00:00Z", "active": 1, "ready": 0,
                           "terminating": 0, "uncountedTerminatedPods": {}}


def test_running_pod_is_counted_active_and_ready() -> None:
    step = jobs.sync(started(new_job()), [pod("a", ready=True)], NOW)
    assert step.create == 0
    assert (step.status["active"], step.status["ready"]) == (1, 1)
    assert step.status["startTime"] == ago(30)


def test_completion_sets_success_criteria_then_complete() -> None:
    job = started(new_job(), succeeded=1)
    step = jobs.sync(job, [pod("a", "Succeeded", 1, tracked=False)], NOW)
    assert types(step.status) == [("SuccessCriteriaMet", "CompletionsReached"),
                                  ("Complete", "CompletionsReached")]
    assert step.status["completionTime"] == "2024-05-01T12:00:00Z"
    assert "active" not in step.status and step.status["succeeded"] == 1
    assert [(e.type, e.reason, e.message) for e in step.events] == [
        ("Normal", "Completed", "Job completed")]


def test_work_queue_completes_once_its_other_pods_have_finished() -> None:
    # No completions: one success ends the Job, but the pods still running finish first
    # (each decides by itself that the queue is empty); none is replaced or deleted.
    job = started(new_job(parallelism=2), succeeded=1)
    done = pod("a", "Succeeded", 1, tracked=False)
    step = jobs.sync(job, [done, pod("b")], NOW)
    assert (types(step.status), step.create, step.delete) == ([], 0, ())
    assert step.status["active"] == 1
    step = jobs.sync(started(new_job(parallelism=2), succeeded=2),
                     [done, pod("b", "Succeeded", 0, tracked=False)], NOW)
    assert types(step.status) == [("SuccessCriteriaMet", "CompletionsReached"),
                                  ("Complete", "CompletionsReached")]


@pytest.mark.parametrize("limit,failed,failed_job", [
    (1, 1, False), (1, 2, True), (0, 1, True), (6, 6, False), (6, 7, True),
], ids=["1-of-1", "2-of-1", "1-of-0", "6-of-6", "7-of-6"])
def test_backoff_limit(limit: int, failed: int, failed_job: bool) -> None:
    job = started(new_job(backoffLimit=limit), failed=failed)
    pods = [pod(str(i), "Failed", 500, tracked=False) for i in range(failed)]
    step = jobs.sync(job, pods, NOW)
    if failed_job:
        assert types(step.status) == [("FailureTarget", "BackoffLimitExceeded"),
                                      ("Failed", "BackoffLimitExceeded")]
        assert [(e.type, e.reason, e.message) for e in step.events] == [
            ("Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]
        assert step.create == 0 and "completionTime" not in step.status
    else:
        assert types(step.status) == [] and step.create == 1


def test_backoff_delays_the_replacement() -> None:
    job = started(new_job(), failed=1)
    step = jobs.sync(job, [pod("a", "Failed", 3, tracked=False)], NOW)
    assert step.create == 0 and step.recheck == pytest.approx(7.0)


def test_on_failure_restarts_count_against_the_limit() -> None:
    job = started(new_job(backoffLimit=2, restartPolicy="OnFailure"))
    assert jobs.sync(job, [pod("a", restarts=1)], NOW).status.get("conditions") is None
    step = jobs.sync(job, [running := pod("a", restarts=2)], NOW)
    assert types(step.status) == [("FailureTarget", "BackoffLimitExceeded")]
    assert step.delete == (running,)  # Failed once the pod is gone


def test_active_deadline() -> None:
    job = started(new_job(activeDeadlineSeconds=60), seconds=30)
    step = jobs.sync(job, [pod("a")], NOW)
    assert step.recheck == pytest.approx(30.0) and types(step.status) == []
    job = started(new_job(activeDeadlineSeconds=60), seconds=61)
    running = pod("a")
    step = jobs.sync(job, [running], NOW)
    assert types(step.status) == [("FailureTarget", "DeadlineExceeded")]
    assert step.delete == (running,)
    after = {**job, "status": step.status}
    step = jobs.sync(after, [pod("a", "Failed", 0, tracked=False)], NOW)
    assert types(step.status) == [("FailureTarget", "DeadlineExceeded"),
                                  ("Failed", "DeadlineExceeded")]
    assert step.status["conditions"][1]["message"] == \
        "Job was active longer than specified deadline"


def test_parallel_job_scales_to_the_remaining_completions() -> None:
    job = started(new_job(completions=4, parallelism=2), succeeded=3)
    step = jobs.sync(job, [pod("a"), pod("b")], NOW)
    assert step.create == 0 and len(step.delete) == 1
    assert step.status["active"] == 1


def test_suspended_job_creates_nothing() -> None:
    step = jobs.sync(new_job(suspend=True), [], NOW)
    assert step.create == 0 and "startTime" not in step.status
    assert types(step.status) == [("Suspended", "JobSuspended")]


@pytest.mark.parametrize("ttl,finished,expired,recheck", [
    (None, 10, False, None), (0, 0, True, None), (60, 10, False, 50.0), (60, 61, True, None),
], ids=["no-ttl", "zero", "pending", "over"])
def test_ttl_after_finished(ttl: int | None, finished: float, expired: bool,
                            recheck: float | None) -> None:
    job = new_job(**({} if ttl is None else {"ttlSecondsAfterFinished": ttl}))
    job["status"] = {"succeeded": 1, "conditions": [
        {"type": "Complete", "status": "True", "lastTransitionTime": ago(finished),
         "reason": "CompletionsReached", "message": ""}]}
    step = jobs.sync(job, [], NOW)
    assert step.expired is expired
    assert step.recheck == (pytest.approx(recheck) if recheck is not None else None)


# --- kubectl get jobs -----------------------------------------------------------------------

JOB_RESOURCE = next(r for r in resources.RESOURCES if r.kind == "Job")


def with_status(job: dict, deleting: bool = False, **status: Any) -> dict:
    job = copy.deepcopy(job)
    job["status"] = status
    if deleting:
        job["metadata"]["deletionTimestamp"] = ago(1)
    return job


def cond(ctype: str) -> dict:
    return {"type": ctype, "status": "True"}


@pytest.mark.parametrize("job,expected", [
    (with_status(new_job()), ["pi", "Running", "0/1", "", "60s"]),
    (with_status(new_job(), startTime=ago(30), active=1), ["pi", "Running", "0/1", "30s", "60s"]),
    (with_status(new_job(), startTime=ago(30), completionTime=ago(18), succeeded=1,
                 conditions=[cond("SuccessCriteriaMet"), cond("Complete")]),
     ["pi", "Complete", "1/1", "12s", "60s"]),
    (with_status(new_job(), startTime=ago(30), failed=7,
                 conditions=[cond("FailureTarget"), cond("Failed")]),
     ["pi", "Failed", "0/1", "30s", "60s"]),
    (with_status(new_job(), startTime=ago(30), conditions=[cond("FailureTarget")]),
     ["pi", "FailureTarget", "0/1", "30s", "60s"]),
    (with_status(new_job(), deleting=True, startTime=ago(30),
                 conditions=[cond("FailureTarget")]),
     ["pi", "Terminating", "0/1", "30s", "60s"]),
    (with_status(new_job(suspend=True), conditions=[cond("Suspended")]),
     ["pi", "Suspended", "0/1", "", "60s"]),
    (with_status(new_job(completions=4, parallelism=2), startTime=ago(5), succeeded=3),
     ["pi", "Running", "3/4", "5s", "60s"]),
    (with_status(new_job(parallelism=3), startTime=ago(5)), ["pi", "Running", "0/1 of 3", "5s",
                                                             "60s"]),
], ids=["new", "running", "complete", "failed", "failure-target", "terminating", "suspended",
        "parallel", "work-queue"])
def test_get_jobs_row(job: dict, expected: list) -> None:
    assert printing.cells(JOB_RESOURCE, job, NOW)[:5] == expected


def test_get_jobs_wide_and_columns() -> None:
    assert [c["name"] for c in printing.column_definitions(JOB_RESOURCE)] == [
        "Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"]
    assert [c["priority"] for c in printing.column_definitions(JOB_RESOURCE)] == [
        0, 0, 0, 0, 0, 1, 1, 1]
    assert printing.cells(JOB_RESOURCE, with_status(new_job()), NOW)[5:] == [
        "pi", "busybox", f"batch.kubernetes.io/controller-uid={UID}"]
