"""The tunnel's wire format, without sockets.

A client opens a TCP connection to a node's tunnel port and sends one fixed header:

    magic b"KLT1" | protocol (1 byte: 6 TCP, 17 UDP) | source IPv4 (4) | source port (2)
    | destination IPv4 (4) | destination port (2)            (network byte order, 17 bytes)

The tunnel answers with one status byte once it reached the destination: 0, or the
errno of the failed connect (ECONNREFUSED...), after which it closes. Then a TCP tunnel
carries the connection's bytes as they are; a UDP tunnel carries datagrams each way,
each framed by a 2-byte big-endian length."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from enum import IntEnum

MAGIC = b"KLT1"
PORT = 8472  # flannel's VXLAN port number; TCP here
_HEADER = struct.Struct("!4sB4sH4sH")
HEADER_SIZE = _HEADER.size
_LENGTH = struct.Struct("!H")
OK = 0  # the status byte of a reached destination
MAX_DATAGRAM = 65535


class Protocol(IntEnum):
    TCP = socket.IPPROTO_TCP
    UDP = socket.IPPROTO_UDP


class HeaderError(ValueError):
    """Not a kubeloop tunnel header."""


@dataclass(frozen=True)
class Header:
    protocol: Protocol
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int

    def encode(self) -> bytes:
        return _HEADER.pack(MAGIC, self.protocol, socket.inet_aton(self.src_ip), self.src_port,
                            socket.inet_aton(self.dst_ip), self.dst_port)

    @classmethod
    def decode(cls, data: bytes) -> Header:
        """The header at the start of ``data`` (at least HEADER_SIZE bytes)."""
        if len(data) < HEADER_SIZE:
            raise HeaderError(f"{len(data)} bytes; a header has {HEADER_SIZE}")
        magic, protocol, src, sport, dst, dport = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise HeaderError(f"magic {magic!r}, not {MAGIC!r}")
        try:
            proto = Protocol(protocol)
        except ValueError:
            raise HeaderError(f"protocol {protocol}: neither TCP (6) nor UDP (17)") from None
        if dport == 0:
            raise HeaderError("destination port 0")
        return cls(proto, socket.inet_ntoa(src), sport, socket.inet_ntoa(dst), dport)


def frame(datagram: bytes) -> bytes:
    """One datagram as it travels in a UDP tunnel."""
    return _LENGTH.pack(len(datagram)) + datagram


class Deframer:
    """Cuts a UDP tunnel's byte stream back into datagrams."""

    __slots__ = ("buffer",)

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self.buffer + data if self.buffer else data
        datagrams = []
        offset = 0
        while len(buffer) - offset >= 2:
            (size,) = _LENGTH.unpack_from(buffer, offset)
            end = offset + 2 + size
            if end > len(buffer):
                break
            datagrams.append(buffer[offset + 2:end])
            offset = end
        self.buffer = buffer[offset:]
        return datagrams
