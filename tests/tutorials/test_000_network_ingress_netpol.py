"""Seed 000 (/work/shared/seeds/000_91927f214c8e0637.txt), replayed step by step: the
network model (pod to pod across nodes without NAT), an Ingress with host and path
rules, a TLS Ingress with a Secret made by ``kubectl create secret tls``, a default-deny
and an allow-frontend NetworkPolicy, and the minikube practice (web and api behind
test.local). Two nodes, as the seed's diagram (Pod A on Node 1, Pod C on Node 2).

The seed leaves the backends of its Ingresses and the pods of its policies to the
reader; they are made here with kubectl (named as the manifests reference them) from
images that say who answered: kicbase/echo-server prints the pod and the request line
(so the rewrite to ``/`` shows), agnhost netexec answers ``/clientip``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.conftest import Kubectl, wait_for
from tests.tutorials.replay import (POD_SUFFIX, apply, curl, exec_in, ingress_address,
                                    node_ips, pod_ip, ready, rollout, row, self_signed,
                                    side_by_side, table, times_out, until_curl)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

NODES = 2
ECHO = "kicbase/echo-server:1.0"  # listens on 8080, prints "Request served by <pod>"
NETEXEC = "registry.k8s.io/e2e-test-images/agnhost:2.52"

MY_INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: my-ingress
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /
spec:
  ingressClassName: nginx
  rules:
  - host: api.example.com
    http:
      paths:
      - path: /users
        pathType: Prefix
        backend:
          service:
            name: user-service
            port:
              number: 80
      - path: /orders
        pathType: Prefix
        backend:
          service:
            name: order-service
            port:
              number: 80
  - host: web.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web-service
            port:
              number: 80
"""

TLS_INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: tls-ingress
spec:
  ingressClassName: nginx
  tls:
  - hosts:
    - api.example.com
    secretName: api-tls-secret
  rules:
  - host: api.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: api-service
            port:
              number: 80
"""

DENY_ALL = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all
spec:
  podSelector: {} # Apply to all Pods
  policyTypes:
  - Ingress
  - Egress
"""

ALLOW_FRONTEND = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-frontend
spec:
  podSelector:
    matchLabels:
      app: backend
  policyTypes:
  - Ingress
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: frontend
    ports:
    - protocol: TCP
      port: 8080
"""

TEST_INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: test-ingress
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /
spec:
  ingressClassName: nginx
  rules:
  - host: test.local
    http:
      paths:
      - path: /web
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
      - path: /api
        pathType: Prefix
        backend:
          service:
            name: api
            port:
              number: 80
"""


def echo_service(kubectl: Kubectl, name: str) -> None:
    """A Deployment and Service NAME on port 80 answering with kicbase/echo-server."""
    kubectl("create", "deployment", name, f"--image={ECHO}")
    kubectl("expose", "deployment", name, "--port=80", "--target-port=8080")


def on_node(kubectl: Kubectl, name: str, node: str, image: str, *args: str) -> None:
    overrides = '{"spec": {"nodeName": "%s"}}' % node
    kubectl("run", name, f"--image={image}", f"--overrides={overrides}", "--", *args)


def test_pod_to_pod_across_nodes_without_nat(kubectl: Kubectl) -> None:
    nodes = [r["NAME"] for r in table(kubectl("get", "nodes"))[1]]
    on_node(kubectl, "pod-a", nodes[0], "nicolaka/netshoot", "sleep", "3600")
    on_node(kubectl, "pod-c", nodes[1], NETEXEC, "netexec", "--http-port=8080")
    ready(kubectl, "pod-a", "pod-c")
    a, c = pod_ip(kubectl, "pod-a"), pod_ip(kubectl, "pod-c")
    assert a.rsplit(".", 1)[0] != c.rsplit(".", 1)[0], (a, c)  # each node its own pod range

    # kubectl exec pod-a -- curl http://10.244.2.3:8080 (pod C's IP)
    direct = kubectl.run("exec", "pod-a", "--", "curl", f"http://{c}:8080")
    assert direct.stdout.startswith("NOW: "), direct  # curl's progress meter on stderr
    # "Pod's own IP and the IP other Pods see are identical".
    seen = kubectl("exec", "pod-a", "--", "curl", "-s", f"http://{c}:8080/clientip")
    assert seen.rsplit(":", 1)[0] == a, seen
    # "All nodes can communicate with all Pods without NAT": from node 1's address.
    node = node_ips(kubectl)[0]
    from_node = curl(f"http://{c}:8080/clientip", "--interface", node)
    assert from_node.stdout.rsplit(":", 1)[0] == node, from_node


