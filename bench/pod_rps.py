"""Figure: requests/s of one emulated nginx pod, against a minimal asyncio-streams HTTP
server sending a response of the same size (the reference), both under uvloop.

The pod runs in a real one-node cluster (its node agent process serves it on the pod IP);
the reference server runs in its own process on a loopback IP. Both are pinned to CPU 0;
`wrk` (Debian package wrk), pinned to CPU 1, loads them with keep-alive connections. Runs
alternate between the two; the medians and their ratio are printed.
    python3 bench/pod_rps.py [--runs 5] [--seconds 3] [--connections 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import time

import uvloop

from _common import SERVER_CPU, cluster, request, wait_listening, wrk

REFERENCE_IP = "127.77.250.2"
PORT = 80


def reference_response() -> bytes:
    """What the emulated nginx answers to GET /, byte for byte in size."""
    from node_agent.images.webservers import NGINX_INDEX
    head = ("HTTP/1.1 200 OK\r\nServer: nginx/1.27.5\r\n"
            "Date: Thu, 01 Jan 2026 00:00:00 GMT\r\nContent-Type: text/html\r\n"
            f"Content-Length: {len(NGINX_INDEX)}\r\n"
            "Last-Modified: Wed, 16 Apr 2025 12:01:11 GMT\r\nConnection: keep-alive\r\n"
            'ETag: "67ff9c07-267"\r\nAccept-Ranges: bytes\r\n\r\n')
    return head.encode() + NGINX_INDEX


async def _reference_server() -> None:
    response = reference_response()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, REFERENCE_IP, PORT, backlog=511)
    async with server:
        await server.serve_forever()


def _serve_reference() -> None:
    os.sched_setaffinity(0, {SERVER_CPU})
    uvloop.install()
    asyncio.run(_reference_server())


def _nginx_pod() -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bench-nginx"},
            "spec": {"containers": [{"name": "nginx", "image": "nginx",
                                     "ports": [{"containerPort": PORT}]}]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    reference = multiprocessing.Process(target=_serve_reference, daemon=True)
    reference.start()
    try:
        with cluster(1) as c:
            request(c, "/api/v1/namespaces/default/pods", "POST", _nginx_pod())
            pod_ip = ""
            deadline = time.monotonic() + 30
            while not pod_ip and time.monotonic() < deadline:
                _, raw = request(c, "/api/v1/namespaces/default/pods/bench-nginx")
                pod_ip = json.loads(raw).get("status", {}).get("podIP", "")
                time.sleep(0.1)
            children = json.loads((c.config.root / "supervisor.json").read_text())["children"]
            for pid in children.values():  # the agent serving the pod, and the apiserver
                os.sched_setaffinity(pid, {SERVER_CPU})
            wait_listening(pod_ip, PORT)
            wait_listening(REFERENCE_IP, PORT)
            results: dict[str, list[float]] = {"pod": [], "reference": []}
            for _ in range(args.runs):
                results["pod"].append(wrk(f"http://{pod_ip}:{PORT}/", args.seconds,
                                           args.connections).rps)
                results["reference"].append(wrk(f"http://{REFERENCE_IP}:{PORT}/", args.seconds,
                                                 args.connections).rps)
    finally:
        reference.terminate()
        reference.join(5)
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, values in results.items():
        print(f"{name}: median {medians[name]:,.0f} req/s "
              f"(runs: {', '.join(f'{v:,.0f}' for v in values)})")
    print(f"emulated nginx pod / plain asyncio server: {medians['pod'] / medians['reference']:.2f}x "
          f"({args.runs} runs, {args.seconds}s each, {args.connections} connections, "
          "uvloop, 1 wrk thread)")


if __name__ == "__main__":
    main()
