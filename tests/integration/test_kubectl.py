"""The kubectl verbs of the control-plane issue, run with the real kubectl against a real
cluster: apply, get (outputs, selectors, watch), describe, delete, create, scale, label,
patch, edit, api-resources, and the errors kubectl prints for bad input."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import Kubectl, manifest_dir, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
"""

SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
"""

CONFIGMAPS = """
apiVersion: v1
kind: ConfigMap
metadata: {name: one, labels: {tier: a}}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: two, labels: {tier: b}}
data: {k: v}
"""


def request(cluster, path: str, token: str | None, method: str = "GET",
            body: bytes | None = None, content_type: str = "application/json"
            ) -> tuple[int, dict]:
    ctx = ssl.create_default_context(cafile=str(cluster.ca_cert))
    req = urllib.request.Request(cluster.api_url + path, data=body, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_anonymous_requests_get_401(cluster) -> None:
    code, body = request(cluster, "/api/v1/namespaces/default/pods", None)
    assert code == 401
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized"
    code, _ = request(cluster, "/api/v1/namespaces/default/pods", "wrong-token")
    assert code == 401


def test_malformed_bodies_get_400_status(cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    code, body = request(cluster, path, cluster.token, "POST", b"{not json")
    assert code == 400 and body["reason"] == "BadRequest"
    assert "not valid JSON" in body["message"]
    code, body = request(cluster, path, cluster.token, "POST", b"a: [unclosed",
                         "application/yaml")
    assert code == 400 and "not valid YAML" in body["message"]


def test_apply_file_multidoc_and_directory_create_then_update(kubectl: Kubectl,
                                                              tmp_path: Path) -> None:
    folder = manifest_dir(tmp_path, {"deploy.yaml": DEPLOYMENT, "svc.yaml": SERVICE,
                                     "cms.yaml": CONFIGMAPS})
    out = kubectl("apply", "-f", str(folder))
    assert "configmap/one created" in out and "configmap/two created" in out
    assert "deployment.apps/web created" in out and "service/web created" in out
    again = kubectl("apply", "-f", str(folder / "cms.yaml"))
    assert "configmap/one unchanged" in again and "configmap/two unchanged" in again
    (folder / "deploy.yaml").write_text(DEPLOYMENT.replace("replicas: 3", "replicas: 2"))
    assert "deployment.apps/web configured" in kubectl("apply", "-f", str(folder / "deploy.yaml"))
    assert kubectl.json("get", "deployment", "web")["spec"]["replicas"] == 2
    # The second apply patched with a strategic merge: the container list kept its port.
    container = kubectl.json("get", "deployment", "web")["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_get_output_formats_and_selectors(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-f", "-", input=CONFIGMAPS)
    kubectl("apply", "-f", "-", input=DEPLOYMENT)
    wait_for(lambda: len(kubectl.json("get", "pods")["items"]) == 3, what="3 pods")
    header = kubectl("get", "pods", "-o", "wide").splitlines()[0].split()
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED",
                      "NODE", "READINESS", "GATES"]
    assert kubectl("get", "pods").splitlines()[0].split() == [
        "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert kubectl("get", "configmap", "one", "-o", "yaml").startswith("apiVersion: v1\n")
    assert [i["metadata"]["name"] for i in kubectl.json("get", "cm", "-l", "tier=b")["items"]] \
        == ["two"]
    everywhere = kubectl("get", "configmaps", "-A")
    assert everywhere.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert namespace in everywhere and "kube-root-ca.crt" in everywhere
    svc = kubectl("get", "svc", "-n", "default", "kubernetes").splitlines()
    assert svc[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert svc[1].split()[:5] == ["kubernetes", "ClusterIP", "127.96.0.1", "<none>", "443/TCP"] \
        or svc[1].split()[1] == "ClusterIP"


def test_get_watch_streams_new_objects(kubectl: Kubectl, cluster, namespace: str) -> None:
    proc = subprocess.Popen(["kubectl", "-n", namespace, "get", "configmaps", "-w"],
                            stdout=subprocess.PIPE, text=True, env=cluster.env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().split()[:2] == ["NAME", "DATA"]
        kubectl("create", "-f", "-", input=CONFIGMAPS.split("---")[0])
        lines = [proc.stdout.readline() for _ in range(2)]
        assert any(line.startswith("one ") for line in lines), lines
    finally:
        proc.kill()
        proc.wait()


def test_describe_shows_replicas_and_events(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=DEPLOYMENT)
    wait_for(lambda: "ScalingReplicaSet" in kubectl("describe", "deployment", "web"),
             what="the ScalingReplicaSet event")
    text = kubectl("describe", "deployment", "web")
    assert "Replicas:" in text and "3 desired" in text
    assert "Selector:" in text and "app=web" in text


def test_delete_by_name_and_by_file(kubectl: Kubectl, tmp_path: Path) -> None:
    path = tmp_path / "cms.yaml"
    path.write_text(CONFIGMAPS)
    kubectl("apply", "-f", str(path))
    assert 'configmap "one" deleted' in kubectl("delete", "configmap", "one")
    assert 'configmap "two" deleted' in kubectl("delete", "-f", str(path), "--ignore-not-found")
    assert kubectl.json("get", "configmaps", "-l", "tier")["items"] == []
    missing = kubectl.run("get", "configmap", "one", check=False)
    assert missing.returncode == 1
    assert 'configmaps "one" not found' in missing.stderr


def test_create_scale_label_patch(kubectl: Kubectl) -> None:
    assert "deployment.apps/nginx-app created" in kubectl(
        "create", "deployment", "nginx-app", "--image=nginx:latest", "--replicas=3")
    assert "scaled" in kubectl("scale", "deployment", "nginx-app", "--replicas=5")
    wait_for(lambda: len(kubectl.json("get", "pods", "-l", "app=nginx-app")["items"]) == 5,
             what="5 pods")
    assert "labeled" in kubectl("label", "deployment", "nginx-app", "tier=front")
    kubectl("patch", "deployment", "nginx-app", "-p", '{"spec":{"replicas":2}}')
    kubectl("patch", "deployment", "nginx-app", "--type=merge", "-p",
            '{"metadata":{"annotations":{"note":"x"}}}')
    kubectl("patch", "deployment", "nginx-app", "--type=json", "-p",
            '[{"op":"replace","path":"/spec/replicas","value":1}]')
    dep = kubectl.json("get", "deployment", "nginx-app")
    assert dep["spec"]["replicas"] == 1
    assert dep["metadata"]["labels"]["tier"] == "front"
    assert dep["metadata"]["annotations"]["note"] == "x"
    wait_for(lambda: len(kubectl.json("get", "pods", "-l", "app=nginx-app")["items"]) == 1,
             what="scale down to 1 pod")


def test_create_namespace_and_object_in_missing_namespace(kubectl: Kubectl, cluster) -> None:
    plain = Kubectl(cluster)
    name = f"created-{abs(hash(cluster.name)) % 10000}"
    assert f"namespace/{name} created" in plain("create", "namespace", name)
    plain("delete", "namespace", name)
    result = plain.run("create", "configmap", "x", "-n", "no-such-ns", "--from-literal=a=b",
                       check=False)
    assert result.returncode == 1 and 'namespaces "no-such-ns" not found' in result.stderr


def test_edit_with_kube_editor(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", "-", input=SERVICE)
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/type: ClusterIP/type: NodePort/' \"$1\"\n")
    editor.chmod(0o755)
    out = kubectl("edit", "service", "web", env={"KUBE_EDITOR": str(editor)})
    assert "service/web edited" in out
    svc = kubectl.json("get", "service", "web")
    assert svc["spec"]["type"] == "NodePort"
    assert 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767


def test_api_resources_lists_every_kind(kubectl: Kubectl) -> None:
    rows = {line.split()[0]: line for line in kubectl("api-resources").splitlines()[1:]}
    for name in ("pods", "services", "endpoints", "configmaps", "secrets", "namespaces",
                 "nodes", "deployments", "replicasets", "endpointslices", "ingresses",
                 "ingressclasses", "networkpolicies"):
        assert name in rows, name
    assert "apps/v1" in rows["deployments"] and "deploy" in rows["deployments"]
    assert "networking.k8s.io/v1" in rows["networkpolicies"]


@pytest.mark.parametrize("manifest, expected", [
    ("apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec:\n  ports:\n  - port: 70000\n",
     "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n",
     'metadata.name: Invalid value: "Bad_Name"'),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
     "  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: c}}\n"
     "    spec: {containers: [{name: c, image: nginx}]}\n",
     "`selector` does not match template `labels`"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
     "  - {name: c, image: busybox}\n  - {name: c, image: busybox}\n",
     'spec.containers[1].name: Duplicate value: "c"'),
], ids=["port-range", "name-syntax", "selector-mismatch", "duplicate-container"])
def test_invalid_manifests_get_422_with_field_paths(kubectl: Kubectl, manifest: str,
                                                    expected: str) -> None:
    result = kubectl.run("apply", "-f", "-", input=manifest, check=False)
    assert result.returncode == 1
    assert "is invalid" in result.stderr and expected in result.stderr, result.stderr


def test_nodeport_conflict_and_range(kubectl: Kubectl) -> None:
    svc = "apiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec:\n  type: NodePort\n" \
          "  ports:\n  - {port: 80, nodePort: %d}\n"
    kubectl("apply", "-f", "-", input=svc % ("np1", 31234))
    taken = kubectl.run("apply", "-f", "-", input=svc % ("np2", 31234), check=False)
    assert "provided port is already allocated" in taken.stderr
    outside = kubectl.run("apply", "-f", "-", input=svc % ("np3", 80), check=False)
    assert "The range of valid ports is 30000-32767" in outside.stderr


def test_table_columns_match_a_real_cluster(cluster, namespace: str) -> None:
    ctx = ssl.create_default_context(cafile=str(cluster.ca_cert))
    req = urllib.request.Request(f"{cluster.api_url}/apis/apps/v1/namespaces/{namespace}/deployments")
    req.add_header("Authorization", f"Bearer {cluster.token}")
    req.add_header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        table = json.loads(resp.read())
    assert table["kind"] == "Table"
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images",
                     "Selector"]
    assert [c["priority"] for c in table["columnDefinitions"]][-3:] == [1, 1, 1]


def test_unknown_fields_strict_by_default_warn_on_request(kubectl: Kubectl) -> None:
    typo = DEPLOYMENT.replace("replicas: 3", "replcas: 3")
    strict = kubectl.run("apply", "-f", "-", input=typo, check=False)
    assert strict.returncode == 1
    assert 'strict decoding error: unknown field "spec.replcas"' in strict.stderr
    warned = kubectl.run("apply", "--validate=warn", "-f", "-", input=typo)
    assert 'Warning: unknown field "spec.replcas"' in warned.stderr
    assert "replcas" not in kubectl.json("get", "deployment", "web")["spec"]


def test_list_manifest_applies(kubectl: Kubectl) -> None:
    listing = ("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n"
               "  metadata: {name: in-list}\n  data: {a: b}\n")
    assert "configmap/in-list created" in kubectl("apply", "-f", "-", input=listing)
