"""SPDY/3.1 framing: exact wire bytes, round trips through a peer codec, zlib header
blocks sharing one stream per direction, streams split anywhere, malformed input; and the
port-forward stream headers and channel-protocol ports the kubelet accepts."""

from __future__ import annotations

import struct
import zlib

import pytest

from node_agent import spdy
from node_agent.portforward import parse_ports, stream_headers

# The first SYN_STREAM kubectl v1.32 sent in a port-forward session (moby/spdystream's
# framer, zlib with its own copy of the SPDY/3 dictionary): the error stream of request 0.
KUBECTL_SYN_STREAM = bytes.fromhex(
    "800300010000003e0000000100000000000078f9e3c6a7c202253a703a2b294a4dcc851625aca9a0"
    "808614cb45e01c60616061c0c0c0c0590489c64c50f2663400000000ffff")


@pytest.mark.parametrize(("frame", "wire"), [
    (spdy.Ping(1), "80030006 00000004 00000001"),
    (spdy.Data(1, b"hi"), "00000001 00000002 6869"),
    (spdy.Data(3, fin=True), "00000003 01000000"),
    (spdy.RstStream(5, spdy.RstStatus.CANCEL), "80030003 00000008 00000005 00000005"),
    (spdy.GoAway(7, 0), "80030007 00000008 00000007 00000000"),
    (spdy.WindowUpdate(1, 65536), "80030009 00000008 00000001 00010000"),
    (spdy.Settings(((0, 7, 65536),)), "80030004 0000000c 00000001 00000007 00010000"),
], ids=["ping", "data", "data-fin-empty", "rst-cancel", "goaway", "window-update",
        "settings-initial-window"])
def test_wire_bytes(frame: spdy.Frame, wire: str) -> None:
    encoded = spdy.Codec().encode(frame)
    assert encoded == bytes.fromhex(wire.replace(" ", ""))
    assert spdy.Codec().feed(encoded) == [frame]


ROUND_TRIPS = [
    spdy.SynStream(1, {"streamtype": "error", "port": "80", "requestid": "0"}),
    spdy.SynStream(3, {"streamtype": "data", "port": "80"}, priority=3, fin=True),
    spdy.SynStream(5, {}, associated_to=1, unidirectional=True),
    spdy.SynReply(1),
    spdy.SynReply(1, {"status": "200 OK"}, fin=True),
    spdy.Headers(3, {"x": "a\x00b"}),
    spdy.Data(1, b"\x00" * 70000),
]


@pytest.mark.parametrize("frame", ROUND_TRIPS, ids=["syn-stream", "syn-stream-fin-prio",
                                                    "syn-stream-unidirectional", "syn-reply",
                                                    "syn-reply-headers-fin",
                                                    "headers-multivalue", "data-large"])
def test_round_trip(frame: spdy.Frame) -> None:
    assert spdy.Codec().feed(spdy.Codec().encode(frame)) == [frame]


