"""What each emulated app answers to a request, and the log lines it writes."""

from __future__ import annotations

import json

import pytest

from node_agent.images import echoes, goapps, webservers
from node_agent.images.model import (DatagramApp, HttpApp, Listener, Problem, Program,
                                     Request, Response)

NOW = 1733220000.25  # 2024-12-03 10:00:00.25 UTC
DATE = b"Tue, 03 Dec 2024 10:00:00 GMT"
Headers = tuple[tuple[str, str], ...]
CURL: Headers = (("host", "10.244.0.5"), ("user-agent", "curl/8.5.0"), ("accept", "*/*"))


def request(target: str = "/", method: str = "GET",
            headers: Headers = CURL, body: bytes = b"",
            version: str = "1.1", port: int = 80) -> Request:
    return Request(method, target, version, headers, body, ("10.244.0.1", 51234),
                   ("10.244.0.5", port), NOW, 7)


def wire(app: HttpApp, resp: Response, keep: bool = True) -> bytes:
    return resp.render(DATE, app.keep_alive if keep else app.closing) + resp.body


def parsed(app: HttpApp, resp: Response) -> tuple[int, dict[str, str], bytes]:
    head, _, body = wire(app, resp).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return resp.status, headers, body


NGINX = webservers.Nginx("1.27.5")

NGINX_404 = (b"HTTP/1.1 404 Not Found\r\nServer: nginx/1.27.5\r\nDate: " + DATE +
             b"\r\nContent-Type: text/html\r\nContent-Length: 153\r\n"
             b"Connection: keep-alive\r\n\r\n<html>\r\n<head><title>404 Not Found</title>"
             b"</head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n"
             b"<hr><center>nginx/1.27.5</center>\r\n</body>\r\n</html>\r\n")


def test_nginx_welcome_page_is_byte_for_byte_the_real_one() -> None:
    resp = NGINX.handle(request())
    assert wire(NGINX, resp) == (
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.27.5\r\nDate: " + DATE +
        b"\r\nContent-Type: text/html\r\nContent-Length: 615\r\n"
        b"Last-Modified: Wed, 16 Apr 2025 12:01:11 GMT\r\nConnection: keep-alive\r\n"
        b'ETag: "67ff9c07-267"\r\nAccept-Ranges: bytes\r\n\r\n' + webservers.NGINX_INDEX)
    assert b"<title>Welcome to nginx!</title>" in resp.body


def test_nginx_not_found_page() -> None:
    assert wire(NGINX, NGINX.handle(request("/missing"))) == NGINX_404


@pytest.mark.parametrize("target, method, headers, status, length", [
    ("/", "GET", CURL, 200, 615),
    ("/index.html", "GET", CURL, 200, 615),
    ("/index.html?v=2", "GET", CURL, 200, 615),
    ("//index.html", "GET", CURL, 200, 615),
    ("/%69ndex.html", "GET", CURL, 200, 615),
    ("/a/../index.html", "GET", CURL, 200, 615),
    ("/", "HEAD", CURL, 200, 615),
    ("/50x.html", "GET", CURL, 200, 497),
    ("/favicon.ico", "GET", CURL, 404, 153),
    ("/dir/", "GET", CURL, 404, 153),
    ("/missing", "POST", CURL, 404, 153),
    ("/", "POST", CURL, 405, 157),
    ("/", "DELETE", CURL, 405, 157),
    ("/../etc/passwd", "GET", CURL, 400, 157),
    ("/", "GET", CURL + (("if-none-match", '"67ff9c07-267"'),), 304, 0),
    ("/", "GET", CURL + (("if-none-match", '"other"'),), 200, 615),
    ("/", "GET", CURL + (("if-modified-since", "Wed, 16 Apr 2025 12:01:11 GMT"),), 304, 0),
    ("/missing", "GET", (("user-agent", "Mozilla/5.0 Chrome/131.0"),), 404, 153 + 402),
], ids=["root", "index", "query", "double-slash", "escaped", "dot-dot", "head", "50x",
        "favicon", "directory", "post-missing", "post-file", "delete", "above-root",
        "etag-match", "etag-other", "if-modified-since", "chrome-padding"])
