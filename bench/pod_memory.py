"""Figure: memory per idle pod: RSS growth of one node agent hosting 1,000 emulated nginx
pods (target: under 100 KiB per pod). Reads VmRSS of the agent before and after.
    python3 bench/pod_memory.py [--pods 1000]
"""

from __future__ import annotations

import argparse
import json
import time

from _common import cluster, request
from deployment import deployment


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    args = parser.parse_args()
    with cluster(1) as c:
        agent = json.loads((c.config.root / "supervisor.json").read_text())["children"]["node-1"]
        time.sleep(1.0)
        before = rss_kib(agent)
        body = deployment("idle", args.pods)
        body["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
        request(c, "/apis/apps/v1/namespaces/default/deployments", "POST", body)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            _, raw = request(c, "/apis/apps/v1/namespaces/default/deployments/idle")
            if json.loads(raw).get("status", {}).get("readyReplicas", 0) >= args.pods:
                break
            time.sleep(0.5)
        else:
            raise SystemExit("pods did not all become Ready in 300 s")
        time.sleep(2.0)  # let the agent settle
        after = rss_kib(agent)
    per_pod = (after - before) / args.pods
    print(f"node agent RSS {before} KiB -> {after} KiB with {args.pods} idle pods: "
          f"{per_pod:.1f} KiB per pod")


if __name__ == "__main__":
    main()
