"""The supervisor as its clients see it: its files, its control protocol, and the calls.

A running supervisor keeps two files in the cluster's data dir: ``supervisor.json``
(``State``: its pid, its children's pids and exit codes), and, once the cluster is ready,
``supervisor.sock``, where each connection carries one request line ``start|stop|kill
NAME`` and gets one reply line ``ok: ...`` or ``error: ...``. The lines, and what a
request does to a running or dead child (``plan_request``), are plain decisions here.
``control`` sends one request and returns the reply; ``wait_process_ready`` then waits
until a restarted child is healthy. ``kubeloop process``, ``kubeloop status`` and
``Cluster`` use this module; ``supervisor.py`` serves the protocol and imports it, never
the other way round, so clients depend on the contract and not on the process code.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from kubeloop import probe, registry
from kubeloop.config import ClusterConfig

STATE_FILE = "supervisor.json"
SOCKET_FILE = "supervisor.sock"
SUPERVISOR = "supervisor"  # the supervisor's own name in status, reports and errors
CHILD_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
PROBE_INTERVAL = 0.05  # seconds between health checks
KUBELET_PORT = 10250  # a node agent listens there once up (its Node's daemonEndpoints)
INGRESS_HTTP_PORT = 80  # the ingress controller listens there (network.ingress_ip) once up


def process_names(config: ClusterConfig) -> list[str]:
    """The children ``kubeloop status`` lists and ``control`` accepts, in start order."""
    return config.process_names()


# --- the protocol: pure decisions ------------------------------------------------------


class Op(StrEnum):
    """What the control socket can do to one child."""

    START = "start"
    STOP = "stop"
    KILL = "kill"


class ControlError(Exception):
    """A control request failed; the message says why and what to do."""


@dataclass(frozen=True)
class ControlRequest:
    op: Op
    name: str


def unknown_process(name: str, names: Sequence[str]) -> str:
    if name == SUPERVISOR:
        return (f"the supervisor is the cluster itself: stop it with kubeloop down, start it "
                f"with kubeloop up; choose one of: {', '.join(names)}")
    return f"no process named {name!r} in this cluster; choose one of: {', '.join(names)}"


def check_process(name: str, names: Sequence[str]) -> str:
    """``name`` if the cluster has such a child, else ControlError naming the valid ones."""
    if name not in names:
        raise ControlError(unknown_process(name, names))
    return name


def parse_request(line: str, names: Sequence[str]) -> ControlRequest:
    """A request line ``OP NAME``; ControlError with the fix for anything else."""
    words = line.split()
    ops = "|".join(Op)
    if len(words) != 2:
        raise ControlError(f"expected one line '{ops} NAME', got {line.strip()!r}")
    op, name = words
    if op not in set(Op):
        raise ControlError(f"unknown operation {op!r}; use one of: {', '.join(Op)}")
    return ControlRequest(Op(op), check_process(name, names))


def format_request(op: Op, name: str) -> str:
    return f"{op} {name}\n"


def format_reply(ok: bool, message: str) -> str:
    return f"{'ok' if ok else 'error'}: {' '.join(message.split())}\n"


def parse_reply(line: str) -> tuple[bool, str]:
    """Inverse of ``format_reply``; anything else (or nothing) is an error."""
    head, sep, message = line.strip().partition(": ")
    if sep and head in ("ok", "error"):
        return head == "ok", message
    if not line.strip():
        return False, "the supervisor closed the connection without answering"
    return False, f"unexpected answer {line.strip()!r}"


class Action(StrEnum):
    ANSWER = "answer"  # reply at once with the plan's message
    TERMINATE = "terminate"  # SIGTERM, SIGKILL after the grace, reply once reaped
    KILL = "kill"  # SIGKILL, reply once reaped
    WAIT = "wait"  # already on its way out: reply once reaped
    SPAWN = "spawn"  # start it again, reply once spawned


@dataclass(frozen=True)
class Plan:
    action: Action
    ok: bool = True
    message: str = ""


def plan_request(request: ControlRequest, running: bool, ending: str) -> Plan:
    """What a request does to a child that is ``running`` (or not), ``ending`` being the
    op already asked of it ("" if none). Stop and kill of a dead child, and start of a
    running one, succeed doing nothing, as ``docker stop/start`` do."""
    name = request.name
    if request.op is Op.START:
        if not running:
            return Plan(Action.SPAWN)
        if ending:
            return Plan(Action.ANSWER, False,
                        f"{name} is still stopping; start it again once it has stopped")
        return Plan(Action.ANSWER, True, f"{name} is already running")
    if not running:
        return Plan(Action.ANSWER, True, f"{name} is not running")
    if request.op is Op.KILL:
        return Plan(Action.KILL)
    return Plan(Action.WAIT) if ending else Plan(Action.TERMINATE)


def ended_message(name: str, pid: int, requested: str, exit_code: int | None) -> str:
    """The reply once a child asked to stop or die is reaped."""
    if requested == Op.KILL:
        return f"Killed {name} (pid {pid})"
    return f"Stopped {name} (pid {pid}, exit code {exit_code})"


# --- the state file ----------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """What ``supervisor.json`` says about a running supervisor."""

    pid: int
    started_at: str
    children: dict[str, int]
    exit_codes: dict[str, int]  # children that ended (and were not started again)
    requested: dict[str, str] = field(default_factory=dict)  # ...on request: name -> op

    def running(self, name: str) -> bool:
        return name in self.children and name not in self.exit_codes and \
            registry.pid_alive(self.children[name])


def read_state(config: ClusterConfig) -> State | None:
    try:
        raw = json.loads((config.root / STATE_FILE).read_text())
        return State(
            pid=int(raw["pid"]),
            started_at=str(raw.get("started_at", "")),
            children={str(k): int(v) for k, v in raw.get("children", {}).items()},
            exit_codes={str(k): int(v) for k, v in raw.get("exit_codes", {}).items()},
            requested={str(k): str(v) for k, v in raw.get("requested", {}).items()},
        )
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # half-written by a supervisor killed mid-write: as good as absent


# --- the client side ---------------------------------------------------------------------


@contextmanager
def unix_address(path: Path) -> Iterator[str]:
    """``path`` as a unix socket address. Past the 107 bytes sun_path holds (a deep data
    dir), the same file is named through /proc/self/fd of its open folder instead."""
    if len(os.fsencode(str(path))) < 100:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def control(config: ClusterConfig, op: Op, name: str, timeout: float = CHILD_GRACE + 5) -> str:
    """Ask the running supervisor to start, stop or kill one child; its reply message.

    Returns once done: stopped/killed children are reaped, a started one is spawned (see
    ``wait_process_ready`` for its readiness). Raises ControlError with the fix.
    """
    check_process(name, process_names(config))
    path = config.root / SOCKET_FILE
    not_running = (f'cluster "{config.name}" is not running; '
                   f"start it with: kubeloop up --name {config.name}")
    state = read_state(config)
    if state is None or not registry.is_kubeloop_process(state.pid):
        raise ControlError(not_running)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            with unix_address(path) as address:
                sock.connect(address)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise ControlError(f"{not_running} (no control socket {path}: {e.strerror})") from e
        try:
            sock.sendall(format_request(op, name).encode())
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except TimeoutError as e:
            raise ControlError(f"no answer to {op} {name} within {timeout:g}s; "
                               f"see {config.logs / 'supervisor.log'}") from e
        except OSError as e:
            raise ControlError(f"{op} {name}: lost the supervisor ({e})") from e
    ok, message = parse_reply(reply.decode(errors="replace"))
    if not ok:
        raise ControlError(message)
    return message


def wait_process_ready(config: ClusterConfig, name: str, timeout: float) -> float:
    """Block until a (re)started child is healthy; seconds it took.

    apiserver: ``/readyz`` answers ok. node-N: its kubelet port accepts connections (the
    new agent is up) and the apiserver has the node Ready. ingress: its HTTP port accepts
    connections. ControlError if the child ends meanwhile or the time runs out.
    """
    check_process(name, process_names(config))
    began = time.monotonic()
    prober = probe.Prober(config)
    net = config.network
    node = config.node_name(int(name.removeprefix("node-"))) if name.startswith("node-") else ""
    while True:
        state = read_state(config)
        if state is not None and name in state.exit_codes:
            raise ControlError(f"{name} exited with code {state.exit_codes[name]} while "
                               f"starting; see its log: {config.logs / (name + '.log')}")
        if name == "apiserver":
            if prober.readyz():
                return time.monotonic() - began
        elif name == "ingress":
            if _listening(net.ingress_ip, INGRESS_HTTP_PORT):
                return time.monotonic() - began
        elif _listening(net.node_ip(int(name.removeprefix("node-"))),
                        KUBELET_PORT) and node in prober.ready_nodes():
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            what = {"apiserver": "/readyz does not answer ok",
                    "ingress": f"nothing listens on {net.ingress_ip}:{INGRESS_HTTP_PORT}"
                    }.get(name, f"{node} not Ready")
            raise ControlError(f"{name}: {what} after {timeout:g}s; "
                               f"see its log: {config.logs / (name + '.log')}")
        time.sleep(PROBE_INTERVAL)


def ready_message(config: ClusterConfig, name: str) -> str:
    """What ``wait_process_ready`` waited for, for ``kubeloop process start``'s last line."""
    if name == "apiserver":
        return "apiserver ready"
    if name == "ingress":
        return f"ingress listening on {config.network.ingress_ip}:{INGRESS_HTTP_PORT}"
    return f"node {config.node_name(int(name.removeprefix('node-')))} Ready"


def _listening(ip: str, port: int) -> bool:
    try:
        socket.create_connection((ip, port), timeout=PROBE_INTERVAL * 4).close()
    except OSError:
        return False
    return True

