"""Text formats the emulated software writes: the clocks of their logs (nginx, Apache, Go,
Node), HTTP dates, log escaping, Go's duration and content sniffing, Go's header
canonical form, Prometheus's text exposition. Pure functions of plain values; the
per-second ones are cached because they run once per request on the hot path."""

from __future__ import annotations

import email.utils
import functools
import time
from datetime import datetime, timezone
from decimal import Decimal

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@functools.lru_cache(maxsize=4)
def http_date(second: int) -> bytes:
    """``Tue, 03 Dec 2024 10:00:00 GMT`` (the Date header, and JavaScript's toUTCString)."""
    return email.utils.formatdate(second, usegmt=True).encode("ascii")


@functools.lru_cache(maxsize=4)
def clf_time(second: int) -> str:
    """``03/Dec/2024:10:00:00 +0000``: nginx's $time_local and Apache's %t (TZ=UTC)."""
    t = time.gmtime(second)
    return (f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000")


@functools.lru_cache(maxsize=4)
def go_log_time(second: int) -> str:
    """``2024/12/03 10:00:00``: Go's log.LstdFlags prefix, and nginx's error log clock."""
    t = time.gmtime(second)
    return (f"{t.tm_year}/{t.tm_mon:02d}/{t.tm_mday:02d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}")


def go_log(now: float, message: str) -> str:
    """One line of Go's standard logger."""
    return f"{go_log_time(int(now))} {message}"


def apache_error_time(now: float) -> str:
    """``[Tue Dec 03 10:00:00.123456 2024]``: Apache's error log clock."""
    t = time.gmtime(now)
    micros = int(round((now - int(now)) * 1e6)) % 1_000_000
    return (f"[{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{micros:06d} {t.tm_year}]")


def iso_millis(now: float) -> str:
    """``2024-12-03T10:00:00.123Z``: JavaScript's Date.toISOString (bunyan's "time")."""
    moment = datetime.fromtimestamp(now, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def go_time(now: float, since_start: float) -> str:
    """``2024-12-03 10:00:00.123456789 +0000 UTC m=+1.500000001``: Go's time.Now() printed
    with %v, monotonic reading included (nanoseconds, trailing zeros trimmed)."""
    moment = datetime.fromtimestamp(now, timezone.utc)
    nanos = f"{moment.microsecond * 1000:09d}".rstrip("0")
    fraction = f".{nanos}" if nanos else ""
    return (moment.strftime("%Y-%m-%d %H:%M:%S") + fraction
            + f" +0000 UTC m=+{since_start:.9f}")


def go_duration(seconds: float) -> str:
    """Go's Duration.String: ``0s``, ``850ns``, ``12.5µs``, ``1.234567ms``, ``2.5s``,
    ``1m30.25s``, ``2h0m0s``."""
    nanos = int(round(seconds * 1e9))
    if nanos == 0:
        return "0s"
    if nanos < 1000:
        return f"{nanos}ns"
    if nanos < 60_000_000_000:
        for unit, size in (("µs", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)):
            if nanos < size * 1000 or unit == "s":
                return _decimal(nanos, size) + unit
    minutes, rest = divmod(nanos, 60_000_000_000)
    hours, minutes = divmod(minutes, 60)
    text = f"{minutes}m{_decimal(rest, 1_000_000_000)}s"
    return f"{hours}h{text}" if hours else text


def _decimal(value: int, size: int) -> str:
    whole, part = divmod(value, size)
    digits = f"{part:0{len(str(size)) - 1}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def log_safe(value: str) -> bool:
    """Whether nginx would log ``value`` unchanged."""
    return value.isascii() and value.isprintable() and '"' not in value and "\\" not in value


def log_escape(value: str) -> str:
    """nginx's default log escaping: ``"``, ``\\`` and bytes outside printable ASCII
    become ``\\xHH`` (values arrive decoded as latin-1, one char per byte)."""
    if log_safe(value):
        return value
    return "".join(c if (" " <= c <= "~" and c not in '"\\') else f"\\x{ord(c):02X}"
                   for c in value)


def canonical_header(name: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey: ``user-agent`` -> ``User-Agent``."""
    if not all(c.isalnum() or c == "-" for c in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


_HTML_SIGNATURES = (b"<!DOCTYPE HTML", b"<HTML", b"<HEAD", b"<SCRIPT", b"<IFRAME", b"<H1",
                    b"<DIV", b"<FONT", b"<TABLE", b"<A", b"<STYLE", b"<TITLE", b"<B",
                    b"<BODY", b"<BR", b"<P", b"<!--")
_BINARY = frozenset(list(range(0x00, 0x09)) + [0x0B] + list(range(0x0E, 0x1B))
                    + list(range(0x1C, 0x20)))


def sniff_content_type(body: bytes) -> str | None:
    """The Content-Type Go's net/http picks for a handler that set none (a subset of
    http.DetectContentType: HTML, XML, PDF, binary, else UTF-8 text); None for no body."""
    if not body:
        return None
    head = body[:512].lstrip(b"\t\n\x0c\r ")
    upper = head.upper()
    for sig in _HTML_SIGNATURES:
        if upper.startswith(sig) and len(head) > len(sig) and head[len(sig)] in b" >":
            return "text/html; charset=utf-8"
    if head.startswith(b"<?xml"):
        return "text/xml; charset=utf-8"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if any(b in _BINARY for b in body[:512]):
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


def go_float(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 64): how Prometheus's Go client prints a
    sample (the shortest digits; an exponent from 1e+06 up and below 1e-04)."""
    number = Decimal(repr(float(value))).normalize()
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    exp = len(digits) - 1 + exponent
    if number == 0 or -4 <= exp < 6:
        return format(number, "f")
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"


# (name, type, help, samples as (labels, value)): one metric family of a /metrics page.
Family = tuple[str, str, str, list[tuple[str, float]]]


def prometheus_text(families: list[Family]) -> str:
    """A /metrics page as Prometheus's Go client writes it (text format 0.0.4)."""
    lines = []
    for name, kind, help_text, samples in families:
        if not samples:
            continue  # a counter vector with no children yet is not exposed
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{{{labels}}} {go_float(value)}" if labels
                  else f"{name} {go_float(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"