def test_nginx_answers(target: str, method: str, headers: Headers, status: int,
                       length: int) -> None:
    resp = NGINX.handle(request(target, method, headers))
    assert (resp.status, len(resp.body)) == (status, length)


@pytest.mark.parametrize("target, method, headers, lines", [
    ("/", "GET", CURL, ['10.244.0.1 - - [03/Dec/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 '
                        '615 "-" "curl/8.5.0" "-"']),
    ("/", "HEAD", CURL, ['10.244.0.1 - - [03/Dec/2024:10:00:00 +0000] "HEAD / HTTP/1.1" '
                         '200 0 "-" "curl/8.5.0" "-"']),
    ("/x", "GET", (("host", "web"), ("referer", "http://a/"), ("user-agent", 'q"\xe9'),
                   ("x-forwarded-for", "1.2.3.4")),
     ['2024/12/03 10:00:00 [error] 29#29: *7 open() "/usr/share/nginx/html/x" failed '
      '(2: No such file or directory), client: 10.244.0.1, server: localhost, request: '
      '"GET /x HTTP/1.1", host: "web"',
      '10.244.0.1 - - [03/Dec/2024:10:00:00 +0000] "GET /x HTTP/1.1" 404 153 "http://a/" '
      '"q\\x22\\xE9" "1.2.3.4"']),
    ("/d/", "GET", (), ['2024/12/03 10:00:00 [error] 29#29: *7 '
                        '"/usr/share/nginx/html/d/index.html" is not found (2: No such file '
                        'or directory), client: 10.244.0.1, server: localhost, request: '
                        '"GET /d/ HTTP/1.1"',
                        '10.244.0.1 - - [03/Dec/2024:10:00:00 +0000] "GET /d/ HTTP/1.1" 404 '
                        '153 "-" "-" "-"']),
], ids=["get", "head-sends-no-body", "404-with-error-log-and-escaping", "404-directory"])
def test_nginx_log_lines(target: str, method: str, headers: Headers,
                         lines: list[str]) -> None:
    req = request(target, method, headers)
    assert NGINX.log(req, NGINX.handle(req), NOW) == "\n".join(lines)


@pytest.mark.parametrize("problem, status, title", [
    (Problem.BAD_REQUEST, 400, "<title>400 Bad Request</title>"),
    (Problem.HEADERS_TOO_LARGE, 400, "<title>400 Request Header Or Cookie Too Large</title>"),
    (Problem.BODY_TOO_LARGE, 413, "<title>413 Request Entity Too Large</title>"),
])
def test_nginx_error_pages_close_the_connection(problem: Problem, status: int,
                                                title: str) -> None:
    resp = NGINX.problem(problem, request())
    assert (resp.status, resp.close) == (status, True)
    assert title.encode() in resp.body and b"<center>nginx/1.27.5</center>" in resp.body


HTTPD = webservers.Httpd("2.4.63", "10.244.0.5")


@pytest.mark.parametrize("target, method, status, body_has, extra", [
    ("/", "GET", 200, b"<html><body><h1>It works!</h1></body></html>\n",
     {"ETag": '"2d-432a5e4a73a80"', "Last-Modified": "Mon, 11 Jun 2007 18:53:14 GMT",
      "Content-Type": "text/html", "Server": "Apache/2.4.63 (Unix)"}),
    ("/index.html", "POST", 200, b"It works!", {}),
    ("/nope", "GET", 404, b"<title>404 Not Found</title>",
     {"Content-Type": "text/html; charset=iso-8859-1", "Content-Length": "196"}),
    ("/", "PUT", 405, b"The requested method PUT is not allowed",
     {"Allow": "POST,OPTIONS,HEAD,GET"}),
    ("/", "OPTIONS", 200, b"", {"Allow": "POST,OPTIONS,HEAD,GET", "Content-Length": "0"}),
], ids=["it-works", "post", "404", "put", "options"])
def test_httpd_answers(target: str, method: str, status: int, body_has: bytes,
                       extra: dict[str, str]) -> None:
    got_status, headers, body = parsed(HTTPD, HTTPD.handle(request(target, method)))
    assert got_status == status and body_has in body
    assert {k: headers[k] for k in extra} == extra


