"""Process and system commands, busybox flavoured: env, printenv, hostname, sleep, true,
false, id, whoami, pwd, date, uname, ip, ifconfig, ping, which, timeout, test/[. What a
pod is (its IP on eth0, its hostname, its environment) comes from the Identity; the
interface listings are rendered by pure functions."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import posixpath
import re
from collections.abc import Callable
from datetime import datetime, timezone

from node_agent.toolbox.process import Command, Proc, invoke, parse_seconds

PREFIX = 24  # each node's pod CIDR is a /24
FOREVER = 10 ** 8  # seconds beyond which a sleep just waits for cancellation


def mac_address(ip: str) -> str:
    """A stable locally administered MAC for the pod's eth0, derived from its IP."""
    return "02:42:" + ":".join(f"{int(o):02x}" for o in ip.split("."))


def ip_addr_text(pod_ip: str) -> str:
    net = ipaddress.ip_network(f"{pod_ip}/{PREFIX}", strict=False)
    return ("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue qlen 1000\n"
            "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
            "    inet 127.0.0.1/8 scope host lo\n"
            "       valid_lft forever preferred_lft forever\n"
            "2: eth0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP,M-DOWN> mtu 1500 qdisc noqueue \n"
            f"    link/ether {mac_address(pod_ip)} brd ff:ff:ff:ff:ff:ff\n"
            f"    inet {pod_ip}/{PREFIX} brd {net.broadcast_address} scope global eth0\n"
            "       valid_lft forever preferred_lft forever\n")


def ip_route_text(pod_ip: str) -> str:
    net = ipaddress.ip_network(f"{pod_ip}/{PREFIX}", strict=False)
    return (f"default via {net.network_address + 1} dev eth0 \n"
            f"{net} dev eth0 scope link  src {pod_ip} \n")


def ifconfig_text(pod_ip: str) -> str:
    net = ipaddress.ip_network(f"{pod_ip}/{PREFIX}", strict=False)
    counters = ("          RX packets:0 errors:0 dropped:0 overruns:0 frame:0\n"
                "          TX packets:0 errors:0 dropped:0 overruns:0 carrier:0\n")
    return (f"eth0      Link encap:Ethernet  HWaddr {mac_address(pod_ip).upper()}  \n"
            f"          inet addr:{pod_ip}  Bcast:{net.broadcast_address}  "
            f"Mask:{net.netmask}\n"
            "          UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1\n"
            f"{counters}          collisions:0 txqueuelen:0 \n"
            "          RX bytes:0 (0.0 B)  TX bytes:0 (0.0 B)\n\n"
            "lo        Link encap:Local Loopback  \n"
            "          inet addr:127.0.0.1  Mask:255.0.0.0\n"
            "          UP LOOPBACK RUNNING  MTU:65536  Metric:1\n"
            f"{counters}          collisions:0 txqueuelen:1000 \n"
            "          RX bytes:0 (0.0 B)  TX bytes:0 (0.0 B)\n\n")


def date_text(now: datetime, fmt: str | None) -> str:
    """busybox date: the C locale's "%a %b %e %H:%M:%S %Z %Y" unless +FORMAT is given."""
    if fmt is None:
        return now.strftime("%a %b %e %H:%M:%S %Z %Y")
    # %s through strftime would read the node's local timezone
    return now.strftime(re.sub(r"(?<!%)%s", str(int(now.timestamp())), fmt))


def evaluate_test(args: list[str], is_file: Callable[[str], bool],
                  is_dir: Callable[[str], bool], exists: Callable[[str], bool]) -> int:
    """test(1) on its arguments (without the closing "]"): 0 true, 1 false, 2 error."""
    def unary(op: str, x: str) -> bool | None:
        checks = {"-z": lambda: x == "", "-n": lambda: x != "", "-f": lambda: is_file(x),
                  "-d": lambda: is_dir(x), "-e": lambda: exists(x), "-r": lambda: exists(x),
                  "-s": lambda: is_file(x), "-w": lambda: exists(x), "-x": lambda: exists(x)}
        return checks[op]() if op in checks else None

    def binary(a: str, op: str, b: str) -> bool | None:
        if op in ("=", "=="):
            return a == b
        if op == "!=":
            return a != b
        ints = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__,
                "-gt": int.__gt__, "-ge": int.__ge__}
        if op in ints:
            if not (re.fullmatch(r"\s*-?\d+\s*", a) and re.fullmatch(r"\s*-?\d+\s*", b)):
                raise ValueError(a if not re.fullmatch(r"\s*-?\d+\s*", a) else b)
            return bool(ints[op](int(a), int(b)))
        return None

    def expr(items: list[str]) -> bool:
        for joiner in ("-o", "-a"):
            if joiner in items[1:-1]:
                k = len(items) - 1 - items[::-1].index(joiner)
                left, right = expr(items[:k]), expr(items[k + 1:])
                return (left or right) if joiner == "-o" else (left and right)
        if items and items[0] == "!":
            return not expr(items[1:])
        if len(items) == 3 and (result := binary(*items)) is not None:
            return result
        if len(items) == 2 and (result := unary(*items)) is not None:
            return result
        if len(items) == 1:
            return items[0] != ""
        if not items:
            return False
        raise SyntaxError(items[0])

    try:
        return 0 if expr(args) else 1
    except (ValueError, SyntaxError):
        return 2


