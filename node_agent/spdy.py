"""SPDY/3.1 framing, the session layer kubectl port-forward speaks (moby/spdystream on
the client side), tunneled inside WebSocket binary messages.

A ``Codec`` is one connection's framing state: bytes in -> frames (``feed``), frames ->
bytes (``encode``). Header blocks are zlib-compressed with one stream per direction,
primed with the SPDY/3 dictionary, so the codec must see every frame in order. No I/O."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

VERSION = 3
MAX_LENGTH = (1 << 24) - 1  # a frame's 24-bit length field
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
_CONTROL = 0x8000
_STREAM_MASK = 0x7FFFFFFF


class FrameType(IntEnum):
    SYN_STREAM = 1
    SYN_REPLY = 2
    RST_STREAM = 3
    SETTINGS = 4
    PING = 6
    GOAWAY = 7
    HEADERS = 8
    WINDOW_UPDATE = 9


class RstStatus(IntEnum):
    PROTOCOL_ERROR = 1
    INVALID_STREAM = 2
    REFUSED_STREAM = 3
    UNSUPPORTED_VERSION = 4
    CANCEL = 5
    INTERNAL_ERROR = 6
    FLOW_CONTROL_ERROR = 7
    STREAM_IN_USE = 8
    STREAM_ALREADY_CLOSED = 9
    INVALID_CREDENTIALS = 10
    FRAME_TOO_LARGE = 11


class SpdyError(ValueError):
    """The peer sent something that is not SPDY/3: the connection cannot go on."""


# The SPDY/3 header dictionary (draft 3, section 2.6.10.1): length-prefixed header names
# and values, then a run of common value fragments.
_DICTIONARY_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type",
    "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
    "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range",
    "referer", "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade",
    "user-agent", "vary", "via", "warning", "www-authenticate", "method", "get", "status",
    "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin",
)
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417"
    "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
    "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
    "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
    "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
    "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,"
    "publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICTIONARY_WORDS) \
    + _DICTIONARY_TAIL.encode()


# --- frames ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Data:
    stream_id: int
    data: bytes = b""
    fin: bool = False


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: Mapping[str, str] = field(default_factory=dict)
    associated_to: int = 0
    priority: int = 0
    slot: int = 0
    fin: bool = False
    unidirectional: bool = False


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: Mapping[str, str] = field(default_factory=dict)
    fin: bool = False


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int = RstStatus.CANCEL


@dataclass(frozen=True)
class Settings:
    entries: tuple[tuple[int, int, int], ...] = ()  # (flags, id, value)
    clear: bool = False


@dataclass(frozen=True)
class Ping:
    id: int


@dataclass(frozen=True)
class GoAway:
    last_good_stream_id: int = 0
    status: int = 0


@dataclass(frozen=True)
class Headers:
    stream_id: int
    headers: Mapping[str, str] = field(default_factory=dict)
    fin: bool = False


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int
    delta: int


Frame = Data | SynStream | SynReply | RstStream | Settings | Ping | GoAway | Headers | WindowUpdate


# --- header blocks ---------------------------------------------------------------------
def encode_header_block(headers: Mapping[str, str]) -> bytes:
    """The uncompressed name/value block. Names go out lowercased, as SPDY/3 requires;
    several values of one name are joined with NUL by the caller."""
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        for piece in (name.lower().encode(), value.encode()):
            out.append(struct.pack(">I", len(piece)) + piece)
    return b"".join(out)


def decode_header_block(block: bytes) -> dict[str, str]:
    def take(at: int, n: int) -> tuple[bytes, int]:
        if at + n > len(block):
            raise SpdyError("truncated header block")
        return block[at:at + n], at + n

    raw, at = take(0, 4)
    (count,) = struct.unpack(">I", raw)
    headers: dict[str, str] = {}
    for _ in range(count):
        pieces = []
        for _what in ("name", "value"):
            raw, at = take(at, 4)
            piece, at = take(at, struct.unpack(">I", raw)[0])
            pieces.append(piece.decode("utf-8", errors="replace"))
        name, value = pieces
        if not name or name != name.lower():
            raise SpdyError(f"header name {name!r} is empty or not lowercase")
        if name in headers:
            raise SpdyError(f"header {name!r} appears twice")
        headers[name] = value
    if at != len(block):
        raise SpdyError("trailing bytes after the header block")
    return headers


# --- codec -------------------------------------------------------------------------------
class Codec:
    """One side of one SPDY connection: parses the peer's byte stream into frames and
    serializes ours. Keep one instance per connection; never share it."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                         DICTIONARY)
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)

    # bytes -> frames
    def feed(self, data: bytes) -> list[Frame]:
        """Every complete frame in the stream so far; keeps a partial one for later.
        Unknown control frame types are skipped, as SPDY/3 asks."""
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            length = int.from_bytes(self._buffer[5:8], "big")
            if len(self._buffer) < 8 + length:
                break
            head = bytes(self._buffer[:8])
            payload = bytes(self._buffer[8:8 + length])
            del self._buffer[:8 + length]
            frame = self._parse(head, payload)
            if frame is not None:
                frames.append(frame)
        return frames

    def _parse(self, head: bytes, payload: bytes) -> Frame | None:
        first, flags = struct.unpack(">I", head[:4])[0], head[4]
        if not first & 0x80000000:
            stream_id = first & _STREAM_MASK
            if stream_id == 0:
                raise SpdyError("DATA frame on stream 0")
            return Data(stream_id, payload, bool(flags & FLAG_FIN))
        version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise SpdyError(f"unsupported SPDY version {version}")
        fin = bool(flags & FLAG_FIN)
        if kind == FrameType.SYN_STREAM:
            stream_id, assoc, prio, slot = self._fields(">IIBB", payload)
            return SynStream(stream_id & _STREAM_MASK, self._headers(payload[10:]),
                             assoc & _STREAM_MASK, prio >> 5, slot, fin,
                             bool(flags & FLAG_UNIDIRECTIONAL))
        if kind == FrameType.SYN_REPLY:
            (stream_id,) = self._fields(">I", payload)
            return SynReply(stream_id & _STREAM_MASK, self._headers(payload[4:]), fin)
        if kind == FrameType.HEADERS:
            (stream_id,) = self._fields(">I", payload)
            return Headers(stream_id & _STREAM_MASK, self._headers(payload[4:]), fin)
        if kind == FrameType.RST_STREAM:
            stream_id, status = self._fields(">II", payload, exact=True)
            return RstStream(stream_id & _STREAM_MASK, status)
        if kind == FrameType.SETTINGS:
            (count,) = self._fields(">I", payload)
            if len(payload) != 4 + 8 * count:
                raise SpdyError("SETTINGS length does not match its entry count")
            entries = tuple((word >> 24, word & 0xFFFFFF, value) for word, value in
                            struct.iter_unpack(">II", payload[4:]))
            return Settings(entries, bool(flags & 0x01))
        if kind == FrameType.PING:
            (ping_id,) = self._fields(">I", payload, exact=True)
            return Ping(ping_id)
        if kind == FrameType.GOAWAY:
            last, status = self._fields(">II", payload, exact=True)
            return GoAway(last & _STREAM_MASK, status)
        if kind == FrameType.WINDOW_UPDATE:
            stream_id, delta = self._fields(">II", payload, exact=True)
            return WindowUpdate(stream_id & _STREAM_MASK, delta & _STREAM_MASK)
        return None

    @staticmethod
    def _fields(fmt: str, payload: bytes, exact: bool = False) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        if len(payload) < size or (exact and len(payload) != size):
            raise SpdyError(f"control frame payload of {len(payload)} bytes is malformed")
        return struct.unpack(fmt, payload[:size])

    def _headers(self, compressed: bytes) -> dict[str, str]:
        try:
            block = self._inflate.decompress(compressed)
        except zlib.error as e:
            raise SpdyError(f"header block does not inflate: {e}") from e
        return decode_header_block(block)

    # frames -> bytes
    def encode(self, frame: Frame) -> bytes:
        if isinstance(frame, Data):
            if len(frame.data) > MAX_LENGTH:
                raise ValueError("DATA payload exceeds the 24-bit length field")
            return struct.pack(">IB", frame.stream_id & _STREAM_MASK, FLAG_FIN if frame.fin
                               else 0) + len(frame.data).to_bytes(3, "big") + frame.data
        if isinstance(frame, SynStream):
            flags = (FLAG_FIN if frame.fin else 0) | \
                (FLAG_UNIDIRECTIONAL if frame.unidirectional else 0)
            return self._control(FrameType.SYN_STREAM, flags, struct.pack(
                ">IIBB", frame.stream_id, frame.associated_to, (frame.priority & 7) << 5,
                frame.slot) + self._compress(frame.headers))
        if isinstance(frame, SynReply):
            return self._control(FrameType.SYN_REPLY, FLAG_FIN if frame.fin else 0,
                                 struct.pack(">I", frame.stream_id) +
                                 self._compress(frame.headers))
        if isinstance(frame, Headers):
            return self._control(FrameType.HEADERS, FLAG_FIN if frame.fin else 0,
                                 struct.pack(">I", frame.stream_id) +
                                 self._compress(frame.headers))
        if isinstance(frame, RstStream):
            return self._control(FrameType.RST_STREAM, 0,
                                 struct.pack(">II", frame.stream_id, frame.status))
        if isinstance(frame, Settings):
            body = struct.pack(">I", len(frame.entries)) + b"".join(
                struct.pack(">II", (flags << 24) | sid, value)
                for flags, sid, value in frame.entries)
            return self._control(FrameType.SETTINGS, 0x01 if frame.clear else 0, body)
        if isinstance(frame, Ping):
            return self._control(FrameType.PING, 0, struct.pack(">I", frame.id))
        if isinstance(frame, GoAway):
            return self._control(FrameType.GOAWAY, 0,
                                 struct.pack(">II", frame.last_good_stream_id, frame.status))
        return self._control(FrameType.WINDOW_UPDATE, 0,
                             struct.pack(">II", frame.stream_id, frame.delta))

    @staticmethod
    def _control(kind: FrameType, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHB", _CONTROL | VERSION, kind, flags) + \
            len(payload).to_bytes(3, "big") + payload

    def _compress(self, headers: Mapping[str, str]) -> bytes:
        block = encode_header_block(headers)
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
