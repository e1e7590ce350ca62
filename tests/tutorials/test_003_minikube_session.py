"""Seed 003 (/work/shared/seeds/003_2a7004ca8309e86d.txt), replayed step by step: a
minikube session that exposes an nginx Deployment (ClusterIP, then NodePort 32000 by
``kubectl edit``), looks at kube-dns from a busybox pod, uses the ingress add-on (503
until the backend exists, then a multi-host Ingress with 404s) and enforces a
NetworkPolicy with Calico. One node, as minikube; the tests run in order on one cluster,
each continuing the session where the previous one stopped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kubeloop import Cluster
from tests.integration.conftest import Kubectl, wait_for
from tests.tutorials.replay import (AGE, IP, POD_SUFFIX, curl, edit, exec_in,
                                    ingress_address, node_ips, ready, rollout, row,
                                    sections, shown, table, times_out, until_curl)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

NODES = 1  # minikube
CNI = "calico"  # the seed restarts minikube with --cni=calico for its NetworkPolicy part

SERVICE_HEADER = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
INGRESS_HEADER = ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]

# The seed's nwpolicy-complete-example.yaml. The page lost every line that ends in ":"
# (metadata, spec, podSelector, matchLabels, ingress, labels, containers, command) and
# the "---" between documents; those lines are restored, marked "# restored", at the
# indentation the surviving lines imply. The rest is verbatim.
NWPOLICY_COMPLETE_EXAMPLE = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:  # restored
  name: access-nginx
spec:  # restored
  podSelector:  # restored
    matchLabels:  # restored
      app: nginx
  ingress:  # restored
  - from:
    - podSelector:
        matchLabels:  # restored
          access: "true"
---  # restored
apiVersion: v1
kind: Pod
metadata:  # restored
  name: nginx
  labels:  # restored
    app: nginx
spec:  # restored
  containers:  # restored
  - name: nwp-nginx
    image: nginx:1.17
---  # restored
apiVersion: v1
kind: Pod
metadata:  # restored
  name: busybox
  labels:  # restored
    app: sleepy
spec:  # restored
  containers:  # restored
  - name: nwp-busybox
    image: busybox
    command:  # restored
    - sleep
    - "3600"
"""


def test_expose_a_deployment_as_cluster_ip(kubectl: Kubectl) -> None:
    out = kubectl("create", "deploy", "nginx-app", "--image=nginx:latest", "--replicas=3")
    assert out == "deployment.apps/nginx-app created\n"
    assert kubectl("expose", "deploy", "nginx-app", "--port=80") == "service/nginx-app exposed\n"
    out = kubectl("get", "service", "nginx-app")
    header, _ = table(out)
    assert header == SERVICE_HEADER
    svc = row(out, "nginx-app")
    assert (svc["TYPE"], svc["EXTERNAL-IP"], svc["PORT(S)"]) == ("ClusterIP", "<none>", "80/TCP")
    assert IP.match(svc["CLUSTER-IP"]) and AGE.match(svc["AGE"]), out


def test_edit_the_service_to_node_port_32000(kubectl: Kubectl) -> None:
    # "Edit the service, change the type and add the nodePort value" (the seed's editor
    # buffer shows the result: nodePort 32000 on the port, type NodePort).
    out = edit(kubectl, "service/nginx-app",
               ("  - port: 80\n", "  - nodePort: 32000\n    port: 80\n"),
               ("type: ClusterIP", "type: NodePort"))
    assert out == "service/nginx-app edited\n"
    svc = row(kubectl("get", "service", "nginx-app"), "nginx-app")
    assert (svc["TYPE"], svc["EXTERNAL-IP"], svc["PORT(S)"]) == ("NodePort", "<none>",
                                                                 "80:32000/TCP")
    # The fields the seed's edit buffer shows once saved (the type change defaults
    # externalTrafficPolicy).
    spec = kubectl.json("get", "service", "nginx-app")["spec"]
    assert sorted(spec) == ["clusterIP", "clusterIPs", "externalTrafficPolicy",
                            "internalTrafficPolicy", "ipFamilies", "ipFamilyPolicy", "ports",
                            "selector", "sessionAffinity", "type"], spec
    assert (spec["externalTrafficPolicy"], spec["internalTrafficPolicy"], spec["ipFamilies"],
            spec["ipFamilyPolicy"], spec["sessionAffinity"]) == (
        "Cluster", "Cluster", ["IPv4"], "SingleStack", "None")
    assert spec["ports"] == [{"nodePort": 32000, "port": 80, "protocol": "TCP",
                              "targetPort": 80}]
    assert spec["selector"] == {"app": "nginx-app"}
    rollout(kubectl, "nginx-app")
    # curl http://$(minikube ip):32000 -- the node's INTERNAL-IP.
    (node,) = node_ips(kubectl)
    page = until_curl(f"http://{node}:32000", "<title>Welcome to nginx!</title>")
    assert page.startswith("<!DOCTYPE html>"), page


