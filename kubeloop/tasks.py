"""Named background tasks: no fire-and-forget. Each task is logged the moment it fails
or exits unexpectedly, and all are cancelled (and awaited) at shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine, Iterable
from typing import Any

log = logging.getLogger(__name__)


class TaskGroup:
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any], *, expect_exit: bool = False
              ) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.owner}/{name}")
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, expect_exit))
        return task

    def _done(self, task: asyncio.Task[Any], expect_exit: bool) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s failed: %r", task.get_name(), exc, exc_info=exc)
        elif not expect_exit:
            log.error("task %s exited unexpectedly", task.get_name())

    async def close(self, timeout: float = 5.0) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def __len__(self) -> int:
        return len(self._tasks)


async def until_first(work: Iterable[Awaitable[Any]], stop: asyncio.Event) -> None:
    """Runs ``work`` together until one of them ends or ``stop`` is set, then cancels (and
    awaits) the rest; the exception of one that failed propagates. A connected session of
    watches and heartbeats is this: any stream breaking ends it."""
    tasks = [asyncio.ensure_future(w) for w in work]
    stopping = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({*tasks, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopping and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in (*tasks, stopping):
            task.cancel()
        await asyncio.gather(*tasks, stopping, return_exceptions=True)
