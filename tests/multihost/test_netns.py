"""Many hosts as network namespaces (conftest.py): the control plane (apiserver and
ingress controller) in one, three nodes that ``kubeloop join`` it in three others, all on
one bridge with addresses of their own, so pods of different nodes reach each other only
through the nodes' tunnels. One cluster for the module; the tests run in order: traffic
across nodes, then a node's cable pulled and plugged back, then the apiserver killed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubeloop.config import ClusterConfig
from tests.integration.conftest import wait_for
from tests.multihost.conftest import Host, Switch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.52"
JOIN = re.compile(r"kubeloop join --server (\S+) --token (\S+) --ca-cert-hash (\S+)")
HOSTNAME = "web.multihost.test"


@dataclass
class MultiHost:
    """The running cluster as the tests see it."""

    switch: Switch
    api: Host
    nodes: list[Host]
    kubeconfig: Path
    config: ClusterConfig  # the control plane's
    logs: dict[str, Path]  # node namespace -> its agent's log
    env: dict[str, str]

    def kubectl_run(self, *args: str, input: str | None = None, timeout: float = 30
                    ) -> subprocess.CompletedProcess[str]:
        return self.api.run("kubectl", "--kubeconfig", str(self.kubeconfig), *args,
                            input=input, timeout=timeout, env=self.env)

    def kubectl(self, *args: str, input: str | None = None) -> str:
        done = self.kubectl_run(*args, input=input)
        if done.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} exited {done.returncode}:\n"
                        f"{done.stderr}{done.stdout}")
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def host_of(self) -> dict[str, Host]:
        """Node name -> its host, by InternalIP."""
        by_address = {h.address: h for h in self.nodes}
        return {n["metadata"]["name"]: by_address[internal_ip(n)]
                for n in self.json("get", "nodes")["items"]}

    def ready(self) -> dict[str, bool]:
        return {n["metadata"]["name"]: any(c["type"] == "Ready" and c["status"] == "True"
                                           for c in n["status"]["conditions"])
                for n in self.json("get", "nodes")["items"]}

    def web_pods(self) -> list[dict]:
        return self.json("get", "pods", "-l", "app=web")["items"]

    def carried(self, node: Host) -> int:
        """TCP connections node's tunnel last logged having carried."""
        found = re.findall(r"tunnel: carried (\d+) tcp", self.logs[node.netns].read_text())
        return int(found[-1]) if found else 0


def internal_ip(node: dict) -> str:
    return next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")


@pytest.fixture(scope="module")
def cluster(switch: Switch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MultiHost]:
    tmp = tmp_path_factory.mktemp("multihost")
    path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "KUBELOOP_HOME": str(tmp / "home"),
           "KUBECACHEDIR": str(tmp / "kubecache"),
           "PYTHONPATH": os.pathsep.join([*path, str(ROOT)])}
    api = switch.plug("api", 1)
    nodes = [switch.plug(f"node{i}", 10 + i) for i in (1, 2, 3)]
    kubeloop = [sys.executable, "-m", "kubeloop"]
    name = "multihost"
    up = api.run(*kubeloop, "up", "--name", name, "--nodes", "0", "--data-dir",
                 str(tmp / "control-plane"), "--advertise-address", api.address,
                 "--dns-upstream", "none", env=env, timeout=60)
    agents: list[subprocess.Popen[bytes]] = []
    try:
        found = JOIN.search(up.stdout)
        assert up.returncode == 0 and found, f"kubeloop up:\n{up.stdout}{up.stderr}"
        url, token, ca_hash = found.groups()
        logs = {node.netns: tmp / f"{node.netns}.log" for node in nodes}
        for node in nodes:
            with open(logs[node.netns], "wb") as log:
                agents.append(node.popen(
                    *kubeloop, "join", "--server", url, "--token", token, "--ca-cert-hash",
                    ca_hash, "--address", node.address, "--data-dir", str(tmp / node.netns),
                    log=log, env=env))
        config = ClusterConfig.load(tmp / "control-plane")
        multihost = MultiHost(switch, api, nodes, config.kubeconfig, config, logs, env)
        wait_for(lambda: sum(multihost.ready().values()) == len(nodes), timeout=30,
                 what="the three joined nodes Ready")
        yield multihost
    finally:
        for agent in agents:
            agent.send_signal(signal.SIGTERM)
        api.run(*kubeloop, "down", "--name", name, env=env, timeout=60)  # logs stay in tmp
        for agent in agents:
            try:
                agent.wait(15)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()


def exec_in(cluster: MultiHost, pod: str, *command: str) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl_run("exec", pod, "--", *command)


def wget(cluster: MultiHost, pod: str, url: str) -> str:
    done = exec_in(cluster, pod, "wget", "-qO-", "-T", "5", url)
    assert done.returncode == 0, f"wget {url} from {pod}: {done.stderr}{done.stdout}"
    return done.stdout