def test_ingress_routes_hosts_and_paths_with_rewrite(kubectl: Kubectl) -> None:
    for name in ("user-service", "order-service", "web-service"):
        echo_service(kubectl, name)
    assert apply(kubectl, MY_INGRESS) == "ingress.networking.k8s.io/my-ingress created\n"
    rollout(kubectl, "user-service", "order-service", "web-service")
    address = ingress_address(kubectl, "my-ingress")
    out = kubectl("get", "ingress", "my-ingress")
    ing = row(out, "my-ingress")
    assert (ing["CLASS"], ing["HOSTS"], ing["PORTS"]) == (
        "nginx", "api.example.com,web.example.com", "80"), out

    # The flow the seed draws: DNS -> the controller -> the matched Service -> a pod.
    for url, service in (("http://api.example.com/users", "user-service"),
                         ("http://api.example.com/orders", "order-service"),
                         ("http://web.example.com/", "web-service")):
        answer = until_curl(url, "Request served by", resolve=address)
        assert re.match(f"Request served by {service}{POD_SUFFIX}\n", answer), answer
        assert "\nHTTP/1.1 GET /\n" in answer, answer  # rewritten to /
    # api.example.com has no rule for /: the controller's 404.
    missing = curl("http://api.example.com/", "-w", "%{http_code}", resolve=address).stdout
    assert missing.endswith("404") and "<center>nginx</center>" in missing, missing


def test_tls_ingress_with_a_secret_from_files(kubectl: Kubectl, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "path" / "to", "api.example.com")
    out = kubectl("create", "secret", "tls", "api-tls-secret", f"--cert={cert}",
                  f"--key={key}")
    assert out == "secret/api-tls-secret created\n"
    secret = row(kubectl("get", "secret", "api-tls-secret"), "api-tls-secret")
    assert (secret["TYPE"], secret["DATA"]) == ("kubernetes.io/tls", "2")

    echo_service(kubectl, "api-service")
    assert apply(kubectl, TLS_INGRESS) == "ingress.networking.k8s.io/tls-ingress created\n"
    rollout(kubectl, "api-service")
    address = ingress_address(kubectl, "tls-ingress")
    ing = row(kubectl("get", "ingress", "tls-ingress"), "tls-ingress")
    assert (ing["HOSTS"], ing["PORTS"]) == ("api.example.com", "80, 443")

    answer = until_curl("https://api.example.com/", "Request served by", "--cacert",
                        str(cert), resolve=address)
    assert re.match(f"Request served by api-service{POD_SUFFIX}\n", answer), answer
    # my-ingress's paths on the same host are served over the same certificate.
    users = curl("https://api.example.com/users", "--cacert", str(cert), resolve=address)
    assert users.stdout.startswith("Request served by user-service-"), users
    # With TLS for the host, ingress-nginx redirects plain HTTP (ssl-redirect's default).
    redirect = curl("http://api.example.com/users", "-o", "/dev/null", "-w",
                    "%{http_code} %{redirect_url}", resolve=address).stdout
    assert redirect == "308 https://api.example.com/users", redirect


