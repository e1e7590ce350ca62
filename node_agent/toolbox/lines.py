"""Reading commands from a raw terminal: kubectl exec -t puts the user's terminal in raw
mode, so the shell receives keystrokes, not lines. This does the canonical-mode part of a
tty line discipline (echo stays with the tty client): Enter (CR, LF or CRLF) ends a line,
DEL/BS erase a character, ^U the line, ^C drops it (and says so), ^D on an empty line
ends input."""

from __future__ import annotations

INTERRUPT = "\x03"  # what feed() returns in place of a line dropped by ^C


class LineEditor:
    def __init__(self) -> None:
        self.current = ""
        self.eof = False
        self._after_cr = False

    def feed(self, data: str) -> list[str]:
        """The lines completed by ``data`` (without their terminator)."""
        lines: list[str] = []
        for ch in data:
            if self.eof:
                break
            after_cr, self._after_cr = self._after_cr, False
            if ch == "\n" and after_cr:
                continue  # the LF of a CRLF
            if ch in "\r\n":
                lines.append(self.current)
                self.current = ""
                self._after_cr = ch == "\r"
            elif ch in "\x7f\b":
                self.current = self.current[:-1]
            elif ch == "\x15":
                self.current = ""
            elif ch == "\x03":
                self.current = ""
                lines.append(INTERRUPT)
            elif ch == "\x04":
                if not self.current:
                    self.eof = True
            else:
                self.current += ch
        return lines
