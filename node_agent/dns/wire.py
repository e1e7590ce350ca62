"""The hot path's view of a query: a few byte checks that find the question and make
the key of its cached answer, with no parser and no objects.

A query qualifies when it is a standard QUERY with one uncompressed question and either
nothing else or a single EDNS0 OPT record (version 0) ending the packet. Its key is the
lowercased name, the type and class, the header bits a reply copies (RD, CD), the EDNS
shape (present, DO, advertised size) and the transport: everything a cached reply
depends on except the ID and the case of the name, which ``splice`` copies from the
query. Anything else takes the full parse in ``messages``.
"""

from __future__ import annotations

UDP, TCP = b"U", b"T"  # the transport byte of a key
_PLAIN = b"\x00\x01\x00\x00\x00\x00\x00\x00"  # QD=1 AN=0 NS=0 AR=0
_WITH_OPT = b"\x00\x01\x00\x00\x00\x00\x00\x01"  # ... AR=1


def question_key(data: bytes, transport: bytes) -> tuple[bytes, int] | None:
    """(cache key, end of the question) for a plain query; None to take the slow path."""
    size = len(data)
    if size < 17 or data[2] & 0xF8:  # QR set or opcode other than QUERY
        return None
    counts = data[4:12]
    i = 12
    try:
        length = data[i]
        while length:
            if length > 63:
                return None  # a compression pointer or a reserved label type
            i += length + 1
            length = data[i]
    except IndexError:
        return None
    name_end = i + 1
    qend = name_end + 4
    if name_end - 12 > 255:
        return None
    flags = (data[2] & 0x01) | (data[3] & 0x10)  # RD, CD
    if counts == _PLAIN:
        if qend != size:
            return None
        return data[12:name_end].lower() + data[name_end:qend] + bytes((flags,)) + transport, qend
    if counts != _WITH_OPT or size < qend + 11:
        return None
    # OPT: root name, type 41, class = payload size, TTL = ext-rcode, version, DO|Z
    if data[qend] or data[qend + 1] or data[qend + 2] != 41 or data[qend + 6]:
        return None
    if qend + 11 + (data[qend + 9] << 8 | data[qend + 10]) != size:
        return None
    flags |= 0x40 | (data[qend + 7] & 0x80) >> 2  # EDNS present, DO
    return (data[12:name_end].lower() + data[name_end:qend] + bytes((flags,))
            + data[qend + 3:qend + 5] + transport), qend


def splice(data: bytes, head: bytes, tail: bytes, qend: int) -> bytes:
    """A cached reply for this query: its ID, and its question as asked (0x20 case)."""
    return data[:2] + head + data[12:qend] + tail


def split(reply: bytes, qend: int) -> tuple[bytes, bytes]:
    """The reusable parts of a reply: the header after the ID, and all after the question."""
    return reply[2:12], reply[qend:]


def header_error(data: bytes, rcode: int) -> bytes:
    """A reply with no sections, for a query too broken to echo its question."""
    return data[:2] + bytes((0x80 | (data[2] & 0x79), rcode & 0x0F)) + b"\x00" * 8


def tcp_messages(buffer: bytearray) -> list[bytes]:
    """The complete length-prefixed DNS messages at the start of a TCP stream's buffer
    (RFC 1035 4.2.2), removed from it; a partial one stays for the next read."""
    messages = []
    while len(buffer) >= 2:
        size = int.from_bytes(buffer[:2], "big")
        if len(buffer) < 2 + size:
            break
        messages.append(bytes(buffer[2:2 + size]))
        del buffer[:2 + size]
    return messages


def tcp_frame(message: bytes) -> bytes:
    """A DNS message as it goes on a TCP stream: its length first."""
    return len(message).to_bytes(2, "big") + message
