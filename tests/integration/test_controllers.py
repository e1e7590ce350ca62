"""Controllers inside the apiserver, observed through the API: Deployment -> ReplicaSet ->
Pods, spreading over nodes, rolling updates, cascading deletion, namespace deletion, and
the node lifecycle when a node agent dies."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from kubeloop import Cluster
from kubeloop.config import Timing
from tests.integration.conftest import Kubectl, wait_for
from tests.integration.test_kubectl import DEPLOYMENT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def pods(kubectl: Kubectl, selector: str = "app=web") -> list[dict]:
    return kubectl.json("get", "pods", "-l", selector)["items"]


def test_deployment_creates_replicaset_and_spreads_pods(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=DEPLOYMENT.replace("replicas: 3", "replicas: 6"))
    items = wait_for(lambda: [p for p in pods(kubectl) if p["spec"].get("nodeName")]
                     if len(pods(kubectl)) == 6 else None, what="6 scheduled pods")
    assert len(items) == 6
    per_node = Counter(p["spec"]["nodeName"] for p in items)
    # The scheduler balances every pod a node runs, and this cluster is shared with the
    # other tests' pods, so only the spread itself is certain here (the balance is in the
    # scheduling unit tables).
    assert len(per_node) >= 2 and max(per_node.values()) <= 4, per_node
    rs = kubectl.json("get", "replicasets")["items"]
    assert len(rs) == 1
    template_hash = rs[0]["metadata"]["labels"]["pod-template-hash"]
    assert rs[0]["metadata"]["name"] == f"web-{template_hash}"
    owner = rs[0]["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "Deployment" and owner["controller"] is True
    for p in items:
        assert p["metadata"]["name"].startswith(f"web-{template_hash}-")
        assert p["metadata"]["ownerReferences"][0]["name"] == rs[0]["metadata"]["name"]
        conds = {c["type"]: c["status"] for c in p["status"]["conditions"]}
        assert conds["PodScheduled"] == "True"
    events = kubectl("get", "events")
    assert "Scheduled" in events and "SuccessfulCreate" in events


def test_template_change_rolls_out_a_new_replicaset(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=DEPLOYMENT)
    kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    kubectl("apply", "-f", "-", input=DEPLOYMENT.replace("nginx:1.25", "nginx:1.26"))
    out = kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert 'deployment "web" successfully rolled out' in out
    rss = {r["spec"]["template"]["spec"]["containers"][0]["image"]: r
           for r in kubectl.json("get", "rs")["items"]}
    assert set(rss) == {"nginx:1.25", "nginx:1.26"}
    assert rss["nginx:1.26"]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] \
        == "2"
    assert rss["nginx:1.26"]["spec"]["replicas"] == 3 and rss["nginx:1.25"]["spec"]["replicas"] == 0
    wait_for(lambda: {p["spec"]["containers"][0]["image"] for p in pods(kubectl)} == {"nginx:1.26"}
             and len(pods(kubectl)) == 3, what="only new pods left")
    dep = kubectl.json("get", "deployment", "web")
    assert dep["status"]["updatedReplicas"] == 3 and dep["status"]["readyReplicas"] == 3


def test_scale_down_and_cascading_delete(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=DEPLOYMENT)
    wait_for(lambda: len(pods(kubectl)) == 3, what="3 pods")
    kubectl("scale", "deployment", "web", "--replicas=1")
    wait_for(lambda: len(pods(kubectl)) == 1, what="scale down to 1")
    kubectl("delete", "deployment", "web")
    wait_for(lambda: not kubectl.json("get", "rs")["items"] and not pods(kubectl),
             what="ReplicaSet and pods garbage-collected")


def test_orphan_deletion_keeps_dependents(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=DEPLOYMENT)
    wait_for(lambda: len(pods(kubectl)) == 3, what="3 pods")
    kubectl("delete", "deployment", "web", "--cascade=orphan")
    rs = wait_for(lambda: [r for r in kubectl.json("get", "rs")["items"]
                           if not r["metadata"].get("ownerReferences")], what="orphaned RS")
    assert len(rs) == 1 and len(pods(kubectl)) == 3


def test_namespace_deletion_empties_it_first(cluster) -> None:
    plain = Kubectl(cluster)
    plain("create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}))
    ns = Kubectl(cluster, "doomed")
    wait_for(lambda: ns.run("get", "serviceaccount", "default", check=False).returncode == 0,
             what="the default ServiceAccount")
    ns("apply", "-f", "-", input=DEPLOYMENT)
    wait_for(lambda: len(pods(ns)) == 3, what="3 pods")
    assert 'namespace "doomed" deleted' in plain("delete", "namespace", "doomed", timeout=30)
    result = plain.run("get", "namespace", "doomed", check=False)
    assert 'namespaces "doomed" not found' in result.stderr


def test_killed_node_agent_goes_notready_and_pods_move(tmp_path: Path) -> None:
    timing = Timing(heartbeat_interval=0.3, node_grace_period=1.0, pod_eviction_timeout=0.5)
    with Cluster(nodes=2, home=tmp_path / "home", timing=timing) as c:
        kubectl = Kubectl(c)
        kubectl("apply", "-f", "-", input=DEPLOYMENT.replace("replicas: 3", "replicas: 4"))
        wait_for(lambda: len([p for p in pods(kubectl) if p["spec"].get("nodeName")]) == 4,
                 what="4 scheduled pods")
        state = json.loads((c.config.root / "supervisor.json").read_text())
        victim = c.config.node_name(2)
        os.kill(state["children"]["node-2"], signal.SIGKILL)

        def ready(node: str) -> str:
            conds = kubectl.json("get", "node", node)["status"]["conditions"]
            return next(x["status"] for x in conds if x["type"] == "Ready")

        wait_for(lambda: ready(victim) == "Unknown", timeout=10, what=f"{victim} NotReady")
        assert "NotReady" in kubectl("get", "nodes")
        taints = kubectl.json("get", "node", victim)["spec"]["taints"]
        assert {t["key"] for t in taints} == {"node.kubernetes.io/unreachable"}
        wait_for(lambda: len(pods(kubectl)) == 4 and all(
            p["spec"].get("nodeName") == c.config.node_name(1) for p in pods(kubectl)),
            timeout=15, what="all pods recreated on the surviving node")