@pytest.mark.parametrize("method, target, line", [
    ("GET", "/", '10.244.0.1 - - [03/Dec/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 45'),
    ("HEAD", "/", '10.244.0.1 - - [03/Dec/2024:10:00:00 +0000] "HEAD / HTTP/1.1" 200 -'),
    ("GET", "/x", '10.244.0.1 - - [03/Dec/2024:10:00:00 +0000] "GET /x HTTP/1.1" 404 196'),
])
def test_httpd_common_log_format(method: str, target: str, line: str) -> None:
    req = request(target, method)
    assert HTTPD.log(req, HTTPD.handle(req), NOW) == line


HELLO = goapps.HelloApp("2.0.0", "hello-7d9f-abcde", 8080)
ECHO = goapps.HttpEcho("hello world", 200, ":5678", 5678, "1.0.0")
TEAPOT = goapps.HttpEcho("short and stout", 418, ":5678", 5678, "1.0.0")
NETEXEC = goapps.Netexec("net-0", 8080, 8081, NOW - 1.5)
NO_UDP = goapps.Netexec("net-0", 8080, -1, NOW - 1.5)
SERVE_HOSTNAME = goapps.ServeHostname("sh-0", 9376, False, False, True, False)
CLOSING = goapps.ServeHostname("sh-0", 9376, False, False, True, True)
LIVENESS = goapps.Liveness(NOW - 5)
DEAD = goapps.Liveness(NOW - 20)


@pytest.mark.parametrize("app, target, status, body, headers", [
    (HELLO, "/", 200, b"Hello, world!\nVersion: 2.0.0\nHostname: hello-7d9f-abcde\n",
     {"Content-Type": "text/plain; charset=utf-8", "Content-Length": "56"}),
    (HELLO, "/any/path?x=1", 200, b"Hello, world!\nVersion: 2.0.0\nHostname: hello-7d9f-abcde\n",
     {}),
    (ECHO, "/", 200, b"hello world\n", {"X-App-Name": "http-echo", "X-App-Version": "1.0.0"}),
    (ECHO, "/health", 200, b'{"status":"ok"}\n', {"X-App-Name": "http-echo"}),
    (TEAPOT, "/", 418, b"short and stout\n", {}),
    (NETEXEC, "/hostname", 200, b"net-0", {"Content-Type": "text/plain; charset=utf-8"}),
    (NETEXEC, "/hostName", 200, b"net-0", {}),
    (NETEXEC, "/clientip", 200, b"10.244.0.1:51234", {}),
    (NETEXEC, "/echo?msg=hi%20there", 200, b"hi there", {}),
    (NETEXEC, "/echo?msg=%3Chtml%3E%3C/html%3E", 200, b"<html></html>",
     {"Content-Type": "text/html; charset=utf-8"}),
    (NETEXEC, "/echo?msg=gone&code=503", 503, b"gone", {}),
    (NETEXEC, "/echo?msg=x&code=abc", 200,
     b"argument 'code' must be an integer or empty, got \"abc\"\n", {}),
    (NETEXEC, "/healthz", 200, b"", {"Content-Length": "0"}),
    (NO_UDP, "/healthz", 412, b"", {}),
    (NETEXEC, "/", 200, b"NOW: 2024-12-03 10:00:00.25 +0000 UTC m=+1.500000000", {}),
    (NETEXEC, "/redirect?location=/echo%3Fmsg%3Dx&code=307", 307,
     b'<a href="/echo?msg=x">Temporary Redirect</a>.\n\n', {"Location": "/echo?msg=x"}),
    (NETEXEC, "/dial?host=a&port=1&request=hostname", 501,
     b"kubeloop: agnhost netexec /dial is not emulated\n", {}),
    (SERVE_HOSTNAME, "/anything", 200, b"sh-0", {}),
    (LIVENESS, "/healthz", 200, b"ok", {}),
    (DEAD, "/healthz", 500, b"error: 20.0", {}),
    (LIVENESS, "/started", 200, b"5s", {}),
    (LIVENESS, "/other", 404, b"404 page not found\n", {"X-Content-Type-Options": "nosniff"}),
], ids=["hello", "hello-any-path", "http-echo", "http-echo-health", "http-echo-status",
        "netexec-hostname", "netexec-hostName", "netexec-clientip", "netexec-echo",
        "netexec-echo-sniffs-html", "netexec-echo-code", "netexec-echo-bad-code",
        "netexec-healthz", "netexec-healthz-without-udp", "netexec-root-time",
        "netexec-redirect", "netexec-dial", "serve-hostname", "liveness-young",
        "liveness-old", "liveness-started", "liveness-404"])
