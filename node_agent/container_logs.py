"""What ``GET /containerLogs/NS/POD/CONTAINER`` returns: the kubelet's query options
(follow, tailLines, sinceSeconds/sinceTime, timestamps, limitBytes, previous) and how each
log line is written (RFC3339Nano prefix, the byte limit across the whole response).

Pure: options are parsed against a given ``now``; a ``LogWriter`` turns entries into the
bytes to send and says when the limit is spent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None
    since: datetime | None = None


def _flag(query: Mapping[str, Sequence[str]], name: str) -> bool:
    values = query.get(name) or []
    return bool(values) and values[-1].lower() in ("1", "true")


def _number(query: Mapping[str, Sequence[str]], name: str) -> int | None:
    values = query.get(name) or []
    if not values or values[-1] == "":
        return None
    try:
        return int(values[-1])
    except ValueError as e:
        raise ValueError(f"invalid value {values[-1]!r} for {name}: must be an integer") from e


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 time (``Z`` or an offset, optional fraction) as an aware datetime."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:  # fromisoformat takes at most microseconds; RFC3339Nano carries nanoseconds
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone")
    return parsed


def parse_log_options(query: Mapping[str, Sequence[str]], now: datetime) -> LogOptions:
    """The kubelet's reading of the query; ValueError says which value is wrong."""
    since_seconds = _number(query, "sinceSeconds")
    since_time = (query.get("sinceTime") or [""])[-1]
    since: datetime | None = None
    if since_seconds is not None:
        since = now - timedelta(seconds=since_seconds)
    elif since_time:
        try:
            since = parse_rfc3339(since_time)
        except ValueError as e:
            raise ValueError(f"invalid value {since_time!r} for sinceTime: {e}") from e
    tail = _number(query, "tailLines")
    limit = _number(query, "limitBytes")
    return LogOptions(follow=_flag(query, "follow"), previous=_flag(query, "previous"),
                      timestamps=_flag(query, "timestamps"),
                      tail_lines=tail if tail is not None and tail >= 0 else None,
                      limit_bytes=limit if limit is not None and limit > 0 else None,
                      since=since)


def timestamp(t: datetime) -> str:
    """RFC3339Nano with a fixed nine-digit fraction, in UTC, as the kubelet prints it."""
    t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}000Z"


class LogWriter:
    """Renders entries for one response, honouring since, timestamps and limitBytes."""

    def __init__(self, options: LogOptions) -> None:
        self.options = options
        self._left = options.limit_bytes

    @property
    def exhausted(self) -> bool:
        return self._left is not None and self._left <= 0

    def render(self, when: datetime, line: str) -> bytes:
        """The bytes for one entry: empty when it is older than ``since`` or the byte
        limit is spent; cut short when it reaches the limit."""
        if self.exhausted or (self.options.since is not None and when < self.options.since):
            return b""
        text = f"{timestamp(when)} {line}\n" if self.options.timestamps else f"{line}\n"
        out = text.encode()
        if self._left is not None:
            out = out[:self._left]
            self._left -= len(out)
        return out
