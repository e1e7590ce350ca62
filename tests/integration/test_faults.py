"""Faults, as the node-agent issue states them: a SIGKILLed node agent makes its node
NotReady and its pods move; started again it re-registers without duplicates; a quick
agent restart keeps its pods; pods keep serving while the apiserver is down and the
agents resync when it returns.

These tests kill processes, so they run on their own 3-node cluster (own KUBELOOP_HOME,
short timing), never the shared session one. Each test leaves every process running and
every node Ready, and deletes its namespace.
"""

from __future__ import annotations

import http.client
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kubeloop import Cluster
from kubeloop.config import Dns, Timing
from tests.integration.conftest import Kubectl, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

# The grace period leaves a quick stop + start (about 1 s, more on a loaded machine) room
# to finish before the node would turn NotReady.
TIMING = Timing(heartbeat_interval=0.5, node_grace_period=4.0, pod_eviction_timeout=1.0)
_names = itertools.count()


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("kubeloop-faults")
    with Cluster(nodes=3, home=home, timing=TIMING, dns=Dns(upstreams=())) as c:
        yield c


@pytest.fixture
def kubectl(faulty: Cluster) -> Iterator[Kubectl]:
    namespace = f"faults{next(_names)}"
    Kubectl(faulty)("create", "namespace", namespace)
    yield Kubectl(faulty, namespace)
    for name, pid in faulty.processes().items():  # whatever the test left down comes back
        if pid is None:
            faulty.start_process(name)
    Kubectl(faulty).run("delete", "namespace", namespace, "--wait=false", check=False)


# --- helpers ----------------------------------------------------------------------------


def deployment(name: str, replicas: int) -> str:
    labels = {"app": name}
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                     "name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}}},
    })


def serves(ip: str) -> bool:
    """The pod answers nginx's welcome page on ip:80 (no proxy in between)."""
    conn = http.client.HTTPConnection(ip, 80, timeout=1)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        return response.status == 200 and b"Welcome to nginx!" in response.read()
    except OSError:
        return False
    finally:
        conn.close()


