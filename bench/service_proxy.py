"""Figures for the service proxy (node_agent/kube_proxy): requests/s and added latency
through a ClusterIP and a NodePort versus straight to the backend, MB/s of a 1 GiB
transfer, the same paths through HAProxy (TCP mode, one thread) as the reference for a
userspace L4 proxy, and what 1,000 Services with 3 endpoints each cost.

The backend is the emulated nginx (node_agent.images) served in-process under uvloop, the
bulk source a plain blocking sender; KubeProxy (uvloop) and HAProxy each run in a process
of their own. Backends and proxies are pinned to CPU 0, `wrk` (Debian package wrk) and
the bulk receiver to CPU 1, as bench/pod_rps.py pins. Requests/s: `wrk -t1 -c50`, with
keep-alive and with a new connection per request; the proxy's CPU time per request; added
latency: p50/p99 of `wrk -t1 -c1 --latency` minus the direct path's in the same run. Medians
of --runs.
    python3 bench/service_proxy.py [--runs 3] [--seconds 3] [--services 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import os
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event

import uvloop

from _common import (CLIENT_CPU, SERVER_CPU, cpu_seconds, pinned, serve_emulated_nginx,
                     wait_listening, wrk)
from kubeloop.config import ClusterConfig, Network
from node_agent.kube_proxy import ENDPOINT_SLICES, SERVICES, KubeProxy

NETWORK = Network(node_cidr="127.77.250.0/24", pod_cidr="127.78.0.0/16",
                  service_cidr="127.79.0.0/16", lb_cidr="127.77.249.0/24",
                  node_ports_on_localhost=False)
CONFIG = ClusterConfig(name="bench", data_dir="/nonexistent", network=NETWORK)
NODE_IP = NETWORK.node_ip(1)
BACKEND_IP = "127.78.1.2"  # a pod on node 1
HAPROXY_IP = "127.77.253.1"
WEB_IP, BULK_IP = "127.79.0.10", "127.79.0.11"
HTTP, BULK, NODE_PORT = 80, 9000, 30999
TRANSFER = 1 << 30  # bytes per bulk transfer
CHUNK = 4 << 20


# --- the processes under test -------------------------------------------------------------

def _serve_bulk() -> None:
    """Sends TRANSFER bytes to each client, one at a time (a readiness probe that hangs
    up at once just ends its turn)."""
    block = memoryview(bytes(CHUNK))
    with socket.create_server((BACKEND_IP, BULK), backlog=16) as server:
        while True:
            conn, _ = server.accept()
            with conn:
                try:
                    for _ in range(TRANSFER // CHUNK):
                        conn.sendall(block)
                except OSError:
                    continue


def web_service(name: str, ip: str, port: int, target: int, node_port: int | None) -> dict:
    spec_port: dict = {"port": port, "protocol": "TCP", "targetPort": target}
    if node_port:
        spec_port["nodePort"] = node_port
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "NodePort" if node_port else "ClusterIP", "clusterIP": ip,
                     "clusterIPs": [ip], "ports": [spec_port]}}


def endpoint_slice(name: str, ips: list[str], port: int) -> dict:
    return {"metadata": {"name": f"{name}-x", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "ports": [{"name": "", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "nodeName": CONFIG.node_name(1),
                           "conditions": {"ready": True}} for ip in ips]}


def _serve_proxy(ready: Event, stop: Event) -> None:
    async def serve() -> None:
        proxy = KubeProxy(CONFIG, 1)
        await proxy.resync(SERVICES, [web_service("web", WEB_IP, HTTP, HTTP, NODE_PORT),
                                      web_service("bulk", BULK_IP, BULK, BULK, None)])
        await proxy.resync(ENDPOINT_SLICES, [endpoint_slice("web", [BACKEND_IP], HTTP),
                                             endpoint_slice("bulk", [BACKEND_IP], BULK)])
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        await proxy.close()

    uvloop.run(serve())


HAPROXY_CONFIG = f"""
global
    nbthread 1
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
listen web
    bind {HAPROXY_IP}:{HTTP}
    server backend {BACKEND_IP}:{HTTP}
listen bulk
    bind {HAPROXY_IP}:{BULK}
    server backend {BACKEND_IP}:{BULK}
