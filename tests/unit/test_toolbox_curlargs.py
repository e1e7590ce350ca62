"""curl's command line and words: option parsing and its usage errors, the request
headers and body curl builds, --write-out, the progress meter and the -v lines."""

from __future__ import annotations

import pytest

from node_agent.toolbox.curlargs import (CurlOptions, CurlUsage, meter_line, method_for,
                                         parse_args, parse_resolve, request_body,
                                         request_headers, verbose_request, verbose_response,
                                         write_out)

TRY = "curl: try 'curl --help' or 'curl --manual' for more information\n"

# (argv, {field: value})
PARSES = [
    (["http://a"], {"urls": ["http://a"], "silent": False, "meter": True}),
    (["-sS", "-L", "a", "b"], {"urls": ["a", "b"], "silent": True, "show_error": True,
                               "location": True}),
    (["-sSfL", "-o", "/dev/null", "a"], {"fail": True, "outputs": ["/dev/null"]}),
    (["-XPOST", "-H", "A: 1", "-HB:2", "a"], {"method": "POST", "headers": ["A: 1", "B:2"]}),
    (["-d", "x=1", "--data-raw", "@y", "a"], {"data": [("d", "x=1"), ("data-raw", "@y")]}),
    (["-m", "2", "--connect-timeout", "0.5", "a"], {"max_time": 2.0, "connect_timeout": 0.5}),
    (["--resolve", "svc:80:127.0.0.9", "a"], {"resolve": {("svc", 80): "127.0.0.9"}}),
    (["-w", "%{http_code}", "-I", "-k", "-v", "a"],
     {"write_out": "%{http_code}", "head": True, "insecure": True, "verbose": True}),
    (["a", "--no-progress-meter"], {"meter": False}),
    (["-u", "me:pw", "-A", "agent/1", "--url", "b", "a"],
     {"user": "me:pw", "user_agent": "agent/1", "urls": ["a", "b"]}),
    (["-O", "a", "--max-redirs", "3"], {"remote_names": 1, "max_redirs": 3}),
    (["--compressed", "-N", "-4", "a"], {"urls": ["a"]}),
    (["-V"], {"version": True, "urls": []}),
]


@pytest.mark.parametrize("argv,fields", PARSES, ids=[" ".join(p[0]) for p in PARSES])
def test_parse_args(argv: list[str], fields: dict[str, object]) -> None:
    options = parse_args(argv)
    assert {k: getattr(options, k) for k in fields} == fields


@pytest.mark.parametrize("argv,message", [
    (["-z", "a"], f"curl: option -z: is unknown\n{TRY}"),
    (["--frobnicate", "a"], f"curl: option --frobnicate: is unknown\n{TRY}"),
    (["a", "-H"], f"curl: option -H: requires parameter\n{TRY}"),
    ([], f"curl: no URL specified\n{TRY}"),
    (["-m", "soon", "a"], f"curl: option --max-time: expected a proper numerical parameter\n{TRY}"),
    (["--resolve", "bad", "a"], f"curl: option --resolve: bad argument 'bad'\n{TRY}"),
], ids=["unknown-short", "unknown-long", "missing", "no-url", "bad-number", "bad-resolve"])
def test_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(CurlUsage) as caught:
        parse_args(argv)
    assert str(caught.value) == message


def test_parse_resolve_takes_the_first_address() -> None:
    assert parse_resolve("Svc:443:[::1],10.0.0.1") == {("svc", 443): "::1"}


def options(*argv: str) -> CurlOptions:
    return parse_args([*argv, "http://h"])


FILES = {"body.txt": b"line1\r\nline2\n"}

# (argv, body)
BODIES = [
    ((), None),
    (("-d", "a=1", "-d", "b=2"), b"a=1&b=2"),
    (("-d", "@body.txt"), b"line1line2"),
    (("--data-binary", "@body.txt"), b"line1\r\nline2\n"),
    (("--data-raw", "@body.txt"), b"@body.txt"),
    (("--data-urlencode", "q=a b&c"), b"q=a%20b%26c"),
    (("--data-urlencode", "a b"), b"a%20b"),
    (("--json", '{"a":1}'), b'{"a":1}'),
]


@pytest.mark.parametrize("argv,body", BODIES, ids=[" ".join(b[0]) or "none" for b in BODIES])
def test_request_body(argv: tuple[str, ...], body: bytes | None) -> None:
    assert request_body(options(*argv), FILES.__getitem__) == body


