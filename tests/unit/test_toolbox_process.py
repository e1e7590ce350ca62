"""What every toolbox command shares: getopt-style parsing, durations, the exec
environment, the bounded pipe between pipeline stages, the per-exec filesystem and the
tty line editor."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from node_agent.containers import Identity, Resolver
from node_agent.toolbox.fs import FileSystem, FsError
from node_agent.toolbox.lines import LineEditor
from node_agent.toolbox.process import OptError, Pipe, PipeClosed, base_env, getopt, \
    parse_seconds

LONGS = {"max-time": ("m", True), "silent": ("s", False)}

# (argv, opts, args)
GETOPT = [
    (["-s", "url"], [("s", None)], ["url"]),
    (["-sSL", "url"], [("s", None), ("S", None), ("L", None)], ["url"]),
    (["-qO-", "url"], [("q", None), ("O", "-")], ["url"]),
    (["-O", "-", "url"], [("O", "-")], ["url"]),
    (["-w1", "host"], [("w", "1")], ["host"]),
    (["url", "-s"], [("s", None)], ["url"]),
    (["--max-time", "5", "--silent"], [("m", "5"), ("s", None)], []),
    (["--max-time=5"], [("m", "5")], []),
    (["--", "-s"], [], ["-s"]),
    (["-"], [], ["-"]),
]


@pytest.mark.parametrize("argv,opts,args", GETOPT, ids=[" ".join(g[0]) for g in GETOPT])
def test_getopt(argv: list[str], opts: list[tuple[str, str | None]], args: list[str]) -> None:
    parsed = getopt(argv, "sSLqO:w:", LONGS)
    assert (parsed.opts, parsed.args) == (opts, args)


def test_getopt_without_permutation_stops_at_the_first_operand() -> None:
    parsed = getopt(["-s", "cmd", "-x"], "s", permute=False)
    assert (parsed.opts, parsed.args) == ([("s", None)], ["cmd", "-x"])


@pytest.mark.parametrize("argv,kind,option", [
    (["-x"], "unknown", "-x"), (["-sx"], "unknown", "-x"), (["-O"], "missing", "-O"),
    (["--nope"], "unknown", "--nope"), (["--max-time"], "missing", "--max-time"),
], ids=["unknown", "bundled-unknown", "missing-value", "unknown-long", "missing-long"])
def test_getopt_errors(argv: list[str], kind: str, option: str) -> None:
    with pytest.raises(OptError) as caught:
        getopt(argv, "sO:", LONGS)
    assert (caught.value.kind, caught.value.option) == (kind, option)


def test_parsed_accessors() -> None:
    parsed = getopt(["-v", "-v", "-H", "a", "-H", "b"], "vH:")
    assert (parsed.count("v"), parsed.all("H"), parsed.last("H"), parsed.last("x", "d"),
            parsed.has("H"), parsed.has("x")) == (2, ["a", "b"], "b", "d", True, False)


@pytest.mark.parametrize("text,seconds", [
    ("3", 3.0), ("1.5", 1.5), ("10s", 10.0), ("2m", 120.0), ("1h", 3600.0), ("1d", 86400.0),
    ("infinity", float("inf")), ("x", None), ("-1", None), ("", None), ("nan", None),
], ids=["int", "float", "s", "m", "h", "d", "inf", "junk", "negative", "empty", "nan"])
def test_parse_seconds(text: str, seconds: float | None) -> None:
    assert parse_seconds(text) == seconds


IDENTITY = Identity("127.77.0.5", "p", "ns", "p-host", Resolver("127.77.0.53", ("ns.svc",)),
                    env={"HOSTNAME": "p", "A": "1"})


@pytest.mark.parametrize("tty,env", [
    (False, {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "HOSTNAME": "p", "A": "1", "HOME": "/root"}),
    (True, {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME": "p", "TERM": "xterm", "A": "1", "HOME": "/root"}),
], ids=["plain", "tty"])
def test_base_env(tty: bool, env: dict[str, str]) -> None:
    assert list(base_env(IDENTITY, tty).items()) == list(env.items())


@pytest.mark.timeout(5)
async def test_pipe_holds_writers_back_and_fails_them_once_the_reader_is_gone() -> None:
    pipe = Pipe(limit=4)
    await pipe.write(b"0123456789")  # beyond twice the limit: the next write waits
    blocked = asyncio.ensure_future(pipe.write(b"more"))
    await asyncio.sleep(0.01)
    assert not blocked.done()
    assert await pipe.reader.read(10) == b"0123456789"
    await asyncio.wait_for(blocked, 1)
    pipe.finish()
    assert await pipe.reader.read() == b"more"
    pipe.close_reader()
    with pytest.raises(PipeClosed):
        await pipe.write(b"x")


NOW = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)


def make_fs() -> FileSystem:
    return FileSystem(IDENTITY, NOW, ["sh", "curl"])


@pytest.mark.parametrize("path,content", [
    ("/etc/resolv.conf", "search ns.svc\nnameserver 127.77.0.53\noptions ndots:5\n"),
    ("/etc/hostname", "p-host\n"), ("/dev/null", ""), ("etc/../etc/hostname", "p-host\n"),
], ids=["resolv", "hostname", "null", "relative"])
def test_fs_generated_files(path: str, content: str) -> None:
    assert make_fs().read(path).decode() == content


def test_fs_hosts_file_is_the_identity_one() -> None:
    assert make_fs().read("/etc/hosts").decode() == IDENTITY.etc_hosts()


@pytest.mark.parametrize("action,strerror", [
    (lambda fs: fs.read("/nope"), "No such file or directory"),
    (lambda fs: fs.read("/etc"), "Is a directory"),
    (lambda fs: fs.read("/etc/hosts/x"), "Not a directory"),
    (lambda fs: fs.write("/nodir/f", b"", NOW), "No such file or directory"),
    (lambda fs: fs.write("/tmp", b"", NOW), "Is a directory"),
    (lambda fs: fs.mkdir("/etc", NOW), "File exists"),
    (lambda fs: fs.remove("/etc"), "Directory not empty"),
    (lambda fs: fs.write("/tmp/big", b"x" * (32 * 1024 * 1024 + 1), NOW),
     "No space left on device"),
], ids=["missing", "dir-read", "not-dir", "no-parent", "write-dir", "mkdir-exists",
        "rm-nonempty", "full"])
def test_fs_errors(action: object, strerror: str) -> None:
    with pytest.raises(FsError) as caught:
        action(make_fs())  # type: ignore[operator]
    assert caught.value.strerror == strerror


def test_fs_write_append_list_remove() -> None:
    fs = make_fs()
    fs.write("f", b"a", NOW, cwd="/tmp")
    fs.write("/tmp/f", b"b", NOW, append=True)
    fs.write("/dev/null", b"gone", NOW)
    fs.mkdir("/tmp/d", NOW)
    assert (fs.read("/tmp/f"), fs.listdir("/tmp"), fs.listdir("/bin"), fs.read("/dev/null")) \
        == (b"ab", ["d", "f"], ["curl", "sh"], b"")
    fs.remove("/tmp/f")
    assert (fs.exists("/tmp/f"), fs.is_dir("/tmp/d")) == (False, True)


# (keystrokes, lines, pending text, eof)
EDITS = [
    ("ls\r", ["ls"], "", False),
    ("ls\r\n", ["ls"], "", False),
    ("a\nb\n", ["a", "b"], "", False),
    ("ab\x7fc\r", ["ac"], "", False),
    ("ab\x15cd\r", ["cd"], "", False),
    ("ab\x03", ["\x03"], "", False),
    ("par", [], "par", False),
    ("\x04", [], "", True),
    ("a\x04\r", ["a"], "", False),
    ("a\r\x04ignored\r", ["a"], "", True),
]


@pytest.mark.parametrize("keys,lines,pending,eof", EDITS, ids=[repr(e[0]) for e in EDITS])
def test_line_editor(keys: str, lines: list[str], pending: str, eof: bool) -> None:
    editor = LineEditor()
    assert (editor.feed(keys), editor.current, editor.eof) == (lines, pending, eof)


def test_line_editor_keeps_a_crlf_split_across_reads() -> None:
    editor = LineEditor()
    assert (editor.feed("a\r"), editor.feed("\nb\r")) == (["a"], ["b"])
