"""The toolbox shell's grammar: shlexer's tokens -> a small AST. Covers what pod commands
and probes use: pipelines, && ||, ; & and newlines, redirections, NAME=value prefixes,
if/elif/else, while/until, for, { } groups and ( ) subshells. Pure; errors carry ash's
wording and say whether more input could complete the script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from node_agent.toolbox.shlexer import Lit, ParseError, Token, Word, literal, tokenize

RESERVED = {"if", "then", "elif", "else", "fi", "while", "until", "do", "done", "for", "in",
            "{", "}", "!"}


# --- AST ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Redirect:
    fd: int
    op: str  # ">", ">>", "<", ">&", "<&"
    target: Word


@dataclass(frozen=True)
class Simple:
    assigns: tuple[tuple[str, Word], ...]
    words: tuple[Word, ...]
    redirects: tuple[Redirect, ...] = ()


@dataclass(frozen=True)
class If:
    clauses: tuple[tuple["Sequence", "Sequence"], ...]
    otherwise: "Sequence | None"
    redirects: tuple[Redirect, ...] = ()


@dataclass(frozen=True)
class Loop:
    cond: "Sequence"
    body: "Sequence"
    until: bool = False
    redirects: tuple[Redirect, ...] = ()


@dataclass(frozen=True)
class For:
    var: str
    items: tuple[Word, ...] | None  # None: "$@"
    body: "Sequence"
    redirects: tuple[Redirect, ...] = ()


@dataclass(frozen=True)
class Group:
    body: "Sequence"
    subshell: bool
    redirects: tuple[Redirect, ...] = ()


Command = Union[Simple, If, Loop, For, Group]


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[Command, ...]
    negate: bool = False


@dataclass(frozen=True)
class AndOr:
    first: Pipeline
    rest: tuple[tuple[str, Pipeline], ...] = ()


@dataclass(frozen=True)
class Sequence:
    items: tuple[tuple[AndOr, bool], ...]  # (command list, run in background)


# --- parser ---------------------------------------------------------------------------

class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return tok

    def reserved(self) -> str | None:
        tok = self.peek()
        word = literal(tok.word) if tok.kind == "word" else None
        return word if word in RESERVED else None

    def unexpected(self, expecting: str | None = None) -> ParseError:
        tok = self.peek()
        if tok.kind == "eof":
            suffix = f' (expecting "{expecting}")' if expecting else ""
            return ParseError(f"syntax error: unexpected end of file{suffix}", incomplete=True)
        text = "newline" if tok.kind == "newline" else tok.text
        return ParseError(f'syntax error: unexpected "{text}"')

    def skip_newlines(self) -> None:
        while self.peek().kind == "newline":
            self.take()

    def expect_word(self, word: str) -> None:
        self.skip_newlines()
        if self.reserved() != word:
            raise self.unexpected(word)
        self.take()

    def sequence(self, stop: tuple[str, ...] = (), top: bool = False) -> Sequence:
        items: list[tuple[AndOr, bool]] = []
        while True:
            self.skip_newlines()
            tok = self.peek()
            closing = tok.kind == "op" and tok.text == ")"
            if tok.kind == "eof" or self.reserved() in stop or closing:
                break
            node = self.and_or()
            background = False
            tok = self.peek()
            if tok.kind == "op" and tok.text in (";", "&"):
                background = self.take().text == "&"
            elif tok.kind not in ("newline", "eof") and not (tok.kind == "op" and tok.text == ")") \
                    and self.reserved() not in stop:
                raise self.unexpected()
            items.append((node, background))
        if not items and not top:
            raise self.unexpected(stop[-1] if stop else None)
        return Sequence(tuple(items))

    def and_or(self) -> AndOr:
        first = self.pipeline()
        rest: list[tuple[str, Pipeline]] = []
        while self.peek().kind == "op" and self.peek().text in ("&&", "||"):
            op = self.take().text
            self.skip_newlines()
            rest.append((op, self.pipeline()))
        return AndOr(first, tuple(rest))

    def pipeline(self) -> Pipeline:
        negate = False
        if self.reserved() == "!":
            self.take()
            negate = True
        commands = [self.command()]
        while self.peek().kind == "op" and self.peek().text == "|":
            self.take()
            self.skip_newlines()
            commands.append(self.command())
        return Pipeline(tuple(commands), negate)

    def command(self) -> Command:
        word = self.reserved()
        tok = self.peek()
        if word == "if":
            self.take()
            clauses = []
            cond = self.sequence(("then",))
            self.expect_word("then")
            clauses.append((cond, self.sequence(("elif", "else", "fi"))))
            otherwise = None
            while self.reserved() in ("elif", "else"):
                if self.take().text == "elif":
                    cond = self.sequence(("then",))
                    self.expect_word("then")
                    clauses.append((cond, self.sequence(("elif", "else", "fi"))))
                else:
                    otherwise = self.sequence(("fi",))
            self.expect_word("fi")
            return If(tuple(clauses), otherwise, self.redirects())
        if word in ("while", "until"):
            self.take()
            cond = self.sequence(("do",))
            self.expect_word("do")
            body = self.sequence(("done",))
            self.expect_word("done")
            return Loop(cond, body, word == "until", self.redirects())
        if word == "for":
            return self.for_loop()
        if word == "{":
            self.take()
            body = self.sequence(("}",))
            self.expect_word("}")
            return Group(body, False, self.redirects())
        if tok.kind == "op" and tok.text == "(":
            self.take()
            body = self.sequence()
            if not (self.peek().kind == "op" and self.peek().text == ")"):
                raise self.unexpected(")")
            self.take()
            return Group(body, True, self.redirects())
        if word is not None and word != "in":
            raise self.unexpected()
        return self.simple()

    def for_loop(self) -> For:
        self.take()
        name = literal(self.peek().word) if self.peek().kind == "word" else None
        if not name or not name.isidentifier():
            raise self.unexpected()
        self.take()
        self.skip_newlines()
        items: tuple[Word, ...] | None = None
        if self.reserved() == "in":
            self.take()
            collected = []
            while self.peek().kind == "word":
                collected.append(self.take().word)
            items = tuple(collected)
        if self.peek().kind == "op" and self.peek().text == ";":
            self.take()
        self.expect_word("do")
        body = self.sequence(("done",))
        self.expect_word("done")
        return For(name, items, body, self.redirects())

    def redirects(self) -> tuple[Redirect, ...]:
        found = []
        while self.peek().kind == "redir":
            found.append(self.redirect())
        return tuple(found)

    def redirect(self) -> Redirect:
        tok = self.take()
        target = self.peek()
        if target.kind != "word":
            raise self.unexpected()
        self.take()
        op = tok.text
        if op == "&>":
            return Redirect(-1, ">", target.word)  # both stdout and stderr
        fd = tok.fd if tok.fd is not None else (0 if op in ("<", "<&") else 1)
        return Redirect(fd, op, target.word)

    def simple(self) -> Simple:
        assigns: list[tuple[str, Word]] = []
        words: list[Word] = []
        redirects: list[Redirect] = []
        while True:
            tok = self.peek()
            if tok.kind == "redir":
                redirects.append(self.redirect())
            elif tok.kind == "word":
                if not words and (assign := _assignment(tok.word)) is not None:
                    assigns.append(assign)
                else:
                    words.append(tok.word)
                self.take()
            else:
                break
        if not (assigns or words or redirects):
            raise self.unexpected()
        return Simple(tuple(assigns), tuple(words), tuple(redirects))


def _assignment(word: Word) -> tuple[str, Word] | None:
    """NAME=value as a prefix assignment, when NAME is unquoted and valid."""
    if not word or not isinstance(word[0], Lit) or word[0].quoted:
        return None
    name, eq, rest = word[0].text.partition("=")
    if not eq or not name.isidentifier() or not name.isascii():
        return None
    value: Word = ((Lit(rest),) if rest else ()) + word[1:]
    return name, value


def parse(script: str) -> Sequence:
    """The script as a sequence of command lists; raises ParseError."""
    parser = _Parser(tokenize(script))
    seq = parser.sequence(top=True)
    if parser.peek().kind != "eof":
        raise parser.unexpected()
    return seq
