"""The toolbox shell's lexer and parser: words and their parts, operators and
redirections, the AST of compound commands, and ash's syntax errors (with whether more
input could complete them, which drives the interactive "> " prompt)."""

from __future__ import annotations

import pytest

from node_agent.toolbox.shlexer import (Arith, CmdSub, Lit, Param, ParseError, Word, literal,
                                        parse_word, tokenize)
from node_agent.toolbox.shparse import (AndOr, For, Group, If, Loop, Pipeline, Redirect,
                                        Sequence, Simple, parse)


def words(script: str) -> list[object]:
    """Each token as its parts (words) or its text (operators, redirections)."""
    return [t.word if t.kind == "word" else (t.kind, t.text, t.fd)
            for t in tokenize(script) if t.kind != "eof"]


# (script, tokens)
TOKENS = [
    ("echo hi", [(Lit("echo"),), (Lit("hi"),)]),
    ("'a b'", [(Lit("a b", True),)]),
    ('"a $X b"', [(Lit("a ", True), Param("X", quoted=True), Lit(" b", True))]),
    ('""', [(Lit("", True),)]),
    ("a\\ b", [(Lit("a"), Lit(" ", True), Lit("b"))]),
    ("$X${Y}", [(Param("X"), Param("Y"))]),
    ("${X:-d e}", [(Param("X", ":-", "d e"),)]),
    ("${#X}", [(Param("X", "#"),)]),
    ("$? $1 $@", [(Param("?"),), (Param("1"),), (Param("@"),)]),
    ("$ a", [(Lit("$"),), (Lit("a"),)]),
    ("$(echo $(x))", [(CmdSub("echo $(x)"),)]),
    ("`date`", [(CmdSub("date"),)]),
    ('"$(echo "in")"', [(CmdSub('echo "in"', True),)]),
    ("$((1 + (2)))", [(Arith("1 + (2)"),)]),
    ("a&&b||c;d&e|f", [(Lit("a"),), ("op", "&&", None), (Lit("b"),), ("op", "||", None),
                       (Lit("c"),), ("op", ";", None), (Lit("d"),), ("op", "&", None),
                       (Lit("e"),), ("op", "|", None), (Lit("f"),)]),
    ("a >f 2>&1 <in >>log &>all", [(Lit("a"),), ("redir", ">", None), (Lit("f"),),
                                   ("redir", ">&", 2), (Lit("1"),), ("redir", "<", None),
                                   (Lit("in"),), ("redir", ">>", None), (Lit("log"),),
                                   ("redir", "&>", None), (Lit("all"),)]),
    ("a # comment\nb", [(Lit("a"),), ("newline", "\n", None), (Lit("b"),)]),
    ("a\\\nb", [(Lit("ab"),)]),
]


@pytest.mark.parametrize("script,expected", TOKENS, ids=[t[0] for t in TOKENS])
def test_tokenize(script: str, expected: list[object]) -> None:
    assert words(script) == expected


def simple(*argv: str) -> Simple:
    return Simple((), tuple((Lit(a),) for a in argv))


def one(command: object) -> Sequence:
    return Sequence(((AndOr(Pipeline((command,))), False),))  # type: ignore[arg-type]


# (script, AST)
TREES = [
    ("echo a", one(simple("echo", "a"))),
    ("X=1 Y=$Z cmd", one(Simple((("X", (Lit("1"),)), ("Y", (Param("Z"),))),
                                ((Lit("cmd"),),)))),
    ("X=1", one(Simple((("X", (Lit("1"),)),), ()))),
    ("cmd X=1", one(simple("cmd", "X=1"))),
    ("a | b", Sequence(((AndOr(Pipeline((simple("a"), simple("b")))), False),))),
    ("! a", Sequence(((AndOr(Pipeline((simple("a"),), negate=True)), False),))),
    ("a && b || c", Sequence(((AndOr(Pipeline((simple("a"),)),
                                     (("&&", Pipeline((simple("b"),))),
                                      ("||", Pipeline((simple("c"),))))), False),))),
    ("a & b", Sequence(((AndOr(Pipeline((simple("a"),))), True),
                        (AndOr(Pipeline((simple("b"),))), False)))),
    ("a >out 2>&1", one(Simple((), ((Lit("a"),),),
                               (Redirect(1, ">", (Lit("out"),)), Redirect(2, ">&", (Lit("1"),)))))),
    ("if a; then b; elif c; then d; else e; fi",
     one(If(((one(simple("a")), one(simple("b"))), (one(simple("c")), one(simple("d")))),
            one(simple("e"))))),
    ("while a; do b; done", one(Loop(one(simple("a")), one(simple("b"))))),
    ("until a\ndo\nb\ndone", one(Loop(one(simple("a")), one(simple("b")), until=True))),
    ("for x in 1 2; do b; done", one(For("x", ((Lit("1"),), (Lit("2"),)), one(simple("b"))))),
    ("for x; do b; done", one(For("x", None, one(simple("b"))))),
    ("{ a; } > f", one(Group(one(simple("a")), False, (Redirect(1, ">", (Lit("f"),)),)))),
    ("(a)", one(Group(one(simple("a")), True))),
    ("echo done fi", one(simple("echo", "done", "fi"))),
    ("", Sequence(())),
]


@pytest.mark.parametrize("script,tree", TREES, ids=[t[0] or "empty" for t in TREES])
def test_parse(script: str, tree: Sequence) -> None:
    assert parse(script) == tree


# (script, message, incomplete)
ERRORS = [
    ("echo 'a", "syntax error: unterminated quoted string", True),
    ('echo "a', "syntax error: unterminated quoted string", True),
    ("echo $(a", "syntax error: missing ')'", True),
    ("if a; then b", 'syntax error: unexpected end of file (expecting "fi")', True),
    ("while a", 'syntax error: unexpected end of file (expecting "do")', True),
    ("a &&", "syntax error: unexpected end of file", True),
    ("a |", "syntax error: unexpected end of file", True),
    ("fi", 'syntax error: unexpected "fi"', False),
    ("a; done", 'syntax error: unexpected "done"', False),
    ("a && ;", 'syntax error: unexpected ";"', False),
    ("a >", "syntax error: unexpected end of file", True),
    ("(a", 'syntax error: unexpected end of file (expecting ")")', True),
    ("echo ${a b}", "syntax error: bad substitution", False),
    ("for 1 in x; do a; done", 'syntax error: unexpected "1"', False),
]


@pytest.mark.parametrize("script,message,incomplete", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(script: str, message: str, incomplete: bool) -> None:
    with pytest.raises(ParseError) as caught:
        parse(script)
    assert (str(caught.value), caught.value.incomplete) == (message, incomplete)


@pytest.mark.parametrize("text,parts", [
    ("word", (Lit("word"),)),
    ("a $B c", (Lit("a "), Param("B"), Lit(" c"))),
    ("'q' \\$x", (Lit("q", True), Lit(" "), Lit("$", True), Lit("x"))),
    ("i+1", (Lit("i+1"),)),
], ids=["plain", "param", "quotes", "arith"])
def test_parse_word(text: str, parts: tuple[object, ...]) -> None:
    assert parse_word(text) == parts


@pytest.mark.parametrize("word,text", [
    ((Lit("if"),), "if"), ((Lit("if", True),), None), ((Lit("a"), Param("b")), None),
], ids=["reserved", "quoted", "mixed"])
def test_literal(word: Word, text: str | None) -> None:
    assert literal(word) == text
