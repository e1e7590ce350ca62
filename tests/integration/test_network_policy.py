"""NetworkPolicy enforced on real connections (calico, the default CNI): ingress at the
destination pod's listener by the true source address, egress when a pod connects; a
denied connection is dropped, so the client times out as seed 003 shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.integration.conftest import Kubectl, create_udp_echo_pod, udp_hostname, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def pod(kubectl: Kubectl, name: str, image: str, labels: dict, *command: str) -> str:
    container: dict = {"name": "main", "image": image}
    if command:
        container["command"] = list(command)
    else:
        container["ports"] = [{"containerPort": 80}]
    kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [container]}}))
    return wait_for(lambda: (s := kubectl.json("get", "pod", name)["status"]).get("phase")
                    == "Running" and s.get("podIP"), timeout=20, what=f"{name} Running")


def policy(kubectl: Kubectl, name: str, spec: dict) -> None:
    kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name}, "spec": spec}))


def kubeloop(kubectl: Kubectl, *args: str) -> subprocess.CompletedProcess[str]:
    """A kubeloop command against the test's cluster and namespace."""
    cluster = kubectl.cluster
    return subprocess.run(
        [sys.executable, "-m", "kubeloop", *args, "--name", cluster.name,
         "-n", kubectl.namespace or "default"],
        env={**os.environ, "KUBELOOP_HOME": str(cluster.registry.home)},
        capture_output=True, text=True, timeout=30)


def policy_check(kubectl: Kubectl, *args: str) -> subprocess.CompletedProcess[str]:
    return kubeloop(kubectl, "policy", "check", *args)


def reaches(kubectl: Kubectl, client: str, ip: str) -> bool:
    result = kubectl.run("exec", client, "--", "wget", "-q", "-T", "1", "-O", "-",
                         f"http://{ip}/", check=False)
    if result.returncode == 0:
        return True
    assert "download timed out" in result.stderr, result.stderr  # dropped, not refused
    return False


def test_ingress_and_egress_policies_on_real_connections(kubectl: Kubectl) -> None:
    web = pod(kubectl, "web", "nginx", {"app": "web"})
    frontend = pod(kubectl, "frontend", "busybox", {"role": "frontend"}, "sleep", "3600")
    other = pod(kubectl, "other", "busybox", {"role": "other"}, "sleep", "3600")
    assert frontend and other
    assert reaches(kubectl, "frontend", web) and reaches(kubectl, "other", web)

    policy(kubectl, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    wait_for(lambda: not reaches(kubectl, "other", web), what="default deny applied")
    assert not reaches(kubectl, "frontend", web)

    check = policy_check(kubectl, "frontend", "web", "80")
    assert check.returncode == 1 and "DENIED at ingress" in check.stdout
    assert "isolated by default-deny" in check.stdout

    policy(kubectl, "allow-frontend", {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}],
                     "ports": [{"port": 80}]}]})
    wait_for(lambda: reaches(kubectl, "frontend", web), what="frontend allowed")
    assert not reaches(kubectl, "other", web)
    check = policy_check(kubectl, f"{kubectl.namespace}/frontend", "web", "80/tcp")
    assert check.returncode == 0 and "ingress: allowed by allow-frontend" in check.stdout
    ns = kubectl.namespace
    dropped = kubeloop(kubectl, "flows", "--verdict", "dropped").stdout
    assert f"{ns}/other ({other}:" in dropped and f"-> {ns}/web ({web}:80) TCP DROPPED" \
        in dropped and "isolated by default-deny" in dropped, dropped
    forwarded = kubeloop(kubectl, "flows", "--verdict", "forwarded", "--last", "50").stdout
    assert f"{ns}/frontend ({frontend}:" in forwarded and "allowed by allow-frontend" \
        in forwarded, forwarded

    # Through a Service the endpoint still sees the client pod's IP, so the same holds.
    kubectl("expose", "pod", "web", "--port=80")
    cluster_ip = kubectl.json("get", "svc", "web")["spec"]["clusterIP"]
    assert reaches(kubectl, "frontend", cluster_ip)
    assert not reaches(kubectl, "other", cluster_ip)

    kubectl("delete", "networkpolicy", "default-deny", "allow-frontend")
    wait_for(lambda: reaches(kubectl, "other", web), what="policies removed")

    policy(kubectl, "no-egress", {"podSelector": {"matchLabels": {"role": "frontend"}},
                                  "policyTypes": ["Egress"]})
    wait_for(lambda: not reaches(kubectl, "frontend", web), what="egress denied")
    assert not reaches(kubectl, "frontend", cluster_ip)  # judged after the endpoint is picked
    assert reaches(kubectl, "other", web)
    policy(kubectl, "egress-to-web", {
        "podSelector": {"matchLabels": {"role": "frontend"}}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]})
    wait_for(lambda: reaches(kubectl, "frontend", cluster_ip), what="egress to web allowed")
    assert reaches(kubectl, "frontend", web)


def test_udp_datagrams_are_dropped_when_denied(kubectl: Kubectl) -> None:
    ip = create_udp_echo_pod(kubectl)

    def answer() -> bytes:
        return udp_hostname(ip, 8081, 0.3)

    assert wait_for(answer, what="a UDP answer") == b"udp"
    policy(kubectl, "deny-udp", {"podSelector": {"matchLabels": {"app": "udp"}},
                                 "policyTypes": ["Ingress"]})
    wait_for(lambda: answer() == b"", what="datagrams dropped")
    policy(kubectl, "allow-udp", {"podSelector": {"matchLabels": {"app": "udp"}},
                                  "ingress": [{"ports": [{"port": 8081, "protocol": "UDP"}]}]})
    assert wait_for(answer, what="datagrams allowed again") == b"udp"
