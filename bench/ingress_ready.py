"""Figure: an Ingress created to the first 200 response through the ingress controller
for its host (target: under 100 ms), p50/p99 over many Ingresses in a real 2-node
cluster. Each Ingress names a new host in front of the same ready Service; the clock runs
from sending the create to the first 200 (before that the controller answers 404).
    python3 bench/ingress_ready.py [--ingresses 100]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import time

from _common import cluster, request
from deployment import deployment
from service_ready import svc

from kubeloop import Cluster


def ingress(name: str, host: str) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name},
            "spec": {"rules": [{"host": host, "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}


def status(ip: str, host: str) -> int:
    """The status code of GET / for ``host`` on ip:80; 0 when nothing answers."""
    try:
        with socket.create_connection((ip, 80), timeout=1) as s:
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            head = s.recv(64)
    except OSError:
        return 0
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def wait_ready(c: Cluster, deadline: float) -> None:
    while json.loads(request(c, "/apis/apps/v1/namespaces/default/deployments/web")[1]
                     ).get("status", {}).get("readyReplicas", 0) < 2:
        if time.monotonic() > deadline:
            raise SystemExit("the 2 web pods did not become Ready")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingresses", type=int, default=100)
    args = parser.parse_args()
    with cluster(2) as c:
        address = c.config.network.ingress_ip
        web = deployment("web", 2)
        web["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
        request(c, "/apis/apps/v1/namespaces/default/deployments", "POST", web)
        request(c, "/api/v1/namespaces/default/services", "POST", svc("web"))
        wait_ready(c, time.monotonic() + 60)
        if status(address, "nothing.bench.test") != 404:
            raise SystemExit(f"the ingress controller does not answer on {address}:80 "
                             "(run as root, or give python CAP_NET_BIND_SERVICE)")
        samples = []
        for i in range(args.ingresses):
            host = f"i{i}.bench.test"
            started = time.perf_counter()
            request(c, "/apis/networking.k8s.io/v1/namespaces/default/ingresses", "POST",
                    ingress(f"i{i}", host))
            deadline = time.monotonic() + 10
            while (code := status(address, host)) != 200:
                if code not in (0, 404, 503) or time.monotonic() > deadline:
                    raise SystemExit(f"{host}: answered {code}, not 200")
                time.sleep(0.0005)
            samples.append((time.perf_counter() - started) * 1000)
        ms = sorted(samples)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        print(f"Ingress created to the first 200 through the controller ({len(ms)} "
              f"Ingresses): p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms "
              f"(target < 100 ms); slowest {', '.join(f'{v:.0f}' for v in ms[-3:])} ms",
              flush=True)


if __name__ == "__main__":
    main()
