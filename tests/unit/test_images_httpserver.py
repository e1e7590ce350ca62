"""The HTTP server's protocol, driven byte by byte through a fake transport."""

from __future__ import annotations

import re
from typing import Any

import pytest

from node_agent.images import echoes, goapps, webservers
from node_agent.images.httpserver import HttpService
from node_agent.images.model import HttpApp, Request, Response


class FakeTransport:
    def __init__(self) -> None:
        self.written = b""
        self.writes = 0
        self.closed = self.aborted = self.paused = False

    def get_extra_info(self, name: str) -> Any:
        return {"peername": ("10.244.0.1", 40000), "sockname": ("10.244.0.5", 80)}[name]

    def writelines(self, parts: list[bytes]) -> None:
        self.written += b"".join(parts)
        self.writes += 1

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


class FakeSink:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, text: str) -> None:
        self.lines += text.split("\n")


class Connection:
    def __init__(self, app: HttpApp) -> None:
        self.sink = FakeSink()
        self.exits: list[int] = []
        self.service = HttpService(app, self.sink, self.exits.append)  # type: ignore[arg-type]
        self.protocol = self.service.protocol()
        self.transport = FakeTransport()
        self.protocol.connection_made(self.transport)

    def send(self, *chunks: bytes) -> Connection:
        for chunk in chunks:
            self.protocol.data_received(chunk)
        return self

    def responses(self) -> list[tuple[str, dict[str, str], bytes]]:
        """Splits what was written into (status line, headers, body): the body runs for
        Content-Length, or to the end when the server closes without one."""
        data, out = self.transport.written, []
        while data:
            head, _, data = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:])
            length = int(headers["Content-Length"]) if "Content-Length" in headers else \
                len(data) if headers.get("Connection") == "close" else 0
            out.append((lines[0], headers, data[:length]))
            data = data[length:]
        return out

    def statuses(self) -> list[str]:
        return [status for status, _, _ in self.responses()]


NGINX = webservers.Nginx("1.27.5")
ECHO = echoes.JmallocEcho("echo-0", 8080)
GO = goapps.HelloApp("1.0.0", "hello-0", 8080)
GET = b"GET / HTTP/1.1\r\nHost: web\r\nUser-Agent: t\r\n\r\n"


def test_keep_alive_answers_requests_one_after_another() -> None:
    conn = Connection(NGINX).send(GET, GET)
    assert conn.statuses() == ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]
    assert [h["Connection"] for _, h, _ in conn.responses()] == ["keep-alive", "keep-alive"]
    assert not conn.transport.closed and conn.protocol.conn == 1


def test_pipelined_requests_are_answered_in_order_in_one_write() -> None:
    conn = Connection(NGINX).send(GET + b"GET /nope HTTP/1.1\r\nHost: web\r\n\r\n" + GET)
    assert conn.statuses() == ["HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found", "HTTP/1.1 200 OK"]
    assert conn.transport.writes == 1


def test_a_request_split_anywhere_is_still_one_request() -> None:
    conn = Connection(NGINX).send(*[GET[i:i + 3] for i in range(0, len(GET), 3)])
    assert conn.statuses() == ["HTTP/1.1 200 OK"]


