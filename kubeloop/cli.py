"""The ``kubeloop`` command: up, down, status, list, kubeconfig, ca, and ``process
start|stop|kill NAME`` for one process of a running cluster (through the supervisor's
control socket, as ``docker stop/kill/start`` for a kind node); for many hosts ``join``
and ``token`` (kubeadm's), and ``serve ingress|dns`` (one component on a host of its own).

Flags and ``$KUBELOOP_HOME`` are read here only and handed down. ``up`` goes through
``cluster.launch`` (like the Python API) and waits for the supervisor's one-line report;
``--foreground`` runs the supervisor in this process instead. Everything else reads the
registry, ``supervisor.json`` and the apiserver's health. Kept light to import: the PKI
and YAML code load only when ``up`` needs them.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kubeloop import control, probe, registry, supervisor
from kubeloop.config import OVERLAY_MODES, POLICY_DENY_ACTIONS, ClusterConfig, ConfigError, \
    Dns

if TYPE_CHECKING:
    from kubeloop import cluster, join_client

DEFAULT_TIMEOUT = 60.0


# --- pure formatting -------------------------------------------------------------------


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, like kubectl's tables."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip()
        for row in [headers, *rows]
    )


@dataclass(frozen=True)
class ProcessView:
    """One supervised process as ``status`` sees it."""

    name: str
    pid: int
    alive: bool
    exit_code: int | None = None
    requested: str = ""  # "stop" or "kill" when it ended through ``kubeloop process``


def process_state(p: ProcessView) -> str:
    if p.alive:
        return "running"
    if p.requested == control.Op.KILL:
        return "killed"
    if p.requested == control.Op.STOP:
        return f"stopped ({p.exit_code})" if p.exit_code else "stopped"
    return "stopped" if p.exit_code is None else f"exited ({p.exit_code})"


def problem(p: ProcessView) -> str:
    if p.requested:
        return f"{p.name} {process_state(p)} on request"
    return f"{p.name} {process_state(p)}"


def start_hint(config: ClusterConfig, processes: Sequence[ProcessView]) -> str | None:
    """How to bring back the processes that are down, or None if all run."""
    down = [p.name for p in processes if not p.alive and p.name != control.SUPERVISOR]
    if not down:
        return None
    commands = [f"kubeloop process start {name} --name {config.name}" for name in down]
    return "Start again with: " + "; ".join(commands)


def status_report(
    config: ClusterConfig,
    processes: Sequence[ProcessView],
    api_ready: bool,
    ready_nodes: set[str] | None,
) -> tuple[str, list[str]]:
    """The status table and the list of problems (empty when healthy).

    ``ready_nodes`` is None when the node list could not be read.
    """
    net = config.network
    rows = []
    for p in processes:
        if p.name == "apiserver":
            address = f"{net.apiserver_ip}:{net.api_port}"
            health = "ready" if api_ready else "not ready"
        elif p.name.startswith("node-"):
            n = int(p.name.removeprefix("node-"))
            address = net.node_ip(n)
            if ready_nodes is None:
                health = "unknown"
            else:
                health = "Ready" if config.node_name(n) in ready_nodes else "NotReady"
        elif p.name == "ingress":
            address, health = net.ingress_ip, "-"
        else:
            address, health = "-", "-"
        rows.append([p.name, str(p.pid or "-"), process_state(p), address, health])
    problems = [problem(p) for p in processes if not p.alive]
    if not api_ready:
        problems.append(f"apiserver {net.api_url}/readyz does not answer ok")
    if ready_nodes is not None:
        problems += [
            f"node {config.node_name(n)} is not Ready"
            for n in range(1, config.nodes + 1)
            if config.node_name(n) not in ready_nodes
        ]
    table = format_table(["NAME", "PID", "STATE", "ADDRESS", "HEALTH"], rows)
    return table, problems


# --- commands -----------------------------------------------------------------------------


def _dns(args: argparse.Namespace) -> Dns | None:
    """The --dns-upstream / --dns-host flags; None when neither is given (as before)."""
    if args.dns_upstream is None and not args.dns_host:
        return None
    upstreams = None
    if args.dns_upstream is not None:
        upstreams = tuple(u for u in args.dns_upstream if u != "none")
    hosts: dict[str, tuple[str, ...]] = {}
    for entry in args.dns_host or ():
        name, sep, ip = entry.partition("=")
        if not sep or not name or not ip:
            raise ConfigError(f"--dns-host {entry!r}: give NAME=IP, e.g. test.local=127.200.0.1")
        hosts[name.lower().rstrip(".")] = (*hosts.get(name.lower().rstrip("."), ()), ip)
    return Dns(upstreams, hosts)


def cmd_up(args: argparse.Namespace, reg: registry.Registry) -> int:
    # Imported here: certificate and YAML code would slow every other command's start.
    from kubeloop import cluster, join

    try:
        token = join.parse_token(args.token) if args.token else None
        token_ttl = join.parse_ttl(args.token_ttl)
    except join.JoinError as e:
        raise ConfigError(str(e)) from e
    export = Export(Path(args.export_kubeconfig), args.kubeconfig_server) \
        if args.export_kubeconfig else None
    request = cluster.Request(
        name=args.name,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        nodes=args.nodes,
        cni=args.cni,
        dns=_dns(args),
        policy_deny=args.policy_deny,
        overlay=args.overlay,
        advertise_address=args.advertise_address,
        bind_address=args.bind_address,
        cert_sans=tuple(args.cert_san) if args.cert_san else None,
        ingress=False if args.no_ingress else None,
        node_port_range=args.service_node_port_range,
        bootstrap_token=token,
        bootstrap_token_ttl=token_ttl,
    )
    began = time.monotonic()
    if args.foreground:
        return _up_foreground(reg, request, args.timeout, began, export)
    config, started = cluster.launch(reg, request, args.timeout)
    _say_starting(config)
    try:
        started.wait(args.timeout + control.CHILD_GRACE)
    except supervisor.StartError as e:
        print(cluster.describe_failure(config, e), file=sys.stderr)
        supervisor.stop(config, started.proc.pid)
        return 1
    except KeyboardInterrupt:
        print("Interrupted; stopping what was started", file=sys.stderr)
        supervisor.stop(config, started.proc.pid)
        return 130
    _say_ready(config, began, export)
    return 0


@dataclass(frozen=True)
class Export:
    """``up --export-kubeconfig PATH [--kubeconfig-server URL]``: a copy of the admin
    kubeconfig for another place, e.g. a compose project's folder on the host, naming the
    server as that place reaches it (a published port)."""

    path: Path
    server: str | None

    def write(self, config: ClusterConfig) -> None:
        """Written once the cluster is ready (its appearance says so), mode 0600, owned
        by the folder's owner (a folder mounted into a container running as root)."""
        from kubeloop import kubeconfig, pki

        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = kubeconfig.render(config.name, self.server or config.network.api_url,
                                 config.ca_cert.read_bytes(),
                                 pki.read_token(config.admin_token_file))
        pki.write_private(self.path, text.encode())
        folder = self.path.parent.stat()
        if os.geteuid() == 0:
            os.chown(self.path, folder.st_uid, folder.st_gid)


