"""kube-proxy with real sockets: a KubeProxy for node 1 of a pretend cluster runs in a
uvloop thread beside real backend servers on pod IPs; real clients (sockets bound to
client pod IPs, curl) connect through ClusterIPs, NodePorts and load-balancer IPs.

Addresses lie in ranges no kubeloop cluster slot uses (nodes 127.61.0.N, pods
127.62.N.x, Services 127.63.x, load balancers 127.64.0.x), so the test runs beside
live clusters. Each backend answers ``<name> <peer IP>``: an HTTP GET gets it as the body,
any other first line gets it as a greeting and then an echo of what follows.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import uvloop

from kubeloop.config import ClusterConfig, Network
from kubeloop.follow import follow
from node_agent.kube_proxy import ENDPOINT_SLICES, SERVICES, KubeProxy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

NETWORK = Network(node_cidr="127.61.0.0/24", pod_cidr="127.62.0.0/16",
                  service_cidr="127.63.0.0/16", lb_cidr="127.64.0.0/24",
                  node_ports_on_localhost=True)
CONFIG = ClusterConfig(name="kpt", data_dir="/nonexistent", network=NETWORK)
NODE_IP = "127.61.0.1"
CLUSTER_IP = "127.63.0.10"
NODE_PORT = 32599  # rarely allocated; 127.0.0.1 is shared with any live slot-0 cluster
PODS = {"b1": ("127.62.1.10", "kpt-node-1"), "b2": ("127.62.2.10", "kpt-node-2"),
        "b3": ("127.62.3.10", "kpt-node-3")}
CLIENT = "127.62.2.77"  # a client pod on node 2


class Harness:
    """A uvloop thread running the proxy and the backends; the test calls into it."""

    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.proxy = self.call(self._make_proxy())
        self.servers: list[Any] = []

    async def _make_proxy(self) -> KubeProxy:
        return KubeProxy(CONFIG, 1, udp_idle=0.5)

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def update(self, kind: str, obj: dict) -> None:
        self.call(self.proxy.update(kind, obj))

    def delete(self, kind: str, obj: dict) -> None:
        self.call(self.proxy.delete(kind, obj))

    def backends(self, port: int = 8080) -> None:
        for name, (ip, _) in PODS.items():
            self.servers.append(self.call(_tcp_backend(name, ip, port)))
            self.servers.append(self.call(_udp_backend(name, ip, port)))

    def close(self) -> None:
        self.call(self.proxy.close())
        for server in self.servers:
            server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


async def _tcp_backend(name: str, ip: str, port: int) -> asyncio.AbstractServer:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = f"{name} {writer.get_extra_info('peername')[0]}"
        try:
            first = await reader.readline()
            if first.startswith(b"GET "):
                await reader.readuntil(b"\r\n\r\n")
                writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(me)}\r\n"
                             f"Connection: close\r\n\r\n{me}".encode())
            else:
                writer.write(me.encode() + b"\n" + first)
                while data := await reader.read(1 << 16):
                    writer.write(data)
                    await writer.drain()
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        writer.close()

    return await asyncio.start_server(serve, ip, port, reuse_address=True)


class _Echo(asyncio.DatagramProtocol):
    def __init__(self, name: str) -> None:
        self.name = name

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(f"{self.name} {addr[0]} ".encode() + data, addr)  # type: ignore[attr-defined]


async def _udp_backend(name: str, ip: str, port: int) -> asyncio.BaseTransport:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Echo(name), local_addr=(ip, port))
    return transport


def service(name: str = "web", type: str = "ClusterIP", cluster_ip: str = CLUSTER_IP,
            protocol: str = "TCP", **spec: Any) -> dict:
    port: dict[str, Any] = {"port": 80, "protocol": protocol, "targetPort": 8080}
    if type in ("NodePort", "LoadBalancer"):
        port["nodePort"] = NODE_PORT
    status = spec.pop("status", {})
    return {"metadata": {"name": name, "namespace": "default"}, "status": status,
            "spec": {"type": type, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                     "ports": [port], **spec}}


def endpoints(*names: str, service: str = "web", protocol: str = "TCP") -> dict:
    return {"metadata": {"name": f"{service}-abcde", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "ports": [{"name": "", "port": 8080, "protocol": protocol}],
            "endpoints": [{"addresses": [PODS[n][0]], "nodeName": PODS[n][1],
                           "conditions": {"ready": True}} for n in names]}


def get(ip: str, port: int = 80, client: str = CLIENT) -> str:
    """One HTTP GET from a client pod IP; the backend's answer."""
    with socket.create_connection((ip, port), timeout=5, source_address=(client, 0)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data.partition(b"\r\n\r\n")[2].decode()


def curl(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "5", *args, url],
                          capture_output=True, text=True, timeout=10)


