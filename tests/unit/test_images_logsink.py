"""Log lines from protocol callbacks reach the container log in batches, in order."""

from __future__ import annotations

import asyncio

import pytest

from kubeloop.tasks import TaskGroup
from node_agent.containers import Console, LogBuffer
from node_agent.images.logsink import LogSink

pytestmark = pytest.mark.timeout(5)


class CountingConsole(Console):
    def __init__(self) -> None:
        super().__init__(LogBuffer())
        self.writes = 0

    async def write(self, data: bytes) -> None:
        self.writes += 1
        await super().write(data)


async def test_lines_of_one_loop_turn_are_one_console_write() -> None:
    console, tasks = CountingConsole(), TaskGroup("test")
    sink = LogSink(console, tasks)
    for i in range(100):
        sink.add(f"request {i}")
    sink.add("two\nlines")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert console.writes == 1
    assert [line for _, line in console.log.lines()] == \
        [f"request {i}" for i in range(100)] + ["two", "lines"]
    await sink.close()
    await tasks.close()


async def test_close_writes_what_is_still_queued() -> None:
    console, tasks = CountingConsole(), TaskGroup("test")
    sink = LogSink(console, tasks)
    sink.add("last words")
    await sink.close()
    assert [line for _, line in console.log.lines()] == ["last words"]
    await tasks.close()