def _up_foreground(
    reg: registry.Registry, request: cluster.Request, timeout: float, began: float,
    export: Export | None
) -> int:
    from kubeloop import cluster

    with reg.locked():
        config = cluster.prepare(reg, request)
        reg.save(registry.Entry(config.name, config.data_dir, config.slot, os.getpid()))
    _say_starting(config)
    logging.basicConfig(level=logging.WARNING, format="kubeloop: %(message)s")

    def report(line: str) -> None:
        verdict = supervisor.parse_report(line)
        if verdict.error is None:
            _say_ready(config, began, export)
            print("Press Ctrl-C to stop.", flush=True)
        else:
            error = supervisor.StartError(verdict.process, verdict.error)
            print(cluster.describe_failure(config, error), file=sys.stderr)

    code = supervisor.Supervisor(config, report, timeout).run()
    print(f'Cluster "{config.name}" stopped')
    return code


def _say_starting(config: ClusterConfig) -> None:
    nodes = f"{config.nodes} node" + ("s" if config.nodes != 1 else "")
    print(f'Starting cluster "{config.name}" with {nodes} ...', flush=True)


def _say_ready(config: ClusterConfig, began: float, export: Export | None) -> None:
    print(f"Cluster ready in {time.monotonic() - began:.1f}s")
    print(f"export KUBECONFIG={config.kubeconfig}", flush=True)
    if export is not None:
        export.write(config)
        print(f"Kubeconfig exported to {export.path}", flush=True)
    if config.network.advertise_address:
        from kubeloop import pki

        print("Nodes on other hosts join with:")
        token = pki.ensure_bootstrap_token(config).token
        print(f"  {_join_command(config, token)}", flush=True)


