"""HTTP/1.1 on the wire for curl and wget: URLs as curl reads them (and its refusals),
redirect targets, request bytes, and the incremental response parser's framing."""

from __future__ import annotations

import pytest

from node_agent.toolbox.httpwire import (HttpError, ResponseParser, Url, UrlError,
                                         build_request, parse_url, resolve_location)

# (text, url)
URLS = [
    ("http://nginx", Url("http", "nginx", 80, "/")),
    ("nginx-app", Url("http", "nginx-app", 80, "/")),
    ("nginx:8080/a?b=c#frag", Url("http", "nginx", 8080, "/a?b=c")),
    ("https://Svc.NS/x", Url("https", "svc.ns", 443, "/x")),
    ("http://u:p@h:81", Url("http", "h", 81, "/", "u:p")),
    ("HTTP://h?q", Url("http", "h", 80, "/?q")),
    ("http://10.0.0.1:80/", Url("http", "10.0.0.1", 80, "/")),
    ("http://[::1]:8080/", Url("http", "::1", 8080, "/")),
    ("http://h/a b", Url("http", "h", 80, "/a%20b")),
]


@pytest.mark.parametrize("text,url", URLS, ids=[u[0] for u in URLS])
def test_parse_url(text: str, url: Url) -> None:
    assert parse_url(text) == url


@pytest.mark.parametrize("url,authority,text", [
    (Url("http", "h", 80, "/"), "h", "http://h/"),
    (Url("http", "h", 8080, "/x"), "h:8080", "http://h:8080/x"),
    (Url("https", "h", 443, "/"), "h", "https://h/"),
    (Url("https", "::1", 8443, "/"), "[::1]:8443", "https://[::1]:8443/"),
], ids=["default-port", "port", "https", "ipv6"])
def test_url_authority_and_text(url: Url, authority: str, text: str) -> None:
    assert (url.authority, url.text) == (authority, text)


@pytest.mark.parametrize("text,code,message", [
    ("ftp://h/", 1, 'Protocol "ftp" not supported'),
    ("http://", 3, "URL rejected: No host part in the URL"),
    ("http://h:99999/", 3,
     "URL rejected: Port number was not a decimal number between 0 and 65535"),
    ("http://h:x/", 3,
     "URL rejected: Port number was not a decimal number between 0 and 65535"),
    ("http://a b/", 3, "URL rejected: Bad hostname"),
], ids=["scheme", "no-host", "big-port", "bad-port", "space"])
def test_parse_url_errors(text: str, code: int, message: str) -> None:
    with pytest.raises(UrlError) as caught:
        parse_url(text)
    assert (caught.value.code, caught.value.message) == (code, message)


@pytest.mark.parametrize("location,target", [
    ("/next", "http://h:81/next"), ("other", "http://h:81/dir/other"),
    ("https://x/y", "https://x/y"), ("//z/w", "http://z/w"),
], ids=["absolute-path", "relative", "full", "scheme-relative"])
def test_resolve_location(location: str, target: str) -> None:
    assert resolve_location(parse_url("http://h:81/dir/page"), location).text == target


def test_build_request() -> None:
    assert build_request("POST", "/p", [("Host", "h"), ("Content-Length", "2")], b"ab") == \
        b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab"


def feed_all(chunks: list[bytes], head_only: bool = False) -> tuple[ResponseParser, bytes]:
    parser = ResponseParser(head_only=head_only)
    body = b"".join(parser.feed(c) for c in chunks)
    return parser, body


# (chunks, eof, status, body, done)
RESPONSES = [
    ([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"], False, 200, b"hello", True),
    ([b"HTTP/1.1 200 OK\r\nContent-Len", b"gth: 5\r\n\r\nhe", b"llo"], False, 200, b"hello", True),
    ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world"
      b"\r\n0\r\n\r\n"], False, 200, b"hello world", True),
    ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r", b"\nabc\r\n0\r\nT: v\r\n",
      b"\r\n"], False, 200, b"abc", True),
    ([b"HTTP/1.0 200 OK\r\n\r\nuntil close"], True, 200, b"until close", True),
    ([b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"], False, 204, b"", True),
    ([b"HTTP/1.1 304 Not Modified\r\n\r\n"], False, 304, b"", True),
    ([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"], False,
     200, b"x", True),
    ([b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"], False, 200, b"ok", True),
    ([b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"], False, 404, b"", True),
    ([b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\npart"], False, 200, b"part", False),
]


@pytest.mark.parametrize("chunks,eof,status,body,done", RESPONSES,
                         ids=["length", "split", "chunked", "chunked-split-trailer", "close",
                              "204", "304", "continue", "bare-lf", "404-empty", "incomplete"])
def test_response_parser(chunks: list[bytes], eof: bool, status: int, body: bytes,
                         done: bool) -> None:
    parser, got = feed_all(chunks)
    if eof:
        parser.finish()
    assert parser.head is not None
    assert (parser.head.status, got, parser.done, parser.received) == \
        (status, body, done, len(body))


def test_head_request_has_no_body_whatever_the_headers_say() -> None:
    parser, body = feed_all([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"], head_only=True)
    assert (parser.done, body) == (True, b"")


def test_head_fields() -> None:
    parser, _ = feed_all([b"HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\n"
                          b"set-cookie: a\r\nSet-Cookie: b\r\nConnection: close\r\n\r\n"])
    head = parser.head
    assert head is not None
    assert (head.version, head.reason, head.status_line, head.get("location"),
            head.get("Set-Cookie"), head.keep_alive) == \
        ("1.1", "Moved Permanently", "HTTP/1.1 301 Moved Permanently", "/x", "b", False)
    assert head.raw.endswith(b"Connection: close\r\n\r\n")


@pytest.mark.parametrize("chunks,kind,message", [
    ([], "empty", "Empty reply from server"),
    ([b"SSH-2.0-OpenSSH\r\n"], "weird", "Received HTTP/0.9 when not allowed"),
    ([b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"], "partial",
     "transfer closed with 6 bytes remaining to read"),
    ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"], "partial",
     "transfer closed with outstanding read data remaining"),
    ([b"HTTP/1.1 200"], "weird", "Received HTTP/0.9 when not allowed"),
], ids=["empty", "not-http", "short-length", "short-chunked", "cut-head"])
def test_connection_end_errors(chunks: list[bytes], kind: str, message: str) -> None:
    parser = ResponseParser()
    with pytest.raises(HttpError) as caught:
        for chunk in chunks:
            parser.feed(chunk)
        parser.finish()
    assert (caught.value.kind, str(caught.value)) == (kind, message)
