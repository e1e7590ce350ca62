"""The launcher end to end: ``kubeloop up/status/kubeconfig/down`` and ``Cluster`` with the
real apiserver and node agents on loopback, checked with kubectl and by the processes and
listeners they leave behind (none). Every test has its own KUBELOOP_HOME and stops every
cluster in it, even when it fails. Slots are claimed machine-wide (``/tmp/kubeloop-slots``),
so this file can run twice at once, or beside other suites and a user's clusters.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubeloop import Cluster, registry
from kubeloop.cluster import StartFailed
from kubeloop.config import ClusterConfig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {
        **os.environ,
        "KUBELOOP_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([*path, str(ROOT)]),
    }


@pytest.fixture
def kubeloop(env: dict[str, str], tmp_path: Path) -> Iterator[Run]:
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "kubeloop", *args],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
        )  # fmt: skip
        if check and result.returncode != 0:
            output = result.stdout + result.stderr
            pytest.fail(f"kubeloop {' '.join(args)} -> {result.returncode}\n{output}")
        return result

    yield run
    # Purged: a data dir left behind would keep its slot remembered (avoided by new clusters).
    run("down", "--all", "--purge", check=False)


KEEP_ME = """
apiVersion: v1
kind: ConfigMap
metadata: {name: keep-me}
data: {a: "1"}
"""


def kubectl(kubeconfig: str | Path, *args: str, input: str | None = None) -> str:
    result = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args],
        capture_output=True, text=True, timeout=30, input=input,
    )  # fmt: skip
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


def processes(data_dir: Path) -> dict[str, int]:
    """Supervisor and children pids from supervisor.json."""
    state = json.loads((data_dir / "supervisor.json").read_text())
    return {"supervisor": state["pid"], **state["children"]}


def assert_all_gone(pids: dict[str, int], config: ClusterConfig) -> None:
    alive = {name: pid for name, pid in pids.items() if registry.pid_alive(pid)}
    assert alive == {}
    net = config.network
    for port in (net.api_port, net.grpc_port):
        assert registry.address_bindable(net.apiserver_ip, port), f"{net.apiserver_ip}:{port} busy"
    assert not (config.root / "supervisor.json").exists()


def slot_claimed(slot: int) -> bool:
    """Whether a cluster (of any home) holds the slot's machine-wide claim."""
    slots = registry.Slots()
    if not slots.claim(slot):
        return True
    slots.release(slot)
    return False


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(0.02)


def test_up_status_kubeconfig_down(kubeloop: Run, home: Path) -> None:
    up = kubeloop("up", "--name", "three", "--nodes", "3")
    data_dir = home / "three"
    assert up.stdout.splitlines() == [
        'Starting cluster "three" with 3 nodes ...',
        up.stdout.splitlines()[1],
        f"export KUBECONFIG={data_dir}/kubeconfig",
    ]
    assert re.fullmatch(r"Cluster ready in \d+\.\ds", up.stdout.splitlines()[1])

    status = kubeloop("status", "--name", "three")
    assert [line.split()[0] for line in status.stdout.splitlines()[2:-1]] == [
        "supervisor", "apiserver", "node-1", "node-2", "node-3", "ingress"
    ]  # fmt: skip
    assert status.stdout.splitlines()[-1] == "Healthy: apiserver ready, 3/3 nodes Ready"

    path = kubeloop("kubeconfig", "--name", "three").stdout.strip()
    assert path == str(data_dir / "kubeconfig")
    assert kubeloop("ca", "--name", "three").stdout.strip() == str(data_dir / "pki" / "ca.crt")
    nodes = sorted(kubectl(path, "get", "nodes", "-o", "name").split())
    assert nodes == ["node/three-node-1", "node/three-node-2", "node/three-node-3"]
    assert re.search(r"^three  running  \d+ ", kubeloop("list").stdout, re.M)
    config = ClusterConfig.load(data_dir)
    assert slot_claimed(config.slot)
    owner = registry.Slots().owner(config.slot)
    assert owner is not None and (owner.name, owner.home) == ("three", str(home))

    pids = processes(data_dir)
    down = kubeloop("down", "--name", "three")
    assert down.stdout.strip() == (
        'Stopped cluster "three": supervisor, apiserver, node-1, node-2, node-3, ingress'
    )
    assert_all_gone(pids, config)
    assert not slot_claimed(config.slot), "the supervisor's exit ends the claim"
    assert kubeloop("down", "--name", "three").stdout.strip() == 'Cluster "three" is not running'
    assert kubeloop("status", "--name", "three", check=False).returncode == 1


