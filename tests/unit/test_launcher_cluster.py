"""Bringing a cluster up: failure messages and ``prepare`` (config, slot, reuse)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeloop import cluster, registry
from kubeloop.cluster import Request
from kubeloop.config import ClusterConfig, ConfigError, Timing

CONFIG = ClusterConfig(name="demo", data_dir="/d")


@pytest.mark.parametrize(
    ("process", "message", "tail", "hint"),
    [
        ("apiserver", "exited with code 1 during start-up",
         ["OSError: [Errno 98] Address already in use"], "ss -ltnp | grep 127.10.0.254"),
        ("node-1", "exited with code 1 during start-up",
         ["/usr/bin/python: No module named node_agent"], "reinstall"),
        ("node-2", "not Ready after 30s: demo-node-2", ["retrying"], "larger --timeout"),
        ("supervisor", "no answer within 35s", [], "larger --timeout"),
        ("node-1", "exited with code 2 during start-up", ["Traceback ..."],
         "start the cluster again (kubeloop up --name demo)"),
    ],
    ids=["port-busy", "missing-module", "node-slow", "supervisor-silent", "crash"],
)  # fmt: skip
def test_failure_hint(process: str, message: str, tail: list[str], hint: str) -> None:
    assert hint in cluster.failure_hint(CONFIG, process, message, tail)


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (["a", "b"], [
            'Cluster "demo" did not start: node-1: exited with code 3 during start-up',
            "--- last 2 lines of /d/logs/node-1.log ---", "a", "b", "---",
            "Fix: fix the error above and start the cluster again (kubeloop up --name demo)",
        ]),
        ([], [
            'Cluster "demo" did not start: node-1: exited with code 3 during start-up',
            "Fix: fix the error above and start the cluster again (kubeloop up --name demo)",
        ]),
    ],
    ids=["with-log", "empty-log"],
)  # fmt: skip
def test_format_failure(tail: list[str], expected: list[str]) -> None:
    text = cluster.format_failure(
        CONFIG, "node-1", "exited with code 3 during start-up", Path("/d/logs/node-1.log"), tail
    )
    assert text.splitlines() == expected


@pytest.mark.parametrize(
    ("lines", "expected"),
    [(2, ["l8", "l9"]), (20, [f"l{i}" for i in range(10)])],
    ids=["last-two", "whole-short-log"],
)
def test_log_tail(tmp_path: Path, lines: int, expected: list[str]) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"l{i}\n" for i in range(10)))
    assert cluster.log_tail(log, lines) == expected
    assert cluster.log_tail(tmp_path / "missing.log") == []


# --- prepare: real files and sockets, still milliseconds -----------------------------------


@pytest.fixture
def reg(tmp_path: Path) -> registry.Registry:
    return registry.Registry(tmp_path / "home")


@pytest.fixture
def kubeloop_process() -> Iterator[int]:
    """A live process whose command line says kubeloop, as a supervisor's does."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "kubeloop"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_new_cluster_takes_defaults(reg: registry.Registry) -> None:
    config = cluster.prepare(reg, Request())
    assert (config.name, config.nodes, config.cni) == ("kubeloop", 1, "calico")
    assert config.timing == Timing()
    assert config.root == reg.home / "kubeloop"
    assert ClusterConfig.load(config.root) == config
    assert config.kubeconfig.exists() and config.ca_cert.exists()


def test_restart_keeps_slot_and_pki_and_takes_new_flags(reg: registry.Registry) -> None:
    first = cluster.prepare(reg, Request(name="a", nodes=2))
    reg.save(registry.Entry("a", first.data_dir, first.slot))
    ca = first.ca_cert.read_bytes()
    again = cluster.prepare(reg, Request(name="a"))
    assert (again.slot, again.nodes, again.network) == (first.slot, 2, first.network)
    bigger = cluster.prepare(reg, Request(name="a", nodes=5, cni="flannel"))
    assert (bigger.nodes, bigger.cni) == (5, "flannel")
    assert bigger.ca_cert.read_bytes() == ca


def test_data_dir_names_the_cluster(reg: registry.Registry, tmp_path: Path) -> None:
    first = cluster.prepare(reg, Request(name="mine", data_dir=tmp_path / "dd"))
    assert cluster.prepare(reg, Request(data_dir=tmp_path / "dd")).name == "mine" == first.name
    with pytest.raises(ConfigError, match="holds cluster 'mine', not 'other'"):
        cluster.prepare(reg, Request(name="other", data_dir=tmp_path / "dd"))


def test_a_running_clusters_slot_is_not_taken(
    reg: registry.Registry, kubeloop_process: int
) -> None:
    a = cluster.prepare(reg, Request(name="a"))
    reg.save(registry.Entry("a", a.data_dir, a.slot, kubeloop_process))
    b = cluster.prepare(reg, Request(name="b"))
    assert b.slot != a.slot
    assert b.network.apiserver_ip != a.network.apiserver_ip


def test_a_running_cluster_is_not_started_twice(
    reg: registry.Registry, kubeloop_process: int
) -> None:
    a = cluster.prepare(reg, Request(name="a"))
    reg.save(registry.Entry("a", a.data_dir, a.slot, kubeloop_process))
    with pytest.raises(cluster.AlreadyRunning) as e:
        cluster.prepare(reg, Request(name="a"))
    assert str(e.value) == (
        f'cluster "a" is already running (pid {kubeloop_process}); '
        "stop it with: kubeloop down --name a"
    )


def test_restart_refused_when_another_cluster_took_the_slot(
    reg: registry.Registry, kubeloop_process: int
) -> None:
    a = cluster.prepare(reg, Request(name="a"))
    reg.save(registry.Entry("a", a.data_dir, a.slot))
    reg.save(registry.Entry("b", str(reg.home / "b"), a.slot, kubeloop_process))
    with pytest.raises(ConfigError, match="cluster 'b' is running on 'a''s addresses"):
        cluster.prepare(reg, Request(name="a"))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (Request(name="Bad_Name"), "cluster name"),
        (Request(nodes=0), "1 to 250 nodes"),
        (Request(nodes=251), "1 to 250 nodes"),
    ],
    ids=["bad-name", "zero-nodes", "too-many-nodes"],
)
def test_invalid_requests(reg: registry.Registry, request_: Request, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cluster.prepare(reg, request_)