# --- commands ---------------------------------------------------------------------------

async def env(argv: list[str], proc: Proc) -> int:
    args = argv[1:]
    environment = dict(proc.env)
    while args and args[0].startswith("-") and args[0] != "-":
        opt = args.pop(0)
        if opt in ("-i", "--ignore-environment"):
            environment = {}
        elif opt == "-u" and args:
            environment.pop(args.pop(0), None)
        elif opt == "--":
            break
        else:
            return await proc.fail(f"unrecognized option '{opt}'")
    while args and "=" in args[0]:
        name, _, value = args.pop(0).partition("=")
        environment[name] = value
    if not args:
        await proc.out("".join(f"{k}={v}\n" for k, v in environment.items()))
        return 0
    command = proc.lookup(args[0])
    if command is None:
        return await proc.fail(f"can't execute '{args[0]}': No such file or directory", 127)
    return await invoke(command, args, proc.child(env=environment))


async def printenv(argv: list[str], proc: Proc) -> int:
    if len(argv) == 1:
        await proc.out("".join(f"{k}={v}\n" for k, v in proc.env.items()))
        return 0
    found = [proc.env[n] for n in argv[1:] if n in proc.env]
    await proc.out("".join(v + "\n" for v in found))
    return 0 if len(found) == len(argv) - 1 else 1


async def hostname(argv: list[str], proc: Proc) -> int:
    ident = proc.identity
    flags = "".join(a[1:] for a in argv[1:] if a.startswith("-"))
    names = [a for a in argv[1:] if not a.startswith("-")]
    if names:
        return await proc.fail("sethostname: Operation not permitted")
    if "i" in flags or "I" in flags:
        await proc.out(ident.pod_ip + ("\n" if "i" in flags else " \n"))
    elif "d" in flags:
        await proc.out("\n")
    else:
        await proc.out(ident.hostname.split(".")[0] + "\n" if "s" in flags
                       else ident.hostname + "\n")
    return 0


async def sleep(argv: list[str], proc: Proc) -> int:
    if len(argv) < 2:
        return await proc.fail("missing operand\nUsage: sleep [N]...")
    total = 0.0
    for arg in argv[1:]:
        seconds = parse_seconds(arg)
        if seconds is None:
            return await proc.fail(f"invalid number '{arg}'")
        total += seconds
    if total > FOREVER:
        await asyncio.Event().wait()  # only cancellation ends it
    else:
        await asyncio.sleep(total)
    return 0


async def true(argv: list[str], proc: Proc) -> int:
    return 0


async def false(argv: list[str], proc: Proc) -> int:
    return 1


async def id_(argv: list[str], proc: Proc) -> int:
    flags = "".join(a[1:] for a in argv[1:] if a.startswith("-"))
    if "u" in flags or "g" in flags:
        await proc.out(("root" if "n" in flags else "0") + "\n")
    elif "G" in flags:
        await proc.out(("root wheel" if "n" in flags else "0 10") + "\n")
    else:
        await proc.out("uid=0(root) gid=0(root) groups=0(root),10(wheel)\n")
    return 0


async def whoami(argv: list[str], proc: Proc) -> int:
    await proc.out("root\n")
    return 0


async def pwd(argv: list[str], proc: Proc) -> int:
    await proc.out(proc.cwd + "\n")
    return 0


