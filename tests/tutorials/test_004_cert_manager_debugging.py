"""Seed 004 (/work/shared/seeds/004_0fee845f8afdc7d3.txt), replayed step by step: the
my-backend-api Service in ``production`` (named port, DNS name), the api-ingress with
cert-manager's cluster-issuer, ssl-redirect and proxy-body-size, the db-access-policy
NetworkPolicy, and the debugging commands (endpoints, port-forward, the controller's
logs, a netshoot pod). Calico, as the seed recommends (``kubeloop up --cni calico``).

The seed shows none of the pods behind its Services; they are made here with kubectl:
agnhost netexec on 3000 for my-backend, kicbase/echo-server for user-service, nginx for
main-api and my-service, and the image ``postgres`` (kubeloop's generic server on the
declared containerPort 5432) for the database."""

from __future__ import annotations

import re
import subprocess

import pytest

from kubeloop import Cluster
from tests.integration.conftest import Kubectl, wait_for
from tests.tutorials.replay import (POD_SUFFIX, apply, cluster_ca, curl, exec_in,
                                    ingress_address, pod_ip, port_forward, ready, rollout,
                                    row, table, until_curl)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

NODES = 2
CNI = "calico"
NETEXEC = "registry.k8s.io/e2e-test-images/agnhost:2.52"

SERVICE_YAML = """\
apiVersion: v1
kind: Service
metadata:
  name: my-backend-api
  namespace: production
spec:
  type: ClusterIP       # Only accessible inside the cluster
  selector:
    app: my-backend     # Routes traffic to Pods with this label
  ports:
    - name: http
      port: 80          # The port the Service listens on
      targetPort: 3000  # The port the container is listening on

# Other pods can now access it via DNS:
# http://my-backend-api.production.svc.cluster.local:80
"""

INGRESS_YAML = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api-ingress
  namespace: production
  annotations:
    # Tell the cluster to use the Nginx Ingress Controller
    kubernetes.io/ingress.class: "nginx"
    # Automatic SSL cert generation via cert-manager
    cert-manager.io/cluster-issuer: "letsencrypt-prod"
    # Nginx-specific settings
    nginx.ingress.kubernetes.io/ssl-redirect: "true"
    nginx.ingress.kubernetes.io/proxy-body-size: "8m"
spec:
  tls:
    - hosts:
        - api.example.com
      secretName: api-tls-cert  # Cert-manager stores the cert here
  rules:
    - host: api.example.com
      http:
        paths:
          # Route /users to the user-service
          - path: /users
            pathType: Prefix
            backend:
              service:
                name: user-service
                port:
                  number: 80
          # Route everything else to the main-api
          - path: /
            pathType: Prefix
            backend:
              service:
                name: main-api
                port:
                  number: 80
"""

NETWORKPOLICY_YAML = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-access-policy
spec:
  # Apply this policy to database pods
  podSelector:
    matchLabels:
      app: postgres-db
  policyTypes:
    - Ingress
  ingress:
    - from:
        # ONLY allow traffic from backend-api pods
        - podSelector:
            matchLabels:
              app: backend-api
      ports:
        - protocol: TCP
          port: 5432
"""


def test_service_in_production_by_its_dns_name(kubectl: Kubectl) -> None:
    # The namespace the manifests name must exist first (the seed does not show it).
    assert kubectl("create", "namespace", "production") == "namespace/production created\n"
    kubectl("create", "deployment", "my-backend", "-n", "production", f"--image={NETEXEC}",
            "--port=3000", "--", "/agnhost", "netexec", "--http-port=3000")
    assert apply(kubectl, SERVICE_YAML) == "service/my-backend-api created\n"
    rollout(kubectl, "my-backend", namespace="production")
    out = kubectl("get", "svc", "my-backend-api", "-n", "production")
    svc = row(out, "my-backend-api")
    assert (svc["TYPE"], svc["EXTERNAL-IP"], svc["PORT(S)"]) == ("ClusterIP", "<none>",
                                                                 "80/TCP"), out
    kubectl("run", "client", "--image=curlimages/curl", "--command", "--", "sleep", "3600")
    ready(kubectl, "client")
    answer = kubectl("exec", "client", "--", "curl", "-s",
                     "http://my-backend-api.production.svc.cluster.local:80/hostname")
    assert re.fullmatch(f"my-backend{POD_SUFFIX}", answer), answer