def _join_command(config: ClusterConfig, token: str) -> str:
    from kubeloop import join

    return join.join_command(config.network.advertised_url, token,
                             join.ca_cert_hash(config.ca_cert.read_bytes()))


def cmd_token_create(args: argparse.Namespace, reg: registry.Registry) -> int:
    from kubeloop import join, pki

    config = _require_config(_entry(reg, args.name))
    try:
        ttl = join.parse_ttl(args.ttl)
    except join.JoinError as e:
        raise ConfigError(str(e)) from e
    record = pki.create_bootstrap_token(config, ttl, args.description or "")
    print(_join_command(config, record.token) if args.print_join_command else record.token)
    return 0


def cmd_token_list(args: argparse.Namespace, reg: registry.Registry) -> int:
    from kubeloop import join, pki

    config = _require_config(_entry(reg, args.name))
    now = time.time()
    rows = [[r.token,
             "<forever>" if r.expires is None else join.format_ttl(r.expires - now),
             "<never>" if r.expires is None else time.strftime(
                 "%Y-%m-%dT%H:%M:%SZ", time.gmtime(r.expires)),
             r.description or "<none>"]
            for r in pki.read_bootstrap_tokens(config) if r.valid(now)]
    if not rows:
        print(f"No valid bootstrap tokens; create one with: kubeloop token create "
              f"--name {config.name}")
        return 0
    print(format_table(["TOKEN", "TTL", "EXPIRES", "DESCRIPTION"], rows))
    return 0


def cmd_join(args: argparse.Namespace, reg: registry.Registry) -> int:
    """Join this host's node to a cluster whose control plane runs elsewhere, then run
    its agent in this process (exec: signals reach it directly, as a container's)."""
    from kubeloop import join, join_client, serve

    try:
        trust = _trust(args)
        host, port = join.parse_server(args.server)
        serve.wait_ready(host, port, args.wait)
        address = args.address or join_client.source_address(host, port)
        data_dir = Path(args.data_dir or reg.home / f"node-{address}").expanduser().resolve()
        config, reply = join_client.join_cluster(args.server, args.token, trust, address,
                                                  data_dir)
    except join.JoinError as e:
        raise ConfigError(str(e)) from e
    print(f'Node {reply.node_name} joined cluster "{config.name}" (address {address}, '
          f"pods {reply.pod_cidr}, data dir {config.root})", flush=True)
    argv = [sys.executable, "-m", "node_agent", "--data-dir", config.data_dir,
            "--node", str(config.joined_node)]
    os.execve(sys.executable, argv, supervisor.child_env(os.environ))


def _trust(args: argparse.Namespace) -> join_client.Trust:
    from kubeloop import join, join_client

    chosen = [bool(args.ca_cert_hash), bool(args.ca_cert), args.insecure_skip_ca_verification]
    if sum(chosen) != 1:
        raise join.JoinError("say how to trust the cluster's CA, with one of: --ca-cert-hash "
                             "sha256:... (as in the join command kubeloop up prints), "
                             "--ca-cert PATH, --insecure-skip-ca-verification")
    if args.ca_cert:
        try:
            return join_client.Trust(ca_pem=Path(args.ca_cert).read_bytes())
        except OSError as e:
            raise join.JoinError(f"--ca-cert {args.ca_cert}: {e.strerror or e}") from None
    if args.ca_cert_hash:
        return join_client.Trust(ca_hash=join.parse_ca_hash(args.ca_cert_hash))
    return join_client.Trust(insecure=True)


def cmd_serve_ingress(args: argparse.Namespace, reg: registry.Registry) -> int:
    """The ingress controller on a host of its own, with the control plane's data dir."""
    from ingress.__main__ import run
    from kubeloop import serve

    config = serve.control_plane_view(Path(args.data_dir), serve.ingress_needs, args.wait)
    return run(config, args.address or serve.own_address(config), args.verbose)


def cmd_serve_dns(args: argparse.Namespace, reg: registry.Registry) -> int:
    """The cluster DNS on a host of its own, for clients outside the cluster."""
    from kubeloop import serve
    from node_agent.dns.standalone import run

    config = serve.control_plane_view(Path(args.data_dir), serve.dns_needs, args.wait)
    return run(config, args.address or serve.own_address(config), args.port, args.verbose)


