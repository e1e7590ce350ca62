"""NetworkPolicy enforced on real connections (calico, the default CNI): ingress at the
destination pod's listener by the true source address, egress when a pod connects or
sends a datagram, DNS queries as connections to the kube-dns endpoints; a denied
connection is dropped, so the client times out as seed 003 shows, or refused at once on a
cluster started with `--policy-deny reject`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from kubeloop import Cluster
from kubeloop.config import Dns
from tests.integration.conftest import Kubectl, create_udp_echo_pod, udp_hostname, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def pod(kubectl: Kubectl, name: str, image: str, labels: dict, *command: str) -> str:
    container: dict = {"name": "main", "image": image}
    if command:
        container["command"] = list(command)
    else:
        container["ports"] = [{"containerPort": 80}]
    kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [container]}}))
    return wait_for(lambda: (s := kubectl.json("get", "pod", name)["status"]).get("phase")
                    == "Running" and s.get("podIP"), timeout=20, what=f"{name} Running")


def policy(kubectl: Kubectl, name: str, spec: dict) -> None:
    kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name}, "spec": spec}))


def kubeloop(kubectl: Kubectl, *args: str) -> subprocess.CompletedProcess[str]:
    """A kubeloop command against the test's cluster and namespace."""
    cluster = kubectl.cluster
    return subprocess.run(
        [sys.executable, "-m", "kubeloop", *args, "--name", cluster.name,
         "-n", kubectl.namespace or "default"],
        env={**os.environ, "KUBELOOP_HOME": str(cluster.registry.home)},
        capture_output=True, text=True, timeout=30)


def policy_check(kubectl: Kubectl, *args: str) -> subprocess.CompletedProcess[str]:
    return kubeloop(kubectl, "policy", "check", *args)


def reaches(kubectl: Kubectl, client: str, ip: str) -> bool:
    result = kubectl.run("exec", client, "--", "wget", "-q", "-T", "1", "-O", "-",
                         f"http://{ip}/", check=False)
    if result.returncode == 0:
        return True
    assert "download timed out" in result.stderr, result.stderr  # dropped, not refused
    return False


def test_ingress_and_egress_policies_on_real_connections(kubectl: Kubectl) -> None:
    web = pod(kubectl, "web", "nginx", {"app": "web"})
    frontend = pod(kubectl, "frontend", "busybox", {"role": "frontend"}, "sleep", "3600")
    other = pod(kubectl, "other", "busybox", {"role": "other"}, "sleep", "3600")
    assert frontend and other
    assert reaches(kubectl, "frontend", web) and reaches(kubectl, "other", web)

    policy(kubectl, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    wait_for(lambda: not reaches(kubectl, "other", web), what="default deny applied")
    assert not reaches(kubectl, "frontend", web)

    check = policy_check(kubectl, "frontend", "web", "80")
    assert check.returncode == 1 and "DENIED at ingress" in check.stdout
    assert "isolated by default-deny" in check.stdout

    policy(kubectl, "allow-frontend", {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}],
                     "ports": [{"port": 80}]}]})
    wait_for(lambda: reaches(kubectl, "frontend", web), what="frontend allowed")
    assert not reaches(kubectl, "other", web)
    check = policy_check(kubectl, f"{kubectl.namespace}/frontend", "web", "80/tcp")
    assert check.returncode == 0 and "ingress: allowed by allow-frontend" in check.stdout
    ns = kubectl.namespace
    dropped = kubeloop(kubectl, "flows", "--verdict", "dropped").stdout
    assert f"{ns}/other ({other}:" in dropped and f"-> {ns}/web ({web}:80) TCP DROPPED" \
        in dropped and "isolated by default-deny" in dropped, dropped
    forwarded = kubeloop(kubectl, "flows", "--verdict", "forwarded", "--last", "50").stdout
    assert f"{ns}/frontend ({frontend}:" in forwarded and "allowed by allow-frontend" \
        in forwarded, forwarded

    # Through a Service the endpoint still sees the client pod's IP, so the same holds.
    kubectl("expose", "pod", "web", "--port=80")
    cluster_ip = kubectl.json("get", "svc", "web")["spec"]["clusterIP"]
    assert reaches(kubectl, "frontend", cluster_ip)
    assert not reaches(kubectl, "other", cluster_ip)

    kubectl("delete", "networkpolicy", "default-deny", "allow-frontend")
    wait_for(lambda: reaches(kubectl, "other", web), what="policies removed")

    policy(kubectl, "no-egress", {"podSelector": {"matchLabels": {"role": "frontend"}},
                                  "policyTypes": ["Egress"]})
    wait_for(lambda: not reaches(kubectl, "frontend", web), what="egress denied")
    assert not reaches(kubectl, "frontend", cluster_ip)  # judged after the endpoint is picked
    assert reaches(kubectl, "other", web)
    policy(kubectl, "egress-to-web", {
        "podSelector": {"matchLabels": {"role": "frontend"}}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]})
    wait_for(lambda: reaches(kubectl, "frontend", cluster_ip), what="egress to web allowed")
    assert reaches(kubectl, "frontend", web)