def test_ingress_with_cert_manager_redirect_and_body_size(cluster: Cluster,
                                                          kubectl: Kubectl) -> None:
    ns = ("-n", "production")
    kubectl("create", "deployment", "user-service", *ns, "--image=kicbase/echo-server:1.0")
    kubectl("expose", "deployment", "user-service", *ns, "--port=80", "--target-port=8080")
    kubectl("create", "deployment", "main-api", *ns, "--image=nginx")
    kubectl("expose", "deployment", "main-api", *ns, "--port=80")
    applied = kubectl.run("apply", "-f", "-", input=INGRESS_YAML)
    assert applied.stdout == "ingress.networking.k8s.io/api-ingress created\n"
    # The apiserver warns about the annotation, as kubectl shows on a real cluster.
    assert applied.stderr == ('Warning: annotation "kubernetes.io/ingress.class" is '
                              "deprecated, please use 'spec.ingressClassName' instead\n")
    rollout(kubectl, "user-service", "main-api", namespace="production")
    address = ingress_address(kubectl, "api-ingress", namespace="production")
    out = kubectl("get", "ingress", *ns)
    ing = row(out, "api-ingress")
    # The class comes from the annotation: the API leaves spec.ingressClassName unset,
    # as the DefaultIngressClass admission plugin does for annotated Ingresses.
    assert (ing["CLASS"], ing["HOSTS"], ing["PORTS"]) == ("<none>", "api.example.com",
                                                          "80, 443"), out

    # cert-manager stores the certificate in api-tls-cert; kubeloop's stand-in for the
    # letsencrypt-prod ClusterIssuer signs with the cluster CA (`kubeloop ca`).
    secret = wait_for(lambda: kubectl.run("get", "secret", "api-tls-cert", *ns,
                                          check=False).stdout, what="the api-tls-cert Secret")
    assert row(secret, "api-tls-cert")["TYPE"] == "kubernetes.io/tls"
    tls = ("--cacert", cluster_ca(cluster))
    users = until_curl("https://api.example.com/users", "Request served by", *tls,
                       resolve=address)
    assert re.match(f"Request served by user-service{POD_SUFFIX}\n\nHTTP/1.1 GET /users\n",
                    users), users
    home = curl("https://api.example.com/", *tls, resolve=address).stdout
    assert "<title>Welcome to nginx!</title>" in home, home
    # ssl-redirect: plain HTTP is sent to HTTPS.
    redirect = curl("http://api.example.com/users?id=1", "-o", "/dev/null", "-w",
                    "%{http_code} %{redirect_url}", resolve=address).stdout
    assert redirect == "308 https://api.example.com/users?id=1"
    # proxy-body-size 8m: 7 MiB passes to the backend, 9 MiB gets nginx's 413.
    assert post(address, tls, 7 << 20) == "200"
    assert post(address, tls, 9 << 20) == "413"


def post(address: str, tls: tuple[str, str], size: int) -> str:
    """The status of POSTing ``size`` bytes to https://api.example.com/users."""
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "--resolve", f"api.example.com:443:{address}",
         *tls, "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@-",
         "https://api.example.com/users"],
        input=b"x" * size, capture_output=True, timeout=30)
    return result.stdout.decode()