def test_create_service_nodeport(kubectl: Kubectl) -> None:
    # The seed's first example: the Service selects app=<its name>.
    out = kubectl("create", "service", "nodeport", "my-node-port-service", "--tcp=80:80")
    assert out == "service/my-node-port-service created\n"
    spec = kubectl.json("get", "service", "my-node-port-service")["spec"]
    assert spec["selector"] == {"app": "my-node-port-service"}
    assert spec["type"] == "NodePort" and 30000 <= spec["ports"][0]["nodePort"] <= 32767
    # The seed then shows `kubectl create service nodeport nginx-app --tcp=80:80` answering
    # "created", but nginx-app exists since the expose above, and the seed's later
    # `kubectl get service nginx-app` still shows the edited 80:32000: a real cluster
    # refuses the create, and so must kubeloop.
    refused = kubectl.run("create", "service", "nodeport", "nginx-app", "--tcp=80:80",
                          check=False)
    assert refused.returncode == 1
    assert 'services "nginx-app" already exists' in refused.stderr, refused.stderr
    described = kubectl("describe", "service", "nginx-app").splitlines()
    assert described[:5] == [
        "Name:                     nginx-app",
        "Namespace:                default",
        "Labels:                   app=nginx-app",
        "Annotations:              <none>",
        "Selector:                 app=nginx-app",
    ], described


def test_kube_dns_service_and_coredns_pod(kubectl: Kubectl) -> None:
    services, pods = sections(kubectl("get", "service,pods", "-n", "kube-system"))
    header, _ = table(services)
    assert header == SERVICE_HEADER
    dns = row(services, "service/kube-dns")
    assert (dns["NAME"], dns["TYPE"], dns["EXTERNAL-IP"], dns["PORT(S)"]) == (
        "service/kube-dns", "ClusterIP", "<none>", "53/UDP,53/TCP,9153/TCP")
    header, rows = table(pods)
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    coredns = [r for r in rows if re.fullmatch(f"pod/coredns{POD_SUFFIX}", r["NAME"])]
    assert [(r["READY"], r["STATUS"], r["RESTARTS"]) for r in coredns] == [
        ("1/1", "Running", "0")], pods


def test_busybox_pod_dns_settings_and_lookup(kubectl: Kubectl) -> None:
    assert kubectl("run", "testpod", "--image=busybox", "--", "sleep", "3600") == \
        "pod/testpod created\n"
    ready(kubectl, "testpod")
    dns_ip = kubectl("get", "service", "kube-dns", "-n", "kube-system", "-o",
                     "jsonpath={.spec.clusterIP}")
    resolv = exec_in(kubectl, "testpod", "cat", "/etc/resolv.conf")
    assert resolv.returncode == 0, resolv.stderr
    # "The nameserver is set to the Cluster IP address of the kube-dns service".
    assert resolv.stdout.splitlines() == [
        "search default.svc.cluster.local svc.cluster.local cluster.local",
        f"nameserver {dns_ip}",
        "options ndots:5",
    ]
    cluster_ip = kubectl("get", "service", "nginx-app", "-o", "jsonpath={.spec.clusterIP}")
    lookup = exec_in(kubectl, "testpod", "nslookup", "nginx-app")
    assert lookup.returncode == 0, lookup.stderr
    assert lookup.stdout.splitlines() == [
        f"Server:\t\t{dns_ip}", f"Address:\t{dns_ip}:53", "",
        "Name:\tnginx-app.default.svc.cluster.local", f"Address: {cluster_ip}", ""]
    svc = row(kubectl("get", "service", "nginx-app"), "nginx-app")
    assert (svc["TYPE"], svc["PORT(S)"]) == ("NodePort", "80:32000/TCP")


