"""The toolbox shell's lexer: script text -> tokens, where a word is a tuple of parts
(literal text, $VAR and ${VAR...} parameters, $(...)/`...` substitutions, $((...))
arithmetic), each marked quoted or not so expansion knows what to split. Pure; errors
carry ash's wording and say whether more input could complete the script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

SPECIAL_PARAMS = "?$#@*!-0123456789"


class ParseError(Exception):
    def __init__(self, message: str, incomplete: bool = False) -> None:
        super().__init__(message)
        self.incomplete = incomplete  # more input could make it valid (interactive "> ")


@dataclass(frozen=True)
class Lit:
    text: str
    quoted: bool = False


@dataclass(frozen=True)
class Param:
    name: str
    op: str = ""  # "", "-", ":-", "=", ":=", "+", ":+", "?", ":?", "#" (length)
    arg: str = ""  # the word after the operator, parsed when used
    quoted: bool = False


@dataclass(frozen=True)
class CmdSub:
    script: str
    quoted: bool = False


@dataclass(frozen=True)
class Arith:
    expr: str
    quoted: bool = False


Part = Union[Lit, Param, CmdSub, Arith]
Word = tuple[Part, ...]


def literal(word: Word) -> str | None:
    """The text of a word made only of unquoted literal text (reserved words, names)."""
    if len(word) == 1 and isinstance(word[0], Lit) and not word[0].quoted:
        return word[0].text
    return None


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "op", "redir", "newline", "eof"
    text: str = ""
    word: Word = ()
    fd: int | None = None


OPERATORS = ("&&", "||", ";", "&", "|", "(", ")")
REDIRS = (">>", ">&", "<&", "&>", ">", "<")


def _closing(s: str, i: int, open_: str, close: str) -> int:
    """Index of the ``close`` matching the ``open_`` at s[i], skipping quoted text."""
    depth, j = 0, i
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "'" and open_ != "'":
            end = s.find("'", j + 1)
            if end < 0:
                break
            j = end + 1
            continue
        if c == '"':
            j = _closing_dquote(s, j)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return j
        j += 1
    raise ParseError("syntax error: unterminated quoted string"
                     if open_ == "`" else f"syntax error: missing '{close}'", incomplete=True)


def _closing_dquote(s: str, i: int) -> int:
    """Index just past the double-quoted string starting at s[i]."""
    j = i + 1
    while j < len(s):
        if s[j] == "\\":
            j += 2
        elif s[j] == '"':
            return j + 1
        elif s.startswith("$(", j):
            j = _closing(s, j + 1, "(", ")") + 1
        elif s[j] == "`":
            end = s.find("`", j + 1)
            j = len(s) if end < 0 else end + 1
        else:
            j += 1
    raise ParseError("syntax error: unterminated quoted string", incomplete=True)


def _dollar(s: str, i: int, quoted: bool) -> tuple[Part, int]:
    """The expansion starting at the "$" at s[i], and the index after it."""
    nxt = s[i + 1:i + 2]
    if s.startswith("$((", i):
        end = _closing(s, i + 1, "(", ")")
        if s[end - 1] == ")":
            return Arith(s[i + 3:end - 1], quoted), end + 1
    if nxt == "(":
        end = _closing(s, i + 1, "(", ")")
        return CmdSub(s[i + 2:end], quoted), end + 1
    if nxt == "{":
        end = _closing(s, i + 1, "{", "}")
        return _braced(s[i + 2:end], quoted), end + 1
    if nxt and nxt in SPECIAL_PARAMS:
        return Param(nxt, quoted=quoted), i + 2
    j = i + 1
    while j < len(s) and (s[j].isalnum() or s[j] == "_") and not (j == i + 1 and s[j].isdigit()):
        j += 1
    if j == i + 1:
        return Lit("$", quoted), i + 1
    return Param(s[i + 1:j], quoted=quoted), j


def _braced(body: str, quoted: bool) -> Param:
    if body.startswith("#") and len(body) > 1:
        return Param(body[1:], "#", quoted=quoted)
    j = 0
    while j < len(body) and (body[j].isalnum() or body[j] == "_"):
        j += 1
    if j == 0 and body[:1] and body[0] in SPECIAL_PARAMS:
        j = 1
    name, rest = body[:j], body[j:]
    if not name:
        raise ParseError("syntax error: bad substitution")
    for op in (":-", ":=", ":+", ":?", "-", "=", "+", "?"):
        if rest.startswith(op):
            return Param(name, op, rest[len(op):], quoted)
    if rest:
        raise ParseError("syntax error: bad substitution")
    return Param(name, quoted=quoted)


def _append(parts: list[Part], part: Part) -> None:
    """Merges adjacent literal text of the same quoting."""
    if parts and isinstance(part, Lit) and isinstance(parts[-1], Lit) \
            and parts[-1].quoted == part.quoted:
        parts[-1] = Lit(parts[-1].text + part.text, part.quoted)
    else:
        parts.append(part)


def _double_quoted(s: str, i: int, parts: list[Part]) -> int:
    """Parses the "..." starting at s[i] into ``parts``; returns the index after it."""
    end = _closing_dquote(s, i) - 1
    j = i + 1
    while j < end:
        c = s[j]
        if c == "\\" and j + 1 < end and s[j + 1] in '$`"\\\n':
            if s[j + 1] != "\n":
                _append(parts, Lit(s[j + 1], True))
            j += 2
        elif c == "$":
            part, j = _dollar(s, j, True)
            _append(parts, part)
        elif c == "`":
            close = s.index("`", j + 1)
            _append(parts, CmdSub(s[j + 1:close], True))
            j = close + 1
        else:
            _append(parts, Lit(c, True))
            j += 1
    return end + 1


def tokenize(s: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c in " \t\r":
            i += 1
        elif c == "\\" and s.startswith("\\\n", i):
            i += 2
        elif c == "\n":
            tokens.append(Token("newline", "\n"))
            i += 1
        elif c == "#":
            while i < len(s) and s[i] != "\n":
                i += 1
        elif (op := next((r for r in REDIRS if s.startswith(r, i)), None)) is not None:
            tokens.append(Token("redir", op))
            i += len(op)
        elif (op := next((o for o in OPERATORS if s.startswith(o, i)), None)) is not None:
            tokens.append(Token("op", op))
            i += len(op)
        else:
            i = _word(s, i, tokens)
    tokens.append(Token("eof"))
    return tokens


def _word(s: str, i: int, tokens: list[Token]) -> int:
    parts: list[Part] = []
    start = i
    while i < len(s) and s[i] not in " \t\r\n;&|()<>":
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s):
                i += 1
                continue
            if s[i + 1] != "\n":
                _append(parts, Lit(s[i + 1], True))
            i += 2
        elif c == "'":
            end = s.find("'", i + 1)
            if end < 0:
                raise ParseError("syntax error: unterminated quoted string", incomplete=True)
            _append(parts, Lit(s[i + 1:end], True))
            i = end + 1
        elif c == '"':
            before = len(parts)
            i = _double_quoted(s, i, parts)
            if len(parts) == before:
                _append(parts, Lit("", True))  # "" is an (empty) word
        elif c == "$":
            part, i = _dollar(s, i, False)
            _append(parts, part)
        elif c == "`":
            end = s.find("`", i + 1)
            if end < 0:
                raise ParseError("syntax error: unterminated quoted string", incomplete=True)
            _append(parts, CmdSub(s[i + 1:end]))
            i = end + 1
        else:
            _append(parts, Lit(c))
            i += 1
    text = s[start:i]
    if text.isdigit() and i < len(s) and s[i] in "<>":  # "2>" : an fd number
        op = next(r for r in REDIRS if s.startswith(r, i))
        tokens.append(Token("redir", op, fd=int(text)))
        return i + len(op)
    tokens.append(Token("word", text, tuple(parts)))
    return i


def parse_word(text: str) -> Word:
    """``text`` read as the inside of double quotes (for ${x:-word} and $((...)))."""
    parts: list[Part] = []
    j = 0
    while j < len(text):
        c = text[j]
        if c == "$":
            part, j = _dollar(text, j, False)
            _append(parts, part)
        elif c == "\\" and j + 1 < len(text):
            _append(parts, Lit(text[j + 1], True))
            j += 2
        elif c == "'":
            end = text.find("'", j + 1)
            end = len(text) if end < 0 else end
            _append(parts, Lit(text[j + 1:end], True))
            j = end + 1
        else:
            _append(parts, Lit(c))
            j += 1
    return tuple(parts)
