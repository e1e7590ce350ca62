"""Figures for the ingress controller (ingress/): requests/s and p99 latency through it,
over HTTP and HTTPS with keep-alive, and TLS handshakes/s (a new connection per request),
against nginx (the Debian package, one worker) configured as the same reverse proxy: the
same backend, upstream keep-alive, the headers ingress-nginx sets, an access log line per
request in ingress-nginx's format written to a file, a TLS Secret for the host next to a
default server with ingress-nginx's fake certificate (ECDSA P-256 both). wrk sends the
address as SNI, so both proxies answer with their default certificate; each still runs
its SNI callback on every handshake.

The backend is the emulated nginx pod (node_agent.images) under uvloop. Backend and
proxies are pinned to CPU 0, `wrk` (Debian package wrk) to CPU 1, as the other proxy
benchmarks pin. The two proxies take turns; medians of --runs are printed with the ratio,
and each proxy's own CPU time per request (user + system), which moves less than
requests/s when other work shares the machine. The target is 0.8x nginx's rate (and so
a p99 latency within 1.25x of nginx's) over HTTP and HTTPS with keep-alive.
    python3 bench/ingress_proxy.py [--runs 3] [--seconds 3] [--connections 50]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import multiprocessing
import os
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path


from _common import (SERVER_CPU, cpu_seconds, pinned, serve_emulated_nginx, wait_listening,
                     wrk)
from ingress.tls import fake_certificate
from kubeloop import logs, pki

BACKEND_IP = "127.68.0.2"
OURS_IP = "127.68.0.10"
NGINX_IP = "127.68.0.20"
HOST = "bench.test"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format upstreaminfo '$remote_addr - $remote_user [$time_local] "$request" '
        '$status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length '
        '$request_time [$proxy_upstream_name] [] $upstream_addr '
        '$upstream_response_length $upstream_response_time $upstream_status $req_id';
    access_log {tmp}/access.log upstreaminfo buffer=64k;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    server_tokens off;
    keepalive_timeout 75s;
    keepalive_requests 1000;
    map $http_x_request_id $req_id {{ default $http_x_request_id; "" $request_id; }}
    upstream default-bench-80 {{ server {backend}:80; keepalive 320; }}
    ssl_protocols TLSv1.2 TLSv1.3;
    server {{
        listen {ip}:80 default_server backlog=1024;
        listen {ip}:443 ssl default_server backlog=1024;
        ssl_certificate {tmp}/default.crt;
        ssl_certificate_key {tmp}/default.key;
        return 404;
    }}
    server {{
        listen {ip}:80;
        listen {ip}:443 ssl;
        server_name {host};
        ssl_certificate {tmp}/tls.crt;
        ssl_certificate_key {tmp}/tls.key;
        set $proxy_upstream_name default-bench-80;
        location / {{
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Request-ID $req_id;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Scheme $scheme;
            proxy_set_header X-Scheme $scheme;
            proxy_set_header Proxy "";
            proxy_pass http://default-bench-80;
        }}
    }}
}}
"""


