"""Bringing a cluster up, and ``Cluster``: the Python API for tests and scripts.

``prepare`` turns a request (name, data dir, nodes, ...) into a saved ``ClusterConfig``
with its PKI and kubeconfig: it reuses ``DIR/cluster.json`` when present (same slot and
addresses, so a restart loses nothing) or takes the best free slot, and claims that slot
machine-wide (``registry.Slots``), so clusters of any home or user never share addresses.
``launch`` does that under the home's registry lock and hands the claim to the background
supervisor it starts, which holds it for the cluster's life. ``kubeloop up`` and
``Cluster`` both go through ``launch``; ``kubeloop up --foreground`` calls ``prepare`` and
runs the supervisor in its own process, which keeps the claim until it exits.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from kubeloop import control, kubeconfig, pki, registry, supervisor
from kubeloop.client import Client, Namespace, new_namespace
from kubeloop.config import MAX_CLUSTERS, ClusterConfig, ConfigError, Dns, Network, Timing

LOG_TAIL_LINES = 20


class AlreadyRunning(ConfigError):
    """A cluster of that name runs already."""


class StartFailed(RuntimeError):
    """The cluster did not become ready; the message quotes the guilty process's log."""


# --- pure decisions ----------------------------------------------------------------


def failure_hint(config: ClusterConfig, process: str, message: str, log_tail: Sequence[str]) -> str:
    """One line telling the user what to do about a failed start."""
    text = "\n".join(log_tail)
    if "address already in use" in text.lower():
        return (
            f"another process holds one of {config.name}'s addresses; find it with: "
            f"ss -ltnp | grep {config.network.apiserver_ip}"
        )
    if re.search(r"No module named '?(apiserver|node_agent)", text):
        return "the kubeloop package is incomplete; reinstall it (pip install -e .)"
    if "ready after" in message.lower() or "no answer" in message:
        return f"{process} is slow or stuck: read its log, or retry with a larger --timeout"
    return f"fix the error above and start the cluster again (kubeloop up --name {config.name})"


def slot_taken(config: ClusterConfig, holder: registry.SlotOwner | None, home: Path,
               lock: Path) -> str:
    """Why a cluster cannot start again on its slot: another running cluster has it.

    ``holder`` is the cluster that claimed it (None if its lock file does not say); one of
    another KUBELOOP_HOME is named with its home, so the fix can be pasted as it is.
    """
    where = f"{config.name!r}'s addresses ({config.network.apiserver_ip})"
    if holder is None:
        return (f"another kubeloop cluster is running on {where}; stop it first "
                f"(its supervisor holds {lock}: fuser -v {lock} shows it)")
    env = "" if Path(holder.home) == home else f"KUBELOOP_HOME={holder.home} "
    of_home = "" if not env else f" of {env.strip()}"
    return (f"cluster {holder.name!r}{of_home} is running on {where}; "
            f"stop it first: {env}kubeloop down --name {holder.name}")


def format_failure(
    config: ClusterConfig, process: str, message: str, log_path: Path, log_tail: Sequence[str]
) -> str:
    lines = [f'Cluster "{config.name}" did not start: {process}: {message}']
    if log_tail:
        lines.append(f"--- last {len(log_tail)} lines of {log_path} ---")
        lines += log_tail
        lines.append("---")
    lines.append(f"Fix: {failure_hint(config, process, message, log_tail)}")
    return "\n".join(lines)


# --- I/O ---------------------------------------------------------------------------------


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    return text.splitlines()[-lines:]


def describe_failure(config: ClusterConfig, error: supervisor.StartError) -> str:
    path = config.logs / f"{error.process}.log"
    return format_failure(config, error.process, error.message, path, log_tail(path))


