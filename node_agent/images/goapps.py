"""The small Go servers of Kubernetes tutorials and e2e tests, answering as their net/http
handlers do: Google's hello-app, HashiCorp's http-echo, and agnhost's netexec,
serve-hostname, liveness and pause subcommands (plus the pause image itself). Go's
header order and content sniffing are in ``go_respond``; its log prefix in ``formats``."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, unquote

from node_agent.images import formats
from node_agent.images.model import (CONNECTION, DATE, DatagramApp, Exit, HttpApp,
                                     Listener, Program, Request, Response, StreamApp,
                                     reason_phrase, respond)


def go_respond(status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None,
               *, close: bool = False, exit_code: int | None = None) -> Response:
    """A response as Go's net/http writes it: handler headers sorted, then Date,
    Content-Length and a sniffed Content-Type when the handler set none."""
    own = sorted(headers or [])
    sniffed = [] if any(k == "Content-Type" for k, _ in own) else \
        [("Content-Type", t) for t in [formats.sniff_content_type(body)] if t]
    reason = None if reason_phrase(status) else f"status code {status}"
    return respond(status, own + [("Date", DATE), ("Content-Length", str(len(body)))]
                   + sniffed + [CONNECTION], body, reason=reason, close=close,
                   exit_code=exit_code)


def go_error(status: int, text: str) -> Response:
    """http.Error: plain text, nosniff, the message and a newline."""
    return go_respond(status, (text + "\n").encode(),
                      [("Content-Type", "text/plain; charset=utf-8"),
                       ("X-Content-Type-Options", "nosniff")])


NOT_FOUND = go_error(404, "404 page not found")


def form(req: Request) -> dict[str, list[str]]:
    """Go's Request.Form: the query, plus an url-encoded body."""
    values = parse_qs(req.query, keep_blank_values=True)
    if req.header("content-type") == "application/x-www-form-urlencoded":
        for key, items in parse_qs(req.body.decode("utf-8", "replace"),
                                   keep_blank_values=True).items():
            values.setdefault(key, []).extend(items)
    return values


def form_value(req: Request, name: str) -> str:
    return form(req).get(name, [""])[0]


_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float | None:
    """time.ParseDuration for unsigned values: seconds, or None if invalid."""
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        match = _GO_DURATION.match(text, pos)
        if match is None:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return total if text else None


class GoProgram(Program):
    """A Go binary: log.Printf lines, dies of SIGTERM, log.Fatal on a failed bind."""

    def bind_failed(self, listener: Listener, errno: int, reason: str, now: float) -> Exit:
        return Exit(1, (formats.go_log(now, f"listen {listener.protocol.lower()} "
                                            f":{listener.port}: bind: {reason.lower()}"),))


class HelloApp(HttpApp, GoProgram):
    """gcr.io/google-samples/hello-app: the same three lines on every path."""

    def __init__(self, version: str, hostname: str, port: int) -> None:
        self.port = port
        self.listeners = (Listener(port, "TCP", self),)
        self._page = go_respond(200, f"Hello, world!\nVersion: {version}\n"
                                     f"Hostname: {hostname}\n".encode())

    def handle(self, req: Request) -> Response:
        return self._page

    def log(self, req: Request, resp: Response, now: float) -> str | None:
        return formats.go_log(now, f"Serving request: {unquote(req.path)}")

    def banner(self, now: float) -> list[str]:
        return [formats.go_log(now, f"Server listening on port {self.port}")]


class HttpEcho(HttpApp, GoProgram):
    """hashicorp/http-echo: the -text on every path but /health, with -status-code."""

    def __init__(self, text: str, status: int, listen: str, port: int, version: str) -> None:
        self.listen = listen
        self.listeners = (Listener(port, "TCP", self),)
        app_headers = [("X-App-Name", "http-echo"), ("X-App-Version", version)]
        self._echo = go_respond(status, (text + "\n").encode(), app_headers)
        self._health = go_respond(200, b'{"status":"ok"}\n', app_headers)

    def handle(self, req: Request) -> Response:
        return self._health if req.path == "/health" else self._echo

    def log(self, req: Request, resp: Response, now: float) -> str | None:
        if req.path == "/health":
            return None
        agent = req.header("user-agent") or ""
        return (f"{formats.go_log_time(int(now))} {req.host} {req.client[0]}:{req.client[1]}"
                f' "{req.method} {unquote(req.path)} HTTP/{req.version}" {resp.status} '
                f'{len(resp.body)} "{agent}" {formats.go_duration(max(now - req.started, 0))}')

    def banner(self, now: float) -> list[str]:
        return [formats.go_log(now, f"[INFO] server is listening on {self.listen}")]

    def terminated(self, now: float) -> Exit:
        return Exit(2, (formats.go_log(now, "[INFO] received interrupt, shutting down..."),))

    def bind_failed(self, listener: Listener, errno: int, reason: str, now: float) -> Exit:
        return Exit(1, (formats.go_log(now, f"[ERR] server exited with: listen tcp "
                                            f"{self.listen}: bind: {reason.lower()}"),))


