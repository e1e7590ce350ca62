"""The text formats the emulated software writes, and the small parsers they rely on."""

from __future__ import annotations

import pytest

from node_agent.images import formats, goapps, webservers
from node_agent.images.model import looks_like_http

NOW = 1733220000.25  # 2024-12-03 10:00:00.25 UTC, a Tuesday


@pytest.mark.parametrize("render, expected", [
    (lambda: formats.http_date(int(NOW)), b"Tue, 03 Dec 2024 10:00:00 GMT"),
    (lambda: formats.clf_time(int(NOW)), "03/Dec/2024:10:00:00 +0000"),
    (lambda: formats.go_log(NOW, "hi"), "2024/12/03 10:00:00 hi"),
    (lambda: formats.apache_error_time(NOW), "[Tue Dec 03 10:00:00.250000 2024]"),
    (lambda: formats.iso_millis(NOW), "2024-12-03T10:00:00.250Z"),
    (lambda: formats.go_time(NOW, 1.5), "2024-12-03 10:00:00.25 +0000 UTC m=+1.500000000"),
    (lambda: formats.go_time(float(int(NOW)), 0.0), "2024-12-03 10:00:00 +0000 UTC m=+0.000000000"),
], ids=["http-date", "clf", "go-log", "apache-error", "iso", "go-time", "go-time-whole"])
def test_clocks(render, expected) -> None:  # type: ignore[no-untyped-def]
    assert render() == expected


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (850e-9, "850ns"), (12.5e-6, "12.5µs"), (1e-6, "1µs"),
    (0.001234567, "1.234567ms"), (2.5, "2.5s"), (90.25, "1m30.25s"), (7200, "2h0m0s"),
])
def test_go_duration(seconds: float, text: str) -> None:
    assert formats.go_duration(seconds) == text


@pytest.mark.parametrize("text, seconds", [
    ("0", 0.0), ("1s", 1.0), ("1.5s", 1.5), ("300ms", 0.3), ("1m30s", 90.0), ("", None),
    ("5", None), ("1x", None),
])
def test_parse_go_duration(text: str, seconds: float | None) -> None:
    assert goapps.parse_go_duration(text) == (pytest.approx(seconds) if seconds else seconds)


@pytest.mark.parametrize("value, escaped", [
    ("curl/8.5.0", "curl/8.5.0"), ('say "hi"', "say \\x22hi\\x22"), ("a\\b", "a\\x5Cb"),
    ("caf\xe9", "caf\\xE9"), ("tab\there", "tab\\x09here"),
])
def test_nginx_log_escaping(value: str, escaped: str) -> None:
    assert formats.log_escape(value) == escaped


@pytest.mark.parametrize("name, canonical", [
    ("user-agent", "User-Agent"), ("x-forwarded-for", "X-Forwarded-For"), ("etag", "Etag"),
    ("bad header", "bad header"),
])
def test_go_canonical_header(name: str, canonical: str) -> None:
    assert formats.canonical_header(name) == canonical


@pytest.mark.parametrize("body, content_type", [
    (b"", None), (b"hello", "text/plain; charset=utf-8"),
    (b"  <!DOCTYPE html><html>", "text/html; charset=utf-8"),
    (b"<p>hi</p>", "text/html; charset=utf-8"), (b"<pre>x", "text/plain; charset=utf-8"),
    (b'<?xml version="1.0"?>', "text/xml; charset=utf-8"), (b"%PDF-1.7", "application/pdf"),
    (b"\x00\x01binary", "application/octet-stream"), (b'{"a": 1}', "text/plain; charset=utf-8"),
])
def test_go_content_sniffing(body: bytes, content_type: str | None) -> None:
    assert formats.sniff_content_type(body) == content_type


@pytest.mark.parametrize("first, verdict", [
    (b"GET / HTTP/1.1\r\n", True), (b"POST ", True), (b"GE", None), (b"", None),
    (b"hello\n", False), (b"\x16\x03\x01", False), (b"GETX", False),
])
def test_looks_like_http(first: bytes, verdict: bool | None) -> None:
    assert looks_like_http(first) is verdict


@pytest.mark.parametrize("target, path", [
    ("/", "/"), ("/index.html?x=1", "/index.html"), ("//a///b", "/a/b"), ("/a/./b/../c", "/a/c"),
    ("/%7Euser/", "/~user/"), ("/a/..", "/"),
])
def test_site_path(target: str, path: str) -> None:
    assert webservers.site_path(target) == path


def test_site_path_refuses_climbing_above_the_root() -> None:
    with pytest.raises(webservers.BadPath):
        webservers.site_path("/../etc/passwd")
