"""Shared fixtures for integration tests: one real 3-node cluster per session (its own
KUBELOOP_HOME, stopped at the end), a fresh namespace per test, the real kubectl and the
official `kubernetes` client pointed at it."""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeloop import Cluster
from kubeloop.config import Dns, Timing

_counter = itertools.count()


class Kubectl:
    """The real kubectl against one cluster; fails the test with stderr on error."""

    def __init__(self, cluster: Cluster, namespace: str | None = None) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def run(self, *args: str, input: str | None = None, check: bool = True,
            env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        ns = ["-n", self.namespace] if self.namespace and "-n" not in args and "-A" not in args \
            and "--all-namespaces" not in args else []
        result = subprocess.run(["kubectl", *ns, *args], capture_output=True, text=True,
                                input=input, timeout=timeout,
                                env={**self.cluster.env, **(env or {})})
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} exited {result.returncode}:\n"
                        f"{result.stderr}{result.stdout}")
        return result

    def __call__(self, *args: str, **kw: Any) -> str:
        return self.run(*args, **kw).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def create_udp_echo_pod(kubectl: Kubectl, name: str = "udp") -> str:
    """An agnhost netexec pod (label app=NAME) answering UDP on 8081; its IP once Running."""
    kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{
            "name": "netexec", "image": "registry.k8s.io/e2e-test-images/agnhost:2.52",
            "args": ["netexec", "--http-port=8080", "--udp-port=8081"],
            "ports": [{"containerPort": 8081, "protocol": "UDP"}]}]}}))
    return wait_for(lambda: (s := kubectl.json("get", "pod", name)["status"]).get("phase")
                    == "Running" and s.get("podIP"), timeout=20, what=f"{name} Running")


def udp_hostname(ip: str, port: int, timeout: float) -> bytes:
    """What a netexec pod answers to "hostname" over UDP; b"" without an answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(b"hostname", (ip, port))
        try:
            return s.recv(100)
        except OSError:
            return b""


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("kubeloop-home")
    timing = Timing(heartbeat_interval=0.5, node_grace_period=2.0, pod_eviction_timeout=1.0)
    # No forwarding: nothing a test resolves may leave loopback.
    with Cluster(nodes=3, home=home, timing=timing, dns=Dns(upstreams=())) as c:
        yield c


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"t{next(_counter)}-{int(time.time() * 1000) % 100000}"
    Kubectl(cluster)("create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
    yield name
    Kubectl(cluster).run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def kubectl(cluster: Cluster, namespace: str) -> Kubectl:
    return Kubectl(cluster, namespace)


@pytest.fixture
def k8s(cluster: Cluster) -> Iterator[Any]:
    kubernetes = pytest.importorskip("kubernetes")
    client = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    yield client
    client.close()


def manifest_dir(tmp_path: Path, docs: dict[str, str]) -> Path:
    for name, text in docs.items():
        (tmp_path / name).write_text(text)
    return tmp_path
