"""The supervisor: one process that owns a cluster's apiserver and node agents.

``kubeloop up`` (and ``Cluster``) start it with ``spawn`` in a new session; it starts the
apiserver, then every node agent at once (they retry until the apiserver answers), waits
until ``/readyz`` answers and every node is Ready, and writes one line to the inherited
``--ready-fd`` pipe: ``ready`` or ``error: <process>: <message>``. Children get
PR_SET_PDEATHSIG so they never outlive it. It records itself in ``DIR/supervisor.json``
(pid, children, exit codes) for ``kubeloop status``/``down``; on SIGTERM/SIGINT (or when
the ``--exit-with`` process dies) it stops the children (SIGTERM, SIGKILL after 5 s),
removes the file and exits 0. A child that dies is logged with its exit code, not
restarted. Linux only (pidfds, prctl).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import functools
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kubeloop import probe, registry
from kubeloop.config import ClusterConfig, ConfigError

log = logging.getLogger("kubeloop.supervisor")

CHILD_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
PROBE_INTERVAL = 0.05
STATE_FILE = "supervisor.json"
SUPERVISOR = "supervisor"


# --- pure decisions -----------------------------------------------------------------


def child_commands(config: ClusterConfig, python: str) -> dict[str, list[str]]:
    """Process name -> argv, apiserver first (it is started first)."""
    commands = {"apiserver": [python, "-m", "apiserver", "--data-dir", config.data_dir]}
    for n in range(1, config.nodes + 1):
        commands[f"node-{n}"] = [
            python, "-m", "node_agent", "--data-dir", config.data_dir, "--node", str(n)
        ]  # fmt: skip
    return commands


@dataclass(frozen=True)
class Verdict:
    """Where start-up stands: ``done`` with ``error`` None means ready."""

    done: bool
    process: str = ""
    error: str | None = None


def startup_verdict(
    config: ClusterConfig,
    exited: dict[str, int],
    api_ready: bool,
    ready_nodes: set[str],
    elapsed: float,
    timeout: float,
) -> Verdict:
    """Decide whether start-up succeeded, failed (and which process to blame) or goes on."""
    if exited:
        name, code = next(iter(exited.items()))
        return Verdict(True, name, f"exited with code {code} during start-up")
    missing = [n for n in range(1, config.nodes + 1) if config.node_name(n) not in ready_nodes]
    if api_ready and not missing:
        return Verdict(True)
    if elapsed < timeout:
        return Verdict(False)
    if not api_ready:
        return Verdict(
            True, "apiserver", f"{config.network.api_url}/readyz not ready after {timeout:g}s"
        )
    names = ", ".join(config.node_name(n) for n in missing)
    return Verdict(True, f"node-{missing[0]}", f"not Ready after {timeout:g}s: {names}")


def format_report(verdict: Verdict) -> str:
    return "ready" if verdict.error is None else f"error: {verdict.process}: {verdict.error}"


def parse_report(line: str) -> Verdict:
    """Inverse of ``format_report``; anything unexpected blames the supervisor."""
    line = line.strip()
    if line == "ready":
        return Verdict(True)
    body = line.removeprefix("error: ")
    process, sep, message = body.partition(": ")
    if not line.startswith("error: ") or not sep:
        return Verdict(True, SUPERVISOR, f"unexpected report {line!r}")
    return Verdict(True, process, message)


# --- the supervisor process -----------------------------------------------------------


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    pidfd: int  # -1 once reaped
    exit_code: int | None = None


@dataclass
class Supervisor:
    config: ClusterConfig
    report: Callable[[str], None]
    timeout: float
    exit_with: int | None = None
    children: list[Child] = field(default_factory=list)
    stopping: str = ""  # why we stop, once asked to
    started_at: str = ""

    def run(self) -> int:
        """Start, report readiness, watch until told to stop; always stops the children."""
        sel = selectors.DefaultSelector()
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        stop_signals = (signal.SIGTERM, signal.SIGINT)
        old_handlers = {s: signal.signal(s, self._on_signal) for s in stop_signals}
        sel.register(wake_r, selectors.EVENT_READ, SUPERVISOR)
        if self.exit_with is not None:
            self._watch_owner(sel, self.exit_with)
        self.started_at = datetime.datetime.now(datetime.timezone.utc).isoformat()
        try:
            self._write_state()
            verdict = self._start(sel)
            self.report(format_report(verdict))
            if verdict.error is not None:
                log.error("start-up failed: %s: %s", verdict.process, verdict.error)
                return 0 if self.stopping else 1
            log.info("cluster %s ready", self.config.name)
            while not self.stopping:
                self._handle(sel.select(), sel)
            return 0
        finally:
            self._stop_children(sel)
            (self.config.root / STATE_FILE).unlink(missing_ok=True)
            signal.set_wakeup_fd(old_wakeup)
            for s, h in old_handlers.items():
                signal.signal(s, h)
            sel.close()
            os.close(wake_r)
            os.close(wake_w)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stopping = self.stopping or f"signal {signal.Signals(signum).name}"

    def _watch_owner(self, sel: selectors.BaseSelector, pid: int) -> None:
        try:
            sel.register(os.pidfd_open(pid), selectors.EVENT_READ, "owner")
        except ProcessLookupError:
            self.stopping = f"owner {pid} is gone"

    def _start(self, sel: selectors.BaseSelector) -> Verdict:
        self.config.logs.mkdir(parents=True, exist_ok=True)
        for name, argv in child_commands(self.config, sys.executable).items():
            self.children.append(self._spawn(name, argv, sel))
        self._write_state()
        began = time.monotonic()
        prober = probe.Prober(self.config)
        api_ready, ready_nodes = False, set[str]()
        while True:
            exited = {c.name: c.exit_code for c in self.children if c.exit_code is not None}
            elapsed = time.monotonic() - began
            if self.stopping:
                return Verdict(True, SUPERVISOR, f"stopped by {self.stopping} during start-up")
            verdict = startup_verdict(
                self.config, exited, api_ready, ready_nodes, elapsed, self.timeout
            )
            if verdict.done:
                return verdict
            self._handle(sel.select(PROBE_INTERVAL), sel)
            api_ready = api_ready or prober.readyz()
            if api_ready:
                ready_nodes = prober.ready_nodes()

    def _spawn(self, name: str, argv: list[str], sel: selectors.BaseSelector) -> Child:
        logfile = self.config.logs / f"{name}.log"
        rotate(logfile)
        with open(logfile, "wb") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.config.root,
                # Own process group: a terminal's Ctrl-C reaches only us, and we stop
                # the children in order.
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        child = Child(name, proc, os.pidfd_open(proc.pid))
        sel.register(child.pidfd, selectors.EVENT_READ, child)
        log.info("started %s (pid %d): %s", name, proc.pid, " ".join(argv))
        return child

    def _handle(
        self, events: list[tuple[selectors.SelectorKey, int]], sel: selectors.BaseSelector
    ) -> None:
        for key, _ in events:
            if key.data == SUPERVISOR:
                _drain(key.fd)
            elif key.data == "owner":
                self.stopping = self.stopping or "owner process exit"
                sel.unregister(key.fd)
                os.close(key.fd)
            elif isinstance(key.data, Child):
                self._reap(key.data, sel)
                if not self.stopping:
                    child = key.data
                    log.error("%s exited unexpectedly with code %s", child.name, child.exit_code)
                    self._write_state()

    def _reap(self, child: Child, sel: selectors.BaseSelector) -> None:
        child.exit_code = child.proc.wait()
        sel.unregister(child.pidfd)
        os.close(child.pidfd)
        child.pidfd = -1

    def _stop_children(self, sel: selectors.BaseSelector) -> None:
        alive = [c for c in self.children if c.pidfd >= 0]
        if not alive:
            return
        log.info("stopping %s", ", ".join(c.name for c in alive))
        for child in alive:
            _kill_quietly(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + CHILD_GRACE
        while any(c.pidfd >= 0 for c in alive) and time.monotonic() < deadline:
            for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
                if isinstance(key.data, Child):
                    self._reap(key.data, sel)
                    log.info("%s exited with code %s", key.data.name, key.data.exit_code)
                elif key.data == SUPERVISOR:
                    _drain(key.fd)
        for child in (c for c in alive if c.pidfd >= 0):
            log.warning("%s did not stop within %gs; killing it", child.name, CHILD_GRACE)
            _kill_quietly(child.proc.pid, signal.SIGKILL, group=True)
            self._reap(child, sel)

    def _write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "started_at": self.started_at,
            "children": {c.name: c.proc.pid for c in self.children},
            "exit_codes": {c.name: c.exit_code for c in self.children if c.exit_code is not None},
        }
        path = self.config.root / STATE_FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(path)


def rotate(logfile: Path) -> None:
    """Keep the previous run's log as ``<name>.log.1`` so each log shows one run."""
    if logfile.exists():
        logfile.replace(logfile.with_name(logfile.name + ".1"))


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass  # drained