def test_restart_on_the_same_data_dir_loses_nothing(kubeloop: Run, home: Path) -> None:
    kubeloop("up", "--nodes", "2")
    config = ClusterConfig.load(home / "kubeloop")
    ca = config.ca_cert.read_bytes()
    kubectl(config.kubeconfig, "create", "-f", "-", input=KEEP_ME)
    kubeloop("down")

    up = kubeloop("up")  # no --nodes: as before
    assert 'with 2 nodes' in up.stdout
    again = ClusterConfig.load(home / "kubeloop")
    assert (again.slot, again.network, again.nodes) == (config.slot, config.network, 2)
    assert again.ca_cert.read_bytes() == ca
    value = kubectl(config.kubeconfig, "get", "configmap", "keep-me", "-o", "jsonpath={.data.a}")
    assert value == "1"

    refused = kubeloop("up", check=False)
    assert refused.returncode == 1
    pid = processes(home / "kubeloop")["supervisor"]
    assert refused.stderr.strip() == (
        f'kubeloop: cluster "kubeloop" is already running (pid {pid}); '
        "stop it with: kubeloop down --name kubeloop"
    )


def test_two_clusters_side_by_side(kubeloop: Run, home: Path) -> None:
    kubeloop("up", "--name", "left")
    kubeloop("up", "--name", "right", "--nodes", "2")
    left, right = ClusterConfig.load(home / "left"), ClusterConfig.load(home / "right")
    assert left.network.api_url != right.network.api_url
    assert kubectl(left.kubeconfig, "get", "nodes", "-o", "name").split() == ["node/left-node-1"]
    assert sorted(kubectl(right.kubeconfig, "get", "nodes", "-o", "name").split()) == [
        "node/right-node-1", "node/right-node-2"
    ]  # fmt: skip
    right_pids = {f"right-{name}": pid for name, pid in processes(home / "right").items()}
    pids = {**processes(home / "left"), **right_pids}

    down = kubeloop("down", "--all", "--purge")
    assert 'Stopped cluster "left"' in down.stdout and 'Stopped cluster "right"' in down.stdout
    assert_all_gone(pids, left)
    assert_all_gone(pids, right)
    assert not (home / "left").exists() and kubeloop("list").stdout.startswith("No clusters")


def test_foreground_stops_cleanly_on_ctrl_c(env: dict[str, str], home: Path, kubeloop: Run) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeloop", "up", "--foreground", "--name", "fg"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        assert lines[-1] == "Press Ctrl-C to stop.\n", lines
        pids = processes(home / "fg")
        assert pids["supervisor"] == proc.pid
        assert slot_claimed(ClusterConfig.load(home / "fg").slot), "held by kubeloop up itself"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        assert proc.stdout.read().splitlines()[-1] == 'Cluster "fg" stopped'
    finally:
        proc.kill()
        proc.wait()
    assert_all_gone(pids, ClusterConfig.load(home / "fg"))


def test_children_die_with_a_killed_supervisor(kubeloop: Run, home: Path) -> None:
    kubeloop("up", "--name", "orphan")
    pids = processes(home / "orphan")
    os.kill(pids["supervisor"], signal.SIGKILL)
    wait_for(lambda: not any(registry.pid_alive(p) for p in pids.values()))
    assert not slot_claimed(ClusterConfig.load(home / "orphan").slot), "the kernel let go"
    assert "is not running" in kubeloop("status", "--name", "orphan", check=False).stdout
    kubeloop("down", "--name", "orphan")  # clears the stale supervisor.json
    assert_all_gone(pids, ClusterConfig.load(home / "orphan"))


def test_a_dead_child_shows_in_status(kubeloop: Run, home: Path) -> None:
    kubeloop("up", "--name", "hurt", "--nodes", "2")
    pids = processes(home / "hurt")
    os.kill(pids["node-2"], signal.SIGKILL)
    state_file = home / "hurt" / "supervisor.json"
    wait_for(lambda: "node-2" in json.loads(state_file.read_text())["exit_codes"])
    status = kubeloop("status", "--name", "hurt", check=False)
    assert status.returncode == 1
    assert re.search(r"^node-2 +\d+ +exited \(-9\)", status.stdout, re.M), status.stdout
    assert "node-2 exited (-9)" in status.stdout.splitlines()[-1]