def test_nodes_join_from_their_own_hosts(cluster: MultiHost) -> None:
    nodes = cluster.json("get", "nodes")["items"]
    assert sorted(internal_ip(n) for n in nodes) == [h.address for h in cluster.nodes]
    wide = cluster.kubectl("get", "nodes", "-o", "wide")
    assert len(re.findall(r"\sReady\s.*\s10\.231\.0\.1[123]\s", wide)) == 3, wide
    # auto: node addresses off loopback -> every agent carries other nodes' pods by tunnel
    for node in cluster.nodes:
        wait_for(lambda: "overlay tunnel, 3 node routes" in
                 cluster.logs[node.netns].read_text(), timeout=10,
                 what=f"{node.netns}'s agent to choose the tunnel")


@pytest.fixture(scope="module")
def web(cluster: MultiHost) -> dict[str, list[dict]]:
    """A busybox client pinned to the first node, then an agnhost Deployment behind a
    NodePort Service with a pod on every node; the web pods by node namespace."""
    node_of = {h.netns: n for n, h in cluster.host_of().items()}
    cluster.kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
        "spec": {"nodeName": node_of[cluster.nodes[0].netns], "containers": [
            {"name": "c", "image": "busybox", "args": ["sleep", "3600"]}]}}))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/client", "--timeout=30s")
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas_for_every_node(cluster),
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                     {"name": "netexec", "image": AGNHOST,
                      "args": ["netexec", "--http-port=8080"]}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"type": "NodePort", "selector": {"app": "web"},
                        "ports": [{"port": 80, "targetPort": 8080}]}}
    cluster.kubectl("create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": [deployment, service]}))
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    return pods_by_host(cluster)


def replicas_for_every_node(cluster: MultiHost) -> int:
    """Enough replicas that the scheduler, which fills the node with the fewest pods first,
    puts one on every node: the add-on pods all went to the node that joined first."""
    counts = Counter(p["spec"].get("nodeName") for p in cluster.json("get", "pods", "-A")["items"])
    per_node = [counts[name] for name in cluster.host_of()]
    return len(per_node) * max(per_node) - sum(per_node) + len(per_node)


def pods_by_host(cluster: MultiHost) -> dict[str, list[dict]]:
    """The scheduled web pods by host (a replacement may not be scheduled yet)."""
    host_of = cluster.host_of()
    by_host: dict[str, list[dict]] = {h.netns: [] for h in cluster.nodes}
    for pod in cluster.web_pods():
        if pod["spec"].get("nodeName"):
            by_host[host_of[pod["spec"]["nodeName"]].netns].append(pod)
    return by_host


def pod_ip(cluster: MultiHost, name: str) -> str:
    return cluster.json("get", "pod", name)["status"]["podIP"]


def test_pod_to_pod_across_nodes_keeps_the_client_ip(cluster: MultiHost,
                                                     web: dict[str, list[dict]]) -> None:
    spread = {netns: len(pods) for netns, pods in web.items()}
    assert all(spread.values()), f"web pods by node: {spread}\n" + cluster.kubectl(
        "get", "pods", "-A", "-o", "wide")
    client = pod_ip(cluster, "client")
    for node in cluster.nodes[1:]:
        before = cluster.carried(node)
        target = web[node.netns][0]["status"]["podIP"]
        assert wget(cluster, "client", f"http://{target}:8080/clientip").rsplit(":", 1)[0] \
            == client
        wait_for(lambda: cluster.carried(node) > before, timeout=5,
                 what=f"{node.netns}'s tunnel to count the connection")


def test_service_and_dns_from_a_pod(cluster: MultiHost, web: dict[str, list[dict]]) -> None:
    cluster_ip = cluster.json("get", "service", "web")["spec"]["clusterIP"]
    looked_up = exec_in(cluster, "client", "nslookup", "web")
    assert looked_up.returncode == 0 and cluster_ip in looked_up.stdout, looked_up
    names = {wget(cluster, "client", "http://web/hostname") for _ in range(12)}
    remote = {p["metadata"]["name"] for node in cluster.nodes[1:] for p in web[node.netns]}
    assert names & remote, f"the Service reached only {names}"


def hostnames(host: Host, url: str, count: int, *extra: str) -> Counter[str]:
    """What ``count`` requests from ``host`` got back (errors counted as such)."""
    seen: Counter[str] = Counter()
    for _ in range(count):
        done = host.curl(url, *extra)
        seen[done.stdout if done.returncode == 0 else f"error: {done.stderr.strip()}"] += 1
    return seen


def node_port(cluster: MultiHost) -> int:
    return cluster.json("get", "service", "web")["spec"]["ports"][0]["nodePort"]