@dataclasses.dataclass(frozen=True)
class Request:
    """What the user asked for; ``None`` means "as before" for a data dir that holds a
    cluster, else the default."""

    name: str | None = None
    data_dir: Path | None = None
    nodes: int | None = None
    cni: str | None = None
    timing: Timing | None = None
    dns: Dns | None = None
    policy_deny: str | None = None
    overlay: str | None = None
    # Many hosts (kubeloop up --advertise-address ...); None: as before.
    advertise_address: str | None = None
    bind_address: str | None = None
    cert_sans: tuple[str, ...] | None = None
    ingress: bool | None = None
    node_port_range: str | None = None  # kube-apiserver's --service-node-port-range
    # A bootstrap token to accept from now on (kubeadm init --token), valid for
    # ``bootstrap_token_ttl`` seconds (None: forever).
    bootstrap_token: str | None = None
    bootstrap_token_ttl: float | None = None

    def network(self, base: Network) -> Network:
        """``base`` with the addresses this request sets."""
        return dataclasses.replace(
            base,
            node_port_range=self.node_port_range or base.node_port_range,
            advertise_address=base.advertise_address if self.advertise_address is None
            else self.advertise_address,
            bind_address=base.bind_address if self.bind_address is None else self.bind_address,
            cert_sans=base.cert_sans if self.cert_sans is None else self.cert_sans)


def prepare(reg: registry.Registry, request: Request) -> ClusterConfig:
    """Save the config, PKI and kubeconfig for a start; call it holding ``reg.locked()``.

    Returns with the cluster's slot claimed in ``reg.slots``: pass that descriptor to the
    supervisor, then release it (``launch``), or run the supervisor in this process.
    """
    name, data_dir, nodes = request.name, request.data_dir, request.nodes
    if name is not None:
        registry.validate_name(name)  # before it names any file
    if data_dir is None:
        entry = reg.get(name or registry.DEFAULT_NAME)
        default = reg.default_data_dir(name or registry.DEFAULT_NAME)
        data_dir = Path(entry.data_dir) if entry else default
    root = data_dir.expanduser().resolve()
    previous = ClusterConfig.load(root) if (root / "cluster.json").exists() else None
    name = name or (previous.name if previous else registry.DEFAULT_NAME)
    if previous and previous.name != name:
        raise ConfigError(f"{root} holds cluster {previous.name!r}, not {name!r}")
    _refuse_if_running(reg, name, previous)
    others = [e for e in reg.entries() if e.name != name]
    running = {e.slot: e.name for e in others if registry.is_running(e)}
    if previous:
        config = dataclasses.replace(
            previous,
            nodes=previous.nodes if nodes is None else nodes,
            cni=request.cni or previous.cni,
            policy_deny=request.policy_deny or previous.policy_deny,
            overlay=request.overlay or previous.overlay,
            timing=request.timing or previous.timing,
            dns=request.dns or previous.dns,
            network=request.network(previous.network),
            ingress=previous.ingress if request.ingress is None else request.ingress,
        )
        _claim_own_slot(reg, config, running)
    else:
        stopped = {e.slot: 0.0 for e in others if e.slot not in running}
        remembered = stopped | reg.slots.remembered()
        slot = registry.choose_slot(running, remembered, lambda s: _take(reg.slots, s))
        if slot is None:
            raise ConfigError(
                f"all {MAX_CLUSTERS} cluster slots are busy (clusters of every "
                "KUBELOOP_HOME and user on this machine count); stop one with: "
                "kubeloop down --name NAME (see kubeloop list)"
            )
        config = ClusterConfig(
            name=name,
            data_dir=str(root),
            slot=slot,
            nodes=1 if nodes is None else nodes,
            cni=request.cni or "calico",
            policy_deny=request.policy_deny or "drop",
            overlay=request.overlay or "auto",
            network=request.network(Network.for_slot(slot)),
            timing=request.timing or Timing(),
            dns=request.dns or Dns(),
            ingress=request.ingress is not False,
        )
    try:
        config.validate()
        reg.slots.record(config.slot, registry.SlotOwner(
            config.name, str(reg.home), config.data_dir, time.time()))
        config.save()
        pki.ensure_pki(config)
        kubeconfig.write(config)
        if request.bootstrap_token:
            pki.create_bootstrap_token(config, request.bootstrap_token_ttl,
                                       "kubeloop up --token", token=request.bootstrap_token)
    except BaseException:
        reg.slots.release(config.slot)
        raise
    return config