def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return value


@pytest.fixture
def kp() -> Iterator[Harness]:
    harness = Harness()
    harness.backends()
    try:
        yield harness
    finally:
        harness.close()


def test_round_robin_keeps_client_address(kp: Harness) -> None:
    kp.update(SERVICES, service())
    assert kp.proxy.listening() == {}, "no endpoints, nothing bound"
    kp.update(ENDPOINT_SLICES, endpoints("b1", "b2", "b3"))
    answers = [get(CLUSTER_IP) for _ in range(6)]
    assert answers == [f"b{i} {CLIENT}" for i in (1, 2, 3, 1, 2, 3)]
    result = curl(f"http://{CLUSTER_IP}/", "--interface", "127.62.3.99")
    assert result.returncode == 0 and result.stdout == "b1 127.62.3.99", result.stderr


def test_no_endpoints_refuses_at_once(kp: Harness) -> None:
    kp.update(SERVICES, service())
    kp.update(SERVICES, service("dns", protocol="UDP", cluster_ip="127.63.0.53"))
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((CLUSTER_IP, 80), timeout=5, source_address=(CLIENT, 0))
    assert time.monotonic() - started < 0.5
    result = curl(f"http://{CLUSTER_IP}/")
    assert result.returncode == 7 and "Failed to connect" in result.stderr  # as on a cluster
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(2)
        u.connect(("127.63.0.53", 80))
        u.send(b"q")
        with pytest.raises(ConnectionRefusedError):  # the kernel's ICMP port unreachable
            u.recv(100)


def test_endpoints_come_and_go(kp: Harness) -> None:
    kp.update(SERVICES, service())
    kp.update(ENDPOINT_SLICES, endpoints("b2"))
    assert get(CLUSTER_IP) == f"b2 {CLIENT}"
    held = socket.create_connection((CLUSTER_IP, 80), timeout=5, source_address=(CLIENT, 0))
    held.sendall(b"hello\n")
    assert held.recv(100) == f"b2 {CLIENT}\nhello\n".encode()
    kp.update(ENDPOINT_SLICES, endpoints("b3"))
    with pytest.raises(ConnectionResetError):  # a connection to a removed endpoint ends
        held.recv(100)
    held.close()
    assert get(CLUSTER_IP) == f"b3 {CLIENT}"
    kp.delete(ENDPOINT_SLICES, endpoints())
    with pytest.raises(ConnectionRefusedError):
        get(CLUSTER_IP)
    assert kp.proxy.open_connections() == 0


def test_session_affinity_client_ip(kp: Harness) -> None:
    kp.update(SERVICES, service(sessionAffinity="ClientIP",
                                sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}))
    kp.update(ENDPOINT_SLICES, endpoints("b1", "b2", "b3"))
    assert len({get(CLUSTER_IP) for _ in range(8)}) == 1
    chosen = {get(CLUSTER_IP, client=f"127.62.4.{i}").split()[0] for i in range(1, 30)}
    assert len(chosen) > 1, "clients spread, each sticks"


def test_internal_traffic_policy_local_follows_client_node(kp: Harness) -> None:
    kp.update(SERVICES, service(internalTrafficPolicy="Local"))
    kp.update(ENDPOINT_SLICES, endpoints("b1", "b2"))
    # This proxy is node 1's, yet a node-2 client only reaches node 2's endpoint.
    assert {get(CLUSTER_IP) for _ in range(4)} == {f"b2 {CLIENT}"}
    assert {get(CLUSTER_IP, client="127.62.1.50") for _ in range(4)} == {"b1 127.62.1.50"}
    with pytest.raises(ConnectionResetError):  # node 3 has no endpoint: reset at once
        get(CLUSTER_IP, client="127.62.3.50")


def test_node_port_traffic_policies(kp: Harness) -> None:
    kp.update(SERVICES, service(type="NodePort", externalTrafficPolicy="Cluster"))
    kp.update(ENDPOINT_SLICES, endpoints("b2"))
    assert get(NODE_IP, NODE_PORT) == f"b2 {NODE_IP}", "Cluster: source NATed to the node"
    result = curl(f"http://localhost:{NODE_PORT}/")
    assert result.stdout == f"b2 {NODE_IP}", result.stderr
    assert get(CLUSTER_IP) == f"b2 {CLIENT}", "the ClusterIP still keeps the client"
    kp.update(SERVICES, service(type="NodePort", externalTrafficPolicy="Local"))
    with pytest.raises(ConnectionRefusedError):  # no local endpoint on node 1
        get(NODE_IP, NODE_PORT)
    kp.update(ENDPOINT_SLICES, endpoints("b1", "b2"))
    assert {get(NODE_IP, NODE_PORT) for _ in range(3)} == {f"b1 {CLIENT}"}
    assert curl(f"http://127.0.0.1:{NODE_PORT}/").stdout == "b1 127.0.0.1"


