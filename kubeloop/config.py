"""Cluster configuration shared by every kubeloop process.

The launcher writes one ``cluster.json`` into the data dir; the apiserver and node agents
read it at start-up. Flags and environment variables are read only by the CLI, which
builds a ``ClusterConfig`` and passes it down.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

MAX_CLUSTERS = 12  # pod ranges 127.244/16 .. 127.255/16, one /16 per cluster slot
POLICY_DENY_ACTIONS = ("drop", "reject")  # kubeloop up --policy-deny
OVERLAY_MODES = ("auto", "shared", "tunnel")  # kubeloop up --overlay


class ConfigError(ValueError):
    """A configuration value is wrong; the message says which and how to fix it."""


@dataclass(frozen=True)
class Network:
    """Address plan of one cluster. Slot ``index`` shifts every range, so clusters with
    different slots can run side by side on the same loopback."""

    node_cidr: str = "127.10.0.0/24"  # node N is .N
    pod_cidr: str = "127.244.0.0/16"  # node N owns the /24 whose third octet is N
    service_cidr: str = "127.96.0.0/16"
    lb_cidr: str = "127.200.0.0/24"
    apiserver_ip: str = "127.10.0.254"
    # The ingress controller's own address (ports 80 and 443): the Ingresses' ADDRESS.
    ingress_ip: str = "127.10.0.253"
    api_port: int = 6443
    grpc_port: int = 6444
    node_port_range: str = "30000-32767"
    cluster_domain: str = "cluster.local"
    # NodePorts also listen on 127.0.0.1 (``curl localhost:30080``); only one cluster can.
    node_ports_on_localhost: bool = True
    # Many hosts (kubeloop up --advertise-address): the apiserver's address for nodes on
    # other hosts (in its certificate, listened on too), what it binds besides
    # ``apiserver_ip`` ("0.0.0.0": everything), and extra names for its certificate.
    advertise_address: str = ""
    bind_address: str = ""
    cert_sans: tuple[str, ...] = ()
    # Node number -> address, for nodes outside the plan (joined from another host).
    node_ips: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_slot(cls, index: int) -> Network:
        if not 0 <= index < MAX_CLUSTERS:
            raise ConfigError(f"cluster slot {index} is out of range 0..{MAX_CLUSTERS - 1}")
        return cls(
            node_cidr=f"127.10.{index}.0/24",
            pod_cidr=f"127.{244 + index}.0.0/16",
            service_cidr=f"127.{96 + index}.0.0/16",
            lb_cidr=f"127.200.{index}.0/24",
            apiserver_ip=f"127.10.{index}.254",
            ingress_ip=f"127.10.{index}.253",
            node_ports_on_localhost=index == 0,
        )

    @property
    def dns_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr)[10])

    @property
    def kubernetes_service_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr)[1])

    def node_ip(self, n: int) -> str:
        return self.node_ips.get(str(n)) or str(ipaddress.ip_network(self.node_cidr)[n])

    @property
    def listen_hosts(self) -> list[str]:
        """Where the apiserver listens (REST and gRPC): its plan address, for this host's
        processes and kubeconfig, plus the bind or advertise address; a wildcard bind
        covers them all (and may not share a port with a specific address)."""
        if self.bind_address in ("0.0.0.0", "::"):
            return [self.bind_address]
        return list(dict.fromkeys(a for a in (self.apiserver_ip, self.bind_address or
                                              self.advertise_address) if a))

    def seen_from_elsewhere(self) -> Network:
        """The plan as a process on another host uses it (``kubeloop serve``): the
        apiserver at its advertise address, since its plan address is on the control
        plane's own loopback."""
        if not self.advertise_address:
            return self
        return replace(self, apiserver_ip=self.advertise_address)

    @property
    def advertised_url(self) -> str:
        """The REST URL nodes on other hosts use."""
        return f"https://{self.advertise_address or self.apiserver_ip}:{self.api_port}"

    def node_pod_cidr(self, n: int) -> str:
        net = ipaddress.ip_network(self.pod_cidr)
        return str(list(net.subnets(new_prefix=24))[n])

    @property
    def node_ports(self) -> tuple[int, int]:
        low, _, high = self.node_port_range.partition("-")
        return int(low), int(high)

    @property
    def api_url(self) -> str:
        return f"https://{self.apiserver_ip}:{self.api_port}"

    @property
    def grpc_target(self) -> str:
        return f"{self.apiserver_ip}:{self.grpc_port}"

    def validate(self) -> None:
        for name in ("node_cidr", "pod_cidr", "service_cidr", "lb_cidr"):
            value = getattr(self, name)
            try:
                net = ipaddress.ip_network(value)
            except ValueError as e:
                raise ConfigError(f"network.{name}: {value!r} is not a CIDR: {e}") from e
            if not net.is_loopback:
                raise ConfigError(f"network.{name}: {value} must lie inside 127.0.0.0/8")
        low, high = self.node_ports
        if not 1 <= low <= high <= 65535:
            raise ConfigError(f"network.node_port_range: {self.node_port_range!r} is not LOW-HIGH")
        for flag, value in (("--advertise-address", self.advertise_address),
                            ("--bind-address", self.bind_address), *(
                                ("node address", ip) for ip in self.node_ips.values())):
            try:
                if value:
                    ipaddress.ip_address(value)
            except ValueError:
                raise ConfigError(f"{flag} {value!r} is not an IP address") from None

    @classmethod
    def from_json(cls, raw: dict) -> Network:
        return cls(**{**raw, "cert_sans": tuple(raw.get("cert_sans") or ())})