class Netexec(HttpApp, GoProgram):
    """agnhost netexec: the HTTP endpoints e2e tests use, and the UDP command server."""

    def __init__(self, hostname: str, http_port: int, udp_port: int, started: float) -> None:
        self.hostname = hostname
        self.http_port, self.udp_port = http_port, udp_port
        self.started = started
        udp = () if udp_port == -1 else (Listener(udp_port, "UDP", NetexecUdp(hostname)),)
        self.listeners = (Listener(http_port, "TCP", self),) + udp
        self._hostname = go_respond(200, hostname.encode())

    def handle(self, req: Request) -> Response:
        path = unquote(req.path)
        if path in ("/hostname", "/hostName"):
            return self._hostname
        if path == "/clientip":
            return go_respond(200, f"{req.client[0]}:{req.client[1]}".encode())
        if path == "/echo":
            return self._echo(req)
        if path == "/healthz":
            # Ready only once the UDP server runs; with --udp-port=-1 it never does.
            return go_respond(412 if self.udp_port == -1 else 200)
        if path == "/redirect":
            return self._redirect(req)
        if path == "/exit":
            return self._exit(req)
        if path == "/shutdown":
            return go_respond(200, exit_code=0)
        if path in ("/dial", "/shell", "/upload"):
            return go_error(501, f"kubeloop: agnhost netexec {path} is not emulated")
        return go_respond(200, ("NOW: " + formats.go_time(
            req.started, req.started - self.started)).encode())

    def _echo(self, req: Request) -> Response:
        msg, code = form_value(req, "msg"), form_value(req, "code")
        if not code:
            return go_respond(200, msg.encode())
        if not re.fullmatch(r"[+-]?\d+", code) or not 100 <= int(code) <= 999:
            return go_respond(200, f"argument 'code' must be an integer or empty, got "
                                   f"{_go_quote(code)}\n".encode())
        return go_respond(int(code), msg.encode())

    def _redirect(self, req: Request) -> Response:
        location, code = form_value(req, "location"), form_value(req, "code") or "302"
        if not code.isdigit():
            return go_respond(200, f"argument 'code' must be an integer or empty, got "
                                   f"{_go_quote(code)}\n".encode())
        status = int(code)
        if not location.startswith("/") and "://" not in location:
            location = "/" + location
        body = b""
        headers = [("Location", location)]
        if req.method in ("GET", "HEAD"):
            headers.append(("Content-Type", "text/html; charset=utf-8"))
            reason = reason_phrase(status)
            body = f'<a href="{html.escape(location)}">{reason}</a>.\n\n'.encode()
        return go_respond(status, body, headers)

    def _exit(self, req: Request) -> Response:
        for name in ("timeout", "wait"):
            value = form_value(req, name)
            if value and parse_go_duration(value) is None:
                return go_respond(200, f"argument '{name}' must be a valid golang duration "
                                       f"or empty, got {_go_quote(value)}\n".encode())
        code = form_value(req, "code")
        if code and not re.fullmatch(r"[+-]?\d+", code):
            return go_respond(200, f"argument 'code' must be an integer [0-127] or empty, "
                                   f"got {_go_quote(code)}\n".encode())
        return go_respond(200, exit_code=int(code or 0) & 0xFF)

    def log(self, req: Request, resp: Response, now: float) -> str | None:
        path = unquote(req.path)
        if path == "/echo":
            text = f"GET /echo?msg={form_value(req, 'msg')}&code={form_value(req, 'code')}"
        elif path == "/redirect":
            text = (f"{req.method} /redirect?msg={form_value(req, 'location')}"
                    f"&code={form_value(req, 'code')}")
        elif path == "/exit":
            values = [form_value(req, k) for k in ("code", "timeout", "wait")]
            text = "GET /exit?code={}&timeout={}&wait={}".format(*values)
            if resp.exit_code is not None:
                wait = formats.go_duration(parse_go_duration(values[2] or "0") or 0.0)
                timeout = formats.go_duration(parse_go_duration(values[1] or "0") or 0.0)
                text += "\n" + formats.go_log(
                    now, f"Will begin shutdown in {wait}, allowing {timeout} "
                         f"for connections to close, then will exit with {resp.exit_code}")
        elif path in ("/clientip", "/healthz", "/hostname", "/hostName", "/shutdown"):
            text = f"GET {path}"
        elif path in ("/dial", "/shell", "/upload"):
            return None
        else:
            text = "GET /"
        return formats.go_log(now, text)

    def banner(self, now: float) -> list[str]:
        lines = [formats.go_log(now, f"Started HTTP server on port {self.http_port}")]
        if self.udp_port != -1:
            lines.append(formats.go_log(now, f"Started UDP server on port  {self.udp_port}"))
        return lines

    def bind_failed(self, listener: Listener, errno: int, reason: str, now: float) -> Exit:
        if listener.protocol == "TCP":
            return super().bind_failed(listener, errno, reason, now)
        port = listener.port
        return Exit(1, (formats.go_log(
            now, f"Error occurred: failed to create listener for UDP address :{port}:"
                 f"listen udp :{port}: bind: {reason.lower()}"),))


