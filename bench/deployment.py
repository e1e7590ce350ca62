"""Figures: a 100-replica Deployment created until all its pods are scheduled (bound to a
node; target: under 1 s), and until all are Running and Ready (their node agents serve
them), on a 3-node cluster. Measured from the create request, seen through a watch, over
several runs.
    python3 bench/deployment.py [--runs 5] [--replicas 100]
"""

from __future__ import annotations

import argparse
import json
import ssl
import time
import urllib.request

from _common import cluster, request, summary


def deployment(name: str, replicas: int) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--replicas", type=int, default=100)
    args = parser.parse_args()
    samples, ready_samples = [], []
    with cluster(3) as c:
        ctx = ssl.create_default_context(cafile=str(c.ca_cert))
        for run in range(args.runs):
            name = f"bench{run}"
            _, body = request(c, "/api/v1/namespaces/default/pods")
            rv = json.loads(body)["metadata"]["resourceVersion"]
            req = urllib.request.Request(
                f"{c.api_url}/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}"
                f"&labelSelector=app%3D{name}&timeoutSeconds=60")
            req.add_header("Authorization", f"Bearer {c.token}")
            stream = urllib.request.urlopen(req, context=ctx, timeout=60)
            started = time.perf_counter()
            request(c, "/apis/apps/v1/namespaces/default/deployments", "POST",
                    deployment(name, args.replicas))
            bound: set[str] = set()
            ready: set[str] = set()
            while len(ready) < args.replicas:
                event = json.loads(stream.readline())
                pod = event["object"]
                if pod["spec"].get("nodeName"):
                    bound.add(pod["metadata"]["name"])
                    if len(bound) == args.replicas and not samples[run:]:
                        samples.append(time.perf_counter() - started)
                if any(c["type"] == "Ready" and c["status"] == "True"
                       for c in pod.get("status", {}).get("conditions") or []):
                    ready.add(pod["metadata"]["name"])
            ready_samples.append(time.perf_counter() - started)
            stream.close()
            request(c, f"/apis/apps/v1/namespaces/default/deployments/{name}", "DELETE")
            time.sleep(1.0)  # let the garbage collector finish before the next run
    print(summary(f"{args.replicas}-pod Deployment to all pods scheduled", samples))
    print(summary(f"{args.replicas}-pod Deployment to all pods Running and Ready",
                  ready_samples))


if __name__ == "__main__":
    main()
