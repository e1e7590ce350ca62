"""Objects every cluster has from its first second: the system namespaces and the
`kubernetes` Service (with its Endpoints and EndpointSlice) in `default`, pointing at
this apiserver. The slice carries no managed-by label: like upstream's, it belongs to the
apiserver, not to the EndpointSlice controller.

On the very first start, the one that creates `kube-system`, the cluster DNS add-on goes
in as kubeadm installs it: the `kube-dns` Service on the DNS ClusterIP, the `coredns`
Deployment (with its ConfigMap and ServiceAccount). Later starts leave them alone, so a
user who deletes or scales them is not overruled on restart. The endpoints controller
lists the coredns pods as the kube-dns endpoints; the node agents serve the ClusterIP's
port 53 themselves (node_agent/dns), the coredns pods relay to them.

The ingress add-on goes in on that first start too, as minikube's `ingress` addon shows
it: the IngressClass `nginx` (the default class), the namespace `ingress-nginx` with the
NodePort Service `ingress-nginx-controller` and a Deployment of that name whose pod stands
for the controller. The controller itself is the supervisor's `ingress` process on the
cluster's ingress address (`network.ingress_ip`, ports 80 and 443), so the Service has
no selector: its Endpoints (mirrored to a slice) name that address, and kube-proxy
forwards the NodePorts there. The admission part comes with it as the deploy manifest
has it: the ClusterIP Service `ingress-nginx-controller-admission` (443 to the
controller's `webhook` port) and the Jobs `ingress-nginx-admission-create` and `-patch`,
whose kube-webhook-certgen pods run to completion (node_agent/images/certgen.py).

The network plugin's add-on is ensured on every start, for the CNI the cluster runs
(``config.cni``), as its manifest installs it: calico.yaml's `calico-kube-controllers`
Deployment and a `calico-node` pod per node in kube-system, or kube-flannel.yml's
namespace `kube-flannel` with a `kube-flannel-ds` pod per node. There is no DaemonSet API,
so the per-node pods are created here, bound to their node (hostNetwork, named as a
DaemonSet names its pods), for each configured node that has none; their images run as
the plugin's programs (node_agent/images/cni.py) while the agents do the actual work.

Every start also writes `kube-public/cluster-info` as kubeadm does (a kubeconfig with the
server and the CA, no credentials), which `kubeloop join` reads unauthenticated."""

from __future__ import annotations

from typing import Any

from apiserver import registry
from apiserver import status as errors
from apiserver.resources import require
from kubeloop import join
from kubeloop.addons import INGRESS_CONTROLLER, INGRESS_LABELS, INGRESS_NAMESPACE
from kubeloop.config import ClusterConfig, Network

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
ENDPOINTS = require("", "v1", "endpoints")
ENDPOINT_SLICES = require("discovery.k8s.io", "v1", "endpointslices")
CONFIG_MAPS = require("", "v1", "configmaps")
SERVICE_ACCOUNTS = require("", "v1", "serviceaccounts")
DEPLOYMENTS = require("apps", "v1", "deployments")
INGRESS_CLASSES = require("networking.k8s.io", "v1", "ingressclasses")
JOBS = require("batch", "v1", "jobs")

COREDNS_IMAGE = "registry.k8s.io/coredns/coredns:v1.11.3"
# minikube's count (kubeadm runs 2): one pod, as `kubectl get pods -n kube-system` shows in
# the minikube tutorials, and every node agent answers the ClusterIP anyway.
COREDNS_REPLICAS = 1
DNS_LABELS = {"k8s-app": "kube-dns"}

CALICO_VERSION = "v3.28.2"
CALICO_NODE_LABELS = {"k8s-app": "calico-node"}
CALICO_CONTROLLERS_LABELS = {"k8s-app": "calico-kube-controllers"}
FLANNEL_NAMESPACE = "kube-flannel"
FLANNEL_IMAGE = "docker.io/flannel/flannel:v0.26.1"
FLANNEL_LABELS = {"app": "flannel", "tier": "node"}
# What a DaemonSet gives its pods, so node taints never keep or evict them.
DAEMON_TOLERATIONS = [{"operator": "Exists", "effect": "NoSchedule"},
                      {"key": "CriticalAddonsOnly", "operator": "Exists"},
                      {"operator": "Exists", "effect": "NoExecute"}]

