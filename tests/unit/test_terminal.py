"""The TTY line discipline: what typed keys echo and hand to the process, and how output
newlines reach a raw-mode terminal."""

from __future__ import annotations

import pytest

from node_agent.terminal import Input, LineDiscipline


@pytest.mark.parametrize(("bursts", "last"), [
    ([b"ls\r"], Input(b"ls\r\n", b"ls\n")),
    ([b"l", b"s", b"\r"], Input(b"\r\n", b"ls\n")),
    ([b"\r"], Input(b"\r\n", b"\n")),
    ([b"a\nb\r"], Input(b"a\r\nb\r\n", b"a\nb\n")),
    ([b"lx\x7fs\r"], Input(b"lx\b \bs\r\n", b"ls\n")),
    ([b"\x7f\x7fa\r"], Input(b"a\r\n", b"a\n")),
    ([b"echo hi\x15pwd\r"], Input(b"echo hi" + b"\b \b" * 7 + b"pwd\r\n", b"pwd\n")),
    ([b"echo hi there\x17x\r"], Input(b"echo hi there" + b"\b \b" * 5 + b"x\r\n",
                                      b"echo hi x\n")),
    ([b"sleep\x03"], Input(b"sleep^C\r\n", b"")),
    ([b"\x04"], Input(b"", b"", eof=True)),
    ([b"abc\x04"], Input(b"abc", b"abc")),
    ([b"\x01\x02x\r"], Input(b"x\r\n", b"x\n")),
    ([b"a\tb\r"], Input(b"a\tb\r\n", b"a\tb\n")),
], ids=["enter", "key-by-key", "empty-line", "pasted-lines", "backspace",
        "backspace-on-empty", "kill-line", "word-erase", "interrupt-drops-line",
        "eof-on-empty-line", "eof-flushes-partial-line", "ignored-controls", "tab"])
def test_keys(bursts: list[bytes], last: Input) -> None:
    terminal = LineDiscipline()
    result = Input()
    for burst in bursts:
        result = terminal.keys(burst)
    assert result == last


@pytest.mark.parametrize(("writes", "out"), [
    ([b"hi\n"], b"hi\r\n"),
    ([b"a\nb\n"], b"a\r\nb\r\n"),
    ([b"ok\r\n"], b"ok\r\n"),
    ([b"ok\r", b"\n"], b"ok\r\n"),
    ([b"x", b"\n"], b"x\r\n"),
    ([b"/ # "], b"/ # "),
], ids=["lf", "two-lines", "crlf-kept", "crlf-split", "lf-split", "prompt"])
def test_output(writes: list[bytes], out: bytes) -> None:
    terminal = LineDiscipline()
    assert b"".join(terminal.output(w) for w in writes) == out
