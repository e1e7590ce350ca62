"""HTTP messages as ingress-nginx writes them: targets, hosts, heads, pages, log lines."""

from __future__ import annotations

import pytest

from ingress import messages

TARGETS = [
    # raw request-target -> (path matched, query, host from absolute-form) or None (400)
    ("/a/b?x=1", ("/a/b", "x=1", "")),
    ("/a%20b/%41", ("/a b/A", "", "")),
    ("/a//b/./c/../d", ("/a/b/d", "", "")),
    ("/a/..", ("/", "", "")),
    ("/..", None),
    ("/a/../../etc", None),
    ("http://Web.Test/p?q", ("/p", "q", "Web.Test")),
    ("http://web.test", ("/", "", "web.test")),
    ("*", None),
    ("garbage", None),
]


@pytest.mark.parametrize("raw,expected", TARGETS, ids=[t[0] for t in TARGETS])
def test_parse_target(raw: str, expected: tuple[str, str, str] | None) -> None:
    target = messages.parse_target(raw)
    assert (None if target is None else (target.path, target.query, target.host)) == expected


@pytest.mark.parametrize("value,valid", [
    ("web.test", True), ("Web.Test:8080", True), ("web.test.", True), ("[::1]:80", True),
    ("", True), ("127.0.0.1", True), ("a b", False), ("a..b", False), ("a/b", False),
    ("tab\there", False), (".", False), (":80", False), ("del\x7f", False)])
def test_valid_host_as_nginx(value: str, valid: bool) -> None:
    assert messages.valid_host(value) is valid


HOSTS = [("Web.Test", "web.test"), ("web.test:8080", "web.test"), ("web.test.", "web.test"),
         ("[::1]:80", "[::1]"), ("", "")]


@pytest.mark.parametrize("value,host", HOSTS, ids=[h[0] or "empty" for h in HOSTS])
def test_split_host(value: str, host: str) -> None:
    assert messages.split_host(value) == host


