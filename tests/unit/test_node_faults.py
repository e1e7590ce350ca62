"""Decisions behind the fault drills: which IPs a (restarted) agent gives the pods it
starts, what a pod's status carries over from an earlier agent process, and how long a
node counts as silent after an apiserver restart."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver.controllers import nodes
from node_agent import handover
from node_agent.handover import Carried

CIDR = "127.244.1.0/24"


def pod(uid: str, ip: str | None = None) -> dict[str, Any]:
    return {"metadata": {"uid": uid}, "status": {"podIP": ip} if ip else {}}


@pytest.mark.parametrize(
    ("pods", "used", "expected"),
    [
        ([pod("a"), pod("b")], set(), {"a": "127.244.1.2", "b": "127.244.1.3"}),
        ([pod("a", "127.244.1.7")], set(), {"a": "127.244.1.7"}),
        ([pod("new"), pod("old", "127.244.1.2")], set(),
         {"old": "127.244.1.2", "new": "127.244.1.3"}),
        ([pod("a", "127.244.1.2")], {"127.244.1.2"}, {"a": "127.244.1.3"}),
        ([pod("a", "127.244.1.5"), pod("b", "127.244.1.5")], set(),
         {"a": "127.244.1.5", "b": "127.244.1.2"}),
        ([pod("a", "127.244.2.9")], set(), {"a": "127.244.1.2"}),
        ([pod("a"), pod("b")], {f"127.244.1.{i}" for i in range(2, 255)}, {"a": None, "b": None}),
        ([pod("a"), pod("b", "127.244.1.254")], {f"127.244.1.{i}" for i in range(2, 254)},
         {"b": "127.244.1.254", "a": None}),
    ],
    ids=["fresh-pods-lowest-first", "restarted-pod-keeps-its-ip",
         "old-ip-kept-before-new-pods-allocate", "ip-held-by-a-running-pod",
         "two-claim-one-ip-first-wins", "ip-from-another-node", "pool-exhausted",
         "kept-ip-beats-exhaustion"],
)  # fmt: skip
def test_assign_ips(pods: list[dict[str, Any]], used: set[str],
                    expected: dict[str, str | None]) -> None:
    assert handover.assign_ips(pods, CIDR, used) == expected


RUNNING = {"running": {"startedAt": "2025-01-01T00:00:00Z"}}
LOST = {"terminated": {"exitCode": 255, "reason": "Unknown", "startedAt": "2025-01-01T00:00:00Z",
                       "finishedAt": None, "containerID": "kubeloop://abc-web-0"}}
BACKOFF = {"waiting": {"reason": "CrashLoopBackOff"}}
EARLIER = {"terminated": {"exitCode": 1, "reason": "Error"}}


def container(state: dict[str, Any], restarts: int = 0, last: dict[str, Any] | None = None,
              name: str = "web") -> dict[str, Any]:
    status: dict[str, Any] = {"name": name, "state": state, "restartCount": restarts,
                              "lastState": last or {}}
    if "waiting" not in state:
        status["containerID"] = "kubeloop://abc-web-0"
    return status


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, None),
        ({"phase": "Pending"}, None),
        ({"containerStatuses": [container({"waiting": {"reason": "ContainerCreating"}})]},
         None),
        ({"startTime": "T0", "containerStatuses": [container(RUNNING)]},
         Carried({"web": 1}, {"web": LOST}, "T0")),
        ({"startTime": "T0", "containerStatuses": [container(RUNNING, 2, EARLIER)]},
         Carried({"web": 3}, {"web": LOST}, "T0")),
        ({"containerStatuses": [container(BACKOFF, 4, EARLIER)]},
         Carried({"web": 4}, {"web": EARLIER}, None)),
        ({"containerStatuses": [container(RUNNING),
                                container({"waiting": {"reason": "ContainerCreating"}},
                                          name="side")]},
         Carried({"web": 1}, {"web": LOST}, None)),
    ],
    ids=["no-status", "never-started", "still-creating", "was-running",
         "restarts-add-up", "in-back-off-keeps-its-count", "only-started-containers"],
)  # fmt: skip
def test_carried_over(status: dict[str, Any] | None, expected: Carried | None) -> None:
    assert handover.carried_over(status) == expected


FRESH = {"phase": "Running", "startTime": "T1",
         "containerStatuses": [container(RUNNING), container(RUNNING, name="side")]}


@pytest.mark.parametrize(
    ("status", "carried", "restarts", "last", "start"),
    [
        (FRESH, None, [0, 0], [{}, {}], "T1"),
        (FRESH, Carried({"web": 2}, {"web": LOST}, "T0"), [2, 0], [LOST, {}], "T0"),
        ({**FRESH, "containerStatuses": [container(RUNNING, 1, EARLIER)]},
         Carried({"web": 2}, {"web": LOST}, None), [3], [EARLIER], "T1"),
    ],
    ids=["nothing-carried", "continues-the-earlier-run", "newer-restart-wins"],
)  # fmt: skip
def test_continue_status(status: dict[str, Any], carried: Carried | None, restarts: list[int],
                         last: list[dict[str, Any]], start: str) -> None:
    out = handover.continue_status(status, carried)
    assert [c["restartCount"] for c in out["containerStatuses"]] == restarts
    assert [c["lastState"] for c in out["containerStatuses"]] == last
    assert out["startTime"] == start
    assert out["phase"] == "Running"


@pytest.mark.parametrize(
    ("now", "seen", "known", "expected"),
    [
        (110.0, 105.0, True, 5.0),
        (110.0, 105.0, False, 5.0),
        (101.0, None, True, 1.0 - nodes.RECONNECT_ALLOWANCE),
        (100.0 + nodes.RECONNECT_ALLOWANCE + 2.5, None, True, 2.5),
        (150.0, None, False, 0.0),
    ],
    ids=["heard-from", "heard-from-new-node", "known-node-within-reconnect-allowance",
         "known-node-silent-past-allowance", "new-node-not-heard-yet"],
)  # fmt: skip
def test_silence(now: float, seen: float | None, known: bool, expected: float) -> None:
    assert nodes.silence(now, seen, 100.0, known) == pytest.approx(expected)
