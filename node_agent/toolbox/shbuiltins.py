"""The builtins the toolbox shell owns because they act on the shell itself (exit, cd,
export, read, set, break, wait, eval, exec, ...). Each takes the running Shell, its argv
and the streams of the command; every other name is a toolbox command."""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from node_agent.containers import Streams
from node_agent.toolbox import shparse
from node_agent.toolbox.fs import FsError
from node_agent.toolbox.process import invoke
from node_agent.toolbox.shlexer import Lit

if TYPE_CHECKING:
    from node_agent.toolbox.shell import Shell


class ExitShell(Exception):
    """`exit N` (or a fatal error): unwinds to the shell or subshell that ends."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class LoopControl(Exception):
    """`break N` / `continue N`: unwinds to the N-th enclosing loop."""

    def __init__(self, levels: int, is_break: bool) -> None:
        super().__init__(levels)
        self.levels = levels
        self.is_break = is_break


Builtin = Callable[["Shell", list[str], Streams], Awaitable[int]]


async def _say(io: Streams, text: str) -> None:
    await io.stdout(text.encode())


async def _complain(shell: "Shell", io: Streams, text: str, code: int = 1) -> int:
    await io.stderr(f"{shell.state.arg0}: {text}\n".encode())
    return code


def _number(text: str) -> int | None:
    return int(text) if text.lstrip("-").isdigit() else None


async def b_exit(shell: "Shell", argv: list[str], io: Streams) -> int:
    code = shell.state.status
    if len(argv) > 1:
        parsed = _number(argv[1])
        if parsed is None:
            await _complain(shell, io, f"exit: Illegal number: {argv[1]}")
            raise ExitShell(2)
        code = parsed & 255
    raise ExitShell(code)


async def b_cd(shell: "Shell", argv: list[str], io: Streams) -> int:
    target = argv[1] if len(argv) > 1 else shell.state.vars.get("HOME", "/")
    if target == "-":
        target = shell.state.vars.get("OLDPWD", shell.state.cwd)
    fs = shell.proc.fs
    if not fs.is_dir(target, shell.state.cwd):
        reason = "Not a directory" if fs.exists(target, shell.state.cwd) else \
            "No such file or directory"
        return await _complain(shell, io, f"cd: can't cd to {target}: {reason}", 2)
    shell.state.vars["OLDPWD"] = shell.state.cwd
    shell.state.cwd = fs.absolute(target, shell.state.cwd)
    shell.state.vars["PWD"] = shell.state.cwd
    return 0


async def b_pwd(shell: "Shell", argv: list[str], io: Streams) -> int:
    await _say(io, shell.state.cwd + "\n")
    return 0


async def b_export(shell: "Shell", argv: list[str], io: Streams) -> int:
    names = [a for a in argv[1:] if a != "-p"]
    if not names:
        for name in sorted(shell.state.exported):
            if name in shell.state.vars:
                await _say(io, f"export {name}={_quote(shell.state.vars[name])}\n")
        return 0
    for item in names:
        name, eq, value = item.partition("=")
        if eq:
            shell.state.vars[name] = value
        shell.state.exported.add(name)
    return 0


async def b_unset(shell: "Shell", argv: list[str], io: Streams) -> int:
    for name in argv[1:]:
        if not name.startswith("-"):
            shell.state.vars.pop(name, None)
            shell.state.exported.discard(name)
    return 0


async def b_set(shell: "Shell", argv: list[str], io: Streams) -> int:
    if len(argv) == 1:
        for name in sorted(shell.state.vars):
            await _say(io, f"{name}={_quote(shell.state.vars[name])}\n")
        return 0
    args = argv[1:]
    while args:
        arg = args.pop(0)
        if arg == "--":
            shell.state.positional = args
            return 0
        if arg in ("-o", "+o") and args:
            option = args.pop(0)
            arg = arg[0] + {"errexit": "e", "xtrace": "x"}.get(option, "")
        if arg[:1] in "-+" and len(arg) > 1:
            for flag in arg[1:]:
                if flag == "e":
                    shell.state.errexit = arg[0] == "-"
                elif flag == "x":
                    shell.state.xtrace = arg[0] == "-"
            continue
        shell.state.positional = [arg, *args]
        return 0
    return 0


async def b_shift(shell: "Shell", argv: list[str], io: Streams) -> int:
    n = _number(argv[1]) if len(argv) > 1 else 1
    if n is None or n < 0 or n > len(shell.state.positional):
        return await _complain(shell, io, f"shift: Illegal number: {argv[1]}"
                               if len(argv) > 1 else "shift: can't shift that many")
    shell.state.positional = shell.state.positional[n:]
    return 0


async def b_read(shell: "Shell", argv: list[str], io: Streams) -> int:
    args = argv[1:]
    raw = False
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt == "-r":
            raw = True
        elif opt == "-p" and args:
            await io.stderr(args.pop(0).encode())
    names = args or ["REPLY"]
    line = await io.stdin.readline() if io.stdin is not None else b""
    if not line:
        return 1
    text = line.decode(errors="replace").rstrip("\n")
    if not raw:
        text = text.replace("\\", "")
    fields = text.split(None, len(names) - 1) if names != ["REPLY"] else [text]
    for i, name in enumerate(names):
        shell.state.vars[name] = fields[i] if i < len(fields) else ""
    return 0


async def b_loop_control(shell: "Shell", argv: list[str], io: Streams) -> int:
    levels = _number(argv[1]) if len(argv) > 1 else 1
    raise LoopControl(max(levels or 1, 1), argv[0] == "break")


async def b_wait(shell: "Shell", argv: list[str], io: Streams) -> int:
    status = 0
    for task in list(shell.job_tasks):
        status = await asyncio.shield(task) if not task.done() else task.result()
    return status


async def b_eval(shell: "Shell", argv: list[str], io: Streams) -> int:
    return await shell.run_text(" ".join(argv[1:]), io)


async def b_source(shell: "Shell", argv: list[str], io: Streams) -> int:
    if len(argv) < 2:
        return 0
    try:
        script = shell.proc.fs.read(argv[1], shell.state.cwd).decode(errors="replace")
    except FsError as e:
        return await _complain(shell, io, f"{argv[0]}: can't open '{argv[1]}': {e.strerror}", 2)
    return await shell.run_text(script, io)


async def b_exec(shell: "Shell", argv: list[str], io: Streams) -> int:
    if len(argv) == 1:
        return 0
    command = shell.proc.lookup(argv[1])
    if command is None:
        await _complain(shell, io, f"exec: {argv[1]}: not found", 127)
        raise ExitShell(127)
    child = shell.proc.child(streams=io, env=shell.environment(), cwd=shell.state.cwd)
    raise ExitShell(await invoke(command, argv[1:], child))


async def b_command(shell: "Shell", argv: list[str], io: Streams) -> int:
    args = argv[1:]
    if args and args[0] in ("-v", "-V"):
        status = 0
        for name in args[1:]:
            if name in BUILTINS:
                await _say(io, name + "\n")
            elif shell.proc.lookup(name) is not None:
                await _say(io, f"/bin/{posixpath.basename(name)}\n")
            else:
                status = 127
        return status
    if not args:
        return 0
    return await shell.run_simple(shparse.Simple((), tuple((Lit(a, True),) for a in args)), io)


async def b_noop(shell: "Shell", argv: list[str], io: Streams) -> int:
    return 0


BUILTINS: dict[str, Builtin] = {
    "exit": b_exit, "cd": b_cd, "pwd": b_pwd, "export": b_export, "unset": b_unset,
    "set": b_set, "shift": b_shift, "read": b_read, "break": b_loop_control,
    "continue": b_loop_control, "wait": b_wait, "eval": b_eval, "source": b_source,
    ".": b_source, "exec": b_exec, "command": b_command, ":": b_noop, "trap": b_noop,
    "ulimit": b_noop, "umask": b_noop,
}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"