@pytest.mark.parametrize("chunks, body", [
    ([b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello", b" world"],
     b"hello world"),
    ([b"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
      b"6\r\n world\r\n0\r\n\r\n"], b"hello world"),
], ids=["content-length-split", "chunked"])
def test_request_bodies_reach_the_app(chunks: list[bytes], body: bytes) -> None:
    conn = Connection(ECHO).send(*chunks)
    [(status, _, echoed)] = conn.responses()
    assert status == "HTTP/1.1 200 OK" and echoed.endswith(b"\n\n" + body)


def test_head_gets_headers_only() -> None:
    conn = Connection(NGINX).send(b"HEAD / HTTP/1.1\r\nHost: web\r\n\r\n")
    head, _, rest = conn.transport.written.partition(b"\r\n\r\n")
    assert b"Content-Length: 615" in head and rest == b""
    assert conn.sink.lines[-1].endswith('"HEAD / HTTP/1.1" 200 0 "-" "-" "-"')


@pytest.mark.parametrize("request_bytes, header", [
    (b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n", "close"),
    (b"GET / HTTP/1.0\r\n\r\n", "close"),
    (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "keep-alive"),
], ids=["client-close", "http-1.0", "http-1.0-keep-alive"])
def test_connection_header_decides_whether_to_close(request_bytes: bytes,
                                                    header: str) -> None:
    conn = Connection(NGINX).send(request_bytes)
    assert conn.responses()[0][1]["Connection"] == header
    assert conn.transport.closed is (header == "close")


def test_nothing_is_answered_after_close() -> None:
    conn = Connection(NGINX).send(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n" + GET, GET)
    assert conn.statuses() == ["HTTP/1.1 200 OK"] and conn.transport.closed


def test_go_style_only_says_close_when_closing() -> None:
    conn = Connection(GO).send(GET, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    first, second = conn.responses()
    assert "Connection" not in first[1] and second[1]["Connection"] == "close"


@pytest.mark.parametrize("app, garbage, status, marker", [
    (NGINX, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "HTTP/1.1 400 Bad Request",
     b"<title>400 Bad Request</title>"),
    (NGINX, b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n", "HTTP/1.1 400 Bad Request",
     b"<title>400 Bad Request</title>"),
    (GO, b"NOT HTTP AT ALL\r\n\r\n", "HTTP/1.1 400 Bad Request", b"400 Bad Request"),
], ids=["tls-hello", "bad-header", "go-style"])
def test_garbage_gets_400_and_a_closed_connection(app: HttpApp, garbage: bytes, status: str,
                                                   marker: bytes) -> None:
    conn = Connection(app).send(garbage, GET)
    [(got, headers, body)] = conn.responses()
    assert (got, headers["Connection"], marker in body) == (status, "close", True)
    assert conn.transport.closed


def test_garbage_is_logged_with_its_raw_line() -> None:
    conn = Connection(NGINX).send(b"\x16\x03garbage\r\n\r\n")
    assert re.fullmatch(r'10\.244\.0\.1 - - \[.*\] "\\x16\\x03garbage" 400 157 "-" "-" "-"',
                        conn.sink.lines[0])


@pytest.mark.parametrize("app, status, title", [
    (NGINX, "HTTP/1.1 400 Bad Request", b"Request Header Or Cookie Too Large"),
    (GO, "HTTP/1.1 431 Request Header Fields Too Large", b"431 Request Header Fields Too Large"),
], ids=["nginx", "go"])
@pytest.mark.parametrize("chunks", [
    [b"GET / HTTP/1.1\r\nCookie: " + b"a" * 70_000 + b"\r\n\r\n"],
    [b"GET / HTTP/1.1\r\nCookie: "] + [b"a" * 10_000] * 8,
], ids=["complete", "never-ending"])
def test_oversized_heads_are_refused(app: HttpApp, status: str, title: bytes,
                                     chunks: list[bytes]) -> None:
    conn = Connection(app).send(*chunks)
    [(got, _, body)] = conn.responses()
    assert got == status and title in body and conn.transport.closed


@pytest.mark.parametrize("chunks", [
    [b"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n"],
    [b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"]
    + [b"40000\r\n" + b"x" * 0x40000 + b"\r\n"] * 5,
], ids=["declared", "chunked"])
def test_oversized_bodies_get_413(chunks: list[bytes]) -> None:
    conn = Connection(NGINX).send(*chunks)
    assert conn.statuses() == ["HTTP/1.1 413 Request Entity Too Large"]
    assert conn.transport.closed


def test_expect_continue_is_answered_before_the_body() -> None:
    conn = Connection(ECHO).send(
        b"PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    assert conn.transport.written == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.send(b"abc")
    assert conn.statuses() == ["HTTP/1.1 100 Continue", "HTTP/1.1 200 OK"]


def test_upgrade_requests_are_answered_as_plain_http_then_closed() -> None:
    conn = Connection(NGINX).send(
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    assert conn.statuses() == ["HTTP/1.1 200 OK"] and conn.transport.closed


def test_each_request_is_logged_through_the_sink() -> None:
    conn = Connection(NGINX).send(GET, b"GET /x HTTP/1.1\r\nHost: web\r\n\r\n")
    assert [line.split('"')[1] for line in conn.sink.lines if " - - [" in line] == [
        "GET / HTTP/1.1", "GET /x HTTP/1.1"]
    assert "[error]" in conn.sink.lines[1]


def test_an_app_asking_to_exit_reaches_the_exit_hook_after_its_answer() -> None:
    conn = Connection(goapps.Netexec("n", 8080, 8081, 0.0)).send(
        b"GET /exit?code=7 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert conn.statuses() == ["HTTP/1.1 200 OK"] and conn.exits == [7]


class Crashing(HttpApp):
    def handle(self, req: Request) -> Response:
        raise RuntimeError("bug")


def test_a_crashing_app_answers_500(caplog: pytest.LogCaptureFixture) -> None:
    conn = Connection(Crashing()).send(GET)
    assert conn.statuses() == ["HTTP/1.1 500 Internal Server Error"]
    assert "Crashing failed to answer 'GET / HTTP/1.1'" in caplog.text


def test_idle_connections_are_swept_after_the_timeout() -> None:
    app = goapps.HelloApp("1.0.0", "h", 8080)
    quiet, busy = Connection(app), Connection(app)
    service = quiet.service
    service.connections.add(busy.protocol)
    assert service.sweep(1000.0) == 0  # both were active: their idle clocks start now
    busy.send(GET)
    assert service.sweep(1000.0 + app.idle_timeout) == 1
    assert quiet.transport.closed and not busy.transport.closed


def test_a_client_that_does_not_read_is_not_read_either() -> None:
    conn = Connection(NGINX)
    conn.protocol.pause_writing()
    assert conn.transport.paused
    conn.protocol.resume_writing()
    assert not conn.transport.paused


def test_closing_all_aborts_when_asked() -> None:
    conn = Connection(NGINX)
    conn.service.close_all(abort=True)
    assert conn.transport.aborted and conn.protocol.closing


def test_a_body_read_with_its_head_does_not_count_as_head() -> None:
    """A proxy writes head and body together; one read may then carry a small head and
    megabytes of body: that head is not too large (it once was: the whole read counted,
    and ingress POSTs got 431 under load)."""
    conn = Connection(ECHO).send(
        b"POST /users HTTP/1.1\r\nHost: h\r\nContent-Length: 200000\r\n\r\n" + b"x" * 200_000,
        GET)
    assert conn.statuses() == ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]
