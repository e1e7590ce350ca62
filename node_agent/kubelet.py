"""The node agent's kubelet API (HTTPS on the node's IP, port 10250): what the apiserver
proxies ``kubectl logs``, ``exec``, ``attach`` and ``port-forward`` to.

- ``GET /containerLogs/{ns}/{pod}/{container}``: the container's log, chunked; follows
  new lines with ``follow=true``.
- ``/exec/{ns}/{pod}/{container}`` and ``/attach/{ns}/{pod}/{container}``: WebSocket,
  ``v5.channel.k8s.io`` / ``v4.channel.k8s.io`` (remote_command.py).
- ``/portForward/{ns}/{pod}``: WebSocket, ``SPDY/3.1+portforward.k8s.io`` (kubectl) or
  ``v4.channel.k8s.io`` with ``port`` parameters (the Python client); portforward.py.

Only the apiserver may call it: a bearer token (the node token) on every request. Errors
are plain text with the status code, as the kubelet writes them; the apiserver turns
them into Status objects."""

from __future__ import annotations

import hmac
import logging
import ssl
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web

from kubeloop import pki
from kubeloop.config import ClusterConfig
from node_agent import channels, container_logs, portforward, remote_command
from node_agent.containers import ContainerHandle, Directory

log = logging.getLogger(__name__)

KUBELET_PORT = 10250
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Opened = tuple[web.WebSocketResponse, channels.StreamOptions, ContainerHandle]


def serving_certificate(config: ClusterConfig, node_name: str, address: str) -> tuple[Path, Path]:
    """Issue the kubelet's serving certificate (node name and IP as SANs, signed by the
    cluster CA) into the data dir; done at every start so the SANs always match."""
    cert_pem, key_pem = pki.issue_certificate(config.ca_cert.read_bytes(),
                                              config.ca_key.read_bytes(), [node_name], [address])
    cert_path, key_path = config.kubelet_cert(node_name), config.kubelet_key(node_name)
    pki.write_private(key_path, key_pem)
    cert_path.write_bytes(cert_pem)
    return cert_path, key_path


def _error(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message, content_type="text/plain")


class KubeletServer:
    def __init__(self, directory: Directory, address: str, port: int, cert_path: Path | str,
                 key_path: Path | str, token: str) -> None:
        self.directory = directory
        self.address = address
        self.port = port
        self.cert_path = Path(cert_path)
        self.key_path = Path(key_path)
        self.token = token
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.cert_path, self.key_path)
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        app.router.add_route("*", "/exec/{namespace}/{pod}/{container}", self._exec)
        app.router.add_route("*", "/attach/{namespace}/{pod}/{container}", self._attach)
        app.router.add_route("*", "/portForward/{namespace}/{pod}", self._port_forward)
        # A cancelled handler is how a follow or a session learns the apiserver hung up.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.address, self.port, ssl_context=tls,
                          reuse_address=True).start()
        log.info("kubelet API on https://%s:%d", self.address, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(),
                                                                 self.token.encode()):
            return _error(401, "Unauthorized")
        return await handler(request)

    def _lookup(self, request: web.Request) -> tuple[ContainerHandle | None, bool]:
        """The addressed container, and whether its pod is known here at all."""
        ns, pod = request.match_info["namespace"], request.match_info["pod"]
        handle = self.directory.container(ns, pod, request.match_info["container"])
        return handle, handle is not None or self.directory.container(ns, pod) is not None

    # --- logs ---------------------------------------------------------------------------
    async def _logs(self, request: web.Request) -> web.StreamResponse:
        try:
            opts = container_logs.parse_log_options(_multi(request), datetime.now(timezone.utc))
        except ValueError as e:
            return _error(400, str(e))
        handle, pod_known = self._lookup(request)
        pod, container = request.match_info["pod"], request.match_info["container"]
        if handle is None:
            return _error(404, f'container "{container}" not found in pod "{pod}"' if pod_known
                          else f'pod "{pod}" does not exist')
        log_buffer = handle.previous_log if opts.previous else handle.log
        if log_buffer is None:
            return _error(400, f'previous terminated container "{container}" in pod "{pod}" '
                               f'not found')
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        writer = container_logs.LogWriter(opts)
        if opts.follow:
            async for when, line in log_buffer.follow(opts.tail_lines):
                await response.write(writer.render(when, line))
                if writer.exhausted:
                    break
        else:
            await response.write(b"".join(writer.render(when, line)
                                          for when, line in log_buffer.lines(opts.tail_lines)))
        await response.write_eof()
        return response

    # --- exec and attach --------------------------------------------------------------
    async def _open(self, request: web.Request, exec_: bool) -> Opened | web.Response:
        handle, pod_known = self._lookup(request)
        if handle is None:
            return _error(404, f'container not found ("{request.match_info["container"]}")'
                          if pod_known else "pod does not exist")
        try:
            opts = channels.parse_stream_options(_multi(request), exec_)
        except ValueError as e:
            return _error(400, str(e))
        ws = web.WebSocketResponse(protocols=channels.PROTOCOLS, max_msg_size=16 * 1024 * 1024)
        if not ws.can_prepare(request).ok:
            return _error(400, f"unable to upgrade: a WebSocket upgrade with one of "
                               f"{', '.join(channels.PROTOCOLS)} is required")
        await ws.prepare(request)
        return ws, opts, handle

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        opened = await self._open(request, True)
        if isinstance(opened, web.Response):
            return opened
        ws, opts, handle = opened
        session = remote_command.Session(ws, opts, _what(request))
        await remote_command.run_exec(session, handle.run, opts.command,
                                      handle.identity)
        return ws

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        opened = await self._open(request, False)
        if isinstance(opened, web.Response):
            return opened
        ws, opts, handle = opened
        await remote_command.run_attach(remote_command.Session(ws, opts, _what(request)),
                                        handle.console)
        return ws

    # --- port-forward -------------------------------------------------------------------
    async def _port_forward(self, request: web.Request) -> web.StreamResponse:
        ns, pod = request.match_info["namespace"], request.match_info["pod"]
        handle = self.directory.container(ns, pod)
        if handle is None:
            return _error(404, f'pod "{pod}" does not exist')
        protocols = (portforward.PROTOCOL, portforward.CHANNEL_PROTOCOL)
        ws = web.WebSocketResponse(protocols=protocols, max_msg_size=16 * 1024 * 1024)
        chosen = ws.can_prepare(request).protocol
        what, pod_ip = f"{ns}/{pod}", handle.identity.pod_ip
        if chosen == portforward.CHANNEL_PROTOCOL:
            try:
                ports = portforward.parse_ports(request.query.getall("port", []))
            except ValueError as e:
                return _error(400, str(e))
            await ws.prepare(request)
            await portforward.run_channels(ws, ports, pod_ip, self.address, what)
        elif chosen == portforward.PROTOCOL:
            await ws.prepare(request)
            await portforward.Session(ws, pod_ip, self.address, what).run()
        else:
            return _error(400, f"unable to upgrade: a WebSocket upgrade with one of "
                               f"{', '.join(protocols)} is required")
        return ws


def _multi(request: web.Request) -> dict[str, list[str]]:
    return {k: request.query.getall(k) for k in request.query.keys()}


def _what(request: web.Request) -> str:
    m = request.match_info
    return f"{m['namespace']}/{m['pod']}/{m['container']}"
