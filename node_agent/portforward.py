"""The kubelet side of ``kubectl port-forward``: a SPDY/3.1 session (portforward.k8s.io)
tunneled in WebSocket binary messages. Each forwarded connection is a pair of client
streams sharing a requestID: ``error`` (we write a message there if forwarding fails)
and ``data`` (the bytes). The node dials pod_ip:port from its own address, so the pod
sees the node as its client, as with a real kubelet.

The Python client speaks the older channel protocol instead (``run_channels``): the ports
are in the URL and each gets a pair of WebSocket channels."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from node_agent import spdy

log = logging.getLogger(__name__)

PROTOCOL = "SPDY/3.1+portforward.k8s.io"  # kubectl
CHANNEL_PROTOCOL = "v4.channel.k8s.io"  # the Python client
READ_CHUNK = 32 * 1024


@dataclass
class Pair:
    """The two streams of one forwarded connection."""

    request_id: str
    port: int
    error: int = 0
    data: int = 0
    inbound: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None

    @property
    def complete(self) -> bool:
        return bool(self.error and self.data)


def stream_headers(headers: dict[str, str]) -> tuple[str, int, str]:
    """(streamType, port, requestID) of a new stream; ValueError with the kubelet's
    reason when the stream must be refused."""
    port_text = headers.get("port", "")
    if not port_text:
        raise ValueError('"port" header is required')
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f'unable to parse "{port_text}" as a port')
    kind = headers.get("streamtype", "")
    if kind not in ("error", "data"):
        raise ValueError(f'invalid stream type "{kind}"' if kind else
                         '"streamType" header is required')
    return kind, int(port_text), headers.get("requestid", "")


class Session:
    def __init__(self, ws: web.WebSocketResponse, pod_ip: str, node_ip: str,
                 what: str) -> None:
        self.ws = ws
        self.pod_ip = pod_ip
        self.node_ip = node_ip
        self.what = what  # "ns/pod" for messages
        self.codec = spdy.Codec()
        self.pairs: dict[str, Pair] = {}
        self.by_stream: dict[int, Pair] = {}
        self._send_lock = asyncio.Lock()

    async def send(self, frame: spdy.Frame) -> None:
        # Encoding and sending under one lock: header blocks share a zlib stream, so the
        # peer must receive them in the order they were compressed.
        async with self._send_lock:
            if self.ws.closed:
                return
            try:
                await self.ws.send_bytes(self.codec.encode(frame))
            except ConnectionError:
                log.debug("port-forward %s: client went away while sending", self.what)

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                try:
                    frames = self.codec.feed(msg.data)
                except spdy.SpdyError as e:
                    log.warning("port-forward %s: %s; closing", self.what, e)
                    await self.send(spdy.GoAway(status=1))
                    break
                for frame in frames:
                    if not await self.handle(frame):
                        return
        finally:
            tasks = [p.task for p in self.pairs.values() if p.task is not None]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.ws.close()

    async def handle(self, frame: spdy.Frame) -> bool:
        """One frame from the client; False when the session is over."""
        if isinstance(frame, spdy.SynStream):
            await self._new_stream(frame)
        elif isinstance(frame, spdy.Data):
            pair = self.by_stream.get(frame.stream_id)
            if pair is not None and frame.stream_id == pair.data:
                if frame.data:
                    pair.inbound.put_nowait(frame.data)
                if frame.fin:
                    pair.inbound.put_nowait(None)
        elif isinstance(frame, spdy.RstStream):
            pair = self.by_stream.get(frame.stream_id)
            if pair is not None and frame.stream_id == pair.data and pair.task is not None:
                pair.task.cancel()  # the client dropped the data: end the error stream too
                await self.send(spdy.Data(pair.error, fin=True))
        elif isinstance(frame, spdy.Ping):
            await self.send(frame)
        elif isinstance(frame, spdy.GoAway):
            return False
        return True

    async def _new_stream(self, frame: spdy.SynStream) -> None:
        try:
            kind, port, request_id = stream_headers(dict(frame.headers))
        except ValueError as e:
            log.info("port-forward %s: refusing stream %d: %s", self.what, frame.stream_id, e)
            await self.send(spdy.RstStream(frame.stream_id, spdy.RstStatus.CANCEL))
            return
        await self.send(spdy.SynReply(frame.stream_id))
        pair = self.pairs.setdefault(request_id, Pair(request_id, port))
        setattr(pair, kind, frame.stream_id)
        self.by_stream[frame.stream_id] = pair
        if frame.fin and kind == "data":
            pair.inbound.put_nowait(None)
        if pair.complete and pair.task is None:
            pair.task = asyncio.ensure_future(self._forward(pair))
            pair.task.add_done_callback(functools.partial(self._forget, pair))

    def _forget(self, pair: Pair, _task: asyncio.Task[None]) -> None:
        self.pairs.pop(pair.request_id, None)
        self.by_stream.pop(pair.error, None)
        self.by_stream.pop(pair.data, None)
        if pair.task is not None and not pair.task.cancelled() and pair.task.exception():
            log.error("port-forward %s: request %s failed", self.what, pair.request_id,
                      exc_info=pair.task.exception())

    async def _forward(self, pair: Pair) -> None:
        async def send(chunk: bytes) -> None:
            await self.send(spdy.Data(pair.data, chunk))

        failure = await forward(self.pod_ip, self.node_ip, pair.port, pair.inbound, send,
                                self.what)
        if failure:
            await self.send(spdy.Data(pair.error, failure.encode()))
        await self.send(spdy.Data(pair.data, fin=True))
        await self.send(spdy.Data(pair.error, fin=True))


async def forward(pod_ip: str, node_ip: str, port: int, inbound: asyncio.Queue[bytes | None],
                  send: Callable[[bytes], Awaitable[None]], what: str) -> str:
    """Carry one connection to pod_ip:port, dialled from the node's address: ``inbound``
    to the pod (None = the client is done sending), the pod's bytes to ``send``. Returns
    when the pod closes its side; the error message for the client, or ""."""
    try:
        reader, writer = await asyncio.open_connection(pod_ip, port, local_addr=(node_ip, 0))
    except OSError as e:
        why = os.strerror(e.errno).lower() if e.errno else str(e)
        return f"error forwarding port {port} to pod {what}: dial tcp4 {pod_ip}:{port}: " \
               f"connect: {why}"

    async def upload() -> None:
        while (chunk := await inbound.get()) is not None:
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    uploading = asyncio.ensure_future(upload())
    try:
        while chunk := await reader.read(READ_CHUNK):
            await send(chunk)
        return ""
    except ConnectionError as e:
        return f"error forwarding port {port} to pod {what}: {e}"
    finally:
        uploading.cancel()
        await asyncio.gather(uploading, return_exceptions=True)
        writer.close()


def parse_ports(values: Sequence[str]) -> list[int]:
    """The ``port`` query parameters of a channel-protocol request (the kubelet's
    V4Options); ValueError with its message."""
    if not values:
        raise ValueError('query parameter "port" is required')
    ports = []
    for value in values:
        if not value:
            raise ValueError('query parameter "port" cannot be empty')
        for piece in value.split(","):
            if not piece.isdigit() or not 0 < int(piece) < 65536:
                raise ValueError(f'unable to parse "{piece}" as a port')
            ports.append(int(piece))
    return ports


async def run_channels(ws: web.WebSocketResponse, ports: Sequence[int], pod_ip: str,
                       node_ip: str, what: str) -> None:
    """Port-forward over the channel protocol (v4.channel.k8s.io, what the Python client
    speaks): port i has data channel 2i and error channel 2i+1, each opened by the port
    number in two little-endian bytes; the pod is dialled at once for every port."""
    inbound: list[asyncio.Queue[bytes | None]] = [asyncio.Queue() for _ in ports]

    async def one(i: int, port: int) -> None:
        async def send(chunk: bytes) -> None:
            await _send_channel(ws, 2 * i, chunk)

        failure = await forward(pod_ip, node_ip, port, inbound[i], send, what)
        if failure:
            await _send_channel(ws, 2 * i + 1, failure.encode())

    async def read() -> None:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY and msg.data and msg.data[0] % 2 == 0 \
                    and msg.data[0] // 2 < len(ports):
                inbound[msg.data[0] // 2].put_nowait(bytes(msg.data[1:]))
        for q in inbound:  # the client left: nothing more to send to the pods
            q.put_nowait(None)

    for i, port in enumerate(ports):
        for channel in (2 * i, 2 * i + 1):
            await _send_channel(ws, channel, struct.pack("<H", port))
    reading: asyncio.Future[Any] = asyncio.ensure_future(read())
    forwarding: asyncio.Future[Any] = asyncio.gather(*(one(i, p) for i, p in enumerate(ports)))
    try:
        await asyncio.wait({reading, forwarding}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reading, forwarding):
            task.cancel()
        await asyncio.gather(reading, forwarding, return_exceptions=True)
        await ws.close()


async def _send_channel(ws: web.WebSocketResponse, channel: int, data: bytes) -> None:
    if not ws.closed:
        try:
            await ws.send_bytes(bytes((channel,)) + data)
        except ConnectionError:
            log.debug("port-forward client went away while sending")