def test_ingress_addon_is_enabled(kubectl: Kubectl) -> None:
    # `minikube addons enable ingress`: kubeloop installs the add-on at the first start.
    header, rows = table(kubectl("get", "ns"))
    assert header == ["NAME", "STATUS", "AGE"]
    assert {r["NAME"]: r["STATUS"] for r in rows} == dict.fromkeys(
        ["default", "ingress-nginx", "kube-node-lease", "kube-public", "kube-system"], "Active")
    rollout(kubectl, "ingress-nginx-controller", namespace="ingress-nginx")
    out = kubectl("get", "all", "-n", "ingress-nginx")
    pods, services, deployments, replicasets = sections(out)[:4]
    controller = [r for r in table(pods)[1]
                  if re.fullmatch(f"pod/ingress-nginx-controller{POD_SUFFIX}", r["NAME"])]
    assert [(r["READY"], r["STATUS"], r["RESTARTS"]) for r in controller] == [
        ("1/1", "Running", "0")], out
    svc = row(services, "service/ingress-nginx-controller")
    assert svc["TYPE"] == "NodePort" and svc["EXTERNAL-IP"] == "<none>"
    assert re.fullmatch(r"80:3\d{4}/TCP,443:3\d{4}/TCP", svc["PORT(S)"]), out
    header, _ = table(deployments)
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    deploy = row(deployments, "deployment.apps/ingress-nginx-controller")
    assert (deploy["READY"], deploy["UP-TO-DATE"], deploy["AVAILABLE"]) == ("1/1", "1", "1")
    header, rows = table(replicasets)
    assert header == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert [(r["DESIRED"], r["CURRENT"], r["READY"]) for r in rows
            if re.fullmatch(r"replicaset.apps/ingress-nginx-controller-[a-z0-9]{6,10}",
                            r["NAME"])] == [("1", "1", "1")], out


def test_ingress_addon_admission_objects(kubectl: Kubectl) -> None:
    # The seed's add-on also shows the admission webhook's Service and the two
    # kube-webhook-certgen Jobs, done, with their Completed pods.
    def jobs_done() -> str | None:
        out = kubectl("get", "all", "-n", "ingress-nginx")
        jobs = [p for p in sections(out) if p.startswith("NAME") and "COMPLETIONS" in p]
        return out if jobs and [r["COMPLETIONS"] for r in table(jobs[0])[1]] == [
            "1/1", "1/1"] else None

    out = wait_for(jobs_done, timeout=30, what="the admission Jobs 1/1")
    pods, services, _, _, jobs = sections(out)
    admission = {re.sub(r"-[a-z0-9]{5}$", "", r["NAME"]): r for r in table(pods)[1]
                 if r["NAME"].startswith("pod/ingress-nginx-admission-")}
    assert sorted(admission) == ["pod/ingress-nginx-admission-create",
                                 "pod/ingress-nginx-admission-patch"], out
    for name, r in admission.items():
        assert re.fullmatch(f"{name}-[a-z0-9]{{5}}", r["NAME"]), out
        assert (r["READY"], r["STATUS"], r["RESTARTS"]) == ("0/1", "Completed", "0"), out
    svc = row(services, "service/ingress-nginx-controller-admission")
    assert (svc["TYPE"], svc["EXTERNAL-IP"], svc["PORT(S)"]) == ("ClusterIP", "<none>",
                                                                 "443/TCP"), out
    assert IP.match(svc["CLUSTER-IP"]), out
    header, rows = table(jobs)
    # A v1.32 apiserver's table has the STATUS column the seed's older cluster lacks.
    assert header == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"], out
    assert [(r["NAME"], r["STATUS"], r["COMPLETIONS"]) for r in rows] == [
        ("job.batch/ingress-nginx-admission-create", "Complete", "1/1"),
        ("job.batch/ingress-nginx-admission-patch", "Complete", "1/1")], out
    assert all(AGE.match(r["DURATION"]) and AGE.match(r["AGE"]) for r in rows), out
    # kube-webhook-certgen logs as the real one does (logrus JSON lines).
    logs = kubectl("logs", "-n", "ingress-nginx", "job/ingress-nginx-admission-create")
    assert [json.loads(line)["msg"] for line in logs.splitlines()] == [
        "no secret found", "creating new secret"], logs
    logs = kubectl("logs", "-n", "ingress-nginx", "job/ingress-nginx-admission-patch")
    assert [json.loads(line)["msg"] for line in logs.splitlines()] == [
        "patching webhook configurations 'ingress-nginx-admission' mutating=false, "
        "validating=true, failurePolicy=Fail", "Patched hook(s)"], logs