INGRESS_IMAGE = "registry.k8s.io/ingress-nginx/controller:v1.11.3"
INGRESS_ADMISSION = "ingress-nginx-admission"
INGRESS_ADMISSION_LABELS = {**INGRESS_LABELS, "app.kubernetes.io/component": "admission-webhook"}
CERTGEN_IMAGE = "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.4.4"
# The admission Jobs' commands, as the deploy manifest gives them.
CERTGEN_ARGS = {
    "create": ["create", f"--host={INGRESS_CONTROLLER}-admission,"
               f"{INGRESS_CONTROLLER}-admission.$(POD_NAMESPACE).svc",
               "--namespace=$(POD_NAMESPACE)", f"--secret-name={INGRESS_ADMISSION}"],
    "patch": ["patch", f"--webhook-name={INGRESS_ADMISSION}", "--namespace=$(POD_NAMESPACE)",
              "--patch-mutating=false", f"--secret-name={INGRESS_ADMISSION}",
              "--patch-failure-policy=Fail"],
}


async def ensure(reg: registry.Registry) -> None:
    first_start = False
    for ns in SYSTEM_NAMESPACES:
        created = await _create(reg, registry.NAMESPACES, "", {"metadata": {"name": ns}})
        first_start = first_start or (created and ns == "kube-system")
    net = reg.config.network
    await _create(reg, registry.SERVICES, "default", {
        "metadata": {"name": "kubernetes", "labels": {
            "component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": net.kubernetes_service_ip, "ports": [
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": net.api_port}]},
    })
    # Pods on other hosts reach the apiserver at its advertise address.
    apiserver_ip = net.advertise_address or net.apiserver_ip
    await _create(reg, ENDPOINTS, "default", {
        "metadata": {"name": "kubernetes", "labels": {
            "endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": apiserver_ip}],
                     "ports": [{"name": "https", "port": net.api_port, "protocol": "TCP"}]}],
    })
    await _create(reg, ENDPOINT_SLICES, "default", {
        "metadata": {"name": "kubernetes", "labels": {
            "kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [apiserver_ip], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": net.api_port, "protocol": "TCP"}],
    })
    if first_start:
        for res, body in cluster_dns(net):
            await _create(reg, res, "kube-system", body)
        for res, ns, body in ingress_addon(net):
            await _create(reg, res, ns, body)
    for res, ns, body in cni_addon(reg.config):
        await _create(reg, res, ns, body)
    await _ensure_per_node(reg)
    await _ensure_cluster_info(reg)


async def _ensure_cluster_info(reg: registry.Registry) -> None:
    """kube-public/cluster-info as the control plane is now (its advertise address may
    have changed): what ``kubeloop join`` reads, unauthenticated, to find the CA."""
    net = reg.config.network
    body = join.cluster_info(net.advertised_url, reg.config.ca_cert.read_bytes(),
                             net.grpc_port)

    def refresh(obj: dict[str, Any]) -> bool:
        changed = obj.get("data") != body["data"]
        obj["data"] = body["data"]
        return changed

    if not await _create(reg, CONFIG_MAPS, join.CLUSTER_INFO_NAMESPACE, body):
        await reg.mutate(CONFIG_MAPS, join.CLUSTER_INFO_NAMESPACE, join.CLUSTER_INFO, refresh)


def cluster_dns(net: Network) -> list[tuple[registry.Resource, dict[str, Any]]]:
    """kubeadm's CoreDNS add-on for this network, in creation order."""
    return [
        (SERVICE_ACCOUNTS, {"metadata": {"name": "coredns"}}),
        (CONFIG_MAPS, {"metadata": {"name": "coredns"},
                       "data": {"Corefile": corefile(net.cluster_domain)}}),
        (registry.SERVICES, {
            "metadata": {"name": "kube-dns", "labels": {
                **DNS_LABELS, "kubernetes.io/cluster-service": "true",
                "kubernetes.io/name": "CoreDNS"},
                "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}},
            "spec": {"clusterIP": net.dns_ip, "selector": dict(DNS_LABELS), "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]},
        }),
        (DEPLOYMENTS, {
            "metadata": {"name": "coredns", "labels": dict(DNS_LABELS)},
            "spec": {
                "replicas": COREDNS_REPLICAS,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                "selector": {"matchLabels": dict(DNS_LABELS)},
                "template": {"metadata": {"labels": dict(DNS_LABELS)}, "spec": _pod_spec()},
            },
        }),
    ]


def ingress_addon(net: Network) -> list[tuple[registry.Resource, str, dict[str, Any]]]:
    """minikube's ingress addon for this network, in creation order: (resource,
    namespace, object)."""
    ns, name = INGRESS_NAMESPACE, INGRESS_CONTROLLER
    ports = [("http", 80), ("https", 443)]
    return [
        (INGRESS_CLASSES, "", {
            "metadata": {"name": "nginx", "labels": dict(INGRESS_LABELS), "annotations": {
                "ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": "k8s.io/ingress-nginx"}}),
        (registry.NAMESPACES, "", {"metadata": {"name": ns, "labels": {
            "app.kubernetes.io/instance": "ingress-nginx",
            "app.kubernetes.io/name": "ingress-nginx"}}}),
        (registry.SERVICES, ns, {
            "metadata": {"name": name, "labels": dict(INGRESS_LABELS)},
            "spec": {"type": "NodePort", "ipFamilies": ["IPv4"], "ports": [
                {"name": p, "port": n, "protocol": "TCP", "targetPort": n, "appProtocol": p}
                for p, n in ports]}}),
        (ENDPOINTS, ns, {
            "metadata": {"name": name, "labels": dict(INGRESS_LABELS)},
            "subsets": [{"addresses": [{"ip": net.ingress_ip}],
                         "ports": [{"name": p, "port": n, "protocol": "TCP"}
                                   for p, n in ports]}]}),
        (DEPLOYMENTS, ns, {
            "metadata": {"name": name, "labels": dict(INGRESS_LABELS)},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": dict(INGRESS_LABELS)},
                "template": {"metadata": {"labels": {**INGRESS_LABELS,
                                                    "gcp-auth-skip-secret": "true"}},
                             "spec": _ingress_pod_spec(ns, name)}}}),
        # The admission webhook's Service (the controller's "webhook" port) and the Jobs
        # that make its certificate and patch it into the webhook configuration.
        (registry.SERVICES, ns, {
            "metadata": {"name": f"{name}-admission", "labels": dict(INGRESS_LABELS)},
            "spec": {"type": "ClusterIP", "selector": dict(INGRESS_LABELS), "ports": [
                {"name": "https-webhook", "port": 443, "protocol": "TCP",
                 "targetPort": "webhook", "appProtocol": "https"}]}}),
        (SERVICE_ACCOUNTS, ns, {"metadata": {"name": INGRESS_ADMISSION,
                                             "labels": dict(INGRESS_ADMISSION_LABELS)}}),
        *((JOBS, ns, _admission_job(f"{INGRESS_ADMISSION}-{step}", step, args))
          for step, args in CERTGEN_ARGS.items()),
    ]


def _admission_job(name: str, container: str, args: list[str]) -> dict[str, Any]:
    """One of the deploy manifest's kube-webhook-certgen Jobs."""
    return {
        "metadata": {"name": name, "labels": dict(INGRESS_ADMISSION_LABELS)},
        "spec": {"template": {
            "metadata": {"name": name, "labels": dict(INGRESS_ADMISSION_LABELS)},
            "spec": {
                "containers": [{
                    "name": container,
                    "image": CERTGEN_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "args": list(args),
                    "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {
                        "fieldPath": "metadata.namespace"}}}],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                        "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
                }],
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "restartPolicy": "OnFailure",
                "serviceAccountName": INGRESS_ADMISSION,
            }}},
    }


