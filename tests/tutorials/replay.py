"""What the tutorial replays share: the kubeloop equivalents of a tutorial's host-side
steps (curl through ``/etc/hosts`` becomes curl ``--resolve`` to the Ingress ADDRESS,
``kubectl edit`` gets a scripted editor), ``kubectl get`` tables read by their header as
a reader compares them with a tutorial's, and probes run side by side."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubeloop import Cluster
from tests.integration.conftest import Kubectl, wait_for

EDITOR = Path(__file__).with_name("editor.py")
IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
AGE = re.compile(r"^\d+(s|m\d*s?|h\d*m?|d\d*h?)$")
POD_SUFFIX = r"-[a-z0-9]{6,10}-[a-z0-9]{5}"  # Deployment pods: <name>-<rs hash>-<random>
TTY_WARNING = "Unable to use a TTY - input is not a terminal or the right kind of file\n"


# --- kubectl output, as a reader compares it with a tutorial's -----------------------------


def table(output: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of ``kubectl get`` output, cut at the header's column starts
    (values such as ``80, 443`` keep their spaces); of several tables (``get all``, see
    ``sections``) the first."""
    lines = [line for line in output.splitlines() if line.strip()]
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    rows = []
    for line in lines[1:]:
        if line.startswith("NAME "):
            break
        bounds = zip(starts, [*starts[1:], None])
        rows.append({name: line[a:b].strip() for name, (a, b) in zip(names, bounds)})
    return names, rows


def row(output: str, name: str) -> dict[str, str]:
    """The row whose NAME is ``name`` (or, for kind/name listings, ends with /name)."""
    _, rows = table(output)
    found = [r for r in rows if r["NAME"] == name or r["NAME"].endswith("/" + name)]
    assert len(found) == 1, f"no single row {name!r} in:\n{output}"
    return found[0]


def sections(output: str) -> list[str]:
    """``kubectl get a,b`` / ``get all`` output split into its tables."""
    return [part for part in re.split(r"\n\s*\n", output.strip()) if part.strip()]


# --- steps ----------------------------------------------------------------------------------


def apply(kubectl: Kubectl, manifest: str) -> str:
    """``kubectl apply -f file.yaml`` with the tutorial's YAML as the file."""
    return kubectl("apply", "-f", "-", input=manifest)


def rollout(kubectl: Kubectl, *deployments: str, namespace: str | None = None) -> None:
    """Wait (a watch, not polling) until each Deployment has its pods Ready."""
    ns = ["-n", namespace] if namespace else []
    for name in deployments:
        kubectl("rollout", "status", f"deployment/{name}", "--timeout=40s", *ns, timeout=45)


def ready(kubectl: Kubectl, *pods: str, namespace: str | None = None) -> None:
    ns = ["-n", namespace] if namespace else []
    kubectl("wait", "--for=condition=Ready", "--timeout=40s", *ns,
            *[f"pod/{p}" for p in pods], timeout=45)


def edit(kubectl: Kubectl, target: str, *edits: tuple[str, str]) -> str:
    """``kubectl edit TARGET`` with the editor making ``edits`` (old, new) in the YAML."""
    return kubectl("edit", target, env={
        "KUBE_EDITOR": f"{sys.executable} {EDITOR}", "TUTORIAL_EDITS": json.dumps(edits)})


def node_ips(kubectl: Kubectl) -> list[str]:
    """INTERNAL-IP of every node in ``kubectl get nodes -o wide``: ``minikube ip``."""
    _, rows = table(kubectl("get", "nodes", "-o", "wide"))
    return [r["INTERNAL-IP"] for r in rows]


def ingress_address(kubectl: Kubectl, name: str, namespace: str | None = None) -> str:
    """The ADDRESS ``kubectl get ingress NAME`` shows, once the controller has set it:
    what ``/etc/hosts`` maps the tutorial's host names to."""
    ns = ["-n", namespace] if namespace else []
    address = wait_for(lambda: row(kubectl("get", "ingress", name, *ns), name)["ADDRESS"],
                       timeout=20, what=f"ingress {name} ADDRESS")
    assert IP.match(address), address
    return address


