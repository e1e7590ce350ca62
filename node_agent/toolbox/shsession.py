"""The `sh` command (also ash, bash, zsh, dash): `sh -c SCRIPT [NAME [ARGS...]]`, `sh FILE`,
or commands read from stdin as they arrive. On a tty it is a terminal session: a prompt,
keystrokes line-edited (lines.py), and while a command line runs the shell keeps the
keyboard: keys go to the command's stdin (Enter as a newline, ^D as end of input) and ^C
interrupts it, as a terminal's line discipline and SIGINT would."""

from __future__ import annotations

import asyncio
import posixpath
from dataclasses import replace

from node_agent.containers import Streams
from node_agent.toolbox import shparse
from node_agent.toolbox.fs import FsError
from node_agent.toolbox.lines import INTERRUPT, LineEditor
from node_agent.toolbox.process import Pipe, Proc
from node_agent.toolbox.shell import Shell, State
from node_agent.toolbox.shlexer import ParseError

PROMPT = "/ # "
INTERRUPTED = 130  # 128 + SIGINT


async def sh(argv: list[str], proc: Proc) -> int:
    name = posixpath.basename(argv[0])
    args = argv[1:]
    script: str | None = None
    errexit = xtrace = False
    while args and args[0][:1] in "-+" and len(args[0]) > 1 and args[0] != "--":
        flags = args.pop(0)
        for flag in flags[1:]:
            if flag == "c":
                if not args:
                    return await proc.fail("-c requires an argument", 2)
                script = args.pop(0)
            elif flag == "e":
                errexit = True
            elif flag == "x":
                xtrace = True
            elif flag not in "ilsu":  # interactive/login/stdin/nounset: accepted
                return await proc.fail(f"-{flag}: invalid option", 2)
    if args and args[0] == "--":
        args.pop(0)
    env = dict(proc.env)
    state = State(vars={**env, "PWD": proc.cwd}, exported=set(env), cwd=proc.cwd, arg0=name,
                  errexit=errexit, xtrace=xtrace)
    shell = Shell(proc, state)
    try:
        if script is not None:
            if args:
                state.arg0, state.positional = args[0], args[1:]
            return await shell.isolated(shell.run_text(script, proc.streams))
        if args:  # sh FILE [ARGS]
            try:
                text = proc.fs.read(args[0], proc.cwd).decode(errors="replace")
            except FsError as e:
                return await proc.fail(f"can't open '{args[0]}': {e.strerror}", 2)
            state.arg0, state.positional = args[0], args[1:]
            return await shell.isolated(shell.run_text(text, proc.streams))
        if proc.streams.stdin is None:
            return 0
        return await shell.isolated(_read_eval(shell, proc.streams))
    finally:
        await shell.close()


class _Keyboard:
    """The tty's input side: complete lines for the shell, raw keys for a command."""

    def __init__(self, stdin: asyncio.StreamReader) -> None:
        self.stdin = stdin
        self.editor = LineEditor()
        self.ready: list[str] = []

    async def line(self) -> str | None:
        while not self.ready:
            if self.editor.eof:
                return None
            chunk = await self.stdin.read(4096)
            if not chunk:
                return None
            self.ready.extend(self.editor.feed(chunk.decode(errors="replace")))
        return self.ready.pop(0)

    def give_back(self, typed: bytes) -> None:
        """Keys a command did not read are the shell's again (typed ahead)."""
        self.ready.extend(self.editor.feed(typed.decode(errors="replace")))

    async def forward(self, pipe: Pipe) -> bytes | None:
        """Feeds keys to a command until ^C (returns what was typed after it) or the end
        of input (None)."""
        open_ = True
        while True:
            chunk = await self.stdin.read(4096)
            if not chunk:
                pipe.finish()
                return None
            before, interrupt, after = chunk.partition(b"\x03")
            keys = before.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            data, eof, _ = keys.partition(b"\x04")
            if open_:
                await pipe.write(data)
                if eof:
                    pipe.finish()
                    open_ = False
            if interrupt:
                return after


async def _read_eval(shell: Shell, io: Streams) -> int:
    """Commands from stdin, line by line as they arrive; a terminal session on a tty."""
    assert io.stdin is not None
    keyboard = _Keyboard(io.stdin) if io.tty else None
    pending = ""
    while True:
        if keyboard is not None:
            prompt = "> " if pending else shell.state.vars.get("PS1", PROMPT)
            await io.stdout(prompt.encode())
            line = await keyboard.line()
        else:
            raw = await io.stdin.readline()
            line = raw.decode(errors="replace").rstrip("\n") if raw else None
        if line is None:
            if pending:
                await io.stderr(f"{shell.state.arg0}: syntax error: unexpected end of file\n"
                                .encode())
                return 2
            return shell.state.status
        if line == INTERRUPT:
            pending = ""
            await io.stdout(b"\n")
            continue
        pending += line + "\n"
        try:
            tree = shparse.parse(pending)
        except ParseError as e:
            if e.incomplete:
                continue
            pending = ""
            await io.stderr(f"{shell.state.arg0}: {e}\n".encode())
            shell.state.status = 2
            continue
        pending = ""
        if keyboard is None:
            await shell.run_sequence(tree, io)
        else:
            await _foreground(shell, tree, io, keyboard)


async def _foreground(shell: Shell, tree: shparse.Sequence, io: Streams,
                      keyboard: _Keyboard) -> None:
    """Runs one command line of a terminal session; ^C cancels it with status 130."""
    pipe = Pipe()
    command = asyncio.ensure_future(shell.run_sequence(tree, replace(io, stdin=pipe.reader)))
    keys = asyncio.ensure_future(keyboard.forward(pipe))
    typed_after: bytes | None = None
    try:
        await asyncio.wait({command, keys}, return_when=asyncio.FIRST_COMPLETED)
        if keys.done() and not command.done():
            typed_after = keys.result()
            if typed_after is not None:
                command.cancel()
            await asyncio.wait({command})
    finally:
        for task in (command, keys):
            task.cancel()
        await asyncio.gather(command, keys, return_exceptions=True)
    pipe.finish()
    keyboard.give_back(await pipe.reader.read())
    if typed_after is not None:
        keyboard.give_back(typed_after)
        shell.state.status = INTERRUPTED
        await io.stdout(b"\n")
        return
    command.result()  # `exit` in the command line ends the session


COMMANDS = {"sh": sh, "ash": sh, "bash": sh, "zsh": sh, "dash": sh}
