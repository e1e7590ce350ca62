"""Figure: `kubectl get pods` against 1,000 pods (target: under 300 ms server time).

Creates 1,000 pods (a Deployment) on a 3-node cluster, then times the exact request
`kubectl get pods` makes (a Table, chunked with limit=500, both pages), and the whole
kubectl command for reference.
    python3 bench/list_pods.py [--runs 7] [--pods 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
import urllib.parse

from _common import cluster, request, summary
from deployment import deployment

TABLE = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
         "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pods", type=int, default=1000)
    args = parser.parse_args()
    with cluster(3) as c:
        request(c, "/apis/apps/v1/namespaces/default/deployments", "POST",
                deployment("many", args.pods))
        deadline = time.monotonic() + 120
        while True:
            _, body = request(c, "/api/v1/namespaces/default/pods?limit=1")
            _, full = request(c, "/api/v1/namespaces/default/pods")
            if len(json.loads(full)["items"]) >= args.pods or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        server, whole = [], []
        for _ in range(args.runs):
            total, token = 0.0, ""
            while True:
                query = "limit=500" + (f"&continue={urllib.parse.quote(token)}" if token else "")
                seconds, body = request(c, f"/api/v1/namespaces/default/pods?{query}", accept=TABLE)
                total += seconds
                token = json.loads(body)["metadata"].get("continue", "")
                if not token:
                    break
            server.append(total)
            started = time.perf_counter()
            out = subprocess.run(["kubectl", "get", "pods"], env=c.env, check=True,
                                 capture_output=True, text=True).stdout
            whole.append(time.perf_counter() - started)
            assert len(out.splitlines()) == args.pods + 1
    print(summary(f"kubectl get pods ({args.pods} pods): server time", server))
    print(summary("whole kubectl command, for reference", whole))


if __name__ == "__main__":
    main()
