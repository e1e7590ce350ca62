"""Supervisor decisions: what to start, when start-up is done, the readiness report."""

from __future__ import annotations

import pytest

from kubeloop import probe, supervisor
from kubeloop.config import ClusterConfig
from kubeloop.supervisor import Verdict

CONFIG = ClusterConfig(name="demo", data_dir="/d", nodes=2)
BOTH = {"demo-node-1", "demo-node-2"}


def test_child_commands() -> None:
    assert supervisor.child_commands(CONFIG, "py") == {
        "apiserver": ["py", "-m", "apiserver", "--data-dir", "/d"],
        "node-1": ["py", "-m", "node_agent", "--data-dir", "/d", "--node", "1"],
        "node-2": ["py", "-m", "node_agent", "--data-dir", "/d", "--node", "2"],
        "ingress": ["py", "-m", "ingress", "--data-dir", "/d"],
    }


@pytest.mark.parametrize(
    ("exited", "api_ready", "ready_nodes", "elapsed", "expected"),
    [
        ({}, False, set(), 0.1, Verdict(False)),
        ({}, True, {"demo-node-1"}, 0.5, Verdict(False)),
        ({}, True, BOTH, 0.5, Verdict(True)),
        ({}, True, BOTH | {"other-node-1"}, 0.5, Verdict(True)),
        ({"node-2": 3}, True, {"demo-node-1"}, 0.5,
         Verdict(True, "node-2", "exited with code 3 during start-up")),
        ({"apiserver": 1}, False, set(), 0.2,
         Verdict(True, "apiserver", "exited with code 1 during start-up")),
        ({}, False, set(), 10.0,
         Verdict(True, "apiserver", "https://127.10.0.254:6443/readyz not ready after 10s")),
        ({}, True, {"demo-node-1"}, 10.0,
         Verdict(True, "node-2", "not Ready after 10s: demo-node-2")),
        ({}, True, set(), 10.0,
         Verdict(True, "node-1", "not Ready after 10s: demo-node-1, demo-node-2")),
        ({}, True, BOTH, 11.0, Verdict(True)),
    ],
    ids=[
        "waiting-for-apiserver",
        "waiting-for-a-node",
        "ready",
        "foreign-nodes-ignored",
        "node-died",
        "apiserver-died",
        "apiserver-timeout",
        "one-node-timeout",
        "all-nodes-timeout",
        "ready-wins-over-timeout",
    ],
)  # fmt: skip
def test_startup_verdict(
    exited: dict[str, int], api_ready: bool, ready_nodes: set[str], elapsed: float,
    expected: Verdict,
) -> None:  # fmt: skip
    verdict = supervisor.startup_verdict(CONFIG, exited, api_ready, ready_nodes, elapsed, 10)
    assert verdict == expected


@pytest.mark.parametrize(
    ("verdict", "line"),
    [
        (Verdict(True), "ready"),
        (Verdict(True, "node-2", "exited with code 3"), "error: node-2: exited with code 3"),
        (Verdict(True, "apiserver", "x: y: z"), "error: apiserver: x: y: z"),
    ],
    ids=["ready", "error", "colons-in-message"],
)
def test_report_round_trip(verdict: Verdict, line: str) -> None:
    assert supervisor.format_report(verdict) == line
    assert supervisor.parse_report(line + "\n") == verdict


@pytest.mark.parametrize(
    "line", ["", "readyish", "error: no-process-part", "oops: x: y"],
    ids=["empty", "garbage", "no-process", "wrong-prefix"],
)
def test_unexpected_report_blames_the_supervisor(line: str) -> None:
    verdict = supervisor.parse_report(line)
    assert verdict.done and verdict.process == "supervisor"
    assert verdict.error is not None and "unexpected report" in verdict.error


def _node(name: str, *conditions: tuple[str, str]) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "status": {"conditions": [{"type": t, "status": s} for t, s in conditions]},
    }


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], set()),
        ([_node("a", ("Ready", "True"))], {"a"}),
        ([_node("a", ("Ready", "False")), _node("b", ("Ready", "Unknown"))], set()),
        ([_node("a", ("MemoryPressure", "False"), ("Ready", "True")), _node("b")], {"a"}),
        ([{"metadata": {"name": "c"}}], set()),
    ],
    ids=["no-nodes", "ready", "not-ready-and-unknown", "other-conditions", "no-status"],
)
def test_ready_node_names(items: list[dict[str, object]], expected: set[str]) -> None:
    assert probe.ready_node_names({"kind": "NodeList", "items": items}) == expected