@functools.cache
def _prctl() -> Callable[..., int]:
    prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    return prctl


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A preexec_fn asking the kernel to SIGTERM the child when ``parent`` dies."""
    prctl = _prctl()  # resolved before fork: the child must not load libraries

    def preexec() -> None:
        pr_set_pdeathsig = 1
        if prctl(pr_set_pdeathsig, int(signal.SIGTERM)) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


# --- the other side: starting, inspecting and stopping a supervisor ----------------------


@dataclass(frozen=True)
class State:
    """What ``supervisor.json`` says about a running supervisor."""

    pid: int
    started_at: str
    children: dict[str, int]
    exit_codes: dict[str, int]


def read_state(config: ClusterConfig) -> State | None:
    try:
        raw = json.loads((config.root / STATE_FILE).read_text())
        return State(
            pid=int(raw["pid"]),
            started_at=str(raw.get("started_at", "")),
            children={str(k): int(v) for k, v in raw.get("children", {}).items()},
            exit_codes={str(k): int(v) for k, v in raw.get("exit_codes", {}).items()},
        )
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # half-written by a supervisor killed mid-write: as good as absent


class StartError(Exception):
    """Start-up failed; ``process`` names whose log explains it."""

    def __init__(self, process: str, message: str) -> None:
        super().__init__(f"{process}: {message}")
        self.process = process
        self.message = message


@dataclass
class Launch:
    """A supervisor started in the background, until it reports."""

    proc: subprocess.Popen[bytes]
    ready_fd: int

    def wait(self, timeout: float) -> None:
        """Block until the supervisor reports; raise StartError unless it says ready."""
        deadline = time.monotonic() + timeout
        data = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.ready_fd, selectors.EVENT_READ)
            try:
                while not data.endswith(b"\n"):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not sel.select(remaining):
                        raise StartError(SUPERVISOR, f"no answer within {timeout:g}s")
                    chunk = os.read(self.ready_fd, 4096)
                    if not chunk:
                        code = self.proc.wait(CHILD_GRACE)
                        raise StartError(SUPERVISOR, f"exited with code {code} before reporting")
                    data += chunk
            finally:
                os.close(self.ready_fd)
        verdict = parse_report(data.decode(errors="replace"))
        if verdict.error is not None:
            raise StartError(verdict.process, verdict.error)


def spawn(config: ClusterConfig, timeout: float, exit_with: int | None = None) -> Launch:
    """Start a detached supervisor for the cluster whose files are in ``config.root``."""
    config.logs.mkdir(parents=True, exist_ok=True)
    logfile = config.logs / "supervisor.log"
    rotate(logfile)
    ready_r, ready_w = os.pipe()
    argv = [
        sys.executable, "-m", "kubeloop.supervisor", "--data-dir", config.data_dir,
        "--ready-fd", str(ready_w), "--timeout", str(timeout),
    ]  # fmt: skip
    if exit_with is not None:
        argv += ["--exit-with", str(exit_with)]
    try:
        with open(logfile, "wb") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=(ready_w,),
                start_new_session=True,
                cwd=config.root,
                env=_child_env(os.environ),
            )
    except BaseException:
        os.close(ready_r)
        raise
    finally:
        os.close(ready_w)
    return Launch(proc, ready_r)


def stop(config: ClusterConfig, pid: int, timeout: float = CHILD_GRACE + 5) -> list[str]:
    """Stop the supervisor ``pid`` and its children; return the names that were running.

    Waits until they are all gone and the apiserver port is free; past ``timeout`` it
    kills whatever is left.
    """
    state = read_state(config)
    targets = dict(state.children) if state else {}
    alive = {name: p for name, p in targets.items() if registry.pid_alive(p)}
    if registry.is_kubeloop_process(pid):
        alive = {SUPERVISOR: pid, **alive}
        os.kill(pid, signal.SIGTERM)
    else:  # orphans of a supervisor killed with SIGKILL before PDEATHSIG could act
        for child_pid in alive.values():
            _kill_quietly(child_pid, signal.SIGTERM)
    if not alive:
        (config.root / STATE_FILE).unlink(missing_ok=True)  # a stale one
        return []
    net = config.network
    deadline = time.monotonic() + timeout
    while any(registry.pid_alive(p) for p in alive.values()) or not registry.address_bindable(
        net.apiserver_ip, net.api_port
    ):
        if time.monotonic() > deadline:
            for name, p in alive.items():
                _kill_quietly(p, signal.SIGKILL, group=name != SUPERVISOR)
            break
        time.sleep(0.02)
    (config.root / STATE_FILE).unlink(missing_ok=True)
    return list(alive)


def _kill_quietly(pid: int, sig: signal.Signals, group: bool = False) -> None:
    try:
        # The group also holds whatever the child started itself (a node's workloads).
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass  # already gone, which is what we want


def _child_env(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The environment plus, for a source checkout, its root on PYTHONPATH.

    Appended, not prepended, so a PYTHONPATH chosen by the caller still wins.
    """
    env = dict(environ)
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").exists():
        parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join([*parts, str(root)])
    return env


# --- entry point ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubeloop.supervisor")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--exit-with", type=int, help="stop when this pid exits")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    ready = os.fdopen(args.ready_fd, "w")

    def report(line: str) -> None:
        ready.write(line + "\n")
        ready.close()

    try:
        config = ClusterConfig.load(args.data_dir)
    except ConfigError as e:
        report(format_report(Verdict(True, SUPERVISOR, str(e))))
        return 1
    return Supervisor(config, report, args.timeout, args.exit_with).run()


if __name__ == "__main__":
    sys.exit(main())