def test_busy_address_is_reported_before_starting(kubeloop: Run, home: Path) -> None:
    kubeloop("up", "--name", "busy")
    kubeloop("down", "--name", "busy")
    config = ClusterConfig.load(home / "busy")
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT from before
        squatter.bind((config.network.apiserver_ip, config.network.api_port))
        squatter.listen()
        refused = kubeloop("up", "--name", "busy", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"kubeloop: {config.network.apiserver_ip}:{config.network.api_port} is in use by "
        f"another process; find it with: ss -ltnp | grep {config.network.apiserver_ip}"
    )


def test_restart_refused_while_another_home_holds_the_slot(kubeloop: Run, home: Path) -> None:
    kubeloop("up", "--name", "mine")
    kubeloop("down", "--name", "mine")
    config = ClusterConfig.load(home / "mine")
    theirs = registry.Slots()  # as the supervisor of a cluster of another home holds it
    assert theirs.claim(config.slot)
    try:
        theirs.record(config.slot, registry.SlotOwner(
            "theirs", "/srv/other-home", "/srv/other-home/theirs", time.time()))
        refused = kubeloop("up", "--name", "mine", check=False)
    finally:
        theirs.release(config.slot)
    assert (refused.returncode, refused.stderr) == (1, (
        "kubeloop: cluster 'theirs' of KUBELOOP_HOME=/srv/other-home is running on 'mine''s "
        f"addresses ({config.network.apiserver_ip}); stop it first: "
        "KUBELOOP_HOME=/srv/other-home kubeloop down --name theirs\n"))
    assert "mine  stopped" in kubeloop("list").stdout
    assert ClusterConfig.load(home / "mine") == config


