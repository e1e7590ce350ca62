"""Servers that answer with the request they saw: Kubernetes' echoserver (the lua
template of 1.10, and the "CLIENT VALUES" text of 1.4 and older), minikube's
kicbase/echo-server (jmalloc's Go server) and ealen/echo-server (Express, JSON); and the
generic stand-in for images kubeloop does not know: an echo on every declared port that
answers HTTP when spoken to in HTTP."""

from __future__ import annotations

import base64
import errno as errnos
import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, unquote

from node_agent.images import formats
from node_agent.images.goapps import GoProgram, go_respond
from node_agent.images.model import (CONNECTION, DATE, DatagramApp, Exit, HttpApp,
                                     Listener, Problem, Program, Request, Response,
                                     StreamApp, respond)


def lua_escape(text: str) -> str:
    """lua-resty-template's {{ }} escaping as vendored by echoserver (``/`` kept)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def _lua_number(version: str) -> str:
    # ngx.req.http_version() is a Lua number: 1.0 prints as "1".
    return "1" if version == "1.0" else version


class Echoserver(HttpApp, Program):
    """registry.k8s.io/echoserver: nginx + lua on 8080, the request as text."""

    keep_alive = b"Connection: keep-alive\r\n"
    idle_timeout = 620.0  # keepalive_timeout in its nginx.conf
    max_body = 10 << 20  # client_max_body_size 10m

    def __init__(self, hostname: str, env: dict[str, str], legacy: bool) -> None:
        self.hostname, self.env, self.legacy = hostname, env, legacy
        self.listeners = (Listener(8080, "TCP", self),)
        self._server_version = "nginx: 1.10.0 - lua: 10001" if legacy \
            else "nginx: 1.13.3 - lua: 10008"

    def handle(self, req: Request) -> Response:
        body = (self._legacy_text(req) if self.legacy else self._text(req)).encode(
            "latin-1", "replace")
        return respond(200, [("Server", "echoserver"), ("Date", DATE),
                             ("Content-Type", "text/plain"),
                             ("Content-Length", str(len(body))), CONNECTION], body)

    def _uri(self, req: Request) -> str:
        host = (req.header("host") or req.server[0]).rsplit(":", 1)[0].lower()
        return f"http://{host}:{req.server[1]}{req.target}"

    def _headers(self, req: Request) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for name, value in req.headers:
            grouped.setdefault(name, []).append(value)
        return dict(sorted(grouped.items()))

    def _text(self, req: Request) -> str:
        env, e = self.env, lua_escape
        if env.get("POD_NAME"):
            pod = "".join(f"\t{label}:\t{e(env.get(key) or 'N/A')}\n" for label, key in (
                ("node name", "NODE_NAME"), ("pod name", "POD_NAME"),
                ("pod namespace", "POD_NAMESPACE"), ("pod IP", "POD_IP")))
        else:
            pod = "\t-no pod information available-\n"
        headers = ""
        for name, values in self._headers(req).items():
            if len(values) == 1:
                headers += f"\t{e(name)}={e(values[0])}  \n"
            else:
                headers += "".join(f"\t{e(name)}={e(v)}\n" for v in values)
        body = e(req.body.decode("latin-1")) if req.body else "\t-no body in request-"
        return (f"\n\nHostname: {e(self.hostname)}\n\nPod Information:\n{pod}\n"
                f"Server values:\n\tserver_version={self._server_version}\n\n"
                f"Request Information:\n\tclient_address={req.client[0]}\n"
                f"\tmethod={e(req.method)}\n\treal path={e(req.target)}\n"
                f"\tquery={e(req.query)}\n\trequest_version={_lua_number(req.version)}\n"
                f"\trequest_scheme=http\n\trequest_uri={e(self._uri(req))}\n\n"
                f"Request Headers:\n{headers}\nRequest Body:\n{body}\n\n")

    def _legacy_text(self, req: Request) -> str:
        headers = "".join(f"{name}={''.join(values)}\n"
                          for name, values in self._headers(req).items())
        query = req.query if "?" in req.target else "nil"
        body = req.body.decode("latin-1") if req.body else "-no body in request-"
        return (f"CLIENT VALUES:\nclient_address={req.client[0]}\ncommand={req.method}\n"
                f"real path={req.target}\nquery={query}\n"
                f"request_version={_lua_number(req.version)}\n"
                f"request_uri={self._uri(req)}\n\nSERVER VALUES:\n"
                f"server_version={self._server_version}\n\nHEADERS RECEIVED:\n{headers}"
                f"BODY:\n{body}")

    def log(self, req: Request, resp: Response, now: float) -> str | None:
        esc = formats.log_escape
        sent = 0 if req.method == "HEAD" else len(resp.body)
        return (f'{req.client[0]} - - [{formats.clf_time(int(now))}] "{esc(req.line)}" '
                f'{resp.status} {sent} "{esc(req.header("referer") or "-")}" '
                f'"{esc(req.header("user-agent") or "-")}"')

    def banner(self, now: float) -> list[str]:
        if self.legacy:
            return []
        return ["Generating self-signed cert", "Generating a 2048 bit RSA private key",
                "..............+++", ".....+++",
                "writing new private key to '/certs/privateKey.key'", "-----",
                "Starting nginx"]

    def terminated(self, now: float) -> Exit:
        # run.sh is PID 1 and does not forward SIGTERM: killed after the grace period.
        return Exit(137)

    def bind_failed(self, listener: Listener, errno: int, reason: str, now: float) -> Exit:
        return Exit(1, (f"nginx: [emerg] bind() to 0.0.0.0:{listener.port} failed "
                        f"({errno}: {reason})",))


class JmallocEcho(HttpApp, GoProgram):
    """kicbase/echo-server (jmalloc/echo-server): who served it, then the request."""

    def __init__(self, hostname: str, port: int) -> None:
        self.hostname, self.port = hostname, port
        self.listeners = (Listener(port, "TCP", self),)

    def handle(self, req: Request) -> Response:
        grouped: dict[str, list[str]] = {}
        for name, value in req.headers:
            if name != "host":
                grouped.setdefault(formats.canonical_header(name), []).append(value)
        lines = [f"Request served by {self.hostname}", "",
                 f"HTTP/{req.version} {req.method} {req.target}", "", f"Host: {req.host}"]
        lines += [f"{name}: {value}" for name in sorted(grouped) for value in grouped[name]]
        body = ("\n".join(lines) + "\n").encode("latin-1", "replace")
        if req.body:
            body += b"\n" + req.body
        return go_respond(200, body, [("Content-Type", "text/plain")])

    def log(self, req: Request, resp: Response, now: float) -> str | None:
        return f"{req.client[0]}:{req.client[1]} | {req.method} {req.target}"

    def banner(self, now: float) -> list[str]:
        return [f"Echo server listening on port {self.port}."]

    def bind_failed(self, listener: Listener, errno: int, reason: str, now: float) -> Exit:
        return Exit(2, (f"panic: listen tcp :{listener.port}: bind: {reason.lower()}", "",
                        "goroutine 1 [running]:", "main.main()"))


class EalenEcho(HttpApp, Program):
    """ealen/echo-server (Express): the request and the environment as JSON."""

    keep_alive = b"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
    idle_timeout = 5.0  # Node's server.keepAliveTimeout

    def __init__(self, hostname: str, env: dict[str, str], port: int) -> None:
        self.hostname, self.port = hostname, port
        self.listeners = (Listener(port, "TCP", self),)
        self.environment = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                    "/sbin:/bin", "HOSTNAME": hostname, **env,
                            "NODE_VERSION": "20.11.1", "YARN_VERSION": "1.22.19",
                            "HOME": "/root"}

    def echo(self, req: Request) -> dict[str, Any]:
        headers: dict[str, str] = {}
        for name, value in req.headers:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        path = req.path
        return {
            "host": {"hostname": req.host.rsplit(":", 1)[0], "ip": f"::ffff:{req.client[0]}",
                     "ips": []},
            "http": {"method": req.method, "baseUrl": "", "originalUrl": req.target,
                     "protocol": "http"},
            "request": {"params": {"0": unquote(path)}, "query": _query(req.query),
                        "cookies": _cookies(req.header("cookie")), "body": _body(req),
                        "headers": headers},
            "environment": self.environment}

    def handle(self, req: Request) -> Response:
        code = _query(req.query).get("echo_code") or req.header("x-echo-code") or "200"
        status = int(code) if isinstance(code, str) and code.isdigit() \
            and 200 <= int(code) <= 599 else 200
        body = json.dumps(self.echo(req), separators=(",", ":"),
                          ensure_ascii=False).encode()
        digest = base64.b64encode(hashlib.sha1(body).digest()).decode()[:27]
        return respond(status, [("X-Powered-By", "Express"),
                                ("Content-Type", "application/json; charset=utf-8"),
                                ("Content-Length", str(len(body))),
                                ("ETag", f'W/"{len(body):x}-{digest}"'), ("Date", DATE),
                                CONNECTION], body)

    def problem(self, problem: Problem, req: Request) -> Response:
        status = {Problem.BAD_REQUEST: 400, Problem.HEADERS_TOO_LARGE: 431,
                  Problem.BODY_TOO_LARGE: 413}[problem]
        return respond(status, [CONNECTION], close=True)

    def log(self, req: Request, resp: Response, now: float) -> str | None:
        echo = self.echo(req)
        record = {"name": "echo-server", "hostname": self.hostname, "pid": 1, "level": 30,
                  "host": echo["host"], "http": echo["http"], "request": echo["request"],
                  "environment": echo["environment"],
                  "msg": f"{formats.http_date(int(now)).decode()} | [{req.method}] - "
                         f"http://{req.host}{req.target}",
                  "time": formats.iso_millis(now), "v": 0}
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False)

    def banner(self, now: float) -> list[str]:
        return [f"Listening on port {self.port}."]

    def terminated(self, now: float) -> Exit:
        # node as PID 1 has no SIGTERM handler, so the signal is ignored: killed later.
        return Exit(137)

    def bind_failed(self, listener: Listener, errno: int, reason: str, now: float) -> Exit:
        code = errnos.errorcode.get(errno, "E" + str(errno))
        return Exit(1, ("node:events:497", "      throw er; // Unhandled 'error' event",
                        "      ^", "",
                        f"Error: listen {code}: {reason.lower()} :::{listener.port}"))


def _query(query: str) -> dict[str, str | list[str]]:
    """Express's parsed query: repeated keys become lists."""
    parsed = parse_qs(query, keep_blank_values=True)
    return {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}