@dataclass(frozen=True)
class Timing:
    """Seconds. Shorter than a real cluster's defaults so faults show within a test."""

    heartbeat_interval: float = 1.0
    node_grace_period: float = 5.0  # no heartbeat for this long -> node NotReady
    pod_eviction_timeout: float = 5.0  # NotReady for this long -> its pods are deleted

    def validate(self) -> None:
        if self.heartbeat_interval <= 0:
            raise ConfigError("timing.heartbeat_interval must be > 0")
        if self.node_grace_period <= self.heartbeat_interval:
            raise ConfigError("timing.node_grace_period must exceed timing.heartbeat_interval")
        if self.pod_eviction_timeout < 0:
            raise ConfigError("timing.pod_eviction_timeout must be >= 0")


@dataclass(frozen=True)
class Dns:
    """What the cluster DNS answers outside the cluster domain."""

    # Where other names are forwarded ("IP" or "IP:PORT"); None: the host's resolv.conf
    # nameservers, as CoreDNS's `forward . /etc/resolv.conf`; empty: nowhere (SERVFAIL).
    upstreams: tuple[str, ...] | None = None
    # Static names (CoreDNS `hosts`), e.g. {"test.local": ("127.200.0.1",)}.
    hosts: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def validate(self) -> None:
        for upstream in self.upstreams or ():
            host, _, port = upstream.rpartition(":") if upstream.count(":") == 1 else \
                (upstream, "", "53")
            try:
                ipaddress.ip_address(host)
                if not 0 < int(port) < 65536:
                    raise ValueError(port)
            except ValueError:
                raise ConfigError(f"--dns-upstream {upstream!r}: give an IP or IP:PORT") from None
        for name, ips in self.hosts.items():
            for ip in ips:
                try:
                    ipaddress.ip_address(ip)
                except ValueError:
                    raise ConfigError(f"--dns-host {name}={ip}: {ip!r} is not an IP "
                                      "address") from None

    @classmethod
    def from_json(cls, raw: dict) -> Dns:
        upstreams = raw.get("upstreams")
        return cls(None if upstreams is None else tuple(upstreams),
                   {k: tuple(v) for k, v in (raw.get("hosts") or {}).items()})


