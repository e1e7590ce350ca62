"""HTTP/2 to clients (ALPN "h2"), as a gateway onto the HTTP/1.1 handler.

The HTTPS listener's protocol factory (``TlsListener``) gives each connection a
``_Dispatch`` that, once the handshake is done, hands the transport to a
``proxy.TlsClientConnection`` (ALPN chose http/1.1, or the client offered none) or to an
``Http2Connection``. There each stream gets a ClientConnection of its own, fed the
HTTP/1.1 request that the stream's HEADERS and DATA stand for (``request_head``) through a
``StreamGateway``: an in-memory transport reporting the real client's addresses and TLS
object, so routing, nginx's pages, X-Forwarded-* and the access log are those of HTTP/1.1.
The HTTP/1.1 response the handler writes back is parsed and sent as HEADERS
(``response_headers``) and DATA within the client's flow-control windows; DATA waiting for
a window pauses the handler's backend reads, and request DATA the backend does not take
is not acknowledged, so the client waits. Backends stay HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from typing import Any

import httptools
from h2 import events as h2events
from h2.config import H2Configuration
from h2.connection import ConnectionState, H2Connection
from h2.errors import ErrorCodes
from h2.exceptions import ProtocolError, StreamClosedError
from h2.settings import SettingCodes, Settings

from ingress.h2_messages import FrameGuard, Malformed, Request, request_head, response_headers
from ingress.proxy import ClientConnection, DecryptedReads, Proxy, TlsClientConnection

log = logging.getLogger(__name__)

MAX_CONCURRENT_STREAMS = 128  # nginx's http2_max_concurrent_streams
MAX_HEADER_LIST_SIZE = 64 * 1024  # the handler answers 400 past 4x8k; this bounds HPACK
# The connection's receive window covers every stream's (64 KiB each), so a stream whose
# backend stalls the upload never starves the others.
CONNECTION_WINDOW = 16 * 1024 * 1024
HIGH_WATER = 256 * 1024  # response bytes a stream holds before the backend's reads pause
LOW_WATER = 64 * 1024  # ... and resume

_H2_CONFIG = H2Configuration(client_side=False, header_encoding=None,
                             normalize_inbound_headers=False)  # cookies: request_head
class _HeadOnly(Exception):
    """Raised by the response parser's head callback for a HEAD request: the message ends
    with its head whatever its Content-Length says (httptools cannot be told)."""


class StreamGateway(asyncio.Transport):
    """One stream: the transport of its HTTP/1.1 handler, and the parser of what the
    handler answers."""

    def __init__(self, conn: Http2Connection, stream_id: int, request: Request) -> None:
        super().__init__()
        self.conn = conn
        self.h2 = conn.h2
        self.stream_id = stream_id
        self.head_only = request.method == b"HEAD"
        self.chunked = request.chunked
        self.handler = ClientConnection(conn.listener.proxy, b"https", conn.listener.port)
        self.parser = httptools.HttpResponseParser(self)
        self.fields: list[tuple[bytes, bytes]] = []
        self.status = 0  # of the final response, once its head is parsed
        self.head: list[tuple[bytes, bytes]] | None = None  # HEADERS not sent yet
        self.close_delimited = False  # the handler's body ends when it closes
        self.outbox: deque[bytes] = deque()  # DATA waiting for a window
        self.buffered = 0
        self.message_done = False  # the handler's response is complete
        self.response_ended = False  # END_STREAM sent
        self.request_ended = False  # END_STREAM received
        self.handler_closed = False
        self.finished = False
        self.reading_paused = False
        self.unacked = 0  # request DATA held back from the client's window while paused
        self.pressed = False  # the handler was told to pause writing

    # --- fed by the connection --------------------------------------------------------

    def start(self, head: bytes) -> None:
        self.handler.connection_made(self)
        self.handler.data_received(head)

    def feed(self, data: bytes, flow_controlled: int) -> None:
        """Request DATA. It is handed on even while the handler paused reading (it is
        bounded by the stream's window); only the window update waits for resume."""
        if data and not self.handler_closed:
            self.handler.data_received(b"%x\r\n%b\r\n" % (len(data), data) if self.chunked
                                       else data)
        if self.reading_paused and not self.finished:
            self.unacked += flow_controlled
        else:
            self.conn.acknowledge(flow_controlled, self.stream_id)

    def end_request(self) -> None:
        self.request_ended = True
        if self.chunked and not self.handler_closed:
            self.handler.data_received(b"0\r\n\r\n")
        self._maybe_done()

    def reset_by_peer(self) -> None:
        self._end(None)

    def lost(self) -> None:
        """The client connection is gone."""
        self.finished = True
        if not self.handler_closed:
            self.handler_closed = True
            self.handler.connection_lost(None)

    # --- the transport the handler sees -----------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.conn.transport.get_extra_info(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.finished or self.handler_closed:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as e:
            if not isinstance(e.__context__, _HeadOnly):
                log.error("ingress: HTTP/2 response relay failed", exc_info=e.__context__)
                self._end(ErrorCodes.INTERNAL_ERROR)
                return
            self.message_done = True
        except httptools.HttpParserError as e:
            log.error("ingress: the HTTP/1.1 handler wrote a bad response: %r", e)
            self._end(ErrorCodes.INTERNAL_ERROR)
            return
        self.send_pending()
        self.conn.flush()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(list_of_data))

    def close(self) -> None:
        """The handler is done: a body delimited by the close ends here; a response cut
        short resets the stream."""
        if self.handler_closed:
            return
        self.handler_closed = True
        asyncio.get_running_loop().call_soon(self.handler.connection_lost, None)
        if self.finished:
            return
        if not self.message_done:
            if not (self.status and self.close_delimited):
                self._end(ErrorCodes.INTERNAL_ERROR)
                return
            self.message_done = True
            self.send_pending()
        self._maybe_done()
        self.conn.flush()

    def abort(self) -> None:
        if not self.handler_closed:
            self.handler_closed = True
            asyncio.get_running_loop().call_soon(self.handler.connection_lost, None)
        self._end(None if self.response_ended else ErrorCodes.INTERNAL_ERROR)

    def is_closing(self) -> bool:
        return self.handler_closed or self.finished

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False
        if self.unacked and not self.finished:
            self.conn.acknowledge(self.unacked, self.stream_id)
            self.unacked = 0
            self.conn.flush()

    def is_reading(self) -> bool:
        return not self.reading_paused

    # --- httptools callbacks (the handler's HTTP/1.1 response) ------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        fields, self.fields = self.fields, []
        if status < 200:  # 100 Continue, 103 Early Hints: an informational HEADERS
            self.h2.send_headers(self.stream_id, response_headers(status, fields))
            return
        self.status = status
        self.head = response_headers(status, fields)
        self.close_delimited = not any(name.lower() in (b"content-length",
                                                        b"transfer-encoding")
                                       for name, _ in fields)
        if self.head_only:
            raise _HeadOnly()

    def on_body(self, body: bytes) -> None:
        self.outbox.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        if self.status:  # not an informational response
            self.message_done = True

    # --- to the client ------------------------------------------------------------------

    def send_pending(self) -> None:
        """The waiting HEADERS, as much DATA as the windows take, END_STREAM after the
        last byte; then pauses or resumes the handler's backend reads."""
        if self.finished or self.conn.closed:
            return
        try:
            if self.head is not None:
                head, self.head = self.head, None
                end = self.message_done and not self.buffered
                self.h2.send_headers(self.stream_id, head, end_stream=end)
                self.response_ended = end
            if not self.conn.write_paused:
                self._send_data()
        except ProtocolError as e:  # a field HTTP/2 cannot carry, a stream gone
            log.warning("ingress: HTTP/2 stream %d: %s", self.stream_id, e)
            self._end(ErrorCodes.INTERNAL_ERROR)
            return
        if self.response_ended:
            self._maybe_done()
        elif self.conn.write_paused or self.buffered > HIGH_WATER:
            self.pressed = True
            self.handler.pause_writing()  # again: the backend may have been attached since
        elif self.pressed and self.buffered <= LOW_WATER:
            self.pressed = False
            self.handler.resume_writing()

    def _send_data(self) -> None:
        h2, outbox = self.h2, self.outbox
        while outbox:
            room = min(h2.local_flow_control_window(self.stream_id),
                       h2.max_outbound_frame_size)
            if room <= 0:
                return  # WindowUpdated calls again
            chunk = outbox[0]
            if len(chunk) > room:
                outbox[0], chunk = chunk[room:], chunk[:room]
            else:
                outbox.popleft()
            self.buffered -= len(chunk)
            end = self.message_done and not outbox
            h2.send_data(self.stream_id, chunk, end_stream=end)
            self.response_ended = end
        if self.message_done and not self.response_ended and self.head is None:
            h2.end_stream(self.stream_id)  # the body ended empty after the HEADERS went
            self.response_ended = True

    def _maybe_done(self) -> None:
        """The response went and the request ended, or its handler stopped reading it
        (413, ...): the stream is over. What is left of a request body is acknowledged
        and dropped as it comes, as recent nginx does, rather than RST_STREAM(NO_ERROR)
        (RFC 9113 8.1): curl 7.88, still uploading, reports that as an error and drops
        the response it was sent."""
        if self.response_ended and (self.request_ended or self.handler_closed):
            self._end(None)

    def _end(self, error: ErrorCodes | None) -> None:
        """Forgets the stream (reset with ``error`` unless None) and closes its handler."""
        if self.finished:
            return
        self.finished = True
        if error is not None and not self.conn.closed:
            try:
                self.h2.reset_stream(self.stream_id, error)
            except StreamClosedError:
                pass  # both sides had ended it already
        if self.unacked and not self.conn.closed:
            self.conn.acknowledge(self.unacked, self.stream_id)  # the connection's share
        self.unacked = 0
        if not self.handler_closed:
            self.handler_closed = True
            asyncio.get_running_loop().call_soon(self.handler.connection_lost, None)
        self.conn.forget(self)


