"""Seed 001 (/work/shared/seeds/001_f72bf48a9e2bc6c5.txt), replayed step by step: the
ClusterIP, NodePort (30080) and LoadBalancer Services of its service.yaml, kubectl
get/describe/endpoints, a throw-away curl pod, Service and pod DNS names, an Ingress with
TLS, the ingress controller's objects and a NetworkPolicy between web and api pods.

The seed never shows the pods behind ``app: nextgen-app`` (port 3000); here they are an
agnhost netexec Deployment on 3000, whose ``/hostname`` says which pod answered."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import pytest

from tests.integration.conftest import Kubectl, wait_for
from tests.tutorials.replay import (AGE, IP, POD_SUFFIX, apply, curl, exec_in,
                                    ingress_address, node_ips, pod_ip, pods_of, ready,
                                    rollout, row, self_signed, shown, side_by_side, table,
                                    times_out, until_curl)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

NODES = 2
NETEXEC = "registry.k8s.io/e2e-test-images/agnhost:2.52"
HOST = "learn.nextgenplayground.org"

# The seed's three Service manifests, in one service.yaml for `kubectl apply -f`.
SERVICE_YAML = """\
apiVersion: v1
kind: Service
metadata:
  name: app-service
spec:
  type: ClusterIP
  selector:
    app: nextgen-app
  ports:
  - port: 80
    targetPort: 3000
---
apiVersion: v1
kind: Service
metadata:
  name: app-nodeport
spec:
  type: NodePort
  selector:
    app: nextgen-app
  ports:
  - port: 80
    targetPort: 3000
    nodePort: 30080 # Range: 30000-32767
---
apiVersion: v1
kind: Service
metadata:
  name: app-lb
spec:
  type: LoadBalancer
  selector:
    app: nextgen-app
  ports:
  - port: 80
    targetPort: 3000
"""

APP_INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-ingress
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /
spec:
  ingressClassName: nginx
  rules:
  - host: learn.nextgenplayground.org
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: app-service
            port:
              number: 80
      - path: /api
        pathType: Prefix
        backend:
          service:
            name: api-service
            port:
              number: 80
  tls:
  - hosts:
    - learn.nextgenplayground.org
    secretName: tls-secret
"""

ALLOW_WEB_TO_API = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-web-to-api
spec:
  podSelector:
    matchLabels:
      app: api
  policyTypes:
  - Ingress
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: web
    ports:
    - protocol: TCP
      port: 3000