def test_ingress_503_until_the_backend_exists(kubectl: Kubectl) -> None:
    out = kubectl("create", "ingress", "nginx-app-ingress", "--rule=/=nginx-app:80",
                  "--rule=/hello=newdeploy:8080")
    assert out == "ingress.networking.k8s.io/nginx-app-ingress created\n"
    address = ingress_address(kubectl, "nginx-app-ingress")
    described = kubectl("describe", "ingress", "nginx-app-ingress")
    lines = described.splitlines()
    assert lines[:3] == ["Name:             nginx-app-ingress",
                         "Labels:           <none>",
                         "Namespace:        default"], described
    assert re.search(r"^\s+/\s+nginx-app:80 \(\d+\.\d+\.\d+\.\d+:80(,|\))", described, re.M)
    assert re.search(r'^\s+/hello\s+newdeploy:8080 \(<error: .*"newdeploy" not found>\)$',
                     described, re.M), described
    assert "Annotations:  <none>" in lines, described
    events = wait_for(lambda: re.search(
        r"^Events:\n  Type +Reason +Age +From +Message\n  ----.*\n(.*\n)*?"
        r"  Normal +Sync +.* +nginx-ingress-controller +Scheduled for sync$",
        kubectl("describe", "ingress", "nginx-app-ingress"), re.M),
        what="the controller's Sync event")
    assert events

    out = kubectl("get", "ingress")
    header, _ = table(out)
    assert header == INGRESS_HEADER
    ing = row(out, "nginx-app-ingress")
    assert (ing["CLASS"], ing["HOSTS"], ing["PORTS"]) == ("nginx", "*", "80"), out

    # /etc/hosts: nginx-app.demo -> the Ingress ADDRESS.
    page = until_curl("nginx-app.demo", "<title>Welcome to nginx!</title>", resolve=address)
    assert page.startswith("<!DOCTYPE html>"), page
    unavailable = curl("nginx-app.demo/hello", resolve=address).stdout
    assert "<head><title>503 Service Temporarily Unavailable</title></head>" in unavailable

    out = kubectl("create", "deployment", "newdeploy",
                  "--image=gcr.io/google-samples/hello-app:2.0")
    assert out == "deployment.apps/newdeploy created\n"
    assert kubectl("expose", "deployment", "newdeploy", "--port=8080") == \
        "service/newdeploy exposed\n"
    hello = until_curl("nginx-app.demo/hello", "Hello, world!", resolve=address)
    assert re.fullmatch(f"Hello, world!\nVersion: 2.0.0\nHostname: newdeploy{POD_SUFFIX}\n",
                        hello), hello


def test_multihost_ingress_and_its_404s(kubectl: Kubectl) -> None:
    for name, image in (("foo", "nginx"), ("bar", "httpd")):
        assert kubectl("create", "deploy", name, f"--image={image}") == \
            f"deployment.apps/{name} created\n"
    for name in ("foo", "bar"):
        assert kubectl("expose", "deploy", name, "--port=80") == f"service/{name} exposed\n"
    out = kubectl("create", "ingress", "multihost", "--rule=foo.example.com/=foo:80",
                  "--rule=bar.example.com/=bar:80")
    assert out == "ingress.networking.k8s.io/multihost created\n"
    address = ingress_address(kubectl, "multihost")
    rollout(kubectl, "foo", "bar")
    until_curl("foo.example.com", "<title>Welcome to nginx!</title>", resolve=address)
    # Before the edit the paths are Exact: /lololol matches no rule, so the controller's
    # own 404 answers (ingress-nginx's page names no nginx version).
    assert "<center>nginx</center>" in curl("foo.example.com/lololol", resolve=address).stdout

    # "Edit the multihost Ingress resource and set the pathType to Prefix for both".
    out = edit(kubectl, "ingress/multihost", ("pathType: Exact", "pathType: Prefix"))
    assert out == "ingress.networking.k8s.io/multihost edited\n"
    out = kubectl("get", "ingress", "multihost")
    header, _ = table(out)
    assert header == INGRESS_HEADER
    ing = row(out, "multihost")
    assert (ing["CLASS"], ing["HOSTS"], ing["ADDRESS"], ing["PORTS"]) == (
        "nginx", "foo.example.com,bar.example.com", address, "80"), out

    page = curl("foo.example.com", resolve=address).stdout
    assert page.startswith("<!DOCTYPE html>") and "<title>Welcome to nginx!</title>" in page
    # Now /lololol reaches the pods, whose own 404 pages the seed shows.
    not_found = until_curl("foo.example.com/lololol", "<center>nginx/", resolve=address)
    assert "<head><title>404 Not Found</title></head>" in not_found
    assert curl("bar.example.com", resolve=address).stdout == \
        "<html><body><h1>It works!</h1></body></html>\n"
    not_found = curl("bar.example.com/lololol", resolve=address).stdout
    assert "<title>404 Not Found</title>" in not_found
    assert "The requested URL was not found on this server." in not_found  # Apache's


