"""The cluster DNS add-on as users see it: the `kube-dns` Service and the `coredns` pod in
kube-system (kubectl's tables, the endpoints), DNS answered by the coredns pod and by the
ClusterIP, and CoreDNS's log and metrics. In process: bootstrap creates the add-on on the
first start only, and the relay's failures over real sockets (a silent and a closed
upstream)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import dns.asyncquery
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from apiserver import bootstrap, registry, store
from kubeloop import Cluster, pki
from kubeloop.config import ClusterConfig
from kubeloop.tasks import TaskGroup
from node_agent.containers import Console, Identity, LogBuffer, Resolver
from node_agent.images.coredns import Counters, Forward
from node_agent.images.logsink import LogSink
from node_agent.images.relay import RelayService
from tests.integration.conftest import Kubectl, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

SUBNET = f"127.66.{os.getpid() % 200 + 20}"  # an unusual loopback /24 per test process


@pytest.fixture(scope="module")
def coredns_pod(cluster: Cluster) -> dict:
    """The coredns pod once it is Running and Ready."""
    kubectl = Kubectl(cluster)

    def ready() -> dict | None:
        pods = json.loads(kubectl("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns",
                                  "-o", "json"))["items"]
        for pod in pods:
            conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
            if pod["status"].get("phase") == "Running" and conditions.get("Ready") == "True":
                return pod
        return None

    return wait_for(ready, timeout=30, what="a Ready coredns pod")


def ask(server: str, name: str, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, dns.rdatatype.A)
    return (dns.query.tcp if tcp else dns.query.udp)(query, server, timeout=5)


def addresses(reply: dns.message.Message) -> list[str]:
    return [r.to_text() for rrset in reply.answer for r in rrset]


def test_kubectl_shows_kube_dns_and_coredns(cluster: Cluster, coredns_pod: dict) -> None:
    out = Kubectl(cluster)("get", "service,pods", "-n", "kube-system").splitlines()
    assert out[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert out[1].split()[:5] == ["service/kube-dns", "ClusterIP",
                                  cluster.config.network.dns_ip, "<none>",
                                  "53/UDP,53/TCP,9153/TCP"]
    pods = [line.split() for line in out if line.startswith("pod/coredns-")]
    assert len(pods) == 1 and pods[0][1:4] == ["1/1", "Running", "0"]
    assert pods[0][0] == f"pod/{coredns_pod['metadata']['name']}"
    deploy = Kubectl(cluster)("get", "deployment", "coredns", "-n", "kube-system").splitlines()
    assert deploy[1].split()[:4] == ["coredns", "1/1", "1", "1"]


def test_endpoints_list_the_coredns_pod(cluster: Cluster, coredns_pod: dict) -> None:
    ip = coredns_pod["status"]["podIP"]
    out = Kubectl(cluster)("get", "endpoints", "kube-dns", "-n", "kube-system").splitlines()
    assert out[1].split()[:2] == ["kube-dns", f"{ip}:53,{ip}:53,{ip}:9153"]


def test_coredns_pod_and_cluster_ip_answer_service_names(cluster: Cluster,
                                                         coredns_pod: dict) -> None:
    net = cluster.config.network
    pod_ip = coredns_pod["status"]["podIP"]
    name = "kubernetes.default.svc.cluster.local."
    for server in (pod_ip, net.dns_ip):
        for tcp in (False, True):
            reply = ask(server, name, tcp)
            assert (reply.rcode(), addresses(reply)) == (dns.rcode.NOERROR,
                                                         [net.kubernetes_service_ip]), \
                (server, tcp)
    assert addresses(ask(pod_ip, "kube-dns.kube-system.svc.cluster.local.")) == [net.dns_ip]
    missing = ask(pod_ip, "nothere.default.svc.cluster.local.")
    assert missing.rcode() == dns.rcode.NXDOMAIN and missing.authority  # the zone's SOA


def test_coredns_logs_and_metrics(cluster: Cluster, coredns_pod: dict) -> None:
    name = coredns_pod["metadata"]["name"]
    log = Kubectl(cluster)("logs", "-n", "kube-system", name).splitlines()
    assert log[0] == ".:53"
    assert log[1].startswith("[INFO] plugin/reload: Running configuration SHA512 = ")
    assert log[2:4] == ["CoreDNS-1.11.3", "linux/amd64, go1.21.11, a6338e9"]
    ask(coredns_pod["status"]["podIP"], "kubernetes.default.svc.cluster.local.")
    # Through the Service's metrics port: kube-proxy forwards 9153, not 53, to the pod.
    net = cluster.config.network
    with urllib.request.urlopen(f"http://{net.dns_ip}:9153/metrics", timeout=5) as resp:
        text = resp.read().decode()
    requests = [line for line in text.splitlines()
                if line.startswith('coredns_dns_requests_total{family="1",proto="udp"')
                and 'type="A"' in line]
    assert requests and int(float(requests[0].rsplit(" ", 1)[1])) >= 1
    assert 'coredns_build_info{goversion="go1.21.11",revision="a6338e9",version="1.11.3"} 1' \
        in text
    for port, path in ((8080, "/health"), (8181, "/ready")):
        url = f"http://{coredns_pod['status']['podIP']}:{port}{path}"
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert (resp.status, resp.read()) == (200, b"OK")


# --- bootstrap: the first start only ------------------------------------------------------

async def test_bootstrap_adds_cluster_dns_on_the_first_start_only(tmp_path: Path) -> None:
    db = store.Store(str(tmp_path / "state.db"))
    try:
        config = ClusterConfig(data_dir=str(tmp_path))
        pki.ensure_pki(config)  # the CA goes into kube-public/cluster-info
        reg = registry.Registry(db, config)
        await bootstrap.ensure(reg)
        svc = db.get("services", "kube-system", "kube-dns")
        deploy = db.get("apps/deployments", "kube-system", "coredns")
        assert svc is not None and deploy is not None
        assert svc.obj["metadata"]["labels"] == {
            "k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
            "kubernetes.io/name": "CoreDNS"}
        assert svc.obj["metadata"]["annotations"] == {"prometheus.io/port": "9153",
                                                      "prometheus.io/scrape": "true"}
        assert svc.obj["spec"]["clusterIP"] == reg.config.network.dns_ip
        assert [(p["name"], p["port"], p["protocol"]) for p in svc.obj["spec"]["ports"]] == [
            ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")]
        pod = deploy.obj["spec"]["template"]["spec"]
        assert (deploy.obj["spec"]["replicas"], pod["priorityClassName"],
                pod["containers"][0]["image"]) == (1, "system-cluster-critical",
                                                   "registry.k8s.io/coredns/coredns:v1.11.3")
        corefile = db.get("configmaps", "kube-system", "coredns")
        assert corefile is not None and "kubernetes cluster.local in-addr.arpa ip6.arpa {" \
            in corefile.obj["data"]["Corefile"]
        # The user scales the Deployment and deletes the Service: a restart keeps that.
        await reg.delete(registry.SERVICES, "kube-system", "kube-dns", {})
        deploy.obj["spec"]["replicas"] = 3
        await reg.update(bootstrap.DEPLOYMENTS, "kube-system", "coredns", deploy.obj)
        await bootstrap.ensure(reg)
        assert db.get("services", "kube-system", "kube-dns") is None
        scaled = db.get("apps/deployments", "kube-system", "coredns")
        assert scaled is not None and scaled.obj["spec"]["replicas"] == 3
    finally:
        db.close()


# --- the relay on its own: what a client sees when the cluster DNS does not answer -------

class Relay:
    """A RelayService on SUBNET.1:5353 (UDP and TCP), relaying to ``upstream``."""

    def __init__(self, upstream: tuple[str, int], timeout: float) -> None:
        self.log = LogBuffer()
        self.tasks = TaskGroup("test relay")
        self.forward = Forward(upstream, Counters())
        self.forward.timeout = timeout
        identity = Identity(f"{SUBNET}.1", "coredns", "kube-system", "coredns",
                            Resolver(upstream[0], ()))
        self.service = RelayService(self.forward, identity,
                                    LogSink(Console(self.log, False), self.tasks), self.tasks)
        self.address = (f"{SUBNET}.1", 5353)
        self.servers: list = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        udp, _ = await loop.create_datagram_endpoint(self.service.datagram_protocol,
                                                     local_addr=self.address)
        tcp = await loop.create_server(self.service.stream_protocol, *self.address,
                                       reuse_address=True)
        self.servers = [udp, tcp]

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        self.service.close_all(abort=True)
        await self.tasks.close()

    def lines(self) -> list[str]:
        return [line for _, line in self.log.lines()]


@pytest.fixture
async def silent() -> AsyncIterator[Relay]:
    """The upstream is a bound UDP socket and a listening TCP socket that never answer."""
    quiet_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    quiet_udp.bind((f"{SUBNET}.2", 5353))
    quiet_tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    quiet_tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    quiet_tcp.bind((f"{SUBNET}.2", 5353))
    quiet_tcp.listen()
    relay = Relay((f"{SUBNET}.2", 5353), timeout=0.3)
    await relay.start()
    yield relay
    await relay.close()
    quiet_udp.close()
    quiet_tcp.close()


@pytest.fixture
async def closed() -> AsyncIterator[Relay]:
    relay = Relay((f"{SUBNET}.3", 5353), timeout=2.0)  # nothing listens there
    await relay.start()
    yield relay
    await relay.close()


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_a_silent_upstream_gets_servfail_and_an_error_line(silent: Relay,
                                                                 tcp: bool) -> None:
    query = dns.message.make_query("web.default.svc.cluster.local.", "A")
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    reply = await send(query, silent.address[0], port=5353, timeout=3)
    assert reply.rcode() == dns.rcode.SERVFAIL and reply.question == query.question
    await asyncio.sleep(0.05)  # the log writer's turn
    proto = "tcp" if tcp else "udp"
    [line] = silent.lines()
    assert line.startswith(f"[ERROR] plugin/errors: 2 web.default.svc.cluster.local. A: "
                           f"read {proto} {SUBNET}.1:")
    assert line.endswith(f"->{SUBNET}.2:5353: i/o timeout")


@pytest.mark.parametrize("tcp, error", [
    (False, "read udp {subnet}.1:"), (True, "dial tcp {subnet}.3:5353: connect: connection "
                                             "refused")], ids=["udp", "tcp"])
async def test_a_closed_upstream_gets_servfail_at_once(closed: Relay, tcp: bool,
                                                       error: str) -> None:
    query = dns.message.make_query("web.default.svc.cluster.local.", "A")
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    started = asyncio.get_running_loop().time()
    reply = await send(query, closed.address[0], port=5353, timeout=3)
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert asyncio.get_running_loop().time() - started < 1.0  # refused, not timed out
    await asyncio.sleep(0.05)
    [line] = closed.lines()
    assert error.format(subnet=SUBNET) in line and "connection refused" in line
