"""A container's output from synchronous protocol callbacks: lines are queued and one
task writes them to the console in batches, one write per event-loop wake-up however
many requests were served meanwhile (Console.write is a coroutine; a task per request
line would cost more than the request)."""

from __future__ import annotations

import asyncio

from kubeloop.tasks import TaskGroup
from node_agent.containers import Console


class LogSink:
    def __init__(self, console: Console, tasks: TaskGroup) -> None:
        self._console = console
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._task = tasks.spawn("log", self._run())

    def add(self, text: str) -> None:
        """Queues one or more lines (``text`` without the final newline)."""
        self._pending.append(text)
        if len(self._pending) == 1:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        if self._pending:
            text, self._pending = "\n".join(self._pending) + "\n", []
            await self._console.write(text.encode("utf-8", "replace"))

    async def close(self) -> None:
        """Writes what is queued and stops the writer."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._flush()
