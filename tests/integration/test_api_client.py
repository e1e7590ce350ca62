"""The API as the official `kubernetes` Python client uses it: CRUD, selectors,
optimistic concurrency, watch resumption, and durability across an apiserver restart."""

from __future__ import annotations

import json
import ssl
import urllib.request
from pathlib import Path

import pytest

from kubeloop import Cluster
from tests.integration.conftest import Kubectl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client, watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


def configmap(name: str, labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}}, "data": {"k": "v"}}


def test_crud_and_label_selectors(k8s, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, configmap("a", {"tier": "front"}))
    core.create_namespaced_config_map(namespace, configmap("b", {"tier": "back"}))
    core.create_namespaced_config_map(namespace, configmap("c"))
    names = lambda sel: sorted(i.metadata.name for i in core.list_namespaced_config_map(  # noqa: E731
        namespace, label_selector=sel).items)
    assert names("tier=front") == ["a"]
    assert names("tier in (front,back)") == ["a", "b"]
    assert names("tier") == ["a", "b"]
    assert names("!tier") == ["c", "kube-root-ca.crt"]
    assert names("tier!=front") == ["b", "c", "kube-root-ca.crt"]
    got = core.read_namespaced_config_map("a", namespace)
    got.data["k"] = "changed"
    assert core.replace_namespaced_config_map("a", namespace, got).data["k"] == "changed"
    core.delete_namespaced_config_map("a", namespace)
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("a", namespace)
    assert e.value.status == 404


def test_stale_update_gets_409_conflict(k8s, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, configmap("x"))
    first = core.read_namespaced_config_map("x", namespace)
    second = core.read_namespaced_config_map("x", namespace)
    first.data["k"] = "1"
    core.replace_namespaced_config_map("x", namespace, first)
    second.data["k"] = "2"
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("x", namespace, second)
    assert e.value.status == 409
    assert "the object has been modified" in json.loads(e.value.body)["message"]
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(namespace, configmap("x"))
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "AlreadyExists"


def test_field_selectors(k8s, cluster: Cluster, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    node = cluster.config.node_name(1)
    assert [n.metadata.name for n in core.list_node(field_selector=f"metadata.name={node}").items] \
        == [node]
    with pytest.raises(ApiException) as e:
        core.list_namespaced_pod(namespace, field_selector="spec.bogus=1")
    assert e.value.status == 400 and "field label not supported" in e.value.body


def test_watch_resumes_from_a_resource_version(k8s, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    listed = core.list_namespaced_config_map(namespace)
    core.create_namespaced_config_map(namespace, configmap("w1"))
    core.patch_namespaced_config_map("w1", namespace, {"data": {"k": "v2"}})
    core.delete_namespaced_config_map("w1", namespace)
    seen = []
    for event in watch.Watch().stream(core.list_namespaced_config_map, namespace,
                                      resource_version=listed.metadata.resource_version,
                                      timeout_seconds=2):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            break
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def raw(cluster: Cluster, path: str) -> bytes:
    ctx = ssl.create_default_context(cafile=str(cluster.ca_cert))
    req = urllib.request.Request(f"{cluster.api_url}{path}")
    req.add_header("Authorization", f"Bearer {cluster.token}")
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        return resp.read()


def raw_get(cluster: Cluster, path: str) -> dict:
    return json.loads(raw(cluster, path))


def raw_watch(cluster: Cluster, path: str) -> list[dict]:
    return [json.loads(line) for line in raw(cluster, path).splitlines() if line.strip()]


def test_restart_loses_nothing_and_old_watches_get_410(tmp_path: Path) -> None:
    home, data = tmp_path / "home", tmp_path / "data"
    with Cluster(nodes=1, home=home, data_dir=data, name="persist") as c:
        Kubectl(c)("create", "-f", "-", input=json.dumps(configmap("keep-me")))
        uid = Kubectl(c).json("get", "configmap", "keep-me")["metadata"]["uid"]
        rv_before = int(raw_get(c, "/api/v1/configmaps")["metadata"]["resourceVersion"])
    with Cluster(nodes=1, home=home, data_dir=data, name="persist") as c:
        kept = Kubectl(c).json("get", "configmap", "keep-me")
        assert kept["metadata"]["uid"] == uid and kept["data"] == {"k": "v"}
        assert int(raw_get(c, "/api/v1/configmaps")["metadata"]["resourceVersion"]) >= rv_before
        events = raw_watch(c, "/api/v1/namespaces/default/configmaps?watch=true"
                              f"&resourceVersion={rv_before - 1}&timeoutSeconds=1")
        assert events[0]["type"] == "ERROR"
        assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
