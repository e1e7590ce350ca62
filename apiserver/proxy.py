"""Pod subresources that live on the node: ``log``, ``exec``, ``attach`` and
``portforward``. The apiserver finds the pod's kubelet (locations.py), calls it over
HTTPS with the node token, checking its certificate against the cluster CA, and passes
the answer through: the log as a chunked stream, the others as a WebSocket relayed
message by message with the subprotocol the kubelet chose. Requests the kubelet cannot
upgrade (a SPDY fallback, or a handshake it refuses) get the kubelet's own answer."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import ssl
from pathlib import Path

import aiohttp
from aiohttp import WSMsgType, web

from apiserver import locations, paths, registry
from apiserver import status as errors
from apiserver.locations import KubeletLocation
from apiserver.paths import Target

log = logging.getLogger(__name__)

PODS = registry.PODS
NODE_SUBRESOURCES = ("log", "exec", "attach", "portforward")
NODES = locations.NODES
DISCONNECT_POLL = 0.5  # seconds between checks that a log follower is still there
MAX_MESSAGE = 16 * 1024 * 1024
CONNECT_TIMEOUT = 5.0
KUBELET_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                   409: "Conflict", 500: "InternalError", 503: "ServiceUnavailable",
                   504: "Timeout"}


@functools.lru_cache(maxsize=8)
def _tls(ca_cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_cert))


class _Kubelet:
    """How the apiserver talks to kubelets: the cluster CA and the node token."""

    def __init__(self, reg: registry.Registry) -> None:
        self.tls = _tls(reg.config.ca_cert)
        self.auth = {"Authorization": f"Bearer {reg.config.node_token_file.read_text().strip()}"}

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.tls, force_close=True),
            headers=self.auth,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT))


async def pod_subresource(request: web.Request, reg: registry.Registry,
                          target: Target) -> web.StreamResponse:
    """Serve ``pods/{log,exec,attach,portforward}`` for the pod ``target`` names."""
    pod = reg.get(PODS, target.namespace, target.name).obj
    node_name = (pod.get("spec") or {}).get("nodeName")
    stored_node = reg.store.get(NODES.key, "", node_name) if node_name else None
    node = stored_node.obj if stored_node is not None else None
    query = {k: request.query.getall(k) for k in request.query.keys()}
    sub = target.subresource
    allowed = ("GET",) if sub == "log" else ("GET", "POST")
    if request.method not in allowed:
        raise errors.method_not_allowed(request.method, f"pods/{sub}")
    where = locations.location(sub, pod, node, query)
    if where is None:  # a pod without a node has an empty log
        return web.Response(body=b"", content_type="text/plain")
    kubelet = _Kubelet(reg)
    async with kubelet.session() as session:
        try:
            if sub == "log":
                return await _stream_log(request, session, where)
            if _wants_websocket(request):
                return await _relay_websocket(request, session, where)
            return await _relay_plain(request, session, where)
        except aiohttp.ClientConnectorError as e:
            raise _dial_error(where, e) from e


def is_streaming(path: str) -> bool:
    """Whether a request path is a pod subresource served here, which lasts as long as
    its session (so the slow-request log should leave it alone)."""
    target = paths.parse(path)
    return target is not None and target.resource is PODS and \
        target.subresource in NODE_SUBRESOURCES


def _wants_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _dial_error(where: KubeletLocation, e: aiohttp.ClientConnectorError) -> errors.ApiError:
    if isinstance(e, aiohttp.ClientConnectorCertificateError):
        why = f"tls: failed to verify certificate: {e.certificate_error}"
    else:
        err = e.os_error
        why = f"connect: {(os.strerror(err.errno) if err.errno else str(err)).lower()}"
    log.warning("kubelet %s:%d unreachable: %s", where.host, where.port, why)
    return errors.ApiError(502, "", f"error dialing backend: dial tcp {where.host}:{where.port}: "
                                    f"{why}")


def _kubelet_error(status: int, body: str) -> errors.ApiError:
    """A kubelet's non-2xx answer to a log request, as the apiserver's response checker
    words it: 400 and 500 keep the kubelet's text as the message."""
    text = body.strip()
    if status == 500:
        return errors.internal(text)
    return errors.ApiError(status, KUBELET_REASONS.get(status, ""), text)


# --- log ----------------------------------------------------------------------------------
async def _stream_log(request: web.Request, session: aiohttp.ClientSession,
                      where: KubeletLocation) -> web.StreamResponse:
    async with session.get(where.url) as upstream:
        if not 200 <= upstream.status <= 206:
            raise _kubelet_error(upstream.status, await upstream.text(errors="replace"))
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)

        async def copy() -> None:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)

        async def client_gone() -> None:
            # aiohttp does not cancel handlers when the client hangs up, and a quiet log
            # writes nothing that would fail; so a follower is checked on a short period.
            while request.transport is not None and not request.transport.is_closing():
                await asyncio.sleep(DISCONNECT_POLL)

        copying, watching = asyncio.ensure_future(copy()), asyncio.ensure_future(client_gone())
        try:
            await asyncio.wait({copying, watching}, return_when=asyncio.FIRST_COMPLETED)
            if copying.done() and copying.exception() is None:
                await response.write_eof()
        except ConnectionError:
            log.debug("log client of %s went away", where.path)
        finally:
            for task in (copying, watching):
                task.cancel()
            await asyncio.gather(copying, watching, return_exceptions=True)
        return response


# --- exec, attach, portforward -----------------------------------------------------------
async def _relay_plain(request: web.Request, session: aiohttp.ClientSession,
                       where: KubeletLocation) -> web.Response:
    """Ask the kubelet without an upgrade and pass its answer on: why it cannot serve
    the request, in its own words (kubectl prints it after "unable to upgrade")."""
    async with session.request(request.method, where.url) as upstream:
        body = await upstream.read()
        return web.Response(status=upstream.status, body=body,
                            content_type=upstream.content_type or "text/plain")


async def _relay_websocket(request: web.Request, session: aiohttp.ClientSession,
                           where: KubeletLocation) -> web.StreamResponse:
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
               if p.strip()]
    try:
        upstream = await session.ws_connect(where.url, protocols=offered,
                                            max_msg_size=MAX_MESSAGE)
    except aiohttp.WSServerHandshakeError:
        return await _relay_plain(request, session, where)
    async with upstream:
        client = web.WebSocketResponse(protocols=(upstream.protocol,) if upstream.protocol
                                       else (), max_msg_size=MAX_MESSAGE)
        await client.prepare(request)
        down = asyncio.ensure_future(_pipe(upstream, client))
        up = asyncio.ensure_future(_pipe(client, upstream))
        try:
            await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (down, up):
                task.cancel()
            await asyncio.gather(down, up, return_exceptions=True)
            await client.close()
        return client


async def _pipe(source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> None:
    """Copy messages until ``source`` closes, then close ``sink`` the same way."""
    async for msg in source:
        if msg.type == WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif msg.type == WSMsgType.TEXT:
            await sink.send_str(msg.data)
    await sink.close(code=source.close_code or aiohttp.WSCloseCode.OK)