def _go_quote(text: str) -> str:
    """Go's %q for plain strings."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class NetexecUdp(DatagramApp):
    """netexec's UDP server: ``hostname``, ``echo <msg>``, ``clientip`` (lower-cased)."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname

    def reply(self, data: bytes, client: tuple[str, int],
              now: float) -> tuple[bytes | None, str | None]:
        text = data.decode("utf-8", "replace").strip().lower()
        address = f"{client[0]}:{client[1]}"
        if text == "hostname":
            return self.hostname.encode(), formats.go_log(now, "Sending udp hostName response")
        if text.startswith("echo "):
            message = text.split(" ", 1)[1]
            return message.encode(), formats.go_log(
                now, f"Echoing {message} to UDP client {address}")
        if text == "clientip":
            return address.encode(), formats.go_log(
                now, f"Sending clientip back to UDP client {address}")
        if text:
            return None, formats.go_log(now, f"Unknown UDP command received from {address}: "
                                             f"{text}")
        return None, None


class ServeHostname(HttpApp, GoProgram):
    """agnhost serve-hostname: the pod's hostname over HTTP, or raw TCP and/or UDP."""

    def __init__(self, hostname: str, port: int, tcp: bool, udp: bool, http: bool,
                 close: bool) -> None:
        self.port = port
        listeners = []
        if tcp:
            listeners.append(Listener(port, "TCP", HostnameStream(hostname)))
        if udp:
            listeners.append(Listener(port, "UDP", HostnameDatagram(hostname)))
        if http:
            listeners.append(Listener(port, "TCP", self))
        self.listeners = tuple(listeners)
        self._answer = go_respond(200, hostname.encode(), close=close)

    def handle(self, req: Request) -> Response:
        return self._answer

    def log(self, req: Request, resp: Response, now: float) -> str | None:
        return formats.go_log(now, f"HTTP request from {req.client[0]}:{req.client[1]}")

    def banner(self, now: float) -> list[str]:
        return [formats.go_log(now, f"Serving on port {self.port}.")]

    def terminated(self, now: float) -> Exit:
        # It traps SIGTERM and sleeps a minute "awaiting pod deletion": killed in the end.
        return Exit(137, (formats.go_log(now, "Shutting down after receiving signal: "
                                              "terminated."),
                          formats.go_log(now, "Awaiting pod deletion.")))

    def bind_failed(self, listener: Listener, errno: int, reason: str, now: float) -> Exit:
        error = f"listen {listener.protocol.lower()} :{listener.port}: bind: {reason.lower()}"
        if isinstance(listener.app, HostnameStream):
            error = f"Error from net.Listen(): {error}"
        elif isinstance(listener.app, HostnameDatagram):
            error = f"Error from ListenUDP(): {error}"
        return Exit(1, (formats.go_log(now, error),))


class HostnameStream(StreamApp):
    """serve-hostname --tcp: writes the hostname and hangs up."""

    close_after_greeting = True

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname

    def greet(self, client: tuple[str, int], now: float) -> tuple[bytes, str | None]:
        return self.hostname.encode(), formats.go_log(
            now, f"TCP request from {client[0]}:{client[1]}")


class HostnameDatagram(DatagramApp):
    """serve-hostname --udp: any datagram gets the hostname."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname

    def reply(self, data: bytes, client: tuple[str, int],
              now: float) -> tuple[bytes | None, str | None]:
        return self.hostname.encode(), formats.go_log(
            now, f"UDP request from {client[0]}:{client[1]}")


class Liveness(HttpApp, GoProgram):
    """agnhost liveness: /healthz is ok for 10 seconds after start, then 500."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.listeners = (Listener(8080, "TCP", self),)

    def handle(self, req: Request) -> Response:
        path = unquote(req.path)
        alive_for = req.started - self.started
        if path == "/healthz":
            if alive_for > 10:
                return go_respond(500, f"error: {alive_for!r}".encode())
            return go_respond(200, b"ok")
        if path == "/started":
            return go_respond(200, formats.go_duration(alive_for).encode())
        if path == "/redirect":
            location = form_value(req, "loc")
            return go_respond(302, f'<a href="{html.escape(location)}">Found</a>.\n\n'
                              .encode(), [("Content-Type", "text/html; charset=utf-8"),
                                          ("Location", location)])
        return NOT_FOUND


class Pause(Program):
    """registry.k8s.io/pause, or ``agnhost pause``: no listener, waits for a signal."""

    def __init__(self, agnhost: bool) -> None:
        self.agnhost = agnhost

    def banner(self, now: float) -> list[str]:
        return ["Paused"] if self.agnhost else []

    def terminated(self, now: float) -> Exit:
        if self.agnhost:
            return Exit(2)
        return Exit(0, ("Shutting down, got signal: Terminated",))