def test_network_policy_with_calico(kubectl: Kubectl, tmp_path: Path) -> None:
    example = tmp_path / "ckad" / "nwpolicy-complete-example.yaml"
    example.parent.mkdir()
    example.write_text(NWPOLICY_COMPLETE_EXAMPLE)
    assert kubectl("create", "-f", str(example)) == (
        "networkpolicy.networking.k8s.io/access-nginx created\n"
        "pod/nginx created\npod/busybox created\n")
    out = kubectl("get", "networkpolicy")
    header, _ = table(out)
    assert header == ["NAME", "POD-SELECTOR", "AGE"]
    assert row(out, "access-nginx")["POD-SELECTOR"] == "app=nginx"
    described = kubectl("describe", "networkpolicy").splitlines()
    assert described[:2] == ["Name:         access-nginx", "Namespace:    default"]
    assert re.fullmatch(r"Created on:   \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC",
                        described[2]), described
    assert described[3:] == [
        "Labels:       <none>",
        "Annotations:  <none>",
        "Spec:",
        "  PodSelector:     app=nginx",
        "  Allowing ingress traffic:",
        "    To Port: <any> (traffic allowed to all ports)",
        "    From:",
        "      PodSelector: access=true",
        "  Not affecting egress traffic",
        "  Policy Types: Ingress",
    ], described
    assert kubectl("expose", "pod", "nginx", "--port=80") == "service/nginx exposed\n"
    ready(kubectl, "nginx", "busybox")
    cluster_ip = kubectl("get", "service", "nginx", "-o", "jsonpath={.spec.clusterIP}")

    # The policy may take a moment to reach the node: wait for the drop, then read it.
    wait_for(lambda: times_out(kubectl, "busybox", "http://nginx"), timeout=15,
             what="access-nginx enforced")
    blocked = exec_in(kubectl, "busybox", "wget", "--spider", "--timeout=1", "nginx")
    assert blocked.returncode == 1
    assert shown(blocked) == (
        f"Connecting to nginx ({cluster_ip}:80)\n"
        "wget: download timed out\n"
        "command terminated with exit code 1\n"), blocked

    assert kubectl("label", "pod", "busybox", "access=true") == "pod/busybox labeled\n"
    allowed = wait_for(lambda: (r := exec_in(kubectl, "busybox", "wget", "--spider",
                                             "--timeout=1", "nginx")).returncode == 0 and r,
                       timeout=15, what="busybox let in once labelled")
    assert shown(allowed) == (
        f"Connecting to nginx ({cluster_ip}:80)\nremote file exists\n"), allowed


def test_calico_pods_in_kube_system(cluster: Cluster, kubectl: Kubectl) -> None:
    # `minikube start --cni=calico` is `kubeloop up --cni calico` (the default).
    assert cluster.config.cni == "calico"
    out = kubectl("get", "pods", "-n", "kube-system")
    names = [r["NAME"] for r in table(out)[1]]
    calico = [n for n in names if re.fullmatch(
        f"calico-kube-controllers{POD_SUFFIX}|calico-node-[a-z0-9]{{5}}", n)]
    # the seed: calico-kube-controllers-<hash>-<id> and calico-node-<id>, next to coredns
    assert len(calico) == 2 and any(n.startswith("coredns-") for n in names), out
