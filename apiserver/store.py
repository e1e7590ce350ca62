"""The object store: every object in memory for fast reads, every write durable in SQLite
before it is acknowledged, and a bounded event history so watches can resume.

Writes are applied to memory at once (so the next read sees them) and queued; all writes
made in one event-loop turn are committed in one SQLite transaction (group commit), then
their waiters resume and the events go out to watchers, in resourceVersion order.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

log = logging.getLogger(__name__)

HISTORY = 50_000  # events kept for watch resumption (etcd keeps ~5 minutes)
WATCH_QUEUE_LIMIT = 100_000  # a watcher this far behind is dropped and must relist


class StoreError(Exception):
    pass


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class Conflict(StoreError):
    pass


class Gone(StoreError):
    """The requested resourceVersion is older than the event history."""


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # ADDED | MODIFIED | DELETED
    resource: str  # Resource.key, e.g. "pods" or "apps/deployments"
    namespace: str
    name: str
    rv: int
    obj: dict
    raw: bytes
    old: dict | None = None  # previous state of a MODIFIED object (selectors need it)


@dataclass(slots=True)
class Stored:
    obj: dict  # read-only by convention: copy (loads(raw)) before changing
    raw: bytes
    rv: int


@dataclass(eq=False)
class Watcher:
    """A subscription to events of one resource (all resources when None)."""

    resource: str | None
    namespace: str | None
    queue: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)
    dropped: bool = False

    def wants(self, event: Event) -> bool:
        return (self.resource is None or self.resource == event.resource) and (
            not self.namespace or self.namespace == event.namespace
        )


def seen_as(event: Event, matches: Callable[[dict], bool]) -> str | None:
    """The event type a watcher with a selector sees: an object that starts matching is
    ADDED, one that stops matching is DELETED; None when the watcher sees nothing."""
    if event.type == "ADDED":
        return "ADDED" if matches(event.obj) else None
    if event.type == "DELETED":
        return "DELETED" if matches(event.obj) else None
    now_in = matches(event.obj)
    was_in = event.old is not None and matches(event.old)
    if now_in:
        return "MODIFIED" if was_in else "ADDED"
    return "DELETED" if was_in else None


def dumps(obj: dict) -> bytes:
    return orjson.dumps(obj)


def copy(stored: Stored) -> dict:
    """A private, mutable deep copy of a stored object."""
    return orjson.loads(stored.raw)


class Store:
    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS objects (resource TEXT NOT NULL, namespace TEXT NOT NULL,"
            " name TEXT NOT NULL, rv INTEGER NOT NULL, data BLOB NOT NULL,"
            " PRIMARY KEY (resource, namespace, name))"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER)")
        self._objects: dict[str, dict[tuple[str, str], Stored]] = {}
        self.rv = 0
        self._load()
        self._compacted = self.rv  # events up to here are not in the history
        self._history: deque[Event] = deque()
        self._watchers: set[Watcher] = set()
        self._pending: list[Event] = []
        self._batch: asyncio.Future[None] | None = None

    # --- loading and closing ---------------------------------------------------------
    def _load(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='rv'").fetchone()
        self.rv = row[0] if row else 0
        count = 0
        for resource, ns, name, rv, data in self._db.execute(
            "SELECT resource, namespace, name, rv, data FROM objects"
        ):
            self._objects.setdefault(resource, {})[(ns, name)] = Stored(orjson.loads(data), data, rv)
            self.rv = max(self.rv, rv)
            count += 1
        log.info("store: loaded %d objects at resourceVersion %d", count, self.rv)

    def close_watchers(self) -> None:
        for w in list(self._watchers):
            self.unsubscribe(w)

    def close(self) -> None:
        if self._pending:
            self._commit()
        self.close_watchers()
        self._db.close()

    # --- reads -------------------------------------------------------------------------
    def get(self, resource: str, namespace: str, name: str) -> Stored | None:
        return self._objects.get(resource, {}).get((namespace, name))

    def list(self, resource: str, namespace: str | None = None) -> list[Stored]:
        """Objects sorted by (namespace, name), as the apiserver lists them."""
        table = self._objects.get(resource, {})
        keys = sorted(k for k in table if not namespace or k[0] == namespace)
        return [table[k] for k in keys]

    def count(self, resource: str, namespace: str | None = None) -> int:
        table = self._objects.get(resource, {})
        if not namespace:
            return len(table)
        return sum(1 for ns, _ in table if ns == namespace)

    def iter(self, resource: str) -> Iterator[Stored]:
        return iter(list(self._objects.get(resource, {}).values()))

    # --- writes ------------------------------------------------------------------------
    async def create(self, resource: str, obj: dict) -> Stored:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        table = self._objects.setdefault(resource, {})
        if key in table:
            raise AlreadyExists(key)
        stored = self._put(table, key, obj)
        await self._write(Event("ADDED", resource, key[0], key[1], stored.rv, stored.obj, stored.raw))
        return stored

    async def update(self, resource: str, obj: dict, expect_rv: int | None = None) -> Stored:
        """Replace an object; ``expect_rv`` makes it a compare-and-swap (409 on mismatch)."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        table = self._objects.get(resource, {})
        current = table.get(key)
        if current is None:
            raise NotFound(key)
        if expect_rv is not None and expect_rv != current.rv:
            raise Conflict(key)
        stored = self._put(table, key, obj)
        await self._write(Event("MODIFIED", resource, key[0], key[1], stored.rv, stored.obj,
                                stored.raw, current.obj))
        return stored

    async def delete(self, resource: str, namespace: str, name: str,
                     expect_rv: int | None = None) -> Stored:
        table = self._objects.get(resource, {})
        current = table.get((namespace, name))
        if current is None:
            raise NotFound((namespace, name))
        if expect_rv is not None and expect_rv != current.rv:
            raise Conflict((namespace, name))
        del table[(namespace, name)]
        self.rv += 1
        # The DELETED event carries the last state with the deletion's resourceVersion.
        obj = orjson.loads(current.raw)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        raw = dumps(obj)
        await self._write(Event("DELETED", resource, namespace, name, self.rv, obj, raw))
        return Stored(obj, raw, self.rv)

    def _put(self, table: dict[tuple[str, str], Stored], key: tuple[str, str], obj: dict) -> Stored:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        stored = Stored(obj, dumps(obj), self.rv)
        table[key] = stored
        return stored

    def _write(self, event: Event) -> asyncio.Future[None]:
        self._pending.append(event)
        if self._batch is None:
            loop = asyncio.get_running_loop()
            self._batch = loop.create_future()
            loop.call_soon(self._commit)
        return self._batch

    def _commit(self) -> None:
        batch, self._pending = self._pending, []
        waiter, self._batch = self._batch, None
        if not batch:
            return
        try:
            db = self._db
            db.execute("BEGIN")
            for ev in batch:
                if ev.type == "DELETED":
                    db.execute("DELETE FROM objects WHERE resource=? AND namespace=? AND name=?",
                               (ev.resource, ev.namespace, ev.name))
                else:
                    db.execute("INSERT OR REPLACE INTO objects VALUES (?,?,?,?,?)",
                               (ev.resource, ev.namespace, ev.name, ev.rv, ev.raw))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('rv', ?)", (batch[-1].rv,))
            db.execute("COMMIT")
        except sqlite3.Error as e:
            log.error("store: commit of %d writes failed: %s", len(batch), e)
            if waiter is not None and not waiter.done():
                waiter.set_exception(StoreError(f"storage write failed: {e}"))
            return
        for ev in batch:
            self._publish(ev)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- watches -----------------------------------------------------------------------
    def _publish(self, ev: Event) -> None:
        self._history.append(ev)
        if len(self._history) > HISTORY:
            self._compacted = self._history.popleft().rv
        for w in list(self._watchers):
            if w.wants(ev):
                if w.queue.qsize() > WATCH_QUEUE_LIMIT:
                    log.warning("store: dropping a watcher of %s that fell behind", w.resource)
                    self.unsubscribe(w)
                    w.dropped = True
                    continue
                w.queue.put_nowait(ev)

    def subscribe(self, resource: str | None, namespace: str | None = None,
                  since: int | None = None) -> Watcher:
        """Events after resourceVersion ``since`` (replayed from history), then live ones.
        ``since=None`` means from now on. Raises Gone when ``since`` is too old."""
        if since is not None and since < self._compacted:
            raise Gone(since)
        w = Watcher(resource, namespace)
        if since is not None:
            for ev in self._history:
                if ev.rv > since and w.wants(ev):
                    w.queue.put_nowait(ev)
        self._watchers.add(w)
        return w

    def unsubscribe(self, w: Watcher) -> None:
        if w in self._watchers:
            self._watchers.discard(w)
            w.queue.put_nowait(None)

    @property
    def oldest_resumable(self) -> int:
        return self._compacted
