"""Driving the repository's compose.yaml from the host, for the compose end-to-end test and
bench/compose_up.py: one compose project (its own name, published on its own loopback
address, its kubeconfig in its own folder), the real ``docker compose``, ``kubectl``,
``curl`` and ``dig``.

Needs a working ``docker compose``: Docker, or on the CI machines podman through
/work/shared/compose-env (``prepare.sh``, then ``source env.sh``)."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "compose.yaml"
API_PORT = 6443
HTTP_PORT = 80
HTTPS_PORT = 443
DNS_PORT = 1053
NODE_PORTS = range(30000, 30010)  # compose.yaml's published NodePort range
PUBLISHED = (API_PORT, HTTP_PORT, HTTPS_PORT, DNS_PORT, *NODE_PORTS)

T = TypeVar("T")


def web_app(host: str, *, node_port: bool = False, tls_secret: str | None = None) -> str:
    """The manifests of the app both drive: a one-pod nginx Deployment, its Service
    (NodePort if asked) and an Ingress for ``host`` (TLS from ``tls_secret`` if given)."""
    service_type = "\n  type: NodePort" if node_port else ""
    tls = f"\n  tls: [{{hosts: [{host}], secretName: {tls_secret}}}]" if tls_secret else ""
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - {{name: nginx, image: nginx, ports: [{{containerPort: 80}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:{service_type}
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 80}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: web}}
spec:
  ingressClassName: nginx{tls}
  rules:
  - host: {host}
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}
"""


def compose_problem() -> str | None:
    """Why ``docker compose`` cannot run containers here, or None when it can."""
    for command in (["docker", "compose", "version"], ["docker", "info"]):
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"`{' '.join(command)}` failed: {e}"
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            return f"`{' '.join(command)}` failed: {detail[-1] if detail else result.returncode}"
    return None


def _free(address: str, port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((address, port))
            except OSError:
                return False
    return True


def publish_address() -> str:
    """A loopback address in 127.64.0.0/12 (the test range) with every published port free."""
    rng = random.Random()
    for _ in range(50):
        address = f"127.{rng.randrange(64, 80)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"
        if all(_free(address, port) for port in PUBLISHED):
            return address
    raise RuntimeError("no loopback address in 127.64.0.0/12 has the published ports free")


def eventually(check: Callable[[], T | None], timeout: float, what: str,
               interval: float = 0.1) -> T:
    """``check()``'s first truthy result; AssertionError naming ``what`` and the last
    failure after ``timeout`` seconds (exceptions count as failures)."""
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while True:
        try:
            result = check()
            if result:
                return result
            last = repr(result)
        except (AssertionError, OSError, subprocess.SubprocessError) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not after {timeout:g}s (last: {last})")
        time.sleep(interval)


class Project:
    """One compose project of compose.yaml, published on ``address``."""

    def __init__(self, name: str, address: str, folder: Path) -> None:
        self.name = name
        self.address = address
        self.folder = folder  # KUBELOOP_COMPOSE_DIR: where the kubeconfig appears
        self.kubeconfig = folder / "kubeconfig"
        self.env = {**os.environ, "KUBELOOP_PUBLISH_ADDRESS": address,
                    "KUBELOOP_COMPOSE_DIR": str(folder)}

    def compose(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``docker compose ARGS`` for this project; CalledProcessError with its output."""
        command = ["docker", "compose", "-f", str(COMPOSE_FILE), "-p", self.name, *args]
        result = subprocess.run(command, capture_output=True, text=True, env=self.env,
                                timeout=timeout, cwd=REPO)
        if result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, command, result.stdout,
                                                result.stderr)
        return result

    def build(self) -> None:
        self.compose("build", timeout=900)

    def up(self, build: bool = False) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.compose("up", "-d", *(["--build"] if build else []), timeout=900)

    def down(self) -> None:
        self.compose("down", "-v", "--timeout", "5", timeout=180)

    def logs(self, tail: int = 40) -> str:
        try:
            return self.compose("logs", "--no-color", "--tail", str(tail)).stdout
        except subprocess.SubprocessError as e:
            return f"(no logs: {e})"

    def wait_kubeconfig(self, timeout: float = 60) -> Path:
        """The apiserver writes it once ready."""
        return eventually(lambda: self.kubeconfig if self.kubeconfig.exists() else None,
                          timeout, f"{self.kubeconfig} written by the apiserver container",
                          interval=0.05)

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 30) -> str:
        result = subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
                                input=stdin, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def curl(self, url: str, *options: str, timeout: float = 5) -> str:
        """The body of a 2xx answer; AssertionError otherwise."""
        result = subprocess.run(["curl", "-sS", "--fail", "--max-time", str(timeout),
                                 *options, url], capture_output=True, text=True,
                                timeout=timeout + 5)
        if result.returncode != 0:
            raise AssertionError(f"curl {url}: {result.stderr.strip()}")
        return result.stdout

    def resolve(self, host: str, port: int) -> str:
        """curl's --resolve value sending ``host:port`` to this project's address."""
        return f"{host}:{port}:{self.address}"

    def dig(self, name: str, *options: str) -> list[str]:
        result = subprocess.run(["dig", "+short", "+time=2", "+tries=1", *options,
                                 f"@{self.address}", "-p", str(DNS_PORT), name],
                                capture_output=True, text=True, timeout=10)
        if result.returncode != 0:
            raise AssertionError(f"dig {name}: {(result.stdout + result.stderr).strip()}")
        return result.stdout.split()


def ready_nodes(project: Project) -> Sequence[str]:
    """The names of the Ready nodes."""
    out = project.kubectl("get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name}="
                          "{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}")
    return [line.split("=")[0] for line in out.split() if line.endswith("=True")]
