"""ingress/h2_messages.py: HTTP/2 header blocks <-> HTTP/1.1 heads, the frame-size guard."""

from __future__ import annotations

import pytest

from ingress import h2_messages, tls
from ingress.h2_messages import Malformed, request_head, response_headers

GET = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"web.test"),
       (b":path", b"/a?b=1")]


@pytest.mark.parametrize("fields, body, head, chunked", [
    (GET + [(b"accept", b"*/*")], False,
     b"GET /a?b=1 HTTP/2.0\r\nhost: web.test\r\naccept: */*\r\nconnection: keep-alive\r\n\r\n",
     False),
    ([(b":method", b"POST"), (b":path", b"/p"), (b":authority", b"x.test:8443"),
      (b"content-length", b"5")], True,
     b"POST /p HTTP/2.0\r\nhost: x.test:8443\r\ncontent-length: 5\r\n"
     b"connection: keep-alive\r\n\r\n", False),
    ([(b":method", b"PUT"), (b":path", b"/p"), (b":authority", b"x.test")], True,
     b"PUT /p HTTP/2.0\r\nhost: x.test\r\nconnection: keep-alive\r\n"
     b"transfer-encoding: chunked\r\n\r\n", True),
    ([(b":method", b"GET"), (b":path", b"/"), (b"host", b"h.test")], False,
     b"GET / HTTP/2.0\r\nhost: h.test\r\nconnection: keep-alive\r\n\r\n", False),
    ([(b":method", b"GET"), (b":path", b"/"), (b":authority", b"a.test"),
      (b"host", b"a.test")], False,
     b"GET / HTTP/2.0\r\nhost: a.test\r\nconnection: keep-alive\r\n\r\n", False),
    ([(b":method", b"GET"), (b":path", b"/"), (b"x-a", b"1")], False,
     b"GET / HTTP/2.0\r\nx-a: 1\r\nconnection: keep-alive\r\n\r\n", False),
], ids=["get", "post-with-length", "body-without-length-is-chunked", "host-field",
        "authority-over-host", "no-host"])
def test_request_head(fields: list, body: bool, head: bytes, chunked: bool) -> None:
    request = request_head(fields, body=body)
    assert request.head == head
    assert request.chunked == chunked
    assert request.method == fields[0][1]


def test_request_cookies_are_joined_in_one_field() -> None:
    """RFC 9113 8.2.3: HTTP/2 may split Cookie; HTTP/1.1 gets one field, "; " between."""
    head = request_head(GET + [(b"cookie", b"a=1"), (b"x-b", b"2"), (b"cookie", b"b=2"),
                               (b"cookie", b"c=3")], body=False).head
    assert b"\r\ncookie: a=1; b=2; c=3\r\n" in head
    assert head.count(b"cookie") == 1


@pytest.mark.parametrize("name", [b"connection", b"keep-alive", b"proxy-connection",
                                  b"transfer-encoding", b"upgrade", b"te"])
def test_request_drops_connection_specific_fields(name: bytes) -> None:
    head = request_head(GET + [(name, b"whatever"), (b"x-kept", b"1")], body=False).head
    assert b"whatever" not in head and b"\r\nx-kept: 1\r\n" in head


@pytest.mark.parametrize("fields", [
    [(b":method", b"CONNECT"), (b":authority", b"db.test:5432")],
    [(b":path", b"/")],
    [(b":method", b"GET"), (b":path", b"/a b")],
    [(b":method", b"GET"), (b":path", b"/"), (b"x-a", b"1\r\nx-smuggled: 1")],
    [(b":method", b"GET"), (b":path", b"/"), (b"x a", b"1")],
    [(b":method", b"G\x00T"), (b":path", b"/")],
], ids=["connect", "no-method", "space-in-path", "crlf-in-value", "space-in-name",
        "nul-in-method"])
def test_requests_http11_cannot_carry_are_malformed(fields: list) -> None:
    with pytest.raises(Malformed):
        request_head(fields, body=False)


@pytest.mark.parametrize("status, fields, expected", [
    (200, [(b"Content-Type", b"text/html"), (b"Content-Length", b"146"),
           (b"Connection", b"keep-alive")],
     [(b":status", b"200"), (b"content-type", b"text/html"), (b"content-length", b"146")]),
    (200, [(b"Transfer-Encoding", b"chunked"), (b"Keep-Alive", b"timeout=5"),
           (b"Proxy-Connection", b"close"), (b"Upgrade", b"h2c"), (b"TE", b"trailers"),
           (b"X-Kept", b"1")],
     [(b":status", b"200"), (b"x-kept", b"1")]),
    (204, [(b"Connection", b"close, X-Hop"), (b"X-Hop", b"1"), (b"Set-Cookie", b"a=1"),
           (b"Set-Cookie", b"b=2")],
     [(b":status", b"204"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]),
    (100, [], [(b":status", b"100")]),
], ids=["lower-case-names", "connection-specific-dropped", "connection-named-dropped",
        "informational"])
def test_response_headers(status: int, fields: list, expected: list) -> None:
    assert response_headers(status, fields) == expected


def test_alpn_offers_h2_first_unless_switched_off() -> None:
    assert tls.alpn_protocols(True) == ["h2", "http/1.1"]
    assert tls.alpn_protocols(False) == ["http/1.1"]


def frame(length: int, kind: int = 0) -> bytes:
    return length.to_bytes(3, "big") + bytes([kind, 0]) + b"\0\0\0\1" + b"d" * length


@pytest.mark.parametrize("pieces, admitted", [
    ([h2_messages.PREFACE + frame(0, 4) + frame(16384)], True),
    ([h2_messages.PREFACE + frame(16385)[:9]], False),
    ([h2_messages.PREFACE[:10], h2_messages.PREFACE[10:] + frame(5)[:4], frame(5)[4:] + frame(20000)[:3]],
     True),  # the length of the last is not all in yet
    ([h2_messages.PREFACE, frame(100)[:50], frame(100)[50:], frame(20000)[:9]], False),
    ([b"\xff" * 40], False),  # garbage where the first header is
], ids=["within-limit", "overlong", "split-everywhere", "overlong-after-split", "garbage"])
def test_frame_guard_refuses_an_overlong_frame_from_its_header(pieces: list[bytes],
                                                                admitted: bool) -> None:
    guard = h2_messages.FrameGuard(16384)
    assert all(guard.admits(piece) for piece in pieces) == admitted