"""


# --- the clients ------------------------------------------------------------------------

def transfer(ip: str) -> float:
    """MB/s receiving TRANSFER bytes from the bulk source through ``ip``."""
    buffer = bytearray(CHUNK)
    received = 0
    started = time.perf_counter()
    with socket.create_connection((ip, BULK), timeout=30) as s:
        while n := s.recv_into(buffer):
            received += n
    elapsed = time.perf_counter() - started
    if received != TRANSFER:
        raise SystemExit(f"transfer through {ip}: {received} of {TRANSFER} bytes")
    return received / elapsed / 1e6


@dataclass(frozen=True)
class Route:
    url: str  # for wrk
    bulk_ip: str | None  # for the transfer, None: not measured on this path
    pid: int | None  # the proxy process whose CPU time is counted


Figures = dict[str, dict[str, list[float]]]  # path -> figure -> one value per run


def measure(paths: dict[str, Route], runs: int, seconds: int, connections: int) -> Figures:
    """Each run goes through every path in turn, so drift hits them alike."""
    figures: Figures = {name: {k: [] for k in ("rps", "p50", "p99", "cpu_us", "new", "mbps", "cpu_s")}
                        for name in paths}

    def cpu(path: Route) -> float:
        return cpu_seconds(path.pid) if path.pid else 0.0

    for _ in range(runs):
        for name, path in paths.items():
            f = figures[name]
            before = cpu(path)
            load = wrk(path.url, seconds, connections)
            f["cpu_us"].append((cpu(path) - before) / load.requests * 1e6)
            f["rps"].append(load.rps)
            latency = wrk(path.url, seconds, 1)
            f["p50"].append(latency.p50)
            f["p99"].append(latency.p99)
            f["new"].append(wrk(path.url, seconds, connections, close=True).rps)
            if path.bulk_ip:
                before = cpu(path)
                f["mbps"].append(transfer(path.bulk_ip))
                f["cpu_s"].append(cpu(path) - before)
    return figures


def report(figures: Figures, runs: int, seconds: int, connections: int) -> None:
    def med(name: str, key: str) -> float:
        return statistics.median(figures[name][key])

    def added(name: str, key: str) -> float:
        """Median over runs of (path - direct) in the same run, in microseconds: pairs
        measured seconds apart cancel most of the shared machine's drift."""
        pairs = zip(figures[name][key], figures["direct"][key])
        return 1000 * statistics.median(p - d for p, d in pairs)

    def runs_of(name: str, key: str) -> str:
        return ", ".join(f"{v:,.0f}" for v in figures[name][key])

    print(f"HTTP ({runs} runs of {seconds}s, emulated nginx; wrk -t1 -c{connections} for "
          "req/s and proxy CPU per request, -c1 for latency):")
    for name in figures:
        line = (f"  {name:<10} {med(name, 'rps'):>7,.0f} req/s (runs {runs_of(name, 'rps')}); "
                f"latency p50 {1000 * med(name, 'p50'):.0f} us, "
                f"p99 {1000 * med(name, 'p99'):.0f} us")
        if name != "direct":
            line += (f" (added p50 {added(name, 'p50'):+.0f} us, "
                     f"p99 {added(name, 'p99'):+.0f} us); "
                     f"proxy CPU {med(name, 'cpu_us'):.1f} us/request")
        print(line + f"; a connection per request: {med(name, 'new'):,.0f} req/s")
    for name in ("ClusterIP", "NodePort"):
        print(f"  {name} / HAProxy: {med(name, 'rps') / med('HAProxy', 'rps'):.2f}x req/s, "
              f"{med('HAProxy', 'cpu_us') / med(name, 'cpu_us'):.2f}x requests per CPU second, "
              f"{med(name, 'new') / med('HAProxy', 'new'):.2f}x new connections/s")
    print(f"1 GiB transfer ({runs} runs):")
    for name in figures:
        if figures[name]["mbps"]:
            cpu = f"; proxy CPU {med(name, 'cpu_s'):.2f} s" if name != "direct" else ""
            print(f"  {name:<10} {med(name, 'mbps'):>7,.0f} MB/s "
                  f"(runs {runs_of(name, 'mbps')}){cpu}")
    print(f"  ClusterIP / HAProxy: {med('ClusterIP', 'mbps') / med('HAProxy', 'mbps'):.2f}x "
          f"MB/s, {med('HAProxy', 'cpu_s') / med('ClusterIP', 'cpu_s'):.2f}x bytes per CPU "
          "second")


