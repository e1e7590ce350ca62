"""One running toolbox process: who it is on the network, its streams, environment,
working directory and filesystem, plus the pieces every command
shares (getopt-style option parsing, pipes between pipeline stages, the guard that keeps
a failing command from taking its caller down). Commands receive a ``Proc`` and return an
exit code; they find other commands only through ``Proc.lookup``, which the package wires
to its command table."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from node_agent.containers import Identity, Streams
from node_agent.toolbox.fs import FileSystem

log = logging.getLogger(__name__)

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class PipeClosed(Exception):
    """The reading end of a pipe went away: the writer ends like a process on SIGPIPE."""


class Pipe:
    """A bounded byte pipe between two pipeline stages. The reader is a plain
    ``asyncio.StreamReader``; writers wait while it holds more than its limit (the
    reader pauses its "transport", which is this pipe) and fail once it closed."""

    def __init__(self, limit: int = 64 * 1024) -> None:
        self.reader = asyncio.StreamReader(limit=limit)
        self.reader.set_transport(self)  # type: ignore[arg-type]
        self._room = asyncio.Event()
        self._room.set()
        self._closed = False

    # the StreamReader's transport protocol (flow control)
    def pause_reading(self) -> None:
        self._room.clear()

    def resume_reading(self) -> None:
        self._room.set()

    async def write(self, data: bytes) -> None:
        await self._room.wait()
        if self._closed:
            raise PipeClosed()
        if data:
            self.reader.feed_data(data)

    def finish(self) -> None:
        """The writing side is done: the reader sees EOF."""
        if not self.reader.at_eof():
            self.reader.feed_eof()

    def close_reader(self) -> None:
        """The reading side is gone: pending and later writes fail."""
        self._closed = True
        self._room.set()


Command = Callable[[list[str], "Proc"], Awaitable[int]]
Lookup = Callable[[str], "Command | None"]


@dataclass
class Proc:
    """The context of one command invocation."""

    identity: Identity
    streams: Streams
    env: dict[str, str]
    fs: FileSystem
    lookup: Lookup  # finds another command by name (shell, env, timeout, nc -e use it)
    cwd: str = "/"
    name: str = ""  # argv[0] as invoked, for messages

    def child(self, **changes: object) -> Proc:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    async def out(self, data: str | bytes) -> None:
        await self.streams.stdout(data.encode() if isinstance(data, str) else data)

    async def err(self, data: str | bytes) -> None:
        await self.streams.stderr(data.encode() if isinstance(data, str) else data)

    async def fail(self, message: str, code: int = 1) -> int:
        """Prints ``<name>: <message>`` on stderr and returns ``code``."""
        await self.err(f"{self.name}: {message}\n")
        return code

    async def read_stdin(self) -> bytes:
        """All of stdin (empty without one)."""
        if self.streams.stdin is None:
            return b""
        return await self.streams.stdin.read()


async def invoke(command: Command, argv: list[str], proc: Proc) -> int:
    """Runs one command; its unexpected failures become a message and status 1. A write
    into a pipe nobody reads (PipeClosed) passes through: like SIGPIPE it ends the whole
    pipeline stage, which reports 141."""
    proc = proc.child(name=posixpath.basename(argv[0]) if argv else "")
    try:
        return await command(argv, proc)
    except PipeClosed:
        raise
    except Exception as e:  # the boundary: a command never raises into its caller
        log.exception("toolbox command %r failed", argv)
        try:
            await proc.err(f"{proc.name}: {e}\n")
        except Exception as write_error:
            log.debug("stderr of %r unavailable: %r", argv, write_error)
        return 1


def base_env(identity: Identity, tty: bool) -> dict[str, str]:
    """The environment of an exec'd process as a container runtime sets it up."""
    env = {"PATH": PATH, "HOSTNAME": identity.hostname}
    if tty:
        env["TERM"] = "xterm"
    env.update(identity.env)
    env.setdefault("HOME", "/root")
    return env


# --- option parsing ----------------------------------------------------------------------

class OptError(Exception):
    """A command line the command refuses; ``kind`` is "unknown" or "missing"."""

    def __init__(self, kind: str, option: str) -> None:
        super().__init__(f"{kind} option {option}")
        self.kind = kind
        self.option = option


@dataclass(frozen=True)
class Parsed:
    opts: list[tuple[str, str | None]]  # (key, value) in command-line order
    args: list[str]

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self.opts)

    def count(self, key: str) -> int:
        return sum(1 for k, _ in self.opts if k == key)

    def last(self, key: str, default: str | None = None) -> str | None:
        found = [v for k, v in self.opts if k == key]
        return found[-1] if found else default

    def all(self, key: str) -> list[str]:
        return [v for k, v in self.opts if k == key and v is not None]


def getopt(argv: list[str], shorts: str, longs: dict[str, tuple[str, bool]] | None = None,
           permute: bool = True) -> Parsed:
    """GNU-style parsing. ``shorts`` is getopt's string ("sSo:" = -s, -S, -o VALUE); short
    options may be bundled (-zv, -qO-) and take their value attached or as the next word.
    ``longs`` maps a long name to (key, takes_value); values come as ``--name=v`` or the
    next word. With ``permute`` options may follow operands; "--" ends options."""
    longs = longs or {}
    takes = {c: i + 1 < len(shorts) and shorts[i + 1] == ":"
             for i, c in enumerate(shorts) if c != ":"}
    opts: list[tuple[str, str | None]] = []
    args: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            args.extend(argv[i:])
            break
        if word.startswith("--") and longs:
            name, eq, value = word[2:].partition("=")
            if name not in longs:
                raise OptError("unknown", word)
            key, needs = longs[name]
            if needs and not eq:
                if i >= len(argv):
                    raise OptError("missing", word)
                value, i = argv[i], i + 1
            opts.append((key, value if needs else None))
            continue
        if word.startswith("-") and len(word) > 1:
            j = 1
            while j < len(word):
                c = word[j]
                if c not in takes:
                    raise OptError("unknown", f"-{c}")
                if not takes[c]:
                    opts.append((c, None))
                    j += 1
                    continue
                if j + 1 < len(word):
                    opts.append((c, word[j + 1:]))
                elif i < len(argv):
                    opts.append((c, argv[i]))
                    i += 1
                else:
                    raise OptError("missing", f"-{c}")
                break
            continue
        args.append(word)
        if not permute:
            args.extend(argv[i:])
            break
    return Parsed(opts, args)


def parse_seconds(text: str) -> float | None:
    """A busybox/coreutils duration: 1.5, 10s, 2m, 1h, 1d, "infinity"."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text == "infinity":
        return float("inf")
    scale = units.get(text[-1:], None)
    number = text[:-1] if scale else text
    try:
        value = float(number)
    except ValueError:
        return None
    if value < 0 or value != value:
        return None
    return value * (scale or 1)
