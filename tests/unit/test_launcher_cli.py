"""CLI: table formatting, the status report and flag defaults."""

from __future__ import annotations

import pytest

from kubeloop import cli
from kubeloop.cli import ProcessView
from kubeloop.config import ClusterConfig

CONFIG = ClusterConfig(name="demo", data_dir="/d", nodes=2)


@pytest.mark.parametrize(
    ("headers", "rows", "expected"),
    [
        (["A", "B"], [], "A  B"),
        (["NAME", "PID"], [["apiserver", "12"], ["x", "12345"]],
         "NAME       PID\napiserver  12\nx          12345"),
        (["A", "LONGER", "C"], [["1", "", "3"]], "A  LONGER  C\n1          3"),
    ],
    ids=["headers-only", "widest-cell-sets-width", "empty-cell"],
)  # fmt: skip
def test_format_table(headers: list[str], rows: list[list[str]], expected: str) -> None:
    assert cli.format_table(headers, rows) == expected


RUNNING = [
    ProcessView("supervisor", 10, True),
    ProcessView("apiserver", 11, True),
    ProcessView("node-1", 12, True),
    ProcessView("node-2", 13, True),
]


@pytest.mark.parametrize(
    ("processes", "api_ready", "ready_nodes", "states", "health", "problems"),
    [
        (RUNNING, True, {"demo-node-1", "demo-node-2"},
         ["running"] * 4, ["-", "ready", "Ready", "Ready"], []),
        (RUNNING[:3] + [ProcessView("node-2", 13, False, 3)], True, {"demo-node-1"},
         ["running"] * 3 + ["exited (3)"], ["-", "ready", "Ready", "NotReady"],
         ["node-2 exited (3)", "node demo-node-2 is not Ready"]),
        ([RUNNING[0], ProcessView("apiserver", 11, False)] + RUNNING[2:], False, None,
         ["running", "stopped", "running", "running"], ["-", "not ready", "unknown", "unknown"],
         ["apiserver stopped", "apiserver https://127.10.0.254:6443/readyz does not answer ok"]),
        (RUNNING, True, set(),
         ["running"] * 4, ["-", "ready", "NotReady", "NotReady"],
         ["node demo-node-1 is not Ready", "node demo-node-2 is not Ready"]),
    ],
    ids=["healthy", "node-exited", "apiserver-gone", "nodes-not-ready"],
)  # fmt: skip
def test_status_report(
    processes: list[ProcessView], api_ready: bool, ready_nodes: set[str] | None,
    states: list[str], health: list[str], problems: list[str],
) -> None:  # fmt: skip
    table, found = cli.status_report(CONFIG, processes, api_ready, ready_nodes)
    header, *lines = table.splitlines()
    assert header.split() == ["NAME", "PID", "STATE", "ADDRESS", "HEALTH"]
    columns = [line.split("  ") for line in lines]
    cells = [[c.strip() for c in cols if c.strip()] for cols in columns]
    assert [c[2] for c in cells] == states
    assert [c[4] for c in cells] == health
    assert [c[3] for c in cells] == ["-", "127.10.0.254:6443", "127.10.0.1", "127.10.0.2"]
    assert found == problems


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["up"], {"name": None, "nodes": None, "data_dir": None, "foreground": False,
                  "cni": None, "timeout": 60.0}),
        (["up", "--name", "x", "--nodes", "3", "--cni", "flannel", "--timeout", "5"],
         {"name": "x", "nodes": 3, "cni": "flannel", "timeout": 5.0}),
        (["down", "--all", "--purge"], {"name": None, "all": True, "purge": True}),
        (["status", "--name", "x"], {"name": "x"}),
        (["ca"], {"name": None}),
    ],
    ids=["up-defaults", "up-flags", "down-all-purge", "status", "ca"],
)  # fmt: skip
def test_parser(argv: list[str], expected: dict[str, object]) -> None:
    args = cli.build_parser().parse_args(argv)
    assert {k: getattr(args, k) for k in expected} == expected


def test_cni_is_checked_by_the_parser() -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["up", "--cni", "weave"])
