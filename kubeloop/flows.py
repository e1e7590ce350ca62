"""The flow log, like Cilium's `hubble observe`: every new connection (or UDP flow) a node
agent judged against NetworkPolicy, one JSON line each in ``DATA/logs/flows-<node>.jsonl``,
and how ``kubeloop flows`` reads, filters and prints them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

FILE_GLOB = "flows-*.jsonl"


@dataclass(frozen=True)
class Flow:
    time: float  # seconds since the epoch
    node: str
    protocol: str
    source: str  # ip:port
    source_pod: str  # namespace/name, "" for an address outside the cluster's pods
    destination: str
    destination_pod: str
    verdict: str  # "FORWARDED" or "DROPPED"
    reason: str  # which policies allowed or isolated, per direction

    def render(self) -> str:
        stamp = datetime.fromtimestamp(self.time, timezone.utc).strftime("%b %d %H:%M:%S.%f")
        src = f"{self.source_pod} ({self.source})" if self.source_pod else self.source
        dst = f"{self.destination_pod} ({self.destination})" if self.destination_pod \
            else self.destination
        return f"{stamp[:-3]}: {src} -> {dst} {self.protocol} {self.verdict} ({self.reason})"

    def matches(self, namespace: str | None, verdict: str | None) -> bool:
        if verdict and self.verdict != verdict.upper():
            return False
        if namespace:
            return any(p.split("/", 1)[0] == namespace
                       for p in (self.source_pod, self.destination_pod) if p)
        return True


def parse(line: str) -> Flow | None:
    """A line of a flow file; None for a damaged one (a crash mid-write)."""
    try:
        return Flow(**json.loads(line))
    except (ValueError, TypeError):
        return None


class FlowLog:
    """Appends flows to one node's file, a line each (flushed per line: `kubeloop flows
    --follow` sees them at once)."""

    def __init__(self, path: Path, node: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.node = node
        self._file: IO[str] = open(path, "a", buffering=1)

    def record(self, protocol: str, source: str, source_pod: str, destination: str,
               destination_pod: str, allowed: bool, reason: str) -> None:
        flow = Flow(time.time(), self.node, protocol, source, source_pod, destination,
                    destination_pod, "FORWARDED" if allowed else "DROPPED", reason)
        self._file.write(json.dumps(asdict(flow)) + "\n")

    def close(self) -> None:
        self._file.close()


def read(folder: Path) -> list[Flow]:
    """Every flow of every node, oldest first."""
    flows = []
    for path in folder.glob(FILE_GLOB):
        with open(path) as f:
            flows += [flow for flow in map(parse, f) if flow is not None]
    return sorted(flows, key=lambda f: f.time)


def follow(folder: Path, interval: float = 0.2) -> Iterator[Flow]:
    """Flows as they are written from now on (files of nodes that start later too)."""
    offsets = {path: path.stat().st_size for path in folder.glob(FILE_GLOB)}
    while True:
        batch: list[Flow] = []
        for path in folder.glob(FILE_GLOB):
            with open(path) as f:
                f.seek(offsets.get(path, 0))
                chunk = f.read()
            complete, _, _ = chunk.rpartition("\n")
            if complete:
                offsets[path] = offsets.get(path, 0) + len(complete.encode()) + 1
                batch += [flow for flow in map(parse, complete.split("\n")) if flow]
        yield from sorted(batch, key=lambda f: f.time)
        time.sleep(interval)


def select(flows: Iterable[Flow], namespace: str | None, verdict: str | None,
           last: int | None = None) -> list[Flow]:
    chosen = [f for f in flows if f.matches(namespace, verdict)]
    return chosen[-last:] if last else chosen