def cmd_down(args: argparse.Namespace, reg: registry.Registry) -> int:
    entries = reg.entries() if args.all else [_entry(reg, args.name)]
    if not entries:
        print("No clusters registered")
    for entry in entries:
        config = _load(entry)
        stopped = supervisor.stop(config, entry.pid) if config else []
        if stopped:
            print(f'Stopped cluster "{entry.name}": {", ".join(stopped)}')
        else:
            print(f'Cluster "{entry.name}" is not running')
        if args.purge:
            _purge(reg, entry)
    return 0


def _purge(reg: registry.Registry, entry: registry.Entry) -> None:
    data_dir = Path(entry.data_dir)
    # Only a folder kubeloop made: a mistyped --data-dir must not cost someone their files.
    if data_dir.exists() and not (data_dir / "cluster.json").exists():
        print(f"Kept {data_dir}: it holds no cluster.json, so kubeloop did not make it")
    elif data_dir.exists():
        shutil.rmtree(data_dir)
        print(f"Deleted {data_dir}")
    reg.remove(entry.name)


def cmd_status(args: argparse.Namespace, reg: registry.Registry) -> int:
    entry = _entry(reg, args.name)
    config = _require_config(entry)
    state = control.read_state(config)
    if not registry.is_running(entry) or state is None:
        name = entry.name
        print(f'Cluster "{name}" is not running; start it with: kubeloop up --name {name}')
        return 1
    processes = [ProcessView(control.SUPERVISOR, state.pid, True)] + [
        ProcessView(name, pid, state.running(name), state.exit_codes.get(name),
                    state.requested.get(name, ""))
        for name, pid in state.children.items()
    ]
    prober = probe.Prober(config)
    api_ready = prober.readyz()
    node_list = prober.nodes() if api_ready else None
    ready_nodes = probe.ready_node_names(node_list) if node_list is not None else None
    table, problems = status_report(config, processes, api_ready, ready_nodes)
    print(f'Cluster "{config.name}" (slot {config.slot}, {config.network.api_url}, {config.root})')
    print(table)
    if problems:
        hint = start_hint(config, processes)
        print("Unhealthy: " + "; ".join(problems) + (f". {hint}" if hint else ""))
        return 1
    print(f"Healthy: apiserver ready, {config.nodes}/{config.nodes} nodes Ready")
    return 0


def cmd_process(args: argparse.Namespace, reg: registry.Registry) -> int:
    config = _require_config(_entry(reg, args.name))
    op = control.Op(args.op)
    try:
        message = control.control(config, op, args.process)
        print(message, flush=True)
        if op is control.Op.START and message.startswith("Started"):
            took = control.wait_process_ready(config, args.process, args.timeout)
            print(f"{control.ready_message(config, args.process)} in {took:.1f}s")
    except control.ControlError as e:
        raise ConfigError(str(e)) from e
    return 0


def cmd_list(args: argparse.Namespace, reg: registry.Registry) -> int:
    rows = []
    for entry in reg.entries():
        config = _load(entry)
        rows.append([
            entry.name,
            "running" if registry.is_running(entry) else "stopped",
            str(entry.slot),
            str(config.nodes) if config else "?",
            config.network.api_url if config else "?",
            entry.data_dir,
        ])  # fmt: skip
    if not rows:
        print("No clusters; create one with: kubeloop up")
        return 0
    print(format_table(["NAME", "STATE", "SLOT", "NODES", "API", "DATA DIR"], rows))
    return 0


POLICY_LISTS = ("/apis/networking.k8s.io/v1/networkpolicies", "/api/v1/pods",
                "/api/v1/namespaces")


def cmd_policy_check(args: argparse.Namespace, reg: registry.Registry) -> int:
    """Would a new connection pass the cluster's NetworkPolicies? Same evaluator as the
    agents, no traffic; exit 0 when allowed, 1 when denied."""
    from kubeloop import netpol  # the evaluator: only this command needs it

    config = _require_config(_entry(reg, args.name))
    try:
        port, protocol = netpol.parse_port(args.port)
    except ValueError as e:
        raise ConfigError(f"policy check: {e}") from e
    prober = probe.Prober(config, timeout=10)
    lists = [prober.items(path) for path in POLICY_LISTS]
    if any(items is None for items in lists):
        raise ConfigError(f'cluster "{config.name}" does not answer; check it with: '
                          f"kubeloop status --name {config.name}")
    policies, pods, namespaces = (items or [] for items in lists)
    try:
        verdict = netpol.policy_check(policies, pods, namespaces, args.source,
                                      args.destination, port, protocol, args.namespace)
    except (netpol.EndpointError, netpol.PolicyError, ValueError) as e:
        raise ConfigError(f"policy check: {e}") from e
    print(f"{args.source} -> {args.destination}:{port}/{protocol}: {verdict.describe()}")
    return 0 if verdict.allowed else 1


