"""Following a file another process writes (``model.FollowedFile``), as ``tail -F`` does:
its size is polled every ``interval`` seconds and only the bytes added since are read; a
file that is replaced (another inode) or shrinks is read again from its start. Complete
lines go through the program's ``copy`` into the container's log; a partial last line
waits for its end. Nothing is read while the file does not change."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

from node_agent.images.logsink import LogSink
from node_agent.images.model import FollowedFile

MAX_READ = 2 << 20  # bytes per poll; past that the oldest new bytes are skipped


@dataclass
class Position:
    """Where reading stands in the followed file."""

    inode: int = 0  # 0: no file yet
    offset: int = 0


def start_position(stat: os.stat_result | None) -> Position:
    """From the moment the container starts: a file already there is read from its end."""
    return Position(stat.st_ino, stat.st_size) if stat is not None else Position()


def next_read(position: Position, stat: os.stat_result) -> tuple[int, int, bool]:
    """(offset, size, continues) of the bytes to read now: a replaced or truncated file
    is read from its start, and at most the last MAX_READ new bytes are. ``continues``:
    they follow what was read before (else a held partial line is dropped, and so is the
    first line when new bytes were skipped: it starts mid-line)."""
    same = stat.st_ino == position.inode and stat.st_size >= position.offset
    base = position.offset if same else 0
    start = max(base, stat.st_size - MAX_READ)
    return start, stat.st_size - start, same and start == base


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


async def follow(source: FollowedFile, sink: LogSink) -> None:
    """Copies the file's new lines into ``sink`` until cancelled."""
    path = str(source.path)
    position = start_position(_stat(path))
    partial = b""
    while True:
        await asyncio.sleep(source.interval)
        stat = _stat(path)
        if stat is None or (stat.st_ino == position.inode and stat.st_size == position.offset):
            continue
        offset, size, continues = next_read(position, stat)
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read(size)
        except OSError:
            continue  # replaced between the stat and the open: next poll
        position = Position(stat.st_ino, offset + len(data))
        if not continues:
            partial = b""
            if offset:  # skipped bytes: the first line is the end of one
                data = data.partition(b"\n")[2]
        *lines, partial = (partial + data).split(b"\n")
        if len(partial) > MAX_READ:
            partial = b""  # no line is that long: not a log being written
        now = time.time()
        for line in lines:
            copied = source.copy(line.decode("utf-8", "replace"), now)
            if copied is not None:
                sink.add(copied)
