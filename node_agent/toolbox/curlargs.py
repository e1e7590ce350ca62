"""curl's command line and its words, without I/O: option parsing into CurlOptions, the
request headers curl sends, --write-out rendering, the progress meter and the -v lines.
curl.py performs the transfers and calls these."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from node_agent.toolbox.process import OptError, getopt, parse_seconds

VERSION = "8.11.1"
USER_AGENT = f"curl/{VERSION}"
TRY_HELP = "curl: try 'curl --help' or 'curl --manual' for more information\n"

_SHORTS = "sSiIvkLfo:OH:X:d:w:m:u:A:e:b:x:D:GNV46#h"
_LONGS: dict[str, tuple[str, bool]] = {
    "silent": ("s", False), "show-error": ("S", False), "include": ("i", False),
    "head": ("I", False), "verbose": ("v", False), "insecure": ("k", False),
    "location": ("L", False), "fail": ("f", False), "fail-with-body": ("fail-with-body", False),
    "output": ("o", True), "remote-name": ("O", False), "header": ("H", True),
    "request": ("X", True), "data": ("d", True), "data-ascii": ("d", True),
    "data-raw": ("data-raw", True), "data-binary": ("data-binary", True),
    "data-urlencode": ("data-urlencode", True), "json": ("json", True),
    "write-out": ("w", True), "max-time": ("m", True), "connect-timeout": ("connect-timeout", True),
    "resolve": ("resolve", True), "max-redirs": ("max-redirs", True), "cacert": ("cacert", True),
    "user": ("u", True), "user-agent": ("A", True), "referer": ("e", True), "cookie": ("b", True),
    "url": ("url", True), "get": ("G", False), "no-buffer": ("N", False),
    "http1.1": ("http1.1", False), "http1.0": ("http1.0", False),
    "compressed": ("compressed", False),
    "ipv4": ("4", False), "no-progress-meter": ("no-progress-meter", False),
    "retry": ("retry", True), "noproxy": ("noproxy", True), "dump-header": ("D", True),
    "help": ("h", False), "version": ("V", False), "progress-bar": ("#", False),
}
_IGNORED = {"N", "4", "6", "#", "http1.1", "compressed", "retry", "noproxy", "x", "b", "D"}


class CurlUsage(Exception):
    """A command line curl refuses (exit 2); the text is what it prints."""


@dataclass
class CurlOptions:
    urls: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)  # -o per URL, in order
    remote_names: int = 0  # -O count
    silent: bool = False
    show_error: bool = False
    include: bool = False
    head: bool = False
    verbose: bool = False
    insecure: bool = False
    location: bool = False
    fail: bool = False
    fail_with_body: bool = False
    get: bool = False
    meter: bool = True
    http10: bool = False
    headers: list[str] = field(default_factory=list)
    method: str | None = None
    data: list[tuple[str, str]] = field(default_factory=list)  # (kind, argument)
    write_out: str | None = None
    max_time: float | None = None
    connect_timeout: float | None = None
    resolve: dict[tuple[str, int], str] = field(default_factory=dict)
    max_redirs: int = 50
    cacert: str | None = None
    user: str | None = None
    user_agent: str = USER_AGENT
    referer: str | None = None
    help: bool = False
    version: bool = False


def parse_args(argv: list[str]) -> CurlOptions:
    try:
        parsed = getopt(argv, _SHORTS, _LONGS)
    except OptError as e:
        name = e.option if e.option.startswith("--") else e.option
        reason = "is unknown" if e.kind == "unknown" else "requires parameter"
        raise CurlUsage(f"curl: option {name}: {reason}\n{TRY_HELP}") from None
    o = CurlOptions(urls=list(parsed.args))
    flags = {"s": "silent", "S": "show_error", "i": "include", "I": "head", "v": "verbose",
             "k": "insecure", "L": "location", "f": "fail", "fail-with-body": "fail_with_body",
             "G": "get", "http1.0": "http10", "h": "help", "V": "version"}
    for key, value in parsed.opts:
        if key in flags:
            setattr(o, flags[key], True)
        elif key == "no-progress-meter":
            o.meter = False
        elif key == "url":
            o.urls.append(value or "")
        elif key == "o":
            o.outputs.append(value or "")
        elif key == "O":
            o.remote_names += 1
        elif key == "H":
            o.headers.append(value or "")
        elif key == "X":
            o.method = value
        elif key in ("d", "data-raw", "data-binary", "data-urlencode", "json"):
            o.data.append((key, value or ""))
        elif key == "w":
            o.write_out = value
        elif key in ("m", "connect-timeout"):
            seconds = parse_seconds(value or "")
            if seconds is None:
                raise CurlUsage(f"curl: option {'--max-time' if key == 'm' else '--' + key}: "
                                f"expected a proper numerical parameter\n{TRY_HELP}")
            if key == "m":
                o.max_time = seconds or None
            else:
                o.connect_timeout = seconds or None
        elif key == "resolve":
            o.resolve.update(parse_resolve(value or ""))
        elif key == "max-redirs":
            if not (value or "").lstrip("-").isdigit():
                raise CurlUsage(f"curl: option --max-redirs: expected a proper numerical "
                                f"parameter\n{TRY_HELP}")
            o.max_redirs = int(value or 0)
        elif key == "cacert":
            o.cacert = value
        elif key == "u":
            o.user = value
        elif key == "A":
            o.user_agent = value or ""
        elif key == "e":
            o.referer = value
        elif key not in _IGNORED:
            raise CurlUsage(f"curl: option {key}: is unknown\n{TRY_HELP}")
    if not o.urls and not (o.help or o.version):
        raise CurlUsage(f"curl: no URL specified\n{TRY_HELP}")
    return o


def parse_resolve(text: str) -> dict[tuple[str, int], str]:
    """--resolve HOST:PORT:ADDR[,ADDR...] (the first address is used)."""
    host, _, rest = text.partition(":")
    port, _, addresses = rest.partition(":")
    if not host or not port.isdigit() or not addresses:
        raise CurlUsage(f"curl: option --resolve: bad argument '{text}'\n{TRY_HELP}")
    return {(host.lower(), int(port)): addresses.split(",")[0].strip("[]")}


def request_body(options: CurlOptions, read_file: Callable[[str], bytes]) -> bytes | None:
    """The bytes -d/--data* send, joined by "&" as curl does; None without data."""
    if not options.data:
        return None
    pieces: list[bytes] = []
    for kind, arg in options.data:
        if kind == "data-urlencode":
            name, eq, value = arg.partition("=")
            pieces.append((f"{name}=" if eq and name else "").encode()
                          + quote(value if eq else arg, safe="").encode())
        elif kind in ("d", "data-binary", "json") and arg.startswith("@"):
            content = read_file(arg[1:])
            pieces.append(content if kind != "d" else content.replace(b"\r", b"")
                          .replace(b"\n", b""))
        else:
            pieces.append(arg.encode())
    return b"&".join(pieces)


def request_headers(options: CurlOptions, authority: str, body: bytes | None
                    ) -> list[tuple[str, str]]:
    """Host, auth, User-Agent, Accept, then -H (replacing, removing with "Name:",
    emptying with "Name;"), then the body's Content-Length and Content-Type."""
    headers = [("Host", authority)]
    if options.user is not None:
        token = base64.b64encode(options.user.encode()).decode()
        headers.append(("Authorization", f"Basic {token}"))
    if options.user_agent:
        headers.append(("User-Agent", options.user_agent))
    json = any(kind == "json" for kind, _ in options.data)
    headers.append(("Accept", "application/json" if json else "*/*"))
    if options.referer:
        headers.append(("Referer", options.referer))
    removed: set[str] = set()
    for line in options.headers:
        m = re.match(r"^\s*([^:;\s]+)\s*([:;])\s*(.*)$", line)
        if not m:
            continue
        name, sep, value = m.groups()
        index = next((i for i, (k, _) in enumerate(headers) if k.lower() == name.lower()), None)
        if sep == ":" and not value:
            removed.add(name.lower())
            if index is not None:
                headers.pop(index)
        elif index is None:
            headers.append((name, value if sep == ":" else ""))
        else:
            headers[index] = (name, value if sep == ":" else "")
    if body is not None and not options.get:
        present = {k.lower() for k, _ in headers} | removed
        if "content-length" not in present:
            headers.append(("Content-Length", str(len(body))))
        if "content-type" not in present:
            headers.append(("Content-Type", "application/json" if json
                            else "application/x-www-form-urlencoded"))
    return headers