def test_db_access_policy(kubectl: Kubectl) -> None:
    kubectl("run", "postgres-db", "--labels=app=postgres-db", "--image=postgres",
            "--port=5432")
    for name in ("backend-api", "other"):
        kubectl("run", name, f"--labels=app={name}", "--image=busybox", "--", "sleep", "3600")
    ready(kubectl, "postgres-db", "backend-api", "other")
    db = pod_ip(kubectl, "postgres-db")
    assert apply(kubectl, NETWORKPOLICY_YAML) == \
        "networkpolicy.networking.k8s.io/db-access-policy created\n"

    def connects(pod: str) -> bool:
        return exec_in(kubectl, pod, "nc", "-z", "-w", "1", db, "5432").returncode == 0

    wait_for(lambda: not connects("other"), timeout=15, what="db-access-policy enforced")
    assert connects("backend-api")


def test_debugging_endpoints_of_a_service(kubectl: Kubectl) -> None:
    kubectl("create", "deployment", "my-app", "--image=nginx")
    # A selector that matches no pod ...
    kubectl("create", "service", "clusterip", "my-service", "--tcp=80:80")
    rollout(kubectl, "my-app")
    out = kubectl("get", "endpoints", "my-service")
    assert table(out)[0] == ["NAME", "ENDPOINTS", "AGE"]
    # "If it says <none>, your selector labels don't match your pods!" (the page lost
    # the "<none>").
    assert row(out, "my-service")["ENDPOINTS"] == "<none>", out
    kubectl("set", "selector", "service", "my-service", "app=my-app")
    ip = pod_ip(kubectl, kubectl("get", "pods", "-l", "app=my-app", "-o",
                                 "jsonpath={.items[0].metadata.name}"))
    wait_for(lambda: row(kubectl("get", "endpoints", "my-service"), "my-service")[
        "ENDPOINTS"] == f"{ip}:80", what="my-service's endpoints")


def test_port_forward_bypasses_the_ingress(kubectl: Kubectl) -> None:
    # kubectl port-forward svc/my-service 8080:80, on a free port instead of 8080 (which
    # something else on the machine may hold).
    with port_forward(kubectl, "svc/my-service", 80) as (port, first_line):
        assert first_line == f"Forwarding from 127.0.0.1:{port} -> 80"
        answer = curl(f"http://127.0.0.1:{port}/").stdout
        assert "<title>Welcome to nginx!</title>" in answer, answer


def test_netshoot_debug_pod(kubectl: Kubectl) -> None:
    session = ("nslookup my-service.default.svc.cluster.local\n"
               "curl http://my-service:80\n"
               "exit\n")
    result = kubectl.run("run", "netshoot", "--rm", "-i", "--tty", "--image",
                         "nicolaka/netshoot", "--", "bash", input=session)
    assert result.returncode == 0, result.stderr
    cluster_ip = kubectl("get", "service", "my-service", "-o", "jsonpath={.spec.clusterIP}")
    assert f"Name:\tmy-service.default.svc.cluster.local\nAddress: {cluster_ip}\n" in \
        result.stdout, result.stdout
    assert "<title>Welcome to nginx!</title>" in result.stdout, result.stdout
    assert result.stdout.endswith('pod "netshoot" deleted\n'), result.stdout


def test_ingress_controller_logs(kubectl: Kubectl) -> None:
    logs = kubectl("logs", "-n", "ingress-nginx", "-l", "app.kubernetes.io/name=ingress-nginx")
    # ingress-nginx logs each request in its upstreaminfo format, naming the upstream
    # as <namespace>-<service>-<port>: the requests made in the ingress test above (over
    # HTTPS, curl and the controller agree on HTTP/2 by ALPN). kubectl shows the last 10
    # lines of each pod for a selector: the controller's are those requests, not its
    # start-up lines; the admission Jobs' pods add their JSON lines.
    access = re.compile(r'^\S+ - - \[[^]]+\] "GET /users HTTP/(1\.1|2\.0)" 200 \d+ "-" '
                        r'"curl/[^"]+" \d+ \d+\.\d+ \[production-user-service-80\] \[\] '
                        r"\S+:8080 \d+ ", re.M)
    assert access.search(logs), logs
    assert len([line for line in logs.splitlines() if not line.startswith("{")]) == 10, logs
