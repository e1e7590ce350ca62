"""Pure expansion pieces of the toolbox shell: assembling fields from quoted and unquoted
chunks, ${name<op>word} operators, and $((...)) arithmetic with ash's errors."""

from __future__ import annotations

import pytest

from node_agent.toolbox.shexpand import Chunk, ExpansionError, apply_operator, arithmetic, assemble

# (chunks, fields)
FIELDS: list[tuple[list[Chunk], list[str]]] = [
    ([("a", False)], ["a"]),
    ([("a b", True)], ["a", "b"]),
    ([("a b", False)], ["a b"]),
    ([("  a  b  ", True)], ["a", "b"]),
    ([("", True)], []),
    ([("", False)], [""]),
    ([("x", False), ("a b", True), ("y", False)], ["xa", "by"]),
    ([("x", False), (" a", True)], ["x", "a"]),
    ([("a ", True), ("b", False)], ["a", "b"]),
    ([(["1", "2 3"], False)], ["1", "2 3"]),
    ([("<", False), (["1", "2"], False), (">", False)], ["<1", "2>"]),
    ([([], False)], []),
]


@pytest.mark.parametrize("chunks,fields", FIELDS, ids=[repr(c) for c, _ in FIELDS])
def test_assemble(chunks: list[Chunk], fields: list[str]) -> None:
    assert assemble(chunks) == fields


# (value, op, arg, result, assigned)
OPERATORS = [
    ("v", "-", "d", "v", None), (None, "-", "d", "d", None), ("", "-", "d", "", None),
    ("", ":-", "d", "d", None), (None, ":=", "d", "d", "d"), ("v", ":=", "d", "v", None),
    ("v", ":+", "alt", "alt", None), ("", ":+", "alt", "", None), ("", "+", "alt", "alt", None),
    ("hello", "#", None, "5", None), (None, "#", None, "0", None), ("v", ":?", "msg", "v", None),
]


@pytest.mark.parametrize("value,op,arg,result,assigned", OPERATORS,
                         ids=[f"{o[0]!r}{o[1]}{o[2]}" for o in OPERATORS])
def test_operators(value: str | None, op: str, arg: str | None, result: str,
                   assigned: str | None) -> None:
    assert apply_operator("x", value, op, arg) == (result, assigned)


@pytest.mark.parametrize("value,op,message", [
    (None, "?", "x: parameter not set"), ("", ":?", "x: parameter not set"),
], ids=["unset", "empty"])
def test_required_parameter(value: str | None, op: str, message: str) -> None:
    with pytest.raises(ExpansionError, match=message):
        apply_operator("x", value, op, None)


VARIABLES = {"i": "4", "empty": "", "hex": "0x10"}

# (expression, value)
ARITHMETIC = [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("i + 1", 5), ("i*i", 16), ("unset + 1", 1),
    ("empty", 0), ("hex + 1", 17), ("010", 8), ("0x1f", 31), ("-3 / 2", -1), ("-7 % 3", -1),
    ("2 ** 10", 1024), ("i > 3 && i < 5", 1), ("i == 4 ? 10 : 20", 10), ("!i", 0), ("~0", -1),
    ("1 << 4 | 1", 17), ("6 ^ 3 & 2", 4), ("i != 4 || 0", 0), ("", 0),
]


@pytest.mark.parametrize("expr,value", ARITHMETIC, ids=[a[0] or "empty" for a in ARITHMETIC])
def test_arithmetic(expr: str, value: int) -> None:
    assert arithmetic(expr, VARIABLES.get) == value


@pytest.mark.parametrize("expr,message", [
    ("1 / 0", "divide by zero"), ("1 +", "arithmetic syntax error"),
    ("(1", "arithmetic syntax error"), ("1 2", "arithmetic syntax error"),
    ("@", "arithmetic syntax error"), ("2 ** -1", "exponent less than 0"),
], ids=["div0", "dangling", "paren", "two-numbers", "junk", "negative-exponent"])
def test_arithmetic_errors(expr: str, message: str) -> None:
    with pytest.raises(ExpansionError, match=message):
        arithmetic(expr, VARIABLES.get)
