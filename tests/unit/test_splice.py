"""node_agent/splice.py's half-close bookkeeping: an EOF passes to the other side unless
that side is already closing (a write_eof there would raise inside the event loop)."""

from __future__ import annotations

import pytest

from node_agent.splice import Dialed, Splice


class FakeTransport:
    def __init__(self, closing: bool = False, closed: bool = False) -> None:
        self.closing = closing
        self.eof_written = False
        self.closed = closed

    def is_closing(self) -> bool:
        return self.closing

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self.closing or self.closed:  # uvloop raises for a closed handle
            raise RuntimeError("the handler is closed")
        self.eof_written = True

    def close(self) -> None:
        self.closed = self.closing = True


@pytest.mark.parametrize("closing, closed", [(False, False), (True, False), (False, True)],
                         ids=["open", "closing", "closed-not-closing"])
def test_eof_passes_to_an_open_peer_only(closing: bool, closed: bool) -> None:
    """uvloop closes handles at loop shutdown without marking them closing: their
    write_eof raises then, and the splice must not pass that into the event loop."""
    splice = Splice()
    upstream = Dialed(splice)
    client_transport, upstream_transport = FakeTransport(), FakeTransport(closing, closed)
    splice.client.transport = client_transport  # type: ignore[assignment]
    upstream.transport = upstream_transport  # type: ignore[assignment]
    splice.upstream = upstream
    splice.client.peer = upstream_transport  # type: ignore[assignment]
    upstream.peer = client_transport  # type: ignore[assignment]
    assert splice.eof(splice.client) is True
    assert upstream_transport.eof_written is not (closing or closed)
    assert splice.eof(upstream) is True  # both sides done: the splice ends, both closed
    assert client_transport.eof_written and splice.done
    assert client_transport.closed and upstream_transport.closed
