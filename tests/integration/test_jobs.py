"""batch/v1 Jobs end to end with the real kubectl: `kubectl create job` runs a pod to
completion on a node agent, the Job and its pods read as a real cluster prints them, logs
come through `job/<name>`, a failing Job stops at its backoffLimit, parallelism and
completions are honoured, and deleting a Job takes its pods with it."""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.conftest import Kubectl, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

POD_NAME = r"[a-z0-9]{5}"


def job_manifest(name: str, command: list[str], **spec: object) -> str:
    return json.dumps({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {**spec, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": name, "image": "busybox", "command": command}]}}}})


def condition(kubectl: Kubectl, name: str, ctype: str) -> dict | None:
    job = kubectl.json("get", "job", name)
    return next((c for c in job["status"].get("conditions") or []
                 if c["type"] == ctype and c["status"] == "True"), None)


def rows(out: str) -> tuple[list[str], list[list[str]]]:
    lines = out.splitlines()
    return lines[0].split(), [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]


def test_create_job_runs_to_completion(kubectl: Kubectl) -> None:
    out = kubectl("create", "job", "hello", "--image=busybox", "--", "echo", "hi")
    assert out == "job.batch/hello created\n"
    wait_for(lambda: condition(kubectl, "hello", "Complete"), timeout=20, what="Complete")

    header, (job,) = rows(kubectl("get", "jobs"))
    assert header == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert job[:3] == ["hello", "Complete", "1/1"], job
    assert re.fullmatch(r"\d+s", job[3]) and re.fullmatch(r"\d+s", job[4]), job
    header, (wide,) = rows(kubectl("get", "jobs", "-o", "wide"))
    assert header[5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    uid = kubectl.json("get", "job", "hello")["metadata"]["uid"]
    assert wide[5:] == ["hello", "busybox", f"batch.kubernetes.io/controller-uid={uid}"]

    header, (pod,) = rows(kubectl("get", "pods"))
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert re.fullmatch(f"hello-{POD_NAME}", pod[0]), pod
    assert pod[1:4] == ["0/1", "Completed", "0"], pod
    assert kubectl("logs", "job/hello") == "hi\n"

    job_obj = kubectl.json("get", "job", "hello")
    spec, status = job_obj["spec"], job_obj["status"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"],
            spec["completionMode"], spec["suspend"], spec["manualSelector"]) == (
        1, 1, 6, "NonIndexed", False, False)
    labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "hello",
              "controller-uid": uid, "job-name": "hello"}
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert spec["template"]["metadata"]["labels"] == labels
    assert job_obj["metadata"]["labels"] == labels
    assert (status["succeeded"], status["ready"], status["terminating"],
            status["uncountedTerminatedPods"]) == (1, 0, 0, {})
    assert "active" not in status and "failed" not in status
    assert status["startTime"] <= status["completionTime"]
    assert [c["type"] for c in status["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert {c["reason"] for c in status["conditions"]} == {"CompletionsReached"}

    pod_obj = kubectl.json("get", "pod", pod[0])
    (owner,) = pod_obj["metadata"]["ownerReferences"]
    assert (owner["apiVersion"], owner["kind"], owner["name"], owner["uid"],
            owner["controller"]) == ("batch/v1", "Job", "hello", uid, True)
    assert pod_obj["metadata"]["generateName"] == "hello-"
    assert pod_obj["metadata"]["labels"] == labels
    assert not pod_obj["metadata"].get("finalizers")  # the tracking finalizer is gone
    assert pod_obj["status"]["phase"] == "Succeeded"

    described = kubectl("describe", "job", "hello")
    assert re.search(r"^Pods Statuses:\s+0 Active \(0 Ready\) / 1 Succeeded / 0 Failed$",
                     described, re.M), described
    assert re.search(r"Normal\s+SuccessfulCreate\s+.*job-controller\s+Created pod: "
                     f"hello-{POD_NAME}$", described, re.M), described
    assert re.search(r"Normal\s+Completed\s+.*job-controller\s+Job completed$", described,
                     re.M), described


def test_failing_job_stops_at_its_backoff_limit(kubectl: Kubectl) -> None:
    kubectl("create", "-f", "-", input=job_manifest("fails", ["sh", "-c", "exit 3"],
                                                    backoffLimit=1))
    # Two failures (the second after the controller's 10 s back-off) exceed the limit.
    failed = wait_for(lambda: condition(kubectl, "fails", "Failed"), timeout=40,
                      what="Failed")
    assert (failed["reason"], failed["message"]) == (
        "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    status = kubectl.json("get", "job", "fails")["status"]
    assert status["failed"] == 2 and "succeeded" not in status and "completionTime" not in status
    assert [c["type"] for c in status["conditions"]] == ["FailureTarget", "Failed"]
    _, (job,) = rows(kubectl("get", "jobs"))
    assert job[:3] == ["fails", "Failed", "0/1"], job
    pods = kubectl.json("get", "pods")["items"]
    assert len(pods) == 2 and {p["status"]["phase"] for p in pods} == {"Failed"}
    _, pod_rows = rows(kubectl("get", "pods"))
    assert {tuple(r[1:4]) for r in pod_rows} == {("0/1", "Error", "0")}, pod_rows
    events = kubectl("get", "events", "--field-selector", "involvedObject.kind=Job")
    assert re.search(r"Warning\s+BackoffLimitExceeded\s+job/fails\s+Job has reached the "
                     r"specified backoff limit", events), events


def test_parallelism_and_completions(kubectl: Kubectl) -> None:
    kubectl("create", "-f", "-", input=job_manifest("para", ["sh", "-c", "sleep 0.5"],
                                                    parallelism=2, completions=4))
    peak = 0

    def done() -> bool:
        nonlocal peak
        status = kubectl.json("get", "job", "para")["status"]
        peak = max(peak, status.get("active", 0))
        return condition(kubectl, "para", "Complete") is not None

    wait_for(done, timeout=30, what="Complete")
    assert peak <= 2
    assert kubectl.json("get", "job", "para")["status"]["succeeded"] == 4
    pods = kubectl.json("get", "pods")["items"]
    assert len(pods) == 4 and {p["status"]["phase"] for p in pods} == {"Succeeded"}
    _, (job,) = rows(kubectl("get", "jobs"))
    assert job[:3] == ["para", "Complete", "4/4"], job


def test_restart_policy_is_validated(kubectl: Kubectl) -> None:
    manifest = json.loads(job_manifest("bad", ["true"]))
    manifest["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    result = kubectl.run("create", "-f", "-", input=json.dumps(manifest), check=False)
    assert result.returncode == 1
    assert 'The Job "bad" is invalid: spec.template.spec.restartPolicy: Required value: ' \
           'valid values: "OnFailure", "Never"' in result.stderr, result.stderr


def test_deleting_a_job_deletes_its_pods(kubectl: Kubectl) -> None:
    kubectl("create", "job", "sleeper", "--image=busybox", "--", "sleep", "3600")
    wait_for(lambda: [p for p in kubectl.json("get", "pods")["items"]
                      if p["status"].get("phase") == "Running"], timeout=20,
             what="the Job's pod Running")
    assert kubectl("delete", "job", "sleeper") == 'job.batch "sleeper" deleted\n'
    wait_for(lambda: not kubectl.json("get", "pods")["items"], timeout=30,
             what="the Job's pods gone")
    assert not kubectl.json("get", "jobs")["items"]