def test_load_balancer_ingress_ip(kp: Harness) -> None:
    lb = {"loadBalancer": {"ingress": [{"ip": "127.64.0.7"}]}}
    kp.update(SERVICES, service(type="LoadBalancer", status=lb))
    kp.update(ENDPOINT_SLICES, endpoints("b3"))
    assert curl("http://127.64.0.7/").stdout == f"b3 {NODE_IP}"
    assert get(NODE_IP, NODE_PORT) == f"b3 {NODE_IP}"


def test_changes_apply_live_and_nothing_leaks(kp: Harness) -> None:
    baseline = _sockets_listening()
    kp.update(ENDPOINT_SLICES, endpoints("b1"))
    kp.update(SERVICES, service())
    assert set(map(str, kp.proxy.listening())) == {f"{CLUSTER_IP}:80/TCP"}
    kp.update(SERVICES, service(type="NodePort"))
    assert set(map(str, kp.proxy.listening())) == {
        f"{CLUSTER_IP}:80/TCP", f"{NODE_IP}:{NODE_PORT}/TCP", f"127.0.0.1:{NODE_PORT}/TCP"}
    assert get(NODE_IP, NODE_PORT) == f"b1 {NODE_IP}"
    assert _sockets_listening() - baseline == 3
    kp.update(SERVICES, service(cluster_ip="127.63.0.11"))  # back to ClusterIP, new IP
    assert set(map(str, kp.proxy.listening())) == {"127.63.0.11:80/TCP"}
    with pytest.raises(ConnectionRefusedError):
        get(NODE_IP, NODE_PORT)
    kp.delete(SERVICES, service())
    assert kp.proxy.listening() == {}
    assert wait_for(lambda: _sockets_listening() == baseline)
    kp.call(kp.proxy.resync(SERVICES, [service()]))
    assert len(kp.proxy.listening()) == 1
    kp.call(kp.proxy.resync(SERVICES, []))
    assert kp.proxy.listening() == {}


def test_udp_flows(kp: Harness) -> None:
    kp.update(SERVICES, service("dns", protocol="UDP"))
    kp.update(ENDPOINT_SLICES, endpoints("b1", "b2", service="dns", protocol="UDP"))
    replies = []
    for _ in range(2):  # two flows: two client ports
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(2)
            u.bind((CLIENT, 0))
            for i in range(2):
                u.sendto(b"q%d" % i, (CLUSTER_IP, 80))
                data, sender = u.recvfrom(100)
                assert sender == (CLUSTER_IP, 80)
                replies.append(data.decode())
    assert replies == [f"b1 {CLIENT} q0", f"b1 {CLIENT} q1", f"b2 {CLIENT} q0",
                       f"b2 {CLIENT} q1"]
    assert kp.proxy.open_connections() == 2
    assert wait_for(lambda: kp.proxy.open_connections() == 0, timeout=5), "idle flows expire"


def test_bulk_transfer_both_ways(kp: Harness) -> None:
    kp.update(SERVICES, service())
    kp.update(ENDPOINT_SLICES, endpoints("b1"))
    payload = bytes(range(256)) * (32 << 10)  # 8 MiB, echoed back through the relay
    with socket.create_connection((CLUSTER_IP, 80), timeout=10,
                                  source_address=(CLIENT, 0)) as s:
        s.sendall(b"echo\n")
        def send() -> None:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        received = bytearray()
        while chunk := s.recv(1 << 20):
            received += chunk
        sender.join()
    assert bytes(received) == f"b1 {CLIENT}\necho\n".encode() + payload


def test_early_data_and_half_close_pass_through(kp: Harness) -> None:
    kp.update(SERVICES, service())
    kp.update(ENDPOINT_SLICES, endpoints("b1"))
    with socket.create_connection((CLUSTER_IP, 80), timeout=5,
                                  source_address=(CLIENT, 0)) as s:
        s.sendall(b"early\n")  # sent and half-closed before the upstream is connected
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data == f"b1 {CLIENT}\nearly\n".encode()