class Http2Connection(DecryptedReads):
    """One HTTP/2 client connection: frames in and out through ``h2``, a StreamGateway per
    stream. GOAWAY when idle past keepalive_timeout, after keepalive_requests streams
    (once they are answered), on shutdown, and for a client that breaks the protocol."""

    def __init__(self, listener: TlsListener) -> None:
        self.listener = listener
        self.config = listener.proxy.config
        self.h2 = H2Connection(_H2_CONFIG)
        self.guard = FrameGuard(self.h2.max_inbound_frame_size)
        self.transport: Any = None
        self.streams: dict[int, StreamGateway] = {}
        self.requests = 0
        self.draining = False  # keepalive_requests reached: GOAWAY when the last stream ends
        self.write_paused = False
        self.closed = False
        self._batching = False  # inside data_received: one write at its end
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.listener.connections.add(self)
        self.h2.local_settings = Settings(client=False, initial_values={
            SettingCodes.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
            SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST_SIZE})
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(CONNECTION_WINDOW
                                              - self.h2.inbound_flow_control_window)
        self.flush()
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.listener.connections.discard(self)
        if self._idle is not None:
            self._idle.cancel()
        streams = list(self.streams.values())
        self.streams.clear()
        for stream in streams:
            stream.lost()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if not self.guard.admits(data):
            log.info("ingress: HTTP/2 client %s sent an overlong frame",
                     self.transport.get_extra_info("peername"))
            self.goaway(ErrorCodes.FRAME_SIZE_ERROR)
            return
        self._batching = True
        try:
            for event in self.h2.receive_data(data):
                self._handle(event)
                if self.closed:
                    return
        except ProtocolError as e:
            log.info("ingress: HTTP/2 client %s broke the protocol: %s",
                     self.transport.get_extra_info("peername"), e)
            self._batching = False
            # h2 has queued a GOAWAY saying why, except for a bad preface
            closed = self.h2.state_machine.state is ConnectionState.CLOSED
            self.goaway(None if closed else ErrorCodes.PROTOCOL_ERROR)
            return
        finally:
            self._batching = False
        self.flush()

    def pause_writing(self) -> None:
        self.write_paused = True
        for stream in list(self.streams.values()):
            stream.send_pending()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._send_all()
        self.flush()

    # --- events -------------------------------------------------------------------------

    def _handle(self, event: h2events.Event) -> None:
        if isinstance(event, h2events.RequestReceived):
            self._open(event)
        elif isinstance(event, h2events.DataReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.feed(event.data, event.flow_controlled_length)
            else:  # the rest of a body nobody reads (see StreamGateway._maybe_done)
                self.acknowledge(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2events.StreamEnded):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.end_request()
        elif isinstance(event, h2events.StreamReset):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.reset_by_peer()
        elif isinstance(event, h2events.WindowUpdated):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.send_pending()
            elif event.stream_id == 0:
                self._send_all()
        elif isinstance(event, h2events.RemoteSettingsChanged):
            if SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
                self._send_all()
        elif isinstance(event, h2events.ConnectionTerminated):
            self.goaway(None)  # the client's GOAWAY: nothing more can be sent

    def _open(self, event: h2events.RequestReceived) -> None:
        stream_id = event.stream_id
        assert stream_id is not None and event.headers is not None
        if self.draining:
            self.h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)  # retried elsewhere
            return
        try:
            request = request_head(event.headers, body=event.stream_ended is None)
        except Malformed as e:
            log.info("ingress: HTTP/2 stream %d reset: %s", stream_id, e)
            self.h2.reset_stream(stream_id, ErrorCodes.PROTOCOL_ERROR)
            return
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        self.requests += 1
        self.draining = self.requests >= self.config.keepalive_requests
        stream = self.streams[stream_id] = StreamGateway(self, stream_id, request)
        stream.start(request.head)

    def _send_all(self) -> None:
        for stream in list(self.streams.values()):
            stream.send_pending()

    # --- what the streams call ----------------------------------------------------------

    def acknowledge(self, size: int, stream_id: int) -> None:
        """Hands ``size`` bytes of window back to the client (h2 batches the updates)."""
        if size and not self.closed:
            self.h2.acknowledge_received_data(size, stream_id)

    def forget(self, stream: StreamGateway) -> None:
        self.streams.pop(stream.stream_id, None)
        if not self.streams and not self.closed:
            if self.draining:
                self.goaway(ErrorCodes.NO_ERROR)
            else:
                self._arm_idle()

    def flush(self) -> None:
        if not self._batching and not self.closed:
            data = self.h2.data_to_send()
            if data:
                self.transport.write(data)

    def goaway(self, error: ErrorCodes | None) -> None:
        """Says GOAWAY (unless ``error`` is None: h2 has queued one already, or the
        client said it) and closes the connection."""
        if self.closed:
            return
        if error is not None:
            self.h2.close_connection(error)
        data = self.h2.data_to_send()
        self.closed = True
        if data:
            self.transport.write(data)
        self.transport.close()

    def _arm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(
            self.config.keepalive_timeout, self.goaway, ErrorCodes.NO_ERROR)


