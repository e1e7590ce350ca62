"""The terminal a TTY exec or attach gets: the part of a kernel pty (canonical mode) the
emulated processes rely on. Keys typed in kubectl's raw-mode terminal are echoed, edited
and handed to the process a line at a time; output newlines become CR LF.

Pure and stateful: ``keys(data)`` and ``output(data)`` return what to write where."""

from __future__ import annotations

from dataclasses import dataclass

ERASE = (0x7F, 0x08)  # DEL (what terminals send for Backspace) and ^H
KILL = 0x15  # ^U
INTERRUPT = 0x03  # ^C
EOF = 0x04  # ^D
WORD_ERASE = 0x17  # ^W


@dataclass(frozen=True)
class Input:
    """What a burst of keys produced: ``echo`` for the terminal, ``line`` for the process
    (complete lines only), ``eof`` when ^D was typed on an empty line."""

    echo: bytes = b""
    line: bytes = b""
    eof: bool = False


class LineDiscipline:
    def __init__(self) -> None:
        self._line = bytearray()
        self._after_cr = False

    def keys(self, data: bytes) -> Input:
        echo, lines = bytearray(), bytearray()
        eof = False
        for b in data:
            if b in (0x0D, 0x0A):  # Enter sends CR in raw mode; a pasted LF works too
                echo += b"\r\n"
                lines += self._line + b"\n"
                self._line.clear()
            elif b in ERASE:
                if self._line:
                    self._line.pop()
                    echo += b"\b \b"
            elif b == WORD_ERASE:
                while self._line and self._line[-1] == 0x20:
                    self._line.pop()
                    echo += b"\b \b"
                while self._line and self._line[-1] != 0x20:
                    self._line.pop()
                    echo += b"\b \b"
            elif b == KILL:
                echo += b"\b \b" * len(self._line)
                self._line.clear()
            elif b == INTERRUPT:
                echo += b"^C\r\n"
                self._line.clear()
            elif b == EOF:
                if self._line:  # ^D on a partial line hands it over without a newline
                    lines += self._line
                    self._line.clear()
                else:
                    eof = True
                    break
            elif b == 0x1B or b >= 0x20 or b == 0x09:
                self._line.append(b)
                echo.append(b)
        return Input(bytes(echo), bytes(lines), eof)

    def output(self, data: bytes) -> bytes:
        """LF -> CR LF (the pty's onlcr), leaving an existing CR LF alone, even when the
        CR ended the previous write."""
        out = bytearray()
        for b in data:
            if b == 0x0A and not self._after_cr:
                out += b"\r"
            out.append(b)
            self._after_cr = b == 0x0D
        return bytes(out)