def test_agents_share_cluster_ips_and_agree_on_affinity(kp: Harness) -> None:
    """Node 2's proxy binds the same ClusterIP (SO_REUSEPORT): the kernel spreads
    connections over both, both pick the same endpoint for an affine client, and the
    ClusterIP outlives either proxy."""
    other = kp.call(_second_proxy())
    svc = service(sessionAffinity="ClientIP")
    try:
        for proxy in (kp.proxy, other):
            kp.call(proxy.update(SERVICES, svc))
            kp.call(proxy.update(ENDPOINT_SLICES, endpoints("b1", "b2", "b3")))
        held = [socket.create_connection((CLUSTER_IP, 80), timeout=5,
                                         source_address=(CLIENT, 0)) for _ in range(16)]
        greetings = set()
        for s in held:
            s.sendall(b"hi\n")
            greetings.add(s.recv(100).split(b"\n")[0])
        assert len(greetings) == 1, "one endpoint for the client, whichever proxy accepted"
        assert kp.proxy.open_connections() > 0 and other.open_connections() > 0
        for s in held:
            s.close()
    finally:
        kp.call(other.close())
    assert get(CLUSTER_IP) == greetings.pop().decode()


async def _second_proxy() -> KubeProxy:
    return KubeProxy(CONFIG, 2)


def test_address_held_elsewhere_is_retried(kp: Harness) -> None:
    blocker = socket.create_server(("127.63.0.20", 80))  # no SO_REUSEPORT: a conflict
    kp.update(SERVICES, service(cluster_ip="127.63.0.20"))
    kp.update(ENDPOINT_SLICES, endpoints("b1"))
    assert kp.proxy.listening() == {}
    blocker.close()
    wait_for(lambda: kp.proxy.listening(), timeout=5)
    assert get("127.63.0.20") == f"b1 {CLIENT}"


def test_reserved_addresses_are_left_alone(kp: Harness) -> None:
    async def make() -> KubeProxy:
        return KubeProxy(CONFIG, 1, reserved={("127.63.0.53", 53)})

    proxy = kp.call(make())
    try:
        svc = service("dns", cluster_ip="127.63.0.53")
        svc["spec"]["ports"] = [{"port": 53, "protocol": p, "targetPort": 8080}
                                for p in ("UDP", "TCP")]
        slice_ = endpoints("b1", service="dns")
        slice_["ports"].append({"name": "", "port": 8080, "protocol": "UDP"})
        kp.call(proxy.update(SERVICES, svc))
        kp.call(proxy.update(ENDPOINT_SLICES, slice_))
        assert proxy.listening() == {}
        svc["spec"]["ports"][0]["port"] = 5353  # another port of the same IP is served
        kp.call(proxy.update(SERVICES, svc))
        assert set(map(str, proxy.listening())) == {"127.63.0.53:5353/UDP"}
    finally:
        kp.call(proxy.close())


def _sockets_listening() -> int:
    """Listening TCP sockets on this proxy's addresses (ss), to see nothing leaks."""
    out = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines()
               if any(a in line for a in ("127.63.", f"{NODE_IP}:", f"127.0.0.1:{NODE_PORT} ")))


def test_watch_follows_a_real_apiserver(cluster: Any, kubectl: Any) -> None:
    """The watch path end to end: kubectl creates a pod, a Service and its EndpointSlice
    in a real cluster; a KubeProxy following the apiserver over gRPC serves the
    ClusterIP, and the Service's deletion closes it."""
    from kubeloop import grpc_client as client

    kubectl("run", "web", "--image=nginx", "--port=80")
    pod_ip = wait_for(lambda: kubectl("get", "pod", "web", "-o",
                                      "jsonpath={.status.podIP}").strip(), timeout=15)
    kubectl("create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"ports": [{"port": 8081, "targetPort": 80}]}}))  # selectorless
    kubectl("create", "-f", "-", input=json.dumps(
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "web-manual", "labels": {"kubernetes.io/service-name": "web"}},
         "addressType": "IPv4", "ports": [{"name": "", "port": 80, "protocol": "TCP"}],
         "endpoints": [{"addresses": [pod_ip], "conditions": {"ready": True}}]}))
    cluster_ip = kubectl("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}").strip()
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[KubeProxy, Any, asyncio.Future[Any]]:
        channel, stub = client.connect(cluster.config)
        proxy = KubeProxy(cluster.config, 1)
        return proxy, channel, asyncio.gather(
            *(follow(stub, kind, [proxy]) for kind in (SERVICES, ENDPOINT_SLICES)))

    def call(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(10)

    proxy, channel, watching = call(start())
    try:
        result = wait_for(lambda: (r := curl(f"http://{cluster_ip}:8081/")).returncode == 0
                          and r, timeout=10)
        assert "Welcome to nginx!" in result.stdout
        kubectl("delete", "service", "web")
        wait_for(lambda: all(a.ip != cluster_ip for a in proxy.listening()))
    finally:
        async def stop() -> None:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
            await proxy.close()
            await channel.close()
        call(stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