def pods(kubectl: Kubectl, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kubectl.json("get", "pods", "-l", f"app={app}")["items"]
    return items


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def settled(kubectl: Kubectl, app: str, replicas: int) -> list[dict[str, Any]] | None:
    """The Deployment's pods once it has exactly ``replicas``, all Ready, none going away,
    every one with its own IP; else None."""
    found = pods(kubectl, app)
    if len(found) != replicas or any(p["metadata"].get("deletionTimestamp") for p in found):
        return None
    if not all(is_ready(p) and p["status"].get("podIP") for p in found):
        return None
    available = kubectl.json("get", "deployment", app).get("status", {}).get("availableReplicas")
    return found if available == replicas else None


def node_states(kubectl: Kubectl) -> dict[str, str]:
    """``kubectl get nodes`` as name -> STATUS column."""
    rows = kubectl("get", "nodes", "--no-headers").splitlines()
    return {row.split()[0]: row.split()[1] for row in rows}


def ready_since(kubectl: Kubectl, node: str) -> str:
    """When the node's Ready condition last changed."""
    conditions = kubectl.json("get", "node", node)["status"]["conditions"]
    ready = next(c for c in conditions if c["type"] == "Ready")
    return f"{ready['status']} since {ready['lastTransitionTime']}"


def assert_runs_once_each(found: list[dict[str, Any]]) -> None:
    ips = [p["status"]["podIP"] for p in found]
    assert len(set(ips)) == len(ips), f"pods share an IP: {sorted(ips)}"
    assert all(serves(ip) for ip in ips), [ip for ip in ips if not serves(ip)]


def restarts(pod: dict[str, Any]) -> int:
    return sum(s.get("restartCount", 0) for s in pod["status"].get("containerStatuses") or [])


def busiest_node(found: list[dict[str, Any]]) -> str:
    nodes = [p["spec"]["nodeName"] for p in found]
    return max(sorted(set(nodes)), key=nodes.count)


def process_of(cluster: Cluster, node_name: str) -> str:
    return cluster.node_process(int(node_name.rsplit("-", 1)[1]))


# --- the tests ----------------------------------------------------------------------------


def test_killed_agent_goes_not_ready_its_pods_move_and_it_comes_back_clean(
        faulty: Cluster, kubectl: Kubectl) -> None:
    kubectl("create", "-f", "-", input=deployment("web", 6))
    before = wait_for(lambda: settled(kubectl, "web", 6), timeout=15, what="6 pods Ready")
    node = busiest_node(before)
    victims = {p["metadata"]["name"]: p["status"]["podIP"] for p in before
               if p["spec"]["nodeName"] == node}
    process = process_of(faulty, node)

    faulty.kill_process(process)
    assert faulty.processes()[process] is None
    assert not any(serves(ip) for ip in victims.values())  # the pods died with the agent

    wait_for(lambda: node_states(kubectl)[node] == "NotReady", timeout=6,
             what=f"{node} NotReady")
    moved = wait_for(lambda: (found := settled(kubectl, "web", 6)) and
                     not {p["metadata"]["name"] for p in found} & set(victims) and found,
                     timeout=15, what="the evicted pods replaced on other nodes")
    assert node not in {p["spec"]["nodeName"] for p in moved}
    assert_runs_once_each(moved)
    assert node_states(kubectl)[node] == "NotReady"  # nothing restarted the agent

    faulty.start_process(process)
    assert node_states(kubectl)[node] == "Ready"
    time.sleep(3 * TIMING.heartbeat_interval)  # room for a resurrection to show
    after = settled(kubectl, "web", 6)
    assert after is not None, kubectl("get", "pods", "-o", "wide")
    assert {p["metadata"]["uid"] for p in after} == {p["metadata"]["uid"] for p in moved}
    assert_runs_once_each(after)
    assert not any(serves(ip) for ip in victims.values()), "an evicted pod came back"


def test_quick_agent_restart_keeps_its_pods(faulty: Cluster, kubectl: Kubectl) -> None:
    kubectl("create", "-f", "-", input=deployment("keep", 6))
    before = wait_for(lambda: settled(kubectl, "keep", 6), timeout=15, what="6 pods Ready")
    node = busiest_node(before)
    mine = {p["metadata"]["name"]: p for p in before if p["spec"]["nodeName"] == node}
    process = process_of(faulty, node)
    ready_before = ready_since(kubectl, node)

    began = time.monotonic()
    faulty.stop_process(process)
    assert not any(serves(p["status"]["podIP"]) for p in mine.values())
    # Bound while the agent is away, and listed first: it must not take an old pod's IP.
    kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "aaa-newcomer"},
        "spec": {"nodeName": node, "containers": [{"name": "web", "image": "nginx"}]}}))
    faulty.start_process(process)
    assert time.monotonic() - began < TIMING.node_grace_period, "too slow to stay Ready"

    def reconciled() -> list[dict[str, Any]] | None:
        found = settled(kubectl, "keep", 6)
        return found if found and all(serves(p["status"]["podIP"]) for p in found) else None

    after = wait_for(reconciled, timeout=10, what="the same pods serving again")
    assert {p["metadata"]["uid"] for p in after} == {p["metadata"]["uid"] for p in before}
    ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in after}
    assert {name: ips[name] for name in mine} == {n: p["status"]["podIP"] for n, p in mine.items()}
    newcomer = wait_for(lambda: (p := kubectl.json("get", "pod", "aaa-newcomer")) and
                        is_ready(p) and p, what="the newcomer Ready")
    assert_runs_once_each(after + [newcomer])
    for pod in after:
        old = mine.get(pod["metadata"]["name"])
        if old is None:
            assert restarts(pod) == 0  # pods on other nodes were not touched
            continue
        assert pod["spec"]["nodeName"] == node
        # Its containers did restart with the agent (as with a rebooted kind node): once.
        assert restarts(pod) == restarts(old) + 1
        status = pod["status"]["containerStatuses"][0]
        assert "running" in status["state"] and "terminated" in status["lastState"]
    assert ready_since(kubectl, node) == ready_before, f"{node} went NotReady meanwhile"


