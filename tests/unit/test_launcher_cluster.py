"""Bringing a cluster up: failure messages and ``prepare`` (config, slot claims, reuse)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeloop import cluster, registry
from kubeloop.cluster import Request
from kubeloop.config import MAX_CLUSTERS, ClusterConfig, ConfigError, Network, Timing

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


HOME = Path("/home/me/.kubeloop")
LOCK = Path("/tmp/kubeloop-slots/3.lock")


@pytest.mark.parametrize(
    ("holder", "expected"),
    [
        (registry.SlotOwner("b", str(HOME), "/d/b", 1.0),
         "cluster 'b' is running on 'demo''s addresses (127.10.3.254); "
         "stop it first: kubeloop down --name b"),
        (registry.SlotOwner("t1-1", "/tmp/pytest-7/home", "/d/t", 1.0),
         "cluster 't1-1' of KUBELOOP_HOME=/tmp/pytest-7/home is running on 'demo''s addresses "
         "(127.10.3.254); stop it first: KUBELOOP_HOME=/tmp/pytest-7/home kubeloop down "
         "--name t1-1"),
        (None,
         "another kubeloop cluster is running on 'demo''s addresses (127.10.3.254); stop it "
         "first (its supervisor holds /tmp/kubeloop-slots/3.lock: "
         "fuser -v /tmp/kubeloop-slots/3.lock shows it)"),
    ],
    ids=["same-home", "other-home", "unrecorded"],
)  # fmt: skip
def test_slot_taken(holder: registry.SlotOwner | None, expected: str) -> None:
    config = ClusterConfig(name="demo", data_dir="/d", slot=3, network=Network.for_slot(3))
    assert cluster.slot_taken(config, holder, HOME, LOCK) == expected


# --- prepare: real files, sockets and locks (in a slots folder of the test's own) ----------


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[registry.Registry]:
    reg = registry.Registry(tmp_path / "home", tmp_path / "slots")
    yield reg
    for slot in list(reg.slots.held):
        reg.slots.release(slot)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[registry.Slots]:
    """The same slots folder as another home's launcher or supervisor sees it."""
    slots = registry.Slots(tmp_path / "slots")
    yield slots
    for slot in list(slots.held):
        slots.release(slot)


def started(reg: registry.Registry, request: Request) -> ClusterConfig:
    """``prepare``, then let go of the claim as ``launch`` does once a supervisor has it."""
    config = cluster.prepare(reg, request)
    reg.slots.release(config.slot)
    return config


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
    first = started(reg, Request(name="a", nodes=2))
    reg.save(registry.Entry("a", first.data_dir, first.slot))
    ca = first.ca_cert.read_bytes()
    again = started(reg, Request(name="a"))
    assert (again.slot, again.nodes, again.network) == (first.slot, 2, first.network)
    bigger = started(reg, Request(name="a", nodes=5, cni="flannel"))
    assert (bigger.nodes, bigger.cni) == (5, "flannel")
    assert bigger.ca_cert.read_bytes() == ca


def test_data_dir_names_the_cluster(reg: registry.Registry, tmp_path: Path) -> None:
    first = started(reg, Request(name="mine", data_dir=tmp_path / "dd"))
    assert started(reg, Request(data_dir=tmp_path / "dd")).name == "mine" == first.name
    with pytest.raises(ConfigError, match="holds cluster 'mine', not 'other'"):
        cluster.prepare(reg, Request(name="other", data_dir=tmp_path / "dd"))


def test_a_running_clusters_slot_is_not_taken(
    reg: registry.Registry, kubeloop_process: int
) -> None:
    a = started(reg, Request(name="a"))
    reg.save(registry.Entry("a", a.data_dir, a.slot, kubeloop_process))
    b = started(reg, Request(name="b"))
    assert b.slot != a.slot
    assert b.network.apiserver_ip != a.network.apiserver_ip


def test_a_running_cluster_is_not_started_twice(
    reg: registry.Registry, kubeloop_process: int
) -> None:
    a = started(reg, Request(name="a"))
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
    a = started(reg, Request(name="a"))
    reg.save(registry.Entry("a", a.data_dir, a.slot))
    reg.save(registry.Entry("b", str(reg.home / "b"), a.slot, kubeloop_process))
    with pytest.raises(ConfigError, match="cluster 'b' is running on 'a''s addresses"):
        cluster.prepare(reg, Request(name="a"))
    assert reg.slots.held == {}


def test_the_new_clusters_slot_stays_claimed(
    reg: registry.Registry, elsewhere: registry.Slots
) -> None:
    a = cluster.prepare(reg, Request(name="a"))
    assert list(reg.slots.held) == [a.slot]
    assert not elsewhere.claim(a.slot)
    owner = elsewhere.owner(a.slot)
    assert owner is not None
    assert (owner.name, owner.home, owner.data_dir) == ("a", str(reg.home), a.data_dir)


def test_a_slot_claimed_from_another_home_is_not_taken(
    reg: registry.Registry, elsewhere: registry.Slots
) -> None:
    last = MAX_CLUSTERS - 1
    for slot in range(last):
        assert elsewhere.claim(slot)
    assert cluster.prepare(reg, Request(name="a")).slot == last
    with pytest.raises(ConfigError, match=f"all {MAX_CLUSTERS} cluster slots are busy"):
        cluster.prepare(reg, Request(name="b"))
    assert list(reg.slots.held) == [last], "the failed start claimed nothing"


def test_restart_refused_while_another_home_holds_the_slot(
    reg: registry.Registry, elsewhere: registry.Slots
) -> None:
    a = started(reg, Request(name="a"))
    assert elsewhere.claim(a.slot)
    elsewhere.record(a.slot, registry.SlotOwner("b", "/other/home", "/other/home/b", 2.0))
    with pytest.raises(ConfigError) as e:
        cluster.prepare(reg, Request(name="a"))
    assert str(e.value) == (
        f"cluster 'b' of KUBELOOP_HOME=/other/home is running on 'a''s addresses "
        f"({a.network.apiserver_ip}); stop it first: KUBELOOP_HOME=/other/home kubeloop "
        "down --name b"
    )
    elsewhere.release(a.slot)
    assert started(reg, Request(name="a")).slot == a.slot


def test_a_new_cluster_leaves_a_stopped_clusters_slot_alone(
    reg: registry.Registry, elsewhere: registry.Slots, tmp_path: Path
) -> None:
    """Even one of another home: its slot is remembered in the slot's lock file."""
    other = registry.Registry(tmp_path / "other-home", tmp_path / "slots")
    stopped = started(other, Request(name="b"))
    assert stopped.slot in reg.slots.remembered()
    assert started(reg, Request(name="a")).slot != stopped.slot
    (Path(stopped.data_dir) / "cluster.json").unlink()  # purged: the slot is anybody's
    assert stopped.slot not in reg.slots.remembered()


def test_a_failed_prepare_releases_its_claim(
    reg: registry.Registry, elsewhere: registry.Slots
) -> None:
    with pytest.raises(ConfigError, match="1 to 250 nodes"):
        cluster.prepare(reg, Request(name="a", nodes=0))
    assert reg.slots.held == {}
    assert all(elsewhere.claim(slot) for slot in range(MAX_CLUSTERS))


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