def _cookies(header: str | None) -> dict[str, str]:
    cookies = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            cookies[name] = unquote(value)
    return cookies


def _body(req: Request) -> object:
    """What Express's body parsers make of the body: JSON, form fields, text, or {}."""
    kind = (req.header("content-type") or "").split(";")[0].strip()
    if not req.body:
        return {}
    if kind == "application/json":
        try:
            return json.loads(req.body)
        except ValueError:
            return {}
    if kind == "application/x-www-form-urlencoded":
        return _query(req.body.decode("utf-8", "replace"))
    if kind.startswith("text/"):
        return req.body.decode("utf-8", "replace")
    return {}


class GenericHttp(HttpApp):
    """What an unknown image's port answers to HTTP: 200 and who answered."""

    keep_alive = b"Connection: keep-alive\r\n"

    def __init__(self, namespace: str, pod: str, image: str, port: int) -> None:
        body = (f"kubeloop: pod {namespace}/{pod} (image {image}) answered on port "
                f"{port}\n").encode()
        self._page = respond(200, [("Server", "kubeloop"), ("Date", DATE),
                                   ("Content-Type", "text/plain; charset=utf-8"),
                                   ("Content-Length", str(len(body))), CONNECTION], body)

    def handle(self, req: Request) -> Response:
        return self._page

    def log(self, req: Request, resp: Response, now: float) -> str | None:
        return (f"{formats.iso_millis(now)} {req.client[0]}:{req.client[1]} "
                f'"{formats.log_escape(req.line)}" {resp.status} {len(resp.body)}')


