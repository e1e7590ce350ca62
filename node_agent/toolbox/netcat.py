"""nc, busybox's netcat 1.10 flavour: `nc HOST PORT` pipes stdin to a TCP connection from
the pod IP and the answers to stdout; -z only checks the port ("HOST (IP:PORT) open" with
-v), -w bounds connects and the wait for answers, -u speaks UDP, -l -p PORT listens on the
pod IP (-k keeps listening, -e PROG serves each connection with a toolbox command).
Beyond busybox, PORT may be a range LO-HI or several ports, as OpenBSD nc allows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from node_agent.containers import Streams
from node_agent.toolbox import net
from node_agent.toolbox.process import OptError, Proc, getopt, invoke, parse_seconds
from node_agent.toolbox.resolve import is_ipv4, resolve

USAGE = ("Usage: nc [OPTIONS] HOST PORT  - connect\n"
         "nc [OPTIONS] -l -p PORT [HOST] [PORT]  - listen\n")
UDP_PROBE_WAIT = 0.3  # how long -zu waits for an ICMP "port unreachable"


@dataclass
class NcOptions:
    zero: bool = False
    verbose: int = 0
    wait: float | None = None
    udp: bool = False
    numeric: bool = False
    listen: bool = False
    keep: bool = False
    local_port: int | None = None
    program: list[str] = field(default_factory=list)
    host: str = ""
    ports: list[int] = field(default_factory=list)


def parse_ports(words: list[str]) -> list[int] | None:
    """Ports as given: "80", "8000-8002" (inclusive) or several words; None if invalid."""
    ports: list[int] = []
    for word in words:
        low, dash, high = word.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            return None
        first, last = int(low), int(high) if dash else int(low)
        if not 0 < first <= last <= 65535:
            return None
        ports.extend(range(first, last + 1))
    return ports


def parse_args(argv: list[str]) -> NcOptions | str:
    """The options, or the error text busybox prints."""
    program: list[str] = []
    if "-e" in argv:  # -e PROG takes everything after it
        k = argv.index("-e")
        argv, program = argv[:k], argv[k + 1:]
        if not program:
            return "option requires an argument -- 'e'"
    try:
        parsed = getopt(argv, "zvw:unlkp:s:i:")
    except OptError as e:
        return (f"invalid option -- '{e.option.lstrip('-')}'" if e.kind == "unknown"
                else f"option requires an argument -- '{e.option.lstrip('-')}'")
    o = NcOptions(zero=parsed.has("z"), verbose=parsed.count("v"), udp=parsed.has("u"),
                  numeric=parsed.has("n"), listen=parsed.has("l"), keep=parsed.has("k"),
                  program=program)
    if parsed.has("w"):
        o.wait = parse_seconds(parsed.last("w") or "")
        if o.wait is None:
            return f"invalid number '{parsed.last('w')}'"
    if parsed.has("p"):
        ports = parse_ports([parsed.last("p") or ""])
        if not ports or len(ports) != 1:
            return f"bad local port '{parsed.last('p')}'"
        o.local_port = ports[0]
    args = parsed.args
    if o.listen:
        if o.local_port is None and len(args) < 2:
            return "usage"
        return o
    if len(args) < 2:
        return "usage"
    ports = parse_ports(args[1:])
    if ports is None:
        return f"bad port '{' '.join(args[1:])}'"
    o.host, o.ports = args[0], ports
    return o


async def nc(argv: list[str], proc: Proc) -> int:
    o = parse_args(argv[1:])
    if isinstance(o, str):
        await proc.err(USAGE if o == "usage" else f"nc: {o}\n{USAGE}")
        return 1
    if o.listen:
        return await _listen(o, proc)
    if is_ipv4(o.host):
        ip = o.host
    else:
        found = None if o.numeric else await resolve(proc.identity, o.host)
        if found is None or not found.addresses:
            return await proc.fail(f"bad address '{o.host}'")
        ip = found.addresses[0]
    status = 0
    for port in o.ports:
        status = await (_udp(o, proc, ip, port) if o.udp else _tcp(o, proc, ip, port))
    return status


async def _report_failure(o: NcOptions, proc: Proc, ip: str, port: int, kind: str,
                          text: str) -> int:
    # like nc 1.10, a single -v keeps quiet about refused ports (scans stay readable)
    if o.verbose > 1 or (o.verbose and kind != "refused"):
        await proc.err(f"nc: {o.host} ({ip}:{port}): {text}\n")
    return 1


async def _tcp(o: NcOptions, proc: Proc, ip: str, port: int) -> int:
    try:
        conn = await net.connect(proc.identity, ip, port, o.wait)
    except net.ConnectError as e:
        return await _report_failure(o, proc, ip, port, e.kind, e.text)
    try:
        if o.verbose:
            await proc.err(f"{o.host} ({ip}:{port}) open\n")
        if o.zero:
            return 0
        if o.program:
            return await _serve(o, proc, conn)
        return await _pipe(o, proc, conn)
    finally:
        conn.close()


async def _pipe(o: NcOptions, proc: Proc, conn: net.Connection) -> int:
    """stdin -> socket (then half-close), socket -> stdout; ends when the peer closes,
    or -w seconds after stdin ended without anything from the peer."""
    stdin_done = asyncio.Event()

    async def upstream() -> None:
        try:
            while proc.streams.stdin is not None and (chunk := await proc.streams.stdin.read(8192)):
                conn.writer.write(chunk)
                await conn.writer.drain()
            if conn.writer.can_write_eof():
                conn.writer.write_eof()
        except ConnectionError:
            pass  # the peer is gone; downstream notices and ends
        finally:
            stdin_done.set()

    async def downstream() -> None:
        while True:
            if o.wait is not None and stdin_done.is_set():
                try:
                    async with asyncio.timeout(o.wait):
                        chunk = await conn.reader.read(8192)
                except TimeoutError:
                    return
            else:
                chunk = await conn.reader.read(8192)
            if not chunk:
                return
            await proc.out(chunk)

    async with asyncio.TaskGroup() as group:
        sending = group.create_task(upstream())
        try:
            await downstream()
        except ConnectionError:
            pass  # a reset ends the session like an orderly close
        finally:
            sending.cancel()
    return 0


async def _serve(o: NcOptions, proc: Proc, conn: net.Connection) -> int:
    """-e PROG: the program's stdin and stdout are the connection."""
    command = proc.lookup(o.program[0])
    if command is None:
        return await proc.fail(f"can't execute '{o.program[0]}': No such file or directory")

    async def send(data: bytes) -> None:
        conn.writer.write(data)
        await conn.writer.drain()
    streams = Streams(stdout=send, stderr=proc.streams.stderr, stdin=conn.reader)
    return await invoke(command, o.program, proc.child(streams=streams))


