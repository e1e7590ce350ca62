"""A small cluster for the streaming path without the launcher: a real apiserver (store,
registry, REST API with proxy.py routed) and one kubelet API (kubelet.py) whose container
Directory the test fills by hand, on unusual loopback addresses. It runs on its own event
loop in a thread, so tests drive it with the real kubectl as a subprocess."""

from __future__ import annotations

import asyncio
import os
import pty
import random
import select
import shlex
import signal
import socket
import ssl
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from apiserver import bootstrap, paths, proxy, registry, store
from apiserver.api import Api
from apiserver.resources import require
from kubeloop import kubeconfig, pki
from kubeloop.config import ClusterConfig, Network
from node_agent import kubelet
from node_agent.containers import (Console, ContainerHandle, Directory, Identity, LogBuffer,
                                   Resolver, Streams)

T = TypeVar("T")
NODES = require("", "v1", "nodes")


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def pick_subnet() -> int:
    """A third octet under 127.77/16 nobody else is using right now."""
    for _ in range(50):
        octet = random.randint(1, 254)
        try:
            with socket.socket() as s:
                s.bind((f"127.77.{octet}.254", 0))
                s.listen()
        except OSError:
            continue
        return octet
    raise RuntimeError("no free 127.77.x.0/24 found")


async def fake_run(argv: list[str], identity: Identity, streams: Streams) -> int:
    """A stand-in for the toolbox: enough commands to exercise the streams."""
    if argv[:2] == ["sh", "-c"] and len(argv) > 2:
        words = shlex.split(argv[2])
        if words and words[0] == "exit":
            return int(words[1])
        return await fake_run(words, identity, streams)
    if argv == ["sh"]:  # an interactive shell: a prompt, one command per line
        assert streams.stdin is not None
        while True:
            if streams.tty:
                await streams.stdout(b"/ # ")
            line = await streams.stdin.readline()
            if not line:
                return 0
            words = shlex.split(line.decode())
            if words[:1] == ["exit"]:
                return int(words[1]) if len(words) > 1 else 0
            if words:
                await fake_run(words, identity, streams)
    if argv[0] == "echo":
        await streams.stdout((" ".join(argv[1:]) + "\n").encode())
        return 0
    if argv[0] == "hostname":
        await streams.stdout(f"{identity.hostname}\n".encode())
        return 0
    if argv[0] == "cat" and streams.stdin is not None:
        while chunk := await streams.stdin.read(4096):
            await streams.stdout(chunk)
        return 0
    await streams.stderr(f"sh: {argv[0]}: not found\n".encode())
    return 127


@dataclass
class FakePod:
    name: str
    ip: str
    handles: dict[str, ContainerHandle]


