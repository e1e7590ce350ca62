"""curl: HTTP(S) transfers from the pod. Each URL is resolved like the pod's libc would
(or through --resolve), connected from the pod IP, optionally wrapped in TLS, requested
and read with httpwire, following redirects with -L. What curl prints (body, -i headers,
-v trace, progress meter, --write-out, "curl: (N) ..." errors) comes from curlargs."""

from __future__ import annotations

import asyncio
import posixpath
import time
from dataclasses import replace
from datetime import datetime, timezone

from node_agent.toolbox import net
from node_agent.toolbox.curlargs import (HELP, METER_HEAD, VERSION_TEXT, CurlOptions, CurlUsage,
                                         meter_line, method_for, parse_args, request_body,
                                         request_headers, verbose_request, verbose_response,
                                         write_out)
from node_agent.toolbox.fs import FsError
from node_agent.toolbox.httpwire import (Head, HttpError, ResponseParser, Url, UrlError,
                                         build_request, parse_url, resolve_location)
from node_agent.toolbox.process import Proc
from node_agent.toolbox.resolve import is_ipv4, resolve

REDIRECTS = (301, 302, 303, 307, 308)
HTTP_ERRORS = {"empty": 52, "weird": 1, "partial": 18, "reset": 56}
CERT_HELP = ("More details here: https://curl.se/docs/sslcerts.html\n\n"
             "curl failed to verify the legitimacy of the server and therefore could not\n"
             "establish a secure connection to it. To learn more about this situation and\n"
             "how to fix it, please visit the webpage mentioned above.\n")