def cni_addon(config: ClusterConfig) -> list[tuple[registry.Resource, str, dict[str, Any]]]:
    """The network plugin's objects but its per-node pods, in creation order: (resource,
    namespace, object)."""
    if config.cni == "flannel":
        net_conf = ('{\n  "Network": "%s",\n  "EnableNFTables": false,\n  "Backend": {\n'
                    '    "Type": "vxlan"\n  }\n}\n' % config.network.pod_cidr)
        return [
            (registry.NAMESPACES, "", {"metadata": {"name": FLANNEL_NAMESPACE, "labels": {
                "k8s-app": "flannel", "pod-security.kubernetes.io/enforce": "privileged"}}}),
            (SERVICE_ACCOUNTS, FLANNEL_NAMESPACE, {"metadata": {"name": "flannel", "labels": {
                "k8s-app": "flannel"}}}),
            (CONFIG_MAPS, FLANNEL_NAMESPACE, {
                "metadata": {"name": "kube-flannel-cfg", "labels": {
                    **FLANNEL_LABELS, "k8s-app": "flannel"}},
                "data": {"net-conf.json": net_conf}})]
    ns = "kube-system"
    return [
        (SERVICE_ACCOUNTS, ns, {"metadata": {"name": "calico-node"}}),
        (SERVICE_ACCOUNTS, ns, {"metadata": {"name": "calico-kube-controllers"}}),
        (CONFIG_MAPS, ns, {"metadata": {"name": "calico-config"}, "data": {
            "typha_service_name": "none", "calico_backend": "bird", "veth_mtu": "0"}}),
        (DEPLOYMENTS, ns, {
            "metadata": {"name": "calico-kube-controllers",
                         "labels": dict(CALICO_CONTROLLERS_LABELS)},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": dict(CALICO_CONTROLLERS_LABELS)},
                "template": {"metadata": {"name": "calico-kube-controllers",
                                          "labels": dict(CALICO_CONTROLLERS_LABELS)},
                             "spec": {
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                    {"key": "node-role.kubernetes.io/control-plane",
                                     "effect": "NoSchedule"}],
                    "serviceAccountName": "calico-kube-controllers",
                    "priorityClassName": "system-cluster-critical",
                    "containers": [{
                        "name": "calico-kube-controllers",
                        "image": f"docker.io/calico/kube-controllers:{CALICO_VERSION}",
                        "imagePullPolicy": "IfNotPresent",
                        "env": [{"name": "ENABLED_CONTROLLERS", "value": "node"},
                                {"name": "DATASTORE_TYPE", "value": "kubernetes"}]}]}}}})]