def test_go_app_answers(app: HttpApp, target: str, status: int, body: bytes,
                        headers: dict[str, str]) -> None:
    got_status, got_headers, got_body = parsed(app, app.handle(request(target)))
    assert (got_status, got_body) == (status, body)
    assert {k: got_headers.get(k) for k in headers} == headers


def test_go_header_order_puts_handler_headers_first_then_date() -> None:
    head = wire(ECHO, ECHO.handle(request()), keep=False).split(b"\r\n\r\n")[0]
    assert head.split(b"\r\n") == [
        b"HTTP/1.1 200 OK", b"X-App-Name: http-echo", b"X-App-Version: 1.0.0",
        b"Date: " + DATE, b"Content-Length: 12", b"Content-Type: text/plain; charset=utf-8",
        b"Connection: close"]


def test_netexec_exit_ends_the_program_with_the_code() -> None:
    resp = NETEXEC.handle(request("/exit?code=3"))
    assert (resp.status, resp.exit_code) == (200, 3)
    assert NETEXEC.handle(request("/shutdown")).exit_code == 0
    assert NETEXEC.handle(request("/exit?timeout=soon")).exit_code is None


@pytest.mark.parametrize("app, target, line", [
    (HELLO, "/a%20b", "2024/12/03 10:00:00 Serving request: /a b"),
    (ECHO, "/x?y=1", '2024/12/03 10:00:00 10.244.0.5 10.244.0.1:51234 "GET /x HTTP/1.1" '
                     '200 12 "curl/8.5.0" 0s'),
    (ECHO, "/health", None),
    (NETEXEC, "/hostname", "2024/12/03 10:00:00 GET /hostname"),
    (NETEXEC, "/echo?msg=a&code=201", "2024/12/03 10:00:00 GET /echo?msg=a&code=201"),
    (NETEXEC, "/exit?code=4&wait=1s", "2024/12/03 10:00:00 GET /exit?code=4&timeout=&wait=1s"
                                      "\n2024/12/03 10:00:00 Will begin shutdown in 1s, "
                                      "allowing 0s for connections to close, then will "
                                      "exit with 4"),
    (NETEXEC, "/whatever", "2024/12/03 10:00:00 GET /"),
    (SERVE_HOSTNAME, "/", "2024/12/03 10:00:00 HTTP request from 10.244.0.1:51234"),
    (LIVENESS, "/healthz", None),
], ids=["hello", "http-echo", "http-echo-health-unlogged", "netexec-hostname",
        "netexec-echo", "netexec-exit", "netexec-root", "serve-hostname", "liveness"])
def test_go_app_log_lines(app: HttpApp, target: str, line: str | None) -> None:
    req = request(target)
    assert app.log(req, app.handle(req), NOW) == line


def test_serve_hostname_close_flag_closes_each_connection() -> None:
    assert CLOSING.handle(request()).close and not SERVE_HOSTNAME.handle(request()).close