class _Failed(Exception):
    def __init__(self, code: int, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail  # extra lines after the error (certificate help)


async def curl(argv: list[str], proc: Proc) -> int:
    try:
        options = parse_args(argv[1:])
    except CurlUsage as e:
        await proc.err(str(e))
        return 2
    if options.help or options.version:
        await proc.out(HELP if options.help else VERSION_TEXT)
        return 0
    status = 0
    for index, url in enumerate(options.urls):
        status = await _Transfer(proc, options, url, index).run()
    return status


class _Transfer:
    def __init__(self, proc: Proc, options: CurlOptions, url_text: str, index: int) -> None:
        self.proc = proc
        self.o = options
        self.url_text = url_text
        self.output = options.outputs[index] if index < len(options.outputs) else None
        self.remote_name = self.output is None and index < options.remote_names
        self.started = time.monotonic()
        self.times = dict.fromkeys(("namelookup", "connect", "appconnect", "pretransfer",
                                    "starttransfer", "redirect"), 0.0)
        self.phase = "resolve"
        self.url: Url | None = None
        self.method = "GET"
        self.head: Head | None = None
        self.following = False
        self.received = 0
        self.expected: int | None = None
        self.sizes = {"header": 0, "request": 0, "upload": 0}
        self.remote = ("", 0)
        self.local = ("", 0)
        self.redirects = 0
        self.written = False
        self.meter = options.meter and not options.silent and (
            self.output is not None or self.remote_name or not proc.streams.tty)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    async def say(self, text: str) -> None:
        if self.o.verbose:
            await self.proc.err(text)

    async def run(self) -> int:
        if self.meter:
            await self.proc.err(METER_HEAD + "\r" + meter_line(None, 0, 0, 0))
        code, message, detail = 0, "", ""
        try:
            async with asyncio.timeout(self.o.max_time):
                code = await self.follow()
        except TimeoutError:
            code, message = 28, self.timeout_message()
        except _Failed as e:
            code, message, detail = e.code, e.message, e.detail
        if code == 22 and not message:
            message = f"The requested URL returned error: {self.head.status if self.head else 0}"
        if self.meter:
            await self.proc.err("\r" + meter_line(self.expected, self.received,
                                                  self.sizes["upload"], self.elapsed()) + "\n")
        if code and (not self.o.silent or self.o.show_error):
            await self.proc.err(f"curl: ({code}) {message}\n{detail}")
        if self.o.write_out is not None:
            await self.report(code, message)
        return code

    def timeout_message(self) -> str:
        ms = int(self.elapsed() * 1000)
        if self.phase == "resolve":
            return f"Resolving timed out after {ms} milliseconds"
        if self.phase == "connect" and self.url is not None:
            return (f"Failed to connect to {self.url.host} port {self.url.port} after {ms} ms: "
                    "Timeout was reached")
        return f"Operation timed out after {ms} milliseconds with {self.received} bytes received"

    async def follow(self) -> int:
        try:
            url = parse_url(self.url_text)
        except UrlError as e:
            raise _Failed(e.code, e.message) from None
        body = request_body(self.o, self.read_local)
        if self.o.get and body is not None:
            url = replace(url, target=url.target + ("&" if "?" in url.target else "?")
                          + body.decode(errors="replace"))
            body = None
        self.method = method_for(self.o, body)
        while True:
            head = await self.exchange(url, body)
            location = head.get("Location")
            if not self.following or location is None:
                break
            try:
                url_next = resolve_location(url, location)
            except UrlError as e:
                raise _Failed(e.code, e.message) from None
            self.redirects += 1
            self.times["redirect"] = self.elapsed()
            if head.status in (301, 302, 303) and self.method == "POST" and not self.o.method:
                self.method, body = "GET", None
            await self.say(f"* Issue another request to this URL: '{url_next.text}'\n")
            url = url_next
        if self.output is not None or self.remote_name:
            await self.save(b"")  # the file exists even for an empty body
        if self.o.fail_with_body and head.status >= 400:
            return 22
        return 0

    def read_local(self, path: str) -> bytes:
        if path == "-":
            raise _Failed(26, "Failed to open/read local data from file/application")
        try:
            return self.proc.fs.read(path, self.proc.cwd)
        except FsError:
            raise _Failed(26, "Failed to open/read local data from file/application") from None

    async def address(self, url: Url) -> str:
        override = self.o.resolve.get((url.host, url.port))
        if is_ipv4(url.host):
            return url.host
        if override is not None:
            await self.say(f"* Added {url.host}:{url.port}:{override} to DNS cache\n"
                           f"* Hostname {url.host} was found in DNS cache\n")
            return override
        found = await resolve(self.proc.identity, url.host)
        if not found.addresses:
            raise _Failed(6, f"Could not resolve host: {url.host}")
        await self.say(f"* Host {url.host}:{url.port} was resolved.\n* IPv6: (none)\n"
                       f"* IPv4: {', '.join(found.addresses)}\n")
        return found.addresses[0]

    async def exchange(self, url: Url, body: bytes | None) -> Head:
        self.url, self.phase, self.head, self.following = url, "resolve", None, False
        self.received, self.expected = 0, None
        ip = await self.address(url)
        self.times["namelookup"] = self.elapsed()
        self.phase = "connect"
        await self.say(f"*   Trying {ip}:{url.port}...\n")
        try:
            conn = await net.connect(self.proc.identity, ip, url.port, self.o.connect_timeout)
        except net.ConnectError as e:
            ms = int(self.elapsed() * 1000)
            if e.kind == "timeout":
                raise _Failed(28, f"Failed to connect to {url.host} port {url.port} after {ms} "
                                  "ms: Timeout was reached") from None
            await self.say(f"* connect to {ip} port {url.port} from {self.proc.identity.pod_ip} "
                           f"port 0 failed: {e.text}\n")
            raise _Failed(7, f"Failed to connect to {url.host} port {url.port} after {ms} ms: "
                             "Couldn't connect to server") from None
        try:
            return await self.over(conn, url, ip, body)
        finally:
            conn.close()

    async def over(self, conn: net.Connection, url: Url, ip: str, body: bytes | None) -> Head:
        self.remote, self.local = (ip, url.port), conn.local
        self.times["connect"] = self.elapsed()
        await self.say(f"* Connected to {url.host} ({ip}) port {url.port}\n")
        if url.scheme == "https":
            await self.handshake(conn, url)
        await self.say("* using HTTP/1.x\n")
        request = build_request(self.method, url.target,
                                request_headers(self.o, url.authority, body), body or b"")
        try:
            conn.writer.write(request)
            await conn.writer.drain()
        except ConnectionError:  # reset as it connected (a reject rule, no endpoint)
            raise _Failed(HTTP_ERRORS["reset"], "Recv failure: Connection reset by peer") \
                from None
        self.sizes["request"] += len(request) - len(body or b"")
        self.sizes["upload"] += len(body or b"")
        self.times["pretransfer"] = self.elapsed()
        await self.say(verbose_request(request) + "* Request completely sent off\n")
        self.phase = "transfer"
        parser = ResponseParser(head_only=self.method == "HEAD")
        try:
            await net.read_response(conn, parser, self.on_head, self.on_body)
        except HttpError as e:
            raise _Failed(HTTP_ERRORS[e.kind], str(e)) from None
        assert parser.head is not None
        await self.say(f"* Connection #0 to host {url.host} left intact\n"
                       if parser.head.keep_alive else "* shutting down connection #0\n")
        return parser.head

    async def handshake(self, conn: net.Connection, url: Url) -> None:
        cadata = None
        if self.o.cacert:
            try:
                cadata = self.proc.fs.read(self.o.cacert, self.proc.cwd).decode()
            except FsError:
                raise _Failed(77, f"error setting certificate file: {self.o.cacert}") from None
        await self.say("* ALPN: curl offers http/1.1\n")
        timeout = None
        if self.o.connect_timeout:
            timeout = max(self.o.connect_timeout - self.elapsed(), 0.001)
        try:
            await net.start_tls(conn, net.client_context(not self.o.insecure, cadata),
                                url.host, timeout)
        except net.ConnectError as e:
            if e.kind == "cert":
                if e.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
                    raise _Failed(60, "SSL: no alternative certificate subject name matches "
                                      f"target host name '{url.host}'", CERT_HELP) from None
                raise _Failed(60, f"SSL certificate problem: {e.text}", CERT_HELP) from None
            if e.kind == "timeout":
                raise _Failed(28, "SSL connection timeout") from None
            raise _Failed(35, f"TLS connect error: {e.text}") from None
        d = net.tls_details(conn)
        lines = [f"* SSL connection using {d.get('version')} / {d.get('cipher')}"]
        if d.get("alpn"):
            lines.append(f"* ALPN: server accepted {d['alpn']}")
        if "subject" in d:
            lines += ["* Server certificate:", f"*  subject: {d['subject']}",
                      f"*  start date: {d['start']}", f"*  expire date: {d['expire']}",
                      f"*  issuer: {d['issuer']}"]
        if not self.o.insecure:
            lines.append("*  SSL certificate verify ok.")
        await self.say("\n".join(lines) + "\n")
        self.times["appconnect"] = self.elapsed()

    async def on_head(self, head: Head) -> bool:
        self.head = head
        self.times["starttransfer"] = self.elapsed()
        self.sizes["header"] += len(head.raw)
        note = "* HTTP 1.0, assume close after body\n" if head.version == "1.0" else ""
        await self.say(note + verbose_response(head.raw))
        self.following = (self.o.location and head.status in REDIRECTS
                          and head.get("Location") is not None)
        if self.following and self.redirects >= self.o.max_redirs:
            raise _Failed(47, f"Maximum ({self.o.max_redirs}) redirects followed")
        length = head.get("Content-Length")
        self.expected = int(length) if length and length.isdigit() else None
        if self.o.fail and head.status >= 400 and not self.following:
            raise _Failed(22, f"The requested URL returned error: {head.status}")
        if self.o.include or self.o.head:
            await self.save(head.raw)
        return True

    async def on_body(self, data: bytes) -> None:
        self.received += len(data)
        if not self.following and self.method != "HEAD":
            await self.save(data)

    async def save(self, data: bytes) -> None:
        target = self.output
        if target is None and self.remote_name and self.url is not None:
            target = posixpath.basename(self.url.target.split("?", 1)[0])
            if not target:
                raise _Failed(23, "Remote file name has no length")
        if target is None or target in ("-", "/dev/stdout"):
            if data:
                await self.proc.out(data)
            return
        try:
            self.proc.fs.write(target, data, datetime.now(timezone.utc), self.proc.cwd,
                               append=self.written)
        except FsError as e:
            if not self.o.silent:
                await self.proc.err(f"Warning: Failed to open the file {target}: {e.strerror}\n")
            raise _Failed(23, "Failure writing output to destination") from None
        self.written = True

    async def report(self, code: int, message: str) -> None:
        total = self.elapsed()
        head, url = self.head, self.url
        status = f"{head.status:03d}" if head else "000"
        values = {
            "http_code": status, "response_code": status,
            "http_version": head.version if head else "0",
            **{f"time_{k}": f"{v:.6f}" for k, v in self.times.items()},
            "time_total": f"{total:.6f}",
            "remote_ip": self.remote[0], "remote_port": str(self.remote[1] or ""),
            "local_ip": self.local[0], "local_port": str(self.local[1] or ""),
            "size_download": str(self.received), "size_header": str(self.sizes["header"]),
            "size_request": str(self.sizes["request"]), "size_upload": str(self.sizes["upload"]),
            "speed_download": str(int(self.received / total)) if total else "0",
            "speed_upload": str(int(self.sizes["upload"] / total)) if total else "0",
            "content_type": (head.get("Content-Type") or "") if head else "",
            "url_effective": url.text if url else self.url_text, "url": self.url_text,
            "num_redirects": str(self.redirects), "num_connects": str(int(bool(self.remote[0]))),
            "redirect_url": (head.get("Location") or "") if head and not self.following
            and head.status in REDIRECTS else "",
            "scheme": url.scheme.upper() if url else "", "method": self.method,
            "exitcode": str(code), "errormsg": message,
            "filename_effective": self.output or "",
        }
        headers = {k.lower(): v for k, v in head.headers} if head else {}
        template = self.o.write_out or ""
        if template.startswith("@"):
            try:
                template = (await self.proc.read_stdin() if template == "@-" else
                            self.proc.fs.read(template[1:], self.proc.cwd)).decode()
            except FsError:
                template = ""
        out, err, unknown = write_out(template, values, headers)
        for name in unknown:
            await self.proc.err(f"curl: unknown --write-out variable: '{name}'\n")
        if out:
            await self.proc.out(out)
        if err:
            await self.proc.err(err)


COMMANDS = {"curl": curl}
