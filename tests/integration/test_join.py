"""Many hosts, played on one: a control plane only (``kubeloop up --nodes 0
--advertise-address``) on a 127.6x address outside the cluster slots, two nodes that
``kubeloop join`` it with addresses of their own, and a workload across them."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubeloop import registry

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
PORTS = (6443, 6444, 10250, 8472)  # apiserver REST and gRPC, kubelet, tunnel
JOIN = re.compile(r"kubeloop join --server (\S+) --token (\S+) --ca-cert-hash (\S+)")


def free_block() -> str:
    """A 127.6x.y prefix nothing listens on (another run of this test may be using one)."""
    for _ in range(50):
        prefix = f"127.{random.randint(60, 69)}.{random.randint(0, 255)}"
        if all(registry.address_bindable(f"{prefix}.{host}", port)
               for host in (1, 11, 12) for port in PORTS):
            return prefix
    pytest.skip("no free 127.6x block")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "KUBELOOP_HOME": str(tmp_path / "home"),
            "PYTHONPATH": os.pathsep.join([*path, str(ROOT)])}


@pytest.fixture
def kubeloop(env: dict[str, str], tmp_path: Path
             ) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "kubeloop", *args], capture_output=True,
                                text=True, env=env, cwd=tmp_path, timeout=60)
        if check and result.returncode != 0:
            pytest.fail(f"kubeloop {' '.join(args)} -> {result.returncode}\n"
                        f"{result.stdout}{result.stderr}")
        return result

    yield run
    run("down", "--all", "--purge", check=False)


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def test_nodes_join_a_control_plane_from_their_own_addresses(
        kubeloop: Callable[..., subprocess.CompletedProcess[str]], env: dict[str, str],
        tmp_path: Path) -> None:
    prefix = free_block()
    server, addresses = f"{prefix}.1", [f"{prefix}.11", f"{prefix}.12"]
    name = f"join{os.getpid()}"
    up = kubeloop("up", "--name", name, "--nodes", "0", "--advertise-address", server,
                  "--no-ingress")
    found = JOIN.search(up.stdout)
    assert found, up.stdout
    url, token, ca_hash = found.groups()
    assert url == f"https://{server}:6443"
    kubeconfig = Path(env["KUBELOOP_HOME"]) / name / "kubeconfig"

    def kubectl(*args: str) -> str:
        result = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout

    # Refused, with the fix named and no traceback: a wrong token, a wrong CA hash.
    for args, message in (
            (["--token", "abcdef.0123456789abcdef", "--ca-cert-hash", ca_hash],
             "bootstrap token is unknown or expired; create one on the control plane with: "
             "kubeloop token create"),
            (["--token", token, "--ca-cert-hash", "sha256:" + "0" * 64],
             f"the server's CA has the hash {ca_hash}, not sha256:")):
        refused = kubeloop("join", "--server", url, *args, "--address", f"{prefix}.13",
                           "--data-dir", str(tmp_path / "refused"), check=False)
        assert refused.returncode == 1
        assert message in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "refused").exists()

    agents: list[subprocess.Popen[bytes]] = []
    try:
        for i, address in enumerate(addresses, 1):
            with open(tmp_path / f"node{i}.log", "wb") as log:
                agents.append(subprocess.Popen(
                    [sys.executable, "-m", "kubeloop", "join", "--server", url, "--token",
                     token, "--ca-cert-hash", ca_hash, "--address", address,
                     "--data-dir", str(tmp_path / f"node{i}")],
                    stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True))

        def ready_nodes() -> dict[str, str]:
            nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
            return {n["status"]["addresses"][0]["address"]: n["metadata"]["name"]
                    for n in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                          for c in n["status"]["conditions"])}

        wait_for(lambda: len(ready_nodes()) == 2, 20, "both joined nodes Ready")
        wide = kubectl("get", "nodes", "-o", "wide")
        for address in addresses:
            assert re.search(rf"{name}-node-\d+\s+Ready\s.*\s{re.escape(address)}\s", wide), wide
        names = ready_nodes()

        # 8 replicas: the scheduler balances pod counts and the add-on pods (coredns, the
        # ingress controller...) may all sit on one node; 8 leave some on each.
        kubectl("create", "deployment", "web", "--image=nginx", "--replicas=8")
        kubectl("expose", "deployment", "web", "--port=80", "--type=NodePort")
        kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        pods = json.loads(kubectl("get", "pods", "-l", "app=web", "-o", "json"))["items"]
        on = {p["spec"]["nodeName"]: p for p in pods}
        assert set(on) == set(names.values()), \
            f"the pods should spread over both nodes: {kubectl('get', 'pods', '-A', '-o', 'wide')}"
        for pod in pods:
            with urllib.request.urlopen(f"http://{pod['status']['podIP']}/", timeout=5) as r:
                assert r.status == 200
        node_port = json.loads(kubectl("get", "svc", "web", "-o", "json"))["spec"]["ports"][0][
            "nodePort"]
        for address in addresses:  # NodePorts on the joined nodes' own addresses
            with urllib.request.urlopen(f"http://{address}:{node_port}/", timeout=5) as r:
                assert r.status == 200
        for node, pod in on.items():  # through each joined kubelet
            pod_name = pod["metadata"]["name"]
            out = kubectl("exec", pod_name, "--", "curl", "-s", "-o", "/dev/null", "-w",
                          "%{http_code}", "http://web")
            assert out == "200", f"exec on {node}: {out!r}"
            assert "start worker process" in kubectl("logs", pod_name)
    finally:
        for agent in agents:
            agent.send_signal(signal.SIGTERM)
        for agent in agents:
            try:
                agent.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(agent.pid, signal.SIGKILL)
                agent.wait()
    assert [a.returncode for a in agents] == [0, 0]
    kubeloop("down", "--name", name, "--purge")
    busy = [f"{prefix}.{host}:{port}" for host in (1, 11, 12) for port in PORTS
            if not registry.address_bindable(f"{prefix}.{host}", port)]
    assert busy == [], "still listening after shutdown"