def cmd_flows(args: argparse.Namespace, reg: registry.Registry) -> int:
    """The connections the node agents judged against NetworkPolicy, oldest first."""
    from kubeloop import flows

    config = _require_config(_entry(reg, args.name))
    for flow in flows.select(flows.read(config.logs), args.namespace, args.verdict, args.last):
        print(flow.render())
    if args.follow:
        try:
            for flow in flows.follow(config.logs):
                if flow.matches(args.namespace, args.verdict):
                    print(flow.render(), flush=True)
        except KeyboardInterrupt:
            return 0
    return 0


def cmd_kubeconfig(args: argparse.Namespace, reg: registry.Registry) -> int:
    print(_require_file(reg, args.name, lambda c: c.kubeconfig))
    return 0


def cmd_ca(args: argparse.Namespace, reg: registry.Registry) -> int:
    print(_require_file(reg, args.name, lambda c: c.ca_cert))
    return 0


def _entry(reg: registry.Registry, name: str | None) -> registry.Entry:
    name = name or registry.DEFAULT_NAME
    entry = reg.get(name)
    if entry is None:
        raise ConfigError(f'no cluster named "{name}"; create it with: kubeloop up --name {name}')
    return entry


def _load(entry: registry.Entry) -> ClusterConfig | None:
    try:
        return ClusterConfig.load(entry.data_dir)
    except ConfigError:
        return None


def _require_config(entry: registry.Entry) -> ClusterConfig:
    config = _load(entry)
    if config is None:
        raise ConfigError(
            f"{entry.data_dir}/cluster.json of cluster {entry.name!r} is missing or damaged; "
            f"recreate it with: kubeloop down --name {entry.name} --purge; "
            f"kubeloop up --name {entry.name}"
        )
    return config


def _require_file(
    reg: registry.Registry, name: str | None, pick: Callable[[ClusterConfig], Path]
) -> Path:
    config = _require_config(_entry(reg, name))
    path = pick(config)
    if not path.exists():
        raise ConfigError(f"{path} is missing; run: kubeloop up --name {config.name}")
    return path


# --- entry point ---------------------------------------------------------------------------


