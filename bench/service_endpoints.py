"""Figure: Service created to its Endpoints and EndpointSlice listing its Ready pods,
p50/p99 over 50 Services of 3 pods each (target: a few ms). The pods (emulated nginx) are
all Ready before the first Service is made; each Service is created alone over the REST
API (one kept-alive connection), and its time ends when both watch streams (endpoints, endpointslices) have shown an
object listing its 3 pods as ready.
    python3 bench/service_endpoints.py [--services 50] [--pods-per-service 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import statistics
import threading
import time
import urllib.request
from typing import Any

from _common import cluster, request
from kubeloop import Cluster

NS = "/api/v1/namespaces/default"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"


def pod(name: str, app: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"containers": [{"name": "web", "image": "nginx",
                                     "ports": [{"containerPort": 80}]}]}}


def service(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}


def ready_in_endpoints(obj: dict) -> tuple[str, int]:
    return obj["metadata"]["name"], sum(len(s.get("addresses") or [])
                                        for s in obj.get("subsets") or [])


def ready_in_slice(obj: dict) -> tuple[str, int]:
    name = (obj["metadata"].get("labels") or {}).get("kubernetes.io/service-name", "")
    return name, sum(1 for e in obj.get("endpoints") or [] if e["conditions"].get("ready"))


class Arrivals:
    """Follows one watch stream in a thread; records when each Service first showed
    ``want`` ready endpoints."""

    def __init__(self, c: Cluster, path: str, count: Any, want: int) -> None:
        _, body = request(c, path)
        rv = json.loads(body)["metadata"]["resourceVersion"]
        req = urllib.request.Request(f"{c.api_url}{path}?watch=true&resourceVersion={rv}"
                                     "&timeoutSeconds=600")
        req.add_header("Authorization", f"Bearer {c.token}")
        ctx = ssl.create_default_context(cafile=str(c.ca_cert))
        self.stream = urllib.request.urlopen(req, context=ctx, timeout=600)
        self.count, self.want = count, want
        self.seen: dict[str, float] = {}
        self.changed = threading.Condition()
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        for line in self.stream:
            stamp = time.perf_counter()
            name, ready = self.count(json.loads(line)["object"])
            if ready >= self.want and name not in self.seen:
                with self.changed:
                    self.seen[name] = stamp
                    self.changed.notify_all()

    def wait(self, name: str, timeout: float = 30) -> float:
        with self.changed:
            if not self.changed.wait_for(lambda: name in self.seen, timeout):
                raise TimeoutError(f"no ready endpoints for {name} in {timeout}s")
            return self.seen[name]


class Client:
    """One kept-alive HTTPS connection, so a create costs no TLS handshake."""

    def __init__(self, c: Cluster) -> None:
        host, port = c.api_url.removeprefix("https://").rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=str(c.ca_cert))
        self.conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
        self.headers = {"Authorization": f"Bearer {c.token}",
                        "Content-Type": "application/json", "Accept": "application/json"}

    def post(self, path: str, body: dict) -> None:
        self.conn.request("POST", path, json.dumps(body), self.headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        if resp.status != 201:
            raise SystemExit(f"POST {path}: {resp.status} {payload[:200]!r}")


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--pods-per-service", type=int, default=3)
    args = parser.parse_args()
    per = args.pods_per_service
    to_endpoints, to_slices, to_both, posts = [], [], [], []
    with cluster(3) as c:
        for i in range(args.services):
            for j in range(per):
                request(c, f"{NS}/pods", "POST", pod(f"s{i}-{j}", f"s{i}"))
        deadline = time.monotonic() + 120
        while True:
            _, body = request(c, f"{NS}/pods")
            pods = json.loads(body)["items"]
            if sum(1 for p in pods if any(x["type"] == "Ready" and x["status"] == "True"
                                          for x in p["status"].get("conditions") or [])) \
                    == args.services * per:
                break
            if time.monotonic() > deadline:
                raise SystemExit("pods did not become Ready in 120 s")
            time.sleep(0.2)
        endpoints = Arrivals(c, f"{NS}/endpoints", ready_in_endpoints, per)
        slices = Arrivals(c, SLICES, ready_in_slice, per)
        client = Client(c)
        for i in range(args.services):
            name = f"s{i}"
            started = time.perf_counter()
            client.post(f"{NS}/services", service(name))
            posts.append(time.perf_counter() - started)
            ep_at, slice_at = endpoints.wait(name), slices.wait(name)
            to_endpoints.append(ep_at - started)
            to_slices.append(slice_at - started)
            to_both.append(max(ep_at, slice_at) - started)
        # The streams end with the cluster (closing them under a reading thread blocks).
    print(f"Service create to Endpoints listing its {per} Ready pods over {len(to_both)} "
          f"Services: {percentiles(to_endpoints)}")
    print(f"Service create to EndpointSlice listing them: {percentiles(to_slices)}")
    print(f"Service create to both: {percentiles(to_both)}")
    print(f"(the create request alone: {percentiles(posts)})")


if __name__ == "__main__":
    main()