def test_homes_starting_at_once_get_distinct_slots(env: dict[str, str], tmp_path: Path) -> None:
    """Two test suites, or a suite and a user's cluster: each home has its own registry
    lock, so only the machine-wide slot claims keep them apart."""
    homes = [tmp_path / f"home-{i}" for i in range(3)]
    envs = [{**env, "KUBELOOP_HOME": str(h)} for h in homes]
    command = [sys.executable, "-m", "kubeloop", "up", "--name", "same"]
    try:
        ups = [subprocess.Popen(command, env=e, cwd=tmp_path, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for e in envs]  # fmt: skip
        outputs = [up.communicate(timeout=60)[0] for up in ups]
        assert [up.returncode for up in ups] == [0, 0, 0], outputs
        configs = [ClusterConfig.load(h / "same") for h in homes]
        assert len({c.slot for c in configs}) == 3, [c.slot for c in configs]
        for config in configs:
            assert kubectl(config.kubeconfig, "get", "nodes", "-o", "name").split() == [
                "node/same-node-1"]
            assert slot_claimed(config.slot)
        pids = {f"{i}-{name}": pid for i, h in enumerate(homes)
                for name, pid in processes(h / "same").items()}  # fmt: skip
    finally:
        for e in envs:
            subprocess.run([sys.executable, "-m", "kubeloop", "down", "--all", "--purge"],
                           env=e, capture_output=True, timeout=60)  # fmt: skip
    for config in configs:
        assert_all_gone(pids, config)


def test_cluster_context_manager(home: Path) -> None:
    with Cluster(nodes=2, home=home) as c:
        assert sorted(c.kubectl("get", "nodes", "-o", "name").stdout.split()) == [
            f"node/{c.name}-node-1", f"node/{c.name}-node-2"
        ]  # fmt: skip
        assert c.env["KUBECONFIG"] == str(c.kubeconfig)
        assert c.api_url == c.config.network.api_url and len(c.token) == 64
        assert c.ca_cert.exists()
        pids, config = processes(c.config.root), c.config
    assert_all_gone(pids, config)
    assert not config.root.exists()
    assert registry.Registry(home).get(c.name) is None


def processes_using(data_dir: Path) -> list[str]:
    """Command lines of live processes that mention ``data_dir``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone meanwhile, or not a process
        if proc.name.isdigit() and str(data_dir) in cmdline and registry.pid_alive(int(proc.name)):
            found.append(cmdline)
    return found


def test_up_timeout_is_explained_and_cleaned_up(kubeloop: Run, home: Path) -> None:
    failed = kubeloop("up", "--name", "slow", "--timeout", "0.01", check=False)
    assert failed.returncode == 1
    first, *_, last = failed.stderr.strip().splitlines()
    assert first.startswith('Cluster "slow" did not start: apiserver: ')
    assert "not ready after 0.01s" in first
    assert last == "Fix: apiserver is slow or stuck: read its log, or retry with a larger --timeout"
    assert processes_using(home / "slow") == []
    assert "slow  stopped" in kubeloop("list").stdout


def test_cluster_start_failure_is_explained_and_cleaned_up(home: Path) -> None:
    c = Cluster(home=home, start_timeout=0.01)
    with pytest.raises(StartFailed, match=r'did not start: apiserver: .* not ready after 0.01s'):
        c.start()
    assert processes_using(c.config.root) == []
    assert not c.config.root.exists()
    assert registry.Registry(home).get(c.name) is None


def test_process_stop_kill_start(kubeloop: Run, home: Path) -> None:
    kubeloop("up", "--name", "drill", "--nodes", "2")
    data_dir = home / "drill"
    first = processes(data_dir)

    killed = kubeloop("process", "kill", "node-2", "--name", "drill")
    assert killed.stdout == f"Killed node-2 (pid {first['node-2']})\n"
    assert not registry.pid_alive(first["node-2"])
    status = kubeloop("status", "--name", "drill", check=False)
    assert status.returncode == 1
    assert re.search(rf"^node-2 +{first['node-2']} +killed ", status.stdout, re.M), status.stdout
    last = status.stdout.splitlines()[-1]
    assert last.startswith("Unhealthy: node-2 killed on request"), last
    assert last.endswith(". Start again with: kubeloop process start node-2 --name drill")
    again = kubeloop("process", "kill", "node-2", "--name", "drill")
    assert again.stdout == "node-2 is not running\n"

    started = kubeloop("process", "start", "node-2", "--name", "drill")
    pid = processes(data_dir)["node-2"]
    assert started.stdout.splitlines()[0] == f"Started node-2 (pid {pid})"
    assert re.fullmatch(r"node drill-node-2 Ready in \d+\.\ds", started.stdout.splitlines()[1])
    assert (data_dir / "logs" / "node-2.log.1").exists()  # the killed run's log is kept

    stopped = kubeloop("process", "stop", "apiserver", "--name", "drill")
    assert stopped.stdout == f"Stopped apiserver (pid {first['apiserver']}, exit code 0)\n"
    status = kubeloop("status", "--name", "drill", check=False)
    assert re.search(r"^apiserver +\d+ +stopped ", status.stdout, re.M), status.stdout
    assert "Unhealthy: apiserver stopped on request" in status.stdout
    assert kubeloop("process", "start", "apiserver", "--name", "drill").stdout.splitlines()[1] \
        .startswith("apiserver ready in ")
    status = kubeloop("status", "--name", "drill")
    assert status.stdout.splitlines()[-1] == "Healthy: apiserver ready, 2/2 nodes Ready"
    assert kubeloop("process", "start", "node-1", "--name", "drill").stdout == (
        "node-1 is already running\n")

    unknown = kubeloop("process", "stop", "node-3", "--name", "drill", check=False)
    assert (unknown.returncode, unknown.stderr) == (1, (
        "kubeloop: no process named 'node-3' in this cluster; "
        "choose one of: apiserver, node-1, node-2, ingress\n"))

    pids = {**{f"first-{k}": v for k, v in first.items()}, **processes(data_dir)}
    kubeloop("down", "--name", "drill")
    assert_all_gone(pids, ClusterConfig.load(data_dir))
    assert not (data_dir / "supervisor.sock").exists()
    stopped_cluster = kubeloop("process", "start", "node-1", "--name", "drill", check=False)
    assert (stopped_cluster.returncode, stopped_cluster.stderr) == (1, (
        'kubeloop: cluster "drill" is not running; start it with: kubeloop up --name drill\n'))