def test_a_pod_deleted_while_its_agent_is_down_stays_gone(
        faulty: Cluster, kubectl: Kubectl) -> None:
    kubectl("create", "-f", "-", input=deployment("gone", 3))
    before = wait_for(lambda: settled(kubectl, "gone", 3), timeout=15, what="3 pods Ready")
    victim = before[0]
    node, name, ip = victim["spec"]["nodeName"], victim["metadata"]["name"], \
        victim["status"]["podIP"]
    process = process_of(faulty, node)

    faulty.stop_process(process)
    kubectl("delete", "pod", name, "--wait=false")  # graceful: the agent must finish it
    faulty.start_process(process)
    wait_for(lambda: name not in {p["metadata"]["name"] for p in pods(kubectl, "gone")},
             timeout=10, what=f"{name} deleted by its returning agent")
    after = wait_for(lambda: settled(kubectl, "gone", 3), timeout=15, what="3 pods Ready")
    assert_runs_once_each(after)
    if ip not in {p["status"]["podIP"] for p in after}:  # else its replacement took the IP
        assert not serves(ip), "the deleted pod runs again"


def test_pods_keep_serving_while_the_apiserver_is_down(
        faulty: Cluster, kubectl: Kubectl) -> None:
    kubectl("create", "-f", "-", input=deployment("steady", 3))
    kubectl("run", "doomed", "--image=nginx", "--port=80")  # no controller to replace it
    before = wait_for(lambda: settled(kubectl, "steady", 3), timeout=15, what="3 pods Ready")
    doomed = wait_for(lambda: (p := kubectl.json("get", "pod", "doomed")) and is_ready(p) and p,
                      what="doomed Ready")
    ips = [p["status"]["podIP"] for p in before + [doomed]]

    faulty.stop_process("apiserver")
    assert kubectl.run("get", "pods", check=False, timeout=10).returncode != 0
    # Longer than the grace period and the agents' largest backoff: nothing may give up.
    deadline = time.monotonic() + TIMING.node_grace_period + 1.5
    while time.monotonic() < deadline:
        assert all(serves(ip) for ip in ips), "a pod stopped serving without its apiserver"
        time.sleep(0.2)
    assert all(faulty.processes()[f"node-{n}"] is not None for n in (1, 2, 3))

    faulty.start_process("apiserver")
    wait_for(lambda: set(node_states(kubectl).values()) == {"Ready"}, timeout=10,
             what="every node Ready")
    # A pod force-deleted at once, before or after its agent's new watch: it stops.
    kubectl("delete", "pod", "doomed", "--grace-period=0", "--force")
    wait_for(lambda: not serves(doomed["status"]["podIP"]), timeout=10,
             what="the deleted pod to stop serving")
    # Status flows again: a new pod becomes Running.
    kubectl("run", "fresh", "--image=nginx", "--port=80")
    fresh = wait_for(lambda: (p := kubectl.json("get", "pod", "fresh"))["status"].get(
        "phase") == "Running" and is_ready(p) and p, timeout=10, what="fresh Running")
    after = settled(kubectl, "steady", 3)
    assert after is not None, kubectl("get", "pods", "-o", "wide")
    # Nothing was evicted or restarted while the apiserver was away.
    assert {p["metadata"]["uid"] for p in after} == {p["metadata"]["uid"] for p in before}
    assert all(restarts(p) == 0 for p in after)
    assert_runs_once_each(after + [fresh])
    assert faulty.processes()["apiserver"] is not None