@pytest.mark.parametrize("app, data, reply, line", [
    (goapps.NetexecUdp("net-0"), b"hostname", b"net-0",
     "2024/12/03 10:00:00 Sending udp hostName response"),
    (goapps.NetexecUdp("net-0"), b"echo Hello There\n", b"hello there",
     "2024/12/03 10:00:00 Echoing hello there to UDP client 10.244.0.1:40000"),
    (goapps.NetexecUdp("net-0"), b"clientip", b"10.244.0.1:40000",
     "2024/12/03 10:00:00 Sending clientip back to UDP client 10.244.0.1:40000"),
    (goapps.NetexecUdp("net-0"), b"dance", None,
     "2024/12/03 10:00:00 Unknown UDP command received from 10.244.0.1:40000: dance"),
    (goapps.NetexecUdp("net-0"), b"  ", None, None),
    (goapps.HostnameDatagram("sh-0"), b"x", b"sh-0",
     "2024/12/03 10:00:00 UDP request from 10.244.0.1:40000"),
    (echoes.GenericDatagram(5353), b"ping", b"ping",
     "2024-12-03T10:00:00.250Z 10.244.0.1:40000 sent 4 bytes to 5353/UDP"),
], ids=["netexec-hostname", "netexec-echo-lowercases", "netexec-clientip",
        "netexec-unknown", "netexec-blank", "serve-hostname", "generic-echo"])
def test_datagram_replies(app: DatagramApp, data: bytes, reply: bytes | None,
                          line: str | None) -> None:
    assert app.reply(data, ("10.244.0.1", 40000), NOW) == (reply, line)


def test_hostname_stream_writes_the_hostname_and_hangs_up() -> None:
    app = goapps.HostnameStream("sh-0")
    assert app.greeting_delay is None and app.close_after_greeting
    assert app.greet(("10.244.0.1", 40000), NOW) == (
        b"sh-0", "2024/12/03 10:00:00 TCP request from 10.244.0.1:40000")


ECHOSERVER = echoes.Echoserver("echo-5d8b", {}, legacy=False)


def test_echoserver_template_text() -> None:
    req = request("/a?x=1&y=2", headers=CURL + (("x-multi", "1"), ("x-multi", "2")),
                  port=8080)
    assert ECHOSERVER.handle(req).body.decode() == (
        "\n\nHostname: echo-5d8b\n\nPod Information:\n\t-no pod information available-\n\n"
        "Server values:\n\tserver_version=nginx: 1.13.3 - lua: 10008\n\n"
        "Request Information:\n\tclient_address=10.244.0.1\n\tmethod=GET\n"
        "\treal path=/a?x=1&amp;y=2\n\tquery=x=1&amp;y=2\n\trequest_version=1.1\n"
        "\trequest_scheme=http\n\trequest_uri=http://10.244.0.5:8080/a?x=1&amp;y=2\n\n"
        "Request Headers:\n\taccept=*/*  \n\thost=10.244.0.5  \n\tuser-agent=curl/8.5.0  \n"
        "\tx-multi=1\n\tx-multi=2\n\nRequest Body:\n\t-no body in request-\n\n")


def test_echoserver_shows_pod_information_from_the_downward_api() -> None:
    app = echoes.Echoserver("echo-5d8b", {"POD_NAME": "echo-5d8b", "POD_IP": "10.244.0.5"},
                            legacy=False)
    body = app.handle(request(method="POST", body=b"a=<b>", version="1.0")).body.decode()
    assert "Pod Information:\n\tnode name:\tN/A\n\tpod name:\techo-5d8b\n" in body
    assert "\trequest_version=1\n" in body and "Request Body:\na=&lt;b&gt;\n\n" in body


def test_echoserver_legacy_client_values_text() -> None:
    app = echoes.Echoserver("echo-1", {}, legacy=True)
    req = request("/p", method="POST", body=b"foobar", port=8080,
                  headers=(("host", "localhost:8080"), ("accept", "*/*")))
    assert app.handle(req).body.decode() == (
        "CLIENT VALUES:\nclient_address=10.244.0.1\ncommand=POST\nreal path=/p\nquery=nil\n"
        "request_version=1.1\nrequest_uri=http://localhost:8080/p\n\nSERVER VALUES:\n"
        "server_version=nginx: 1.10.0 - lua: 10001\n\nHEADERS RECEIVED:\naccept=*/*\n"
        "host=localhost:8080\nBODY:\nfoobar")


def test_echoserver_access_log_is_combined_format() -> None:
    req = request(port=8080)
    assert ECHOSERVER.log(req, ECHOSERVER.handle(req), NOW) == (
        '10.244.0.1 - - [03/Dec/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 406 "-" '
        '"curl/8.5.0"')


