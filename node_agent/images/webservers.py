"""The two stock web servers, as their official images answer out of the box: nginx
(welcome page, /50x.html, nginx's own error pages, the image's "main" access-log format
and its error log) and Apache httpd ("It works!", Apache error pages, common log format).
Responses are rendered once at start; a request only picks one."""

from __future__ import annotations

import calendar
from urllib.parse import unquote

from node_agent.images import formats
from node_agent.images.model import (CONNECTION, DATE, Exit, HttpApp, Listener, Problem,
                                     Program, Request, Response, respond)

NGINX_INDEX = b"""<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

NGINX_50X = b"""<!DOCTYPE html>
<html>
<head>
<title>Error</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
<p>If you are the system administrator of this resource then you should check
the error log for details.</p>
<p><em>Faithfully yours, nginx.</em></p>
</body>
</html>
"""

APACHE_INDEX = b"<html><body><h1>It works!</h1></body></html>\n"

# When the packaged files were built: what Last-Modified and ETag are derived from.
NGINX_HTML_MTIME = calendar.timegm((2025, 4, 16, 12, 1, 11))
APACHE_HTML_MTIME = calendar.timegm((2007, 6, 11, 18, 53, 14))

NGINX_ROOT = "/usr/share/nginx/html"
NGINX_WORKER = 29  # the pid of the single worker the image starts in a 1-CPU container
# nginx pads error pages for these browsers so they show nginx's page, not their own.
_PADDING = b"<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n" * 6


class BadPath(ValueError):
    """A request path that climbs above the document root."""


def site_path(target: str) -> str:
    """The file a request-target names, as nginx and Apache resolve it: query dropped,
    %-escapes decoded, slashes merged, ``.`` and ``..`` applied."""
    raw = unquote(target.partition("?")[0], encoding="latin-1")
    parts: list[str] = []
    for segment in raw.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                raise BadPath(target)
            parts.pop()
        else:
            parts.append(segment)
    trailing = "/" if raw.endswith("/") and parts else ""
    return "/" + "/".join(parts) + trailing


def not_modified(req: Request, etag: str, last_modified: str) -> bool:
    """Whether a conditional GET can be answered 304 (If-None-Match wins over
    If-Modified-Since, which must match exactly, as with nginx's default)."""
    if_none_match = req.header("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    return req.header("if-modified-since") == last_modified


class Nginx(HttpApp, Program):
    keep_alive = b"Connection: keep-alive\r\n"
    idle_timeout = 65.0  # keepalive_timeout in the image's nginx.conf
    max_head = 32 << 10  # large_client_header_buffers 4 8k
    max_body = 1 << 20  # client_max_body_size 1m

    def __init__(self, version: str, port: int = 80, entrypoint: bool = True) -> None:
        self.version = version
        self.entrypoint = entrypoint
        self.listeners = (Listener(port, "TCP", self),)
        self._server = f"nginx/{version}"
        last_modified = formats.http_date(NGINX_HTML_MTIME).decode()
        self._files: dict[str, tuple[Response, Response, str]] = {}
        for name, body in (("/index.html", NGINX_INDEX), ("/50x.html", NGINX_50X)):
            etag = f'"{NGINX_HTML_MTIME:x}-{len(body):x}"'
            ok = respond(200, [("Server", self._server), ("Date", DATE),
                               ("Content-Type", "text/html"),
                               ("Content-Length", str(len(body))),
                               ("Last-Modified", last_modified), CONNECTION,
                               ("ETag", etag), ("Accept-Ranges", "bytes")], body)
            unchanged = respond(304, [("Server", self._server), ("Date", DATE),
                                      ("Last-Modified", last_modified), CONNECTION,
                                      ("ETag", etag)])
            self._files[name] = (ok, unchanged, etag)
        self._files["/"] = self._files["/index.html"]
        self._last_modified = last_modified
        self._errors = {(status, padded): self._error(status, padded=padded)
                        for status in (404, 405) for padded in (False, True)}

    def _error(self, status: int, padded: bool = False, close: bool = False,
               title: str | None = None) -> Response:
        reason = {404: "Not Found", 405: "Not Allowed", 400: "Bad Request",
                  413: "Request Entity Too Large"}[status]
        heading = f"{status} {reason}"
        detail = f"<center>{title}</center>\r\n" if title else ""
        body = (f"<html>\r\n<head><title>{status} {title or reason}</title></head>\r\n"
                f"<body>\r\n<center><h1>{heading}</h1></center>\r\n{detail}"
                f"<hr><center>{self._server}</center>\r\n</body>\r\n</html>\r\n").encode()
        if padded:
            body += _PADDING
        return respond(status, [("Server", self._server), ("Date", DATE),
                                ("Content-Type", "text/html"),
                                ("Content-Length", str(len(body))), CONNECTION],
                       body, reason=reason, close=close)

    def handle(self, req: Request) -> Response:
        target = req.target
        found = self._files.get(target)
        if found is None:
            try:
                found = self._files.get(site_path(target))
            except BadPath:
                return self._error(400, close=True)
        method = req.method
        if found is not None and method in ("GET", "HEAD"):
            ok, unchanged, etag = found
            if (req.header("if-none-match") is not None
                    or req.header("if-modified-since") is not None) \
                    and not_modified(req, etag, self._last_modified):
                return unchanged
            return ok
        status = 404 if found is None and method in ("GET", "HEAD", "POST") else 405
        agent = req.header("user-agent") or ""
        return self._errors[(status, "MSIE " in agent or "Chrome/" in agent)]

    def problem(self, problem: Problem, req: Request) -> Response:
        if problem is Problem.HEADERS_TOO_LARGE:
            return self._error(400, close=True, title="Request Header Or Cookie Too Large")
        return self._error(413 if problem is Problem.BODY_TOO_LARGE else 400, close=True)

    def log(self, req: Request, resp: Response, now: float) -> str | None:
        method, target, version, headers, _, client, _, _, _ = req
        referer = agent = forwarded = "-"
        for name, value in headers:
            if name == "user-agent":
                agent = value
            elif name == "referer":
                referer = value
            elif name == "x-forwarded-for":
                forwarded = value
        line = f"{method} {target} HTTP/{version}" if version else target
        if not formats.log_safe(line + referer + agent + forwarded):
            esc = formats.log_escape
            line, referer, agent, forwarded = esc(line), esc(referer), esc(agent), \
                esc(forwarded)
        access = (f'{client[0]} - - [{formats.clf_time(int(now))}] "{line}" {resp.status} '
                  f'{0 if method == "HEAD" else len(resp.body)} "{referer}" "{agent}" '
                  f'"{forwarded}"')
        if resp.status != 404:
            return access
        return self._open_failed(req, now) + "\n" + access

    def _open_failed(self, req: Request, now: float) -> str:
        path = site_path(req.target)
        what = (f'"{NGINX_ROOT}{path}index.html" is not found' if path.endswith("/")
                else f'open() "{NGINX_ROOT}{path}" failed')
        host = req.header("host")
        return (f"{formats.go_log_time(int(now))} [error] {NGINX_WORKER}#{NGINX_WORKER}: "
                f"*{req.conn} {what} (2: No such file or directory), client: "
                f'{req.client[0]}, server: localhost, request: "{req.line}"'
                + (f', host: "{host}"' if host else ""))

    def _notice(self, now: float, pid: int, text: str) -> str:
        return f"{formats.go_log_time(int(now))} [notice] {pid}#{pid}: {text}"

    def banner(self, now: float) -> list[str]:
        lines = []
        if self.entrypoint:
            script = "/docker-entrypoint.sh"
            lines += [
                f"{script}: /docker-entrypoint.d/ is not empty, will attempt to perform "
                "configuration",
                f"{script}: Looking for shell scripts in /docker-entrypoint.d/",
                f"{script}: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
                "10-listen-on-ipv6-by-default.sh: info: Getting the checksum of "
                "/etc/nginx/conf.d/default.conf",
                "10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in "
                "/etc/nginx/conf.d/default.conf",
                f"{script}: Sourcing /docker-entrypoint.d/15-local-resolvers.envsh",
                f"{script}: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh",
                f"{script}: Launching /docker-entrypoint.d/30-tune-worker-processes.sh",
                f"{script}: Configuration complete; ready for start up"]
        for text in ('using the "epoll" event method', self._server,
                     "built by gcc 12.2.0 (Debian 12.2.0-14)", "OS: Linux 6.8.0",
                     "getrlimit(RLIMIT_NOFILE): 1048576:1048576", "start worker processes",
                     f"start worker process {NGINX_WORKER}"):
            lines.append(self._notice(now, 1, text))
        return lines

    def terminated(self, now: float) -> Exit:
        w = NGINX_WORKER
        return Exit(0, (self._notice(now, 1, "signal 15 (SIGTERM) received, exiting"),
                        self._notice(now, w, "exiting"), self._notice(now, w, "exit"),
                        self._notice(now, 1, f"signal 17 (SIGCHLD) received from {w}"),
                        self._notice(now, 1, f"worker process {w} exited with code 0"),
                        self._notice(now, 1, "exit")))

    def bind_failed(self, listener: Listener, errno: int, reason: str, now: float) -> Exit:
        what = f"bind() to 0.0.0.0:{listener.port} failed ({errno}: {reason})"
        stamp = formats.go_log_time(int(now))
        return Exit(1, (f"{stamp} [emerg] 1#1: {what}", f"nginx: [emerg] {what}",
                        f"{stamp} [emerg] 1#1: still could not bind()",
                        "nginx: [emerg] still could not bind()"))


_APACHE_TID = 140230036453248  # the thread id Apache prints; any stable value will do


class Httpd(HttpApp, Program):
    idle_timeout = 5.0  # KeepAliveTimeout

    def __init__(self, version: str, pod_ip: str, port: int = 80) -> None:
        self.listeners = (Listener(port, "TCP", self),)
        self.pod_ip = pod_ip
        self._server = f"Apache/{version} (Unix)"
        last_modified = formats.http_date(APACHE_HTML_MTIME).decode()
        # Apache's ETag: size and mtime in microseconds, both hex.
        etag = f'"{len(APACHE_INDEX):x}-{APACHE_HTML_MTIME * 1_000_000:x}"'
        self._etag, self._last_modified = etag, last_modified
        file_headers = [("Date", DATE), ("Server", self._server),
                        ("Last-Modified", last_modified), ("ETag", etag)]
        self._ok = respond(200, file_headers + [
            ("Accept-Ranges", "bytes"), ("Content-Length", str(len(APACHE_INDEX))),
            CONNECTION, ("Content-Type", "text/html")], APACHE_INDEX)
        self._unchanged = respond(304, file_headers + [CONNECTION])
        self._options = respond(200, [("Date", DATE), ("Server", self._server),
                                      ("Allow", "POST,OPTIONS,HEAD,GET"),
                                      ("Content-Length", "0"), CONNECTION,
                                      ("Content-Type", "text/html")])
        self._not_found = self._error(404, "The requested URL was not found on this server.")

    def _error(self, status: int, text: str, close: bool = False,
               allow: bool = False) -> Response:
        reason = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  413: "Request Entity Too Large"}[status]
        body = ('<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
                f"<title>{status} {reason}</title>\n</head><body>\n<h1>{reason}</h1>\n"
                f"<p>{text}</p>\n</body></html>\n").encode("latin-1", "replace")
        headers = [("Date", DATE), ("Server", self._server)]
        if allow:
            headers.append(("Allow", "POST,OPTIONS,HEAD,GET"))
        headers += [("Content-Length", str(len(body))), CONNECTION,
                    ("Content-Type", "text/html; charset=iso-8859-1")]
        return respond(status, headers, body, close=close)

    def handle(self, req: Request) -> Response:
        try:
            path = site_path(req.target)
        except BadPath:
            return self._error(400, "Your browser sent a request that this server could "
                               "not understand.<br />\n", close=True)
        if path not in ("/", "/index.html"):
            return self._not_found
        if req.method == "OPTIONS":
            return self._options
        if req.method not in ("GET", "HEAD", "POST"):
            return self._error(405, f"The requested method {req.method} is not allowed "
                               "for this URL.", allow=True)
        if req.method != "POST" and not_modified(req, self._etag, self._last_modified):
            return self._unchanged
        return self._ok

    def problem(self, problem: Problem, req: Request) -> Response:
        if problem is Problem.BODY_TOO_LARGE:
            return self._error(413, "The requested resource does not allow request data "
                               "with GET requests, or the amount of data provided in\nthe "
                               "request exceeds the capacity limit.\n", close=True)
        extra = ("Size of a request header field exceeds server limit.<br />\n"
                 if problem is Problem.HEADERS_TOO_LARGE else "")
        return self._error(400, "Your browser sent a request that this server could not "
                           f"understand.<br />\n{extra}", close=True)

    def log(self, req: Request, resp: Response, now: float) -> str | None:
        sent = len(resp.body) if req.method != "HEAD" and resp.body else "-"
        return (f'{req.client[0]} - - [{formats.clf_time(int(now))}] '
                f'"{formats.log_escape(req.line)}" {resp.status} {sent}')

    def _error_log(self, now: float, module: str, text: str) -> str:
        return (f"{formats.apache_error_time(now)} [{module}:notice] "
                f"[pid 1:tid {_APACHE_TID}] {text}")

    def banner(self, now: float) -> list[str]:
        fqdn = ("AH00558: httpd: Could not reliably determine the server's fully qualified "
                f"domain name, using {self.pod_ip}. Set the 'ServerName' directive globally "
                "to suppress this message")
        return [fqdn, fqdn,
                self._error_log(now, "mpm_event", f"AH00489: {self._server} configured -- "
                                "resuming normal operations"),
                self._error_log(now, "core", "AH00094: Command line: 'httpd -D FOREGROUND'")]

    def terminated(self, now: float) -> Exit:
        return Exit(0, (self._error_log(now, "mpm_event",
                                        "AH00491: caught SIGTERM, shutting down"),))

    def bind_failed(self, listener: Listener, errno: int, reason: str, now: float) -> Exit:
        return Exit(1, (f"({errno}){reason}: AH00072: make_sock: could not bind to address "
                        f"0.0.0.0:{listener.port}",
                        "no listening sockets available, shutting down",
                        "AH00015: Unable to open logs"))