class GenericStream(StreamApp):
    """An unknown image's TCP port: a greeting naming the pod, then an echo."""

    greeting_delay = 0.3  # long enough for an HTTP client to speak first
    echo = True

    def __init__(self, namespace: str, pod: str, image: str, port: int) -> None:
        self.port = port
        self._greeting = (f"kubeloop: pod {namespace}/{pod} (image {image}) port "
                          f"{port}/TCP echoes what you send\n").encode()
        self.http = GenericHttp(namespace, pod, image, port)

    def greet(self, client: tuple[str, int], now: float) -> tuple[bytes, str | None]:
        return self._greeting, (f"{formats.iso_millis(now)} {client[0]}:{client[1]} "
                                f"connected to {self.port}/TCP")


class GenericDatagram(DatagramApp):
    """An unknown image's UDP port: every datagram comes back."""

    def __init__(self, port: int) -> None:
        self.port = port

    def reply(self, data: bytes, client: tuple[str, int],
              now: float) -> tuple[bytes | None, str | None]:
        return data, (f"{formats.iso_millis(now)} {client[0]}:{client[1]} sent "
                      f"{len(data)} bytes to {self.port}/UDP")


class Generic(Program):
    """Any other image: listens on each declared TCP/UDP containerPort."""

    def __init__(self, namespace: str, pod: str, pod_ip: str, image: str,
                 ports: list[tuple[int, str]]) -> None:
        self.image, self.pod_ip = image, pod_ip
        listeners = []
        for port, protocol in ports:
            app: StreamApp | DatagramApp = GenericStream(namespace, pod, image, port) \
                if protocol == "TCP" else GenericDatagram(port)
            listeners.append(Listener(port, protocol, app))
        self.listeners = tuple(listeners)

    def banner(self, now: float) -> list[str]:
        ports = ", ".join(f"{lst.port}/{lst.protocol}" for lst in self.listeners)
        what = f"echoing on {ports}" if ports else "no ports declared, idling"
        return [f"kubeloop: {self.image} is not an image kubeloop emulates; {what}"]

    def bind_failed(self, listener: Listener, errno: int, reason: str, now: float) -> Exit:
        return Exit(1, (f"kubeloop: cannot listen on {self.pod_ip}:{listener.port}/"
                        f"{listener.protocol}: {reason}",))
