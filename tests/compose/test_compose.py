"""compose.yaml end to end: ``docker compose up -d --build``, then from the host with the
real kubectl, curl and dig: a Deployment with a replica on each node container, a NodePort
Service and a TLS Ingress; curl through the published NodePort and the published ingress,
pod-to-pod across the two node containers (the overlay tunnel), the published cluster
DNS; ``docker compose down -v`` whatever happens."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compose.project import (HTTPS_PORT, NODE_PORTS, Project, eventually,
                                   publish_address, ready_nodes, web_app)

pytestmark = [pytest.mark.compose, pytest.mark.timeout(900)]

HOST = "web.example.test"
NGINX = "Welcome to nginx!"
WEB = web_app(HOST, node_port=True, tls_secret="web-tls")


@pytest.fixture
def project(compose_available: None, tmp_path: Path) -> Iterator[Project]:
    p = Project(f"kubeloop-e2e-{os.getpid()}", publish_address(), tmp_path / "compose")
    began = time.monotonic()
    try:
        p.up(build=True)
        print(f"docker compose up -d --build: {time.monotonic() - began:.1f}s")
        p.wait_kubeconfig()
        print(f"kubeconfig written: {time.monotonic() - began:.1f}s")
        yield p
    finally:
        print(p.logs())  # shown with the report when the test fails
        p.down()


def tls_secret(p: Project, folder: Path) -> Path:
    """A self-signed certificate for HOST, as the Secret web-tls; its path (curl's CA)."""
    cert, key = folder / "web.crt", folder / "web.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    p.kubectl("create", "secret", "tls", "web-tls", "--cert", str(cert), "--key", str(key))
    return cert


def web_pods(p: Project) -> dict[str, tuple[str, str]]:
    """node -> (pod, pod IP) of the Running web pods."""
    out = p.kubectl("get", "pods", "-l", "app=web", "--field-selector=status.phase=Running",
                    "-o", "jsonpath={range .items[*]}{.spec.nodeName} {.metadata.name} "
                    "{.status.podIP}{\"\\n\"}{end}")
    return {node: (pod, ip) for node, pod, ip in (line.split() for line in out.splitlines())}


def spread_web(p: Project, nodes: list[str]) -> dict[str, tuple[str, str]]:
    """The Deployment with one replica on each node: the scheduler here has no pod
    anti-affinity, so each replica is placed with the other node cordoned."""
    first, second = nodes
    p.kubectl("cordon", second)
    p.kubectl("apply", "-f", "-", stdin=WEB)
    eventually(lambda: first in web_pods(p), 30, f"a web pod Running on {first}")
    p.kubectl("uncordon", second)
    p.kubectl("cordon", first)
    p.kubectl("scale", "deployment/web", "--replicas=2")
    pods = eventually(lambda: (lambda w: w if set(w) == {first, second} else None)(web_pods(p)),
                      30, "a web pod Running on each node")
    p.kubectl("uncordon", first)
    return pods


def test_compose_cluster_serves_from_the_host(project: Project, tmp_path: Path) -> None:
    p = project
    nodes = sorted(eventually(lambda: (lambda r: r if len(r) == 2 else None)(ready_nodes(p)),
                              30, "both node containers Ready"))
    cert = tls_secret(p, tmp_path)
    pods = spread_web(p, nodes)

    # The NodePort (the cluster hands out only the published range; the ingress-nginx
    # Service holds two of them), published from node-1 on the host: kube-proxy there
    # balances over both pods, the one on node-2 through the tunnel.
    node_port = int(p.kubectl("get", "service", "web", "-o",
                              "jsonpath={.spec.ports[0].nodePort}"))
    assert node_port in NODE_PORTS
    body = eventually(lambda: p.curl(f"http://{p.address}:{node_port}/"), 30,
                      "the NodePort on the host")
    assert NGINX in body
    for _ in range(6):
        assert NGINX in p.curl(f"http://{p.address}:{node_port}/")

    # The Ingress over TLS with the Secret's certificate, on the published 443.
    url = f"https://{HOST}/"
    body = eventually(lambda: p.curl(url, "--cacert", str(cert),
                                     "--resolve", p.resolve(HOST, HTTPS_PORT)), 30,
                      "the TLS Ingress on the host")
    assert NGINX in body
    address = p.kubectl("get", "ingress", "web", "-o",
                        "jsonpath={.status.loadBalancer.ingress[0].ip}")
    assert address, "the ingress controller did not publish its address"

    # Pod to pod across the node containers, both ways: the overlay tunnel.
    (pod_1, ip_1), (pod_2, ip_2) = pods[nodes[0]], pods[nodes[1]]
    assert NGINX in p.kubectl("exec", pod_1, "--", "curl", "-s", "--max-time", "5",
                              f"http://{ip_2}/")
    assert NGINX in p.kubectl("exec", pod_2, "--", "curl", "-s", "--max-time", "5",
                              f"http://{ip_1}/")
    # Pod to Service by name, through the node's own cluster DNS.
    assert NGINX in p.kubectl("exec", pod_1, "--", "curl", "-s", "--max-time", "5",
                              "http://web.default.svc.cluster.local/")

    # The published cluster DNS, UDP and TCP.
    cluster_ip = p.kubectl("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
    name = "web.default.svc.cluster.local"
    assert eventually(lambda: p.dig(name) == [cluster_ip], 10, f"dig {name} over UDP")
    assert p.dig(name, "+tcp") == [cluster_ip]
