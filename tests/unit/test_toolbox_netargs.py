"""Argument handling and wording of the network commands that needs no socket: busybox
wget's progress line and file names, nc's options and port lists, and the usage errors
both print through toolbox.run."""

from __future__ import annotations

import pytest

from node_agent.toolbox.httpwire import parse_url
from node_agent.toolbox.netcat import NcOptions, parse_args, parse_ports
from node_agent.toolbox.wget import output_name, progress_line, size5
from tests.unit.test_toolbox_shell import run_tool

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize("n,text", [
    (5, "    5"), (99999, "99999"), (100000, "97.6k"), (307200, " 300k"),
    (5 * 1024 * 1024, " 5.0M"), (2048 * 1024 * 1024, " 2.0G"),
], ids=["tiny", "max-bytes", "decimal-k", "k", "M", "G"])
def test_size5(n: int, text: str) -> None:
    assert size5(n) == text


@pytest.mark.parametrize("name,size,line", [
    ("-", 3495, "-                    100% |********************************|  3495  0:00:00 "
                "ETA\n"),
    ("null", 307200, "null                 100% |********************************|  300k  "
                     "0:00:00 ETA\n"),
    ("a-very-long-file-name.tar.gz", 5, "a-very-long-file-nam 100% |"
                                        "********************************|     5  0:00:00 ETA\n"),
], ids=["stdout", "k", "long-name"])
def test_progress_line_matches_busybox(name: str, size: int, line: str) -> None:
    assert progress_line(name, size) == line


@pytest.mark.parametrize("url,name", [
    ("http://nginx", "index.html"), ("http://h/dir/", "index.html"),
    ("http://h/a/file.txt?x=1", "file.txt"),
], ids=["root", "dir", "file"])
def test_output_name(url: str, name: str) -> None:
    assert output_name(parse_url(url)) == name


@pytest.mark.parametrize("words,ports", [
    (["80"], [80]), (["8000-8002"], [8000, 8001, 8002]), (["22", "80"], [22, 80]),
    (["0"], None), (["70000"], None), (["x"], None), (["9-1"], None), (["1-"], None),
], ids=["one", "range", "several", "zero", "big", "name", "reversed", "open-range"])
def test_parse_ports(words: list[str], ports: list[int] | None) -> None:
    assert parse_ports(words) == ports


# (argv, fields or error)
NC_ARGS = [
    (["-zv", "db", "5432"], {"zero": True, "verbose": 1, "host": "db", "ports": [5432]}),
    (["-vv", "-w", "1", "h", "1-2"], {"verbose": 2, "wait": 1.0, "ports": [1, 2]}),
    (["-w1", "-u", "h", "53"], {"wait": 1.0, "udp": True}),
    (["-lk", "-p", "8080", "-e", "cat", "-n"], {"listen": True, "keep": True,
                                                "local_port": 8080, "program": ["cat", "-n"]}),
    (["-q", "h", "1"], "invalid option -- 'q'"),
    (["-w"], "option requires an argument -- 'w'"),
    (["-w", "x", "h", "1"], "invalid number 'x'"),
    (["h"], "usage"),
    (["-l"], "usage"),
    (["h", "http"], "bad port 'http'"),
    (["-l", "-p", "0"], "bad local port '0'"),
    (["h", "1", "-e"], "option requires an argument -- 'e'"),
]


@pytest.mark.parametrize("argv,expected", NC_ARGS, ids=[" ".join(a[0]) for a in NC_ARGS])
def test_nc_parse_args(argv: list[str], expected: dict[str, object] | str) -> None:
    parsed = parse_args(argv)
    if isinstance(expected, str):
        assert parsed == expected
    else:
        assert isinstance(parsed, NcOptions)
        assert {k: getattr(parsed, k) for k in expected} == expected


NC_USAGE = ("Usage: nc [OPTIONS] HOST PORT  - connect\n"
            "nc [OPTIONS] -l -p PORT [HOST] [PORT]  - listen\n")
WGET_USAGE = ("Usage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR]\n"
              "\t[--post-data STR | --post-file FILE] [-Y on/off]\n"
              "\t[--no-check-certificate] [-P DIR] [-U AGENT] [-T SEC] URL...\n")

# (argv, exit code, stdout, stderr) — nothing here touches the network
USAGE = [
    (["nc", "h"], 1, "", NC_USAGE),
    (["nc", "-x", "h", "1"], 1, "", f"nc: invalid option -- 'x'\n{NC_USAGE}"),
    (["nc", "-n", "name", "80"], 1, "", "nc: bad address 'name'\n"),
    (["wget"], 1, "", WGET_USAGE),
    (["wget", "--bogus", "x"], 1, "", f"wget: unrecognized option '--bogus'\n{WGET_USAGE}"),
    (["wget", "-T", "soon", "x"], 1, "", "wget: invalid number 'soon'\n"),
    (["wget", "ftp2://x/"], 1, "", "wget: not an http or ftp url: ftp2://x/\n"),
    (["curl"], 2, "", "curl: no URL specified\n"
                      "curl: try 'curl --help' or 'curl --manual' for more information\n"),
    (["curl", "-s", "ftp://x/"], 1, "", ""),
    (["curl", "-sS", "ftp://x/"], 1, "", 'curl: (1) Protocol "ftp" not supported\n'),
    (["curl", "-sS", "http://:80/", "-w", "%{http_code} %{exitcode}\\n"], 3, "000 3\n",
     "curl: (3) URL rejected: No host part in the URL\n"),
    (["nslookup"], 1, "", "Usage: nslookup [-type=QUERY_TYPE] [-debug] HOST [DNS_SERVER]\n\n"
                          "Query DNS about HOST\n\nQUERY_TYPE: soa,ns,a,aaaa,cname,mx,txt,ptr,"
                          "srv,any\n"),
    (["nslookup", "-type=bogus", "x"], 1, "", 'nslookup: invalid query type "bogus"\n'),
    (["dig", "+bogus"], 1, "", "Invalid option: +bogus\n"
                               "Usage:  dig [@global-server] [domain] [q-type] [q-class] {q-opt}\n"
                               "            {global-d-opt} host [@local-server] {local-d-opt}\n"
                               "            [ host [@local-server] {local-d-opt} [...]]\n"),
    (["host"], 1, "", "Usage: host [-t type] hostname [server]\n"),
]


@pytest.mark.parametrize("argv,code,stdout,stderr", USAGE, ids=[" ".join(u[0]) for u in USAGE])
async def test_usage(argv: list[str], code: int, stdout: str, stderr: str) -> None:
    assert await run_tool(argv) == (code, stdout, stderr)


async def test_curl_prints_the_meter_when_stdout_is_not_a_terminal() -> None:
    code, out, err = await run_tool(["curl", "ftp://x/"])
    assert (code, out) == (1, "")
    assert err.startswith("  % Total    % Received % Xferd  Average Speed")
    assert err.endswith('curl: (1) Protocol "ftp" not supported\n')
    assert (await run_tool(["curl", "ftp://x/"], tty=True))[2] == \
        'curl: (1) Protocol "ftp" not supported\n'
