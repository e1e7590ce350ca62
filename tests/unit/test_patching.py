"""Patch engine tables: (kind, live object, patch) -> patched object, per content type, and
malformed or inapplicable patches -> PatchError code and message."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from apiserver.patching import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    PatchError,
    UnsupportedPatchType,
    apply_patch,
)

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def ctr(name: str, image: str = "nginx", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **fields}


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"containers": list(containers), **spec}}


def deploy(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web"},
            "spec": {"replicas": 1, **spec, "template": {"metadata": {"labels": {"app": "web"}},
                                                         "spec": {"containers": list(containers)}}}}


def ports(*numbers: int) -> list[dict[str, Any]]:
    return [{"containerPort": n} for n in numbers]


def cond(kind: str, status: str = "True", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "status": status, **fields}


STRATEGIC = [
    # -- maps and nulls
    pytest.param("Pod", pod(ctr("a")), {"metadata": {"labels": {"app": "x"}}},
                 {**pod(ctr("a")), "metadata": {"name": "p", "labels": {"app": "x"}}},
                 id="new-map-is-added"),
    pytest.param("ConfigMap", {"data": {"a": "1", "b": "2"}}, {"data": {"a": None, "c": "3"}},
                 {"data": {"b": "2", "c": "3"}}, id="configmap-null-deletes-and-adds"),
    pytest.param("Pod", pod(ctr("a"), nodeSelector={"disk": "ssd"}),
                 {"spec": {"nodeSelector": None}}, pod(ctr("a")), id="null-deletes-a-map"),
    pytest.param("Pod", pod(ctr("a")), {"spec": {"absent": None}}, pod(ctr("a")),
                 id="null-for-absent-key-is-ignored"),
    pytest.param("Pod", pod(ctr("a")),
                 {"spec": {"securityContext": {"runAsUser": 1, "fsGroup": None}}},
                 pod(ctr("a"), securityContext={"runAsUser": 1}),
                 id="new-value-drops-its-nulls"),
    pytest.param("Pod", pod(ctr("a"), nodeSelector={"a": "1"}),
                 {"spec": {"nodeSelector": "oops"}}, pod(ctr("a"), nodeSelector="oops"),
                 id="type-change-replaces"),
    pytest.param("Pod", pod(ctr("a"), nodeSelector={"a": "1", "b": "2"}),
                 {"spec": {"nodeSelector": {"$patch": "replace", "c": "3"}}},
                 pod(ctr("a"), nodeSelector={"c": "3"}), id="map-patch-replace"),
    pytest.param("Deployment", deploy(ctr("a"), strategy={"type": "Recreate"}),
                 {"spec": {"strategy": {"$patch": "delete"}}},
                 deploy(ctr("a"), strategy={}), id="map-patch-delete-empties-it"),
    # -- containers and their lists
    pytest.param("Pod", pod(ctr("a"), ctr("b")), {"spec": {"containers": [ctr("b", "redis")]}},
                 pod(ctr("a"), ctr("b", "redis")), id="containers-merge-by-name"),
    pytest.param("Pod", pod(ctr("a"), ctr("b")), {"spec": {"containers": [ctr("c", "redis")]}},
                 pod(ctr("c", "redis"), ctr("a"), ctr("b")), id="new-container-goes-first"),
    pytest.param("Pod", pod(ctr("a"), ctr("b")),
                 {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}},
                 pod(ctr("b")), id="container-patch-delete"),
    pytest.param("Pod", pod(ctr("a"), ctr("b")),
                 {"spec": {"containers": [ctr("z"), {"$patch": "replace"}]}},
                 pod(ctr("z")), id="containers-patch-replace"),
    pytest.param("Pod", pod(ctr("a", command=["sh"], args=["-c", "x"])),
                 {"spec": {"containers": [{"name": "a", "args": ["y"]}]}},
                 pod(ctr("a", command=["sh"], args=["y"])), id="container-args-replace"),
    pytest.param("Pod", pod(ctr("a", ports=ports(80))),
                 {"spec": {"containers": [{"name": "a", "ports": ports(443)}]}},
                 pod(ctr("a", ports=ports(443, 80))), id="container-port-added"),
    pytest.param("Pod", pod(ctr("a", ports=[{"containerPort": 80, "protocol": "TCP"}])),
                 {"spec": {"containers": [{"name": "a", "ports": [
                     {"containerPort": 80, "name": "http"}]}]}},
                 pod(ctr("a", ports=[{"containerPort": 80, "protocol": "TCP", "name": "http"}])),
                 id="container-port-merged-by-containerPort"),
    pytest.param("Pod", pod(ctr("a", ports=ports(80, 443, 8080))),
                 {"spec": {"containers": [{"name": "a", "ports": [
                     {"containerPort": 443, "$patch": "delete"}]}]}},
                 pod(ctr("a", ports=ports(80, 8080))), id="container-port-deleted"),
    pytest.param("Pod",
                 pod(ctr("a", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])),
                 {"spec": {"containers": [{"name": "a", "env": [{"name": "B", "value": "3"}]}]}},
                 pod(ctr("a", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "3"}])),
                 id="env-merge-by-name"),
    pytest.param("Pod", pod(ctr("a", volumeMounts=[{"name": "v", "mountPath": "/data"}])),
                 {"spec": {"containers": [{"name": "a", "volumeMounts": [
                     {"name": "w", "mountPath": "/data"}, {"name": "v", "mountPath": "/logs"}]}]}},
                 pod(ctr("a", volumeMounts=[{"name": "w", "mountPath": "/data"},
                                            {"name": "v", "mountPath": "/logs"}])),
                 id="volumeMounts-merge-by-mountPath"),
    pytest.param("Pod", pod(ctr("a"), initContainers=[ctr("init", "busybox")]),
                 {"spec": {"initContainers": [{"name": "init", "image": "alpine"}]}},
                 pod(ctr("a"), initContainers=[ctr("init", "alpine")]),
                 id="initContainers-merge-by-name"),
    pytest.param("Pod", pod(ctr("a"), ephemeralContainers=[ctr("debug", "busybox")]),
                 {"spec": {"ephemeralContainers": [ctr("debug2", "busybox")]}},
                 pod(ctr("a"), ephemeralContainers=[ctr("debug2", "busybox"),
                                                    ctr("debug", "busybox")]),
                 id="ephemeralContainers-merge-by-name"),
    # -- other PodSpec lists
    pytest.param("Pod", pod(ctr("a"), volumes=[{"name": "v", "emptyDir": {}}]),
                 {"spec": {"volumes": [{"name": "w", "configMap": {"name": "cm"}}]}},
                 pod(ctr("a"), volumes=[{"name": "w", "configMap": {"name": "cm"}},
                                        {"name": "v", "emptyDir": {}}]),
                 id="volumes-merge-by-name"),
    pytest.param("Pod", pod(ctr("a"), volumes=[{"name": "v", "emptyDir": {}}]),
                 {"spec": {"volumes": [{"$retainKeys": ["hostPath", "name"], "name": "v",
                                        "hostPath": {"path": "/tmp"}}]}},
                 pod(ctr("a"), volumes=[{"name": "v", "hostPath": {"path": "/tmp"}}]),
                 id="volume-retainKeys-switches-source"),
    pytest.param("Pod", pod(ctr("a"), imagePullSecrets=[{"name": "r1"}]),
                 {"spec": {"imagePullSecrets": [{"name": "r2"}]}},
                 pod(ctr("a"), imagePullSecrets=[{"name": "r2"}, {"name": "r1"}]),
                 id="imagePullSecrets-merge-by-name"),
    pytest.param("Pod", pod(ctr("a"), hostAliases=[{"ip": "10.0.0.1", "hostnames": ["a"]}]),
                 {"spec": {"hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}]}},
                 pod(ctr("a"), hostAliases=[{"ip": "10.0.0.1", "hostnames": ["b"]}]),
                 id="hostAliases-merge-by-ip"),
    pytest.param("Pod", pod(ctr("a"), tolerations=[{"key": "a", "operator": "Exists"}]),
                 {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}},
                 pod(ctr("a"), tolerations=[{"key": "b", "operator": "Exists"}]),
                 id="tolerations-replace"),
    pytest.param("Pod", pod(ctr("a"), topologySpreadConstraints=[
                     {"topologyKey": "zone", "maxSkew": 1}]),
                 {"spec": {"topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}]}},
                 pod(ctr("a"), topologySpreadConstraints=[{"topologyKey": "zone", "maxSkew": 2}]),
                 id="topologySpreadConstraints-merge-by-topologyKey"),
    pytest.param("Pod", pod(ctr("a"), schedulingGates=[{"name": "g1"}, {"name": "g2"}]),
                 {"spec": {"schedulingGates": [{"name": "g1", "$patch": "delete"}]}},
                 pod(ctr("a"), schedulingGates=[{"name": "g2"}]),
                 id="schedulingGates-merge-by-name"),
    # -- ObjectMeta
    pytest.param("Pod", {"metadata": {"finalizers": ["a", "b"]}},
                 {"metadata": {"finalizers": ["b", "c"]}},
                 {"metadata": {"finalizers": ["a", "b", "c"]}}, id="finalizers-merge-as-set"),
    pytest.param("Pod", {"metadata": {"finalizers": ["a", "b"]}},
                 {"metadata": {"finalizers": ["c"]}},
                 {"metadata": {"finalizers": ["c", "a", "b"]}}, id="new-finalizer-goes-first"),
    pytest.param("Pod", {"metadata": {"finalizers": ["a", "b", "c"]}},
                 {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "x"]}},
                 {"metadata": {"finalizers": ["a", "c"]}}, id="deleteFromPrimitiveList"),
    pytest.param("Pod", {"metadata": {}},
                 {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}},
                 {"metadata": {}}, id="deleteFromPrimitiveList-on-absent-list"),
    pytest.param("Pod", {"metadata": {"finalizers": ["a", "b"]}},
                 {"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"],
                               "finalizers": ["c"]}},
                 {"metadata": {"finalizers": ["b", "c", "a"]}},
                 id="setElementOrder-on-primitive-list"),
    pytest.param("ReplicaSet", {"metadata": {"ownerReferences": [
                     {"uid": "u1", "kind": "Deployment", "name": "a", "controller": True}]}},
                 {"metadata": {"ownerReferences": [
                     {"uid": "u1", "controller": False},
                     {"uid": "u2", "kind": "Deployment", "name": "b"}]}},
                 {"metadata": {"ownerReferences": [
                     {"uid": "u1", "kind": "Deployment", "name": "a", "controller": False},
                     {"uid": "u2", "kind": "Deployment", "name": "b"}]}},
                 id="ownerReferences-merge-by-uid"),
    # -- other kinds
    pytest.param("Service", {"spec": {"ports": [{"port": 80, "targetPort": 8080}],
                                      "selector": {"app": "a"}}},
                 {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}},
                 {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}],
                           "selector": {"app": "a"}}},
                 id="service-ports-merge-by-port"),
    pytest.param("Service", {"spec": {"ports": [{"port": 80, "name": "http"},
                                                {"port": 443, "name": "https"}]}},
                 {"spec": {"$setElementOrder/ports": [{"port": 443}],
                           "ports": [{"port": 80, "$patch": "delete"}]}},
                 {"spec": {"ports": [{"port": 443, "name": "https"}]}},
                 id="service-port-removed-by-apply"),
    pytest.param("Service", {"spec": {"externalIPs": ["1.1.1.1"]}},
                 {"spec": {"externalIPs": ["2.2.2.2"]}}, {"spec": {"externalIPs": ["2.2.2.2"]}},
                 id="service-externalIPs-replace"),
    pytest.param("Node", {"spec": {"podCIDRs": ["10.0.0.0/24"],
                                   "taints": [{"key": "a", "effect": "NoSchedule"}]}},
                 {"spec": {"podCIDRs": ["fd00::/64"],
                           "taints": [{"key": "b", "effect": "NoExecute"}]}},
                 {"spec": {"podCIDRs": ["fd00::/64", "10.0.0.0/24"],
                           "taints": [{"key": "b", "effect": "NoExecute"}]}},
                 id="node-podCIDRs-merge-taints-replace"),
    pytest.param("Node", {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"},
                                                   {"type": "Hostname", "address": "n1"}]}},
                 {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}},
                 {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"},
                                           {"type": "Hostname", "address": "n1"}]}},
                 id="node-addresses-merge-by-type"),
    pytest.param("Node", {"status": {"conditions": [cond("MemoryPressure", "False"),
                                                    cond("Ready", "False", reason="Starting")]}},
                 {"status": {"$setElementOrder/conditions": [{"type": "MemoryPressure"},
                                                             {"type": "Ready"}],
                             "conditions": [cond("Ready", reason="KubeletReady")]}},
                 {"status": {"conditions": [cond("MemoryPressure", "False"),
                                            cond("Ready", reason="KubeletReady")]}},
                 id="kubelet-node-status-heartbeat"),
    pytest.param("Pod", {"status": {"phase": "Pending", "conditions": [cond("PodScheduled")],
                                    "containerStatuses": [{"name": "a", "ready": False},
                                                          {"name": "b", "ready": False}]}},
                 {"status": {"$setElementOrder/conditions": [{"type": "Ready"},
                                                             {"type": "PodScheduled"}],
                             "conditions": [cond("Ready")], "phase": "Running",
                             "podIPs": [{"ip": "10.1.0.5"}],
                             "containerStatuses": [{"name": "a", "ready": True}]}},
                 {"status": {"phase": "Running",
                             "conditions": [cond("Ready"), cond("PodScheduled")],
                             "podIPs": [{"ip": "10.1.0.5"}],
                             "containerStatuses": [{"name": "a", "ready": True}]}},
                 id="kubelet-pod-status-containerStatuses-replace"),
    pytest.param("Pod", {"status": {"podIPs": [{"ip": "10.1.0.5"}]}},
                 {"status": {"podIPs": [{"ip": "fd00::5"}], "hostIPs": [{"ip": "10.0.0.1"}]}},
                 {"status": {"podIPs": [{"ip": "fd00::5"}, {"ip": "10.1.0.5"}],
                             "hostIPs": [{"ip": "10.0.0.1"}]}},
                 id="pod-podIPs-merge-by-ip"),
    pytest.param("Namespace", {"status": {"conditions": [cond("A"), cond("B")]}},
                 {"status": {"conditions": [cond("B", "False")]}},
                 {"status": {"conditions": [cond("A"), cond("B", "False")]}},
                 id="namespace-conditions-merge-by-type"),
    pytest.param("Deployment", {"status": {"conditions": [cond("Available"), cond("Progressing")]}},
                 {"status": {"conditions": [cond("Available", "False")]}},
                 {"status": {"conditions": [cond("Available", "False"), cond("Progressing")]}},
                 id="deployment-conditions-merge-by-type"),
    pytest.param("ServiceAccount",
                 {"secrets": [{"name": "s1"}], "imagePullSecrets": [{"name": "r1"}]},
                 {"secrets": [{"name": "s2"}], "imagePullSecrets": [{"name": "r2"}]},
                 {"secrets": [{"name": "s2"}, {"name": "s1"}],
                  "imagePullSecrets": [{"name": "r2"}]},
                 id="serviceaccount-secrets-merge-imagePullSecrets-replace"),
    pytest.param("EndpointSlice", {"endpoints": [{"addresses": ["10.1.0.1"]}],
                                   "ports": [{"port": 80}]},
                 {"endpoints": [{"addresses": ["10.1.0.2"]}]},
                 {"endpoints": [{"addresses": ["10.1.0.2"]}], "ports": [{"port": 80}]},
                 id="endpointslice-endpoints-replace"),
    pytest.param("Endpoints", {"subsets": [{"addresses": [{"ip": "10.1.0.1"}]}]},
                 {"subsets": [{"addresses": [{"ip": "10.1.0.2"}]}]},
                 {"subsets": [{"addresses": [{"ip": "10.1.0.2"}]}]},
                 id="endpoints-subsets-replace"),
    pytest.param("Ingress", {"spec": {"rules": [{"host": "a"}], "ingressClassName": "x"}},
                 {"spec": {"rules": [{"host": "b"}]}},
                 {"spec": {"rules": [{"host": "b"}], "ingressClassName": "x"}},
                 id="ingress-rules-replace"),
    pytest.param("Widget", {"metadata": {"finalizers": ["a"]}, "spec": {"items": [{"name": "a"}]}},
                 {"metadata": {"finalizers": ["b"]}, "spec": {"items": [{"name": "b"}], "x": 1}},
                 {"metadata": {"finalizers": ["b", "a"]},
                  "spec": {"items": [{"name": "b"}], "x": 1}},
                 id="unknown-kind-lists-replace-metadata-merges"),
    # -- Deployment / ReplicaSet pod templates
    pytest.param("Deployment", deploy(ctr("web", "nginx:1.25"), ctr("log", "fluentd")),
                 {"spec": {"template": {"spec": {"containers": [ctr("web", "nginx:1.26")]}}}},
                 deploy(ctr("web", "nginx:1.26"), ctr("log", "fluentd")),
                 id="kubectl-set-image"),
    pytest.param("ReplicaSet", deploy(ctr("web", env=[{"name": "A", "value": "1"}])),
                 {"spec": {"template": {"spec": {"containers": [
                     {"name": "web", "env": [{"name": "A", "$patch": "delete"}]}]}}}},
                 deploy(ctr("web", env=[])), id="replicaset-template-env-delete"),
    pytest.param("Deployment", deploy(ctr("web")),
                 {"spec": {"template": {"metadata": {"annotations": {
                     "kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}}}}},
                 {**deploy(ctr("web")), "spec": {**deploy(ctr("web"))["spec"], "template": {
                     "metadata": {"labels": {"app": "web"}, "annotations": {
                         "kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}},
                     "spec": {"containers": [ctr("web")]}}}},
                 id="kubectl-rollout-restart"),
    pytest.param("Deployment",
                 deploy(ctr("web"), strategy={
                     "type": "RollingUpdate",
                     "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
                 {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": None,
                                        "type": "Recreate"}}},
                 deploy(ctr("web"), strategy={"type": "Recreate"}),
                 id="apply-strategy-retainKeys"),
    pytest.param("Deployment", deploy(ctr("a"), ctr("b"), ctr("c")),
                 {"spec": {"template": {"spec": {"$setElementOrder/containers": [
                     {"name": "c"}, {"name": "a"}, {"name": "b"}]}}}},
                 deploy(ctr("c"), ctr("a"), ctr("b")), id="setElementOrder-reorders-only"),
    pytest.param("Deployment", deploy(ctr("a"), ctr("live-only"), ctr("b")),
                 {"spec": {"template": {"spec": {
                     "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                     "containers": [ctr("b", "redis")]}}}},
                 deploy(ctr("live-only"), ctr("b", "redis"), ctr("a")),
                 id="setElementOrder-keeps-server-only-items"),
]


def second_apply_case() -> Any:
    """What `kubectl apply` sends when a Deployment's manifest changes image, drops port 443,
    adds env B and a container, and switches to the Recreate strategy."""
    first: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
             "spec": {"replicas": 2, "template": {"spec": {"containers": [
                 ctr("web", "nginx:1.25", ports=ports(80, 443), env=[{"name": "A", "value": "1"}]),
                 ctr("sidecar", "busybox")]}}}}
    live = copy.deepcopy(first)
    live["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(first)}
    live["spec"]["strategy"] = {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    live["status"] = {"replicas": 2}
    patch: dict[str, Any] = {
        "metadata": {"annotations": {LAST_APPLIED: "{second}"}},
        "spec": {
            "strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"},
            "template": {"spec": {
                "$setElementOrder/containers": [{"name": "web"}, {"name": "log"},
                                                {"name": "sidecar"}],
                "containers": [
                    {"$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                     "$setElementOrder/ports": [{"containerPort": 80}],
                     "env": [{"name": "B", "value": "2"}],
                     "image": "nginx:1.26", "name": "web",
                     "ports": [{"$patch": "delete", "containerPort": 443}]},
                    {"image": "fluentd", "name": "log"},
                ]}}}}
    want = copy.deepcopy(live)
    want["metadata"]["annotations"] = {LAST_APPLIED: "{second}"}
    want["spec"]["strategy"] = {"type": "Recreate"}
    want["spec"]["template"]["spec"]["containers"] = [
        ctr("web", "nginx:1.26", ports=ports(80),
            env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
        ctr("log", "fluentd"),
        ctr("sidecar", "busybox"),
    ]
    return pytest.param("Deployment", live, patch, want, id="kubectl-second-apply")


def edit_reorder_case() -> Any:
    """`kubectl edit` moving env B before A and deleting C."""
    live = pod(ctr("a", env=[{"name": n, "value": n} for n in "ABC"]))
    patch = {"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [
        {"$setElementOrder/env": [{"name": "B"}, {"name": "A"}], "name": "a",
         "env": [{"$patch": "delete", "name": "C"}]}]}}
    want = pod(ctr("a", env=[{"name": "B", "value": "B"}, {"name": "A", "value": "A"}]))
    return pytest.param("Pod", live, patch, want, id="kubectl-edit-reorders-and-deletes-env")


@pytest.mark.parametrize(("kind", "live", "patch", "want"),
                         [*STRATEGIC, second_apply_case(), edit_reorder_case()])
def test_strategic_merge_patch(kind: str, live: dict[str, Any], patch: dict[str, Any],
                               want: dict[str, Any]) -> None:
    assert apply_patch(live, json.dumps(patch).encode(), STRATEGIC_MERGE_PATCH, kind) == want


@pytest.mark.parametrize(("live", "patch", "want"), [
    pytest.param({"metadata": {"name": "p"}}, {"metadata": {"labels": {"env": "prod"}}},
                 {"metadata": {"name": "p", "labels": {"env": "prod"}}}, id="kubectl-label"),
    pytest.param({"metadata": {"labels": {"env": "prod", "app": "a"}}},
                 {"metadata": {"labels": {"env": None}}},
                 {"metadata": {"labels": {"app": "a"}}}, id="kubectl-label-remove"),
    pytest.param({"spec": {"replicas": 1, "selector": {"app": "a"}}}, {"spec": {"replicas": 3}},
                 {"spec": {"replicas": 3, "selector": {"app": "a"}}}, id="kubectl-scale"),
    pytest.param(pod(ctr("a"), ctr("b")), {"spec": {"containers": [ctr("c")]}},
                 pod(ctr("c")), id="lists-replace"),
    pytest.param({"spec": {"a": {"b": 1}}}, {"spec": {"a": "flat"}}, {"spec": {"a": "flat"}},
                 id="scalar-replaces-map"),
    pytest.param({"spec": {"a": "flat"}}, {"spec": {"a": {"b": 1, "c": None}}},
                 {"spec": {"a": {"b": 1}}}, id="new-map-drops-nulls"),
    pytest.param({"spec": {"a": {"b": 1, "c": 2}}}, {"spec": {"a": {"c": 3, "d": 4}}},
                 {"spec": {"a": {"b": 1, "c": 3, "d": 4}}}, id="nested-maps-merge"),
    pytest.param({"spec": {"a": 1}}, {"spec": {"$patch": "delete"}},
                 {"spec": {"a": 1, "$patch": "delete"}}, id="strategic-directives-mean-nothing"),
])
def test_merge_patch(live: dict[str, Any], patch: dict[str, Any], want: dict[str, Any]) -> None:
    assert apply_patch(live, json.dumps(patch).encode(), MERGE_PATCH, "Pod") == want


@pytest.mark.parametrize(("live", "operations", "want"), [
    pytest.param({"spec": {"replicas": 1}},
                 [{"op": "replace", "path": "/spec/replicas", "value": 2}],
                 {"spec": {"replicas": 2}}, id="replace"),
    pytest.param({"metadata": {"labels": {"a~b/c": "1"}}},
                 [{"op": "remove", "path": "/metadata/labels/a~0b~1c"}],
                 {"metadata": {"labels": {}}}, id="remove-escaped-key"),
    pytest.param(pod(ctr("a", args=["x"])),
                 [{"op": "add", "path": "/spec/containers/0/args/-", "value": "y"}],
                 pod(ctr("a", args=["x", "y"])), id="append-to-list"),
    pytest.param({"metadata": {"labels": {"a": "1"}}},
                 [{"op": "test", "path": "/metadata/labels/a", "value": "1"},
                  {"op": "replace", "path": "/metadata/labels/a", "value": "2"}],
                 {"metadata": {"labels": {"a": "2"}}}, id="test-then-replace"),
    pytest.param({"a": {"x": 1}, "b": {}},
                 [{"op": "copy", "from": "/a/x", "path": "/b/y"},
                  {"op": "move", "from": "/a", "path": "/c"}],
                 {"b": {"y": 1}, "c": {"x": 1}}, id="copy-and-move"),
    pytest.param({"a": 1}, [], {"a": 1}, id="empty-patch"),
])
def test_json_patch(live: dict[str, Any], operations: list[Any], want: dict[str, Any]) -> None:
    assert apply_patch(live, json.dumps(operations).encode(), JSON_PATCH, "Pod") == want


@pytest.mark.parametrize(("live", "body", "want"), [
    pytest.param(pod(ctr("a", ports=ports(80))),
                 b"spec:\n  containers:\n  - name: a\n    image: nginx:2\n    ports:\n"
                 b"    - containerPort: 443\n",
                 pod(ctr("a", "nginx:2", ports=ports(443, 80))), id="yaml-merges-by-keys"),
    pytest.param({"metadata": {"name": "p"}},
                 b"metadata:\n  annotations:\n    since: 2024-05-01\n    ok: yes\n    1: x\n",
                 {"metadata": {"name": "p", "annotations": {"since": "2024-05-01", "ok": True,
                                                            "1": "x"}}},
                 id="yaml-dates-stay-strings"),
    pytest.param({"metadata": {"name": "p"}}, b'{"metadata": {"labels": {"a": "b"}}}',
                 {"metadata": {"name": "p", "labels": {"a": "b"}}}, id="json-body"),
])
def test_server_side_apply(live: dict[str, Any], body: bytes, want: dict[str, Any]) -> None:
    assert apply_patch(live, body, APPLY_PATCH, "Pod") == want


@pytest.mark.parametrize(("content_type", "body"), [
    pytest.param(JSON_PATCH, b'[{"op": "add", "path": "/spec/containers/0/x", "value": 1}]',
                 id="json-patch"),
    pytest.param(MERGE_PATCH, b'{"spec": {"containers": null}, "metadata": {"labels": {"x": "y"}}}',
                 id="merge-patch"),
    pytest.param(STRATEGIC_MERGE_PATCH,
                 b'{"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 1}]}]}}',
                 id="strategic-merge-patch"),
    pytest.param(APPLY_PATCH, b"spec:\n  containers:\n  - name: a\n    image: x\n",
                 id="apply-patch"),
])
def test_input_is_untouched(content_type: str, body: bytes) -> None:
    live = pod(ctr("a", ports=ports(80)))
    before = copy.deepcopy(live)
    result = apply_patch(live, body, content_type, "Pod")
    assert live == before
    assert result != before
    result["spec"]["extra"] = True
    assert "extra" not in live["spec"]


@pytest.mark.parametrize(("content_type", "body", "code", "message"), [
    pytest.param("application/json", b"{}", 415,
                 "accepted media types include: application/json-patch+json, "
                 "application/merge-patch+json, application/strategic-merge-patch+json, "
                 "application/apply-patch+yaml", id="unsupported-content-type"),
    pytest.param(JSON_PATCH, b"[{", 400, "invalid JSON in patch body", id="json-patch-bad-json"),
    pytest.param(JSON_PATCH, b'{"op": "add"}', 400,
                 "cannot unmarshal object into Go value of type jsonpatch.Patch",
                 id="json-patch-not-a-list"),
    pytest.param(JSON_PATCH, b'["add"]', 400,
                 "cannot unmarshal string into Go value of type jsonpatch.Operation",
                 id="json-patch-op-not-object"),
    pytest.param(JSON_PATCH, b'[{"op": "test", "path": "/spec/replicas", "value": 5}]', 422,
                 "testing value /spec/replicas failed", id="json-patch-test-fails"),
    pytest.param(JSON_PATCH, b'[{"op": "test", "path": "/spec/nope", "value": 5}]', 422,
                 'test operation does not apply: doc is missing path: "/spec/nope"',
                 id="json-patch-test-missing-path"),
    pytest.param(JSON_PATCH, b'[{"op": "remove", "path": "/metadata/labels/x"}]', 422,
                 'remove operation does not apply: doc is missing path: "/metadata/labels/x"',
                 id="json-patch-remove-missing"),
    pytest.param(JSON_PATCH, b'[{"op": "add", "path": "/spec/a/b", "value": 1}]', 422,
                 'add operation does not apply: doc is missing path: "/spec/a/b"',
                 id="json-patch-add-missing-parent"),
    pytest.param(JSON_PATCH, b'[{"op": "replace", "path": "spec", "value": 1}]', 422,
                 'replace operation does not apply: doc is missing path: "spec"',
                 id="json-patch-path-without-slash"),
    pytest.param(JSON_PATCH, b'[{"op": "move", "from": "/nope", "path": "/x"}]', 422,
                 'move operation does not apply: doc is missing from path: "/nope"',
                 id="json-patch-move-missing-from"),
    pytest.param(JSON_PATCH, b'[{"op": "frobnicate", "path": "/x"}]', 422,
                 "invalid JSON patch operation 0: Unknown operation", id="json-patch-unknown-op"),
    pytest.param(JSON_PATCH, b'[{"op": "add", "path": "/x"}]', 422,
                 "invalid JSON patch operation 0", id="json-patch-add-without-value"),
    pytest.param(JSON_PATCH, b'[{"op": "replace", "path": "", "value": [1]}]', 422,
                 "the patched document is a JSON array", id="json-patch-result-not-object"),
    pytest.param(MERGE_PATCH, b"{'a': 1}", 400, "invalid JSON", id="merge-patch-bad-json"),
    pytest.param(MERGE_PATCH, b"[1]", 400, "must be a JSON object, not a JSON array",
                 id="merge-patch-array"),
    pytest.param(MERGE_PATCH, b'{"a": NaN}', 400, "NaN is not a JSON value",
                 id="merge-patch-nan"),
    pytest.param(MERGE_PATCH, b"\xff\xfe", 400, "not valid UTF-8", id="merge-patch-not-utf8"),
    pytest.param(STRATEGIC_MERGE_PATCH, b"", 400, "invalid JSON", id="smp-empty-body"),
    pytest.param(STRATEGIC_MERGE_PATCH, b"[]", 400,
                 "cannot unmarshal array into Go value of type map[string]interface {}",
                 id="smp-array"),
    pytest.param(STRATEGIC_MERGE_PATCH, b'{"spec": {"containers": [{"image": "redis"}]}}', 500,
                 "spec.containers: map: map[image:redis] does not contain declared merge key: name",
                 id="smp-missing-merge-key"),
    pytest.param(STRATEGIC_MERGE_PATCH,
                 b'{"spec": {"containers": [{"name": "a", "ports": [{"name": "http"}]}]}}', 500,
                 "spec.containers[name=a].ports: map: map[name:http] does not contain declared "
                 "merge key: containerPort", id="smp-missing-port-merge-key"),
    pytest.param(STRATEGIC_MERGE_PATCH, b'{"spec": {"$patch": "merge"}}', 500,
                 "spec: unknown patch type: merge in map: map[$patch:merge]",
                 id="smp-patch-merge-on-map"),
    pytest.param(STRATEGIC_MERGE_PATCH, b'{"spec": {"$patch": "frob", "x": 1}}', 500,
                 "unknown patch type: frob in map: map[$patch:frob x:1]", id="smp-patch-unknown"),
    pytest.param(STRATEGIC_MERGE_PATCH,
                 b'{"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}', 500,
                 "merging lists cannot yet be specified in the patch",
                 id="smp-patch-merge-in-list"),
    pytest.param(STRATEGIC_MERGE_PATCH,
                 b'{"spec": {"containers": [{"$patch": "delete"}]}}', 500,
                 "does not contain declared merge key: name", id="smp-delete-without-key"),
    pytest.param(STRATEGIC_MERGE_PATCH, b'{"spec": {"$retainKeys": "containers"}}', 400,
                 "spec: invalid patch format of retainKeys", id="smp-retainKeys-not-list"),
    pytest.param(STRATEGIC_MERGE_PATCH,
                 b'{"spec": {"$retainKeys": ["containers"], "nodeName": "n1"}}', 400,
                 "invalid patch format of retainKeys: 'nodeName' is not listed",
                 id="smp-retainKeys-missing-field"),
    pytest.param(STRATEGIC_MERGE_PATCH,
                 b'{"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],'
                 b' "containers": [{"name": "a"}, {"name": "b"}]}}', 500,
                 "spec.containers: the order in patch list", id="smp-setElementOrder-mismatch"),
    pytest.param(STRATEGIC_MERGE_PATCH,
                 b'{"spec": {"$setElementOrder/containers": {"name": "a"}}}', 500,
                 "expected a list for $setElementOrder/containers",
                 id="smp-setElementOrder-not-list"),
    pytest.param(STRATEGIC_MERGE_PATCH, b'{"metadata": {"$setElementOrder": ["a"]}}', 400,
                 "invalid patch format of setElementOrder list", id="smp-setElementOrder-no-field"),
    pytest.param(STRATEGIC_MERGE_PATCH,
                 b'{"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}', 400,
                 "invalid patch format of primitive list",
                 id="smp-deleteFromPrimitiveList-no-slash"),
    pytest.param(STRATEGIC_MERGE_PATCH, b'{"metadata": {"finalizers": [["a"]]}}', 422,
                 "metadata.finalizers: lists of lists are not supported", id="smp-list-of-lists"),
    pytest.param(STRATEGIC_MERGE_PATCH, b'{"metadata": {"finalizers": [1]}}', 500,
                 "list element types are not identical", id="smp-mixed-element-types"),
    pytest.param(APPLY_PATCH, b"spec: [unclosed", 400, "error decoding YAML", id="apply-bad-yaml"),
    pytest.param(APPLY_PATCH, b"- a\n- b\n", 400, "applied configuration is a array",
                 id="apply-not-a-mapping"),
    pytest.param(APPLY_PATCH, b"a: !!binary aGVsbG8=\n", 400, "error decoding YAML",
                 id="apply-binary-value"),
    pytest.param(APPLY_PATCH, b"a: 1\n---\nb: 2\n", 400, "error decoding YAML",
                 id="apply-two-documents"),
])
def test_errors(content_type: str, body: bytes, code: int, message: str) -> None:
    live = {"metadata": {"name": "p", "finalizers": ["x"]},
            "spec": {"replicas": 1, "containers": [ctr("a", ports=ports(80))]}}
    with pytest.raises(PatchError) as caught:
        apply_patch(live, body, content_type, "Pod")
    assert caught.value.code == code
    assert message in caught.value.message


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
def test_unsupported_content_type_is_its_own_error(content_type: str) -> None:
    with pytest.raises(UnsupportedPatchType) as caught:
        apply_patch({}, b"{}", content_type, "Pod")
    assert (caught.value.code, caught.value.reason) == (415, "UnsupportedMediaType")


@pytest.mark.parametrize(("code", "reason"), [
    (400, "BadRequest"), (415, "UnsupportedMediaType"), (422, "Invalid"), (500, ""),
])
def test_error_reason(code: int, reason: str) -> None:
    assert PatchError("x", code).reason == reason