def cluster_option(parser: argparse.ArgumentParser) -> None:
    """The ``--name`` option of every command that works on one registered cluster."""
    parser.add_argument("--name", help=f"cluster name (default {registry.DEFAULT_NAME})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubeloop", description="A multi-node Kubernetes cluster on loopback."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start a cluster (or restart it from its data dir)")
    cluster_option(up)
    up.add_argument("--nodes", type=int, help="number of nodes (default 1, or as before)")
    up.add_argument("--data-dir", help="where the cluster keeps its files "
                    "(default $KUBELOOP_HOME/NAME, KUBELOOP_HOME defaults to ~/.kubeloop)")
    up.add_argument("--foreground", action="store_true",
                    help="run in this terminal; Ctrl-C stops the cluster")
    up.add_argument("--cni", choices=["calico", "flannel"], help="network plugin to emulate")
    up.add_argument("--overlay", choices=OVERLAY_MODES,
                    help="how pod traffic crosses nodes: shared (one loopback), tunnel "
                    "(through each node's tunnel, port 8472) or auto (the default: shared "
                    "when every node address is on 127.0.0.0/8)")
    up.add_argument("--policy-deny", choices=POLICY_DENY_ACTIONS,
                    help="what NetworkPolicy does to a denied connection, as Calico: drop "
                    "(the client times out; the default) or reject (refused at once)")
    up.add_argument("--dns-upstream", action="append", metavar="IP[:PORT]",
                    help="where the cluster DNS forwards names outside the cluster "
                    "(repeatable; default: the host's resolv.conf; 'none': nowhere)")
    up.add_argument("--dns-host", action="append", metavar="NAME=IP",
                    help="a static name the cluster DNS answers (repeatable), "
                    "e.g. test.local=127.200.0.1")
    up.add_argument("--advertise-address", metavar="IP",
                    help="the apiserver's address for nodes on other hosts (kubeloop join): "
                    "it listens there too and its certificate names it; prints the join "
                    "command")
    up.add_argument("--bind-address", metavar="IP",
                    help="where the apiserver listens besides its loopback address "
                    "(default: the advertise address; 0.0.0.0: every interface)")
    up.add_argument("--cert-san", action="append", metavar="NAME|IP",
                    help="another name or address for the apiserver's certificate "
                    "(repeatable), e.g. a DNS name other hosts use")
    up.add_argument("--no-ingress", action="store_true",
                    help="do not run the ingress controller here (run it on another host "
                    "with kubeloop serve ingress)")
    up.add_argument("--service-node-port-range", metavar="LOW-HIGH",
                    help="the NodePorts Services get (default 30000-32767, or as before)")
    up.add_argument("--token", help="a bootstrap token chosen in advance (abcdef.0123456789abcdef "
                    "form), accepted besides the others, as kubeadm init --token")
    up.add_argument("--token-ttl", default="24h",
                    help="how long --token is valid (default 24h; 0: forever)")
    up.add_argument("--export-kubeconfig", metavar="PATH",
                    help="also write the admin kubeconfig to PATH once the cluster is ready")
    up.add_argument("--kubeconfig-server", metavar="URL",
                    help="the server the exported kubeconfig names (default: the apiserver's "
                    "own URL), e.g. https://127.0.0.1:6443 for a published port")
    up.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                    help=f"seconds to wait for readiness (default {DEFAULT_TIMEOUT:g})")
    up.set_defaults(run=cmd_up)

    joining = sub.add_parser(
        "join", help="run this host's node in a cluster whose control plane is elsewhere",
        description="As kubeadm join: reads the cluster's CA (kube-public/cluster-info), "
        "checks it, joins with the bootstrap token, writes the node's data dir and runs its "
        "agent in this process (Ctrl-C or SIGTERM stops it; join again with the same data "
        "dir to restart the same node).")
    joining.add_argument("--server", required=True, metavar="URL",
                         help="the apiserver, e.g. https://192.168.1.10:6443")
    joining.add_argument("--token", required=True, help="a bootstrap token (kubeloop token "
                         "create on the control plane)")
    joining.add_argument("--ca-cert-hash", metavar="sha256:HEX",
                         help="the CA's public key hash, as the join command gives it")
    joining.add_argument("--ca-cert", metavar="PATH", help="the cluster's CA certificate")
    joining.add_argument("--insecure-skip-ca-verification", action="store_true",
                         help="trust whatever CA the server announces")
    joining.add_argument("--address", metavar="IP",
                         help="this node's address (its InternalIP; default: the one this "
                         "host reaches the server from)")
    joining.add_argument("--data-dir", help="where the node keeps its files "
                         "(default $KUBELOOP_HOME/node-ADDRESS)")
    joining.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                         help="wait up to this long for the apiserver to answer first "
                         "(a control plane starting alongside; default 0)")
    joining.set_defaults(run=cmd_join)

    token = sub.add_parser("token", help="bootstrap tokens for kubeloop join").add_subparsers(
        dest="token_command", required=True, metavar="create|list")
    create = token.add_parser("create", help="a new bootstrap token")
    create.add_argument("--ttl", default="24h",
                        help="how long it is valid, e.g. 24h, 30m (0: forever; default 24h)")
    create.add_argument("--description", help="what it is for")
    create.add_argument("--print-join-command", action="store_true",
                        help="print the whole kubeloop join command")
    cluster_option(create)
    create.set_defaults(run=cmd_token_create)
    tokens = token.add_parser("list", help="the valid bootstrap tokens")
    cluster_option(tokens)
    tokens.set_defaults(run=cmd_token_list)

    serving = sub.add_parser(
        "serve", help="run the ingress controller or the cluster DNS on a host of its own",
        description="Runs one cluster component in this process (SIGTERM stops it) on a host "
        "other than the control plane's, e.g. its own container: it reads the control "
        "plane's data dir (a shared volume) and reaches the apiserver at its advertise "
        "address.").add_subparsers(dest="component", required=True, metavar="ingress|dns")
    for component, run, what, default_address in (
            ("ingress", cmd_serve_ingress, "the ingress controller: ports 80 and 443",
             "where it listens and what the Ingresses' ADDRESS shows"),
            ("dns", cmd_serve_dns, "the cluster DNS for clients outside the cluster",
             "where it answers")):
        p = serving.add_parser(component, help=what)
        p.add_argument("--data-dir", required=True,
                       help="the control plane's data dir (mounted here)")
        p.add_argument("--address", metavar="IP", help=f"{default_address} (default: this "
                       "host's address towards the apiserver)")
        p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                       help="wait up to this long for the control plane to write its data "
                       "dir and answer (default 0)")
        p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
        p.set_defaults(run=run)
        if component == "dns":
            p.add_argument("--port", type=int, default=53, help="UDP and TCP port (default 53)")

    down = sub.add_parser("down", help="stop a cluster")
    cluster_option(down)
    down.add_argument("--all", action="store_true", help="stop every registered cluster")
    down.add_argument("--purge", action="store_true", help="also delete the data dir")
    down.set_defaults(run=cmd_down)

    status = sub.add_parser("status", help="processes and health; exit 1 unless healthy")
    cluster_option(status)
    status.set_defaults(run=cmd_status)

    path_commands = (("kubeconfig", cmd_kubeconfig, "kubeconfig"), ("ca", cmd_ca, "CA certificate"))
    for command, run, what in path_commands:
        p = sub.add_parser(command, help=f"print the path of the cluster's {what}")
        cluster_option(p)
        p.set_defaults(run=run)

    process = sub.add_parser(
        "process", help="start, stop or kill one process of a running cluster",
        description="Start, stop or kill one process of a running cluster, as docker "
        "start/stop/kill does to a kind node. stop: SIGTERM, SIGKILL after "
        f"{control.CHILD_GRACE:g}s; kill: SIGKILL; start: the same command again, then "
        "waits until it is healthy (apiserver /readyz ok, or its node Ready). A process "
        "that ended stays down until started (nothing restarts it on its own).")
    process.add_argument("op", choices=[str(op) for op in control.Op],
                         metavar="start|stop|kill", help="what to do to the process")
    process.add_argument("process", metavar="NAME",
                         help="a process as kubeloop status names it: apiserver, node-1, ...")
    cluster_option(process)
    process.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                         help=f"seconds start waits for health (default {DEFAULT_TIMEOUT:g})")
    process.set_defaults(run=cmd_process)

    policy = sub.add_parser("policy", help="NetworkPolicy tools").add_subparsers(
        dest="policy_command", required=True, metavar="check")
    check = policy.add_parser(
        "check", help="would a new connection pass the NetworkPolicies? (no traffic)",
        description="Answers from the same evaluator the node agents enforce with: exit 0 "
        "when the connection would be allowed, 1 when denied, with the policies that "
        "decided.")
    check.add_argument("source", metavar="FROM", help="NAMESPACE/POD, POD or an IP address")
    check.add_argument("destination", metavar="TO", help="NAMESPACE/POD, POD or an IP address")
    check.add_argument("port", metavar="PORT[/PROTOCOL]", help="e.g. 80 or 53/udp")
    check.add_argument("-n", "--namespace", default="default",
                       help="namespace of pods given without one (default: default)")
    cluster_option(check)
    check.set_defaults(run=cmd_policy_check)

    flows = sub.add_parser(
        "flows", help="connections judged against NetworkPolicy (like hubble observe)",
        description="Every new connection (and UDP flow) the node agents judged against "
        "NetworkPolicy: time, source and destination pods and addresses, protocol, "
        "FORWARDED or DROPPED, and the policies that decided. Recorded with the calico "
        "CNI (the default); flannel enforces nothing and records nothing.")
    flows.add_argument("-f", "--follow", action="store_true", help="keep printing new flows")
    flows.add_argument("-n", "--namespace", help="only flows from or to pods of NAMESPACE")
    flows.add_argument("--verdict", type=str.upper, choices=["FORWARDED", "DROPPED"],
                       help="only flows with this verdict")
    flows.add_argument("--last", type=int, help="only the last N flows (before following)")
    cluster_option(flows)
    flows.set_defaults(run=cmd_flows)

    listing = sub.add_parser("list", help="registered clusters and their state")
    listing.set_defaults(run=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    reg = registry.Registry(registry.home_from_env(os.environ))
    try:
        code: int = args.run(args, reg)
    except ConfigError as e:
        print(f"kubeloop: {e}", file=sys.stderr)
        return 1
    return code