class Harness:
    def __init__(self, root: Path) -> None:
        octet = pick_subnet()
        self.api_ip = f"127.77.{octet}.254"
        self.node_ip = f"127.77.{octet}.1"
        self.pod_prefix = f"127.77.{octet}."
        net = Network(apiserver_ip=self.api_ip, api_port=free_port(self.api_ip))
        self.config = ClusterConfig(name=f"strm{octet}", data_dir=str(root), network=net)
        self.kubelet_port = free_port(self.node_ip)
        self.directory = Directory()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []
        self.kubelet: kubelet.KubeletServer | None = None
        self.pods: dict[str, FakePod] = {}
        self._next_pod = 10

    # --- thread plumbing ------------------------------------------------------------------
    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def start(self) -> Harness:
        self.config.root.mkdir(parents=True, exist_ok=True)
        pki.ensure_pki(self.config)
        kubeconfig.write(self.config)
        self._thread.start()
        self.call(self._start())
        return self

    def stop(self) -> None:
        self.call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.config.kubeconfig)}

    # --- servers -------------------------------------------------------------------------
    async def _start(self) -> None:
        self.store = store.Store(self.config.database)
        self.registry = registry.Registry(self.store, self.config)
        await bootstrap.ensure(self.registry)
        reg = self.registry

        async def subresource(request: web.Request) -> web.StreamResponse:
            target = paths.parse(request.path)
            assert target is not None
            return await proxy.pod_subresource(request, reg, target)

        def routes(app: web.Application) -> None:
            app.router.add_route(
                "*", "/api/v1/namespaces/{ns}/pods/{name}/{sub:log|exec|attach|portforward}",
                subresource)

        token = self.config.admin_token_file.read_text().strip()
        api = Api(reg, {token: "kubernetes-admin"}, f"{self.api_ip}:{self.config.network.api_port}",
                  extra=routes)
        api.ready = True
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.config.apiserver_cert, self.config.apiserver_key)
        runner = web.AppRunner(api.app(), access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, self.api_ip, self.config.network.api_port,
                          ssl_context=tls).start()
        self._runners.append(runner)

        cert, key = kubelet.serving_certificate(self.config, "node-1", self.node_ip)
        self.kubelet = kubelet.KubeletServer(
            self.directory, self.node_ip, self.kubelet_port, cert, key,
            self.config.node_token_file.read_text().strip())
        await self.kubelet.start()
        await reg.create(NODES, "", {"metadata": {"name": "node-1"}, "status": {
            "addresses": [{"type": "InternalIP", "address": self.node_ip}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}}}})

    async def _stop(self) -> None:
        for p in self.pods.values():
            for h in p.handles.values():
                h.console.close()
                h.log.close()
        if self.kubelet is not None:
            await self.kubelet.stop()
        for r in self._runners:
            await r.cleanup()
        self.store.close()

    # --- pods ----------------------------------------------------------------------------
    def add_pod(self, name: str, containers: tuple[str, ...] = ("app",), *,
                node: str = "node-1", stdin: bool = False, labels: dict | None = None,
                ports: tuple[int, ...] = ()) -> FakePod:
        """A Running pod whose containers are in the kubelet's Directory; ``node=""``
        leaves it unscheduled (Pending)."""
        return self.call(self._add_pod(name, containers, node, stdin, labels or {}, ports))

    def add_node(self, name: str, ip: str, port: int) -> None:
        """A Node object only: no kubelet answers at ``ip:port``."""
        self.call(self.registry.create(NODES, "", {"metadata": {"name": name}, "status": {
            "addresses": [{"type": "InternalIP", "address": ip}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}))

    async def _add_pod(self, name: str, containers: tuple[str, ...], node: str,
                       stdin: bool, labels: dict, ports: tuple[int, ...]) -> FakePod:
        ip = f"{self.pod_prefix}{self._next_pod}"
        self._next_pod += 1
        spec: dict[str, Any] = {"containers": [
            {"name": c, "image": "busybox", "stdin": stdin,
             "ports": [{"containerPort": p} for p in ports]} for c in containers]}
        if node:
            spec["nodeName"] = node
        await self.registry.create(registry.PODS, "default", {
            "metadata": {"name": name, "labels": labels}, "spec": spec})
        identity = Identity(ip, name, "default", name, Resolver("127.77.0.10", ("default.svc",)))
        handles = {c: ContainerHandle(identity, c, log := LogBuffer(), Console(log, stdin),
                                         fake_run)
                   for c in containers}
        if node:
            def running(obj: dict) -> bool:
                obj["status"].update({
                    "phase": "Running", "hostIP": self.node_ip, "podIP": ip,
                    "podIPs": [{"ip": ip}],
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [
                        {"name": c, "ready": True, "restartCount": 0, "image": "busybox",
                         "imageID": "", "containerID": f"kubeloop://{name}-{c}",
                         "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}
                        for c in containers]})
                return True

            await self.registry.mutate(registry.PODS, "default", name, running,
                                       subresource=registry.ALL)
            self.directory.put("default", name, handles)
        pod = FakePod(name, ip, handles)
        self.pods[name] = pod
        return pod

    def log(self, pod: str, container: str, *lines: str) -> None:
        async def append() -> None:
            for line in lines:
                self.pods[pod].handles[container].log.append(line)
        self.call(append())

    def console_write(self, pod: str, container: str, data: bytes) -> None:
        self.call(self.pods[pod].handles[container].console.write(data))

    def console_close(self, pod: str, container: str) -> None:
        async def close() -> None:
            self.pods[pod].handles[container].console.close()
        self.call(close())

    def create(self, resource: Any, body: dict) -> dict:
        return self.call(self.registry.create(resource, "default", body))

    def serve_http(self, pod: str, port: int) -> None:
        """An HTTP server in the pod that answers with the address it was called from."""
        async def start() -> None:
            async def whoami(request: web.Request) -> web.Response:
                peer = request.transport.get_extra_info("peername") if request.transport else None
                return web.Response(text=f"hello from {pod}; you are {peer[0] if peer else '?'}\n")

            app = web.Application()
            app.router.add_get("/{tail:.*}", whoami)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
            await runner.setup()
            await web.TCPSite(runner, self.pods[pod].ip, port).start()
            self._runners.insert(0, runner)
        self.call(start())


class PtySession:
    """kubectl on a pseudo-terminal, as a user at a shell runs it (``-it`` needs one)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child becomes kubectl
            os.execvpe(argv[0], argv, env)
        self.seen = b""
        self.code: int | None = None

    def expect(self, marker: bytes, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.seen and time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.1)[0]:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:  # kubectl closed the terminal
                    break
        assert marker in self.seen, self.seen

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.code = os.waitstatus_to_exitcode(status)
                return self.code
            if select.select([self.fd], [], [], 0.1)[0]:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:
                    pass
        raise AssertionError(f"kubectl still running after {timeout}s: {self.seen!r}")

    def close(self) -> None:
        if self.code is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)
