"""Text and file commands, busybox flavoured: cat, echo, printf, ls, head, tail, grep, wc,
tee, touch, mkdir, rm, seq. They read the per-exec filesystem (fs.py) or stdin; formatting
(escapes, printf conversions, ls -l lines, wc columns, grep patterns) is pure."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import datetime, timedelta, timezone

from node_agent.toolbox.fs import FsError, Node
from node_agent.toolbox.process import Command, OptError, Proc, getopt

_ESCAPES = {"\\": "\\", "a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r",
            "t": "\t", "v": "\v", '"': '"'}


def unescape(text: str, octal_needs_zero: bool = True) -> tuple[str, bool]:
    """Backslash escapes as echo -e and printf read them. Returns the text and whether a
    \\c asked to stop all output there. echo's octal escapes are \\0NNN; printf's \\NNN."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 >= len(text):
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "c":
            return "".join(out), True
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "x" and re.match(r"[0-9a-fA-F]", text[i + 2:i + 3]):
            m = re.match(r"[0-9a-fA-F]{1,2}", text[i + 2:])
            assert m
            out.append(chr(int(m.group(0), 16)))
            i += 2 + len(m.group(0))
        elif nxt in "01234567" and (nxt == "0" or not octal_needs_zero):
            start = i + 2 if (nxt == "0" and octal_needs_zero) else i + 1
            m = re.match(r"[0-7]{1,3}", text[start:])
            digits = m.group(0) if m else ""
            out.append(chr(int(digits or "0", 8) & 0xFF))
            i = start + len(digits)
        else:
            out.append(c)
            i += 1
    return "".join(out), False


def echo_text(args: list[str]) -> str:
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for flag in args.pop(0)[1:]:
            newline = newline and flag != "n"
            escapes = flag == "e" if flag in "eE" else escapes
    text = " ".join(args)
    if escapes:
        text, stop = unescape(text)
        if stop:
            return text
    return text + ("\n" if newline else "")


