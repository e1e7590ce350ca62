"""Replies in wire form by question key (see ``wire.question_key``), each filed under the
tags of the data it was built from, so a change drops only the replies it alters: a
Service's names, the reverse names of its addresses, its namespace, and every negative
answer (which may now exist, and whose SOA serial moved)."""

from __future__ import annotations

from collections.abc import Iterable

from node_agent.dns.zone import Tag

CAPACITY = 50_000  # replies kept; past that the cache starts over (a flood of random names)


class AnswerCache:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        # key -> (header after the ID, everything after the question): see wire.splice
        self.entries: dict[bytes, tuple[bytes, bytes]] = {}
        self._by_tag: dict[Tag, set[bytes]] = {}

    def put(self, key: bytes, head: bytes, tail: bytes, tags: Iterable[Tag]) -> None:
        if len(self.entries) >= self.capacity:
            self.clear()
        self.entries[key] = (head, tail)
        for tag in tags:
            self._by_tag.setdefault(tag, set()).add(key)

    def invalidate(self, tags: Iterable[Tag]) -> None:
        for tag in tags:
            for key in self._by_tag.pop(tag, ()):
                self.entries.pop(key, None)

    def clear(self) -> None:
        self.entries.clear()
        self._by_tag.clear()

    def __len__(self) -> int:
        return len(self.entries)
