"""Figure: Service created to its A record answering through the cluster DNS (the kube-dns
address every node agent serves), p50/p99 over many Services in a real 3-node cluster
(target: under 20 ms).
    python3 bench/dns_ready.py [--services 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode

from _common import cluster, request


def answers(server: str, name: str, ip: str) -> bool:
    query = dns.message.make_query(name, "A")
    try:
        reply = dns.query.udp(query, server, timeout=0.5)
    except dns.exception.Timeout:
        return False
    return reply.rcode() == dns.rcode.NOERROR and any(
        ip in (r.address for r in rrset) for rrset in reply.answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100)
    args = parser.parse_args()
    samples = []
    with cluster(3) as c:
        server = c.config.network.dns_ip
        for i in range(args.services):
            body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"d{i}"},
                    "spec": {"ports": [{"port": 80}]}}
            started = time.perf_counter()
            _, raw = request(c, "/api/v1/namespaces/default/services", "POST", body)
            ip = json.loads(raw)["spec"]["clusterIP"]
            deadline = time.monotonic() + 10
            while not answers(server, f"d{i}.default.svc.cluster.local.", ip):
                if time.monotonic() > deadline:
                    raise SystemExit(f"d{i} never answered")
            samples.append((time.perf_counter() - started) * 1000)
    ms = sorted(samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"Service create to its A record answering ({len(ms)} Services): p50 "
          f"{statistics.median(ms):.1f} ms, p99 {p99:.1f} ms (target < 20 ms)")


if __name__ == "__main__":
    main()