class _Dispatch(asyncio.Protocol):
    """Stands in until the handshake is done, then hands over to what ALPN chose."""

    def __init__(self, listener: TlsListener) -> None:
        self.listener = listener

    def connection_made(self, transport: Any) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        listener = self.listener
        protocol: asyncio.BaseProtocol = (
            Http2Connection(listener) if chosen == "h2" else
            TlsClientConnection(listener.proxy, b"https", listener.port))
        transport.set_protocol(protocol)
        protocol.connection_made(transport)


class TlsListener:
    """The HTTPS listener's protocol factory: HTTP/2 where the client's ALPN chose "h2"
    (only offered when ``http2``), HTTP/1.1 otherwise."""

    def __init__(self, proxy: Proxy, port: int, *, http2: bool = True) -> None:
        self.proxy = proxy
        self.port = port
        self.http2 = http2
        self.connections: set[Http2Connection] = set()

    def __call__(self) -> asyncio.BaseProtocol:
        if not self.http2:
            return TlsClientConnection(self.proxy, b"https", self.port)
        return _Dispatch(self)

    def close_all(self) -> None:
        """GOAWAY to every HTTP/2 connection, and closes it (HTTP/1.1 ones are the
        proxy's)."""
        for conn in list(self.connections):
            conn.goaway(ErrorCodes.NO_ERROR)