async def date(argv: list[str], proc: Proc) -> int:
    fmt = next((a[1:] for a in argv[1:] if a.startswith("+")), None)
    for flag in (a for a in argv[1:] if a.startswith("-")):
        if flag in ("-I", "--iso-8601"):
            fmt = "%Y-%m-%d"
        elif flag in ("-R", "--rfc-2822"):
            fmt = "%a, %d %b %Y %H:%M:%S +0000"
        elif flag not in ("-u", "--utc"):
            return await proc.fail(f"invalid option -- '{flag.lstrip('-')}'")
    await proc.out(date_text(datetime.now(timezone.utc), fmt) + "\n")
    return 0


async def uname(argv: list[str], proc: Proc) -> int:
    host = os.uname()
    fields = {"s": "Linux", "n": proc.identity.hostname, "r": host.release,
              "v": host.version, "m": host.machine, "o": "GNU/Linux"}
    flags = "".join(a[1:] for a in argv[1:] if a.startswith("-")) or "s"
    order = "snrvmo" if "a" in flags else [f for f in "snrvmo" if f in flags]
    await proc.out(" ".join(fields[f] for f in order) + "\n")
    return 0


async def ip(argv: list[str], proc: Proc) -> int:
    words = [a for a in argv[1:] if not a.startswith("-")]
    obj = words[0] if words else ""
    if obj and "address".startswith(obj) or obj == "addr":
        await proc.out(ip_addr_text(proc.identity.pod_ip))
    elif obj and "route".startswith(obj):
        await proc.out(ip_route_text(proc.identity.pod_ip))
    elif obj and "link".startswith(obj):
        await proc.out("\n".join(line for line in ip_addr_text(proc.identity.pod_ip)
                                 .splitlines() if not line.startswith("    inet")
                                 and "valid_lft" not in line) + "\n")
    else:
        return await proc.fail("usage: ip [OPTIONS] address|route|link [COMMAND]")
    return 0


async def ifconfig(argv: list[str], proc: Proc) -> int:
    text = ifconfig_text(proc.identity.pod_ip)
    if len(argv) > 1 and argv[1] in ("eth0", "lo"):
        blocks = text.split("\n\n")
        text = next(b for b in blocks if b.startswith(argv[1])) + "\n\n"
    await proc.out(text)
    return 0


async def ping(argv: list[str], proc: Proc) -> int:
    # ICMP needs raw (or ping) sockets the emulated pods do not get; say so like busybox
    # does without CAP_NET_RAW instead of faking replies.
    return await proc.fail("permission denied (are you root?)")


async def which(argv: list[str], proc: Proc) -> int:
    status = 0
    for name in argv[1:]:
        if proc.lookup(name) is None:
            status = 1
        else:
            await proc.out(f"/bin/{posixpath.basename(name)}\n")
    return status


async def timeout(argv: list[str], proc: Proc) -> int:
    args = [a for a in argv[1:]]
    while args and args[0].startswith("-") and args[0] != "-":
        opt = args.pop(0)
        if opt in ("-s", "-k") and args:
            args.pop(0)
    if len(args) < 2:
        return await proc.fail("usage: timeout [-s SIG] [-k KILL_SECS] SECS PROG ARGS")
    seconds = parse_seconds(args[0])
    if seconds is None:
        return await proc.fail(f"invalid number '{args[0]}'")
    command = proc.lookup(args[1])
    if command is None:
        return await proc.fail(f"can't execute '{args[1]}': No such file or directory", 127)
    try:
        async with asyncio.timeout(None if seconds == float("inf") else seconds):
            return await invoke(command, args[1:], proc)
    except TimeoutError:
        return 143  # killed by SIGTERM, as busybox's timeout leaves it


async def test(argv: list[str], proc: Proc) -> int:
    args = argv[1:]
    if argv[0].endswith("["):
        if not args or args[-1] != "]":
            return await proc.fail("missing ]", 2)
        args = args[:-1]
    fs = proc.fs
    status = evaluate_test(args, lambda p: fs.exists(p, proc.cwd) and not fs.is_dir(p, proc.cwd),
                           lambda p: fs.is_dir(p, proc.cwd), lambda p: fs.exists(p, proc.cwd))
    if status == 2:
        return await proc.fail("syntax error" if args else "missing argument", 2)
    return status


COMMANDS: dict[str, Command] = {
    "env": env, "printenv": printenv, "hostname": hostname, "sleep": sleep, "true": true,
    "false": false, "id": id_, "whoami": whoami, "pwd": pwd, "date": date, "uname": uname,
    "ip": ip, "ifconfig": ifconfig, "ping": ping, "which": which, "timeout": timeout,
    "test": test, "[": test,
}
