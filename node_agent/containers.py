"""What a container is to the node agent: its identity inside the pod's network (the pod
IP, resolv.conf, /etc/hosts), its environment, its log, and the streams of a process.
The emulated images, the exec toolbox and the streaming server all meet here."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

LOG_LINES = 10_000  # per container, like a rotated container log


@dataclass(frozen=True)
class Resolver:
    """The pod's resolv.conf, as kubelet writes it for dnsPolicy ClusterFirst."""

    nameserver: str
    search: tuple[str, ...]
    ndots: int = 5

    def render(self) -> str:
        return (f"search {' '.join(self.search)}\nnameserver {self.nameserver}\n"
                f"options ndots:{self.ndots}\n")


class Admission(Protocol):
    """NetworkPolicy at the pod's edges (node_agent/enforcement.py)."""

    def egress_allowed(self, source: str, destination: str, port: int,
                       protocol: str) -> bool:
        """False: the connection or flow is dropped (the client times out). Raises
        ConnectionRefusedError instead for a denied TCP connection under ``kubeloop up
        --policy-deny reject``."""

    def guarded(self, factory: Callable[[], Any], pod_ip: str, port: int,
                protocol: str) -> Callable[[], Any]: ...


@dataclass(frozen=True)
class Identity:
    """Who a process in the pod is on the network: connections leave from ``pod_ip``,
    names resolve through ``resolver``, ``hostname`` is the pod name."""

    pod_ip: str
    pod_name: str
    namespace: str
    hostname: str
    resolver: Resolver
    env: dict[str, str] = field(default_factory=dict)
    hosts: tuple[tuple[str, str], ...] = ()  # (ip, names) lines of /etc/hosts
    admission: Admission | None = None  # NetworkPolicy: None lets everything pass

    def etc_hosts(self) -> str:
        lines = ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost",
                 "::1\tlocalhost ip6-localhost ip6-loopback",
                 "fe00::0\tip6-localnet", "fe00::0\tip6-mcastprefix",
                 "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters",
                 f"{self.pod_ip}\t{self.hostname}"]
        lines += [f"{ip}\t{names}" for ip, names in self.hosts]
        return "\n".join(lines) + "\n"


Write = Callable[[bytes], Awaitable[None]]


@dataclass
class Streams:
    """The standard streams of one process (an exec, or a container's main command)."""

    stdout: Write
    stderr: Write
    stdin: asyncio.StreamReader | None = None
    tty: bool = False


class LogBuffer:
    """A container's log: timestamped lines, bounded, with followers (kubectl logs -f)."""

    def __init__(self, limit: int = LOG_LINES) -> None:
        self._lines: deque[tuple[datetime, str]] = deque(maxlen=limit)
        self._followers: set[asyncio.Queue[tuple[datetime, str] | None]] = set()
        self.closed = False

    def append(self, line: str, now: datetime | None = None) -> None:
        entry = (now or datetime.now(timezone.utc), line.rstrip("\n"))
        self._lines.append(entry)
        for q in self._followers:
            q.put_nowait(entry)

    def lines(self, tail: int | None = None) -> list[tuple[datetime, str]]:
        items = list(self._lines)
        if tail is not None and tail >= 0:
            items = items[len(items) - tail:] if tail else []
        return items

    async def follow(self, tail: int | None = None) -> AsyncIterator[tuple[datetime, str]]:
        """The last ``tail`` lines (all when None), then new ones until close()."""
        q: asyncio.Queue[tuple[datetime, str] | None] = asyncio.Queue()
        self._followers.add(q)
        try:
            for entry in self.lines(tail):
                yield entry
            while not self.closed and (entry2 := await q.get()) is not None:
                yield entry2
        finally:
            self._followers.discard(q)

    def close(self) -> None:
        """Ends every follower (the container instance is gone)."""
        self.closed = True
        for q in self._followers:
            q.put_nowait(None)


Runner = Callable[[list[str], Identity, Streams], Awaitable[int]]
"""Runs one process (argv) in a container: its main command, an exec or an exec probe."""


