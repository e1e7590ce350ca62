"""Starting a container: the catalogue decides what it is, then it either ends at once
(a rejected command line), runs a command through the exec toolbox, or serves: every
listener of the program is bound on the pod IP, its banner goes to the log (then the
lines it copies from the files it follows), and the returned Running ends it
(SIGTERM-like: the software's own last words and exit code). A failed bind, the app
asking to exit, or a program that is done once its banner is out (a Job's) ends it the
same way."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from typing import Any

from kubeloop.tasks import TaskGroup
from node_agent import toolbox
from node_agent.containers import ContainerContext, Running
from node_agent.images import catalogue, programs, tail
from node_agent.images.catalogue import Kind
from node_agent.images.forward import ForwardService
from node_agent.images.httpserver import HttpService
from node_agent.images.logsink import LogSink
from node_agent.images.model import (Exit, ForwardApp, HttpApp, Listener, Program, RelayApp,
                                     StreamApp)
from node_agent.images.relay import RelayService
from node_agent.images.tcp import StreamService
from node_agent.images.udp import DatagramService

log = logging.getLogger(__name__)

BACKLOG = 511  # nginx's default listen backlog
Service = HttpService | StreamService | RelayService | ForwardService  # one per listener


async def start(ctx: ContainerContext) -> Running:
    """Starts the container's main process; returns once it is listening (or over)."""
    choice = catalogue.choose(ctx.image, ctx.command, ctx.args, ctx.identity.env, ctx.ports)
    if choice.kind is Kind.EXIT:
        assert choice.exit is not None
        return await _ended(ctx, choice.exit)
    if choice.kind is Kind.COMMAND:
        return _command(ctx, choice.argv)
    container = _Serving(ctx, programs.build(choice, ctx.identity, ctx.image, time.time()))
    await container.open()
    return Running(container.stop, container.exited)


def _owner(ctx: ContainerContext) -> str:
    return f"container {ctx.identity.namespace}/{ctx.identity.pod_name}/{ctx.name}"


async def _ended(ctx: ContainerContext, exit: Exit) -> Running:
    if exit.lines:
        await ctx.console.write(("\n".join(exit.lines) + "\n").encode())
    exited = asyncio.get_running_loop().create_future()
    exited.set_result(exit.code)
    return Running(_nothing, exited)


async def _nothing() -> None:
    return None


def _command(ctx: ContainerContext, argv: tuple[str, ...]) -> Running:
    """The main process is a command line for the exec toolbox."""
    tasks = TaskGroup(_owner(ctx))
    exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def main() -> None:
        try:
            code = await (ctx.run or toolbox.run)(list(argv), ctx.identity,
                                                  ctx.console.streams(tty=ctx.tty))
        except Exception as e:  # the toolbox failing ends this container, visibly
            log.exception("%s: %s failed", _owner(ctx), argv[0])
            await ctx.console.write(f"kubeloop: {argv[0]}: {e}\n".encode())
            code = 1
        if not exited.done():
            exited.set_result(code)

    tasks.spawn("main", main(), expect_exit=True)
    # Stopping kills the process: Running reports 137, as for a SIGKILLed PID 1.
    return Running(tasks.close, exited)


class _Serving:
    """A serving program's listeners, log and tasks, and how it ends."""

    def __init__(self, ctx: ContainerContext, program: Program) -> None:
        self.ctx = ctx
        self.program = program
        self.workers = TaskGroup(_owner(ctx))  # log writer and idle sweepers
        self.control = TaskGroup(_owner(ctx) + " exit")  # an exit the app asked for
        self.sink = LogSink(ctx.console, self.workers)
        self.servers: list[Any] = []  # asyncio servers and datagram transports
        self.services: list[Service] = []
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._ending = False
        self._ended = asyncio.Event()

    async def open(self) -> None:
        for listener in self.program.listeners:
            try:
                await self._listen(listener)
            except OSError as e:
                # asyncio rewords the error; the programs print the C library's text.
                reason = os.strerror(e.errno) if e.errno else str(e)
                await self.end(self.program.bind_failed(listener, e.errno or 0, reason,
                                                        time.time()), abort=True)
                return
        for line in self.program.banner(time.time()):
            self.sink.add(line)
        for i, followed in enumerate(self.program.follows):
            self.workers.spawn(f"follow-{i}", tail.follow(followed, self.sink))
        done = self.program.finished(time.time())
        if done is not None:
            await self.end(done, abort=False)

    async def _listen(self, listener: Listener) -> None:
        loop = asyncio.get_running_loop()
        ip, port, app = self.ctx.identity.pod_ip, listener.port, listener.app
        factory: Any
        if isinstance(app, HttpApp):
            factory = self._http(app).protocol
        elif isinstance(app, StreamApp):
            stream = StreamService(app, self.sink,
                                   self._http(app.http) if app.http is not None else None)
            self.services.append(stream)
            factory = stream.protocol
        elif isinstance(app, ForwardApp):
            forward = ForwardService(app, ip, self.workers)
            self.services.append(forward)
            factory = forward.protocol
        elif isinstance(app, RelayApp):
            relay = RelayService(app, self.ctx.identity, self.sink, self.workers)
            self.services.append(relay)
            factory = relay.datagram_protocol if listener.protocol == "UDP" \
                else relay.stream_protocol
        else:
            factory = functools.partial(DatagramService, app, self.sink)
        if self.ctx.identity.admission is not None:
            factory = self.ctx.identity.admission.guarded(factory, ip, port, listener.protocol)
        if listener.protocol == "UDP":
            transport, _ = await loop.create_datagram_endpoint(factory, local_addr=(ip, port))
            self.servers.append(transport)
            return
        self.servers.append(await loop.create_server(factory, ip, port, reuse_address=True,
                                                     backlog=BACKLOG))

    def _http(self, app: HttpApp) -> HttpService:
        service = HttpService(app, self.sink, self._app_exit)
        self.services.append(service)
        self.workers.spawn(f"idle-sweep-{id(service):x}", _sweep(service))
        return service

    def _app_exit(self, code: int) -> None:
        self.control.spawn("exit", self.end(Exit(code), abort=False), expect_exit=True)

    async def stop(self) -> None:
        await self.end(self.program.terminated(time.time()), abort=True)
        await self.control.close()

    async def end(self, exit: Exit, abort: bool) -> None:
        """Stops listening, drops (or, on a requested exit, finishes) connections,
        writes the last lines and resolves ``exited``."""
        if self._ending:
            await self._ended.wait()
            return
        self._ending = True
        for server in self.servers:
            server.close()
        await asyncio.sleep(0)  # the loop releases the closed sockets' addresses
        for service in self.services:
            service.close_all(abort)
        for line in exit.lines:
            self.sink.add(line)
        await self.sink.close()
        await self.workers.close()
        if not self.exited.done():
            self.exited.set_result(exit.code)
        self._ended.set()


async def _sweep(service: HttpService) -> None:
    period = max(0.05, min(service.app.idle_timeout / 4, 5.0))
    while True:
        await asyncio.sleep(period)
        service.sweep(time.monotonic())