def launch(
    reg: registry.Registry, request: Request, timeout: float, exit_with: int | None = None
) -> tuple[ClusterConfig, supervisor.Launch]:
    """``prepare`` and spawn a background supervisor; the caller waits on the Launch."""
    with reg.locked():
        config = prepare(reg, request)
        try:
            slot_fd = reg.slots.held[config.slot]
            started = supervisor.spawn(config, timeout, slot_fd, exit_with)
        finally:
            reg.slots.release(config.slot)  # the supervisor has its own copy now
        reg.save(registry.Entry(config.name, config.data_dir, config.slot, started.proc.pid))
    return config, started


def _refuse_if_running(
    reg: registry.Registry, name: str, previous: ClusterConfig | None
) -> None:
    entry = reg.get(name)
    state = control.read_state(previous) if previous else None
    for pid in (entry.pid if entry else 0, state.pid if state else 0):
        if registry.is_kubeloop_process(pid):
            raise AlreadyRunning(
                f'cluster "{name}" is already running (pid {pid}); '
                f"stop it with: kubeloop down --name {name}"
            )


def _claim_own_slot(
    reg: registry.Registry, config: ClusterConfig, running: dict[int, str]
) -> None:
    """Claim the slot a restarted cluster had, or say who holds it and how to free it."""
    net, lock = config.network, reg.slots.path(config.slot)
    if config.slot in running:  # this home's, even one started before slots were claimed
        here = registry.SlotOwner(running[config.slot], str(reg.home), "", 0.0)
        raise ConfigError(slot_taken(config, here, reg.home, lock))
    if not reg.slots.claim(config.slot):
        raise ConfigError(slot_taken(config, reg.slots.owner(config.slot), reg.home, lock))
    port = _busy_port(net)
    if port is not None:
        reg.slots.release(config.slot)
        raise ConfigError(
            f"{net.apiserver_ip}:{port} is in use by another process; "
            f"find it with: ss -ltnp | grep {net.apiserver_ip}"
        )


def _take(slots: registry.Slots, slot: int) -> bool:
    """Claim ``slot`` if no cluster holds it and nothing else listens on its apiserver
    address (a process that is not kubeloop, or a cluster of an older kubeloop)."""
    if not slots.claim(slot):
        return False
    if _busy_port(Network.for_slot(slot)) is None:
        return True
    slots.release(slot)
    return False


def _busy_port(net: Network) -> int | None:
    """The first apiserver port some process already listens on, if any."""
    ports = (net.api_port, net.grpc_port)
    return next((p for p in ports if not registry.address_bindable(net.apiserver_ip, p)), None)


# --- the Python API ------------------------------------------------------------------------

_names = itertools.count(1)