@dataclass
class ContainerContext:
    """Everything an emulated image needs to start one container of a pod."""

    identity: Identity
    name: str
    image: str
    command: list[str]  # spec.command after $(VAR) expansion ([] = image default)
    args: list[str]  # spec.args after $(VAR) expansion
    ports: list[dict]  # spec.containers[].ports (containerPort, protocol, name)
    console: "Console"  # stdout/stderr of the main process: the log and attached clients
    tty: bool = False  # spec.tty: the main process runs on a terminal (kubectl run -it)
    run: Runner | None = None  # runs its command line; None: the toolbox, files of its own


class Running:
    """A started container. ``exited`` resolves with the exit code when its main process
    ends (servers never end on their own); ``stop()`` ends it."""

    def __init__(self, stop: Callable[[], Awaitable[None]],
                 exited: asyncio.Future[int] | None = None) -> None:
        self._stop = stop
        self.exited: asyncio.Future[int] = exited or asyncio.get_running_loop().create_future()

    async def stop(self) -> None:
        await self._stop()
        if not self.exited.done():
            self.exited.set_result(137)


class Console:
    """A container's main-process terminal: output goes to the log (by line) and, as raw
    bytes, to every attached client (kubectl attach / run -it); attached clients feed
    stdin when the container has ``stdin: true``."""

    def __init__(self, log: LogBuffer, stdin: bool = False, stdin_once: bool = False) -> None:
        self.log = log
        self.stdin: asyncio.StreamReader | None = asyncio.StreamReader() if stdin else None
        self.stdin_once = stdin_once  # the first attach session's end closes stdin
        self._attached: set[asyncio.Queue[bytes | None]] = set()
        self._partial = b""

    async def write(self, data: bytes) -> None:
        for q in self._attached:
            q.put_nowait(data)
        self._partial += data
        *complete, self._partial = self._partial.split(b"\n")
        for line in complete:
            self.log.append(line.decode(errors="replace").rstrip("\r"))

    def streams(self, tty: bool = False) -> Streams:
        return Streams(stdout=self.write, stderr=self.write, stdin=self.stdin, tty=tty)

    def attach(self) -> asyncio.Queue[bytes | None]:
        q: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._attached.add(q)
        return q

    def detach(self, q: asyncio.Queue[bytes | None]) -> None:
        self._attached.discard(q)

    def reopen(self) -> None:
        """A restarted main process gets a fresh stdin."""
        if self.stdin is not None:
            self.stdin = asyncio.StreamReader()

    def close(self) -> None:
        """The main process ended: its last partial line is logged, attached clients are
        told (their sessions end), and its stdin is closed."""
        if self._partial:
            self.log.append(self._partial.decode(errors="replace"))
            self._partial = b""
        for q in self._attached:
            q.put_nowait(None)
        self._attached.clear()
        if self.stdin is not None:
            self.stdin.feed_eof()


@dataclass
class ContainerHandle:
    """A running container as the streaming server sees it."""

    identity: Identity
    name: str
    log: LogBuffer
    console: Console
    run: Runner  # runs an exec in the container (sharing its files with the main process)
    previous_log: LogBuffer | None = None  # the instance before the last restart


class Directory:
    """Looks up containers of the pods on this node (the agent keeps it current)."""

    def __init__(self) -> None:
        self._pods: dict[tuple[str, str], dict[str, ContainerHandle]] = {}

    def put(self, namespace: str, pod: str, containers: dict[str, ContainerHandle]) -> None:
        self._pods[(namespace, pod)] = containers

    def remove(self, namespace: str, pod: str) -> None:
        self._pods.pop((namespace, pod), None)

    def container(self, namespace: str, pod: str,
                  container: str | None = None) -> ContainerHandle | None:
        """The named container, or the pod's first one when ``container`` is None."""
        found = self._pods.get((namespace, pod))
        if not found:
            return None
        if container is None:
            return next(iter(found.values()))
        return found.get(container)