def test_node_port_on_a_node_address(cluster: MultiHost, web: dict[str, list[dict]]) -> None:
    node1 = cluster.nodes[0]
    seen = hostnames(cluster.api, f"http://{node1.address}:{node_port(cluster)}/hostname", 12)
    names = {p["metadata"]["name"] for pods in web.values() for p in pods}
    assert set(seen) <= names, seen
    assert set(seen) - {p["metadata"]["name"] for p in web[node1.netns]}, \
        f"node 1's NodePort reached only its own pods: {seen}"


def test_ingress_reaches_pods_on_every_node(cluster: MultiHost,
                                            web: dict[str, list[dict]]) -> None:
    cluster.kubectl("create", "ingress", "web", f"--rule={HOSTNAME}/*=web:80")
    resolve = f"{HOSTNAME}:80:{cluster.config.network.ingress_ip}"
    url = f"http://{HOSTNAME}/hostname"
    names = {p["metadata"]["name"] for pods in web.values() for p in pods}
    wait_for(lambda: cluster.api.curl(url, "--resolve", resolve).stdout in names, timeout=10,
             what="the Ingress to answer from a web pod")
    seen = hostnames(cluster.api, url, 12, "--resolve", resolve)
    assert set(seen) <= names, seen
    on = {p["metadata"]["name"]: netns for netns, pods in web.items() for p in pods}
    assert len({on[name] for name in seen}) >= 2, f"the Ingress reached one node only: {seen}"


def test_a_node_cut_off_goes_not_ready_and_its_pods_move(
        cluster: MultiHost, web: dict[str, list[dict]]) -> None:
    node2 = cluster.nodes[1]
    name = next(n for n, h in cluster.host_of().items() if h is node2)
    cluster.switch.cable(node2, up=False)
    wait_for(lambda: not cluster.ready()[name], timeout=20, what=f"{name} NotReady")
    gone = {p["metadata"]["name"] for p in web[node2.netns]}
    replicas = len(cluster.web_pods())

    def moved() -> bool:
        pods = pods_by_host(cluster)
        running = [p for ps in pods.values() for p in ps if p["status"].get("phase") == "Running"
                   and "deletionTimestamp" not in p["metadata"]]
        return not pods[node2.netns] and len(running) == replicas
    wait_for(moved, timeout=30, what=f"the web pods of {name} recreated on the other nodes")
    assert not gone & {p["metadata"]["name"] for p in cluster.web_pods()}
    names = {wget(cluster, "client", "http://web/hostname") for _ in range(12)}
    assert not names & gone, names
    # Cut off, node 2's agent keeps its pods serving (it cannot know they were evicted).
    for pod in web[node2.netns]:
        answer = node2.curl(f"http://{pod['status']['podIP']}:8080/hostname")
        assert answer.stdout == pod["metadata"]["name"], answer


def test_the_node_plugged_back_heals_without_duplicates(
        cluster: MultiHost, web: dict[str, list[dict]]) -> None:
    node2 = cluster.nodes[1]
    name = next(n for n, h in cluster.host_of().items() if h is node2)
    cluster.switch.cable(node2, up=True)
    wait_for(lambda: cluster.ready()[name], timeout=20, what=f"{name} Ready again")
    old = web[node2.netns]

    def stopped(pod: dict) -> bool:  # node 2's agent stopped the pod deleted meanwhile
        return node2.curl(f"http://{pod['status']['podIP']}:8080/hostname").returncode != 0
    wait_for(lambda: all(map(stopped, old)), timeout=15,
             what="node 2 to stop the pods evicted while it was cut off")
    pods = cluster.web_pods()
    deployment = cluster.json("get", "deployment", "web")
    replicas = deployment["spec"]["replicas"]
    assert len(pods) == replicas
    assert not {p["metadata"]["name"] for p in old} & {p["metadata"]["name"] for p in pods}
    status = deployment["status"]
    assert (status["replicas"], status["readyReplicas"]) == (replicas, replicas)


def test_the_data_plane_serves_without_the_apiserver(cluster: MultiHost) -> None:
    by_host = pods_by_host(cluster)
    names = {p["metadata"]["name"] for pods in by_host.values() for p in pods}
    node2 = cluster.nodes[1]
    assert not by_host[node2.netns]  # its pods moved: all it serves crosses a tunnel
    port = node_port(cluster)
    resolve = f"{HOSTNAME}:80:{cluster.config.network.ingress_ip}"
    killed = cluster.api.run(sys.executable, "-m", "kubeloop", "process", "kill", "apiserver",
                             "--name", "multihost", env=cluster.env)  # SIGKILL
    assert killed.returncode == 0, killed.stderr
    assert cluster.kubectl_run("get", "nodes", "--request-timeout=2s").returncode != 0
    for node in cluster.nodes:
        seen = hostnames(cluster.api, f"http://{node.address}:{port}/hostname", 8)
        assert set(seen) <= names, f"NodePort on {node.netns}: {seen}"
    seen = hostnames(cluster.api, f"http://{HOSTNAME}/hostname", 8, "--resolve", resolve)
    assert set(seen) <= names, f"Ingress: {seen}"