_CONVERSION = re.compile(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?([diouxXeEfFgGcsb%])")


def printf_text(fmt: str, args: list[str]) -> tuple[str, list[str]]:
    """printf(1): the format is reused while arguments remain. Returns output and error
    messages (bad numbers print as 0 and make the exit status 1)."""
    out: list[str] = []
    errors: list[str] = []
    args = list(args)

    def number(text: str, integer: bool) -> float | int:
        if text[:1] in "'\"" and len(text) > 1:
            return ord(text[1])
        try:
            return int(text, 0) if integer else float(text)
        except ValueError:
            try:
                return int(float(text)) if integer else 0.0
            except ValueError:
                errors.append(f"invalid number '{text}'")
                return 0

    while True:
        consumed = False
        pos = 0
        for m in _CONVERSION.finditer(fmt):
            literal, stop = unescape(fmt[pos:m.start()], octal_needs_zero=False)
            out.append(literal)
            if stop:
                return "".join(out), errors
            pos = m.end()
            flags, width, precision, conv = m.groups()
            if conv == "%":
                out.append("%")
                continue
            if width == "*":
                width = str(int(number(args.pop(0), True))) if args else "0"
            if precision == "*":
                precision = str(int(number(args.pop(0), True))) if args else "0"
            arg = args.pop(0) if args else None
            consumed = consumed or arg is not None
            spec = "%" + flags + (width or "") + (f".{precision}" if precision is not None else "")
            if conv in "sb":
                text = arg or ""
                if conv == "b":
                    text, stop = unescape(text)
                    if stop:
                        out.append(text)
                        return "".join(out), errors
                out.append((spec + "s") % text)
            elif conv == "c":
                out.append((spec + "s") % (arg or "")[:1])
            elif conv in "diouxX":
                value = int(number(arg, True)) if arg else 0
                out.append((spec + ("d" if conv in "iu" else conv)) % value)
            else:
                out.append((spec + conv) % (float(number(arg, False)) if arg else 0.0))
        tail, stop = unescape(fmt[pos:], octal_needs_zero=False)
        out.append(tail)
        if stop or not args or not consumed:
            return "".join(out), errors


def long_listing(name: str, node: Node, now: datetime) -> str:
    """One `ls -l` line in busybox's layout."""
    mode = "drwxr-xr-x" if node.is_dir else "-rw-r--r--"
    size = 4096 if node.data is None else len(node.data)
    recent = now - timedelta(days=182) < node.mtime <= now + timedelta(hours=1)
    when = node.mtime.strftime("%b %e %H:%M" if recent else "%b %e  %Y")
    links = 2 if node.is_dir else 1
    return f"{mode} {links:4} {'root':<8} {'root':<8} {size:9} {when} {name}"


def wc_line(counts: list[int], name: str | None) -> str:
    """busybox wc: a lone count for stdin prints bare, otherwise %9u columns."""
    if name is None and len(counts) == 1:
        return f"{counts[0]}"
    return " ".join(f"{c:9}" for c in counts) + (f" {name}" if name else "")


def grep_pattern(pattern: str, extended: bool, fixed: bool, ignore_case: bool,
                 word: bool, whole_line: bool) -> re.Pattern[str]:
    if fixed:
        expr = re.escape(pattern)
    elif extended:
        expr = pattern
    else:  # POSIX basic: \( \) \{ \} \| \+ \? are the operators, the bare ones literal
        expr = re.sub(r"\\([(){}|+?])|([(){}|+?])",
                      lambda m: m.group(1) if m.group(1) else "\\" + m.group(2), pattern)
    if word:
        expr = rf"(?<!\w)(?:{expr})(?!\w)"
    if whole_line:
        expr = rf"(?:{expr})\Z"
    return re.compile(expr, re.IGNORECASE if ignore_case else 0)


# --- commands ---------------------------------------------------------------------------

async def _inputs(proc: Proc, names: list[str]) -> list[tuple[str, bytes | None, str]]:
    """(name, data or None when unreadable, error) for each operand; stdin for none/"-"."""
    found: list[tuple[str, bytes | None, str]] = []
    for name in names or ["-"]:
        if name == "-":
            found.append(("-", await proc.read_stdin(), ""))
            continue
        try:
            found.append((name, proc.fs.read(name, proc.cwd), ""))
        except FsError as e:
            found.append((name, None, e.strerror))
    return found


async def cat(argv: list[str], proc: Proc) -> int:
    status = 0
    for name, data, error in await _inputs(proc, [a for a in argv[1:] if a not in ("-u",)]):
        if data is None:
            status = 1
            await proc.fail(f"read error: {error}" if error == "Is a directory"
                            else f"can't open '{name}': {error}")
        else:
            await proc.out(data)
    return status


async def echo(argv: list[str], proc: Proc) -> int:
    await proc.out(echo_text(argv[1:]))
    return 0


async def printf(argv: list[str], proc: Proc) -> int:
    if len(argv) < 2:
        return await proc.fail("usage: printf FORMAT [ARG]...")
    text, errors = printf_text(argv[1], argv[2:])
    await proc.out(text)
    for message in errors:
        await proc.fail(message)
    return 1 if errors else 0


async def ls(argv: list[str], proc: Proc) -> int:
    try:
        parsed = getopt(argv[1:], "laA1dh")
    except OptError as e:
        return await proc.fail(f"invalid option -- '{e.option.lstrip('-')}'")
    show_all, long = parsed.has("a") or parsed.has("A"), parsed.has("l")
    now = datetime.now(timezone.utc)
    status = 0
    targets = parsed.args or ["."]
    for index, target in enumerate(targets):
        try:
            node = proc.fs.stat(target, proc.cwd)
        except FsError as e:
            status = 1
            await proc.fail(f"{target}: {e.strerror}")
            continue
        if node.is_dir and not parsed.has("d"):
            names = proc.fs.listdir(target, proc.cwd)
            if parsed.has("a"):
                names = [".", "..", *names]
            entries = [(n, proc.fs.stat(f"{target}/{n}", proc.cwd)) for n in names
                       if show_all or not n.startswith(".")]
            if len(targets) > 1:
                await proc.out(("\n" if index else "") + f"{target}:\n")
            if long:
                await proc.out(f"total {len(entries) * 4}\n")
        else:
            entries = [(target, node)]
        if long:
            lines = [long_listing(n, e, now) for n, e in entries]
        else:
            lines = [n for n, _ in entries]
        if lines:
            sep = "  " if proc.streams.tty and not long and not parsed.has("1") else "\n"
            await proc.out(sep.join(lines) + "\n")
    return status


def _count_option(argv: list[str]) -> list[str]:
    """head/tail accept the historic -N for -n N."""
    return [f"-n{a[1:]}" if re.fullmatch(r"-\d+", a) else a for a in argv]


async def _lines(proc: Proc, name: str) -> AsyncGenerator[bytes, None]:
    """The lines (with their newline) of a file, or of stdin as they arrive, so that
    `producer | head -n 1` ends without waiting for the producer. Raises FsError."""
    if name != "-":
        for line in proc.fs.read(name, proc.cwd).splitlines(keepends=True):
            yield line
        return
    stdin = proc.streams.stdin
    pending = b""
    while stdin is not None and (chunk := await stdin.read(65536)):
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            yield line + b"\n"
    if pending:
        yield pending


async def head_tail(argv: list[str], proc: Proc) -> int:
    try:
        parsed = getopt(_count_option(argv[1:]), "n:c:qv")
    except OptError as e:
        return await proc.fail(f"invalid option -- '{e.option.lstrip('-')}'")
    tail = proc.name == "tail"
    count_text = parsed.last("c") or parsed.last("n", "10") or "10"
    from_start = tail and count_text.startswith("+")
    if not count_text.lstrip("+-").isdigit():
        return await proc.fail(f"invalid number '{count_text}'")
    count = int(count_text.lstrip("+-"))
    status = 0
    for name in parsed.args or ["-"]:
        try:
            if parsed.has("c"):
                data = await proc.read_stdin() if name == "-" else proc.fs.read(name, proc.cwd)
                picked = data[count - 1:] if from_start else \
                    (data[max(len(data) - count, 0):] if tail else data[:count])
            elif tail:
                lines = [line async for line in _lines(proc, name)]
                picked = b"".join(lines[max(count - 1, 0):] if from_start
                                  else lines[max(len(lines) - count, 0):])
            else:
                kept: list[bytes] = []
                async with aclosing(_lines(proc, name)) as lines_in:
                    async for line in lines_in:
                        if len(kept) >= count:
                            break
                        kept.append(line)
                picked = b"".join(kept)
        except FsError as e:
            status = 1
            await proc.fail(f"{name}: {e.strerror}" if tail else f"can't open '{name}': "
                            f"{e.strerror}")
            continue
        await proc.out(picked)
    return status


async def grep(argv: list[str], proc: Proc) -> int:
    try:
        parsed = getopt(argv[1:], "ivcqnEFwxolHhse:m:")
    except OptError as e:
        return await proc.fail(f"invalid option -- '{e.option.lstrip('-')}'", 2)
    patterns, args = parsed.all("e"), list(parsed.args)
    if not patterns:
        if not args:
            return await proc.fail("usage: grep [-ivcqnEFwxolHhs] PATTERN [FILE]...", 2)
        patterns = [args.pop(0)]
    try:
        compiled = [grep_pattern(p, parsed.has("E"), parsed.has("F"), parsed.has("i"),
                                 parsed.has("w"), parsed.has("x")) for p in patterns]
    except re.error as e:
        return await proc.fail(f"bad regex: {e}", 2)
    limit_text = parsed.last("m") or "0"
    if not limit_text.isdigit():
        return await proc.fail(f"invalid number '{limit_text}'", 2)
    limit = int(limit_text) or None
    names = args or ["-"]
    prefix_names = (len(names) > 1 or parsed.has("H")) and not parsed.has("h")
    matched_any, status_error = False, False
    for name in names:
        shown = "(standard input)" if name == "-" else name
        count = 0
        try:
            async with aclosing(_lines(proc, name)) as lines:
                number = 0
                async for raw in lines:
                    number += 1
                    line = raw.decode(errors="replace").rstrip("\n")
                    hits = [m for p in compiled for m in p.finditer(line) if p.pattern]
                    hit = bool(hits) or any(not p.pattern for p in compiled)
                    if hit == parsed.has("v"):
                        continue
                    count += 1
                    matched_any = True
                    if parsed.has("q"):
                        return 0
                    if not (parsed.has("c") or parsed.has("l")):
                        lead = (f"{shown}:" if prefix_names else "") + \
                            (f"{number}:" if parsed.has("n") else "")
                        if parsed.has("o") and not parsed.has("v"):
                            await proc.out("".join(f"{lead}{m.group(0)}\n" for m in hits
                                                   if m.group(0)))
                        else:
                            await proc.out(f"{lead}{line}\n")
                    if limit and count >= limit:
                        break
        except FsError as e:
            status_error = True
            if not parsed.has("s"):
                await proc.fail(f"{name}: {e.strerror}")
            continue
        if parsed.has("c"):
            await proc.out((f"{shown}:" if prefix_names else "") + f"{count}\n")
        elif parsed.has("l") and count:
            await proc.out(f"{shown}\n")
    if status_error and not matched_any:
        return 2
    return 0 if matched_any else 1


async def wc(argv: list[str], proc: Proc) -> int:
    try:
        parsed = getopt(argv[1:], "lwcmL")
    except OptError as e:
        return await proc.fail(f"invalid option -- '{e.option.lstrip('-')}'")
    wanted = [k for k in "lwc" if parsed.has(k) or (k == "c" and parsed.has("m"))] \
        or ["l", "w", "c"]
    status = 0
    totals = [0] * len(wanted)
    inputs = await _inputs(proc, parsed.args)
    for name, data, error in inputs:
        if data is None:
            status = 1
            await proc.fail(f"{name}: {error}")
            continue
        measures = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data)}
        counts = [measures[k] for k in wanted]
        totals = [t + c for t, c in zip(totals, counts)]
        await proc.out(wc_line(counts, None if name == "-" else name) + "\n")
    if len(inputs) > 1:
        await proc.out(wc_line(totals, "total") + "\n")
    return status