# (argv, body, headers)
HEADERS = [
    ((), None, [("Host", "h:8080"), ("User-Agent", "curl/8.11.1"), ("Accept", "*/*")]),
    (("-H", "Accept: text/html", "-H", "X-Id: 7"), None,
     [("Host", "h:8080"), ("User-Agent", "curl/8.11.1"), ("Accept", "text/html"),
      ("X-Id", "7")]),
    (("-H", "User-Agent:", "-H", "X-Empty;"), None,
     [("Host", "h:8080"), ("Accept", "*/*"), ("X-Empty", "")]),
    (("-H", "Host: virtual"), None,
     [("Host", "virtual"), ("User-Agent", "curl/8.11.1"), ("Accept", "*/*")]),
    (("-d", "x", "-H", "X: 1"), b"x",
     [("Host", "h:8080"), ("User-Agent", "curl/8.11.1"), ("Accept", "*/*"), ("X", "1"),
      ("Content-Length", "1"), ("Content-Type", "application/x-www-form-urlencoded")]),
    (("-d", "x", "-H", "Content-Type: text/plain"), b"x",
     [("Host", "h:8080"), ("User-Agent", "curl/8.11.1"), ("Accept", "*/*"),
      ("Content-Type", "text/plain"), ("Content-Length", "1")]),
    (("--json", "{}",), b"{}",
     [("Host", "h:8080"), ("User-Agent", "curl/8.11.1"), ("Accept", "application/json"),
      ("Content-Length", "2"), ("Content-Type", "application/json")]),
    (("-u", "me:pw", "-A", ""), None,
     [("Host", "h:8080"), ("Authorization", "Basic bWU6cHc="), ("Accept", "*/*")]),
]


@pytest.mark.parametrize("argv,body,headers", HEADERS,
                         ids=["default", "replace-add", "remove-empty", "host", "data",
                              "data-custom-type", "json", "auth"])
def test_request_headers(argv: tuple[str, ...], body: bytes | None,
                         headers: list[tuple[str, str]]) -> None:
    assert request_headers(options(*argv), "h:8080", body) == headers


@pytest.mark.parametrize("argv,body,method", [
    ((), None, "GET"), (("-d", "x"), b"x", "POST"), (("-I",), None, "HEAD"),
    (("-X", "PUT", "-d", "x"), b"x", "PUT"), (("-G", "-d", "x"), b"x", "GET"),
], ids=["get", "post", "head", "explicit", "get-with-data"])
def test_method_for(argv: tuple[str, ...], body: bytes | None, method: str) -> None:
    assert method_for(options(*argv), body) == method


VALUES = {"http_code": "200", "time_total": "0.001234", "remote_ip": "10.0.0.1"}


@pytest.mark.parametrize("template,out,err,unknown", [
    ("%{http_code}\\n", "200\n", "", []),
    ("%{remote_ip} %{time_total}", "10.0.0.1 0.001234", "", []),
    ("100%% %{http_code}\\t.", "100% 200\t.", "", []),
    ("%header{content-type}", "text/html", "", []),
    ("%{stderr}%{http_code}%{stdout}x", "x", "200", []),
    ("%{nope}!", "!", "", ["nope"]),
    ("%{unclosed", "%{unclosed", "", []),
], ids=["code", "two", "escapes", "header", "switch", "unknown", "unclosed"])
def test_write_out(template: str, out: str, err: str, unknown: list[str]) -> None:
    assert write_out(template, VALUES, {"content-type": "text/html"}) == (out, err, unknown)


@pytest.mark.parametrize("expected,received,sent,elapsed,line", [
    (None, 0, 0, 0, "  0     0    0     0    0     0      0      0 --:--:-- --:--:-- "
                    "--:--:--     0"),
    (3062, 3062, 0, 0.002, "100  3062  100  3062    0     0  1495k      0 --:--:-- --:--:-- "
                           "--:--:-- 1495k"),
    (None, 612, 0, 0.5, "100   612    0   612    0     0   1224      0 --:--:-- --:--:-- "
                        "--:--:--  1224"),
    (200000, 100000, 7, 2.0, " 50  195k   50   97k  100     7  50000      0  0:00:04  0:00:02 "
                             " 0:00:02 50000"),
], ids=["start", "done-known-size", "done-unknown-size", "half-way"])
def test_meter_line(expected: int | None, received: int, sent: int, elapsed: float,
                    line: str) -> None:
    assert meter_line(expected, received, sent, elapsed) == line


def test_verbose_lines() -> None:
    assert verbose_request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nbody") == \
        "> GET / HTTP/1.1\n> Host: h\n> \n"
    assert verbose_response(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n") == \
        "< HTTP/1.1 200 OK\n< A: b\n< \n"
