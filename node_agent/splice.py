"""Two TCP connections spliced together with Protocol callbacks only (no streams), built
for uvloop: kube-proxy's relay (kube_proxy/tcp.py) and the overlay tunnel
(overlay/server.py) are both one accepted connection and one dialed connection.

The accepted side holds what arrives before the dialed side is connected (uvloop starts
reading after ``connection_made`` even when it paused). Once joined, each side writes
what the other receives as it arrives (the received bytes object itself, no copy), and a
side whose write buffer fills pauses reading on the other (backpressure both ways).
Half-closes pass through (write_eof); a reset on one side resets the other."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import cast

_LINGER_RESET = struct.pack("ii", 1, 0)
WRITE_HIGH_WATER = 256 << 10  # bytes buffered towards one side before the other pauses


def reset(transport: asyncio.BaseTransport) -> None:
    """Closes with an RST rather than a FIN: "connection reset" for the client now."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        except OSError:
            pass  # already gone: aborting it is all that is left
    transport.abort()  # type: ignore[attr-defined]


class Side(asyncio.Protocol):
    """One side of a splice; ``peer`` is the other side's transport."""

    __slots__ = ("relay", "transport", "peer")

    def __init__(self, relay: Splice) -> None:
        self.relay = relay
        self.transport: asyncio.Transport | None = None
        self.peer: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = stream = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        stream.set_write_buffer_limits(WRITE_HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        self.peer.write(data)  # type: ignore[union-attr]

    def pause_writing(self) -> None:
        self.peer.pause_reading()  # type: ignore[union-attr]

    def resume_writing(self) -> None:
        self.peer.resume_reading()  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        return self.relay.eof(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.end(exc)


class Accepted(Side):
    """The accepted side: tells the splice it arrived, and holds what it sends before the
    dialed side is connected."""

    __slots__ = ("early", "early_eof")

    def __init__(self, relay: Splice) -> None:
        super().__init__(relay)
        self.early: list[bytes] = []
        self.early_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.relay.accepted()

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None:
            peer.write(data)
            return
        self.early.append(data)
        self.transport.pause_reading()  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        if self.peer is None:  # passed on once the dialed side is connected
            self.early_eof = True
            self.relay.eofs += 1
            return True
        return self.relay.eof(self)

    def connected(self, upstream: asyncio.Transport) -> None:
        self.peer = upstream
        if self.early:
            upstream.writelines(self.early)
            self.early = []
        if self.early_eof:
            upstream.write_eof()
        else:
            self.transport.resume_reading()  # type: ignore[union-attr]


class Dialed(Side):
    """The dialed side: joins the two as soon as it is connected, before its first bytes
    are delivered (uvloop reads before create_connection returns)."""

    __slots__ = ()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        relay = self.relay
        if relay.done:  # the accepted side left meanwhile, or the splice was aborted
            transport.abort()  # type: ignore[attr-defined]
            return
        relay.join(self)


class Splice:
    """One accepted connection and the connection dialed for it. Subclasses route in
    ``accepted`` and keep their books in ``ended``."""

    __slots__ = ("client", "upstream", "eofs", "done")

    def __init__(self, client: Accepted | None = None) -> None:
        self.client = client or Accepted(self)
        self.upstream: Side | None = None
        self.eofs = 0
        self.done = False

    def accepted(self) -> None:
        """The client connection is in (``self.client.transport``)."""

    def join(self, upstream: Dialed) -> None:
        """The dialed side is connected: bytes flow both ways from now on."""
        transport = upstream.transport
        assert transport is not None
        self.upstream = upstream
        upstream.peer = self.client.transport
        self.client.connected(transport)

    def eof(self, side: Side) -> bool:
        """A half-close passes to the other side; after both, the splice ends."""
        peer = side.peer
        if peer is not None and not peer.is_closing() and peer.can_write_eof():
            try:
                peer.write_eof()
            except RuntimeError:
                pass  # uvloop: its handle is closed, and its connection_lost ends the splice
        self.eofs += 1
        if self.eofs == 2:
            self.end(None)
        return True

    def end(self, exc: Exception | None) -> None:
        """Ends both sides: flushing after a clean end, resetting after an error."""
        if self.done:
            return
        self.done = True
        self.ended()
        for side in (self.client, self.upstream):
            if side is not None and side.transport is not None:
                if exc is None:
                    side.transport.close()
                else:
                    reset(side.transport)

    def ended(self) -> None:
        """Called once, as the splice ends."""

    def abort(self) -> None:
        """Resets both sides (the dialed side could not be reached, or is unwanted)."""
        self.end(ConnectionAbortedError())
