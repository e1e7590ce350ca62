"""Pod status delivery, as kubelet's status manager does it: a pod whose status changed is
marked; a few senders deliver the *latest* status of marked pods, so a burst of 200 pod
starts becomes at most one request per pod in flight; a failed delivery is retried with
backoff until it lands or the pod is forgotten, so no status is ever silently lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

SENDERS = 8  # requests in flight at once
RETRY_START = 0.2  # seconds before the first retry of a failed delivery
RETRY_MAX = 5.0

Send = Callable[[str], Awaitable[bool]]
"""Delivers the current status of a pod (by uid): True when done (delivered, or there is
nothing left to deliver), False to retry later."""


class StatusSync:
    def __init__(self, send: Send, senders: int = SENDERS) -> None:
        self._send = send
        self._senders = senders
        self._marked: dict[str, None] = {}  # insertion-ordered set: oldest change first
        self._in_flight: set[str] = set()
        self._again: set[str] = set()  # changed again while being sent
        self._failures: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._wake = asyncio.Event()

    def mark(self, uid: str) -> None:
        """The pod's status changed: deliver it (again)."""
        if uid in self._in_flight:
            self._again.add(uid)
            return
        self._marked[uid] = None
        self._wake.set()

    def forget(self, uid: str) -> None:
        """The pod is gone from this node: nothing more to deliver for it."""
        self._marked.pop(uid, None)
        self._again.discard(uid)
        self._failures.pop(uid, None)
        timer = self._timers.pop(uid, None)
        if timer is not None:
            timer.cancel()

    def retry_now(self) -> None:
        """The apiserver is back: retry every waiting delivery at once."""
        for uid, timer in list(self._timers.items()):
            timer.cancel()
            del self._timers[uid]
            self.mark(uid)

    @property
    def pending(self) -> int:
        return len(self._marked) + len(self._in_flight) + len(self._timers)

    async def run(self) -> None:
        await asyncio.gather(*(self._sender() for _ in range(self._senders)))

    async def _sender(self) -> None:
        while True:
            while not self._marked:
                self._wake.clear()
                await self._wake.wait()
            uid = next(iter(self._marked))
            del self._marked[uid]
            self._in_flight.add(uid)
            try:
                done = await self._send(uid)
            except Exception:  # a bug in one delivery must not stop the others
                log.exception("status of pod %s: delivery failed", uid)
                done = False
            finally:
                self._in_flight.discard(uid)
            if uid in self._again:
                self._again.discard(uid)
                self.mark(uid)
            elif not done:
                self._retry_later(uid)
            else:
                self._failures.pop(uid, None)

    def _retry_later(self, uid: str) -> None:
        n = self._failures.get(uid, 0)
        self._failures[uid] = n + 1
        delay = min(RETRY_START * 2 ** n, RETRY_MAX)

        def due() -> None:
            self._timers.pop(uid, None)
            self.mark(uid)

        self._timers[uid] = asyncio.get_running_loop().call_later(delay, due)
