"""Figure: memory per idle pod: RSS growth of the node agents hosting 1,000 emulated nginx
pods (target: under 100 KiB per pod). A node holds at most 250 pods (its capacity), so the
pods spread over enough nodes; the growth is summed over every agent's VmRSS. Each run
uses a fresh cluster; the median of the runs is printed.
    python3 bench/pod_memory.py [--pods 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

from _common import cluster, request
from deployment import deployment

PODS_PER_NODE = 200  # under the node capacity of 250


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def one_run(pods: int) -> float:
    """KiB of agent RSS per pod in a fresh cluster."""
    nodes = math.ceil(pods / PODS_PER_NODE)
    with cluster(nodes) as c:
        children = json.loads((c.config.root / "supervisor.json").read_text())["children"]
        agents = [pid for name, pid in children.items() if name.startswith("node-")]
        time.sleep(1.0)
        before = sum(rss_kib(pid) for pid in agents)
        body = deployment("idle", pods)
        body["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
        request(c, "/apis/apps/v1/namespaces/default/deployments", "POST", body)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            _, raw = request(c, "/apis/apps/v1/namespaces/default/deployments/idle")
            if json.loads(raw).get("status", {}).get("readyReplicas", 0) >= pods:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"the {pods} pods did not all become Ready in 300 s")
        time.sleep(2.0)  # let the agents settle
        after = sum(rss_kib(pid) for pid in agents)
    per_pod = (after - before) / pods
    print(f"  {nodes} agents: RSS {before} KiB -> {after} KiB: {per_pod:.1f} KiB per pod",
          flush=True)
    return per_pod


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    samples = [one_run(args.pods) for _ in range(args.runs)]
    print(f"memory per idle pod ({args.pods} pods, median of {args.runs} runs): "
          f"{statistics.median(samples):.1f} KiB (target < 100 KiB)")


if __name__ == "__main__":
    main()