"""


def nextgen_pods(kubectl: Kubectl) -> set[str]:
    return {p["metadata"]["name"] for p in pods_of(kubectl, "app=nextgen-app")}


def test_apply_the_three_service_types(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("create", "deployment", "nextgen-app", f"--image={NETEXEC}", "--replicas=2",
            "--port=3000", "--", "/agnhost", "netexec", "--http-port=3000")
    service_yaml = tmp_path / "service.yaml"
    service_yaml.write_text(SERVICE_YAML)
    assert kubectl("apply", "-f", str(service_yaml)) == (
        "service/app-service created\nservice/app-nodeport created\nservice/app-lb created\n")
    rollout(kubectl, "nextgen-app")


def test_list_and_describe_services(kubectl: Kubectl) -> None:
    services = kubectl("get", "services")
    assert table(kubectl("get", "svc"))[1] == table(services)[1]
    header, rows = table(services)
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert all(IP.match(r["CLUSTER-IP"]) and AGE.match(r["AGE"]) for r in rows), services
    shown_ = {r["NAME"]: (r["TYPE"], r["EXTERNAL-IP"], r["PORT(S)"]) for r in rows}
    assert shown_["app-service"] == ("ClusterIP", "<none>", "80/TCP")
    assert shown_["app-nodeport"] == ("NodePort", "<none>", "80:30080/TCP")
    assert shown_["kubernetes"] == ("ClusterIP", "<none>", "443/TCP")
    # LoadBalancer IPs are kubeloop's own (no cloud): wait for the service-lb controller.
    lb = wait_for(lambda: (r := row(kubectl("get", "svc", "app-lb"), "app-lb"))[
        "EXTERNAL-IP"] != "<pending>" and r, what="app-lb's EXTERNAL-IP")
    assert lb["TYPE"] == "LoadBalancer" and IP.match(lb["EXTERNAL-IP"]), lb
    assert re.fullmatch(r"80:3\d{4}/TCP", lb["PORT(S)"]), lb

    cluster_ip = row(services, "app-service")["CLUSTER-IP"]
    ips = sorted(pod_ip(kubectl, p) for p in nextgen_pods(kubectl))
    # the endpoints controller may list the last Ready pod a moment after it is Ready
    wait_for(lambda: sorted(row(kubectl("get", "endpoints", "app-service"), "app-service")[
        "ENDPOINTS"].split(",")) == [f"{ip}:3000" for ip in ips], what="every pod listed")
    described = kubectl("describe", "svc", "app-service")
    fields = dict(re.findall(r"^([A-Za-z][\w ]*?):\s+(.*)$", described, re.M))
    assert fields == {
        "Name": "app-service", "Namespace": "default", "Labels": "<none>",
        "Annotations": "<none>", "Selector": "app=nextgen-app", "Type": "ClusterIP",
        "IP Family Policy": "SingleStack", "IP Families": "IPv4", "IP": cluster_ip,
        "IPs": cluster_ip, "Port": "<unset>  80/TCP", "TargetPort": "3000/TCP",
        "Endpoints": fields["Endpoints"], "Session Affinity": "None",
        "Internal Traffic Policy": "Cluster", "Events": "<none>"}, described
    assert sorted(fields["Endpoints"].split(",")) == [f"{ip}:3000" for ip in ips]

    out = kubectl("get", "endpoints", "app-service")
    header, _ = table(out)
    assert header == ["NAME", "ENDPOINTS", "AGE"]
    assert sorted(row(out, "app-service")["ENDPOINTS"].split(",")) == \
        [f"{ip}:3000" for ip in ips]


def test_internal_access_from_a_throwaway_curl_pod(kubectl: Kubectl) -> None:
    result = kubectl.run("run", "curl", "--image=curlimages/curl", "-it", "--rm", "--",
                         "curl", "http://app-service", input="")
    assert result.returncode == 0, result.stderr
    # netexec's "/" writes no newline, so kubectl's line follows on the same one.
    assert re.fullmatch(r"NOW: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \+0000 UTC "
                        r"m=\+\d+\.\d+pod \"curl\" deleted\n", result.stdout), result
    wait_for(lambda: kubectl.run("get", "pod", "curl", check=False).returncode == 1,
             what="the curl pod gone")


def test_service_dns_names_from_a_pod(kubectl: Kubectl) -> None:
    kubectl("run", "client", "--image=curlimages/curl", "--command", "--", "sleep", "3600")
    ready(kubectl, "client")
    pods = nextgen_pods(kubectl)
    # Same namespace, explicit namespace, fully qualified.
    answers = side_by_side([
        partial(kubectl, "exec", "client", "--", "curl", "-s", f"http://{name}/hostname")
        for name in ("app-service", "app-service.default",
                     "app-service.default.svc.cluster.local")])
    assert all(answer in pods for answer in answers), (answers, pods)


def test_pod_dns_names(kubectl: Kubectl) -> None:
    pod = sorted(nextgen_pods(kubectl))[0]
    ip = pod_ip(kubectl, pod)
    name = f"{ip.replace('.', '-')}.default.pod.cluster.local"
    lookup = exec_in(kubectl, "client", "nslookup", name)
    assert lookup.returncode == 0, lookup
    assert f"Name:\t{name}\nAddress: {ip}\n" in lookup.stdout, lookup.stdout
    answer = kubectl("exec", "client", "--", "curl", "-s", f"http://{name}:3000/hostname")
    assert answer == pod


def test_node_port_and_load_balancer_from_outside(kubectl: Kubectl) -> None:
    pods = nextgen_pods(kubectl)
    # Access: http://<node-ip>:30080, on every node; the LoadBalancer on its EXTERNAL-IP.
    external = row(kubectl("get", "svc", "app-lb"), "app-lb")["EXTERNAL-IP"]
    urls = [f"http://{ip}:30080/hostname" for ip in node_ips(kubectl)]
    urls.append(f"http://{external}/hostname")
    answers = side_by_side([partial(curl, url) for url in urls])
    assert [a.stdout in pods for a in answers] == [True] * len(urls), answers


def test_ingress_with_tls(kubectl: Kubectl, tmp_path: Path) -> None:
    # The seed's /api backend and the tls-secret it names (made as seed 000 shows).
    kubectl("create", "deployment", "api-service", "--image=hashicorp/http-echo", "--",
            "/http-echo", "-text=api-service")
    kubectl("expose", "deployment", "api-service", "--port=80", "--target-port=5678")
    cert, key = self_signed(tmp_path, HOST)
    kubectl("create", "secret", "tls", "tls-secret", f"--cert={cert}", f"--key={key}")
    assert apply(kubectl, APP_INGRESS) == "ingress.networking.k8s.io/app-ingress created\n"
    rollout(kubectl, "api-service")
    address = ingress_address(kubectl, "app-ingress")
    ing = row(kubectl("get", "ingress", "app-ingress"), "app-ingress")
    assert (ing["CLASS"], ing["HOSTS"], ing["PORTS"]) == ("nginx", HOST, "80, 443")

    tls = ("--cacert", str(cert))
    root = until_curl(f"https://{HOST}/", "NOW: ", *tls, resolve=address)
    assert root.startswith("NOW: "), root
    assert until_curl(f"https://{HOST}/api", "api-service", *tls, resolve=address) == \
        "api-service\n"
    # /api/x is rewritten to / as well (rewrite-target: / replaces the whole path).
    assert curl(f"https://{HOST}/api/x", *tls, resolve=address).stdout == "api-service\n"
    redirect = curl(f"http://{HOST}/api", "-o", "/dev/null", "-w", "%{http_code}",
                    resolve=address).stdout
    assert redirect == "308"


def test_ingress_controller_is_running(kubectl: Kubectl) -> None:
    # `kubectl apply -f .../deploy.yaml` is not needed: the controller is installed at
    # kubeloop's first start (as minikube's add-on: a NodePort Service, not the cloud
    # manifest's LoadBalancer).
    header, rows = table(kubectl("get", "pods", "-n", "ingress-nginx"))
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [(r["READY"], r["STATUS"]) for r in rows
            if re.fullmatch(f"ingress-nginx-controller{POD_SUFFIX}", r["NAME"])] == [
        ("1/1", "Running")], rows
    out = kubectl("get", "svc", "-n", "ingress-nginx")
    svc = row(out, "ingress-nginx-controller")
    assert svc["TYPE"] == "NodePort"
    assert re.fullmatch(r"80:3\d{4}/TCP,443:3\d{4}/TCP", svc["PORT(S)"]), out


def test_network_policy_allow_web_to_api(kubectl: Kubectl) -> None:
    kubectl("run", "api", "--labels=app=api", f"--image={NETEXEC}", "--", "netexec",
            "--http-port=3000", "--udp-port=-1")
    for name in ("web", "other"):
        kubectl("run", name, f"--labels=app={name}", "--image=busybox", "--", "sleep", "3600")
    ready(kubectl, "api", "web", "other")
    api = f"http://{pod_ip(kubectl, 'api')}:3000/hostname"
    assert apply(kubectl, ALLOW_WEB_TO_API) == \
        "networkpolicy.networking.k8s.io/allow-web-to-api created\n"
    wait_for(lambda: times_out(kubectl, "other", api), timeout=15,
             what="allow-web-to-api enforced")
    allowed = exec_in(kubectl, "web", "wget", "-q", "-T", "1", "-O", "-", api)
    assert allowed.returncode == 0 and shown(allowed) == "api", allowed