def test_header_blocks_share_one_zlib_stream_per_direction() -> None:
    sender, receiver = spdy.Codec(), spdy.Codec()
    frames = [spdy.SynStream(i, {"port": "80", "streamtype": kind, "requestid": str(i // 4)})
              for i, kind in zip(range(1, 12, 2), ["error", "data"] * 3)]
    wire = b"".join(sender.encode(f) for f in frames)
    assert receiver.feed(wire) == frames
    later = spdy.SynReply(13, {"a": "b"})
    # A fresh receiver lacks the shared history, so only the original one can inflate it.
    assert receiver.feed(sender.encode(later)) == [later]
    with pytest.raises(spdy.SpdyError):
        spdy.Codec().feed(sender.encode(spdy.SynReply(15, {"a": "b"})))


@pytest.mark.parametrize("cut", [1, 3, 8, 9, 20, 40], ids=lambda c: f"chunk-{c}")
def test_feed_reassembles_frames_split_anywhere(cut: int) -> None:
    sender = spdy.Codec()
    frames: list[spdy.Frame] = [spdy.SynStream(1, {"port": "8080"}), spdy.Data(1, b"hello"),
                                spdy.Ping(9), spdy.Data(1, fin=True)]
    wire = b"".join(sender.encode(f) for f in frames)
    receiver, got = spdy.Codec(), []
    for at in range(0, len(wire), cut):
        got += receiver.feed(wire[at:at + cut])
    assert got == frames


def test_dictionary_is_the_spdy3_one() -> None:
    assert len(spdy.DICTIONARY) == 1423
    # The zlib header of every SPDY/3 peer's first block names the dictionary by Adler-32.
    assert zlib.adler32(spdy.DICTIONARY) == int.from_bytes(KUBECTL_SYN_STREAM[20:24], "big")
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_decodes_kubectl_syn_stream() -> None:
    frames = spdy.Codec().feed(KUBECTL_SYN_STREAM)
    assert frames == [spdy.SynStream(1, {"streamtype": "error", "port": "8080",
                                         "requestid": "0"})]


def _control(kind: int, payload: bytes, version: int = 3, flags: int = 0) -> bytes:
    return struct.pack(">HHB", 0x8000 | version, kind, flags) + \
        len(payload).to_bytes(3, "big") + payload


@pytest.mark.parametrize(("wire", "error"), [
    (_control(6, b"\x00\x00\x00\x01", version=2), "unsupported SPDY version 2"),
    (b"\x00\x00\x00\x00\x00\x00\x00\x01x", "DATA frame on stream 0"),
    (_control(6, b"\x00\x00\x01"), "malformed"),
    (_control(3, b"\x00\x00\x00\x01"), "malformed"),
    (_control(4, b"\x00\x00\x00\x02" + b"\x00" * 8), "entry count"),
    (_control(2, b"\x00\x00\x00\x01" + b"not zlib"), "does not inflate"),
], ids=["version-2", "data-stream-0", "short-ping", "short-rst", "settings-count",
        "bad-zlib"])
def test_malformed_frames(wire: bytes, error: str) -> None:
    with pytest.raises(spdy.SpdyError, match=error):
        spdy.Codec().feed(wire)


def test_unknown_control_frames_are_skipped() -> None:
    wire = _control(10, b"\x00" * 6) + spdy.Codec().encode(spdy.Ping(3))
    assert spdy.Codec().feed(wire) == [spdy.Ping(3)]


def _block(*pairs: tuple[bytes, bytes]) -> bytes:
    out = struct.pack(">I", len(pairs))
    for name, value in pairs:
        out += struct.pack(">I", len(name)) + name + struct.pack(">I", len(value)) + value
    return out


@pytest.mark.parametrize(("block", "expected"), [
    (_block(), {}),
    (_block((b"port", b"80")), {"port": "80"}),
    (_block((b"a", b"x\x00y"), (b"b", b"")), {"a": "x\x00y", "b": ""}),
], ids=["empty", "one", "multi-value-and-empty"])
def test_header_block_decode(block: bytes, expected: dict[str, str]) -> None:
    assert spdy.decode_header_block(block) == expected
    assert spdy.encode_header_block(expected) == block


@pytest.mark.parametrize(("block", "error"), [
    (_block((b"Port", b"80")), "not lowercase"),
    (_block((b"", b"80")), "empty"),
    (_block((b"a", b"1"), (b"a", b"2")), "twice"),
    (_block((b"a", b"1"))[:-1], "truncated"),
    (_block() + b"x", "trailing"),
], ids=["uppercase", "empty-name", "duplicate", "truncated", "trailing"])
def test_header_block_errors(block: bytes, error: str) -> None:
    with pytest.raises(spdy.SpdyError, match=error):
        spdy.decode_header_block(block)


def test_header_names_go_out_lowercase() -> None:
    block = zlib.decompressobj(zdict=spdy.DICTIONARY).decompress(
        spdy.Codec().encode(spdy.SynReply(1, {"StreamType": "data"}))[12:])
    assert spdy.decode_header_block(block) == {"streamtype": "data"}


@pytest.mark.parametrize(("headers", "expected"), [
    ({"streamtype": "error", "port": "80", "requestid": "0"}, ("error", 80, "0")),
    ({"streamtype": "data", "port": "65535", "requestid": "7"}, ("data", 65535, "7")),
    ({"streamtype": "data", "port": "8080"}, ("data", 8080, "")),
    ({"streamtype": "data"}, '"port" header is required'),
    ({"streamtype": "data", "port": "http"}, 'unable to parse "http" as a port'),
    ({"streamtype": "data", "port": "0"}, 'unable to parse "0" as a port'),
    ({"port": "80"}, '"streamType" header is required'),
    ({"port": "80", "streamtype": "stdin"}, 'invalid stream type "stdin"'),
], ids=["error", "data-max-port", "no-request-id", "no-port", "port-name", "port-0",
        "no-type", "bad-type"])
def test_portforward_stream_headers(headers: dict[str, str],
                                    expected: tuple[str, int, str] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            stream_headers(headers)
    else:
        assert stream_headers(headers) == expected


@pytest.mark.parametrize(("values", "expected"), [
    (["8080"], [8080]),
    (["80,443", "9"], [80, 443, 9]),
    ([], 'query parameter "port" is required'),
    ([""], 'query parameter "port" cannot be empty'),
    (["http"], 'unable to parse "http" as a port'),
    (["70000"], 'unable to parse "70000" as a port'),
], ids=["one", "list-and-repeat", "none", "empty", "name", "too-big"])
def test_channel_portforward_ports(values: list[str], expected: list[int] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            parse_ports(values)
    else:
        assert parse_ports(values) == expected