def cni_node_pod(config: ClusterConfig, node: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(namespace, labels, pod) of the plugin's pod for ``node``, as its DaemonSet's
    template makes it (the images' init containers, which install CNI binaries, are left
    out: there is nothing to install)."""
    node_name = {"name": "NODENAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    common = {"nodeName": node, "hostNetwork": True, "priorityClassName": "system-node-critical",
              "tolerations": DAEMON_TOLERATIONS, "nodeSelector": {"kubernetes.io/os": "linux"}}
    if config.cni == "flannel":
        return FLANNEL_NAMESPACE, FLANNEL_LABELS, {
            "metadata": {"generateName": "kube-flannel-ds-", "labels": dict(FLANNEL_LABELS)},
            "spec": {**common, "serviceAccountName": "flannel", "containers": [{
                "name": "kube-flannel", "image": FLANNEL_IMAGE,
                "command": ["/opt/bin/flanneld"], "args": ["--ip-masq", "--kube-subnet-mgr"],
                "env": [{**node_name, "name": "NODE_NAME"},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {
                            "fieldPath": "metadata.name"}}},
                        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {
                            "fieldPath": "metadata.namespace"}}},
                        {"name": "EVENT_QUEUE_DEPTH", "value": "5000"}],
                "resources": {"requests": {"cpu": "100m", "memory": "50Mi"}},
                "securityContext": {"privileged": False, "capabilities": {
                    "add": ["NET_ADMIN", "NET_RAW"]}}}]}}
    return "kube-system", CALICO_NODE_LABELS, {
        "metadata": {"generateName": "calico-node-", "labels": dict(CALICO_NODE_LABELS)},
        "spec": {**common, "serviceAccountName": "calico-node",
                 "terminationGracePeriodSeconds": 0, "containers": [{
            "name": "calico-node", "image": f"docker.io/calico/node:{CALICO_VERSION}",
            "env": [{"name": "DATASTORE_TYPE", "value": "kubernetes"}, node_name,
                    {"name": "CALICO_NETWORKING_BACKEND", "value": "bird"},
                    {"name": "CLUSTER_TYPE", "value": "k8s,bgp"},
                    {"name": "IP", "value": "autodetect"},
                    {"name": "CALICO_IPV4POOL_CIDR", "value": config.network.pod_cidr},
                    {"name": "FELIX_DEFAULTENDPOINTTOHOSTACTION", "value": "ACCEPT"}],
            "resources": {"requests": {"cpu": "250m"}},
            "securityContext": {"privileged": True}}]}}


async def _ensure_per_node(reg: registry.Registry) -> None:
    """The plugin's pod on each configured node that has none (as its DaemonSet would)."""
    config = reg.config
    for node in (config.node_name(n) for n in range(1, config.nodes + 1)):
        namespace, labels, pod = cni_node_pod(config, node)
        if not any(_labelled(p.obj, labels) and p.obj["spec"].get("nodeName") == node
                   for p in reg.store.list(registry.PODS.key, namespace)):
            await reg.create(registry.PODS, namespace, pod)


def _labelled(obj: dict[str, Any], labels: dict[str, str]) -> bool:
    found = obj["metadata"].get("labels") or {}
    return all(found.get(k) == v for k, v in labels.items())


def _ingress_pod_spec(ns: str, name: str) -> dict[str, Any]:
    healthz = {"httpGet": {"path": "/healthz", "port": 10254, "scheme": "HTTP"},
               "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1}
    return {
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "terminationGracePeriodSeconds": 0,
        "containers": [{
            "name": "controller",
            "image": INGRESS_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "args": ["/nginx-ingress-controller", f"--election-id={ns}-leader",
                     "--controller-class=k8s.io/ingress-nginx", "--ingress-class=nginx",
                     f"--publish-service=$(POD_NAMESPACE)/{name}",
                     f"--configmap=$(POD_NAMESPACE)/{name}"],
            "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {
                         "fieldPath": "metadata.name"}}},
                    {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {
                         "fieldPath": "metadata.namespace"}}}],
            "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"},
                      {"containerPort": 443, "name": "https", "protocol": "TCP"}],
            # The deploy manifest's probes on the controller's health port; readiness
            # without its 10 s initial delay: the emulated controller is up at once.
            "livenessProbe": {**healthz, "initialDelaySeconds": 10, "failureThreshold": 5},
            "readinessProbe": {**healthz, "failureThreshold": 3},
            "resources": {"requests": {"cpu": "100m", "memory": "90Mi"}},
        }],
    }


