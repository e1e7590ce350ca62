"""The ingress-nginx controller pod of the session cluster, as seed 004's debugging section
uses it: `kubectl logs -n ingress-nginx -l app.kubernetes.io/name=ingress-nginx` (and
`deploy/ingress-nginx-controller`, `-f`) shows the controller's banner and start-up lines,
then the access line of each request through the ingress; the pod is Ready by its
/healthz probe, and curl to its IP reaches the ingress (its 404 page for an unknown
host), logged with the client's own address."""

from __future__ import annotations

import select
import subprocess
import uuid

import pytest

from kubeloop import Cluster
from tests.integration.conftest import Kubectl, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

NS = ("-n", "ingress-nginx")
SELECTOR = "app.kubernetes.io/component=controller"  # not the admission Jobs' pods


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "5", *args], capture_output=True,
                          text=True, timeout=10)


def controller_ip(kubectl: Kubectl) -> str:
    kubectl("wait", *NS, "--for=condition=Ready", "pod", "-l", SELECTOR, "--timeout=30s",
            timeout=35)
    return kubectl(*NS, "get", "pods", "-l", SELECTOR, "-o",
                   "jsonpath={.items[0].status.podIP}")


def access_line(logs: str, path: str) -> str | None:
    return next((line for line in logs.splitlines() if f'"GET {path} HTTP/1.1"' in line),
                None)


def test_logs_show_the_banner_then_requests_through_the_ingress(cluster: Cluster) -> None:
    kubectl = Kubectl(cluster)
    controller_ip(kubectl)
    logs = kubectl(*NS, "logs", "deploy/ingress-nginx-controller")
    lines = logs.splitlines()
    assert lines[:3] == ["-" * 79, "NGINX Ingress controller", "  Release:       v1.11.3"]
    assert "successfully acquired lease ingress-nginx/ingress-nginx-leader" in logs
    assert '"Backend successfully reloaded"' in logs

    path = f"/seed-004-{uuid.uuid4().hex[:8]}"
    ip = cluster.config.network.ingress_ip
    answer = curl("-o", "/dev/null", "-w", "%{http_code}", "--resolve",
                  f"nobody.example.com:80:{ip}", f"http://nobody.example.com{path}")
    assert answer.stdout == "404", answer.stderr
    # The selector form shows the last 10 lines, as kubectl does for -l.
    line = wait_for(lambda: access_line(kubectl(*NS, "logs", "-l", SELECTOR), path),
                    timeout=10, what="the request's access line in the controller's log")
    assert f'"GET {path} HTTP/1.1" 404 ' in line and "[upstream-default-backend] [] " in line


def test_curl_to_the_pod_ip_reaches_the_ingress(cluster: Cluster) -> None:
    kubectl = Kubectl(cluster)
    pod_ip = controller_ip(kubectl)
    path = f"/pod-ip-{uuid.uuid4().hex[:8]}"
    follow = subprocess.Popen(["kubectl", *NS, "logs", "-f", "--tail=0",
                               "deploy/ingress-nginx-controller"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=cluster.env)
    try:
        page = curl("-i", f"http://{pod_ip}{path}")
        assert page.stdout.startswith("HTTP/1.1 404 Not Found\n"), page  # text mode
        assert "<center>nginx</center>" in page.stdout, page.stdout
        health = curl(f"http://{pod_ip}:10254/healthz")
        assert health.stdout == "ok", health
        assert follow.stdout is not None
        # -f: the line arrives while following.
        readable, _, _ = select.select([follow.stdout], [], [], 10)
        assert readable, "kubectl logs -f showed nothing within 10 s"
        line = follow.stdout.readline()
        assert f'"GET {path} HTTP/1.1" 404 ' in line, line
        # The ingress saw the client, not the controller pod the request went through.
        assert not line.startswith(f"{pod_ip} "), line
    finally:
        follow.kill()
        follow.wait(timeout=5)
