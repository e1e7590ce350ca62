"""Exec and attach over one WebSocket (the kubelet side of ``kubectl exec`` / ``attach``
/ ``run -it``): client messages become the process's stdin (through a terminal when a TTY
was asked for), its output goes back on the stdout/stderr channels, and the session ends
with a Status on the error channel (the exit code for exec) and a normal close."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiohttp import WSMsgType, web

from node_agent import channels
from node_agent.channels import Channel, StreamOptions
from node_agent.containers import Console, Identity, Runner, Streams
from node_agent.terminal import LineDiscipline

log = logging.getLogger(__name__)

CLIENT_SETTLE = 0.5  # seconds an interactive client has to speak before output goes out
QUIET_SETTLE = 0.03  # ... and a client that sends nothing


class Session:
    def __init__(self, ws: web.WebSocketResponse, opts: StreamOptions, what: str) -> None:
        self.ws = ws
        self.opts = opts
        self.what = what  # "ns/pod/container" for log lines
        self.protocol = ws.ws_protocol
        self.terminal = LineDiscipline() if opts.tty else None
        self._send_lock = asyncio.Lock()
        # kubectl starts reading before it has set up its streams and drops what arrives
        # for a stream it does not know yet ("Unknown stream id"). An interactive client
        # speaks first (terminal size, stdin) once they exist; others get a moment.
        self._heard = asyncio.Event()
        self._settle = CLIENT_SETTLE if opts.tty or opts.stdin else QUIET_SETTLE

    # --- to the client -------------------------------------------------------------------
    async def send(self, channel: int, data: bytes) -> None:
        if self.ws.closed:
            return
        if data and not self._heard.is_set():
            try:
                await asyncio.wait_for(self._heard.wait(), self._settle)
            except asyncio.TimeoutError:
                self._heard.set()
        async with self._send_lock:
            try:
                await self.ws.send_bytes(channels.encode(channel, data))
            except ConnectionError:  # the client is gone; the read loop notices too
                log.debug("%s: client went away while sending", self.what)

    async def stdout(self, data: bytes) -> None:
        if self.terminal is not None:
            data = self.terminal.output(data)
        await self.send(Channel.STDOUT, data)

    async def stderr(self, data: bytes) -> None:
        await self.send(Channel.STDERR, data)

    async def finish(self, status: dict) -> None:
        await self.send(Channel.ERROR, channels.status_bytes(status))
        await self.ws.close()

    # --- from the client ----------------------------------------------------------------
    async def read_client(self, stdin: asyncio.StreamReader | None) -> None:
        """Until the client closes: stdin data into ``stdin`` (typed keys through the
        terminal, whose echo goes back on stdout), its close signal or ^D as EOF."""
        async for msg in self.ws:
            self._heard.set()
            if msg.type != WSMsgType.BINARY:
                continue
            decoded = channels.decode(msg.data, self.protocol)
            if isinstance(decoded, channels.CloseSignal):
                if decoded.channel == Channel.STDIN and stdin is not None:
                    _feed_eof(stdin)
            elif decoded is None:
                continue
            elif decoded.channel == Channel.STDIN and stdin is not None:
                await self._keys(decoded.data, stdin)
            elif decoded.channel == Channel.RESIZE:
                size = channels.parse_resize(decoded.data)
                log.debug("%s: terminal is %s", self.what, size)

    async def _keys(self, data: bytes, stdin: asyncio.StreamReader) -> None:
        if self.terminal is None:
            _feed(stdin, data)
            return
        typed = self.terminal.keys(data)
        if typed.echo:
            await self.send(Channel.STDOUT, typed.echo)
        if typed.line:
            _feed(stdin, typed.line)
        if typed.eof:
            _feed_eof(stdin)


def _feed(reader: asyncio.StreamReader, data: bytes) -> None:
    if not reader.at_eof() and not reader.exception():
        try:
            reader.feed_data(data)
        except AssertionError:  # EOF was already fed but unread data remains
            log.debug("stdin data after EOF dropped")


def _feed_eof(reader: asyncio.StreamReader) -> None:
    if not reader.at_eof():
        reader.feed_eof()


async def _first_done(*tasks: asyncio.Task) -> set[asyncio.Task]:
    done, _ = await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)
    return done


async def _cancel(*tasks: asyncio.Task) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run_exec(session: Session, run: Runner, argv: Sequence[str],
                   identity: Identity) -> None:
    """Run one command; when the client leaves first, the command is cancelled."""
    opts = session.opts
    stdin = asyncio.StreamReader() if opts.stdin else None
    streams = Streams(stdout=session.stdout,
                      stderr=session.stdout if opts.tty else session.stderr,
                      stdin=stdin, tty=opts.tty)
    await session.send(channels.first_channel(opts), b"")
    command = asyncio.ensure_future(run(list(argv), identity, streams))
    reader = asyncio.ensure_future(session.read_client(stdin))
    try:
        done = await _first_done(command, reader)
        if command not in done:
            log.info("%s: client left while %s was running", session.what, argv[0])
            return
        try:
            status = channels.exit_status(command.result(), argv)
        except Exception as e:  # the command's own bug: reported to the client as upstream does
            log.exception("%s: exec %s failed", session.what, list(argv))
            status = channels.internal_error(f"error executing command in container: {e}")
        await _cancel(reader)
        await session.finish(status)
    finally:
        await _cancel(command, reader)


async def run_attach(session: Session, console: Console) -> None:
    """Stream the main process's output until it ends (then Success) or the client
    leaves; the client's stdin feeds the container's when it has one."""
    opts = session.opts
    stdin = console.stdin if opts.stdin else None
    output = console.attach()
    await session.send(channels.first_channel(opts), b"")

    async def pump() -> None:
        while (data := await output.get()) is not None:
            if opts.stdout:
                await session.stdout(data)

    pumping = asyncio.ensure_future(pump())
    reader = asyncio.ensure_future(session.read_client(stdin))
    try:
        done = await _first_done(pumping, reader)
        if pumping in done:
            await _cancel(reader)
            await session.finish(channels.success())
    finally:
        console.detach(output)
        await _cancel(pumping, reader)
        if stdin is not None and console.stdin_once:
            _feed_eof(stdin)
