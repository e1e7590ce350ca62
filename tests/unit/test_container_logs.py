"""The kubelet's container log options and rendering: query parsing against a fixed now,
RFC3339Nano timestamps, since filtering, and limitBytes across the whole response."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from node_agent.container_logs import (LogOptions, LogWriter, parse_log_options,
                                       parse_rfc3339, timestamp)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("query", "options"), [
    ({}, LogOptions()),
    ({"follow": ["true"], "timestamps": ["true"], "previous": ["false"]},
     LogOptions(follow=True, timestamps=True)),
    ({"tailLines": ["10"], "limitBytes": ["100"]}, LogOptions(tail_lines=10, limit_bytes=100)),
    ({"tailLines": ["-1"]}, LogOptions()),
    ({"limitBytes": ["0"]}, LogOptions()),
    ({"sinceSeconds": ["60"]}, LogOptions(since=NOW - timedelta(seconds=60))),
    ({"sinceTime": ["2025-03-01T11:00:00Z"]},
     LogOptions(since=datetime(2025, 3, 1, 11, tzinfo=timezone.utc))),
    ({"previous": ["true"]}, LogOptions(previous=True)),
], ids=["none", "flags", "tail-and-limit", "negative-tail-means-all", "zero-limit-ignored",
        "since-seconds", "since-time", "previous"])
def test_parse_log_options(query: dict[str, list[str]], options: LogOptions) -> None:
    assert parse_log_options(query, NOW) == options


@pytest.mark.parametrize(("query", "error"), [
    ({"tailLines": ["ten"]}, "invalid value 'ten' for tailLines"),
    ({"sinceTime": ["yesterday"]}, "invalid value 'yesterday' for sinceTime"),
    ({"sinceTime": ["2025-03-01T11:00:00"]}, "no time zone"),
], ids=["tail-not-int", "since-time-garbage", "since-time-no-zone"])
def test_parse_log_options_errors(query: dict[str, list[str]], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_log_options(query, NOW)


@pytest.mark.parametrize(("text", "parsed"), [
    ("2025-03-01T11:00:00Z", datetime(2025, 3, 1, 11, tzinfo=timezone.utc)),
    ("2025-03-01T11:00:00.123456789Z",
     datetime(2025, 3, 1, 11, 0, 0, 123456, tzinfo=timezone.utc)),
    ("2025-03-01T12:00:00+01:00", datetime(2025, 3, 1, 11, tzinfo=timezone.utc)),
], ids=["utc", "nanoseconds", "offset"])
def test_parse_rfc3339(text: str, parsed: datetime) -> None:
    assert parse_rfc3339(text) == parsed


@pytest.mark.parametrize(("when", "text"), [
    (datetime(2025, 3, 1, 12, 0, 0, 5, tzinfo=timezone.utc), "2025-03-01T12:00:00.000005000Z"),
    (datetime(2025, 3, 1, 13, 0, 0, tzinfo=timezone(timedelta(hours=1))),
     "2025-03-01T12:00:00.000000000Z"),
], ids=["micro", "converted-to-utc"])
def test_timestamp(when: datetime, text: str) -> None:
    assert timestamp(when) == text


T0 = NOW - timedelta(seconds=30)
ENTRIES = [(T0, "one"), (T0 + timedelta(seconds=10), "two"), (T0 + timedelta(seconds=20), "three")]


@pytest.mark.parametrize(("options", "out", "exhausted"), [
    (LogOptions(), b"one\ntwo\nthree\n", False),
    (LogOptions(timestamps=True),
     b"2025-03-01T11:59:30.000000000Z one\n2025-03-01T11:59:40.000000000Z two\n"
     b"2025-03-01T11:59:50.000000000Z three\n", False),
    (LogOptions(since=T0 + timedelta(seconds=10)), b"two\nthree\n", False),
    (LogOptions(limit_bytes=6), b"one\ntw", True),
    (LogOptions(limit_bytes=4), b"one\n", True),
    (LogOptions(limit_bytes=100), b"one\ntwo\nthree\n", False),
    (LogOptions(timestamps=True, limit_bytes=10), b"2025-03-01", True),
], ids=["plain", "timestamps", "since", "limit-mid-line", "limit-at-line-end", "limit-unused",
        "limit-counts-timestamps"])
def test_log_writer(options: LogOptions, out: bytes, exhausted: bool) -> None:
    writer = LogWriter(options)
    assert b"".join(writer.render(when, line) for when, line in ENTRIES) == out
    assert writer.exhausted is exhausted
