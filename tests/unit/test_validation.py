"""Validation tables: objects the apiserver accepts, and for the ones it refuses the exact
field path, CauseType and (for the common cases) the message kubectl prints."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apiserver import jobs
from apiserver.defaults import apply_defaults
from apiserver.validate_formats import parse_quantity
from apiserver.validation import Cause, _base64_error, invalid_message, validate, warnings

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
PORT_RANGE = "must be between 1 and 65535, inclusive"


# --- builders ---------------------------------------------------------------------------

def set_path(obj: dict, path: str, value: Any) -> dict:
    """Copy of ``obj`` with ``a.b.0.c`` set (``...=None`` deletes the key)."""
    out = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node: Any = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    elif value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return out


def edit(obj: dict, **changes: Any) -> dict:
    for path, value in changes.items():
        obj = set_path(obj, path.replace("__", "."), value)
    return obj


def defaulted(kind: str, obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    apply_defaults(kind, obj)
    return obj


def meta(name: str = "web", namespace: str | None = "default", **extra: Any) -> dict:
    out: dict[str, Any] = {"name": name, **extra}
    if namespace:
        out["namespace"] = namespace
    return out


CONTAINER = {"name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": meta(),
       "spec": {"containers": [CONTAINER]}}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [CONTAINER]}}
DEPLOYMENT = {"metadata": meta(), "spec": {"selector": {"matchLabels": {"app": "web"}},
                                           "template": TEMPLATE}}
REPLICA_SET = DEPLOYMENT
JOB_UID = "0b7f6a1e-0000-4000-8000-000000000001"
# A Job as the registry validates it: prepared for create (generated selector and labels).
JOB = {"metadata": meta("pi", uid=JOB_UID), "spec": {"template": {"spec": {
    "restartPolicy": "Never", "containers": [dict(CONTAINER, ports=None)]}}}}
jobs.prepare_for_create(JOB)
SERVICE = {"metadata": meta(), "spec": {"selector": {"app": "web"},
                                        "ports": [{"port": 80, "targetPort": 8080}]}}
INGRESS_BACKEND = {"service": {"name": "web", "port": {"number": 80}}}
INGRESS = {"metadata": meta(), "spec": {"rules": [{"host": "foo.example.com", "http": {
    "paths": [{"path": "/", "pathType": "Prefix", "backend": INGRESS_BACKEND}]}}]}}
NETPOL = {"metadata": meta(), "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                                       "ingress": [{"from": [{"ipBlock": {
                                           "cidr": "10.0.0.0/16", "except": ["10.0.1.0/24"]}}],
                                           "ports": [{"port": 80}]}]}}
ENDPOINTS = {"metadata": meta(), "subsets": [{"addresses": [{"ip": "127.244.1.5"}],
                                              "ports": [{"port": 80}]}]}
SLICE = {"metadata": meta("web-abc"), "addressType": "IPv4",
         "endpoints": [{"addresses": ["127.244.1.5"]}], "ports": [{"name": "http", "port": 80}]}
NODE = {"metadata": meta("node-1", None), "spec": {"podCIDR": "127.244.1.0/24"}}
SECRET = {"metadata": meta("tls"), "type": "kubernetes.io/tls",
          "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}}

VALID = [
    ("Pod", POD, "pod"),
    ("Pod", edit(POD, metadata=meta("web", generateName="web-"),
                 **{"metadata.name": None}), "pod-generate-name"),
    ("Pod", edit(POD, spec__containers=[dict(CONTAINER, livenessProbe={
        "httpGet": {"path": "/healthz", "port": "http"}}, ports=[{"name": "http",
                                                                   "containerPort": 80}])]),
     "pod-named-port-probe"),
    ("Pod", edit(POD, spec__containers=[dict(CONTAINER, env=[
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "LABEL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "my.odd-NAME", "value": "ok"}],
        resources={"requests": {"cpu": "100m", "memory": "64Mi"},
                   "limits": {"cpu": "1", "memory": "128Mi"}})]), "pod-env-resources"),
    ("Pod", edit(POD, spec__volumes=[{"name": "cfg", "configMap": {"name": "cfg"}}],
                 spec__containers=[dict(CONTAINER, volumeMounts=[{"name": "cfg",
                                                                  "mountPath": "/etc/cfg"}])]),
     "pod-volume-mount"),
    ("Pod", edit(POD, metadata__labels={"app.kubernetes.io/name": "web", "tier": ""},
                 metadata__annotations={"Example.com/Owner": "me"}), "pod-labels-annotations"),
    ("Deployment", DEPLOYMENT, "deployment"),
    ("Deployment", edit(DEPLOYMENT, spec__strategy={"type": "Recreate"}), "deployment-recreate"),
    ("Deployment", edit(DEPLOYMENT, spec__selector={"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["web", "api"]}]}), "deployment-expressions"),
    ("ReplicaSet", REPLICA_SET, "replicaset"),
    ("Job", JOB, "job"),
    ("Job", edit(JOB, spec__template__spec__restartPolicy="OnFailure", spec__completions=5,
                 spec__parallelism=2, spec__backoffLimit=0, spec__activeDeadlineSeconds=60,
                 spec__ttlSecondsAfterFinished=0), "job-counts"),
    ("Job", edit(JOB, spec__completionMode="Indexed", spec__completions=3), "job-indexed"),
    ("Job", {"metadata": meta("m"), "spec": {
        "manualSelector": True, "selector": {"matchLabels": {"app": "m"}},
        "template": {"metadata": {"labels": {"app": "m"}},
                     "spec": {"restartPolicy": "Never", "containers": [CONTAINER]}}}},
     "job-manual-selector"),
    ("Service", SERVICE, "service"),
    ("Service", edit(SERVICE, spec__type="NodePort", spec__ports=[
        {"name": "http", "port": 80, "nodePort": 30080}, {"name": "https", "port": 443}]),
     "service-nodeport"),
    ("Service", edit(SERVICE, spec__clusterIP="None", spec__ports=None), "service-headless"),
    ("Service", {"metadata": meta("db"), "spec": {"type": "ExternalName",
                                                  "externalName": "db.example.com."}},
     "service-externalname"),
    ("Service", edit(SERVICE, spec__sessionAffinity="ClientIP"), "service-client-ip"),
    ("Endpoints", ENDPOINTS, "endpoints-loopback-ip"),
    ("EndpointSlice", SLICE, "endpointslice"),
    ("ConfigMap", {"metadata": meta("cfg"), "data": {"app.conf": "x", "KEY_2": "y"}},
     "configmap"),
    ("Secret", SECRET, "secret-tls"),
    ("Secret", {"metadata": meta("s"), "data": {"a": "YWJj\nZA=="}}, "secret-opaque-newline"),
    ("Namespace", {"metadata": meta("team-a", None)}, "namespace"),
    ("Node", NODE, "node"),
    ("Ingress", INGRESS, "ingress"),
    ("Ingress", edit(INGRESS, spec__rules__0__host="*.example.com",
                     spec__tls=[{"hosts": ["*.example.com"], "secretName": "tls"}]),
     "ingress-wildcard"),
    ("Ingress", {"metadata": meta(), "spec": {"defaultBackend": INGRESS_BACKEND}},
     "ingress-default-backend"),
    ("IngressClass", {"metadata": meta("nginx", None), "spec": {
        "controller": "k8s.io/ingress-nginx"}}, "ingressclass"),
    ("NetworkPolicy", NETPOL, "networkpolicy"),
    ("NetworkPolicy", edit(NETPOL, spec__egress=[{"ports": [{"port": 8000, "endPort": 9000}]}]),
     "networkpolicy-endport"),
    ("Event", {"metadata": meta("web.17a"), "involvedObject": {"namespace": "default"}},
     "event"),
    ("Lease", {"metadata": meta("node-1"), "spec": {"leaseDurationSeconds": 40}}, "lease"),
    ("ServiceAccount", {"metadata": meta("builder")}, "serviceaccount"),
]


@pytest.mark.parametrize("kind,obj", [(k, o) for k, o, _ in VALID], ids=[i for *_, i in VALID])
def test_valid_objects_have_no_causes(kind: str, obj: dict) -> None:
    assert validate(kind, defaulted(kind, obj)) == []


Case = tuple[str, dict, str, str, str | None, str]

INVALID: list[Case] = [
    # metadata, all kinds
    ("Pod", edit(POD, metadata__name=None), "metadata.name", "FieldValueRequired",
     "Required value: name or generateName is required", "name-required"),
    ("ConfigMap", {"metadata": meta("My_Name")}, "metadata.name", "FieldValueInvalid",
     f'Invalid value: "My_Name": {SUBDOMAIN_MSG}', "name-subdomain"),
    ("Namespace", {"metadata": meta("a.b", None)}, "metadata.name", "FieldValueInvalid",
     'Invalid value: "a.b": must not contain dots', "namespace-name-label"),
    ("Namespace", {"metadata": meta("Team", None)}, "metadata.name", "FieldValueInvalid",
     f'Invalid value: "Team": {LABEL_MSG}', "namespace-name-case"),
    ("Service", edit(SERVICE, metadata__name="1web"), "metadata.name", "FieldValueInvalid",
     f'Invalid value: "1web": {DNS1035_MSG}', "service-name-dns1035"),
    ("Pod", edit(POD, metadata__name="x" * 254), "metadata.name", "FieldValueInvalid",
     None, "name-too-long"),
    ("Pod", edit(POD, metadata__generateName="Web-", metadata__name=None),
     "metadata.generateName", "FieldValueInvalid", None, "generate-name"),
    ("Pod", edit(POD, metadata__labels={"app": "has space"}), "metadata.labels",
     "FieldValueInvalid", f'Invalid value: "has space": {LABEL_VALUE_MSG}', "label-value"),
    ("Pod", edit(POD, metadata__labels={"app": "v" * 64}), "metadata.labels",
     "FieldValueInvalid", None, "label-value-too-long"),
    ("Pod", edit(POD, metadata__labels={"-bad/key": "x"}), "metadata.labels",
     "FieldValueInvalid", None, "label-key-prefix"),
    ("Pod", edit(POD, metadata__labels={"a/b/c": "x"}), "metadata.labels", "FieldValueInvalid",
     None, "label-key-slashes"),
    ("Pod", edit(POD, metadata__annotations={"bad key": "x"}), "metadata.annotations",
     "FieldValueInvalid", None, "annotation-key"),
    ("Pod", edit(POD, metadata__annotations={"big": "x" * (256 * 1024)}),
     "metadata.annotations", "FieldValueTooLong", "Too long: must have at most 262144 bytes",
     "annotations-size"),
    ("Pod", edit(POD, metadata__finalizers=["custom"]), "metadata.finalizers[0]",
     "FieldValueInvalid", 'Invalid value: "custom": name is neither a standard finalizer name '
     "nor is it fully qualified", "finalizer-unqualified"),
    # Pod spec
    ("Pod", edit(POD, spec__containers=[]), "spec.containers", "FieldValueRequired",
     "Required value", "containers-required"),
    ("Pod", edit(POD, spec__containers=[CONTAINER, CONTAINER]), "spec.containers[1].name",
     "FieldValueDuplicate", 'Duplicate value: "app"', "container-name-duplicate"),
    ("Pod", edit(POD, spec__containers__0__name="App_1"), "spec.containers[0].name",
     "FieldValueInvalid", f'Invalid value: "App_1": {LABEL_MSG}', "container-name-label"),
    ("Pod", edit(POD, spec__containers__0__image=""), "spec.containers[0].image",
     "FieldValueRequired", "Required value", "image-required"),
    ("Pod", edit(POD, spec__containers__0__image=" nginx"), "spec.containers[0].image",
     "FieldValueInvalid", None, "image-whitespace"),
    ("Pod", edit(POD, spec__containers__0__ports=[{"containerPort": 70000}]),
     "spec.containers[0].ports[0].containerPort", "FieldValueInvalid",
     f"Invalid value: 70000: {PORT_RANGE}", "container-port-range"),
    ("Pod", edit(POD, spec__containers__0__ports=[{"containerPort": 80, "protocol": "HTTP"}]),
     "spec.containers[0].ports[0].protocol", "FieldValueNotSupported",
     'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"', "container-protocol"),
    ("Pod", edit(POD, spec__containers__0__ports=[{"name": "web-server-https",
                                                   "containerPort": 1}]),
     "spec.containers[0].ports[0].name", "FieldValueInvalid",
     'Invalid value: "web-server-https": must be no more than 15 characters', "port-name-long"),
    ("Pod", edit(POD, spec__containers__0__ports=[{"name": "8080", "containerPort": 1}]),
     "spec.containers[0].ports[0].name", "FieldValueInvalid",
     'Invalid value: "8080": must contain at least one letter (a-z)', "port-name-letter"),
    ("Pod", edit(POD, spec__containers__0__ports=[{"name": "web", "containerPort": 1},
                                                  {"name": "web", "containerPort": 2}]),
     "spec.containers[0].ports[1].name", "FieldValueDuplicate", 'Duplicate value: "web"',
     "port-name-duplicate"),
    ("Pod", edit(POD, spec__restartPolicy="Sometimes"), "spec.restartPolicy",
     "FieldValueNotSupported",
     'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
     "restart-policy"),
    ("Pod", edit(POD, spec__containers__0__livenessProbe={"periodSeconds": 5}),
     "spec.containers[0].livenessProbe", "FieldValueRequired",
     "Required value: must specify a handler type", "probe-no-handler"),
    ("Pod", edit(POD, spec__containers__0__readinessProbe={
        "exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}),
     "spec.containers[0].readinessProbe.tcpSocket", "FieldValueForbidden",
     "Forbidden: may not specify more than 1 handler type", "probe-two-handlers"),
    ("Pod", edit(POD, spec__containers__0__readinessProbe={
        "tcpSocket": {"port": 80}, "initialDelaySeconds": -1}),
     "spec.containers[0].readinessProbe.initialDelaySeconds", "FieldValueInvalid",
     "Invalid value: -1: must be greater than or equal to 0", "probe-negative"),
    ("Pod", edit(POD, spec__containers__0__livenessProbe={
        "tcpSocket": {"port": 80}, "successThreshold": 2}),
     "spec.containers[0].livenessProbe.successThreshold", "FieldValueInvalid",
     "Invalid value: 2: must be 1", "liveness-success-threshold"),
    ("Pod", edit(POD, spec__containers__0__env=[{"name": "A=B", "value": "x"}]),
     "spec.containers[0].env[0].name", "FieldValueInvalid",
     'Invalid value: "A=B": a valid environment variable name must consist only of printable '
     "ASCII characters other than '='", "env-name"),
    ("Pod", edit(POD, spec__containers__0__env=[{"name": "X", "valueFrom": {
        "fieldRef": {"fieldPath": "status.phase"}}}]),
     "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", "FieldValueNotSupported", None,
     "env-fieldref-not-allowed"),
    ("Pod", edit(POD, spec__containers__0__env=[{"name": "X", "valueFrom": {
        "fieldRef": {"fieldPath": "spec.bogus"}}}]),
     "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", "FieldValueInvalid",
     'Invalid value: "spec.bogus": error converting fieldPath: field label not supported: '
     "spec.bogus", "env-fieldref-unknown"),
    ("Pod", edit(POD, spec__containers__0__env=[{"name": "X", "valueFrom": {}}]),
     "spec.containers[0].env[0].valueFrom", "FieldValueInvalid", None, "env-valuefrom-empty"),
    ("Pod", edit(POD, spec__containers__0__resources={"requests": {"cpu": "2"},
                                                      "limits": {"cpu": "1"}}),
     "spec.containers[0].resources.requests", "FieldValueInvalid",
     'Invalid value: "2": must be less than or equal to cpu limit of 1', "requests-over-limit"),
    ("Pod", edit(POD, spec__containers__0__resources={"limits": {"gpu": "1"}}),
     "spec.containers[0].resources.limits[gpu]", "FieldValueInvalid",
     'Invalid value: "gpu": must be a standard resource for containers', "resource-name"),
    ("Pod", edit(POD, spec__containers__0__resources={"limits": {"memory": "-1Gi"}}),
     "spec.containers[0].resources.limits[memory]", "FieldValueInvalid",
     'Invalid value: "-1Gi": must be greater than or equal to 0', "resource-negative"),
    ("Pod", edit(POD, spec__containers__0__volumeMounts=[{"name": "data", "mountPath": "/d"}]),
     "spec.containers[0].volumeMounts[0].name", "FieldValueNotFound", 'Not found: "data"',
     "mount-unknown-volume"),
    ("Pod", edit(POD, spec__volumes=[{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]),
     "spec.volumes[0].hostPath", "FieldValueForbidden",
     "Forbidden: may not specify more than 1 volume type", "volume-two-types"),
    ("Pod", edit(POD, spec__tolerations=[{"operator": "Equal", "value": "x"}]),
     "spec.tolerations[0].operator", "FieldValueInvalid", None, "toleration-empty-key"),
    ("Pod", edit(POD, spec__dnsPolicy="None"), "spec.dnsConfig", "FieldValueRequired",
     "Required value: must provide `dnsConfig` when `dnsPolicy` is None", "dns-none"),
    ("Pod", edit(POD, spec__hostNetwork=True, spec__containers__0__ports=[
        {"containerPort": 80, "hostPort": 81}]),
     "spec.containers[0].ports[0].hostPort", "FieldValueInvalid", None, "hostnetwork-port"),
    ("Pod", edit(POD, spec__containers=[dict(CONTAINER, name="a", ports=[
        {"containerPort": 80, "hostPort": 8080}]), dict(CONTAINER, name="b", ports=[
            {"containerPort": 81, "hostPort": 8080}])]),
     "spec.containers[1].ports[0].hostPort", "FieldValueDuplicate",
     'Duplicate value: "TCP//8080"', "host-port-conflict"),
    ("Pod", edit(POD, spec__activeDeadlineSeconds=0), "spec.activeDeadlineSeconds",
     "FieldValueInvalid", "Invalid value: 0: must be between 1 and 2147483647, inclusive",
     "active-deadline"),
    ("Pod", edit(POD, spec__initContainers=[dict(CONTAINER, name="init", readinessProbe={
        "tcpSocket": {"port": 80}})]), "spec.initContainers[0].readinessProbe",
     "FieldValueForbidden", None, "init-probe"),
    # Deployment and ReplicaSet
    ("Deployment", edit(DEPLOYMENT, spec__selector=None), "spec.selector", "FieldValueRequired",
     "Required value", "selector-required"),
    ("Deployment", edit(DEPLOYMENT, spec__template__metadata__labels={"app": "api"}),
     "spec.template.metadata.labels", "FieldValueInvalid",
     'Invalid value: map[string]string{"app":"api"}: `selector` does not match template '
     "`labels`", "selector-mismatch"),
    ("Deployment", edit(DEPLOYMENT, spec__selector={"matchLabels": {}}), "spec.selector",
     "FieldValueInvalid", "Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, "
     "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
     "deployment", "selector-empty"),
    ("Deployment", edit(DEPLOYMENT, spec__selector={"matchExpressions": [
        {"key": "app", "operator": "Near", "values": ["web"]}]}),
     "spec.selector.matchExpressions[0].operator", "FieldValueInvalid",
     'Invalid value: "Near": not a valid selector operator', "selector-operator"),
    ("Deployment", edit(DEPLOYMENT, spec__replicas=-1), "spec.replicas", "FieldValueInvalid",
     "Invalid value: -1: must be greater than or equal to 0", "replicas-negative"),
    ("Deployment", edit(DEPLOYMENT, spec__strategy={"type": "BlueGreen"}), "spec.strategy",
     "FieldValueNotSupported", 'Unsupported value: apps.DeploymentStrategy{Type:"BlueGreen", '
     "RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: \"Recreate\", "
     '"RollingUpdate"', "strategy-type"),
    ("Deployment", edit(DEPLOYMENT, spec__strategy={"rollingUpdate": {
        "maxSurge": 0, "maxUnavailable": 0}}), "spec.strategy.rollingUpdate.maxUnavailable",
     "FieldValueInvalid", 'Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: may '
     "not be 0 when `maxSurge` is 0", "strategy-both-zero"),
    ("Deployment", edit(DEPLOYMENT, spec__strategy={"rollingUpdate": {"maxSurge": "half"}}),
     "spec.strategy.rollingUpdate.maxSurge", "FieldValueInvalid", None, "strategy-not-percent"),
    ("Deployment", edit(DEPLOYMENT, spec__template__spec__restartPolicy="Never"),
     "spec.template.spec.restartPolicy", "FieldValueNotSupported",
     'Unsupported value: "Never": supported values: "Always"', "template-restart-policy"),
    ("Deployment", edit(DEPLOYMENT, spec__template__spec__containers__0__image=""),
     "spec.template.spec.containers[0].image", "FieldValueRequired", None, "template-image"),
    ("ReplicaSet", edit(REPLICA_SET, spec__template__metadata__labels=None),
     "spec.template.metadata.labels", "FieldValueInvalid", None, "rs-selector-mismatch"),
    # Job
    ("Job", edit(JOB, spec__template__spec__restartPolicy="Always"),
     "spec.template.spec.restartPolicy", "FieldValueRequired",
     'Required value: valid values: "OnFailure", "Never"', "job-restart-always"),
    ("Job", edit(JOB, spec__template__spec__restartPolicy=None),
     "spec.template.spec.restartPolicy", "FieldValueRequired",
     'Required value: valid values: "OnFailure", "Never"', "job-restart-defaulted"),
    ("Job", edit(JOB, spec__backoffLimit=-1), "spec.backoffLimit", "FieldValueInvalid",
     "Invalid value: -1: must be greater than or equal to 0", "job-backoff-negative"),
    ("Job", edit(JOB, spec__parallelism=-2), "spec.parallelism", "FieldValueInvalid",
     "Invalid value: -2: must be greater than or equal to 0", "job-parallelism-negative"),
    ("Job", edit(JOB, spec__completionMode="Sometimes"), "spec.completionMode",
     "FieldValueNotSupported", 'Unsupported value: "Sometimes": supported values: '
     '"NonIndexed", "Indexed"', "job-completion-mode"),
    ("Job", edit(JOB, spec__completionMode="Indexed", spec__completions=None,
                 spec__parallelism=2), "spec.completions", "FieldValueRequired",
     "Required value: when completion mode is Indexed", "job-indexed-completions"),
    ("Job", edit(JOB, spec__selector={"matchLabels": {"app": "pi"}}), "spec.selector",
     "FieldValueInvalid", None, "job-selector-not-generated"),
    ("Job", edit(JOB, **{"spec.template.metadata.labels": {"job-name": "pi"}}),
     "spec.template.metadata.labels[batch.kubernetes.io/controller-uid]",
     "FieldValueRequired", "Required value", "job-generated-label-missing"),
    ("Job", {"metadata": meta("m"), "spec": {
        "manualSelector": True, "template": {"spec": {"restartPolicy": "Never",
                                                      "containers": [CONTAINER]}}}},
     "spec.selector", "FieldValueRequired", "Required value", "job-selector-required"),
    # Service
    ("Service", edit(SERVICE, spec__ports__0__port=70000), "spec.ports[0].port",
     "FieldValueInvalid", f"Invalid value: 70000: {PORT_RANGE}", "service-port-range"),
    ("Service", edit(SERVICE, spec__type="Foo"), "spec.type", "FieldValueNotSupported",
     'Unsupported value: "Foo": supported values: "ClusterIP", "ExternalName", '
     '"LoadBalancer", "NodePort"', "service-type"),
    ("Service", edit(SERVICE, spec__ports=None), "spec.ports", "FieldValueRequired",
     "Required value", "service-ports-required"),
    ("Service", edit(SERVICE, spec__ports=[{"port": 80}, {"port": 81}]), "spec.ports[0].name",
     "FieldValueRequired", "Required value", "service-port-names"),
    ("Service", edit(SERVICE, spec__ports=[{"name": "a", "port": 80}, {"name": "a", "port": 81}]),
     "spec.ports[1].name", "FieldValueDuplicate", 'Duplicate value: "a"', "service-name-dup"),
    ("Service", edit(SERVICE, spec__ports=[{"name": "a", "port": 80}, {"name": "b", "port": 80}]),
     "spec.ports[1]", "FieldValueDuplicate", 'Duplicate value: core.ServicePort{Name:"", '
     'Protocol:"TCP", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{'
     'Type:0, IntVal:0, StrVal:""}, NodePort:0}', "service-port-dup"),
    ("Service", edit(SERVICE, spec__ports__0__targetPort="Http"), "spec.ports[0].targetPort",
     "FieldValueInvalid", None, "service-targetport-name"),
    ("Service", edit(SERVICE, spec__ports__0__protocol="ICMP"), "spec.ports[0].protocol",
     "FieldValueNotSupported", None, "service-protocol"),
    ("Service", edit(SERVICE, spec__ports__0__nodePort=30080), "spec.ports[0].nodePort",
     "FieldValueForbidden", "Forbidden: may not be used when `type` is 'ClusterIP'",
     "service-nodeport-clusterip"),
    ("Service", edit(SERVICE, spec__clusterIP="10.0.0.300"), "spec.clusterIPs[0]",
     "FieldValueInvalid", 'Invalid value: "10.0.0.300": must be a valid IP address, (e.g. '
     "10.9.8.7 or 2001:db8::ffff)", "service-cluster-ip"),
    ("Service", {"metadata": meta("db"), "spec": {"type": "ExternalName"}},
     "spec.externalName", "FieldValueRequired", "Required value", "externalname-required"),
    ("Service", {"metadata": meta("db"), "spec": {"type": "ExternalName",
                                                  "externalName": "Bad_Host"}},
     "spec.externalName", "FieldValueInvalid", None, "externalname-syntax"),
    ("Service", edit(SERVICE, spec__sessionAffinity="Sticky"), "spec.sessionAffinity",
     "FieldValueNotSupported", 'Unsupported value: "Sticky": supported values: "ClientIP", '
     '"None"', "session-affinity"),
    ("Service", edit(SERVICE, spec__sessionAffinity="ClientIP", spec__sessionAffinityConfig={
        "clientIP": {"timeoutSeconds": 90000}}),
     "spec.sessionAffinityConfig.clientIP.timeoutSeconds", "FieldValueInvalid",
     "Invalid value: 90000: must be greater than 0 and less than 86400", "affinity-timeout"),
    ("Service", edit(SERVICE, spec__externalTrafficPolicy="Local"), "spec.externalTrafficPolicy",
     "FieldValueInvalid", 'Invalid value: "Local": may only be set for externally-accessible '
     "services", "external-traffic-policy"),
    ("Service", edit(SERVICE, spec__internalTrafficPolicy="Nearby"),
     "spec.internalTrafficPolicy", "FieldValueNotSupported", None, "internal-traffic-policy"),
    # Endpoints and EndpointSlice
    ("Endpoints", edit(ENDPOINTS, subsets__0__addresses__0__ip="not-an-ip"),
     "subsets[0].addresses[0].ip", "FieldValueInvalid", None, "endpoints-ip"),
    ("Endpoints", edit(ENDPOINTS, subsets__0__addresses__0__ip="169.254.1.1"),
     "subsets[0].addresses[0].ip", "FieldValueInvalid", 'Invalid value: "169.254.1.1": may not '
     "be in the link-local range (169.254.0.0/16, fe80::/10)", "endpoints-link-local"),
    ("Endpoints", edit(ENDPOINTS, subsets__0__ports__0__port=0), "subsets[0].ports[0].port",
     "FieldValueInvalid", f"Invalid value: 0: {PORT_RANGE}", "endpoints-port"),
    ("EndpointSlice", edit(SLICE, addressType="IP"), "addressType", "FieldValueNotSupported",
     'Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"', "slice-addresstype"),
    ("EndpointSlice", edit(SLICE, endpoints__0__addresses=["fd00::1"]),
     "endpoints[0].addresses[0]", "FieldValueInvalid",
     'Invalid value: "fd00::1": must be a valid IPv4 address', "slice-ip-family"),
    # ConfigMap and Secret
    ("ConfigMap", {"metadata": meta("cfg"), "data": {"bad key": "x"}}, "data[bad key]",
     "FieldValueInvalid", "Invalid value: \"bad key\": a valid config key must consist of "
     "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
     "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')", "configmap-key"),
    ("Secret", edit(SECRET, data={"tls.crt": "Y2VydA=="}), "data[tls.key]",
     "FieldValueRequired", "Required value", "secret-tls-key"),
    ("Secret", {"metadata": meta("s"), "data": {"a": "not base64!"}}, "data[a]",
     "FieldValueInvalid", 'Invalid value: "<secret contents redacted>": illegal base64 data at '
     "input byte 3", "secret-base64"),
    ("Secret", {"metadata": meta("s"), "data": {"..": "YQ=="}}, "data[..]", "FieldValueInvalid",
     None, "secret-key-dots"),
    # Node
    ("Node", edit(NODE, spec__podCIDR="127.244.1.0/33"), "spec.podCIDRs[0]", "FieldValueInvalid",
     None, "node-cidr"),
    ("Node", edit(NODE, spec__taints=[{"key": "k", "effect": "Sometimes"}]),
     "metadata.taints[0].effect", "FieldValueNotSupported", None, "node-taint-effect"),
    # Ingress and IngressClass
    ("Ingress", edit(INGRESS, spec__rules__0__host="Foo.com"), "spec.rules[0].host",
     "FieldValueInvalid", f'Invalid value: "Foo.com": {SUBDOMAIN_MSG}', "ingress-host"),
    ("Ingress", edit(INGRESS, spec__rules__0__host="foo.*.com"), "spec.rules[0].host",
     "FieldValueInvalid", None, "ingress-wildcard-middle"),
    ("Ingress", edit(INGRESS, spec__rules__0__host="10.0.0.1"), "spec.rules[0].host",
     "FieldValueInvalid", 'Invalid value: "10.0.0.1": must be a DNS name, not an IP address',
     "ingress-host-ip"),
    ("Ingress", edit(INGRESS, spec__rules__0__http__paths__0__path="api"),
     "spec.rules[0].http.paths[0].path", "FieldValueInvalid",
     'Invalid value: "api": must be an absolute path', "ingress-relative-path"),
    ("Ingress", edit(INGRESS, spec__rules__0__http__paths__0__pathType=None),
     "spec.rules[0].http.paths[0].pathType", "FieldValueRequired",
     "Required value: pathType must be specified", "ingress-pathtype-required"),
    ("Ingress", edit(INGRESS, spec__rules__0__http__paths__0__pathType="Regex"),
     "spec.rules[0].http.paths[0].pathType", "FieldValueNotSupported",
     'Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", '
     '"Prefix"', "ingress-pathtype"),
    ("Ingress", edit(INGRESS, spec__rules__0__http__paths__0__backend={
        "service": {"name": "web", "port": {"number": 80}},
        "resource": {"kind": "Bucket", "name": "b"}}),
     "spec.rules[0].http.paths[0].backend", "FieldValueInvalid",
     'Invalid value: "": cannot set both resource and service backends', "ingress-two-backends"),
    ("Ingress", edit(INGRESS, spec__rules__0__http__paths__0__backend__service__port={
        "name": "http", "number": 80}), "spec.rules[0].http.paths[0].backend",
     "FieldValueInvalid", 'Invalid value: "": cannot set both port name & port number',
     "ingress-port-both"),
    ("Ingress", edit(INGRESS, spec__rules__0__http__paths__0__backend__service__port={
        "number": 70000}), "spec.rules[0].http.paths[0].backend.service.port.number",
     "FieldValueInvalid", f"Invalid value: 70000: {PORT_RANGE}", "ingress-port-range"),
    ("Ingress", {"metadata": meta(), "spec": {}}, "spec", "FieldValueInvalid",
     "Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be "
     "specified", "ingress-empty"),
    ("Ingress", edit(INGRESS, spec__tls=[{"hosts": ["Bad_Host"]}]), "spec.tls[0].hosts[0]",
     "FieldValueInvalid", None, "ingress-tls-host"),
    ("IngressClass", {"metadata": meta("c", None), "spec": {}}, "spec.controller",
     "FieldValueRequired", "Required value", "ingressclass-controller-required"),
    ("IngressClass", {"metadata": meta("c", None), "spec": {"controller": "nginx"}},
     "spec.controller", "FieldValueInvalid", 'Invalid value: "nginx": must be a '
     'domain-prefixed path (such as "acme.io/foo")', "ingressclass-controller-path"),
    # NetworkPolicy
    ("NetworkPolicy", edit(NETPOL, spec__podSelector={"matchExpressions": [
        {"key": "app", "operator": "Exists", "values": ["x"]}]}),
     "spec.podSelector.matchExpressions[0].values", "FieldValueForbidden", None,
     "netpol-selector-values"),
    ("NetworkPolicy", edit(NETPOL, spec__policyTypes=["Ingress", "Sideways"]),
     "spec.policyTypes[1]", "FieldValueNotSupported",
     'Unsupported value: "Sideways": supported values: "Ingress", "Egress"', "netpol-types"),
    ("NetworkPolicy", edit(NETPOL, spec__ingress__0__ports=[{"port": 80, "endPort": 70}]),
     "spec.ingress[0].ports[0].endPort", "FieldValueInvalid",
     "Invalid value: 70: must be greater than or equal to `port`", "netpol-endport-order"),
    ("NetworkPolicy", edit(NETPOL, spec__ingress__0__ports=[{"port": "http", "endPort": 90}]),
     "spec.ingress[0].ports[0].endPort", "FieldValueInvalid",
     "Invalid value: 90: may not be specified when `port` is non-numeric", "netpol-endport-name"),
    ("NetworkPolicy", edit(NETPOL, spec__ingress__0__ports=[{"protocol": "ICMP"}]),
     "spec.ingress[0].ports[0].protocol", "FieldValueNotSupported", None, "netpol-protocol"),
    ("NetworkPolicy", edit(NETPOL, spec__ingress__0__from__0__ipBlock__cidr="10.0.0.0/40"),
     "spec.ingress[0].from[0].ipBlock.cidr", "FieldValueInvalid",
     'Invalid value: "10.0.0.0/40": must be a valid CIDR value, (e.g. 10.9.8.0/24 or '
     "2001:db8::/64)", "netpol-cidr"),
    ("NetworkPolicy", edit(NETPOL, spec__ingress__0__from__0__ipBlock__except=["10.0.0.0/16"]),
     "spec.ingress[0].from[0].ipBlock.except[0]", "FieldValueInvalid",
     'Invalid value: "10.0.0.0/16": must be a strict subset of `cidr`', "netpol-except-equal"),
    ("NetworkPolicy", edit(NETPOL, spec__ingress__0__from__0__ipBlock__except=["192.168.0.0/24"]),
     "spec.ingress[0].from[0].ipBlock.except[0]", "FieldValueInvalid", None,
     "netpol-except-outside"),
    ("NetworkPolicy", edit(NETPOL, spec__ingress__0__from__0__podSelector={}),
     "spec.ingress[0].from[0]", "FieldValueForbidden",
     "Forbidden: may not specify both ipBlock and another peer", "netpol-peer-mixed"),
    # Event, Lease, ServiceAccount
    ("Event", {"metadata": meta("e"), "involvedObject": {"namespace": "other"}},
     "involvedObject.namespace", "FieldValueInvalid",
     'Invalid value: "other": does not match event.namespace', "event-namespace"),
    ("Lease", {"metadata": meta("l"), "spec": {"leaseDurationSeconds": 0}},
     "spec.leaseDurationSeconds", "FieldValueInvalid", "Invalid value: 0: must be greater than 0",
     "lease-duration"),
    ("ServiceAccount", {"metadata": meta("Builder")}, "metadata.name", "FieldValueInvalid", None,
     "serviceaccount-name"),
]


@pytest.mark.parametrize("kind,obj,path,reason,message", [c[:5] for c in INVALID],
                         ids=[c[5] for c in INVALID])
def test_invalid_objects_report_the_field(kind: str, obj: dict, path: str, reason: str,
                                          message: str | None) -> None:
    causes = validate(kind, defaulted(kind, obj))
    matching = [c for c in causes if c.field == path and c.reason == reason]
    assert matching, causes
    if message is not None:
        assert message in [c.message for c in matching]


# The stored object each update is checked against, by the table's first column.
UPDATE_OLD = {
    "Pod": edit(POD, metadata__uid="u-1", metadata__creationTimestamp="2024-01-01T00:00:00Z"),
    "TolerantPod": edit(POD, spec__tolerations=[{"key": "gpu", "operator": "Exists"}]),
    "Deployment": DEPLOYMENT,
    "ReplicaSet": REPLICA_SET,
    "Job": JOB,
    "Service": edit(SERVICE, spec__clusterIP="127.96.0.10", spec__clusterIPs=["127.96.0.10"]),
    "ConfigMap": {"metadata": meta("cfg"), "immutable": True, "data": {"a": "1"}},
    "Secret": {"metadata": meta("cfg"), "immutable": True, "data": {"a": "MQ=="}},
    "Node": NODE,
    "EndpointSlice": SLICE,
    "IngressClass": {"metadata": meta("c", None), "spec": {"controller": "example.com/ingress"}},
}

UPDATE_INVALID: list[Case] = [
    ("Pod", edit(POD, metadata__namespace="other"), "metadata.namespace", "FieldValueInvalid",
     'Invalid value: "other": field is immutable', "namespace-immutable"),
    ("Pod", edit(POD, metadata__uid="u-2"), "metadata.uid", "FieldValueInvalid",
     'Invalid value: "u-2": field is immutable', "uid-immutable"),
    ("Pod", edit(POD, metadata__creationTimestamp="2024-05-01T10:00:00Z"),
     "metadata.creationTimestamp", "FieldValueInvalid",
     "Invalid value: 2024-05-01 10:00:00 +0000 UTC: field is immutable",
     "creation-timestamp-immutable"),
    ("Pod", edit(POD, spec__restartPolicy="Never"), "spec", "FieldValueForbidden", None,
     "pod-spec-frozen"),
    ("Pod", edit(POD, spec__containers=[CONTAINER, dict(CONTAINER, name="b")]),
     "spec.containers", "FieldValueForbidden",
     "Forbidden: pod updates may not add or remove containers", "pod-add-container"),
    ("TolerantPod", edit(POD, spec__tolerations=[]), "spec.tolerations", "FieldValueForbidden",
     "Forbidden: existing toleration can not be modified except its tolerationSeconds",
     "pod-remove-toleration"),
    ("Deployment", edit(DEPLOYMENT, spec__selector={"matchLabels": {"app": "web", "v": "2"}},
                        spec__template__metadata__labels={"app": "web", "v": "2"}),
     "spec.selector", "FieldValueInvalid",
     'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "v":"2"}, '
     "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable",
     "deployment-selector-immutable"),
    ("ReplicaSet", edit(REPLICA_SET, spec__selector={"matchLabels": {"app": "w"}},
                        spec__template__metadata__labels={"app": "w"}),
     "spec.selector", "FieldValueInvalid", None, "replicaset-selector-immutable"),
    ("Job", edit(JOB, spec__completions=3), "spec.completions", "FieldValueInvalid",
     "Invalid value: 3: field is immutable", "job-completions-immutable"),
    ("Job", edit(JOB, spec__template__spec__containers__0__image="nginx:1.28"),
     "spec.template", "FieldValueInvalid", None, "job-template-immutable"),
    ("Service", edit(SERVICE, spec__clusterIP="127.96.0.99", spec__clusterIPs=["127.96.0.99"]),
     "spec.clusterIPs[0]", "FieldValueInvalid",
     'Invalid value: []string{"127.96.0.99"}: may not change once set', "clusterip-immutable"),
    ("ConfigMap", {"metadata": meta("cfg"), "immutable": True, "data": {"a": "2"}}, "data",
     "FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set",
     "configmap-immutable"),
    ("Secret", {"metadata": meta("cfg"), "immutable": True, "data": {"a": "Mg=="}}, "data",
     "FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set",
     "secret-immutable"),
    ("Secret", {"metadata": meta("cfg"), "type": "kubernetes.io/basic-auth",
                "immutable": True, "data": {"username": "YQ=="}}, "type", "FieldValueInvalid",
     'Invalid value: "kubernetes.io/basic-auth": field is immutable', "secret-type-immutable"),
    ("Node", edit(NODE, spec__podCIDR="127.244.2.0/24"), "spec.podCIDRs", "FieldValueForbidden",
     'Forbidden: node updates may not change podCIDR except from "" to valid',
     "node-podcidr-immutable"),
    ("EndpointSlice", edit(SLICE, addressType="FQDN", endpoints__0__addresses=["a.example.com"]),
     "addressType", "FieldValueInvalid", 'Invalid value: "FQDN": field is immutable',
     "slice-addresstype-immutable"),
    ("IngressClass", {"metadata": meta("c", None), "spec": {"controller": "example.com/other"}},
     "spec.controller", "FieldValueInvalid", None, "ingressclass-controller-immutable"),
]



@pytest.mark.parametrize("kind,new,path,reason,message", [c[:5] for c in UPDATE_INVALID],
                         ids=[c[5] for c in UPDATE_INVALID])
def test_invalid_updates_report_the_field(kind: str, new: dict, path: str, reason: str,
                                          message: str | None) -> None:
    old = UPDATE_OLD[kind]
    kind = old.get("kind", kind)
    causes = validate(kind, defaulted(kind, new), defaulted(kind, old))
    matching = [c for c in causes if c.field == path and c.reason == reason]
    assert matching, causes
    if message is not None:
        assert message in [c.message for c in matching]


UPDATE_VALID = [
    ("Pod", edit(POD, spec__containers__0__image="nginx:1.28"), "pod-image"),
    ("Pod", edit(POD, spec__activeDeadlineSeconds=60), "pod-active-deadline"),
    ("Pod", edit(POD, metadata__labels={"role": "canary"}), "pod-labels"),
    ("Pod", edit(POD, spec__tolerations=[{"key": "gpu", "operator": "Exists",
                                          "effect": "NoSchedule"}]), "pod-add-toleration"),
    ("Deployment", edit(DEPLOYMENT, spec__replicas=5), "deployment-scale"),
    ("Job", edit(JOB, spec__completions=1, spec__parallelism=3, spec__backoffLimit=2),
     "job-parallelism"),
    ("Service", edit(SERVICE, spec__ports__0__port=81), "service-port-keeps-ip"),
    ("Service", edit(SERVICE, spec__type="ExternalName", spec__externalName="x.example.com",
                     spec__clusterIP=None, spec__clusterIPs=None), "service-to-externalname"),
    ("ConfigMap", {"metadata": meta("cfg", labels={"a": "b"}), "immutable": True,
                   "data": {"a": "1"}}, "configmap-immutable-labels"),
    ("Node", edit(NODE, spec__unschedulable=True), "node-cordon"),
]


@pytest.mark.parametrize("kind,new", [(k, n) for k, n, _ in UPDATE_VALID],
                         ids=[i for *_, i in UPDATE_VALID])
def test_allowed_updates_have_no_causes(kind: str, new: dict) -> None:
    old = defaulted(kind, UPDATE_OLD[kind])
    new = defaulted(kind, new)
    if kind == "Pod":  # the stored pod kept what admission set; so does the update
        new["metadata"] = dict(new["metadata"], uid="u-1",
                               creationTimestamp="2024-01-01T00:00:00Z")
        new["spec"]["tolerations"] = old["spec"]["tolerations"] + [
            t for t in new["spec"]["tolerations"] if t not in old["spec"]["tolerations"]]
    assert validate(kind, new, old) == []


def test_pod_spec_change_message_lists_the_updatable_fields() -> None:
    old = defaulted("Pod", POD)
    causes = validate("Pod", defaulted("Pod", edit(POD, spec__restartPolicy="Never")), old)
    assert [c.field for c in causes] == ["spec"]
    assert causes[0].message.startswith(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
        "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to "
        "be set to 1 if it was previously negative)\n")
    assert '+ \tRestartPolicy: "Never",' in causes[0].message


def test_every_problem_is_reported_not_just_the_first() -> None:
    pod = edit(POD, metadata__name="Bad_Name", spec__restartPolicy="Sometimes",
               spec__containers__0__image="", spec__containers__0__ports=[
                   {"containerPort": 0}])
    fields = [c.field for c in validate("Pod", defaulted("Pod", pod))]
    assert fields == ["metadata.name", "spec.containers[0].image",
                      "spec.containers[0].ports[0].containerPort", "spec.restartPolicy"]


@pytest.mark.parametrize("kind,name,causes,expected", [
    ("Service", "x", [Cause("spec.ports[0].port", "FieldValueInvalid",
                            f"Invalid value: 70000: {PORT_RANGE}")],
     f'Service "x" is invalid: spec.ports[0].port: Invalid value: 70000: {PORT_RANGE}'),
    ("Deployment", "web", [Cause("spec.selector", "FieldValueRequired", "Required value"),
                           Cause("spec.replicas", "FieldValueInvalid", "Invalid value: -1: m")],
     'Deployment.apps "web" is invalid: [spec.selector: Required value, spec.replicas: '
     'Invalid value: -1: m]'),
    ("Ingress", "i", [Cause("spec", "FieldValueInvalid", "x"), Cause("spec", "FieldValueInvalid",
                                                                     "x")],
     'Ingress.networking.k8s.io "i" is invalid: spec: x'),
    ("ConfigMap", "c", [], 'ConfigMap "c" is invalid'),
], ids=["single-cause", "several-in-brackets", "duplicates-dropped", "no-causes"])
def test_invalid_message(kind: str, name: str, causes: list[Cause], expected: str) -> None:
    assert invalid_message(kind, name, causes) == expected


@pytest.mark.parametrize("kind,obj,expected", [
    ("Pod", edit(POD, spec__containers__0__ports=[{"containerPort": 80}, {"containerPort": 80}]),
     ["spec.containers[0].ports[1]: duplicate port definition with spec.containers[0].ports[0]"]),
    ("Deployment", edit(DEPLOYMENT, spec__template__spec__initContainers=[dict(
        CONTAINER, name="init")]),
     ["spec.template.spec.containers[0].ports[0]: duplicate port definition with "
      "spec.template.spec.initContainers[0].ports[0]"]),
    ("Pod", edit(POD, spec__containers__0__ports=[{"containerPort": 80},
                                                  {"containerPort": 80, "hostPort": 80}]),
     ["spec.containers[0].ports[1]: overlapping port definition with "
      "spec.containers[0].ports[0]"]),
    ("Pod", edit(POD, spec__containers__0__ports=[{"containerPort": 80},
                                                  {"containerPort": 80, "protocol": "UDP"}]), []),
], ids=["pod-duplicate", "template-init-first", "pod-overlap", "different-protocol"])
def test_port_warnings(kind: str, obj: dict, expected: list[str]) -> None:
    assert warnings(kind, defaulted(kind, obj)) == expected


INGRESS_CLASS_DEPRECATED = ('annotation "kubernetes.io/ingress.class" is deprecated, please '
                            "use 'spec.ingressClassName' instead")


@pytest.mark.parametrize("obj,expected", [
    (edit(INGRESS, metadata__annotations={"kubernetes.io/ingress.class": "nginx"}),
     [INGRESS_CLASS_DEPRECATED]),
    (edit(INGRESS, metadata__annotations={"kubernetes.io/ingress.class": "nginx"},
          spec__ingressClassName="nginx"), []),
    (edit(INGRESS, metadata__annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "true"}),
     []),
    (INGRESS, []),
], ids=["annotation-alone", "annotation-with-class-name", "other-annotation", "none"])
def test_ingress_warnings(obj: dict, expected: list[str]) -> None:
    assert warnings("Ingress", defaulted("Ingress", obj)) == expected


@pytest.mark.parametrize("text,offset", [
    ("YWJj", None), ("YWI=", None), ("YQ==", None), ("", None), ("YW\nJj", None),
    ("abc", 0), ("abcde", 4), ("ab!c", 2), ("a===", 1), ("YQ=x", 2), ("YWJj YQ==", 4),
], ids=["plain", "one-pad", "two-pad", "empty", "newline", "short", "trailing-partial",
        "bad-char", "early-pad", "bad-second-pad", "space"])
def test_base64_error_offsets_match_go(text: str, offset: int | None) -> None:
    assert _base64_error(text) == offset


@pytest.mark.parametrize("text,canonical", [
    ("100m", "100m"), ("0.5", "500m"), ("1000m", "1"), ("1.5", "1500m"), ("2000", "2k"),
    ("1024Mi", "1Gi"), ("1536Mi", "1536Mi"), ("1e3", "1e3"), ("128974848", "128974848"),
], ids=["milli", "fraction", "whole", "one-and-a-half", "kilo", "binary-up", "binary-keep",
        "exponent", "plain-bytes"])
def test_quantity_canonical_form(text: str, canonical: str) -> None:
    quantity = parse_quantity(text)
    assert quantity is not None and str(quantity) == canonical