def _serve_ours(tmp: Path, ready: Event, stop: Event) -> None:
    import base64

    from ingress import IngressController

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    async def serve() -> None:
        log = open(tmp / "ours-access.log", "a", buffering=1 << 16)

        def access_log(lines: list[str]) -> None:
            log.write("\n".join(lines) + "\n")

        controller = IngressController(access_log=access_log)
        meta = {"namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"}
        await controller.update("networking.k8s.io/ingressclasses", {
            "metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}})
        await controller.update("services", {"metadata": {"name": "bench", **meta}, "spec": {
            "ports": [{"port": 80, "protocol": "TCP"}]}})
        await controller.update("discovery.k8s.io/endpointslices", {
            "metadata": {"name": "bench-1", **meta,
                         "labels": {"kubernetes.io/service-name": "bench"}},
            "ports": [{"name": "", "port": 80, "protocol": "TCP"}],
            "endpoints": [{"addresses": [BACKEND_IP], "conditions": {"ready": True}}]})
        await controller.update("secrets", {
            "metadata": {"name": "bench-tls", **meta}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": b64(tmp / "tls.crt"), "tls.key": b64(tmp / "tls.key")}})
        await controller.update("networking.k8s.io/ingresses", {
            "metadata": {"name": "bench", **meta, "annotations": {
                "nginx.ingress.kubernetes.io/ssl-redirect": "false"}},
            "spec": {"ingressClassName": "nginx",
                     "tls": [{"hosts": [HOST], "secretName": "bench-tls"}],
                     "rules": [{"host": HOST, "http": {"paths": [{
                         "path": "/", "pathType": "Prefix", "backend": {"service": {
                             "name": "bench", "port": {"number": 80}}}}]}}]}})
        await controller.start((OURS_IP, 80), (OURS_IP, 443))
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        await controller.close()
        log.close()

    logs.install_event_loop()  # as the ingress process does (uvloop, GC settings)
    asyncio.run(serve())


@dataclass(frozen=True)
class Measured:
    rps: float
    p99: float  # ms
    cpu: float  # the proxy's CPU time per request, microseconds


def measure(url: str, seconds: int, connections: int, proxy_pid: int, close: bool
            ) -> Measured:
    used = cpu_seconds(proxy_pid)
    load = wrk(url, seconds, connections, close=close, headers=[f"Host: {HOST}"])
    used = cpu_seconds(proxy_pid) - used
    return Measured(load.rps, load.p99, used / load.requests * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx) or not shutil.which("wrk"):
        raise SystemExit("needs nginx and wrk (apt-get install -y nginx wrk)")
    with tempfile.TemporaryDirectory(prefix="kubeloop-bench-ingress-") as name:
        tmp = Path(name)
        ca, ca_key = pki.create_ca(datetime.datetime.now(datetime.timezone.utc))
        cert, key = pki.issue_certificate(ca, ca_key, [HOST], [])
        (tmp / "tls.crt").write_bytes(cert)
        (tmp / "tls.key").write_bytes(key)
        default_cert, default_key = fake_certificate(datetime.datetime.now(datetime.timezone.utc))
        (tmp / "default.crt").write_bytes(default_cert)
        (tmp / "default.key").write_bytes(default_key)
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, ip=NGINX_IP,
                                                          backend=BACKEND_IP, host=HOST))
        backend = pinned(serve_emulated_nginx, BACKEND_IP, 80)
        ready, stop = multiprocessing.Event(), multiprocessing.Event()
        ours = pinned(_serve_ours, tmp, ready, stop)
        ref = subprocess.Popen(["taskset", "-c", str(SERVER_CPU), nginx, "-c",
                                str(tmp / "nginx.conf"), "-p", str(tmp)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_listening(BACKEND_IP, 80)
            if not ready.wait(20):
                raise SystemExit("the ingress controller did not start")
            wait_listening(NGINX_IP, 80)
            workers = Path(f"/proc/{ref.pid}/task/{ref.pid}/children").read_text().split()
            if not workers:  # it exited: another process holds its address?
                _, errors = ref.communicate(timeout=5)
                raise SystemExit(f"nginx did not start: {errors.decode().strip()}")
            assert ours.pid is not None
            pids = {"kubeloop": ours.pid, "nginx": int(workers[0])}
            results: dict[tuple[str, str], list[Measured]] = {}
            paths = [("http keep-alive", "http://{ip}/", False),
                     ("https keep-alive", "https://{ip}/", False),
                     ("https new connection per request", "https://{ip}/", True)]
            for _ in range(args.runs):
                for label, url, close in paths:
                    for who, ip in (("kubeloop", OURS_IP), ("nginx", NGINX_IP)):
                        load = measure(url.format(ip=ip), args.seconds,
                                       args.connections if not close else 20, pids[who], close)
                        results.setdefault((label, who), []).append(load)
            print(f"medians of {args.runs} runs of {args.seconds}s, wrk -t1 "
                  f"-c{args.connections} (-c20 for new connections)")
            for label, _, _ in paths:
                mine, theirs = results[(label, "kubeloop")], results[(label, "nginx")]
                m_rps = statistics.median(r.rps for r in mine)
                n_rps = statistics.median(r.rps for r in theirs)
                m_p99 = statistics.median(r.p99 for r in mine)
                n_p99 = statistics.median(r.p99 for r in theirs)
                m_cpu = statistics.median(r.cpu for r in mine)
                n_cpu = statistics.median(r.cpu for r in theirs)
                unit = "handshakes/s" if "new" in label else "req/s"
                print(f"{label:34s} kubeloop {m_rps:8.0f} {unit} p99 {m_p99:6.2f} ms "
                      f"cpu {m_cpu:5.1f} us | nginx {n_rps:8.0f} {unit} p99 {n_p99:6.2f} ms "
                      f"cpu {n_cpu:5.1f} us | {m_rps / n_rps:.2f}x nginx's rate, "
                      f"p99 {m_p99 / n_p99:.2f}x nginx's")
        finally:
            stop.set()
            ref.terminate()
            ref.wait(10)
            ours.join(10)
            for process in (ours, backend):
                if process.is_alive():
                    process.terminate()
                    process.join(5)


if __name__ == "__main__":
    main()