class Cluster(Client):
    """A cluster started in the background for the life of this object (or ``with`` block).

    Without a name it gets a unique one and a temporary data dir, both gone after
    ``stop()``. Its supervisor also stops if this Python process dies. As a ``Client``
    (kubeloop/client.py) it applies, waits, execs and sends requests in ``default``.
    """

    def __init__(
        self,
        nodes: int = 1,
        name: str | None = None,
        data_dir: str | Path | None = None,
        cni: str = "calico",
        timing: Timing | None = None,
        start_timeout: float = 30,
        home: Path | None = None,
        dns: Dns | None = None,
        policy_deny: str = "drop",
        overlay: str = "auto",
    ) -> None:
        self.nodes = nodes
        self.temporary = name is None
        self.name = name or f"t{os.getpid()}-{next(_names)}"
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self.cni = cni
        self.policy_deny = policy_deny
        self.overlay = overlay
        self.timing = timing
        self.dns_settings = dns
        self.start_timeout = start_timeout
        self.registry = registry.Registry(home or registry.home_from_env(os.environ))
        self._launch: supervisor.Launch | None = None
        self._temp_dir: Path | None = None
        self._config: ClusterConfig | None = None
        self._api_ssl: ssl.SSLContext | None = None

    # --- lifecycle ---
    def start(self) -> Cluster:
        if self.temporary and self._data_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix=f"kubeloop-{self.name}-"))
        data_dir = self._data_dir or self._temp_dir
        request = Request(self.name, data_dir, self.nodes, self.cni, self.timing,
                          self.dns_settings, self.policy_deny, overlay=self.overlay)
        try:
            self._config, self._launch = launch(
                self.registry, request, self.start_timeout, exit_with=os.getpid()
            )
            self._launch.wait(self.start_timeout + control.CHILD_GRACE)
        except supervisor.StartError as e:
            report = describe_failure(self.config, e)  # before stop() deletes the logs
            self.stop()
            raise StartFailed(report) from e
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process of the cluster and forget a temporary one; idempotent."""
        if self._launch is not None and self._config is not None:
            supervisor.stop(self._config, self._launch.proc.pid)
            self._launch.proc.wait()  # reap it: a zombie would look alive
            self._launch = None
        if self.temporary:
            self.registry.remove(self.name)
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- faults: one process at a time, as docker stop/kill/start do to a kind node ---
    @property
    def process_names(self) -> list[str]:
        """``apiserver``, ``node-1`` ... ``node-N``: what the methods below accept."""
        return control.process_names(self.config)

    def node_process(self, n: int) -> str:
        """The process name of node ``n`` (1-based)."""
        return control.check_process(f"node-{n}", self.process_names)

    def processes(self) -> dict[str, int | None]:
        """Each process's pid, or None while it is stopped or killed."""
        state = control.read_state(self.config)
        if state is None:
            return dict.fromkeys(self.process_names)
        return {name: state.children[name] if state.running(name) else None
                for name in self.process_names}

    def stop_process(self, name: str) -> None:
        """SIGTERM one process (SIGKILL after 5 s); returns once it is gone. It stays down
        until ``start_process``. Raises ``control.ControlError``."""
        control.control(self.config, control.Op.STOP, name)

    def kill_process(self, name: str) -> None:
        """SIGKILL one process (and whatever it started); returns once it is gone."""
        control.control(self.config, control.Op.KILL, name)

    def start_process(self, name: str, timeout: float = 30, wait: bool = True) -> None:
        """Start a stopped or killed process again with the same command. With ``wait``,
        returns once it is healthy: the apiserver's /readyz answers, or a node agent
        listens and its node is Ready (``wait_process_ready`` does only the waiting)."""
        control.control(self.config, control.Op.START, name)
        if wait:
            self.wait_process_ready(name, timeout)

    def wait_process_ready(self, name: str, timeout: float = 30) -> float:
        """Wait until a process is healthy (as ``start_process`` does); seconds it took."""
        return control.wait_process_ready(self.config, name, timeout)

    # --- what clients need ---
    @property
    def cluster(self) -> Cluster:
        return self

    def create_namespace(self, prefix: str = "test") -> Namespace:
        """A new namespace with a unique name; ``with`` it (or ``.delete_namespace()``) to
        remove it."""
        return new_namespace(self, prefix)

    def api_ssl_context(self) -> ssl.SSLContext:
        """Verifies the apiserver with the cluster CA (built once)."""
        if self._api_ssl is None:
            self._api_ssl = ssl.create_default_context(cafile=str(self.ca_cert))
        return self._api_ssl

    @property
    def config(self) -> ClusterConfig:
        if self._config is None:
            raise RuntimeError(f"cluster {self.name!r} is not started; call start() first")
        return self._config

    @property
    def kubeconfig(self) -> Path:
        return self.config.kubeconfig

    @property
    def ca_cert(self) -> Path:
        return self.config.ca_cert

    @property
    def api_url(self) -> str:
        return self.config.network.api_url

    @property
    def token(self) -> str:
        return pki.read_token(self.config.admin_token_file)

    @property
    def env(self) -> dict[str, str]:
        """This process's environment pointing kubectl and clients at the cluster."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.config.root / "kubecache"),
        }

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster; output is captured as text."""
        return subprocess.run(
            ["kubectl", *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            env=self.env,
        )