def _pod_spec() -> dict[str, Any]:
    return {
        "priorityClassName": "system-cluster-critical",
        "serviceAccountName": "coredns",
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {
                "labelSelector": {"matchExpressions": [
                    {"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]},
                "topologyKey": "kubernetes.io/hostname"}}]}},
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                        {"key": "node-role.kubernetes.io/control-plane",
                         "effect": "NoSchedule"}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "containers": [{
            "name": "coredns",
            "image": COREDNS_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "resources": {"limits": {"memory": "170Mi"},
                          "requests": {"cpu": "100m", "memory": "70Mi"}},
            "args": ["-conf", "/etc/coredns/Corefile"],
            "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/coredns",
                              "readOnly": True}],
            "ports": [
                {"containerPort": 53, "name": "dns", "protocol": "UDP"},
                {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                {"containerPort": 9153, "name": "metrics", "protocol": "TCP"},
                {"containerPort": 8080, "name": "liveness-probe", "protocol": "TCP"},
                {"containerPort": 8181, "name": "readiness-probe", "protocol": "TCP"}],
            "livenessProbe": {
                "httpGet": {"path": "/health", "port": "liveness-probe", "scheme": "HTTP"},
                "initialDelaySeconds": 60, "timeoutSeconds": 5, "successThreshold": 1,
                "failureThreshold": 5},
            "readinessProbe": {
                "httpGet": {"path": "/ready", "port": "readiness-probe", "scheme": "HTTP"}},
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                "readOnlyRootFilesystem": True},
        }],
        "dnsPolicy": "Default",
        "volumes": [{"name": "config-volume", "configMap": {
            "name": "coredns", "items": [{"key": "Corefile", "path": "Corefile"}]}}],
    }


def corefile(domain: str) -> str:
    """kubeadm's Corefile for the cluster domain ``domain``."""
    return (".:53 {\n"
            "    errors\n"
            "    health {\n"
            "       lameduck 5s\n"
            "    }\n"
            "    ready\n"
            f"    kubernetes {domain} in-addr.arpa ip6.arpa {{\n"
            "       pods insecure\n"
            "       fallthrough in-addr.arpa ip6.arpa\n"
            "       ttl 30\n"
            "    }\n"
            "    prometheus :9153\n"
            "    forward . /etc/resolv.conf {\n"
            "       max_concurrent 1000\n"
            "    }\n"
            "    cache 30 {\n"
            f"       disable success {domain}\n"
            f"       disable denial {domain}\n"
            "    }\n"
            "    loop\n"
            "    reload\n"
            "    loadbalance\n"
            "}\n")


async def _create(reg: registry.Registry, res: registry.Resource, ns: str, body: dict) -> bool:
    """Creates the object unless it exists; True when this call created it."""
    if reg.store.get(res.key, ns, body["metadata"]["name"]) is not None:
        return False
    try:
        await reg.create(res, ns, body)
    except errors.ApiError as e:
        if e.reason != "AlreadyExists":
            raise
        return False
    return True
