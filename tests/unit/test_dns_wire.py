"""The hot path's key: which queries qualify, and what their cached replies depend on."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import pytest

from node_agent.dns.wire import (TCP, UDP, header_error, question_key, splice, split,
                                  tcp_frame, tcp_messages)

NAME = b"\x03web\x07default\x03svc\x07cluster\x05local\x00"
A_IN = b"\x00\x01\x00\x01"
QEND = 12 + len(NAME) + 4


def query(qname: str = "Web.Default.svc.cluster.local", rdtype: str = "A", **kw: object) -> bytes:
    msg = dns.message.make_query(qname, rdtype, **kw)  # type: ignore[arg-type]
    msg.id = 0x1234
    return msg.to_wire()


def key(flags: int, edns: bytes = b"", transport: bytes = UDP) -> bytes:
    return NAME + A_IN + bytes((flags,)) + edns + transport


QUALIFY = [
    ("plain, RD", query(), UDP, key(0x01)),
    ("no RD", query(flags=0), UDP, key(0x00)),
    ("CD copied", query(flags=dns.flags.RD | dns.flags.CD), UDP, key(0x11)),
    ("AD does not matter", query(flags=dns.flags.RD | dns.flags.AD), UDP, key(0x01)),
    ("EDNS 1232", query(use_edns=0, payload=1232), UDP, key(0x41, b"\x04\xd0")),
    ("EDNS with DO", query(use_edns=0, payload=4096, want_dnssec=True), UDP,
     key(0x61, b"\x10\x00")),
    ("EDNS with a cookie option (as dig sends)",
     query(use_edns=0, payload=1232, options=[dns.edns.GenericOption(10, b"\x01" * 8)]), UDP,
     key(0x41, b"\x04\xd0")),
    ("TCP", query(), TCP, key(0x01, transport=TCP)),
]


@pytest.mark.parametrize("data,transport,expected", [c[1:] for c in QUALIFY],
                         ids=[c[0] for c in QUALIFY])
def test_keys(data: bytes, transport: bytes, expected: bytes) -> None:
    assert question_key(data, transport) == (expected, QEND)


PLAIN = query(flags=0)
HEADER = PLAIN[:12]
OPT = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"  # root, OPT, 1232, v0, no options

SLOW = [
    ("a response", bytes([0x12, 0x34, 0x80, 0x00]) + PLAIN[4:]),
    ("opcode NOTIFY", query(flags=0).replace(PLAIN[:4], b"\x12\x34\x20\x00", 1)),
    ("two questions", HEADER[:4] + b"\x00\x02" + HEADER[6:] + NAME + A_IN + NAME + A_IN),
    ("an answer record", HEADER[:6] + b"\x00\x01" + HEADER[8:] + NAME + A_IN),
    ("compressed question", HEADER + b"\x03web\xc0\x0c" + A_IN),
    ("trailing byte", PLAIN + b"\x00"),
    ("truncated question", PLAIN[:-2]),
    ("name without end", HEADER + b"\x03web"),
    ("reserved label type", HEADER + b"\x43web\x00" + A_IN),
    ("EDNS version 1", HEADER[:10] + b"\x00\x01" + NAME + A_IN + OPT[:6] + b"\x01" + OPT[7:]),
    ("OPT length past the end", HEADER[:10] + b"\x00\x01" + NAME + A_IN + OPT[:-1] + b"\x04"),
    ("additional record that is not OPT",
     HEADER[:10] + b"\x00\x01" + NAME + A_IN + b"\x00\x00\x01" + OPT[3:]),
    ("two additional records", HEADER[:10] + b"\x00\x02" + NAME + A_IN + OPT + OPT),
    ("too short", PLAIN[:16]),
    ("name over 255 bytes", HEADER + b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f"
     + b"c" * 63 + b"\x3f" + b"d" * 63 + b"\x01e\x00" + A_IN),
]


@pytest.mark.parametrize("data", [c[1] for c in SLOW], ids=[c[0] for c in SLOW])
def test_unusual_queries_take_the_slow_path(data: bytes) -> None:
    assert question_key(data, UDP) is None


def test_qtype_bytes_are_not_lowercased() -> None:
    https = query(rdtype="HTTPS")  # type 65 is b"\x00A": must not collide with type 97
    other = https[:-4] + b"\x00\x61\x00\x01"
    assert question_key(https, UDP)[0] != question_key(other, UDP)[0]  # type: ignore[index]


def test_splice_keeps_the_id_and_the_question_as_asked() -> None:
    asked = query()
    cached = bytes(b"\x00\x00\x85\x00" + asked[4:12]) + asked[12:QEND].lower() + b"ANSWER"
    head, tail = split(cached, QEND)
    reply = splice(asked, head, tail, QEND)
    assert reply[:2] == b"\x12\x34" and reply[2:4] == b"\x85\x00"
    assert reply[12:QEND] == asked[12:QEND] and b"Web" in reply and reply.endswith(b"ANSWER")


def test_header_error() -> None:
    data = bytes([0xAB, 0xCD, 0x29, 0x00]) + b"\xff" * 8  # opcode 5 (UPDATE), RD
    assert header_error(data, 1) == bytes([0xAB, 0xCD, 0xA9, 0x01]) + b"\x00" * 8


def test_tcp_messages_take_whole_frames_and_keep_a_partial_one() -> None:
    buffer = bytearray(tcp_frame(b"abc") + tcp_frame(b"") + b"\x00\x05ab")
    assert tcp_messages(buffer) == [b"abc", b""]
    assert buffer == bytearray(b"\x00\x05ab")
    buffer += b"cde"
    assert tcp_messages(buffer) == [b"abcde"] and buffer == bytearray()
