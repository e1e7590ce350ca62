"""Defaulting tables: what a freshly written object looks like once the apiserver has
defaulted it, that set values are kept, and that defaulting twice changes nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apiserver.defaults import apply_defaults, drop_type_dependent_fields, image_pull_policy

CONTAINER = {"name": "app", "image": "nginx:1.27"}
POD = {"metadata": {"name": "web", "namespace": "default"}, "spec": {"containers": [CONTAINER]}}
DEPLOYMENT = {"metadata": {"name": "web"}, "spec": {
    "selector": {"matchLabels": {"app": "web"}},
    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [CONTAINER]}}}}
SERVICE = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"},
                                                 "ports": [{"port": 80}]}}


def at(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def with_spec(base: dict, **spec: Any) -> dict:
    out = copy.deepcopy(base)
    out["spec"].update(spec)
    return out


def container(**fields: Any) -> dict:
    return {**CONTAINER, **fields}


NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}
UNREACHABLE = dict(NOT_READY, key="node.kubernetes.io/unreachable")

DEFAULTS = [
    # Pod spec and admission
    ("Pod", POD, "spec.restartPolicy", "Always", "pod-restart-policy"),
    ("Pod", POD, "spec.dnsPolicy", "ClusterFirst", "pod-dns-policy"),
    ("Pod", POD, "spec.schedulerName", "default-scheduler", "pod-scheduler"),
    ("Pod", POD, "spec.terminationGracePeriodSeconds", 30, "pod-grace"),
    ("Pod", POD, "spec.securityContext", {}, "pod-security-context"),
    ("Pod", POD, "spec.serviceAccountName", "default", "pod-service-account-name"),
    ("Pod", POD, "spec.serviceAccount", "default", "pod-service-account-deprecated"),
    ("Pod", with_spec(POD, serviceAccount="builder"), "spec.serviceAccountName", "builder",
     "pod-service-account-from-deprecated"),
    ("Pod", POD, "spec.enableServiceLinks", True, "pod-service-links"),
    ("Pod", POD, "spec.priority", 0, "pod-priority"),
    ("Pod", with_spec(POD, priorityClassName="system-node-critical"), "spec.priority",
     2000001000, "pod-priority-system-class"),
    ("Pod", POD, "spec.preemptionPolicy", "PreemptLowerPriority", "pod-preemption"),
    ("Pod", POD, "spec.tolerations", [NOT_READY, UNREACHABLE], "pod-tolerations"),
    ("Pod", with_spec(POD, tolerations=[{"operator": "Exists"}]), "spec.tolerations",
     [{"operator": "Exists"}], "pod-tolerates-everything"),
    ("Pod", with_spec(POD, tolerations=[dict(NOT_READY, tolerationSeconds=5)]),
     "spec.tolerations", [dict(NOT_READY, tolerationSeconds=5), UNREACHABLE],
     "pod-keeps-own-toleration"),
    # containers
    ("Pod", POD, "spec.containers.0.imagePullPolicy", "IfNotPresent", "pull-tagged"),
    ("Pod", with_spec(POD, containers=[container(image="nginx")]),
     "spec.containers.0.imagePullPolicy", "Always", "pull-untagged"),
    ("Pod", with_spec(POD, containers=[container(image="nginx:latest")]),
     "spec.containers.0.imagePullPolicy", "Always", "pull-latest"),
    ("Pod", with_spec(POD, containers=[container(imagePullPolicy="Never")]),
     "spec.containers.0.imagePullPolicy", "Never", "pull-kept"),
    ("Pod", POD, "spec.containers.0.terminationMessagePath", "/dev/termination-log",
     "termination-path"),
    ("Pod", POD, "spec.containers.0.terminationMessagePolicy", "File", "termination-policy"),
    ("Pod", POD, "spec.containers.0.resources", {}, "resources"),
    ("Pod", with_spec(POD, containers=[container(resources={"limits": {"cpu": "1"}})]),
     "spec.containers.0.resources.requests", {"cpu": "1"}, "requests-from-limits"),
    ("Pod", with_spec(POD, containers=[container(ports=[{"containerPort": 80}])]),
     "spec.containers.0.ports.0.protocol", "TCP", "port-protocol"),
    ("Pod", with_spec(POD, hostNetwork=True, containers=[container(ports=[
        {"containerPort": 80}])]), "spec.containers.0.ports.0.hostPort", 80,
     "host-network-host-port"),
    ("Pod", with_spec(POD, initContainers=[container(name="init", image="busybox")]),
     "spec.initContainers.0.imagePullPolicy", "Always", "init-container"),
    ("Pod", with_spec(POD, containers=[container(readinessProbe={"httpGet": {"port": 80}})]),
     "spec.containers.0.readinessProbe", {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                                          "timeoutSeconds": 1, "periodSeconds": 10,
                                          "successThreshold": 1, "failureThreshold": 3},
     "probe"),
    ("Pod", with_spec(POD, containers=[container(livenessProbe={"grpc": {"port": 9090},
                                                                "periodSeconds": 5})]),
     "spec.containers.0.livenessProbe", {"grpc": {"port": 9090, "service": ""},
                                         "timeoutSeconds": 1, "periodSeconds": 5,
                                         "successThreshold": 1, "failureThreshold": 3},
     "probe-grpc-keeps-period"),
    ("Pod", with_spec(POD, containers=[container(env=[{"name": "IP", "valueFrom": {
        "fieldRef": {"fieldPath": "status.podIP"}}}])]),
     "spec.containers.0.env.0.valueFrom.fieldRef.apiVersion", "v1", "env-fieldref"),
    ("Pod", with_spec(POD, volumes=[{"name": "scratch"}]), "spec.volumes.0.emptyDir", {},
     "volume-emptydir"),
    ("Pod", with_spec(POD, volumes=[{"name": "cfg", "configMap": {"name": "cfg"}}]),
     "spec.volumes.0.configMap.defaultMode", 420, "volume-configmap-mode"),
    # workloads
    ("Deployment", DEPLOYMENT, "spec.replicas", 1, "deployment-replicas"),
    ("Deployment", DEPLOYMENT, "spec.strategy", {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": "25%", "maxSurge": "25%"}}, "deployment-strategy"),
    ("Deployment", with_spec(DEPLOYMENT, strategy={"type": "Recreate"}), "spec.strategy",
     {"type": "Recreate"}, "deployment-recreate"),
    ("Deployment", DEPLOYMENT, "spec.revisionHistoryLimit", 10, "deployment-history"),
    ("Deployment", DEPLOYMENT, "spec.progressDeadlineSeconds", 600, "deployment-deadline"),
    ("Deployment", DEPLOYMENT, "spec.template.spec.restartPolicy", "Always",
     "deployment-template"),
    ("Deployment", DEPLOYMENT, "spec.template.spec.containers.0.imagePullPolicy", "IfNotPresent",
     "deployment-template-container"),
    ("Deployment", with_spec(DEPLOYMENT, replicas=0), "spec.replicas", 0,
     "deployment-zero-replicas-kept"),
    ("ReplicaSet", DEPLOYMENT, "spec.replicas", 1, "replicaset-replicas"),
    ("ReplicaSet", DEPLOYMENT, "spec.template.spec.dnsPolicy", "ClusterFirst",
     "replicaset-template"),
    # Service
    ("Service", SERVICE, "spec.type", "ClusterIP", "service-type"),
    ("Service", SERVICE, "spec.sessionAffinity", "None", "service-affinity"),
    ("Service", SERVICE, "spec.ports.0", {"port": 80, "protocol": "TCP", "targetPort": 80},
     "service-port"),
    ("Service", SERVICE, "spec.ipFamilies", ["IPv4"], "service-families"),
    ("Service", SERVICE, "spec.ipFamilyPolicy", "SingleStack", "service-family-policy"),
    ("Service", with_spec(SERVICE, clusterIP="None", selector=None), "spec.ipFamilyPolicy",
     "RequireDualStack", "service-headless-selectorless"),
    ("Service", SERVICE, "spec.internalTrafficPolicy", "Cluster", "service-internal-policy"),
    ("Service", with_spec(SERVICE, type="NodePort"), "spec.externalTrafficPolicy", "Cluster",
     "service-external-policy"),
    ("Service", with_spec(SERVICE, type="LoadBalancer"), "spec.allocateLoadBalancerNodePorts",
     True, "service-lb-node-ports"),
    ("Service", with_spec(SERVICE, sessionAffinity="ClientIP"), "spec.sessionAffinityConfig",
     {"clientIP": {"timeoutSeconds": 10800}}, "service-client-ip-timeout"),
    ("Service", with_spec(SERVICE, ports=[{"port": 80, "targetPort": "http"}]),
     "spec.ports.0.targetPort", "http", "service-named-target-kept"),
    # other kinds
    ("Namespace", {"metadata": {"name": "team-a"}}, "metadata.labels",
     {"kubernetes.io/metadata.name": "team-a"}, "namespace-label"),
    ("Namespace", {"metadata": {"name": "team-a"}}, "spec.finalizers", ["kubernetes"],
     "namespace-finalizer"),
    ("Namespace", {"metadata": {"name": "team-a"}, "spec": {"finalizers": []}},
     "spec.finalizers", [], "namespace-finalized-kept"),
    ("Namespace", {"metadata": {"name": "team-a"}}, "status.phase", "Active", "namespace-phase"),
    ("Secret", {"metadata": {"name": "s"}}, "type", "Opaque", "secret-type"),
    ("Secret", {"metadata": {"name": "s"}, "data": {"a": "YQ=="}, "stringData": {"b": "hi"}},
     "data", {"a": "YQ==", "b": "aGk="}, "secret-string-data"),
    ("Endpoints", {"metadata": {"name": "web"}, "subsets": [{"ports": [{"port": 80}]}]},
     "subsets.0.ports.0.protocol", "TCP", "endpoints-protocol"),
    ("EndpointSlice", {"metadata": {"name": "web-1"}, "ports": [{"port": 80}]}, "ports.0",
     {"port": 80, "name": "", "protocol": "TCP"}, "endpointslice-port"),
    ("NetworkPolicy", {"metadata": {"name": "np"}, "spec": {}}, "spec.policyTypes",
     ["Ingress"], "netpol-ingress-only"),
    ("NetworkPolicy", {"metadata": {"name": "np"}, "spec": {"egress": [{}]}},
     "spec.policyTypes", ["Ingress", "Egress"], "netpol-with-egress"),
    ("NetworkPolicy", {"metadata": {"name": "np"}, "spec": {}}, "spec.podSelector", {},
     "netpol-pod-selector"),
    ("NetworkPolicy", {"metadata": {"name": "np"}, "spec": {"ingress": [{"ports": [
        {"port": 80}]}]}}, "spec.ingress.0.ports.0.protocol", "TCP", "netpol-port-protocol"),
    ("IngressClass", {"metadata": {"name": "c"}, "spec": {"controller": "x.io/c", "parameters": {
        "kind": "Params", "name": "p"}}}, "spec.parameters.scope", "Cluster",
     "ingressclass-scope"),
]


@pytest.mark.parametrize("kind,obj,path,expected", [c[:4] for c in DEFAULTS],
                         ids=[c[4] for c in DEFAULTS])
def test_defaults(kind: str, obj: dict, path: str, expected: Any) -> None:
    obj = copy.deepcopy(obj)
    apply_defaults(kind, obj)
    assert at(obj, path) == expected


ABSENT = [
    ("Service", with_spec(SERVICE, type="ExternalName", externalName="db.example.com",
                          selector=None, ports=None), "ipFamilies", "externalname-no-families"),
    ("Service", with_spec(SERVICE, type="ExternalName", externalName="db.example.com"),
     "internalTrafficPolicy", "externalname-no-internal-policy"),
    ("Service", SERVICE, "externalTrafficPolicy", "clusterip-no-external-policy"),
    ("Service", SERVICE, "allocateLoadBalancerNodePorts", "clusterip-no-lb-ports"),
    ("Service", with_spec(SERVICE, sessionAffinityConfig={"clientIP": {"timeoutSeconds": 5}}),
     "sessionAffinityConfig", "affinity-none-drops-config"),
    ("Service", SERVICE, "clusterIP", "no-allocation"),
    ("Deployment", DEPLOYMENT, "template.spec.enableServiceLinks", "template-no-pod-only-fields"),
    ("Deployment", DEPLOYMENT, "template.spec.tolerations", "template-no-admission"),
]


@pytest.mark.parametrize("kind,obj,spec_path", [c[:3] for c in ABSENT],
                         ids=[c[3] for c in ABSENT])
def test_fields_left_unset(kind: str, obj: dict, spec_path: str) -> None:
    obj = copy.deepcopy(obj)
    apply_defaults(kind, obj)
    parent_path, _, last = spec_path.rpartition(".")
    parent = at(obj["spec"], parent_path) if parent_path else obj["spec"]
    assert last not in parent


@pytest.mark.parametrize("kind,obj", [
    ("Pod", with_spec(POD, containers=[container(
        readinessProbe={"httpGet": {"port": 80}}, resources={"limits": {"cpu": "1"}})])),
    ("Deployment", DEPLOYMENT),
    ("Service", with_spec(SERVICE, type="LoadBalancer", sessionAffinity="ClientIP")),
    ("Namespace", {"metadata": {"name": "team-a"}}),
    ("Secret", {"metadata": {"name": "s"}, "stringData": {"b": "hi"}}),
    ("NetworkPolicy", {"metadata": {"name": "np"}, "spec": {"egress": [{}]}}),
], ids=["pod", "deployment", "service", "namespace", "secret", "networkpolicy"])
def test_defaulting_is_idempotent(kind: str, obj: dict) -> None:
    once = copy.deepcopy(obj)
    apply_defaults(kind, once)
    twice = copy.deepcopy(once)
    apply_defaults(kind, twice)
    assert twice == once != obj


@pytest.mark.parametrize("image,policy", [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.27", "IfNotPresent"),
    ("registry.local:5000/team/app", "Always"), ("registry.local:5000/team/app:v2", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"), ("nginx:latest@sha256:" + "a" * 64, "Always"),
    ("Nginx", "IfNotPresent"), ("", "IfNotPresent"),
], ids=["untagged", "latest", "tagged", "registry-untagged", "registry-tagged", "digest",
        "latest-with-digest", "unparsable-uppercase", "empty"])
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_unknown_kinds_are_left_alone() -> None:
    obj = {"metadata": {"name": "x"}, "spec": {}}
    apply_defaults("ConfigMap", obj)
    assert obj == {"metadata": {"name": "x"}, "spec": {}}


NODE_PORT_SVC = with_spec(SERVICE, type="LoadBalancer", externalTrafficPolicy="Cluster",
                          allocateLoadBalancerNodePorts=True, ports=[
                              {"port": 80, "protocol": "TCP", "targetPort": 80,
                               "nodePort": 30080}])


@pytest.mark.parametrize("new_spec,gone,kept", [
    ({"type": "ClusterIP"}, ["externalTrafficPolicy", "allocateLoadBalancerNodePorts",
                             "ports.0.nodePort"], []),
    ({"type": "NodePort"}, ["allocateLoadBalancerNodePorts"],
     ["externalTrafficPolicy", "ports.0.nodePort"]),
    ({"type": "ClusterIP", "externalTrafficPolicy": "Local"}, ["ports.0.nodePort"],
     ["externalTrafficPolicy"]),
], ids=["lb-to-clusterip", "lb-to-nodeport", "changed-policy-kept"])
def test_type_change_drops_leftovers(new_spec: dict, gone: list[str], kept: list[str]) -> None:
    new = copy.deepcopy(NODE_PORT_SVC)
    new["spec"].update(new_spec)
    drop_type_dependent_fields(new, NODE_PORT_SVC)
    for path in gone:
        parent_path, _, last = path.rpartition(".")
        assert last not in (at(new["spec"], parent_path) if parent_path else new["spec"])
    for path in kept:
        at(new["spec"], path)  # raises KeyError when dropped
