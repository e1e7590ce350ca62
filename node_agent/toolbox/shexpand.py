"""Pure pieces of the toolbox shell's word expansion: parameter operators (${x:-word}
and friends), field splitting of unquoted expansions, and $((...)) arithmetic. The
executor feeds these with values (and command-substitution output) it computed."""

from __future__ import annotations

import re
from collections.abc import Callable

IFS = re.compile(r"[ \t\n]+")

# A chunk of an expanded word: its text (a list for "$@", one field per item) and whether
# it came from an unquoted expansion (so it is split into fields).
Chunk = tuple["str | list[str]", bool]


class ExpansionError(Exception):
    """A failed expansion (${x?msg}, bad arithmetic); the message is ash's."""


def assemble(chunks: list[Chunk]) -> list[str]:
    """The fields of one word from its chunks: unquoted expansions split on blanks, quoted
    text and literals join the current field, an empty quoted string still makes a field,
    an empty unquoted expansion makes none."""
    fields: list[str] = []
    current: str | None = None
    for text, split in chunks:
        if isinstance(text, list):  # "$@"
            for k, item in enumerate(text):
                if k > 0:
                    fields.append(current or "")
                    current = None
                current = (current or "") + item
            continue
        if not split:
            current = (current or "") + text
            continue
        for k, piece in enumerate(IFS.split(text)):
            if k > 0 and current is not None:
                fields.append(current)
                current = None
            if piece:
                current = (current or "") + piece
    if current is not None:
        fields.append(current)
    return fields


def apply_operator(name: str, value: str | None, op: str,
                   arg: str | None) -> tuple[str, str | None]:
    """Applies a ${name<op>arg} operator to the variable's ``value`` (None = unset).
    ``arg`` is the already expanded word. Returns (result, new value to assign or None)."""
    if op == "#":
        return str(len(value or "")), None
    unset_or_empty = value is None or (op.startswith(":") and value == "")
    base = op.lstrip(":")
    if base == "-":
        return ((arg or "") if unset_or_empty else value or ""), None
    if base == "=":
        return ((arg or "", arg or "") if unset_or_empty else (value or "", None))
    if base == "+":
        return ("" if unset_or_empty else (arg or "")), None
    if base == "?":
        if unset_or_empty:
            raise ExpansionError(f"{name}: {arg or 'parameter not set'}")
        return value or "", None
    return value or "", None


# --- arithmetic ---------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(0[xX][0-9a-fA-F]+|\d+|[A-Za-z_][A-Za-z0-9_]*|\*\*|<<|>>|<=|>=|==|"
                    r"!=|&&|\|\||[-+*/%()<>!~&|^?:])")
_BINARY = [("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", "<=", ">", ">="),
           ("<<", ">>"), ("+", "-"), ("*", "/", "%")]


def arithmetic(expr: str, lookup: Callable[[str], str | None]) -> int:
    """Evaluates a shell arithmetic expression over integers; names read variables
    (unset or empty = 0). Raises ExpansionError like ash does."""
    tokens: list[str] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ExpansionError("arithmetic syntax error")
        tokens.append(m.group(1))
        pos = m.end()
    parser = _Arith(tokens, lookup)
    if not tokens:
        return 0
    value = parser.ternary()
    if parser.i != len(tokens):
        raise ExpansionError("arithmetic syntax error")
    return value


class _Arith:
    def __init__(self, tokens: list[str], lookup: Callable[[str], str | None]) -> None:
        self.tokens = tokens
        self.i = 0
        self.lookup = lookup

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ExpansionError("arithmetic syntax error")
        self.i += 1
        return tok

    def ternary(self) -> int:
        cond = self.binary(0)
        if self.peek() != "?":
            return cond
        self.take()
        yes = self.ternary()
        if self.take() != ":":
            raise ExpansionError("arithmetic syntax error")
        no = self.ternary()
        return yes if cond else no

    def binary(self, level: int) -> int:
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in _BINARY[level]:
            op = self.take()
            right = self.binary(level + 1)
            left = _combine(op, left, right)
        return left

    def unary(self) -> int:
        tok = self.peek()
        if tok in ("-", "+", "!", "~"):
            self.take()
            value = self.unary()
            return {"-": -value, "+": value, "!": int(not value), "~": ~value}[tok]
        return self.power()

    def power(self) -> int:
        base = self.primary()
        if self.peek() == "**":
            self.take()
            exponent = self.unary()
            if exponent < 0:
                raise ExpansionError("exponent less than 0")
            return int(base ** exponent)
        return base

    def primary(self) -> int:
        tok = self.take()
        if tok == "(":
            value = self.ternary()
            if self.take() != ")":
                raise ExpansionError("arithmetic syntax error")
            return value
        if tok[0].isdigit():
            return _number(tok)
        if tok[0].isalpha() or tok[0] == "_":
            text = (self.lookup(tok) or "").strip()
            return _number(text) if text else 0
        raise ExpansionError("arithmetic syntax error")


def _number(text: str) -> int:
    try:
        if text.lower().startswith("0x"):
            return int(text, 16)
        if len(text) > 1 and text.startswith("0"):
            return int(text, 8)
        return int(text)
    except ValueError:
        raise ExpansionError("arithmetic syntax error") from None


def _combine(op: str, a: int, b: int) -> int:
    if op in ("/", "%"):
        if b == 0:
            raise ExpansionError("divide by zero")
        quotient = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)  # C truncation
        return quotient if op == "/" else a - quotient * b
    table: dict[str, Callable[[int, int], int]] = {
        "||": lambda x, y: int(bool(x or y)), "&&": lambda x, y: int(bool(x and y)),
        "|": lambda x, y: x | y, "^": lambda x, y: x ^ y, "&": lambda x, y: x & y,
        "==": lambda x, y: int(x == y), "!=": lambda x, y: int(x != y),
        "<": lambda x, y: int(x < y), "<=": lambda x, y: int(x <= y),
        ">": lambda x, y: int(x > y), ">=": lambda x, y: int(x >= y),
        "<<": lambda x, y: x << y, ">>": lambda x, y: x >> y,
        "+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
    }
    return table[op](a, b)
