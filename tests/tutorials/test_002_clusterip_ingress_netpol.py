"""Seed 002 (/work/shared/seeds/002_08615b9b7fa6ae0d.txt), replayed step by step: the
ClusterIP Service my-service (80 -> 8080), an Ingress routing example.com/app to it with
rewrite-target and no ingressClassName, the allow-web NetworkPolicy (web pods on port 80
from role=frontend pods), and the monitoring tools it names (kubectl logs and kubectl
port-forward).

The seed never shows the pods behind ``app: my-app`` (port 8080); here they are
hello-app, whose log names each request's path."""

from __future__ import annotations

import re

import pytest

from tests.integration.conftest import Kubectl, wait_for
from tests.tutorials.replay import (POD_SUFFIX, apply, curl, exec_in, ingress_address,
                                    pod_ip, port_forward, ready, rollout, row, shown,
                                    side_by_side, table, times_out, until_curl)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

NODES = 2

MY_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: my-service
  namespace: default
spec:
  selector:
    app: my-app
  ports:
    - protocol: TCP
      port: 80
      targetPort: 8080
  type: ClusterIP
"""

MY_INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: my-ingress
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /
spec:
  rules:
  - host: example.com
    http:
      paths:
      - path: /app
        pathType: Prefix
        backend:
          service:
            name: my-service
            port:
              number: 80
"""

ALLOW_WEB = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-web
  namespace: default
spec:
  podSelector:
    matchLabels:
      app: web
  policyTypes:
  - Ingress
  ingress:
  - from:
    - podSelector:
        matchLabels:
          role: frontend
    ports:
    - protocol: TCP
      port: 80
"""


def test_cluster_ip_service_forwards_80_to_8080(kubectl: Kubectl) -> None:
    kubectl("create", "deployment", "my-app", "--image=gcr.io/google-samples/hello-app:1.0",
            "--replicas=2")
    assert apply(kubectl, MY_SERVICE) == "service/my-service created\n"
    rollout(kubectl, "my-app")
    out = kubectl("get", "service", "my-service")
    svc = row(out, "my-service")
    assert (svc["TYPE"], svc["EXTERNAL-IP"], svc["PORT(S)"]) == ("ClusterIP", "<none>",
                                                                 "80/TCP"), out
    endpoints = row(kubectl("get", "endpoints", "my-service"), "my-service")["ENDPOINTS"]
    assert [e.rsplit(":", 1)[1] for e in endpoints.split(",")] == ["8080", "8080"]
    # "exposes my-app internally on port 80": from inside the cluster only.
    kubectl("run", "client", "--image=busybox", "--", "sleep", "3600")
    ready(kubectl, "client")
    answer = exec_in(kubectl, "client", "wget", "-q", "-O", "-", "http://my-service")
    assert re.fullmatch(f"Hello, world!\nVersion: 1.0.0\nHostname: my-app{POD_SUFFIX}\n",
                        shown(answer)), answer


def test_ingress_routes_example_com_app_to_my_service(kubectl: Kubectl) -> None:
    assert apply(kubectl, MY_INGRESS) == "ingress.networking.k8s.io/my-ingress created\n"
    # No ingressClassName: the default IngressClass (nginx) is filled in on create.
    out = kubectl("get", "ingress", "my-ingress")
    header, _ = table(out)
    assert header == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    ing = row(out, "my-ingress")
    assert (ing["CLASS"], ing["HOSTS"], ing["PORTS"]) == ("nginx", "example.com", "80"), out
    address = ingress_address(kubectl, "my-ingress")
    answer = until_curl("http://example.com/app", "Hello, world!", resolve=address)
    assert re.fullmatch(f"Hello, world!\nVersion: 1.0.0\nHostname: my-app{POD_SUFFIX}\n",
                        answer), answer
    # Only /app is routed: the rest of example.com gets the controller's 404.
    assert curl("http://example.com/", "-o", "/dev/null", "-w", "%{http_code}",
                resolve=address).stdout == "404"
    # The pods saw "/" (rewrite-target), in hello-app's log ("kubectl logs").
    curl("http://example.com/app/users", resolve=address)
    logs = kubectl("logs", "-l", "app=my-app", "--prefix=false", "--tail=-1")
    assert "Serving request: /\n" in logs and "/app" not in logs, logs


def test_allow_web_only_from_frontend_on_port_80(kubectl: Kubectl) -> None:
    kubectl("run", "web", "--labels=app=web", "--image=nginx")
    for name, role in (("frontend", "frontend"), ("backend", "backend")):
        kubectl("run", name, f"--labels=role={role}", "--image=busybox", "--", "sleep", "3600")
    ready(kubectl, "web", "frontend", "backend")
    web = f"http://{pod_ip(kubectl, 'web')}"
    assert apply(kubectl, ALLOW_WEB) == "networkpolicy.networking.k8s.io/allow-web created\n"
    wait_for(lambda: times_out(kubectl, "backend", web), timeout=15,
             what="allow-web enforced")
    frontend, client = side_by_side([lambda: times_out(kubectl, "frontend", web),
                                     lambda: times_out(kubectl, "client", web)])
    assert (frontend, client) == (False, True)
    # Only web pods are selected: the hello-app pods stay open to everyone.
    assert "Hello, world!" in shown(exec_in(kubectl, "backend", "wget", "-q", "-T", "1",
                                            "-O", "-", "http://my-service"))


def test_port_forward_to_my_service(kubectl: Kubectl) -> None:
    with port_forward(kubectl, "svc/my-service", 80) as (port, first_line):
        assert first_line == f"Forwarding from 127.0.0.1:{port} -> 8080"  # the pod's port
        answer = curl(f"http://127.0.0.1:{port}/").stdout
        assert answer.startswith("Hello, world!\nVersion: 1.0.0\n"), answer
