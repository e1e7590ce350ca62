"""The supervisor: one process that owns a cluster's apiserver and node agents.

``kubeloop up`` (and ``Cluster``) start it with ``spawn`` in a new session; it starts the
apiserver, then every node agent at once (they retry until the apiserver answers), waits
until ``/readyz`` answers and every node is Ready, and writes one line to the inherited
``--ready-fd`` pipe: ``ready`` or ``error: <process>: <message>``. Children get
PR_SET_PDEATHSIG so they never outlive it. It inherits the cluster's locked slot file
(``--slot-fd``, see ``registry.Slots``) and keeps it open until it exits: the kernel then
drops the claim, so the slot is busy exactly as long as the cluster lives, crash or not.
It records itself in ``DIR/supervisor.json`` (pid, children, exit codes) for ``kubeloop
status``/``down``; on SIGTERM/SIGINT (or when the ``--exit-with`` process dies) it stops
the children (SIGTERM, SIGKILL after 5 s), removes the file and exits 0. A child that dies
is logged with its exit code, not restarted: it stays dead until asked to start (the
NotReady drill depends on that).

Once ready it also listens on ``DIR/supervisor.sock`` (a unix socket, mode 0600) for one
request per connection, a line ``start|stop|kill NAME`` answered by one line ``ok: ...`` or
``error: ...``: ``stop`` is SIGTERM, SIGKILL after 5 s, answered once the child is reaped;
``kill`` is SIGKILL to its process group; ``start`` spawns the same command again (its
log rotated as at start-up) if it is not running, answered once spawned. Everything runs
in the one selector loop, so a slow stop never blocks the others. The files' format, the
request and reply lines and what each request does are in ``control.py``, with the client
side. Linux only (pidfds, prctl).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import fcntl
import functools
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kubeloop import control, probe, registry
from kubeloop.config import ClusterConfig, ConfigError

log = logging.getLogger("kubeloop.supervisor")

CONTROL = "control"  # selector key data of the listening socket
WAKEUP = "wakeup"  # ...and of the pipe signals wake the loop through
REQUEST_TIMEOUT = 5.0  # seconds a client has to send its request line
MAX_REQUEST = 1024  # bytes in a request line


# --- pure decisions -----------------------------------------------------------------


def child_commands(config: ClusterConfig, python: str) -> dict[str, list[str]]:
    """Process name (as ``config.process_names`` has them) -> argv, in start order: the
    apiserver first, then the node agents and the ingress controller."""
    def argv(name: str) -> list[str]:
        if name.startswith("node-"):
            return [python, "-m", "node_agent", "--data-dir", config.data_dir,
                    "--node", name.removeprefix("node-")]
        return [python, "-m", name, "--data-dir", config.data_dir]

    return {name: argv(name) for name in config.process_names()}


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
        return Verdict(True, control.SUPERVISOR, f"unexpected report {line!r}")
    return Verdict(True, process, message)


# --- the supervisor process -----------------------------------------------------------


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes]
    pidfd: int  # -1 once reaped
    exit_code: int | None = None
    requested: str = ""  # the op ("stop", "kill") asked of it, so its end is no crash
    kill_at: float | None = None  # when a stop turns into SIGKILL
    waiters: list[socket.socket] = field(default_factory=list)  # owed a reply once reaped

    @property
    def running(self) -> bool:
        return self.pidfd >= 0


@dataclass
class _Connection:
    """A control client that has not sent its whole request line yet."""

    sock: socket.socket
    deadline: float
    data: bytes = b""


@dataclass
class Supervisor:
    config: ClusterConfig
    report: Callable[[str], None]
    timeout: float
    exit_with: int | None = None
    children: list[Child] = field(default_factory=list)
    stopping: str = ""  # why we stop, once asked to
    started_at: str = ""
    listener: socket.socket | None = None
    connections: list[_Connection] = field(default_factory=list)

    def run(self) -> int:
        """Start, report readiness, watch until told to stop; always stops the children."""
        sel = selectors.DefaultSelector()
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        stop_signals = (signal.SIGTERM, signal.SIGINT)
        old_handlers = {s: signal.signal(s, self._on_signal) for s in stop_signals}
        sel.register(wake_r, selectors.EVENT_READ, WAKEUP)
        if self.exit_with is not None:
            self._watch_owner(sel, self.exit_with)
        self.started_at = datetime.datetime.now(datetime.timezone.utc).isoformat()
        try:
            self._write_state()
            verdict = self._start(sel)
            if verdict.error is None:
                verdict = self._listen(sel)  # before reporting: once ready, control works
            self.report(format_report(verdict))
            if verdict.error is not None:
                log.error("start-up failed: %s: %s", verdict.process, verdict.error)
                return 0 if self.stopping else 1
            log.info("cluster %s ready", self.config.name)
            while not self.stopping:
                self._handle(sel.select(self._next_timeout()), sel)
                self._expire(sel, time.monotonic())
            return 0
        finally:
            self._close_control(sel)
            self._stop_children(sel)
            (self.config.root / control.STATE_FILE).unlink(missing_ok=True)
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
                return Verdict(True, control.SUPERVISOR,
                               f"stopped by {self.stopping} during start-up")
            verdict = startup_verdict(
                self.config, exited, api_ready, ready_nodes, elapsed, self.timeout
            )
            if verdict.done:
                return verdict
            self._handle(sel.select(control.PROBE_INTERVAL), sel)
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
        child = Child(name, argv, proc, os.pidfd_open(proc.pid))
        sel.register(child.pidfd, selectors.EVENT_READ, child)
        log.info("started %s (pid %d): %s", name, proc.pid, " ".join(argv))
        return child

    def _handle(
        self, events: list[tuple[selectors.SelectorKey, int]], sel: selectors.BaseSelector
    ) -> None:
        for key, _ in events:
            if key.data == WAKEUP:
                _drain(key.fd)
            elif key.data == "owner":
                self.stopping = self.stopping or "owner process exit"
                sel.unregister(key.fd)
                os.close(key.fd)
            elif key.data == CONTROL:
                self._accept(sel)
            elif isinstance(key.data, _Connection):
                self._read_request(key.data, sel)
            elif isinstance(key.data, Child):
                child = key.data
                self._reap(child, sel)
                if child.requested:
                    log.info("%s ended on request (%s), exit code %s", child.name,
                             child.requested, child.exit_code)
                elif not self.stopping:
                    log.error("%s exited unexpectedly with code %s", child.name, child.exit_code)
                if not self.stopping:
                    self._write_state()

    def _reap(self, child: Child, sel: selectors.BaseSelector) -> None:
        child.exit_code = child.proc.wait()
        sel.unregister(child.pidfd)
        os.close(child.pidfd)
        child.pidfd = -1
        child.kill_at = None
        message = control.ended_message(child.name, child.proc.pid, child.requested,
                                        child.exit_code)
        for conn in child.waiters:
            _answer(conn, True, message)
        child.waiters.clear()

    def _stop_children(self, sel: selectors.BaseSelector) -> None:
        alive = [c for c in self.children if c.running]
        if not alive:
            return
        log.info("stopping %s", ", ".join(c.name for c in alive))
        for child in alive:
            _kill_quietly(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + control.CHILD_GRACE
        while any(c.running for c in alive) and time.monotonic() < deadline:
            for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
                if isinstance(key.data, Child):
                    self._reap(key.data, sel)
                    log.info("%s exited with code %s", key.data.name, key.data.exit_code)
                elif key.data == WAKEUP:
                    _drain(key.fd)
        for child in (c for c in alive if c.running):
            log.warning("%s did not stop within %gs; killing it", child.name, control.CHILD_GRACE)
            _kill_quietly(child.proc.pid, signal.SIGKILL, group=True)
            self._reap(child, sel)

    # --- the control socket -----------------------------------------------------------
    def _listen(self, sel: selectors.BaseSelector) -> Verdict:
        path = self.config.root / control.SOCKET_FILE
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # 0600 from the start: only our user may control us
        try:
            path.unlink(missing_ok=True)  # left by a supervisor killed with SIGKILL
            with control.unix_address(path) as address:
                sock.bind(address)
            sock.listen(16)
            sock.setblocking(False)
        except OSError as e:
            sock.close()
            return Verdict(True, control.SUPERVISOR, f"cannot listen on {path}: {e}")
        finally:
            os.umask(old_umask)
        sel.register(sock, selectors.EVENT_READ, CONTROL)
        self.listener = sock
        return Verdict(True)

    def _close_control(self, sel: selectors.BaseSelector) -> None:
        for conn in self.connections:
            sel.unregister(conn.sock)
            _answer(conn.sock, False, "the cluster is shutting down")
        self.connections.clear()
        if self.listener is not None:
            sel.unregister(self.listener)
            self.listener.close()
            self.listener = None
            (self.config.root / control.SOCKET_FILE).unlink(missing_ok=True)

    def _accept(self, sel: selectors.BaseSelector) -> None:
        assert self.listener is not None
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return  # the client gave up meanwhile
        sock.setblocking(False)
        conn = _Connection(sock, time.monotonic() + REQUEST_TIMEOUT)
        self.connections.append(conn)
        sel.register(sock, selectors.EVENT_READ, conn)

    def _read_request(self, conn: _Connection, sel: selectors.BaseSelector) -> None:
        try:
            chunk = conn.sock.recv(MAX_REQUEST)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            log.warning("control connection failed: %s", e)
            chunk = b""
            conn.data = b""
        conn.data += chunk
        if chunk and b"\n" not in conn.data and len(conn.data) <= MAX_REQUEST:
            return  # more to come
        sel.unregister(conn.sock)
        self.connections.remove(conn)
        if not conn.data:
            conn.sock.close()
            return
        line = conn.data.partition(b"\n")[0].decode(errors="replace")
        try:
            if len(conn.data) > MAX_REQUEST and b"\n" not in conn.data:
                raise control.ControlError(f"request longer than {MAX_REQUEST} bytes")
            request = control.parse_request(line, [c.name for c in self.children])
        except control.ControlError as e:
            log.warning("control request %r refused: %s", line[:80], e)
            _answer(conn.sock, False, str(e))
            return
        self._execute(request, conn.sock, sel)

    def _execute(self, request: control.ControlRequest, sock: socket.socket,
                 sel: selectors.BaseSelector) -> None:
        index, child = next((i, c) for i, c in enumerate(self.children) if c.name == request.name)
        ending = child.requested if child.running else ""
        plan = control.plan_request(request, child.running, ending)
        log.info("control: %s %s -> %s", request.op, request.name, plan.action)
        if plan.action is control.Action.ANSWER:
            _answer(sock, plan.ok, plan.message)
            return
        if plan.action is control.Action.SPAWN:
            try:
                new = self._spawn(child.name, child.argv, sel)
            except OSError as e:
                _answer(sock, False, f"cannot start {child.name}: {e}")
                return
            self.children[index] = new
            self._write_state()
            _answer(sock, True, f"Started {new.name} (pid {new.proc.pid})")
            return
        child.waiters.append(sock)
        if plan.action is control.Action.KILL:
            child.requested = control.Op.KILL
            _kill_quietly(child.proc.pid, signal.SIGKILL, group=True)
        elif plan.action is control.Action.TERMINATE:
            child.requested = control.Op.STOP
            child.kill_at = time.monotonic() + control.CHILD_GRACE
            _kill_quietly(child.proc.pid, signal.SIGTERM)

    def _next_timeout(self) -> float | None:
        deadlines = [c.deadline for c in self.connections]
        deadlines += [c.kill_at for c in self.children if c.kill_at is not None]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _expire(self, sel: selectors.BaseSelector, now: float) -> None:
        for conn in [c for c in self.connections if c.deadline <= now]:
            log.warning("control client sent no request within %gs", REQUEST_TIMEOUT)
            sel.unregister(conn.sock)
            self.connections.remove(conn)
            _answer(conn.sock, False, f"no request line within {REQUEST_TIMEOUT:g}s")
        for child in self.children:
            if child.kill_at is not None and child.kill_at <= now and child.running:
                log.warning("%s did not stop within %gs; killing it", child.name,
                            control.CHILD_GRACE)
                child.kill_at = None
                _kill_quietly(child.proc.pid, signal.SIGKILL, group=True)

    def _write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "started_at": self.started_at,
            "children": {c.name: c.proc.pid for c in self.children},
            "exit_codes": {c.name: c.exit_code for c in self.children if c.exit_code is not None},
            "requested": {c.name: c.requested for c in self.children
                          if c.exit_code is not None and c.requested},
        }
        path = self.config.root / control.STATE_FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(path)


def _answer(sock: socket.socket, ok: bool, message: str) -> None:
    """Send the one reply line and close; a client that went away is only logged."""
    try:
        sock.setblocking(True)
        sock.settimeout(1.0)
        sock.sendall(control.format_reply(ok, message).encode())
    except OSError as e:
        log.warning("could not answer a control client (%s): %s", message, e)
    finally:
        sock.close()


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


# --- the other side: starting and stopping a supervisor ---------------------------------


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
                        raise StartError(control.SUPERVISOR, f"no answer within {timeout:g}s")
                    chunk = os.read(self.ready_fd, 4096)
                    if not chunk:
                        code = self.proc.wait(control.CHILD_GRACE)
                        raise StartError(control.SUPERVISOR,
                                         f"exited with code {code} before reporting")
                    data += chunk
            finally:
                os.close(self.ready_fd)
        verdict = parse_report(data.decode(errors="replace"))
        if verdict.error is not None:
            raise StartError(verdict.process, verdict.error)


def spawn(
    config: ClusterConfig, timeout: float, slot_fd: int, exit_with: int | None = None
) -> Launch:
    """Start a detached supervisor for the cluster whose files are in ``config.root``.

    ``slot_fd`` is the locked slot file (``registry.Slots.held``); the supervisor gets its
    own copy and holds the claim from then on, whatever the caller does with its copy.
    """
    config.logs.mkdir(parents=True, exist_ok=True)
    logfile = config.logs / "supervisor.log"
    rotate(logfile)
    ready_r, ready_w = os.pipe()
    argv = [
        sys.executable, "-m", "kubeloop.supervisor", "--data-dir", config.data_dir,
        "--ready-fd", str(ready_w), "--slot-fd", str(slot_fd), "--timeout", str(timeout),
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
                pass_fds=(ready_w, slot_fd),
                start_new_session=True,
                cwd=config.root,
                env=child_env(os.environ),
            )
    except BaseException:
        os.close(ready_r)
        raise
    finally:
        os.close(ready_w)
    return Launch(proc, ready_r)


def stop(config: ClusterConfig, pid: int, timeout: float = control.CHILD_GRACE + 5) -> list[str]:
    """Stop the supervisor ``pid`` and its children; return the names that were running.

    Waits until they are all gone and the apiserver port is free; past ``timeout`` it
    kills whatever is left.
    """
    state = control.read_state(config)
    targets = dict(state.children) if state else {}
    # A child stopped on request was reaped: its pid may belong to someone else by now.
    alive = {name: p for name, p in targets.items() if state and state.running(name)}
    if registry.is_kubeloop_process(pid):
        alive = {control.SUPERVISOR: pid, **alive}
        os.kill(pid, signal.SIGTERM)
    else:  # orphans of a supervisor killed with SIGKILL before PDEATHSIG could act
        for child_pid in alive.values():
            _kill_quietly(child_pid, signal.SIGTERM)
    if not alive:
        (config.root / control.STATE_FILE).unlink(missing_ok=True)  # a stale one
        (config.root / control.SOCKET_FILE).unlink(missing_ok=True)
        return []
    net = config.network
    deadline = time.monotonic() + timeout
    while any(registry.pid_alive(p) for p in alive.values()) or not registry.address_bindable(
        net.apiserver_ip, net.api_port
    ):
        if time.monotonic() > deadline:
            for name, p in alive.items():
                _kill_quietly(p, signal.SIGKILL, group=name != control.SUPERVISOR)
            break
        time.sleep(0.02)
    (config.root / control.STATE_FILE).unlink(missing_ok=True)
    (config.root / control.SOCKET_FILE).unlink(missing_ok=True)
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


def child_env(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
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
    parser.add_argument("--slot-fd", type=int, required=True,
                        help="the locked slot file, kept open (so claimed) until exit")
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
        # Ours already (the launcher's claim, inherited); fails if another process has it.
        fcntl.flock(args.slot_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        report(format_report(Verdict(True, control.SUPERVISOR,
                                     f"--slot-fd {args.slot_fd} holds no slot claim: {e}")))
        return 1
    os.set_inheritable(args.slot_fd, False)  # no child may keep the slot after we exit
    try:
        config = ClusterConfig.load(args.data_dir)
    except ConfigError as e:
        report(format_report(Verdict(True, control.SUPERVISOR, str(e))))
        return 1
    return Supervisor(config, report, args.timeout, args.exit_with).run()


if __name__ == "__main__":
    sys.exit(main())