def curl(url: str, *args: str, resolve: str | None = None, timeout: float = 5
         ) -> subprocess.CompletedProcess[str]:
    """The real curl; ``resolve`` stands for an ``/etc/hosts`` line mapping the URL's host
    to that address (``--resolve host:port:address``)."""
    extra: list[str] = []
    if resolve:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        extra = ["--resolve", f"{parts.hostname}:{port}:{resolve}"]
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout), *extra, *args, url],
                          capture_output=True, text=True, timeout=timeout + 5)


def until_curl(url: str, expected: str, *args: str, resolve: str | None = None,
               timeout: float = 20) -> str:
    """curl until the answer contains ``expected`` (the controller or kube-proxy has the
    new route); the answer."""
    def answer() -> str | None:
        out = curl(url, *args, resolve=resolve).stdout
        return out if expected in out else None

    return wait_for(answer, timeout=timeout, what=f"{expected!r} from {url}")


def exec_in(kubectl: Kubectl, pod: str, *command: str, namespace: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    """``kubectl exec -it POD -- COMMAND`` as typed (stdin a closed pipe, not this
    terminal); the result whatever its exit code."""
    ns = ["-n", namespace] if namespace else []
    return kubectl.run("exec", "-it", *ns, pod, "--", *command, input="", check=False)


def shown(result: subprocess.CompletedProcess[str]) -> str:
    """What a terminal shows of a ``kubectl exec -it`` from a pipe: stdout, then stderr
    without kubectl's warning that stdin is no terminal."""
    return result.stdout + result.stderr.replace(TTY_WARNING, "")


def times_out(kubectl: Kubectl, pod: str, url: str, namespace: str | None = None) -> bool:
    """Whether ``wget -T 1`` from the pod times out (a policy drops the connection, as
    Calico does); False when it gets through; a refusal or other error fails the test."""
    result = exec_in(kubectl, pod, "wget", "-q", "-T", "1", "-O", "-", url,
                     namespace=namespace)
    if result.returncode == 0:
        return False
    assert "download timed out" in result.stderr, result.stderr
    return True


def side_by_side(probes: Iterable[Callable[[], Any]]) -> list[Any]:
    """Run probes concurrently (each waits on the network, not on this CPU)."""
    tasks = list(probes)
    with ThreadPoolExecutor(max_workers=max(1, len(tasks))) as pool:
        return list(pool.map(lambda probe: probe(), tasks))


@contextlib.contextmanager
def port_forward(kubectl: Kubectl, target: str, remote: int) -> Iterator[tuple[int, str]]:
    """``kubectl port-forward TARGET LOCAL:REMOTE`` on a free local port, running for the
    ``with`` block: the port and the first line kubectl printed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    forward = subprocess.Popen(["kubectl", "port-forward", target, f"{port}:{remote}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=kubectl.cluster.env)
    try:
        assert forward.stdout is not None
        yield port, forward.stdout.readline().rstrip("\n")
    finally:
        forward.terminate()
        forward.wait(timeout=10)


def cluster_ca(cluster: Cluster) -> str:
    """``kubeloop ca``: the CA that signs the certificates cert-manager's annotation gets."""
    return str(cluster.ca_cert)


def self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    """``openssl req -x509`` for ``host``, as a reader makes path/to/cert.crt and .key."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.crt", directory / "cert.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return cert, key


def pod_ip(kubectl: Kubectl, pod: str, namespace: str | None = None) -> str:
    ns = ["-n", namespace] if namespace else []
    return kubectl("get", "pod", pod, *ns, "-o", "jsonpath={.status.podIP}")


def pods_of(kubectl: Kubectl, selector: str) -> list[dict[str, Any]]:
    return kubectl.json("get", "pods", "-l", selector)["items"]