def test_udp_datagrams_are_dropped_when_denied(kubectl: Kubectl) -> None:
    ip = create_udp_echo_pod(kubectl)

    def answer() -> bytes:
        return udp_hostname(ip, 8081, 0.3)

    assert wait_for(answer, what="a UDP answer") == b"udp"
    policy(kubectl, "deny-udp", {"podSelector": {"matchLabels": {"app": "udp"}},
                                 "policyTypes": ["Ingress"]})
    wait_for(lambda: answer() == b"", what="datagrams dropped")
    policy(kubectl, "allow-udp", {"podSelector": {"matchLabels": {"app": "udp"}},
                                  "ingress": [{"ports": [{"port": 8081, "protocol": "UDP"}]}]})
    assert wait_for(answer, what="datagrams allowed again") == b"udp"


# --- DNS and UDP egress ----------------------------------------------------------------------

TO_KUBE_DNS = {"to": [{"namespaceSelector": {"matchLabels": {
    "kubernetes.io/metadata.name": "kube-system"}}, "podSelector": {"matchLabels": {
        "k8s-app": "kube-dns"}}}], "ports": [{"port": 53, "protocol": "UDP"},
                                            {"port": 53, "protocol": "TCP"}]}
CLIENT = {"matchLabels": {"role": "client"}}


def nslookup(kubectl: Kubectl, client: str) -> subprocess.CompletedProcess[str]:
    return kubectl.run("exec", client, "--", "nslookup", "-timeout=1", "kubernetes.default",
                       check=False)


def dig_tcp(kubectl: Kubectl, client: str) -> subprocess.CompletedProcess[str]:
    return kubectl.run("exec", client, "--", "dig", "+tcp", "+short", "+time=1", "+tries=1",
                       "kubernetes.default.svc.cluster.local", check=False)


def test_dns_needs_an_egress_rule_to_kube_dns(kubectl: Kubectl) -> None:
    pod(kubectl, "client", "busybox", {"role": "client"}, "sleep", "3600")
    assert nslookup(kubectl, "client").returncode == 0
    policy(kubectl, "deny-egress", {"podSelector": CLIENT, "policyTypes": ["Egress"]})
    blocked = wait_for(lambda: (r := nslookup(kubectl, "client")).returncode != 0 and r,
                       timeout=20, what="DNS blocked by default-deny egress")
    assert blocked.stdout == ";; connection timed out; no servers could be reached\n\n", \
        blocked.stdout
    tcp = dig_tcp(kubectl, "client")
    assert tcp.returncode == 9 and ";; no servers could be reached" in tcp.stdout, tcp.stdout

    policy(kubectl, "allow-dns", {"podSelector": CLIENT, "policyTypes": ["Egress"],
                                  "egress": [TO_KUBE_DNS]})
    answered = wait_for(lambda: (r := nslookup(kubectl, "client")).returncode == 0 and r,
                        timeout=20, what="DNS allowed to kube-dns")
    assert "Name:\tkubernetes.default.svc.cluster.local" in answered.stdout, answered.stdout
    tcp = dig_tcp(kubectl, "client")
    assert tcp.returncode == 0 and tcp.stdout.strip(), tcp.stdout
    flows = kubeloop(kubectl, "flows", "--last", "200").stdout.splitlines()
    dns = [f for f in flows if f"{kubectl.namespace}/client (" in f and
           "-> kube-system/coredns-" in f and ":53) " in f]
    assert any("UDP DROPPED" in f and "isolated by deny-egress" in f for f in dns), flows
    assert any("UDP FORWARDED" in f and "allowed by allow-dns" in f for f in dns), flows
    assert any("TCP FORWARDED" in f for f in dns), flows