@dataclass(frozen=True)
class ClusterConfig:
    name: str = "kubeloop"
    data_dir: str = ""
    slot: int = 0
    nodes: int = 1
    cni: str = "calico"
    # What NetworkPolicy does to a denied connection, as Calico's action: "drop" (the
    # client times out) or "reject" (refused at once); UDP datagrams are dropped either way.
    policy_deny: str = "drop"
    # How pod traffic crosses nodes (node_agent/README.md, "Overlay"): "shared" (every pod
    # IP is connectable from every node: one loopback), "tunnel" (through the owning
    # node's tunnel, port 8472) or "auto" (shared when every node address is on 127/8).
    overlay: str = "auto"
    network: Network = field(default_factory=Network)
    timing: Timing = field(default_factory=Timing)
    dns: Dns = field(default_factory=Dns)
    # The node a data dir made by ``kubeloop join`` runs (its number); 0 on the control
    # plane's host, whose data dir runs the apiserver and nodes 1..``nodes``.
    joined_node: int = 0
    # The ingress process runs with the control plane (not when it runs elsewhere,
    # ``kubeloop serve ingress``).
    ingress: bool = True

    # --- files in the data dir -------------------------------------------------------
    @property
    def root(self) -> Path:
        return Path(self.data_dir)

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def ca_cert(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.pki / "ca.key"

    @property
    def apiserver_cert(self) -> Path:
        return self.pki / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.pki / "apiserver.key"

    @property
    def admin_token_file(self) -> Path:
        return self.pki / "admin.token"

    @property
    def node_token_file(self) -> Path:
        return self.pki / "node.token"

    @property
    def bootstrap_tokens_file(self) -> Path:
        return self.pki / "bootstrap-tokens.json"

    def kubelet_cert(self, node_name: str) -> Path:
        return self.pki / f"kubelet-{node_name}.crt"

    def kubelet_key(self, node_name: str) -> Path:
        return self.pki / f"kubelet-{node_name}.key"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def database(self) -> Path:
        return self.root / "state.db"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def node_name(self, n: int) -> str:
        return f"{self.name}-node-{n}"

    def process_names(self) -> list[str]:
        """The processes this data dir's supervisor runs, in start order: the control
        plane's, or the one node a ``kubeloop join`` data dir holds."""
        if self.joined_node:
            return [f"node-{self.joined_node}"]
        return ["apiserver", *(f"node-{n}" for n in range(1, self.nodes + 1)),
                *(["ingress"] if self.ingress else [])]

    def validate(self) -> None:
        if not self.data_dir:
            raise ConfigError("data_dir is required")
        # 0: a control plane only, for nodes joining from other hosts (or a joined node's).
        control_plane_only = self.nodes == 0 and bool(self.network.advertise_address or
                                                      self.joined_node)
        if not (1 <= self.nodes <= 250 or control_plane_only):
            raise ConfigError(f"--nodes {self.nodes}: a cluster has 1 to 250 nodes (0 with "
                              "--advertise-address: nodes join from other hosts)")
        if self.cni not in ("calico", "flannel"):
            raise ConfigError(f"--cni {self.cni!r}: choose calico or flannel")
        if self.policy_deny not in POLICY_DENY_ACTIONS:
            raise ConfigError(f"--policy-deny {self.policy_deny!r}: choose drop or reject")
        if self.overlay not in OVERLAY_MODES:
            raise ConfigError(f"--overlay {self.overlay!r}: choose auto, shared or tunnel")
        self.network.validate()
        self.timing.validate()
        self.dns.validate()

    # --- persistence -----------------------------------------------------------------
    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "cluster.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, data_dir: str | Path) -> ClusterConfig:
        path = Path(data_dir) / "cluster.json"
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as e:
            raise ConfigError(f"{path} not found: is {data_dir} a kubeloop data dir?") from e
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from e
        return cls.from_json(raw, data_dir)

    @classmethod
    def from_json(cls, raw: dict, data_dir: str | Path) -> ClusterConfig:
        """The config of ``cluster.json``'s content (``asdict`` of one) for ``data_dir``."""
        return cls(**{**raw, "network": Network.from_json(raw.get("network", {})),
                      "timing": Timing(**raw.get("timing", {})),
                      "dns": Dns.from_json(raw.get("dns", {})),
                      "data_dir": str(Path(data_dir).resolve())})


def process_command_line(prog: str, description: str, argv: list[str] | None = None, *,
                         node: bool = False) -> tuple[argparse.Namespace, ClusterConfig]:
    """What every cluster process (apiserver, node agent, ingress) takes on its command
    line: ``--data-dir`` and ``-v``, ``--node N`` for a node agent; and the validated
    config of that data dir. A bad one exits 2 saying what is wrong."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=description)
    parser.add_argument("--data-dir", required=True, help="cluster data dir (with cluster.json)")
    if node:
        parser.add_argument("--node", type=int, required=True, help="node number, 1..250")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    if node and not 1 <= args.node <= 250:
        parser.exit(2, f"{prog}: --node {args.node} must be 1..250\n")
    try:
        config = ClusterConfig.load(args.data_dir)
        config.validate()
    except ConfigError as e:
        parser.exit(2, f"{prog}: {e}\n")
    return args, config