# --- 1,000 Services -------------------------------------------------------------------------

def _many_services(count: int, out: multiprocessing.connection.Connection) -> None:
    def rss_mib() -> float:
        with open("/proc/self/status") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return kib / 1024

    async def run() -> None:
        proxy = KubeProxy(CONFIG, 1)
        services = [web_service(f"svc-{i}", f"127.79.{10 + i // 250}.{1 + i % 250}", 80, 8080,
                                None) for i in range(count)]
        slices = [endpoint_slice(f"svc-{i}", [f"127.78.{n}.{1 + i % 250}" for n in (1, 2, 3)],
                                 8080) for i in range(count)]
        before = rss_mib()
        started = time.perf_counter()
        await proxy.resync(SERVICES, services)
        await proxy.resync(ENDPOINT_SLICES, slices)
        up = time.perf_counter() - started
        listening = len(proxy.listening())
        after = rss_mib()
        # One endpoint of one Service changes back and forth: the incremental path.
        changes = [endpoint_slice("svc-7", ["127.78.1.8", "127.78.2.8", f"127.78.{n}.8"], 8080)
                   for n in (3, 4)] * 50
        took = []
        for change in changes:
            started = time.perf_counter()
            await proxy.update(ENDPOINT_SLICES, change)
            took.append(time.perf_counter() - started)
        await proxy.close()
        out.send((up, listening, before, after, statistics.median(took)))

    uvloop.run(run())


def many_services(count: int) -> tuple[float, int, float, float, float]:
    receiver, sender = multiprocessing.Pipe(duplex=False)
    process = pinned(_many_services, count, sender)
    try:
        if not receiver.poll(120):
            raise SystemExit("the 1,000-Service proxy did not report")
        result: tuple[float, int, float, float, float] = receiver.recv()
    finally:
        process.join(10)
    return result


# --- main -------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--services", type=int, default=1000)
    args = parser.parse_args()
    os.sched_setaffinity(0, {CLIENT_CPU})
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    proxy = pinned(_serve_proxy, ready, stop)
    backends = [pinned(serve_emulated_nginx, BACKEND_IP, HTTP), pinned(_serve_bulk)]
    with tempfile.NamedTemporaryFile("w", suffix=".cfg") as cfg:
        cfg.write(HAPROXY_CONFIG)
        cfg.flush()
        haproxy = subprocess.Popen(["taskset", "-c", str(SERVER_CPU), "haproxy", "-db", "-f",
                                    cfg.name], stdout=subprocess.DEVNULL)
        try:
            if not ready.wait(20):
                raise SystemExit("the proxy did not start")
            for ip, port in ((BACKEND_IP, HTTP), (BACKEND_IP, BULK), (HAPROXY_IP, HTTP),
                             (WEB_IP, HTTP), (NODE_IP, NODE_PORT)):
                wait_listening(ip, port)
            paths = {"direct": Route(f"http://{BACKEND_IP}:{HTTP}/", BACKEND_IP, None),
                     "ClusterIP": Route(f"http://{WEB_IP}:{HTTP}/", BULK_IP, proxy.pid),
                     "NodePort": Route(f"http://{NODE_IP}:{NODE_PORT}/", None, proxy.pid),
                     "HAProxy": Route(f"http://{HAPROXY_IP}:{HTTP}/", HAPROXY_IP,
                                      haproxy.pid)}
            figures = measure(paths, args.runs, args.seconds, args.connections)
        finally:
            stop.set()
            haproxy.terminate()
            haproxy.wait(10)
            proxy.join(5)  # it closes on stop
            for child in backends:
                child.terminate()
    report(figures, args.runs, args.seconds, args.connections)
    up, listening, before, after, one = many_services(args.services)
    print(f"{args.services:,} Services with 3 endpoints each: {listening:,} listeners up in "
          f"{up * 1000:.0f} ms; proxy RSS {before:.0f} -> {after:.0f} MiB "
          f"(+{after - before:.1f} MiB); one EndpointSlice change applied in "
          f"{one * 1e6:.0f} us (median of 100)")


if __name__ == "__main__":
    main()