class UdpEcho:
    """A UDP server outside the cluster (a loopback address no cluster uses) that echoes
    and remembers what it got."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((f"127.68.{os.getpid() % 200 + 20}.1", 0))
        self.sock.settimeout(0.1)
        self.address = self.sock.getsockname()
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            self.received.append(data)
            self.sock.sendto(b"echo " + data, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def udp_echo() -> Iterator[UdpEcho]:
    server = UdpEcho()
    yield server
    server.close()


def test_udp_egress_dropped_at_the_source(kubectl: Kubectl, udp_echo: UdpEcho) -> None:
    pod(kubectl, "client", "busybox", {"role": "client"}, "sleep", "3600")
    ip, port = udp_echo.address
    sent = iter(range(1000))

    def send() -> tuple[bool, str]:
        """(the datagram arrived, what nc printed)."""
        tag = f"ping-{next(sent)}"
        out = kubectl("exec", "client", "--", "sh", "-c",
                      f"echo {tag} | nc -u -w 1 {ip} {port}")
        return f"{tag}\n".encode() in udp_echo.received, out

    assert send() == (True, "echo ping-0\n")
    policy(kubectl, "deny-egress", {"podSelector": CLIENT, "policyTypes": ["Egress"]})
    wait_for(lambda: send() == (False, ""), timeout=20, what="datagrams dropped at the source")
    policy(kubectl, "allow-echo", {"podSelector": CLIENT, "policyTypes": ["Egress"], "egress": [
        {"to": [{"ipBlock": {"cidr": f"{ip}/32"}}], "ports": [{"port": port,
                                                              "protocol": "UDP"}]}]})
    arrived, out = wait_for(lambda: (r := send())[0] and r, timeout=20, what="UDP allowed")
    assert out.startswith("echo ping-"), out


def greeting(ip: str, port: int) -> bytes:
    """What a TCP server at ip:port says first; b"" when nothing comes within 1 s."""
    with socket.create_connection((ip, port), timeout=1) as s:
        try:
            return s.recv(100)
        except TimeoutError:
            return b""


def test_nc_listener_passes_ingress_policy(kubectl: Kubectl) -> None:
    ip = pod(kubectl, "listener", "busybox", {"app": "listener"}, "nc", "-lk", "-p", "9000",
             "-e", "echo", "hello")
    assert wait_for(lambda: greeting(ip, 9000), what="nc -l answering") == b"hello\n"
    policy(kubectl, "deny-listener", {"podSelector": {"matchLabels": {"app": "listener"}},
                                      "policyTypes": ["Ingress"]})
    wait_for(lambda: greeting(ip, 9000) == b"", timeout=20, what="the connection dropped")


# --- the reject deny action ------------------------------------------------------------------

@pytest.fixture(scope="module")
def rejecting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    """A one-node cluster started with --policy-deny reject."""
    home = tmp_path_factory.mktemp("kubeloop-reject")
    with Cluster(nodes=1, home=home, dns=Dns(upstreams=()), policy_deny="reject") as c:
        assert c.config.policy_deny == "reject"
        yield Kubectl(c, "default")


def timed(call: Callable[[], subprocess.CompletedProcess[str]]
          ) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    result = call()
    return result, time.monotonic() - began


def test_reject_refuses_denied_connections_at_once(rejecting: Kubectl) -> None:
    kubectl = rejecting
    web = pod(kubectl, "web", "nginx", {"app": "web"})
    pod(kubectl, "client", "busybox", {"role": "client"}, "sleep", "3600")
    kubectl("expose", "pod", "web", "--port=80")
    cluster_ip = kubectl.json("get", "svc", "web")["spec"]["clusterIP"]

    def wget(url: str) -> subprocess.CompletedProcess[str]:
        return kubectl.run("exec", "client", "--", "wget", "-q", "-T", "5", "-O", "-", url,
                           check=False)

    assert wget(f"http://{web}/").returncode == 0
    policy(kubectl, "deny-web", {"podSelector": {"matchLabels": {"app": "web"}},
                                 "policyTypes": ["Ingress"]})
    wait_for(lambda: wget(f"http://{web}/").returncode != 0, timeout=20, what="policy applied")
    refused, took = timed(lambda: wget(f"http://{web}/"))
    assert refused.stderr.startswith(
        f"wget: can't connect to remote host ({web}): Connection refused"), refused.stderr
    assert took < 3, took  # at once, not after wget's 5 s timeout
    # Through the Service kube-proxy has accepted the connection: it is reset.
    reset, took = timed(lambda: wget(f"http://{cluster_ip}/"))
    assert "Connection reset by peer" in reset.stderr and took < 3, (reset.stderr, took)
    # From the host the pod's listener accepts, then resets at once.
    host, took = timed(lambda: subprocess.run(
        ["curl", "-sS", "-m", "5", f"http://{web}/"], capture_output=True, text=True,
        timeout=10))
    assert host.returncode in (7, 56) and took < 3, (host.returncode, host.stderr, took)
    flows = kubeloop(kubectl, "flows", "--verdict", "dropped").stdout
    assert f"-> default/web ({web}:80) TCP DROPPED" in flows, flows

    # UDP has no refusal to give: a DNS query a policy denies still times out.
    policy(kubectl, "deny-egress", {"podSelector": CLIENT, "policyTypes": ["Egress"]})
    blocked = wait_for(lambda: (r := nslookup(kubectl, "client")).returncode != 0 and r,
                       timeout=20, what="DNS blocked")
    assert "connection timed out" in blocked.stdout, blocked.stdout
    egress = wget(f"http://{web}/")
    assert "Connection refused" in egress.stderr, egress.stderr
