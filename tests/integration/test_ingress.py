"""The ingress controller process of the session cluster, driven as the tutorials do: the
minikube-like add-on objects, Ingresses created with kubectl and reached with curl on the
ingress address (hosts given with --resolve) and through the controller's NodePorts,
HTTPS with a user's TLS Secret and with cert-manager's annotation (a Secret signed by
the cluster CA), and what kubectl shows (ADDRESS, Events)."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

import pytest

from kubeloop import Cluster, pki
from tests.integration.conftest import Kubectl, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def curl(cluster: Cluster, url: str, host: str, *extra: str, port: int | None = None
         ) -> subprocess.CompletedProcess[str]:
    """curl ``url`` (whose host is ``host``) with the name resolved to the ingress IP."""
    scheme_port = port or (443 if url.startswith("https") else 80)
    ip = cluster.config.network.ingress_ip
    return subprocess.run(["curl", "-sS", "--max-time", "3", "--resolve",
                           f"{host}:{scheme_port}:{ip}", *extra, url],
                          capture_output=True, text=True, timeout=10)


def status_of(cluster: Cluster, url: str, host: str, *extra: str) -> str:
    return curl(cluster, url, host, "-o", "/dev/null", "-w", "%{http_code}", *extra).stdout


def serve(kubectl: Kubectl, name: str, image: str, port: int = 80) -> None:
    kubectl("create", "deployment", name, f"--image={image}")
    kubectl("expose", "deployment", name, f"--port={port}")


def test_the_addon_is_there(cluster: Cluster) -> None:
    kubectl = Kubectl(cluster)
    svc = kubectl("get", "svc", "-n", "ingress-nginx")
    assert "ingress-nginx-controller" in svc and "NodePort" in svc
    assert "80:3" in svc and "443:3" in svc, svc
    classes = kubectl.json("get", "ingressclass", "nginx")
    assert classes["spec"]["controller"] == "k8s.io/ingress-nginx"
    assert classes["metadata"]["annotations"][
        "ingressclass.kubernetes.io/is-default-class"] == "true"
    wait_for(lambda: "1/1" in kubectl("get", "deployment", "-n", "ingress-nginx",
                                      "ingress-nginx-controller"),
             what="the controller Deployment ready")


def test_host_rules_missing_backends_and_node_ports(cluster: Cluster, kubectl: Kubectl,
                                                   namespace: str) -> None:
    serve(kubectl, "foo", "nginx")
    serve(kubectl, "bar", "httpd")
    foo, bar = f"foo.{namespace}.example.com", f"bar.{namespace}.example.com"
    kubectl("create", "ingress", "multihost", f"--rule={foo}/=foo:80",
            f"--rule={bar}/=bar:80", f"--rule={bar}/hello=newdeploy:8080")
    ip = cluster.config.network.ingress_ip
    wait_for(lambda: ip in kubectl("get", "ingress", "multihost"), what="the ADDRESS column")
    assert f"{foo},{bar}" in kubectl("get", "ingress", "multihost")
    # No class given: the default IngressClass is filled in, as the admission plugin does.
    assert kubectl.json("get", "ingress", "multihost")["spec"]["ingressClassName"] == "nginx"
    wait_for(lambda: "Welcome to nginx!" in curl(cluster, f"http://{foo}/", foo).stdout,
             what="foo's pod behind the ingress")
    wait_for(lambda: "It works!" in curl(cluster, f"http://{bar}/", bar).stdout,
             what="bar's pod behind the ingress")
    assert status_of(cluster, f"http://{foo}/lololol", foo) == "404"  # nginx's own 404
    assert status_of(cluster, f"http://{bar}/hello", bar) == "503"  # no such Service
    nowhere = f"nowhere.{namespace}.example.com"
    assert "404 Not Found" in curl(cluster, f"http://{nowhere}/", nowhere).stdout
    described = kubectl("describe", "ingress", "multihost")
    assert "nginx-ingress-controller" in described and "Scheduled for sync" in described
    # kubectl names the missing backend itself; ingress-nginx only logs it (no Event)
    assert '"newdeploy" not found>)' in described and "Rejected" not in described
    # The controller's NodePort on a node reaches the same routes (kube-proxy forwards it).
    node_port = kubectl.json("get", "svc", "-n", "ingress-nginx",
                             "ingress-nginx-controller")["spec"]["ports"][0]["nodePort"]
    node = cluster.config.network.node_ip(1)
    through = subprocess.run(["curl", "-sS", "--max-time", "3", "-H", f"Host: {foo}",
                              f"http://{node}:{node_port}/"], capture_output=True, text=True,
                             timeout=10)
    assert "Welcome to nginx!" in through.stdout, through.stderr


def test_tls_secret_and_cert_manager(cluster: Cluster, kubectl: Kubectl, namespace: str,
                                     tmp_path: Path) -> None:
    serve(kubectl, "web", "nginx")
    secure, auto = f"secure.{namespace}.example.com", f"auto.{namespace}.example.com"
    ca_cert, ca_key = pki.create_ca(datetime.datetime.now(datetime.timezone.utc))
    cert, key = pki.issue_certificate(ca_cert, ca_key, [secure], [])
    for name, data in (("ca.pem", ca_cert), ("tls.crt", cert), ("tls.key", key)):
        (tmp_path / name).write_bytes(data)
    kubectl("create", "secret", "tls", "mine", f"--cert={tmp_path / 'tls.crt'}",
            f"--key={tmp_path / 'tls.key'}")
    kubectl("create", "ingress", "secure", f"--rule={secure}/=web:80,tls=mine")
    kubectl("create", "ingress", "auto", f"--rule={auto}/=web:80,tls=auto-tls",
            "--annotation=cert-manager.io/cluster-issuer=ca-issuer")

    wait_for(lambda: "Welcome to nginx!" in curl(
        cluster, f"https://{secure}/", secure, "--cacert", str(tmp_path / "ca.pem")).stdout,
        what="HTTPS with the user's certificate")
    redirect = curl(cluster, f"http://{secure}/x", secure, "-o", "/dev/null", "-w",
                    "%{http_code} %{redirect_url}").stdout
    assert redirect == f"308 https://{secure}/x"

    secret = wait_for(lambda: kubectl.run("get", "secret", "auto-tls", "-o", "json",
                                          check=False).returncode == 0,
                      what="cert-manager's Secret")
    assert secret
    assert kubectl.json("get", "secret", "auto-tls")["type"] == "kubernetes.io/tls"
    cluster_ca = str(cluster.config.ca_cert)
    wait_for(lambda: "Welcome to nginx!" in curl(
        cluster, f"https://{auto}/", auto, "--cacert", cluster_ca).stdout,
        what="HTTPS with the certificate signed by the cluster CA")


def test_backends_see_the_controller_pod_and_policies_admit_it(
        cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    """As with a real ingress-nginx, a backend sees connections from the controller's pod
    IP, so the usual "allow from the ingress-nginx namespace" policy lets them in."""
    kubectl("create", "deployment", "who",
            "--image=registry.k8s.io/e2e-test-images/agnhost:2.52", "--", "/agnhost",
            "netexec", "--http-port=8080")
    kubectl("expose", "deployment", "who", "--port=80", "--target-port=8080")
    kubectl("run", "probe", "--image=busybox", "--", "sleep", "3600")
    host = f"who.{namespace}.example.com"
    kubectl("create", "ingress", "who", f"--rule={host}/*=who:80")
    wait_for(lambda: curl(cluster, f"http://{host}/clientip", host).stdout.startswith("127."),
             timeout=20, what="the backend behind the ingress")
    controller = kubectl.json("get", "pods", "-n", "ingress-nginx", "-l",
                              "app.kubernetes.io/component=controller")["items"][0]
    pod_ip = controller["status"]["podIP"]
    assert curl(cluster, f"http://{host}/clientip", host).stdout.split(":")[0] == pod_ip
    who = kubectl.json("get", "pods", "-l", "app=who")["items"][0]["status"]["podIP"]

    def probe_gets_in() -> bool:
        return kubectl.run("exec", "probe", "--", "wget", "-q", "-T", "1", "-O", "-",
                           f"http://{who}:8080/hostname", check=False).returncode == 0

    wait_for(probe_gets_in, timeout=20, what="the probe pod reaching the backend")
    kubectl("apply", "-f", "-", input="""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-from-ingress}
spec:
  podSelector: {matchLabels: {app: who}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {kubernetes.io/metadata.name: ingress-nginx}
""")
    # the policy is in force: a pod of this namespace no longer gets in ...
    wait_for(lambda: not probe_gets_in(), timeout=20, what="the policy to shut out other pods")
    # ... while the ingress still gets through, from its pod
    for _ in range(3):
        assert curl(cluster, f"http://{host}/clientip", host).stdout.split(":")[0] == pod_ip
