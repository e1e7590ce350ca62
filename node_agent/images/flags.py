"""Command-line parsing as the emulated binaries do it: Go's ``flag`` package (http-echo)
and cobra/pflag (agnhost), including their error messages and exit codes, so a pod with a
mistyped flag fails the way the real image does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from node_agent.images.model import Exit


@dataclass(frozen=True)
class Flag:
    name: str
    kind: type  # str, int or bool
    default: str | int | bool
    help: str


class FlagError(Exception):
    """A command line the program rejects; ``exit`` is what it prints and returns."""

    def __init__(self, exit: Exit) -> None:
        super().__init__(exit.lines[0] if exit.lines else "")
        self.exit = exit


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _go_int(text: str) -> int:
    """strconv.ParseInt(text, 0, 64): decimal, 0x, 0o, 0b, or a leading-0 octal."""
    sign = -1 if text.startswith("-") else 1
    body = text[1:] if text[:1] in ("+", "-") else text
    if len(body) > 1 and body[0] == "0" and body[1].isdigit():
        return sign * int(body, 8)
    return sign * int(body, 0)


def _convert(flag: Flag, value: str) -> str | int | bool:
    if flag.kind is bool:
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ValueError(value)
    if flag.kind is int:
        return _go_int(value)
    return value


def go_usage(program: str, flags: Sequence[Flag]) -> list[str]:
    """What Go's flag.PrintDefaults prints."""
    lines = [f"Usage of {program}:"]
    for flag in sorted(flags, key=lambda f: f.name):
        kind = "" if flag.kind is bool else f" {flag.kind.__name__.replace('str', 'string')}"
        lines.append(f"  -{flag.name}{kind}")
        default = ""
        if flag.default not in ("", 0, False):
            shown = f'"{flag.default}"' if flag.kind is str else str(flag.default)
            default = f" (default {shown})"
        lines.append(f"    \t{flag.help}{default}")
    return lines


def parse_go(program: str, argv: Sequence[str],
             flags: Sequence[Flag]) -> tuple[dict[str, str | int | bool], list[str]]:
    """Go's flag.Parse with ExitOnError: (values, remaining arguments)."""
    known = {f.name: f for f in flags}
    values: dict[str, str | int | bool] = {f.name: f.default for f in flags}
    args = list(argv)

    def fail(message: str) -> FlagError:
        return FlagError(Exit(2, (message, *go_usage(program, flags))))

    while args:
        arg = args[0]
        if len(arg) < 2 or arg[0] != "-":
            break
        dashes = 2 if arg[1] == "-" else 1
        if arg == "--":
            args.pop(0)
            break
        name = arg[dashes:]
        if not name or name[0] in "-=":
            raise fail(f"bad flag syntax: {arg}")
        args.pop(0)
        name, has_value, value = name.partition("=")
        flag = known.get(name)
        if flag is None:
            if name in ("help", "h"):
                raise FlagError(Exit(0, tuple(go_usage(program, flags))))
            raise fail(f"flag provided but not defined: -{name}")
        if flag.kind is not bool and not has_value:
            if not args:
                raise fail(f"flag needs an argument: -{name}")
            value = args.pop(0)
        elif flag.kind is bool and not has_value:
            value = "true"
        try:
            values[name] = _convert(flag, value)
        except ValueError:
            message = (f'invalid boolean value "{value}" for -{name}: parse error'
                       if flag.kind is bool else
                       f'invalid value "{value}" for flag -{name}: parse error')
            raise fail(message) from None
    return values, args


def cobra_usage(command: str, flags: Sequence[Flag]) -> list[str]:
    """A cobra command's usage block."""
    lines = ["Usage:", f"  {command} [flags]", "", "Flags:"]
    for flag in sorted(flags, key=lambda f: f.name):
        kind = "" if flag.kind is bool else f" {flag.kind.__name__.replace('str', 'string')}"
        default = ""
        if flag.default not in ("", False):
            shown = f'"{flag.default}"' if flag.kind is str else str(flag.default).lower()
            default = f" (default {shown})"
        lines.append(f"      --{flag.name}{kind}   {flag.help}{default}")
    lines.append("  -h, --help   help for " + command.split()[-1])
    return lines


def parse_cobra(command: str, argv: Sequence[str], flags: Sequence[Flag],
                ignored: frozenset[str] = frozenset(), *,
                lenient: bool = False) -> dict[str, str | int | bool]:
    """pflag parsing for a cobra command that takes no positional arguments (agnhost's
    subcommands): --name=value, --name value, --flag[=bool]. ``ignored`` names are
    accepted and dropped (klog's global flags); ``lenient`` drops every flag not in
    ``flags`` and positional arguments too (a binary with far more flags than the
    emulation reads, ingress-nginx's), only a bad value of a known flag fails."""
    known = {f.name: f for f in flags}
    values: dict[str, str | int | bool] = {f.name: f.default for f in flags}
    positional: list[str] = []
    args = list(argv)

    def fail(message: str) -> FlagError:
        return FlagError(Exit(1, (f"Error: {message}", *cobra_usage(command, flags), "")))

    while args:
        arg = args.pop(0)
        if arg == "--":
            positional += [] if lenient else args
            break
        if arg in ("-h", "--help"):
            raise FlagError(Exit(0, tuple(cobra_usage(command, flags))))
        if not arg.startswith("-") or arg == "-":
            if not lenient:
                positional.append(arg)
            continue
        if not arg.startswith("--") and not lenient:
            raise fail(f"unknown shorthand flag: '{arg[1]}' in {arg}")
        name, has_value, value = arg[2 if arg.startswith("--") else 1:].partition("=")
        if name in ignored or (lenient and name not in known):
            if not has_value and args and not args[0].startswith("-"):
                args.pop(0)
            continue
        flag = known.get(name)
        if flag is None:
            raise fail(f"unknown flag: --{name}")
        if not has_value:
            if flag.kind is bool:
                value = "true"
            elif args:
                value = args.pop(0)
            else:
                raise fail(f"flag needs an argument: --{name}")
        try:
            values[name] = _convert(flag, value)
        except ValueError:
            parser = "ParseBool" if flag.kind is bool else "ParseInt"
            raise fail(f'invalid argument "{value}" for "--{name}" flag: strconv.{parser}: '
                       f'parsing "{value}": invalid syntax') from None
    if positional:
        raise fail(f"accepts at most 0 arg(s), received {len(positional)}")
    return values
