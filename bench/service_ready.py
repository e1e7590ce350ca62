"""Figures: (1) Service created to the first successful connection through its ClusterIP
(target: under 50 ms), p50/p99 over many Services in a real 3-node cluster; (2) 1,000
Services with 3 endpoints each: time from the first create until every ClusterIP answers,
and the node agents' RSS growth.
    python3 bench/service_ready.py [--services 100] [--bulk 1000]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from _common import cluster, request
from deployment import deployment
from pod_memory import rss_kib


def svc(name: str, port: int = 80) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": "web"},
                     "ports": [{"port": port, "targetPort": 80, "protocol": "TCP"}]}}


def connects(ip: str, port: int) -> bool:
    try:
        socket.create_connection((ip, port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_connects(ip: str, port: int, deadline: float) -> None:
    while not connects(ip, port):
        if time.monotonic() > deadline:
            raise SystemExit(f"{ip}:{port} never answered")
        time.sleep(0.0005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--bulk", type=int, default=1000)
    args = parser.parse_args()
    with cluster(3) as c:
        web = deployment("web", 3)
        web["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
        request(c, "/apis/apps/v1/namespaces/default/deployments", "POST", web)
        deadline = time.monotonic() + 60
        while json.loads(request(c, "/apis/apps/v1/namespaces/default/deployments/web")[1]
                         ).get("status", {}).get("readyReplicas", 0) < 3:
            if time.monotonic() > deadline:
                raise SystemExit("the 3 web pods did not become Ready")
            time.sleep(0.05)

        samples = []
        for i in range(args.services):
            started = time.perf_counter()
            _, raw = request(c, "/api/v1/namespaces/default/services", "POST", svc(f"s{i}"))
            wait_connects(json.loads(raw)["spec"]["clusterIP"], 80, time.monotonic() + 10)
            samples.append((time.perf_counter() - started) * 1000)
        ms = sorted(samples)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        print(f"Service create to first connection through its ClusterIP ({len(ms)} "
              f"Services): p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms "
              f"(target < 50 ms)", flush=True)

        children = json.loads((c.config.root / "supervisor.json").read_text())["children"]
        agents = [pid for name, pid in children.items() if name.startswith("node-")]
        before = sum(rss_kib(pid) for pid in agents)
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            created = list(pool.map(
                lambda i: json.loads(request(c, "/api/v1/namespaces/default/services", "POST",
                                             svc(f"bulk{i}", 8000 + i % 1000))[1]),
                range(args.bulk)))
        made = time.perf_counter() - started
        deadline = time.monotonic() + 120
        for obj in created:
            wait_connects(obj["spec"]["clusterIP"], obj["spec"]["ports"][0]["port"], deadline)
        ready = time.perf_counter() - started
        time.sleep(1.0)
        after = sum(rss_kib(pid) for pid in agents)
        print(f"{args.bulk} Services with 3 endpoints each: created in {made:.1f} s, every "
              f"ClusterIP answering {ready:.1f} s after the first create; agents' RSS "
              f"+{(after - before) / 1024:.1f} MiB over {len(agents)} agents "
              f"({(after - before) / len(agents) / args.bulk:.1f} KiB per Service per agent)")


if __name__ == "__main__":
    main()
