"""Process and system commands: interface listings and date formatting as pure
functions, test(1) truth tables, then env/hostname/id/sleep/timeout/ping... through
toolbox.run with busybox's wording."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from node_agent.toolbox.system import (date_text, evaluate_test, ifconfig_text, ip_addr_text,
                                       ip_route_text, mac_address)
from tests.unit.test_toolbox_shell import run_tool

pytestmark = pytest.mark.timeout(10)

POD_IP = "127.244.1.5"


def test_mac_address_is_derived_from_the_ip() -> None:
    assert mac_address(POD_IP) == "02:42:7f:f4:01:05"


def test_ip_addr_shows_the_pod_ip_on_eth0() -> None:
    text = ip_addr_text(POD_IP)
    assert "    inet 127.244.1.5/24 brd 127.244.1.255 scope global eth0\n" in text
    assert text.startswith("1: lo: <LOOPBACK,UP,LOWER_UP>")


def test_ip_route() -> None:
    assert ip_route_text(POD_IP) == ("default via 127.244.1.1 dev eth0 \n"
                                     "127.244.1.0/24 dev eth0 scope link  src 127.244.1.5 \n")


def test_ifconfig_eth0_block() -> None:
    first = ifconfig_text(POD_IP).split("\n")[:2]
    assert first == ["eth0      Link encap:Ethernet  HWaddr 02:42:7F:F4:01:05  ",
                     "          inet addr:127.244.1.5  Bcast:127.244.1.255  Mask:255.255.255.0"]


NOW = datetime(2026, 1, 3, 8, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize("fmt,text", [
    (None, "Sat Jan  3 08:04:05 UTC 2026"), ("%Y-%m-%d", "2026-01-03"), ("%s", "1767427445"),
], ids=["default", "iso", "epoch"])
def test_date_text(fmt: str | None, text: str) -> None:
    assert date_text(NOW, fmt) == text


FILES = {"/etc/hosts"}
DIRS = {"/etc"}

# (args, status)
TESTS = [
    ([], 1), (["x"], 0), ([""], 1), (["-n", "x"], 0), (["-z", ""], 0), (["-z", "x"], 1),
    (["a", "=", "a"], 0), (["a", "!=", "a"], 1), (["1", "-lt", "2"], 0), (["3", "-le", "2"], 1),
    (["2", "-eq", "2"], 0), (["2", "-ge", "3"], 1), (["-f", "/etc/hosts"], 0),
    (["-f", "/etc"], 1), (["-d", "/etc"], 0), (["-e", "/nope"], 1), (["!", "-e", "/nope"], 0),
    (["x", "-a", ""], 1), (["x", "-o", ""], 0), (["a", "-eq", "1"], 2), (["-q", "x", "y"], 2),
]


@pytest.mark.parametrize("args,status", TESTS, ids=[" ".join(t[0]) or "empty" for t in TESTS])
def test_evaluate_test(args: list[str], status: int) -> None:
    assert evaluate_test(args, FILES.__contains__, DIRS.__contains__,
                         (FILES | DIRS).__contains__) == status


# (argv, exit code, stdout, stderr)
COMMANDS = [
    (["env", "-i", "A=1"], 0, "A=1\n", ""),
    (["env", "-i", "A=1", "printenv", "A"], 0, "1\n", ""),
    (["env", "nope"], 127, "", "env: can't execute 'nope': No such file or directory\n"),
    (["printenv", "GREETING"], 0, "hello world\n", ""),
    (["printenv", "NOPE"], 1, "", ""),
    (["hostname"], 0, "testpod\n", ""),
    (["hostname", "-i"], 0, "127.77.0.5\n", ""),
    (["hostname", "other"], 1, "", "hostname: sethostname: Operation not permitted\n"),
    (["id"], 0, "uid=0(root) gid=0(root) groups=0(root),10(wheel)\n", ""),
    (["id", "-un"], 0, "root\n", ""),
    (["whoami"], 0, "root\n", ""),
    (["pwd"], 0, "/\n", ""),
    (["true"], 0, "", ""),
    (["false"], 1, "", ""),
    (["sleep", "0.01"], 0, "", ""),
    (["sleep", "x"], 1, "", "sleep: invalid number 'x'\n"),
    (["sleep"], 1, "", "sleep: missing operand\nUsage: sleep [N]...\n"),
    (["timeout", "0.05", "sleep", "5"], 143, "", ""),
    (["timeout", "1", "echo", "quick"], 0, "quick\n", ""),
    (["timeout", "1", "nope"], 127, "",
     "timeout: can't execute 'nope': No such file or directory\n"),
    (["ping", "-c", "1", "10.0.0.1"], 1, "", "ping: permission denied (are you root?)\n"),
    (["which", "curl", "nope"], 1, "/bin/curl\n", ""),
    (["uname"], 0, "Linux\n", ""),
    (["uname", "-n"], 0, "testpod\n", ""),
    (["[", "1", "=", "1", "]"], 0, "", ""),
    (["[", "1", "=", "1"], 2, "", "[: missing ]\n"),
    (["test", "1", "-eq", "x"], 2, "", "test: syntax error\n"),
    (["date", "-z"], 1, "", "date: invalid option -- 'z'\n"),
    (["ip", "route"], 0, "default via 127.77.0.1 dev eth0 \n"
                         "127.77.0.0/24 dev eth0 scope link  src 127.77.0.5 \n", ""),
    (["ip", "neigh"], 1, "", "ip: usage: ip [OPTIONS] address|route|link [COMMAND]\n"),
]


@pytest.mark.parametrize("argv,code,stdout,stderr", COMMANDS,
                         ids=[" ".join(c[0]) for c in COMMANDS])
async def test_commands(argv: list[str], code: int, stdout: str, stderr: str) -> None:
    assert await run_tool(argv) == (code, stdout, stderr)


async def test_env_lists_the_container_environment() -> None:
    code, out, _ = await run_tool(["env"])
    assert (code, out.splitlines()) == (0, [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=testpod",
        "GREETING=hello world", "EMPTY=", "HOME=/root"])


async def test_ip_and_ifconfig_show_the_pod_ip() -> None:
    for argv in (["ip", "a"], ["ifconfig"], ["ifconfig", "eth0"]):
        code, out, _ = await run_tool(argv)
        assert code == 0 and "127.77.0.5" in out, argv
