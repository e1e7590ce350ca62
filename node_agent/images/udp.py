"""UDP listeners: each datagram goes to the app's pure ``reply`` and its answer, if any,
back to the sender."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from node_agent.images.logsink import LogSink
from node_agent.images.model import DatagramApp

log = logging.getLogger(__name__)


class DatagramService(asyncio.DatagramProtocol):
    def __init__(self, app: DatagramApp, sink: LogSink) -> None:
        self.app = app
        self.sink = sink
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        reply, line = self.app.reply(data, (addr[0], addr[1]), time.time())
        if reply is not None:
            self.transport.sendto(reply, addr)
        if line is not None:
            self.sink.add(line)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error for an earlier reply (the client went away): nothing to do.
        log.debug("udp %s: %s", self.transport.get_extra_info("sockname"), exc)