async def _udp(o: NcOptions, proc: Proc, ip: str, port: int) -> int:
    try:
        transport, incoming = await net.udp(proc.identity, ip, port)
    except net.ConnectError as e:
        return await _report_failure(o, proc, ip, port, e.kind, e.text)
    try:
        if o.zero:
            transport.sendto(b"X")
            try:
                async with asyncio.timeout(min(o.wait or UDP_PROBE_WAIT, UDP_PROBE_WAIT)):
                    while not isinstance(await incoming.queue.get(), Exception):
                        pass  # a reply means nothing here; only an ICMP error does
                return await _report_failure(o, proc, ip, port, "refused", "Connection refused")
            except TimeoutError:
                if o.verbose:
                    await proc.err(f"{o.host} ({ip}:{port}) open\n")
                return 0
        if o.verbose:
            await proc.err(f"{o.host} ({ip}:{port}) open\n")
        return await _datagrams(o, proc, transport, incoming)
    finally:
        transport.close()


async def _datagrams(o: NcOptions, proc: Proc, transport: asyncio.DatagramTransport,
                     incoming: net.Datagrams) -> int:
    stdin_done = asyncio.Event()

    async def upstream() -> None:
        while proc.streams.stdin is not None and (chunk := await proc.streams.stdin.read(8192)):
            transport.sendto(chunk)
        stdin_done.set()
        incoming.queue.put_nowait(EOFError())  # wakes the reader: the -w countdown starts

    async with asyncio.TaskGroup() as group:
        sending = group.create_task(upstream())
        try:
            while True:
                wait = o.wait if stdin_done.is_set() else None
                try:
                    async with asyncio.timeout(wait):
                        item = await incoming.queue.get()
                except TimeoutError:
                    return 0
                if isinstance(item, Exception):
                    continue  # ICMP errors for datagrams the peer refused, or the wake-up
                await proc.out(item)
        finally:
            sending.cancel()


async def _listen(o: NcOptions, proc: Proc) -> int:
    if o.udp:
        return await proc.fail("UDP listen is not supported")
    done: asyncio.Queue[int] = asyncio.Queue()
    server: asyncio.Server | None = None

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if server is not None and not o.keep:
            server.close()  # nc 1.10 serves a single connection
        conn = net.Connection(reader, writer)
        if o.verbose:
            peer = writer.get_extra_info("peername")
            await proc.err(f"connect to {proc.identity.pod_ip}:{o.local_port} from "
                           f"{peer[0]}:{peer[1]} ({peer[0]}:{peer[1]})\n")
        try:
            done.put_nowait(await (_serve(o, proc, conn) if o.program else _pipe(o, proc, conn)))
        finally:
            conn.close()
    try:
        server = await net.listen(proc.identity, o.local_port or 0, accept)
    except OSError as e:
        return await proc.fail(f"bind: {e.strerror or e}")
    async with server:
        if o.verbose:
            await proc.err(f"listening on {proc.identity.pod_ip}:{o.local_port} ...\n")
        while True:
            status = await done.get()
            if not o.keep:
                return status


COMMANDS = {"nc": nc, "netcat": nc}
