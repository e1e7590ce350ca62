"""Service traffic end to end on a real cluster: kubectl creates Services, the node
agents' kube-proxy serves them, curl and the exec toolbox reach the pods through them."""

from __future__ import annotations

import subprocess
from collections import Counter

import pytest

from tests.integration.conftest import Kubectl, create_udp_echo_pod, udp_hostname, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def curl(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "3", *extra, url],
                          capture_output=True, text=True)


def serve_hostname(kubectl: Kubectl, name: str, replicas: int) -> list[str]:
    """A Deployment of agnhost serve-hostname (answers with its pod name), all Ready."""
    kubectl("create", "deployment", name, f"--replicas={replicas}", "--port=9376",
            "--image=registry.k8s.io/e2e-test-images/agnhost:2.52", "--", "/agnhost",
            "serve-hostname")
    kubectl("rollout", "status", f"deployment/{name}", "--timeout=30s")
    return [p["metadata"]["name"] for p in kubectl.json("get", "pods", "-l", f"app={name}")["items"]]


def service(kubectl: Kubectl, name: str) -> dict:
    return kubectl.json("get", "svc", name)


def test_cluster_ip_spreads_over_the_pods_and_keeps_the_client_ip(kubectl: Kubectl) -> None:
    pods = serve_hostname(kubectl, "hosts", 3)
    kubectl("expose", "deployment", "hosts", "--port=80", "--target-port=9376")
    ip = service(kubectl, "hosts")["spec"]["clusterIP"]
    seen = Counter(wait_for(lambda: curl(f"http://{ip}/").stdout, what="an answer")
                   for _ in range(12))
    # Each agent rotates over the pods; the kernel spreads connections over the agents.
    assert set(seen) == set(pods) and max(seen.values()) <= 8, seen
    kubectl("run", "client", "--image=busybox", "--", "sleep", "3600")
    wait_for(lambda: kubectl.json("get", "pod", "client")["status"].get("phase") == "Running",
             what="client Running")
    client_ip = kubectl.json("get", "pod", "client")["status"]["podIP"]
    kubectl("create", "deployment", "echo", "--port=8080",
            "--image=registry.k8s.io/e2e-test-images/agnhost:2.52", "--", "/agnhost", "netexec")
    kubectl("rollout", "status", "deployment/echo", "--timeout=30s")
    kubectl("expose", "deployment", "echo", "--port=80", "--target-port=8080")
    echo_ip = service(kubectl, "echo")["spec"]["clusterIP"]
    seen_ip = kubectl("exec", "client", "--", "wget", "-qO-", f"http://{echo_ip}/clientip")
    assert seen_ip.rsplit(":", 1)[0] == client_ip  # as with iptables: no SNAT in-cluster


def test_session_affinity_pins_a_client(kubectl: Kubectl) -> None:
    serve_hostname(kubectl, "sticky", 3)
    kubectl("expose", "deployment", "sticky", "--port=80", "--target-port=9376",
            "--session-affinity=ClientIP")
    ip = service(kubectl, "sticky")["spec"]["clusterIP"]
    answers = {curl(f"http://{ip}/").stdout for _ in range(6)}
    assert len(answers) == 1 and answers != {""}


def test_node_port_and_type_changes_apply_live(kubectl: Kubectl, cluster) -> None:
    pods = serve_hostname(kubectl, "np", 2)
    kubectl("expose", "deployment", "np", "--port=80", "--target-port=9376")
    kubectl("patch", "svc", "np", "-p", '{"spec": {"type": "NodePort"}}')
    port = service(kubectl, "np")["spec"]["ports"][0]["nodePort"]
    net = cluster.config.network
    for n in range(1, cluster.config.nodes + 1):
        answer = wait_for(lambda n=n: curl(f"http://{net.node_ip(n)}:{port}/").stdout,
                          what=f"NodePort on node {n}")
        assert answer in pods
    kubectl("patch", "svc", "np", "-p", '{"spec": {"type": "ClusterIP"}}')
    wait_for(lambda: curl(f"http://{net.node_ip(1)}:{port}/").returncode == 7,
             what="the NodePort closed")


def test_load_balancer_ip_serves(kubectl: Kubectl) -> None:
    pods = serve_hostname(kubectl, "lb", 1)
    kubectl("expose", "deployment", "lb", "--port=8080", "--target-port=9376",
            "--type=LoadBalancer")
    lb_ip = wait_for(lambda: (service(kubectl, "lb")["status"].get("loadBalancer") or {})
                     .get("ingress", [{}])[0].get("ip"), what="an external IP")
    assert lb_ip.startswith("127.200.")
    assert lb_ip in kubectl("get", "svc", "lb")
    assert wait_for(lambda: curl(f"http://{lb_ip}:8080/").stdout, what="LB answers") == pods[0]


def test_no_endpoints_refuses_and_deleted_services_close(kubectl: Kubectl) -> None:
    kubectl("create", "service", "clusterip", "nobody", "--tcp=80:80")
    ip = service(kubectl, "nobody")["spec"]["clusterIP"]
    result = curl(f"http://{ip}/")
    assert result.returncode == 7, result  # refused at once, as kube-proxy's REJECT
    serve_hostname(kubectl, "gone", 1)
    kubectl("expose", "deployment", "gone", "--port=80", "--target-port=9376")
    gone_ip = service(kubectl, "gone")["spec"]["clusterIP"]
    wait_for(lambda: curl(f"http://{gone_ip}/").returncode == 0, what="gone answers")
    kubectl("delete", "svc", "gone")
    wait_for(lambda: curl(f"http://{gone_ip}/").returncode == 7, what="gone refused")


def test_udp_service(kubectl: Kubectl) -> None:
    create_udp_echo_pod(kubectl)
    kubectl("expose", "pod", "udp", "--port=53", "--target-port=8081", "--protocol=UDP")
    ip = service(kubectl, "udp")["spec"]["clusterIP"]
    assert wait_for(lambda: udp_hostname(ip, 53, 1), what="a UDP answer") == b"udp"