async def tee(argv: list[str], proc: Proc) -> int:
    append = "-a" in argv[1:]
    names = [a for a in argv[1:] if a not in ("-a", "-i")]
    now = datetime.now(timezone.utc)
    status = 0
    for name in names:
        try:
            proc.fs.write(name, b"", now, proc.cwd, append=append)
        except FsError as e:
            status = 1
            await proc.fail(f"{name}: {e.strerror}")
    while proc.streams.stdin is not None and (chunk := await proc.streams.stdin.read(65536)):
        await proc.out(chunk)
        for name in names:
            if proc.fs.exists(name, proc.cwd):
                proc.fs.write(name, chunk, now, proc.cwd, append=True)
    return status


async def touch_mkdir_rm(argv: list[str], proc: Proc) -> int:
    """touch, mkdir [-p], rm [-f] [-r]: the scratch filesystem only."""
    flags = {a for a in argv[1:] if a.startswith("-")}
    quiet = any("f" in f for f in flags)
    parents = any("p" in f for f in flags)
    now = datetime.now(timezone.utc)
    status = 0
    for name in [a for a in argv[1:] if not a.startswith("-")]:
        try:
            if proc.name == "touch":
                if not proc.fs.exists(name, proc.cwd):
                    proc.fs.write(name, b"", now, proc.cwd)
            elif proc.name == "mkdir":
                if not (parents and proc.fs.is_dir(name, proc.cwd)):
                    proc.fs.mkdir(name, now, proc.cwd)
            else:
                proc.fs.remove(name, proc.cwd)
        except FsError as e:
            if not (quiet and e.strerror == "No such file or directory"):
                status = 1
                verb = {"touch": "", "mkdir": "can't create directory ",
                        "rm": "can't remove "}[proc.name]
                await proc.fail(f"{verb}'{name}': {e.strerror}" if verb
                                else f"{name}: {e.strerror}")
    return status


