"""The toolbox shell end to end without the network: `sh -c SCRIPT` tables (quoting,
expansion, pipelines, control flow, redirections, builtins, errors), stdin scripts, the
interactive prompt on a tty, direct exec of unknown commands, and cancellation."""

from __future__ import annotations

import asyncio

import pytest

from node_agent import toolbox
from node_agent.containers import Identity, Resolver, Streams

pytestmark = pytest.mark.timeout(10)

IDENTITY = Identity(
    pod_ip="127.77.0.5", pod_name="testpod", namespace="default", hostname="testpod",
    resolver=Resolver("127.77.0.53", ("default.svc.cluster.local", "svc.cluster.local",
                                      "cluster.local")),
    env={"HOSTNAME": "testpod", "GREETING": "hello world", "EMPTY": ""},
    hosts=(("10.1.2.3", "db.local\tdb"),))


async def run_tool(argv: list[str], stdin: bytes | None = None, tty: bool = False,
                   identity: Identity = IDENTITY) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one toolbox process; ``stdin`` ends with EOF."""
    out, err = bytearray(), bytearray()

    async def write_out(data: bytes) -> None:
        out.extend(data)

    async def write_err(data: bytes) -> None:
        err.extend(data)
    reader = None
    if stdin is not None:
        reader = asyncio.StreamReader()
        reader.feed_data(stdin)
        reader.feed_eof()
    code = await toolbox.run(argv, identity, Streams(write_out, write_err, reader, tty))
    return code, out.decode(errors="replace"), err.decode(errors="replace")


# (script, exit code, stdout, stderr)
SCRIPTS = [
    ("echo hi", 0, "hi\n", ""),
    ("echo 'a  b' \"c  d\" e\\ f", 0, "a  b c  d e f\n", ""),
    ("echo $GREETING", 0, "hello world\n", ""),
    ('printf "%s|" $GREETING', 0, "hello|world|", ""),
    ('printf "%s|" "$GREETING"', 0, "hello world|", ""),
    ("echo ${GREETING}!", 0, "hello world!\n", ""),
    ("echo ${MISSING:-fallback} ${EMPTY:-e} ${EMPTY-unset}", 0, "fallback e\n", ""),
    ("echo ${#GREETING}", 0, "11\n", ""),
    ("echo ${X:=set}; echo $X", 0, "set\nset\n", ""),
    ("x=1; y=$((x + 2 * 3)); echo $y", 0, "7\n", ""),
    ("echo $HOSTNAME $HOME $PWD", 0, "testpod /root /\n", ""),
    ("echo ~ ~/x '~'", 0, "/root /root/x ~\n", ""),
    ("echo $(echo inner) `echo back`", 0, "inner back\n", ""),
    ('echo "$(printf "a\\nb\\n\\n")"', 0, "a\nb\n", ""),
    ("true; echo $?; false; echo $?", 0, "0\n1\n", ""),
    ("false && echo no || echo yes", 0, "yes\n", ""),
    ("true || echo no; true && echo yes", 0, "yes\n", ""),
    ("! false; echo $?", 0, "0\n", ""),
    ("echo a; exit 3; echo b", 3, "a\n", ""),
    ("exit 256", 0, "", ""),
    ("exit nope", 2, "", "sh: exit: Illegal number: nope\n"),
    ("echo one | cat", 0, "one\n", ""),
    ("printf 'b\\na\\nc\\n' | grep -v a | wc -l", 0, "2\n", ""),
    ("echo x | false", 1, "", ""),
    ("false | true", 0, "", ""),
    ("while true; do echo y; done | head -n 2", 0, "y\ny\n", ""),
    ("for i in 1 2 3; do echo $i; done", 0, "1\n2\n3\n", ""),
    ("for w in $GREETING; do echo [$w]; done", 0, "[hello]\n[world]\n", ""),
    ("i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; echo $i", 0, "3\n", ""),
    ("i=0; until [ $i -ge 2 ]; do i=$((i+1)); echo $i; done", 0, "1\n2\n", ""),
    ("for i in 1 2 3 4; do [ $i = 2 ] && continue; [ $i = 4 ] && break; echo $i; done",
     0, "1\n3\n", ""),
    ("if [ -f /etc/hosts ]; then echo file; fi", 0, "file\n", ""),
    ("if false; then echo a; elif true; then echo b; else echo c; fi", 0, "b\n", ""),
    ("if false; then echo a; else echo c; fi", 0, "c\n", ""),
    ("if false; then echo a; fi", 0, "", ""),
    ("{ echo a; echo b; } | wc -l", 0, "2\n", ""),
    ("x=out; (x=in; echo $x); echo $x", 0, "in\nout\n", ""),
    ("(exit 4); echo $?", 0, "4\n", ""),
    ("echo hi > /tmp/f; echo more >> /tmp/f; cat /tmp/f", 0, "hi\nmore\n", ""),
    ("wc -l < /etc/resolv.conf", 0, "3\n", ""),
    ("cat /nope 2>/dev/null || echo failed", 0, "failed\n", ""),
    ("cat /nope 2>&1 | wc -l", 0, "1\n", ""),
    ("echo err >&2", 0, "", "err\n"),
    ("echo x > /nodir/f", 1, "", "sh: can't create /nodir/f: nonexistent directory\n"),
    ("cat < /nope", 1, "", "sh: can't open '/nope': No such file or directory\n"),
    ("nosuchcmd arg", 127, "", "sh: nosuchcmd: not found\n"),
    ("/usr/bin/env | grep -c GREETING", 0, "1\n", ""),
    ("FOO=bar env | grep FOO; echo ${FOO:-unset}", 0, "FOO=bar\nunset\n", ""),
    ("export FOO=1; env | grep FOO", 0, "FOO=1\n", ""),
    ("X=2; env | grep -c ^X=", 1, "0\n", ""),
    ("unset GREETING; echo ${GREETING:-gone}", 0, "gone\n", ""),
    ("cd /etc && pwd && ls | head -n 1; cd /nope", 2, "/etc\ngroup\n",
     "sh: cd: can't cd to /nope: No such file or directory\n"),
    ("set -e; echo a; false; echo b", 1, "a\n", ""),
    ("set -e; if false; then :; fi; false || true; echo ok", 0, "ok\n", ""),
    ("set -- a b c; echo $# $2; shift; echo $1", 0, "3 b\nb\n", ""),
    ("printf 'x y\\n' | { read a b; echo \"$b-$a\"; }", 0, "y-x\n", ""),
    ("eval 'echo evaluated'", 0, "evaluated\n", ""),
    ("command -v curl cd; command -v nope", 127, "/bin/curl\ncd\n", ""),
    ("which sh nc", 0, "/bin/sh\n/bin/nc\n", ""),
    ("trap 'exit 0' TERM; echo trapped", 0, "trapped\n", ""),
    ("sleep 0.01 & wait; echo waited", 0, "waited\n", ""),
    ("exec echo replaced; echo not", 0, "replaced\n", ""),
    ("echo # a comment\necho second", 0, "\nsecond\n", ""),
    ("echo a \\\n  b", 0, "a b\n", ""),
    ("busybox echo via-busybox", 0, "via-busybox\n", ""),
    ("sh -c 'exit 5'; echo $?", 0, "5\n", ""),
    ("echo $((1/0))", 1, "", "sh: divide by zero\n"),
    ("echo ${UNSET?is required}", 1, "", "sh: UNSET: is required\n"),
    ("echo 'open", 2, "", "sh: syntax error: unterminated quoted string\n"),
    ("if true; then", 2, "", 'sh: syntax error: unexpected end of file (expecting "fi")\n'),
    ("echo a; fi", 2, "", 'sh: syntax error: unexpected "fi"\n'),
    ("echo a &&", 2, "", "sh: syntax error: unexpected end of file\n"),
    ("| echo", 2, "", 'sh: syntax error: unexpected "|"\n'),
]


@pytest.mark.parametrize("script,code,stdout,stderr", SCRIPTS,
                         ids=[s[0][:40] for s in SCRIPTS])
async def test_scripts(script: str, code: int, stdout: str, stderr: str) -> None:
    assert await run_tool(["sh", "-c", script]) == (code, stdout, stderr)


# (argv, exit code, stdout, stderr)
INVOCATIONS = [
    (["sh", "-c", "echo $0 $1 $#", "name", "arg"], 0, "name arg 1\n", ""),
    (["/bin/sh", "-c", "echo abs"], 0, "abs\n", ""),
    (["bash", "-c", "echo $0"], 0, "bash\n", ""),
    (["sh", "-ec", "false; echo no"], 1, "", ""),
    (["sh", "-x", "-c", "echo traced"], 0, "traced\n", "+ echo traced\n"),
    (["sh", "-c"], 2, "", "sh: -c requires an argument\n"),
    (["sh"], 0, "", ""),
    (["sh", "/missing.sh"], 2, "", "sh: can't open '/missing.sh': No such file or directory\n"),
    (["nosuch"], 127, "",
     'OCI runtime exec failed: exec failed: unable to start container process: '
     'exec: "nosuch": executable file not found in $PATH: unknown\n'),
    (["/opt/app/run"], 127, "",
     'OCI runtime exec failed: exec failed: unable to start container process: '
     'exec: "/opt/app/run": stat /opt/app/run: no such file or directory: unknown\n'),
    ([], 127, "", 'OCI runtime exec failed: exec failed: unable to start container process: '
                  'exec: "": executable file not found in $PATH: unknown\n'),
    (["busybox", "nope"], 127, "", "busybox: nope: applet not found\n"),
]


@pytest.mark.parametrize("argv,code,stdout,stderr", INVOCATIONS,
                         ids=[" ".join(a[0]) or "empty" for a in INVOCATIONS])
async def test_invocations(argv: list[str], code: int, stdout: str, stderr: str) -> None:
    assert await run_tool(argv) == (code, stdout, stderr)


async def test_script_from_stdin_runs_line_by_line() -> None:
    assert await run_tool(["sh"], stdin=b"echo a\nif true; then\n echo b\nfi\nexit 7\necho c\n") \
        == (7, "a\nb\n", "")


async def test_stdin_ending_inside_a_compound_command_is_an_error() -> None:
    assert await run_tool(["sh"], stdin=b"while true; do\n") \
        == (2, "", "sh: syntax error: unexpected end of file\n")


async def test_interactive_prompt_on_a_tty() -> None:
    keys = b"echo hi\rif true; then\r echo in\rfi\rech\x7fho fixed\rexit 4\r"
    assert await run_tool(["sh"], stdin=keys, tty=True) \
        == (4, "/ # hi\n/ # > > in\n/ # fixed\n/ # ", "")


async def test_interactive_ctrl_d_ends_the_shell() -> None:
    assert await run_tool(["sh"], stdin=b"false\r\x04", tty=True) == (1, "/ # / # ", "")


async def test_tty_sets_term() -> None:
    code, out, _ = await run_tool(["printenv", "TERM"], tty=True)
    assert (code, out) == (0, "xterm\n")


@pytest.mark.parametrize("argv", [["sleep", "infinity"], ["sh", "-c", "while true; do :; done"],
                                  ["sh", "-c", "sleep 100 | cat"]],
                         ids=["sleep", "busy-loop", "pipeline"])
async def test_commands_end_promptly_when_cancelled(argv: list[str]) -> None:
    task = asyncio.ensure_future(run_tool(argv))
    await asyncio.sleep(0.05)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1)


async def test_a_crashing_command_becomes_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(argv: list[str], proc: object) -> int:
        raise RuntimeError("boom")
    monkeypatch.setitem(toolbox.COMMANDS, "broken", broken)
    assert await run_tool(["sh", "-c", "broken; echo after"]) == (0, "after\n", "broken: boom\n")
    assert await run_tool(["broken"]) == (1, "", "broken: boom\n")


async def test_processes_sharing_a_filesystem_see_each_others_files() -> None:
    """The liveness-probe example: the main process touches a file the probe cats."""
    shared = toolbox.filesystem(IDENTITY)

    async def run_in(argv: list[str]) -> int:
        return await toolbox.run(argv, IDENTITY, Streams(_ignore, _ignore), fs=shared)
    assert await run_in(["cat", "/tmp/healthy"]) == 1
    assert await run_in(["sh", "-c", "touch /tmp/healthy"]) == 0
    assert await run_in(["cat", "/tmp/healthy"]) == 0
    assert await run_tool(["cat", "/tmp/healthy"]) == \
        (1, "", "cat: can't open '/tmp/healthy': No such file or directory\n")


async def _ignore(data: bytes) -> None:
    del data


class Terminal:
    """A shell session on a tty, fed keystrokes while it runs."""

    def __init__(self) -> None:
        self.screen = bytearray()
        self.keys = asyncio.StreamReader()
        streams = Streams(self._show, self._show, self.keys, tty=True)
        self.session = asyncio.ensure_future(toolbox.run(["sh"], IDENTITY, streams))

    async def _show(self, data: bytes) -> None:
        self.screen.extend(data)

    async def type_after(self, shown: str, keys: bytes) -> None:
        """Types ``keys`` once the screen ends with ``shown``."""
        async with asyncio.timeout(2):
            while not self.screen.decode().endswith(shown):
                await asyncio.sleep(0.001)
        self.keys.feed_data(keys)


async def test_ctrl_c_interrupts_the_foreground_command() -> None:
    tty = Terminal()
    await tty.type_after("/ # ", b"echo started; sleep 100; echo never\r")
    await tty.type_after("started\n", b"\x03echo $?\r")
    await tty.type_after("130\n/ # ", b"exit 3\r")
    assert await asyncio.wait_for(tty.session, 2) == 3
    assert tty.screen.decode() == "/ # started\n\n/ # 130\n/ # "


async def test_keys_go_to_the_running_command_and_ctrl_d_ends_its_input() -> None:
    tty = Terminal()
    await tty.type_after("/ # ", b"echo go; cat; echo done\r")
    await tty.type_after("go\n", b"hello\r\x04")
    await tty.type_after("done\n/ # ", b"\x03")
    await tty.type_after("\n/ # ", b"exit\r")
    assert await asyncio.wait_for(tty.session, 2) == 0
    assert tty.screen.decode() == "/ # go\nhello\ndone\n/ # \n/ # "


async def test_keys_a_command_did_not_read_come_back_to_the_shell() -> None:
    tty = Terminal()
    await tty.type_after("/ # ", b"echo go; sleep 0.1\r")
    await tty.type_after("go\n", b"echo typed ahead\r")
    await tty.type_after("typed ahead\n/ # ", b"\x04")
    assert await asyncio.wait_for(tty.session, 2) == 0