def test_default_deny_blocks_all_traffic(kubectl: Kubectl) -> None:
    # The policies get namespaces of their own, so deny-all does not also cut the
    # practice section's ingress traffic in `default`.
    ns = "deny-demo"
    kubectl("create", "namespace", ns)
    kubectl("run", "client", "-n", ns, "--image=busybox", "--", "sleep", "3600")
    kubectl("run", "server", "-n", ns, "--image=nginx")
    ready(kubectl, "client", "server", namespace=ns)
    client, server = (pod_ip(kubectl, p, namespace=ns) for p in ("client", "server"))
    # "By default, all Pods can communicate with each other".
    assert not times_out(kubectl, "client", f"http://{server}", namespace=ns)

    out = kubectl("apply", "-n", ns, "-f", "-", input=DENY_ALL)
    assert out == "networkpolicy.networking.k8s.io/deny-all created\n"
    assert kubectl.json("get", "networkpolicy", "deny-all", "-n", ns)["spec"][
        "policyTypes"] == ["Ingress", "Egress"]
    wait_for(lambda: times_out(kubectl, "client", f"http://{server}", namespace=ns),
             timeout=15, what="deny-all enforced")
    apiserver = kubectl("get", "service", "kubernetes", "-n", "default", "-o",
                        "jsonpath={.spec.clusterIP}")
    # "all Pods in that namespace have their traffic blocked": both ways, out of the
    # namespace, and (on Calico) the pods' DNS queries to kube-dns as well.
    back, out_of_ns, lookup = side_by_side([
        lambda: times_out(kubectl, "server", f"http://{client}:80", namespace=ns),
        lambda: times_out(kubectl, "client", f"http://{apiserver}:443", namespace=ns),
        lambda: exec_in(kubectl, "client", "nslookup", "-timeout=1", "kubernetes.default",
                        namespace=ns)])
    assert back and out_of_ns
    assert lookup.returncode == 1, f"DNS egress not enforced: {lookup}"
    assert ";; connection timed out; no servers could be reached" in lookup.stdout, lookup


def test_allow_frontend_to_backend_8080(kubectl: Kubectl) -> None:
    ns = "frontend-demo"
    kubectl("create", "namespace", ns)
    kubectl("run", "backend", "-n", ns, "--labels=app=backend", f"--image={NETEXEC}", "--",
            "netexec", "--http-port=8080", "--udp-port=-1")
    for name in ("frontend", "other"):
        kubectl("run", name, "-n", ns, f"--labels=app={name}", "--image=busybox", "--",
                "sleep", "3600")
    ready(kubectl, "backend", "frontend", "other", namespace=ns)
    backend = f"http://{pod_ip(kubectl, 'backend', namespace=ns)}:8080/hostname"
    out = kubectl("apply", "-n", ns, "-f", "-", input=ALLOW_FRONTEND)
    assert out == "networkpolicy.networking.k8s.io/allow-frontend created\n"
    wait_for(lambda: times_out(kubectl, "other", backend, namespace=ns), timeout=15,
             what="allow-frontend enforced")
    got = exec_in(kubectl, "frontend", "wget", "-q", "-T", "1", "-O", "-", backend,
                  namespace=ns)
    assert got.returncode == 0 and got.stdout == "backend", got


def test_practice_ingress_on_test_local(kubectl: Kubectl) -> None:
    # `minikube addons enable ingress` is done at kubeloop's first start.
    header, rows = table(kubectl("get", "pods", "-n", "ingress-nginx"))
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [(r["READY"], r["STATUS"]) for r in rows
            if re.fullmatch(f"ingress-nginx-controller{POD_SUFFIX}", r["NAME"])] == [
        ("1/1", "Running")], rows

    assert kubectl("create", "deployment", "web", "--image=nginx") == \
        "deployment.apps/web created\n"
    assert kubectl("create", "deployment", "api", "--image=httpd") == \
        "deployment.apps/api created\n"
    assert kubectl("expose", "deployment", "web", "--port=80") == "service/web exposed\n"
    assert kubectl("expose", "deployment", "api", "--port=80") == "service/api exposed\n"
    assert apply(kubectl, TEST_INGRESS) == "ingress.networking.k8s.io/test-ingress created\n"
    rollout(kubectl, "web", "api")

    # minikube ip + /etc/hosts: test.local -> the Ingress ADDRESS.
    address = ingress_address(kubectl, "test-ingress")
    web = until_curl("http://test.local/web", "<title>Welcome to nginx!</title>",
                     resolve=address)
    assert web.startswith("<!DOCTYPE html>"), web
    api = until_curl("http://test.local/api", "It works!", resolve=address)
    assert api == "<html><body><h1>It works!</h1></body></html>\n"