def test_pages_are_nginx_bytes() -> None:
    assert messages.page(404) == (b"<html>\r\n<head><title>404 Not Found</title></head>\r\n"
                                  b"<body>\r\n<center><h1>404 Not Found</h1></center>\r\n"
                                  b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
    assert b"<title>503 Service Temporarily Unavailable</title>" in messages.page(503)
    assert b"<title>413 Request Entity Too Large</title>" in messages.page(413)
    big = messages.page(400, messages.HEADERS_TOO_LARGE)
    assert b"<title>400 Request Header Or Cookie Too Large</title>" in big
    assert b"<h1>400 Bad Request</h1>" in big


def test_error_response_and_redirect() -> None:
    location = messages.https_location("web.test", 8443, "/a?b=1")
    assert location == "https://web.test:8443/a?b=1"
    assert messages.https_location("web.test", 443, "/") == "https://web.test/"
    resp = messages.error_response(308, b"DATE", keep_alive=True, location=location)
    head, body = resp.split(b"\r\n\r\n", 1)
    assert head.split(b"\r\n") == [
        b"HTTP/1.1 308 Permanent Redirect", b"Date: DATE", b"Content-Type: text/html",
        b"Content-Length: %d" % len(body), b"Connection: keep-alive",
        b"Location: https://web.test:8443/a?b=1"]
    head_only = messages.error_response(404, b"D", keep_alive=False, head_only=True)
    assert head_only.endswith(b"Connection: close\r\n\r\n")


def test_request_head() -> None:
    noted, kept = messages.sort_request_headers([
        (b"Host", b"web.test"), (b"User-Agent", b"curl"), (b"Connection", b"keep-alive"),
        (b"X-Forwarded-For", b"1.2.3.4"), (b"Content-Length", b"5"), (b"X-Custom", b"v")])
    assert kept == [b"X-Custom: v"]
    assert noted[b"user-agent"] == b"curl" and noted[b"content-length"] == b"5"
    before, after = messages.request_head(b"POST", b"/x", kept, host=b"web.test",
                                          client_ip=b"127.0.0.1", port=b"80", scheme=b"http",
                                          length=5, forwarded_for=noted[b"x-forwarded-for"])
    assert (before + b"id" + after).split(b"\r\n") == [
        b"POST /x HTTP/1.1", b"Host: web.test", b"X-Request-ID: id", b"X-Real-IP: 127.0.0.1",
        b"X-Forwarded-For: 127.0.0.1", b"X-Forwarded-Host: web.test", b"X-Forwarded-Port: 80",
        b"X-Forwarded-Proto: http", b"X-Forwarded-Scheme: http", b"X-Scheme: http",
        b"X-Original-Forwarded-For: 1.2.3.4", b"X-Custom: v", b"Content-Length: 5", b"", b""]
    _, chunked = messages.request_head(b"GET", b"/ws", [], host=b"h", client_ip=b"i", port=b"p",
                                       scheme=b"http", length=None, upgrade=b"websocket")
    assert chunked.endswith(b"Transfer-Encoding: chunked\r\nConnection: upgrade\r\n"
                            b"Upgrade: websocket\r\n\r\n")


RESPONSES = [
    # backend head, framing arguments -> the client's head
    (b"HTTP/1.1 200 OK\r\nServer: pod\r\nContent-Length: 2\r\nConnection: keep-alive\r\n"
     b"X-A: 1\r\n\r\nok", dict(keep_alive=True, chunked=False),
     b"HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 2\r\nX-A: 1\r\n"
     b"Connection: keep-alive\r\n\r\n"),
    (b"HTTP/1.1 404 Nope\r\nDate: X\r\nTransfer-Encoding: chunked\r\n\r\n",
     dict(keep_alive=False, chunked=True),
     b"HTTP/1.1 404 Not Found\r\nDate: X\r\nTransfer-Encoding: chunked\r\n"
     b"Connection: close\r\n\r\n"),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
     dict(keep_alive=False, chunked=False, upgrade=True),
     b"HTTP/1.1 101 Switching Protocols\r\nDate: D\r\nUpgrade: websocket\r\n"
     b"Connection: upgrade\r\n\r\n"),
]


@pytest.mark.parametrize("raw,framing,expected", RESPONSES, ids=["length", "chunked", "101"])
def test_response_head(raw: bytes, framing: dict, expected: bytes) -> None:
    block, lowered, end = messages.response_fields(raw)
    assert raw[end - 4:end] == b"\r\n\r\n"
    status = int(raw.split(b" ")[1])
    assert messages.response_head(status, block, lowered, date=b"D", **framing) == expected


def test_access_line_is_ingress_nginx_format() -> None:
    request = messages.read_request(
        b"GET", b"/", "1.1", keep_alive=True, upgrade=False,
        headers=[(b"Host", b"web.test"), (b"User-Agent", b"curl/7.88.1")], fields_size=60)
    parts = messages.log_parts("127.0.0.1", 0.0, request, 200, 615, 0, "default-web-80",
                               "127.244.1.2:80", "200")
    assert messages.access_line(parts, 0.0021, 0.0019, "abc") == (
        '127.0.0.1 - - [01/Jan/1970:00:00:00 +0000] "GET / HTTP/1.1" 200 615 "-" '
        '"curl/7.88.1" 78 0.002 [default-web-80] [] 127.244.1.2:80 615 0.001 200 abc')
    parts = messages.log_parts("127.0.0.1", 0.0, request, 404, 146, 0,
                               "upstream-default-backend", None, "-")
    assert messages.access_line(parts, 0.0, None, "abc").endswith(
        " 78 0.000 [upstream-default-backend] [] - - - - abc")


@pytest.mark.parametrize("took,text", [
    (0.0, "0.000"), (0.0009, "0.000"), (0.0021, "0.002"), (0.999, "0.999"), (1.0, "1.000"),
    (61.2345, "61.234"), (-0.5, "0.000")])
def test_seconds_as_nginx_writes_them(took: float, text: str) -> None:
    assert messages.seconds(took) == text
