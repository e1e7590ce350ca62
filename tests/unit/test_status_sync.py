"""StatusSync: latest status only, bounded concurrency, retries until delivered."""

from __future__ import annotations

import asyncio

from node_agent import status_sync
from node_agent.status_sync import StatusSync


async def settle(sync: StatusSync, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while sync.pending and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)


async def test_a_burst_is_sent_once_per_pod_with_bounded_concurrency() -> None:
    sent: list[str] = []
    in_flight = peak = 0

    async def send(uid: str) -> bool:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        sent.append(uid)
        return True

    sync = StatusSync(send, senders=4)
    runner = asyncio.ensure_future(sync.run())
    for i in range(50):
        sync.mark(f"pod-{i}")
        sync.mark(f"pod-{i}")  # a second change before delivery coalesces
    await settle(sync)
    runner.cancel()
    assert sorted(sent) == sorted(f"pod-{i}" for i in range(50))
    assert peak == 4


async def test_a_change_during_delivery_is_delivered_again() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    versions: list[int] = []
    current = 1

    async def send(uid: str) -> bool:
        versions.append(current)
        if len(versions) == 1:
            started.set()
            await release.wait()
        return True

    sync = StatusSync(send, senders=2)
    runner = asyncio.ensure_future(sync.run())
    sync.mark("a")
    await started.wait()
    current = 2
    sync.mark("a")
    release.set()
    await settle(sync)
    runner.cancel()
    assert versions == [1, 2]


async def test_failures_are_retried_until_delivered(monkeypatch) -> None:
    monkeypatch.setattr(status_sync, "RETRY_START", 0.01)
    attempts: list[str] = []

    async def send(uid: str) -> bool:
        attempts.append(uid)
        if len(attempts) == 2:
            raise RuntimeError("a bug in one delivery")
        return len(attempts) >= 3

    sync = StatusSync(send)
    runner = asyncio.ensure_future(sync.run())
    sync.mark("a")
    await settle(sync)
    runner.cancel()
    assert attempts == ["a", "a", "a"]


async def test_forget_and_retry_now(monkeypatch) -> None:
    monkeypatch.setattr(status_sync, "RETRY_START", 30.0)
    attempts: list[str] = []

    async def send(uid: str) -> bool:
        attempts.append(uid)
        return len(attempts) > 2

    sync = StatusSync(send)
    runner = asyncio.ensure_future(sync.run())
    sync.mark("a")
    sync.mark("b")
    await asyncio.sleep(0.05)
    assert sorted(attempts) == ["a", "b"] and sync.pending == 2  # both waiting 30 s
    sync.forget("b")
    sync.retry_now()
    await settle(sync)
    runner.cancel()
    assert attempts[2:] == ["a"] and sync.pending == 0
