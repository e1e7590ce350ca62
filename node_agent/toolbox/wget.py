"""wget as busybox ships it: "Connecting to HOST (IP:PORT)", saving to a file (or stdout
with -O-), --spider, -T timeouts ("download timed out"), -S, --header, --post-data,
redirects. Connections leave from the pod IP; names resolve like the pod's libc."""

from __future__ import annotations

import asyncio
import posixpath
from datetime import datetime, timezone

from node_agent.toolbox import net
from node_agent.toolbox.fs import FsError
from node_agent.toolbox.httpwire import (Head, HttpError, ResponseParser, Url, UrlError,
                                         build_request, parse_url, resolve_location)
from node_agent.toolbox.process import OptError, Proc, getopt, parse_seconds
from node_agent.toolbox.resolve import is_ipv4, resolve

USAGE = ("Usage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR]\n"
         "\t[--post-data STR | --post-file FILE] [-Y on/off]\n"
         "\t[--no-check-certificate] [-P DIR] [-U AGENT] [-T SEC] URL...\n")
MAX_REDIRECTS = 20
DEFAULT_TIMEOUT = 900.0
_LONGS = {"quiet": ("q", False), "output-document": ("O", True), "timeout": ("T", True),
          "spider": ("s", False), "server-response": ("S", False), "header": ("header", True),
          "post-data": ("post-data", True), "post-file": ("post-file", True),
          "no-check-certificate": ("insecure", False), "user-agent": ("U", True),
          "directory-prefix": ("P", True), "continue": ("c", False), "proxy": ("Y", True),
          "output-file": ("o", True), "tries": ("t", True), "no-verbose": ("q", False)}


class _Failed(Exception):
    """Ends the download with ``wget: <message>`` and status 1."""


def size5(n: int) -> str:
    """busybox's 5-character size: bytes up to 99999, then 97.6k, 300k, 1.2M..."""
    if n < 100000:
        return f"{n:5d}"
    scaled, units = n / 1024, "kMGTPE"
    unit = 0
    while scaled >= 1000 and unit < len(units) - 1:
        scaled /= 1024
        unit += 1
    if scaled < 100:
        return f"{int(scaled * 10) / 10:4.1f}{units[unit]}"
    return f"{int(scaled):4d}{units[unit]}"


def progress_line(name: str, size: int) -> str:
    """The final line of busybox's progress bar for a completed download."""
    return f"{name[:20]:<20} 100% |{'*' * 32}| {size5(size)}  0:00:00 ETA\n"


def output_name(url: Url) -> str:
    """Where wget saves without -O: the last path component, else index.html."""
    base = posixpath.basename(url.target.split("?", 1)[0])
    return base or "index.html"


async def wget(argv: list[str], proc: Proc) -> int:
    try:
        parsed = getopt(argv[1:], "qO:T:sSP:U:cY:o:t:", _LONGS)
    except OptError as e:
        text = (f"unrecognized option '{e.option}'" if e.option.startswith("--") else
                f"invalid option -- '{e.option.lstrip('-')}'") if e.kind == "unknown" else \
            f"option requires an argument -- '{e.option.lstrip('-')}'"
        await proc.err(f"wget: {text}\n{USAGE}")
        return 1
    if not parsed.args:
        await proc.err(USAGE)
        return 1
    timeout = parse_seconds(parsed.last("T") or "") if parsed.has("T") else DEFAULT_TIMEOUT
    if timeout is None:
        return await proc.fail(f"invalid number '{parsed.last('T')}'")
    job = _Download(proc, parsed.opts, timeout or None)
    status = 0
    for url in parsed.args:
        try:
            await job.fetch(url)
        except _Failed as e:
            await job.log(f"wget: {e}\n", force=True)
            status = 1
    return status


