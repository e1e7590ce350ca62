"""Helpers shared by the benchmark scripts: a throwaway cluster, timed HTTP requests."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import re
import socket
import ssl
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kubeloop import Cluster


@contextmanager
def cluster(nodes: int) -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="kubeloop-bench-") as home:
        with Cluster(nodes=nodes, home=Path(home)) as c:
            yield c


def request(c: Cluster, path: str, method: str = "GET", body: dict | None = None,
            accept: str = "application/json") -> tuple[float, bytes]:
    """(seconds, body) of one request; on loopback this is the server time plus ~0.2 ms."""
    ctx = ssl.create_default_context(cafile=str(c.ca_cert))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(c.api_url + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {c.token}")
    req.add_header("Accept", accept)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    started = time.perf_counter()
    with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
        payload = resp.read()
    return time.perf_counter() - started, payload


def summary(label: str, samples: list[float], unit: str = "ms", scale: float = 1000) -> str:
    values = sorted(s * scale for s in samples)
    return (f"{label}: median {statistics.median(values):.1f} {unit}, min {values[0]:.1f}, "
            f"max {values[-1]:.1f} ({len(values)} runs)")


SERVER_CPU, CLIENT_CPU = 0, 1  # servers under test and load generators never share a core


def pinned(target: Callable[..., None], *args: object) -> multiprocessing.Process:
    """Run ``target(*args)`` in a daemon process pinned to SERVER_CPU."""
    def run() -> None:
        os.sched_setaffinity(0, {SERVER_CPU})
        target(*args)
    process = multiprocessing.Process(target=run, daemon=True)
    process.start()
    return process


def serve_emulated_nginx(ip: str, port: int) -> None:
    """The emulated nginx image's HTTP service alone (no cluster), with the node agent's
    event loop and GC settings: a backend for the proxy benches."""
    from kubeloop import logs
    from kubeloop.tasks import TaskGroup
    from node_agent.containers import Console, LogBuffer
    from node_agent.images.httpserver import HttpService
    from node_agent.images.logsink import LogSink
    from node_agent.images.webservers import Nginx

    async def serve() -> None:
        sink = LogSink(Console(LogBuffer()), TaskGroup("bench-nginx"))
        service = HttpService(Nginx("1.27.5"), sink, lambda code: None)
        server = await asyncio.get_running_loop().create_server(
            service.protocol, ip, port, backlog=1024, reuse_address=True)
        await server.serve_forever()

    logs.install_event_loop()
    asyncio.run(serve())


def wait_listening(ip: str, port: int) -> None:
    """Until something accepts connections on ip:port (10 s at most)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((ip, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {ip}:{port}")


# --- wrk, the load generator of the throughput benches ------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    rps: float
    requests: int
    p50: float  # ms
    p99: float  # ms


def wrk(url: str, seconds: int, connections: int, *, close: bool = False,
        headers: Sequence[str] = ()) -> Load:
    """wrk (one thread, on CLIENT_CPU) against ``url``; ``close``: a new connection per
    request (``Connection: close``). Exits when wrk saw errors or printed no figure."""
    command = ["taskset", "-c", str(CLIENT_CPU), "wrk", "-t1", f"-c{connections}",
               f"-d{seconds}s", "--latency",
               *(arg for h in (*headers, *(["Connection: close"] if close else []))
                 for arg in ("-H", h)), url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if re.search(r"Non-2xx or 3xx responses|Socket errors", out):
        raise SystemExit(f"wrk reported errors against {url}:\n{out}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    requests = re.search(r"(\d+) requests in", out)
    quantiles = {q: (float(n), u) for q, n, u in
                 re.findall(r"^\s+(50|99)%\s+([\d.]+)(\w+)", out, re.M)}
    if rps is None or requests is None or set(quantiles) != {"50", "99"}:
        raise SystemExit(f"no figure in wrk's output:\n{out}")
    p50, p99 = (quantiles[q][0] * _UNITS[quantiles[q][1]] for q in ("50", "99"))
    return Load(float(rps.group(1)), int(requests.group(1)), p50, p99)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