JMALLOC = echoes.JmallocEcho("hello-minikube-5c898d8489-j6zdb", 8080)


@pytest.mark.parametrize("target, headers, body, text", [
    ("/", CURL, b"", "Request served by hello-minikube-5c898d8489-j6zdb\n\nHTTP/1.1 GET /\n\n"
                     "Host: 10.244.0.5\nAccept: */*\nUser-Agent: curl/8.5.0\n"),
    ("/p?q=1", (("host", "svc:8080"), ("x-b", "2"), ("x-a", "1"), ("x-a", "3")), b"data",
     "Request served by hello-minikube-5c898d8489-j6zdb\n\nHTTP/1.1 GET /p?q=1\n\n"
     "Host: svc:8080\nX-A: 1\nX-A: 3\nX-B: 2\n\ndata"),
], ids=["curl", "sorted-headers-and-body"])
def test_kicbase_echo_server(target: str, headers: Headers, body: bytes, text: str) -> None:
    resp = JMALLOC.handle(request(target, headers=headers, body=body))
    status, got_headers, got_body = parsed(JMALLOC, resp)
    assert (status, got_body.decode(), got_headers["Content-Type"]) == (200, text,
                                                                      "text/plain")
    assert JMALLOC.log(request(target), resp, NOW) == f"10.244.0.1:51234 | GET {target}"


EALEN = echoes.EalenEcho("echo-0", {"GREETING": "hi"}, 80)


def test_ealen_echo_server_json() -> None:
    req = request("/api?x=1&x=2&y=", method="POST",
                  headers=CURL + (("content-type", "application/json"),
                                  ("cookie", "a=1; b=two")), body=b'{"k": [1, 2]}')
    status, headers, body = parsed(EALEN, EALEN.handle(req))
    echoed = json.loads(body)
    assert (status, headers["X-Powered-By"], headers["Content-Type"]) == (
        200, "Express", "application/json; charset=utf-8")
    assert headers["ETag"].startswith(f'W/"{len(body):x}-')
    assert echoed["host"] == {"hostname": "10.244.0.5", "ip": "::ffff:10.244.0.1", "ips": []}
    assert echoed["http"] == {"method": "POST", "baseUrl": "", "originalUrl": "/api?x=1&x=2&y=",
                              "protocol": "http"}
    assert echoed["request"]["query"] == {"x": ["1", "2"], "y": ""}
    assert echoed["request"]["cookies"] == {"a": "1", "b": "two"}
    assert echoed["request"]["body"] == {"k": [1, 2]}
    assert echoed["request"]["params"] == {"0": "/api"}
    assert echoed["environment"]["GREETING"] == "hi"
    assert echoed["environment"]["HOSTNAME"] == "echo-0"


def test_ealen_echo_code_and_bunyan_log() -> None:
    req = request("/?echo_code=404")
    resp = EALEN.handle(req)
    record = json.loads(EALEN.log(req, resp, NOW) or "")
    assert resp.status == 404
    assert (record["name"], record["level"], record["time"]) == (
        "echo-server", 30, "2024-12-03T10:00:00.250Z")
    assert record["msg"] == ("Tue, 03 Dec 2024 10:00:00 GMT | [GET] - "
                             "http://10.244.0.5/?echo_code=404")


GENERIC = echoes.Generic("shop", "api-0", "10.244.0.5", "registry.example.com/api:3",
                         [(8080, "TCP"), (5353, "UDP")])


def test_generic_program_listens_on_declared_ports() -> None:
    assert [(lst.port, lst.protocol, type(lst.app).__name__) for lst in GENERIC.listeners] \
        == [(8080, "TCP", "GenericStream"), (5353, "UDP", "GenericDatagram")]
    stream = GENERIC.listeners[0].app
    assert isinstance(stream, echoes.GenericStream) and stream.http is not None
    greeting, line = stream.greet(("10.244.0.1", 40000), NOW)
    assert greeting == (b"kubeloop: pod shop/api-0 (image registry.example.com/api:3) port "
                        b"8080/TCP echoes what you send\n")
    _, _, body = parsed(stream.http, stream.http.handle(request()))
    assert body == (b"kubeloop: pod shop/api-0 (image registry.example.com/api:3) answered "
                    b"on port 8080\n")