def method_for(options: CurlOptions, body: bytes | None) -> str:
    if options.method:
        return options.method
    if options.head:
        return "HEAD"
    return "POST" if body is not None and not options.get else "GET"


# --- output formats ---------------------------------------------------------------------

_VARIABLE = re.compile(r"%\{([a-z_]+)\}|%header\{([^}]+)\}|%%|\\[nrt\\]")


def write_out(template: str, values: dict[str, str], headers: dict[str, str]
              ) -> tuple[str, str, list[str]]:
    """--write-out: (text for stdout, text for stderr, unknown variable names).
    %{stdout} and %{stderr} switch where the following text goes."""
    chunks = {"stdout": [], "stderr": []}  # type: dict[str, list[str]]
    target = "stdout"
    unknown: list[str] = []
    pos = 0
    for m in _VARIABLE.finditer(template):
        chunks[target].append(template[pos:m.start()])
        pos = m.end()
        token = m.group(0)
        if token == "%%":
            chunks[target].append("%")
        elif token.startswith("\\"):
            chunks[target].append({"\\n": "\n", "\\r": "\r", "\\t": "\t", "\\\\": "\\"}[token])
        elif m.group(2) is not None:
            chunks[target].append(headers.get(m.group(2).lower(), ""))
        elif m.group(1) in ("stdout", "stderr"):
            target = m.group(1)
        elif m.group(1) in values:
            chunks[target].append(values[m.group(1)])
        else:
            unknown.append(m.group(1))
    chunks[target].append(template[pos:])
    return "".join(chunks["stdout"]), "".join(chunks["stderr"]), unknown


