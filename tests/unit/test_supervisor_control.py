"""The supervisor's control socket as decisions: request and reply lines, what each
operation does to a running or dead child, and how ``kubeloop status`` and ``kubeloop
process`` show and explain it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from kubeloop import cli, control
from kubeloop.cli import ProcessView
from kubeloop.config import ClusterConfig
from kubeloop.control import Action, ControlError, ControlRequest, Op, Plan

CONFIG = ClusterConfig(name="demo", data_dir="/d", nodes=2)
NAMES = ["apiserver", "node-1", "node-2", "ingress"]


def test_process_names_follow_the_start_order() -> None:
    assert control.process_names(CONFIG) == NAMES


@pytest.mark.parametrize(
    ("name", "message"),
    [("apiserver", "apiserver ready"), ("node-2", "node demo-node-2 Ready"),
     ("ingress", "ingress listening on 127.10.0.253:80")],
    ids=["apiserver", "node", "ingress"])
def test_ready_message(name: str, message: str) -> None:
    assert control.ready_message(CONFIG, name) == message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("stop node-1\n", ControlRequest(Op.STOP, "node-1")),
        ("kill apiserver", ControlRequest(Op.KILL, "apiserver")),
        ("stop ingress", ControlRequest(Op.STOP, "ingress")),
        ("  start   node-2 \r\n", ControlRequest(Op.START, "node-2")),
        ("restart node-1", "unknown operation 'restart'; use one of: start, stop, kill"),
        ("STOP node-1", "unknown operation 'STOP'; use one of: start, stop, kill"),
        ("stop node-9", "no process named 'node-9' in this cluster; "
                        "choose one of: apiserver, node-1, node-2, ingress"),
        ("stop supervisor", "the supervisor is the cluster itself: stop it with kubeloop "
                            "down, start it with kubeloop up; choose one of: apiserver, "
                            "node-1, node-2, ingress"),
        ("stop", "expected one line 'start|stop|kill NAME', got 'stop'"),
        ("", "expected one line 'start|stop|kill NAME', got ''"),
        ("stop node-1 node-2", "expected one line 'start|stop|kill NAME', "
                               "got 'stop node-1 node-2'"),
    ],
    ids=["stop", "kill-no-newline", "stop-ingress", "start-extra-spaces", "unknown-op", "ops-are-lower-case",
         "unknown-process", "supervisor-is-not-a-child", "missing-name", "empty",
         "two-names"],
)  # fmt: skip
def test_parse_request(line: str, expected: ControlRequest | str) -> None:
    if isinstance(expected, ControlRequest):
        assert control.parse_request(line, NAMES) == expected
        assert control.parse_request(control.format_request(expected.op, expected.name),
                                     NAMES) == expected
    else:
        with pytest.raises(ControlError) as e:
            control.parse_request(line, NAMES)
        assert str(e.value) == expected


@pytest.mark.parametrize(
    ("ok", "message", "line"),
    [
        (True, "Stopped node-1 (pid 7, exit code 0)", "ok: Stopped node-1 (pid 7, exit code 0)\n"),
        (False, "node-1 is still stopping", "error: node-1 is still stopping\n"),
        (False, "two\nlines", "error: two lines\n"),
    ],
    ids=["ok", "error", "one-line-always"],
)  # fmt: skip
def test_reply_round_trip(ok: bool, message: str, line: str) -> None:
    assert control.format_reply(ok, message) == line
    assert control.parse_reply(line) == (ok, " ".join(message.split()))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", (False, "the supervisor closed the connection without answering")),
        ("maybe: so", (False, "unexpected answer 'maybe: so'")),
        ("ok", (False, "unexpected answer 'ok'")),
    ],
    ids=["nothing", "unknown-head", "no-message"],
)
def test_parse_reply_rejects_the_unexpected(line: str, expected: tuple[bool, str]) -> None:
    assert control.parse_reply(line) == expected


@pytest.mark.parametrize(
    ("op", "running", "ending", "expected"),
    [
        (Op.STOP, True, "", Plan(Action.TERMINATE)),
        (Op.STOP, True, "stop", Plan(Action.WAIT)),
        (Op.STOP, True, "kill", Plan(Action.WAIT)),
        (Op.STOP, False, "", Plan(Action.ANSWER, True, "node-1 is not running")),
        (Op.KILL, True, "", Plan(Action.KILL)),
        (Op.KILL, True, "stop", Plan(Action.KILL)),
        (Op.KILL, False, "", Plan(Action.ANSWER, True, "node-1 is not running")),
        (Op.START, False, "", Plan(Action.SPAWN)),
        (Op.START, True, "", Plan(Action.ANSWER, True, "node-1 is already running")),
        (Op.START, True, "stop", Plan(Action.ANSWER, False,
                                      "node-1 is still stopping; start it again once it has "
                                      "stopped")),
    ],
    ids=["stop-running", "stop-while-stopping", "stop-while-dying", "stop-dead",
         "kill-running", "kill-hurries-a-stop", "kill-dead", "start-dead",
         "start-running-is-a-no-op", "start-while-stopping"],
)  # fmt: skip
def test_plan_request(op: Op, running: bool, ending: str, expected: Plan) -> None:
    assert control.plan_request(ControlRequest(op, "node-1"), running, ending) == expected


@pytest.mark.parametrize(
    ("requested", "code", "message"),
    [
        ("stop", 0, "Stopped node-1 (pid 42, exit code 0)"),
        ("stop", -9, "Stopped node-1 (pid 42, exit code -9)"),
        ("kill", -9, "Killed node-1 (pid 42)"),
    ],
    ids=["stopped", "stop-that-needed-sigkill", "killed"],
)
def test_ended_message(requested: str, code: int, message: str) -> None:
    assert control.ended_message("node-1", 42, requested, code) == message


@pytest.mark.parametrize(
    ("view", "state", "problem"),
    [
        (ProcessView("node-1", 12, True), "running", None),
        (ProcessView("node-1", 12, False, -9, "kill"), "killed", "node-1 killed on request"),
        (ProcessView("node-1", 12, False, 0, "stop"), "stopped", "node-1 stopped on request"),
        (ProcessView("node-1", 12, False, -9, "stop"), "stopped (-9)",
         "node-1 stopped (-9) on request"),
        (ProcessView("node-1", 12, False, -9), "exited (-9)", "node-1 exited (-9)"),
        (ProcessView("node-1", 12, False), "stopped", "node-1 stopped"),
    ],
    ids=["running", "killed", "stopped", "stop-ended-by-sigkill", "crashed", "vanished"],
)  # fmt: skip
def test_process_state(view: ProcessView, state: str, problem: str | None) -> None:
    assert cli.process_state(view) == state
    if problem is not None:
        assert cli.problem(view) == problem


@pytest.mark.parametrize(
    ("down", "hint"),
    [
        ([], None),
        (["node-2"], "Start again with: kubeloop process start node-2 --name demo"),
        (["apiserver", "node-1"], "Start again with: kubeloop process start apiserver --name "
                                  "demo; kubeloop process start node-1 --name demo"),
    ],
    ids=["all-running", "one-down", "two-down"],
)  # fmt: skip
def test_start_hint(down: list[str], hint: str | None) -> None:
    views = [ProcessView("supervisor", 1, True)] + [
        ProcessView(name, 2 + i, name not in down, None if name not in down else -9, "kill")
        for i, name in enumerate(NAMES)
    ]
    assert cli.start_hint(CONFIG, views) == hint


def test_status_report_of_a_killed_agent() -> None:
    views = [ProcessView("supervisor", 1, True), ProcessView("apiserver", 2, True),
             ProcessView("node-1", 3, True), ProcessView("node-2", 4, False, -9, "kill")]
    table, problems = cli.status_report(CONFIG, views, True, {"demo-node-1"})
    assert table.splitlines()[-1].split() == ["node-2", "4", "killed", "127.10.0.2", "NotReady"]
    assert problems == ["node-2 killed on request", "node demo-node-2 is not Ready"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["process", "stop", "node-1"], {"op": "stop", "process": "node-1", "name": None}),
        (["process", "kill", "apiserver", "--name", "x"],
         {"op": "kill", "process": "apiserver", "name": "x"}),
        (["process", "start", "node-2", "--timeout", "5"],
         {"op": "start", "process": "node-2", "timeout": 5.0}),
    ],
    ids=["stop", "kill-with-cluster", "start-timeout"],
)  # fmt: skip
def test_process_parser(argv: list[str], expected: dict[str, object]) -> None:
    args = cli.build_parser().parse_args(argv)
    assert {k: getattr(args, k) for k in expected} == expected
    assert args.run is cli.cmd_process


@pytest.mark.parametrize("argv", [["process", "restart", "node-1"], ["process", "stop"]],
                         ids=["unknown-op", "missing-name"])
def test_process_parser_refuses(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(argv)


@pytest.mark.parametrize("depth", [1, 12], ids=["short-path", "past-sun-path"])
def test_unix_address_binds_and_connects_at_any_depth(tmp_path: Path, depth: int) -> None:
    folder = tmp_path.joinpath(*["a-rather-long-folder-name"] * depth)
    folder.mkdir(parents=True)
    path = folder / control.SOCKET_FILE
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        with control.unix_address(path) as address:
            server.bind(address)
        server.listen()
        assert path.exists()
        with control.unix_address(path) as address:
            client.connect(address)
        server.accept()[0].close()
