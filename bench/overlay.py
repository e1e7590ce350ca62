"""Figures for the overlay (kubeloop/overlay, node_agent/overlay): requests/s and p99
through a Service whose endpoint is on the same node versus on another node, reached
through that node's tunnel (port 8472), in one cluster started with overlay="tunnel".

Two NodePort Services, each with one emulated nginx pod: "near" on node 1, "far" on node
2; wrk (Debian package wrk, pinned to CPU 1) hits both on node 1's address, so node 1's
kube-proxy connects to the near pod directly and to the far one through node 2's tunnel.
Keep-alive (`wrk -t1 -c50 --latency`) and a new connection per request (Connection:
close), runs alternating; medians of --runs, and the far/near ratio.
    python3 bench/overlay.py [--runs 3] [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

from _common import Load, wrk
from kubeloop import Cluster

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def deploy(c: Cluster, name: str, node: int) -> int:
    """An nginx pod on node N behind a NodePort Service; returns the node port."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
           "spec": {"nodeName": c.config.node_name(node),
                    "containers": [{"name": "web", "image": "nginx:1.27"}]}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
               "spec": {"type": "NodePort", "selector": {"app": name},
                        "ports": [{"port": 80, "targetPort": 80}]}}
    c.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                      "items": [pod, service]}))
    c.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=30s")
    out = c.kubectl("get", "service", name, "-o", "jsonpath={.spec.ports[0].nodePort}")
    return int(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk (apt-get install -y wrk)")
    with tempfile.TemporaryDirectory(prefix="kubeloop-bench-") as home, \
            Cluster(nodes=2, overlay="tunnel", home=Path(home)) as c:
        node1 = c.config.network.node_ip(1)
        urls = {where: f"http://{node1}:{deploy(c, where, node)}/"
                for where, node in (("near", 1), ("far", 2))}
        for close in (False, True):
            loads: dict[str, list[Load]] = {"near": [], "far": []}
            for _ in range(args.runs):
                for where, url in urls.items():
                    loads[where].append(wrk(url, args.seconds, args.connections, close=close))
            rps = {w: statistics.median(x.rps for x in v) for w, v in loads.items()}
            p99 = {w: statistics.median(x.p99 for x in v) for w, v in loads.items()}
            mode = "new connection per request" if close else "keep-alive"
            print(f"{mode} (-c{args.connections}, medians of {args.runs}):")
            for where in ("near", "far"):
                print(f"  {where:4} (endpoint on node {1 if where == 'near' else 2}): "
                      f"{rps[where]:8.0f} req/s, p99 {p99[where]:6.2f} ms")
            print(f"  far/near: {rps['far'] / rps['near']:.2f}x req/s, "
                  f"{p99['far'] / p99['near']:.2f}x p99")


if __name__ == "__main__":
    main()
