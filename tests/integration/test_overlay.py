"""The overlay in tunnel mode on one host: a 2-node cluster started with
``overlay="tunnel"``, so every connection to a pod of the other node goes through that
node's tunnel (port 8472) although the loopback is shared. Pods are pinned to nodes;
the destination must see the client pod's IP, Services, NodePorts, UDP and NetworkPolicy
must work across nodes, and node 2's log must show what its tunnel carried."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeloop import Cluster
from kubeloop.config import Dns, Timing
from tests.integration.conftest import Kubectl, udp_hostname, wait_for

pytestmark = pytest.mark.timeout(120)

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.52"


@pytest.fixture(scope="module")
def tunnel_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("kubeloop-overlay")
    timing = Timing(heartbeat_interval=0.5, node_grace_period=2.0, pod_eviction_timeout=1.0)
    with Cluster(nodes=2, home=home, timing=timing, dns=Dns(upstreams=()), overlay="tunnel",
                 policy_deny="reject") as c:
        yield c


@pytest.fixture(scope="module")
def kubectl(tunnel_cluster: Cluster) -> Iterator[Kubectl]:
    """One namespace for the module: server on node 2, clients on node 1."""
    k = Kubectl(tunnel_cluster, "overlay")
    Kubectl(tunnel_cluster)("create", "namespace", "overlay")
    node = tunnel_cluster.config.node_name
    pods = [_pod("server", node(2), AGNHOST, ["netexec", "--http-port=8080", "--udp-port=8081"],
                 {"app": "server"}),
            _pod("allowed", node(1), "busybox", ["sleep", "3600"], {"access": "yes"}),
            _pod("denied", node(1), "busybox", ["sleep", "3600"], {"access": "no"})]
    k("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                               "items": pods}))
    k("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "server"},
        "spec": {"type": "NodePort", "selector": {"app": "server"}, "ports": [
            {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
            {"name": "udp", "port": 81, "targetPort": 8081, "protocol": "UDP"}]}}))
    k("wait", "--for=condition=Ready", "pod", "--all", "--timeout=30s")
    yield k


def _pod(name: str, node: str, image: str, args: list[str], labels: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": image,
                                                      "args": args}]}}


def pod_ip(k: Kubectl, name: str) -> str:
    return k.json("get", "pod", name)["status"]["podIP"]


def carried(c: Cluster, node: int) -> tuple[int, int]:
    """The last (tcp, udp) counts node N's tunnel logged."""
    text = (Path(c.config.logs) / f"node-{node}.log").read_text()
    found = re.findall(r"tunnel: carried (\d+) tcp connections and (\d+) udp flows", text)
    return tuple(map(int, found[-1])) if found else (0, 0)  # type: ignore[return-value]


def test_pod_to_pod_keeps_the_client_ip(tunnel_cluster: Cluster, kubectl: Kubectl) -> None:
    server, client = pod_ip(kubectl, "server"), pod_ip(kubectl, "allowed")
    assert server.split(".")[2] == "2" and client.split(".")[2] == "1"
    before = carried(tunnel_cluster, 2)[0]
    out = kubectl("exec", "allowed", "--", "wget", "-qO-", "-T", "5",
                  f"http://{server}:8080/clientip")
    assert out.rsplit(":", 1)[0] == client
    wait_for(lambda: carried(tunnel_cluster, 2)[0] > before, timeout=5,
             what="node 2's tunnel to count the connection")


def test_service_with_the_endpoint_on_another_node(kubectl: Kubectl) -> None:
    """Whichever node's kube-proxy takes the ClusterIP connection (they share it on one
    host), the pod on node 2 sees the client pod."""
    ip = kubectl.json("get", "service", "server")["spec"]["clusterIP"]
    out = kubectl("exec", "allowed", "--", "wget", "-qO-", "-T", "5", f"http://{ip}/clientip")
    assert out.rsplit(":", 1)[0] == pod_ip(kubectl, "allowed")


def test_node_port_on_node_1_reaches_the_pod_on_node_2(tunnel_cluster: Cluster,
                                                       kubectl: Kubectl) -> None:
    port = next(p["nodePort"] for p in kubectl.json("get", "service", "server")["spec"]["ports"]
                if p["name"] == "http")
    node1 = tunnel_cluster.config.network.node_ip(1)
    with urllib.request.urlopen(f"http://{node1}:{port}/hostname", timeout=5) as resp:
        assert resp.read() == b"server"


def test_udp_across_nodes(tunnel_cluster: Cluster, kubectl: Kubectl) -> None:
    before = carried(tunnel_cluster, 2)[1]
    server = pod_ip(kubectl, "server")
    out = kubectl.run("exec", "allowed", "--", "sh", "-c",
                      f"echo clientip | nc -u -w 2 {server} 8081")
    assert out.stdout.strip().rsplit(":", 1)[0] == pod_ip(kubectl, "allowed"), out
    # A NodePort on node 1 (a ClusterIP may be answered by node 2's own kube-proxy).
    port = next(p["nodePort"] for p in kubectl.json("get", "service", "server")["spec"]["ports"]
                if p["name"] == "udp")
    assert udp_hostname(tunnel_cluster.config.network.node_ip(1), port, 3) == b"server"
    wait_for(lambda: carried(tunnel_cluster, 2)[1] >= before + 2, timeout=5,
             what="node 2's tunnel to count both UDP flows")


POLICY = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "only-allowed"},
          "spec": {"podSelector": {"matchLabels": {"app": "server"}}, "policyTypes": ["Ingress"],
                   "ingress": [{"from": [{"podSelector": {"matchLabels": {"access": "yes"}}}]}]}}


def test_network_policy_across_nodes(kubectl: Kubectl) -> None:
    server = pod_ip(kubectl, "server")

    def fetch(client: str) -> subprocess.CompletedProcess[str]:
        return kubectl.run("exec", client, "--", "wget", "-qO-", "-T", "3",
                           f"http://{server}:8080/hostname", check=False)
    assert fetch("denied").returncode == 0  # before the policy selects the server
    kubectl("create", "-f", "-", input=json.dumps(POLICY))
    try:
        wait_for(lambda: fetch("denied").returncode != 0, timeout=10,
                 what="the policy to deny the other node's pod")
        allowed = fetch("allowed")
        assert allowed.returncode == 0 and allowed.stdout == "server", allowed
    finally:
        kubectl("delete", "networkpolicy", "only-allowed")