def _max5(n: float) -> str:
    n = int(n)
    if n < 100000:
        return f"{n:5d}"
    if n < 10000 * 1024:
        return f"{n // 1024:4d}k"
    if n < 100 * 1024 * 1024:
        return f"{n // 1048576:2d}.{(n % 1048576) // 104858}M"
    return f"{n // 1048576:4d}M"


def _clock(seconds: float) -> str:
    whole = int(seconds)
    if whole <= 0:
        return "--:--:--"
    h, rest = divmod(whole, 3600)
    return f"{h:2d}:{rest // 60:02d}:{rest % 60:02d}"


METER_HEAD = ("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
              "                                 Dload  Upload   Total   Spent    Left  Speed\n")


def meter_line(expected: int | None, received: int, sent: int, elapsed: float) -> str:
    """One line of curl's progress meter (without the leading carriage return)."""
    total = expected if expected is not None else received
    total_pct = received * 100 // total if total else 0
    recv_pct = received * 100 // expected if expected else 0
    speed = received / elapsed if elapsed > 0 else 0
    est = total / speed if expected is not None and speed else 0
    return (f"{total_pct:3d} {_max5(total)}  {recv_pct:3d} {_max5(received)}  "
            f"{(100 if sent else 0):3d} {_max5(sent)}  {_max5(speed)}  {_max5(0)} "
            f"{_clock(est)} {_clock(elapsed)} {_clock(est - elapsed if est else 0)} "
            f"{_max5(speed)}")


def verbose_request(raw: bytes) -> str:
    """The "> " lines curl -v shows for a request head."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    return "".join(f"> {line}\n" for line in head.split("\r\n")) + "> \n"


def verbose_response(raw: bytes) -> str:
    lines = raw.decode("latin-1").replace("\r\n", "\n").rstrip("\n").split("\n")
    return "".join(f"< {line}\n" for line in lines) + "< \n"


HELP = ("Usage: curl [options...] <url>\n"
        " -d, --data <data>           HTTP POST data\n"
        " -f, --fail                  Fail fast with no output on HTTP errors\n"
        " -h, --help <category>       Get help for commands\n"
        " -i, --include               Include response headers in output\n"
        " -o, --output <file>         Write to file instead of stdout\n"
        " -O, --remote-name           Write output to file named as remote file\n"
        " -s, --silent                Silent mode\n"
        " -T, --upload-file <file>    Transfer local FILE to destination\n"
        " -u, --user <user:password>  Server user and password\n"
        " -A, --user-agent <name>     Send User-Agent <name> to server\n"
        " -v, --verbose               Make the operation more talkative\n"
        " -V, --version               Show version number and quit\n")
VERSION_TEXT = (f"curl {VERSION} (x86_64-alpine-linux-musl) libcurl/{VERSION} OpenSSL/3.3.2\n"
                "Protocols: http https\nFeatures: IPv6 Largefile SSL\n")