@pytest.mark.parametrize("program, first_banner", [
    (NGINX, "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to "
            "perform configuration"),
    (webservers.Nginx("1.27.5", entrypoint=False),
     '2024/12/03 10:00:00 [notice] 1#1: using the "epoll" event method'),
    (HTTPD, "AH00558: httpd: Could not reliably determine the server's fully qualified "
            "domain name, using 10.244.0.5. Set the 'ServerName' directive globally to "
            "suppress this message"),
    (HELLO, "2024/12/03 10:00:00 Server listening on port 8080"),
    (ECHO, "2024/12/03 10:00:00 [INFO] server is listening on :5678"),
    (NETEXEC, "2024/12/03 10:00:00 Started HTTP server on port 8080"),
    (SERVE_HOSTNAME, "2024/12/03 10:00:00 Serving on port 9376."),
    (JMALLOC, "Echo server listening on port 8080."),
    (EALEN, "Listening on port 80."),
    (goapps.Pause(agnhost=True), "Paused"),
    (GENERIC, "kubeloop: registry.example.com/api:3 is not an image kubeloop emulates; "
              "echoing on 8080/TCP, 5353/UDP"),
], ids=["nginx", "nginx-without-entrypoint", "httpd", "hello", "http-echo", "netexec",
        "serve-hostname", "kicbase", "ealen", "agnhost-pause", "generic"])
def test_banners(program: Program, first_banner: str) -> None:
    assert program.banner(NOW)[0] == first_banner


@pytest.mark.parametrize("program, code, last_line", [
    (NGINX, 0, "2024/12/03 10:00:00 [notice] 1#1: exit"),
    (HTTPD, 0, "[Tue Dec 03 10:00:00.250000 2024] [mpm_event:notice] "
               "[pid 1:tid 140230036453248] AH00491: caught SIGTERM, shutting down"),
    (HELLO, 143, None),
    (ECHO, 2, "2024/12/03 10:00:00 [INFO] received interrupt, shutting down..."),
    (SERVE_HOSTNAME, 137, "2024/12/03 10:00:00 Awaiting pod deletion."),
    (goapps.Pause(agnhost=False), 0, "Shutting down, got signal: Terminated"),
    (goapps.Pause(agnhost=True), 2, None),
    (EALEN, 137, None),
], ids=["nginx", "httpd", "hello", "http-echo", "serve-hostname", "pause", "agnhost-pause",
        "ealen"])
def test_sigterm(program: Program, code: int, last_line: str | None) -> None:
    exit = program.terminated(NOW)
    assert (exit.code, exit.lines[-1] if exit.lines else None) == (code, last_line)


@pytest.mark.parametrize("program, listener, code, lines", [
    (NGINX, NGINX.listeners[0], 1,
     ("2024/12/03 10:00:00 [emerg] 1#1: bind() to 0.0.0.0:80 failed (98: Address already in "
      "use)", "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)",
      "2024/12/03 10:00:00 [emerg] 1#1: still could not bind()",
      "nginx: [emerg] still could not bind()")),
    (HELLO, HELLO.listeners[0], 1,
     ("2024/12/03 10:00:00 listen tcp :8080: bind: address already in use",)),
    (NETEXEC, NETEXEC.listeners[1], 1,
     ("2024/12/03 10:00:00 Error occurred: failed to create listener for UDP address :8081:"
      "listen udp :8081: bind: address already in use",)),
    (GENERIC, GENERIC.listeners[0], 1,
     ("kubeloop: cannot listen on 10.244.0.5:8080/TCP: Address already in use",)),
], ids=["nginx", "go", "netexec-udp", "generic"])
def test_bind_failures(program: Program, listener: Listener, code: int,
                       lines: tuple[str, ...]) -> None:
    assert program.bind_failed(listener, 98, "Address already in use", NOW).lines == lines
    assert program.bind_failed(listener, 98, "Address already in use", NOW).code == code
