"""Text and file commands: escapes, echo and printf formatting, ls -l lines, wc columns,
grep patterns as pure functions, then the commands' output and exit codes (busybox's
messages) through toolbox.run."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from node_agent.toolbox.files import (echo_text, grep_pattern, long_listing, printf_text,
                                      unescape, wc_line)
from node_agent.toolbox.fs import Node
from tests.unit.test_toolbox_shell import IDENTITY, run_tool

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize("text,octal_zero,result,stop", [
    ("a\\tb\\n", True, "a\tb\n", False), ("\\x41\\0101", True, "AA", False),
    ("\\101", False, "A", False), ("\\101", True, "\\101", False), ("x\\cy", True, "x", True),
    ("\\q\\\\", True, "\\q\\", False), ("\\e[0m", True, "\x1b[0m", False),
], ids=["tab-newline", "hex-octal0", "printf-octal", "echo-needs-zero", "stop", "unknown",
        "escape"])
def test_unescape(text: str, octal_zero: bool, result: str, stop: bool) -> None:
    assert unescape(text, octal_zero) == (result, stop)


@pytest.mark.parametrize("args,text", [
    (["a", "b"], "a b\n"), (["-n", "a"], "a"), (["-e", "a\\tb"], "a\tb\n"),
    (["a\\tb"], "a\\tb\n"), (["-ne", "x\\n"], "x\n"), (["-e", "a\\cb"], "a"),
    (["-x", "a"], "-x a\n"), ([], "\n"),
], ids=["plain", "n", "e", "no-e", "ne", "stop", "not-an-option", "empty"])
def test_echo_text(args: list[str], text: str) -> None:
    assert echo_text(args) == text


@pytest.mark.parametrize("fmt,args,text,errors", [
    ("%s-%s\\n", ["a", "b", "c"], "a-b\nc-\n", []),
    ("%5s|%-3d|%x|%o\\n", ["ab", "7", "255", "8"], "   ab|7  |ff|10\n", []),
    ("%d", ["x"], "0", ["invalid number 'x'"]),
    ("%d %i", ["'A", "0x10"], "65 16", []),
    ("%.2f %c %%", ["3.14159", "hello"], "3.14 h %", []),
    ("%b", ["a\\tb"], "a\tb", []),
    ("%*d|", ["4", "7"], "   7|", []),
    ("plain\\101", [], "plainA", []),
    ("%s\\n", [], "\n", []),
], ids=["reuse", "widths", "bad-number", "char-and-hex", "float-char", "b", "star",
        "octal", "no-args"])
def test_printf_text(fmt: str, args: list[str], text: str, errors: list[str]) -> None:
    assert printf_text(fmt, args) == (text, errors)


NOW = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("name,node,line", [
    ("hosts", Node(b"x" * 226, NOW),
     "-rw-r--r--    1 root     root           226 Nov 22 08:00 hosts"),
    ("etc", Node(None, NOW), "drwxr-xr-x    2 root     root          4096 Nov 22 08:00 etc"),
    ("old", Node(b"", datetime(2025, 5, 2, tzinfo=timezone.utc)),
     "-rw-r--r--    1 root     root             0 May  2  2025 old"),
], ids=["file", "dir", "old-file"])
def test_long_listing(name: str, node: Node, line: str) -> None:
    assert long_listing(name, node, NOW) == line


@pytest.mark.parametrize("counts,name,line", [
    ([1], None, "1"), ([1, 2, 9], None, "        1         2         9"),
    ([2], "/tmp/x", "        2 /tmp/x"),
], ids=["lone", "all-stdin", "file"])
def test_wc_line(counts: list[int], name: str | None, line: str) -> None:
    assert wc_line(counts, name) == line


@pytest.mark.parametrize("pattern,flags,line,hit", [
    ("a.c", {}, "abc", True), ("a+", {}, "a+", True), ("a+", {}, "aa", False),
    ("a\\+", {}, "aa", True), ("a+", {"extended": True}, "aa", True),
    ("(x)", {}, "(x)", True), ("a.c", {"fixed": True}, "abc", False),
    ("ABC", {"ignore_case": True}, "xabcx", True), ("ab", {"word": True}, "xab", False),
    ("ab", {"word": True}, "x ab y", True), ("ab", {"whole_line": True}, "abc", False),
], ids=["dot", "bre-plus-literal", "bre-plus-not-op", "bre-escaped-plus", "ere-plus",
        "bre-parens", "fixed", "icase", "word-miss", "word-hit", "line"])
def test_grep_pattern(pattern: str, flags: dict[str, bool], line: str, hit: bool) -> None:
    options = {"extended": False, "fixed": False, "ignore_case": False, "word": False,
               "whole_line": False, **flags}
    compiled = grep_pattern(pattern, **options)
    assert bool(compiled.search(line)) is hit
    assert isinstance(compiled, re.Pattern)


RESOLV = "search default.svc.cluster.local svc.cluster.local cluster.local\n" \
         "nameserver 127.77.0.53\noptions ndots:5\n"

# (argv, stdin, exit code, stdout, stderr)
COMMANDS = [
    (["cat", "/etc/resolv.conf"], None, 0, RESOLV, ""),
    (["cat", "/etc/hosts"], None, 0, IDENTITY.etc_hosts(), ""),
    (["cat", "/etc/hostname"], None, 0, "testpod\n", ""),
    (["cat"], b"piped", 0, "piped", ""),
    (["cat", "-", "/etc/hostname"], b"in:", 0, "in:testpod\n", ""),
    (["cat", "/nope"], None, 1, "", "cat: can't open '/nope': No such file or directory\n"),
    (["cat", "/etc"], None, 1, "", "cat: read error: Is a directory\n"),
    (["echo", "-n", "x"], None, 0, "x", ""),
    (["printf", "%s=%d\\n", "a", "1"], None, 0, "a=1\n", ""),
    (["printf"], None, 1, "", "printf: usage: printf FORMAT [ARG]...\n"),
    (["ls"], None, 0, "bin\ndev\netc\nhome\nproc\nroot\nsys\ntmp\nusr\nvar\n", ""),
    (["ls", "/etc"], None, 0, "group\nhostname\nhosts\npasswd\nresolv.conf\n", ""),
    (["ls", "-d", "/etc/hosts"], None, 0, "/etc/hosts\n", ""),
    (["ls", "/nope"], None, 1, "", "ls: /nope: No such file or directory\n"),
    (["ls", "-z"], None, 1, "", "ls: invalid option -- 'z'\n"),
    (["head", "-n", "1", "/etc/resolv.conf"], None, 0, RESOLV.splitlines(True)[0], ""),
    (["head", "-2"], b"a\nb\nc\n", 0, "a\nb\n", ""),
    (["head", "-c", "3"], b"abcdef", 0, "abc", ""),
    (["tail", "-n", "1", "/etc/resolv.conf"], None, 0, "options ndots:5\n", ""),
    (["tail", "-n", "+2"], b"a\nb\nc\n", 0, "b\nc\n", ""),
    (["tail", "-5"], b"a\nb\n", 0, "a\nb\n", ""),
    (["head", "/nope"], None, 1, "", "head: can't open '/nope': No such file or directory\n"),
    (["grep", "nameserver", "/etc/resolv.conf"], None, 0, "nameserver 127.77.0.53\n", ""),
    (["grep", "-c", "svc", "/etc/resolv.conf"], None, 0, "1\n", ""),
    (["grep", "-n", "b"], b"a\nb\n", 0, "2:b\n", ""),
    (["grep", "-q", "a"], b"a\n", 0, "", ""),
    (["grep", "-o", "[0-9]*"], b"x12y3\n", 0, "12\n3\n", ""),
    (["grep", "-e", "a", "-e", "c"], b"a\nb\nc\n", 0, "a\nc\n", ""),
    (["grep", "-l", "ndots", "/etc/resolv.conf", "/etc/hosts"], None, 0, "/etc/resolv.conf\n", ""),
    (["grep", "zzz", "/etc/hostname", "/etc/hosts"], None, 1, "", ""),
    (["grep", "x", "/nope"], None, 2, "", "grep: /nope: No such file or directory\n"),
    (["grep"], None, 2, "", "grep: usage: grep [-ivcqnEFwxolHhs] PATTERN [FILE]...\n"),
    (["wc"], b"hi there\n", 0, "        1         2         9\n", ""),
    (["wc", "-l", "/etc/resolv.conf", "/etc/hostname"], None, 0,
     "        3 /etc/resolv.conf\n        1 /etc/hostname\n        4 total\n", ""),
    (["tee", "/tmp/t"], b"both", 0, "both", ""),
    (["sh", "-c", "echo a | tee /tmp/t >/dev/null; cat /tmp/t"], None, 0, "a\n", ""),
    (["sh", "-c", "touch /tmp/a; mkdir /tmp/d; ls /tmp; rm /tmp/a; ls /tmp"], None, 0,
     "a\nd\nd\n", ""),
    (["rm", "/nope"], None, 1, "", "rm: can't remove '/nope': No such file or directory\n"),
    (["rm", "-f", "/nope"], None, 0, "", ""),
    (["mkdir", "/etc"], None, 1, "", "mkdir: can't create directory '/etc': File exists\n"),
    (["seq", "3"], None, 0, "1\n2\n3\n", ""),
    (["seq", "-s", ",", "-w", "8", "10"], None, 0, "08,09,10\n", ""),
    (["seq", "1", "0.5", "2"], None, 0, "1.0\n1.5\n2.0\n", ""),
    (["seq", "5", "1"], None, 0, "", ""),
    (["seq", "x"], None, 1, "", "seq: invalid number 'x'\n"),
    (["seq"], None, 1, "", "seq: usage: seq [-w] [-s SEP] [FIRST [INC]] LAST\n"),
]


@pytest.mark.parametrize("argv,stdin,code,stdout,stderr", COMMANDS,
                         ids=[" ".join(c[0]) for c in COMMANDS])
async def test_commands(argv: list[str], stdin: bytes | None, code: int, stdout: str,
                        stderr: str) -> None:
    assert await run_tool(argv, stdin=stdin) == (code, stdout, stderr)