def seq_text(args: list[str], separator: str = "\n", width: bool = False) -> str | None:
    """seq [FIRST [INC]] LAST; None when an argument is not a number."""
    try:
        numbers = [float(a) for a in args]
    except ValueError:
        return None
    if len(numbers) == 1:
        first, inc, last = 1.0, 1.0, numbers[0]
    elif len(numbers) == 2:
        first, inc, last = numbers[0], 1.0, numbers[1]
    else:
        first, inc, last = numbers[0], numbers[1], numbers[2]
    decimals = max((len(a.split(".", 1)[1]) for a in args if "." in a), default=0)
    values = []
    value = first
    while inc and (value <= last + 1e-9 if inc > 0 else value >= last - 1e-9):
        values.append(f"{value:.{decimals}f}")
        value = first + inc * len(values)
    if width and values:
        size = max(len(v) for v in values)
        values = [v.zfill(size) for v in values]
    return separator.join(values) + ("\n" if values else "")


async def seq(argv: list[str], proc: Proc) -> int:
    try:
        parsed = getopt(argv[1:], "ws:", permute=False)
    except OptError as e:
        return await proc.fail(f"invalid option -- '{e.option.lstrip('-')}'")
    if not 1 <= len(parsed.args) <= 3:
        return await proc.fail("usage: seq [-w] [-s SEP] [FIRST [INC]] LAST")
    text = seq_text(parsed.args, parsed.last("s", "\n") or "", parsed.has("w"))
    if text is None:
        bad = next(a for a in parsed.args if not re.fullmatch(r"-?\d+(\.\d*)?", a))
        return await proc.fail(f"invalid number '{bad}'")
    await proc.out(text)
    return 0


COMMANDS: dict[str, Command] = {
    "cat": cat, "echo": echo, "printf": printf, "ls": ls, "head": head_tail, "tail": head_tail,
    "grep": grep, "wc": wc, "tee": tee, "touch": touch_mkdir_rm, "mkdir": touch_mkdir_rm,
    "rm": touch_mkdir_rm, "seq": seq,
}
