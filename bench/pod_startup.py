"""Figure: pod create to Running and serving, p50/p99 over 200 pods (target: p99 under
100 ms). Each pod (emulated nginx, containerPort 80) is created alone; its time ends when
its status says Running and Ready with a pod IP *and* an HTTP GET to that IP answers.
    python3 bench/pod_startup.py [--pods 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import statistics
import time
import urllib.request

from _common import cluster, request


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"b": "s"}},
            "spec": {"containers": [{"name": "web", "image": "nginx",
                                     "ports": [{"containerPort": 80}]}]}}


def serving(ip: str) -> bool:
    try:
        conn = http.client.HTTPConnection(ip, 80, timeout=1)
        conn.request("GET", "/")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=200)
    args = parser.parse_args()
    samples = []
    with cluster(3) as c:
        ctx = ssl.create_default_context(cafile=str(c.ca_cert))
        _, body = request(c, "/api/v1/namespaces/default/pods")
        rv = json.loads(body)["metadata"]["resourceVersion"]
        req = urllib.request.Request(f"{c.api_url}/api/v1/namespaces/default/pods?watch=true"
                                     f"&resourceVersion={rv}&timeoutSeconds=600")
        req.add_header("Authorization", f"Bearer {c.token}")
        stream = urllib.request.urlopen(req, context=ctx, timeout=600)
        for i in range(args.pods):
            name = f"p{i}"
            started = time.perf_counter()
            request(c, "/api/v1/namespaces/default/pods", "POST", pod(name))
            while True:
                event = json.loads(stream.readline())
                obj = event["object"]
                status = obj.get("status", {})
                ready = any(x["type"] == "Ready" and x["status"] == "True"
                            for x in status.get("conditions") or [])
                if obj["metadata"]["name"] == name and ready and status.get("podIP"):
                    break
            while not serving(status["podIP"]):
                time.sleep(0.001)
            samples.append(time.perf_counter() - started)
        stream.close()
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"pod create to Running and serving over {len(ms)} pods: p50 "
          f"{statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms")


if __name__ == "__main__":
    main()