class _Download:
    def __init__(self, proc: Proc, opts: list[tuple[str, str | None]],
                 timeout: float | None) -> None:
        self.proc = proc
        self.opts = dict(opts)
        self.quiet = "q" in self.opts
        self.timeout = timeout
        self.headers = [v or "" for k, v in opts if k == "header"]
        self.log_file = self.opts.get("o")
        self.parser = ResponseParser()  # of the current response
        self.early = bytearray()  # its body bytes that came with the head

    async def log(self, text: str, force: bool = False) -> None:
        """Messages go to stderr (or -o LOGFILE); -q keeps all but errors quiet."""
        if self.quiet and not force:
            return
        if self.log_file:
            self.proc.fs.write(self.log_file, text.encode(), datetime.now(timezone.utc),
                               self.proc.cwd, append=True)
        else:
            await self.proc.err(text)

    def body(self) -> bytes | None:
        if "post-file" in self.opts:
            try:
                return self.proc.fs.read(self.opts["post-file"] or "", self.proc.cwd)
            except FsError as e:
                raise _Failed(f"can't open '{self.opts['post-file']}': {e.strerror}") from None
        data = self.opts.get("post-data")
        return data.encode() if data is not None else None

    async def fetch(self, text: str) -> None:
        try:
            url = parse_url(text)
        except UrlError:
            raise _Failed(f"not an http or ftp url: {text}") from None
        body = self.body()
        for _ in range(MAX_REDIRECTS):
            head, conn = await self.request(url, body)
            try:
                location = head.get("Location")
                if 300 <= head.status < 400 and location:
                    url = resolve_location(url, location)
                    body = None
                    continue
                if not 200 <= head.status < 300:
                    raise _Failed(f"server returned error: {head.status_line}")
                if "s" in self.opts:
                    await self.log("remote file exists\n")
                    return
                await self.save(url, head, conn)
                return
            except UrlError:
                raise _Failed(f"not an http or ftp url: {location}") from None
            finally:
                conn.close()
        raise _Failed("too many redirections")

    async def request(self, url: Url, body: bytes | None) -> tuple[Head, net.Connection]:
        if is_ipv4(url.host):
            ip = url.host
        else:
            found = await resolve(self.proc.identity, url.host)
            if not found.addresses:
                raise _Failed(f"bad address '{url.host}'")
            ip = found.addresses[0]
        await self.log(f"Connecting to {url.authority} ({ip}:{url.port})\n")
        try:
            conn = await net.connect(self.proc.identity, ip, url.port, self.timeout)
        except net.ConnectError as e:
            if e.kind == "timeout":
                raise _Failed("download timed out") from None
            raise _Failed(f"can't connect to remote host ({ip}): {e.text}") from None
        try:
            if url.scheme == "https":
                if "insecure" not in self.opts:
                    await self.log("wget: note: TLS certificate validation not implemented\n",
                                   force=True)
                try:
                    await net.start_tls(conn, net.client_context(False), url.host, self.timeout)
                except net.ConnectError as e:
                    raise _Failed("download timed out" if e.kind == "timeout"
                                  else f"TLS error: {e.text}") from None
            headers = [("Host", url.authority),
                       ("User-Agent", self.opts.get("U") or "Wget"), ("Connection", "close")]
            if body is not None:
                headers += [("Content-Type", "application/x-www-form-urlencoded"),
                            ("Content-Length", str(len(body)))]
            headers += [(k.strip(), v.strip()) for k, _, v in
                        (h.partition(":") for h in self.headers)]
            conn.writer.write(build_request("POST" if body is not None else "GET", url.target,
                                            headers, body or b""))
            head = await self.read_head(conn)
        except BaseException:
            conn.close()
            raise
        if "S" in self.opts:
            lines = head.raw.decode("latin-1").replace("\r\n", "\n").rstrip("\n").split("\n")
            await self.log("".join(f"  {line}\n" for line in lines))
        return head, conn

    async def read_head(self, conn: net.Connection) -> Head:
        self.parser = ResponseParser()
        self.early = bytearray()

        async def on_head(head: Head) -> bool:
            return False

        async def on_body(data: bytes) -> None:
            self.early += data
        try:
            async with asyncio.timeout(self.timeout):
                await net.read_response(conn, self.parser, on_head, on_body)
        except TimeoutError:
            raise _Failed("download timed out") from None
        except HttpError as e:
            raise _Failed(f"error getting response: {e}") from None
        if self.parser.head is None:
            raise _Failed("error getting response: Connection reset by peer")
        return self.parser.head

    async def save(self, url: Url, head: Head, conn: net.Connection) -> None:
        target = self.opts.get("O")
        if target is None:
            target = output_name(url)
            if "P" in self.opts:
                target = posixpath.join(self.opts["P"] or ".", target)
            if self.proc.fs.exists(target, self.proc.cwd):
                raise _Failed(f"can't open '{target}': File exists")
        to_stdout = target in ("-", "/dev/stdout")
        await self.log("writing to stdout\n" if to_stdout else f"saving to '{target}'\n")
        size = 0

        async def write(data: bytes) -> None:
            nonlocal size
            size += len(data)
            if to_stdout:
                await self.proc.out(data)
                return
            try:
                self.proc.fs.write(target or "", data, datetime.now(timezone.utc),
                                   self.proc.cwd, append=size > len(data))
            except FsError as e:
                raise _Failed(f"can't open '{target}': {e.strerror}") from None
        await write(bytes(self.early))
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                async def on_body(data: bytes) -> None:
                    if self.timeout:
                        deadline.reschedule(loop.time() + self.timeout)
                    await write(data)

                async def on_head(_: Head) -> bool:
                    return True
                if not self.parser.done:
                    await net.read_response(conn, self.parser, on_head, on_body)
        except TimeoutError:
            raise _Failed("download timed out") from None
        except HttpError as e:
            raise _Failed(f"error getting response: {e}") from None
        await self.log(progress_line("-" if to_stdout else posixpath.basename(target), size))
        await self.log("written to stdout\n" if to_stdout else f"'{target}' saved\n")


COMMANDS = {"wget": wget}
