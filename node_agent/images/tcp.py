"""Raw TCP listeners: serve-hostname's "write the hostname and hang up", and the generic
port of an unknown image, which waits briefly for the client to speak first, hands the
connection to the HTTP server if the first bytes are an HTTP request, and otherwise
greets and echoes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from node_agent.images.httpserver import HttpService
from node_agent.images.logsink import LogSink
from node_agent.images.model import StreamApp, looks_like_http


class StreamService:
    """What the connections of one raw TCP listener share."""

    def __init__(self, app: StreamApp, sink: LogSink, http: HttpService | None) -> None:
        self.app = app
        self.sink = sink
        self.http = http
        self.connections: set[StreamProtocol] = set()

    def protocol(self) -> StreamProtocol:
        return StreamProtocol(self)

    def close_all(self, abort: bool) -> None:
        for conn in list(self.connections):
            conn.close(abort)


class StreamProtocol(asyncio.Protocol):
    def __init__(self, service: StreamService) -> None:
        self.service = service
        self.app = service.app
        self.transport: Any = None
        self.client = ("", 0)
        self.greeted = False
        self._first = b""
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.client = (peer[0], peer[1])
        self.service.connections.add(self)
        if self.app.greeting_delay is None:
            self._greet()
        else:
            self._timer = asyncio.get_running_loop().call_later(
                self.app.greeting_delay, self._greet)

    def connection_lost(self, exc: Exception | None) -> None:
        self.service.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()

    def data_received(self, data: bytes) -> None:
        if self.greeted:
            if self.app.echo:
                self.transport.write(data)
            return
        self._first += data
        verdict = looks_like_http(self._first)
        if verdict is None:
            return
        if verdict and self.service.http is not None:
            self._to_http()
            return
        self._greet()
        if self.app.echo and not self.app.close_after_greeting:
            self.transport.write(self._first)

    def _greet(self) -> None:
        if self.greeted or self.transport.is_closing():
            return
        self.greeted = True
        if self._timer is not None:
            self._timer.cancel()
        greeting, line = self.app.greet(self.client, time.time())
        self.transport.write(greeting)
        if line is not None:
            self.service.sink.add(line)
        if self.app.close_after_greeting:
            self.transport.close()

    def _to_http(self) -> None:
        """The client spoke HTTP first: the connection becomes an HTTP connection."""
        assert self.service.http is not None
        if self._timer is not None:
            self._timer.cancel()
        self.service.connections.discard(self)
        http = self.service.http.protocol()
        self.transport.set_protocol(http)
        http.connection_made(self.transport)
        http.data_received(self._first)

    def close(self, abort: bool = False) -> None:
        self.transport.abort() if abort else self.transport.close()
