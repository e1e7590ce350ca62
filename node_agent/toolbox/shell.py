"""The toolbox shell's executor: it runs shparse's AST. Words expand (shexpand's pure
pieces plus command substitution), pipeline stages run concurrently joined by bounded
pipes, redirections target the process's filesystem, names found in shbuiltins act on the
shell itself and every other name is a toolbox command found through ``Proc.lookup``.
shsession.py is the `sh` command that feeds it scripts, stdin or a terminal."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from kubeloop.tasks import TaskGroup
from node_agent.containers import Streams, Write
from node_agent.toolbox import shparse
from node_agent.toolbox.fs import FsError
from node_agent.toolbox.process import Pipe, PipeClosed, Proc, invoke
from node_agent.toolbox.shexpand import Chunk, ExpansionError, apply_operator, arithmetic, assemble
from node_agent.toolbox.shbuiltins import BUILTINS, ExitShell, LoopControl
from node_agent.toolbox.shlexer import Arith, CmdSub, Lit, Param, ParseError, Word, parse_word


class _Failure(Exception):
    """A shell-level error for the current command: message already formatted."""


@dataclass
class State:
    """What a shell remembers between commands; a subshell works on a copy."""

    vars: dict[str, str]
    exported: set[str]
    positional: list[str] = field(default_factory=list)
    arg0: str = "sh"
    status: int = 0
    errexit: bool = False
    xtrace: bool = False
    cwd: str = "/"

    def copy(self) -> State:
        return replace(self, vars=dict(self.vars), exported=set(self.exported),
                       positional=list(self.positional))


async def _discard(data: bytes) -> None:
    del data


class Shell:
    """Runs parsed command lists for one shell (or subshell) over its State."""

    def __init__(self, proc: Proc, state: State) -> None:
        self.proc = proc
        self.state = state
        self.jobs = TaskGroup(f"sh:{proc.identity.pod_name}")
        self.job_tasks: list[asyncio.Task[int]] = []
        self._conditions = 0  # inside if/while conditions, where set -e does not apply
        self._substatus = 0  # status of the last command substitution ($? of `x=$(cmd)`)

    # --- entry points ------------------------------------------------------------------
    async def run_text(self, script: str, io: Streams) -> int:
        try:
            tree = shparse.parse(script)
        except ParseError as e:
            await io.stderr(f"{self.state.arg0}: {e}\n".encode())
            return 2
        return await self.run_sequence(tree, io)

    async def close(self) -> None:
        await self.jobs.close(timeout=1.0)

    def subshell(self) -> Shell:
        return Shell(self.proc, self.state.copy())

    # --- execution ---------------------------------------------------------------------
    async def run_sequence(self, seq: shparse.Sequence, io: Streams) -> int:
        for node, background in seq.items:
            if background:
                sub = self.subshell()
                task = self.jobs.spawn(f"job{len(self.job_tasks) + 1}",
                                       sub.isolated(sub.run_and_or(node, io)), expect_exit=True)
                self.job_tasks.append(task)
                self.state.status = 0
            else:
                self.state.status = await self.run_and_or(node, io)
        return self.state.status

    async def isolated(self, work: Awaitable[int]) -> int:
        """Runs ``work`` as a subshell: its `exit` ends only it."""
        try:
            return await work
        except ExitShell as e:
            return e.code
        except LoopControl:  # break/continue outside a loop
            return 0
        finally:
            await self.close()

    async def run_and_or(self, node: shparse.AndOr, io: Streams) -> int:
        status = await self.run_pipeline(node.first, io)
        last_ran = node.first
        for op, pipeline in node.rest:
            self.state.status = status
            if (op == "&&") == (status == 0):
                status = await self.run_pipeline(pipeline, io)
                last_ran = pipeline
        if (status and self.state.errexit and not self._conditions and not last_ran.negate
                and last_ran is (node.rest[-1][1] if node.rest else node.first)):
            raise ExitShell(status)
        return status

    async def run_pipeline(self, pipeline: shparse.Pipeline, io: Streams) -> int:
        commands = pipeline.commands
        if len(commands) == 1:
            status = await self.run_command(commands[0], io)
        else:
            pipes = [Pipe() for _ in commands[:-1]]
            last = len(commands) - 1

            async def stage(k: int, command: shparse.Command) -> int:
                stdin = io.stdin if k == 0 else pipes[k - 1].reader
                stdout = io.stdout if k == last else pipes[k].write
                try:
                    sub = self.subshell()
                    return await sub.isolated(sub.run_command(
                        command, Streams(stdout, io.stderr, stdin, io.tty)))
                except PipeClosed:
                    return 141
                finally:
                    if k < last:
                        pipes[k].finish()
                    if k > 0:
                        pipes[k - 1].close_reader()

            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(stage(k, c)) for k, c in enumerate(commands)]
            status = tasks[-1].result()
        return int(status == 0) if pipeline.negate else status

    async def run_command(self, command: shparse.Command, io: Streams) -> int:
        if isinstance(command, shparse.Simple):
            return await self.run_simple(command, io)
        try:
            io = await self.redirect(command.redirects, io)
        except _Failure as e:
            await io.stderr(f"{self.state.arg0}: {e}\n".encode())
            return 1
        if isinstance(command, shparse.If):
            for cond, body in command.clauses:
                if await self.condition(cond, io) == 0:
                    return await self.run_sequence(body, io)
            return await self.run_sequence(command.otherwise, io) if command.otherwise else 0
        if isinstance(command, shparse.Loop):
            return await self.loop(command, io)
        if isinstance(command, shparse.For):
            items = list(self.state.positional)
            if command.items is not None:
                items = [f for w in command.items for f in await self.expand(w, io)]
            return await self.loop(command, io, items)
        if command.subshell:
            sub = self.subshell()
            return await sub.isolated(sub.run_sequence(command.body, io))
        return await self.run_sequence(command.body, io)

    async def condition(self, seq: shparse.Sequence, io: Streams) -> int:
        self._conditions += 1
        try:
            return await self.run_sequence(seq, io)
        finally:
            self._conditions -= 1

    async def loop(self, command: shparse.Loop | shparse.For, io: Streams,
                   items: list[str] | None = None) -> int:
        status = 0
        index = 0
        while True:
            await asyncio.sleep(0)  # `while true; do :; done` must not starve the loop
            if isinstance(command, shparse.Loop):
                if (await self.condition(command.cond, io) == 0) == command.until:
                    break
            else:
                assert items is not None
                if index >= len(items):
                    break
                self.state.vars[command.var] = items[index]
                index += 1
            try:
                status = await self.run_sequence(command.body, io)
            except LoopControl as e:
                if e.levels > 1:
                    raise LoopControl(e.levels - 1, e.is_break) from None
                if e.is_break:
                    break
        return status

    async def run_simple(self, command: shparse.Simple, io: Streams) -> int:
        self._substatus = 0
        try:
            argv = [f for w in command.words for f in await self.expand(w, io)]
            assigns = [(name, await self.expand_one(value, io)) for name, value in command.assigns]
            cmd_io = await self.redirect(command.redirects, io)
        except (ExpansionError, _Failure) as e:
            await io.stderr(f"{self.state.arg0}: {e}\n".encode())
            return 1
        if self.state.xtrace:
            shown = [f"{n}={v}" for n, v in assigns] + argv
            await io.stderr(("+ " + " ".join(shown) + "\n").encode())
        if not argv:
            self.state.vars.update(assigns)
            return self._substatus
        builtin = BUILTINS.get(argv[0])
        if builtin is not None:
            self.state.vars.update(assigns)
            return await builtin(self, argv, cmd_io)
        command_fn = self.proc.lookup(argv[0])
        if command_fn is None:
            await io.stderr(f"{self.state.arg0}: {argv[0]}: not found\n".encode())
            return 127
        env = {**self.environment(), **dict(assigns)}
        child = self.proc.child(streams=cmd_io, env=env, cwd=self.state.cwd)
        return await invoke(command_fn, argv, child)

    def environment(self) -> dict[str, str]:
        return {k: v for k, v in self.state.vars.items() if k in self.state.exported}

    # --- redirections ------------------------------------------------------------------
    async def redirect(self, redirects: tuple[shparse.Redirect, ...], io: Streams) -> Streams:
        out, err, stdin = io.stdout, io.stderr, io.stdin
        for r in redirects:
            target = await self.expand_one(r.target, io)
            if r.op in (">&", "<&"):
                if target == "-":
                    source: Write = _discard
                elif target in ("1", "2"):
                    source = out if target == "1" else err
                elif target == "0":
                    continue
                else:
                    raise _Failure(f"{target}: bad file descriptor")
                if r.fd == 1:
                    out = source
                elif r.fd == 2:
                    err = source
            elif r.op == "<":
                stdin = asyncio.StreamReader()
                try:
                    stdin.feed_data(self.proc.fs.read(target, self.state.cwd))
                except FsError as e:
                    raise _Failure(f"can't open '{target}': {e.strerror}") from None
                stdin.feed_eof()
            else:
                sink = self.sink(target, r.op == ">>", out, err)
                if r.fd in (-1, 1):
                    out = sink
                if r.fd in (-1, 2):
                    err = sink
        return Streams(out, err, stdin, io.tty)

    def sink(self, path: str, append: bool, out: Write, err: Write) -> Write:
        special: dict[str, Write] = {"/dev/null": _discard, "/dev/stdout": out,
                                     "/dev/stderr": err}
        full = self.proc.fs.absolute(path, self.state.cwd)
        if full in special:
            return special[full]
        fs, now = self.proc.fs, datetime.now(timezone.utc)
        try:
            fs.write(full, b"", now, append=append)
        except FsError as e:
            reason = "nonexistent directory" if e.strerror != "Is a directory" else e.strerror
            raise _Failure(f"can't create {path}: {reason}") from None

        async def write(data: bytes) -> None:
            fs.write(full, data, datetime.now(timezone.utc), append=True)
        return write

    # --- expansion ---------------------------------------------------------------------
    def lookup(self, name: str) -> str | None:
        s = self.state
        if name == "?":
            return str(s.status)
        if name == "#":
            return str(len(s.positional))
        if name in ("@", "*"):
            return " ".join(s.positional)
        if name.isdigit():
            n = int(name)
            return s.arg0 if n == 0 else (s.positional[n - 1] if n <= len(s.positional) else None)
        if name == "$":
            return "1"
        if name == "!":
            return str(len(self.job_tasks)) if self.job_tasks else ""
        if name == "-":
            return ("e" if s.errexit else "") + ("x" if s.xtrace else "")
        if name == "RANDOM" and name not in s.vars:
            return str(random.randint(0, 32767))
        return s.vars.get(name)

    async def chunks(self, word: Word, io: Streams) -> list[Chunk]:
        found: list[Chunk] = []
        for i, part in enumerate(word):
            if isinstance(part, Lit):
                text = part.text
                if i == 0 and not part.quoted and (text == "~" or text.startswith("~/")):
                    text = self.state.vars.get("HOME", "/") + text[1:]
                found.append((text, False))
            elif isinstance(part, Param):
                if part.name == "@" and part.quoted and not part.op:
                    found.append((list(self.state.positional), False))
                else:
                    found.append((await self.parameter(part, io), not part.quoted))
            elif isinstance(part, CmdSub):
                found.append((await self.substitute(part.script, io), not part.quoted))
            elif isinstance(part, Arith):
                text = await self.expand_one(parse_word(part.expr), io)
                found.append((str(arithmetic(text, self.lookup)), not part.quoted))
        return found

    async def expand(self, word: Word, io: Streams) -> list[str]:
        return assemble(await self.chunks(word, io))

    async def expand_one(self, word: Word, io: Streams) -> str:
        """A word without field splitting (assignments, redirection targets)."""
        return "".join(t if isinstance(t, str) else " ".join(t)
                       for t, _ in await self.chunks(word, io))

    async def parameter(self, part: Param, io: Streams) -> str:
        value = self.lookup(part.name)
        if not part.op:
            return value or ""
        arg = None
        if part.op != "#":
            arg = await self.expand_one(parse_word(part.arg), io)
        result, assign = apply_operator(part.name, value, part.op, arg)
        if assign is not None:
            self.state.vars[part.name] = assign
        return result

    async def substitute(self, script: str, io: Streams) -> str:
        captured = bytearray()

        async def collect(data: bytes) -> None:
            captured.extend(data)
        sub = self.subshell()
        self._substatus = await sub.isolated(sub.run_text(script, replace(io, stdout=collect)))
        return captured.decode(errors="replace").rstrip("\n")
