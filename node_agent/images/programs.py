"""From a catalogue choice to the program that serves: the pod's identity (hostname, IP,
environment) and the image's settings go into the app objects of ``webservers``,
``goapps`` and ``echoes``. The ingress-nginx controller also gets where the cluster's
ingress process listens and logs, from the data dir the node agent runs in."""

from __future__ import annotations

from pathlib import Path

from kubeloop.config import ClusterConfig, ConfigError
from node_agent.containers import Identity
from node_agent.images import (certgen, cni, coredns, echoes, goapps, ingress_nginx,
                               webservers)
from node_agent.images.catalogue import Choice, Kind
from node_agent.images.model import Program


def build(choice: Choice, identity: Identity, image: str, started: float) -> Program:
    """The program for a serving kind (not COMMAND or EXIT). ``started`` is the epoch
    time the container started (uptime-dependent answers use it)."""
    s = choice.settings
    host = identity.hostname
    match choice.kind:
        case Kind.NGINX:
            return webservers.Nginx(s["version"], s["port"], s["entrypoint"])
        case Kind.HTTPD:
            return webservers.Httpd(s["version"], identity.pod_ip)
        case Kind.HELLO_APP:
            return goapps.HelloApp(s["version"], host, s["port"])
        case Kind.HTTP_ECHO:
            return goapps.HttpEcho(s["text"], s["status"], s["listen"], s["port"],
                                   s["version"])
        case Kind.NETEXEC:
            return goapps.Netexec(host, s["http_port"], s["udp_port"], started)
        case Kind.SERVE_HOSTNAME:
            return goapps.ServeHostname(host, s["port"], s["tcp"], s["udp"], s["http"],
                                        s["close"])
        case Kind.LIVENESS:
            return goapps.Liveness(started)
        case Kind.AGNHOST_PAUSE | Kind.PAUSE:
            return goapps.Pause(agnhost=choice.kind is Kind.AGNHOST_PAUSE)
        case Kind.ECHOSERVER:
            return echoes.Echoserver(host, identity.env, s["legacy"])
        case Kind.JMALLOC_ECHO:
            return echoes.JmallocEcho(host, s["port"])
        case Kind.EALEN_ECHO:
            return echoes.EalenEcho(host, identity.env, s["port"])
        case Kind.COREDNS:
            return coredns.CoreDns(s["version"], s["port"], s["quiet"],
                                   (identity.resolver.nameserver, coredns.UPSTREAM_PORT),
                                   started)
        case Kind.CALICO_NODE:
            return cni.CalicoNode(s["version"], identity.env.get("NODENAME", host))
        case Kind.CALICO_KUBE_CONTROLLERS:
            return cni.CalicoKubeControllers(s["version"])
        case Kind.FLANNEL:
            return cni.Flanneld(s["version"], identity.env.get("NODE_NAME", host))
        case Kind.CERTGEN:
            return certgen.CertGen(s["command"], s["flags"])
        case Kind.INGRESS_NGINX:
            env = identity.env
            api = f"{env.get('KUBERNETES_SERVICE_HOST', '')}:" \
                  f"{env.get('KUBERNETES_SERVICE_PORT', '443')}"
            address, log = ingress_process()
            return ingress_nginx.IngressNginx(s["settings"], identity.namespace,
                                              identity.pod_name, api, address, log, started)
        case Kind.GENERIC:
            return echoes.Generic(identity.namespace, identity.pod_name, identity.pod_ip,
                                  image, s["ports"])
    raise ValueError(f"{choice.kind} is not a serving program")


def ingress_process(data_dir: Path | None = None) -> tuple[str | None, Path | None]:
    """The ingress process's address and log file, from the cluster's data dir: the
    supervisor starts the node agents there (``data_dir`` None: the working directory).
    (None, None) outside one: the controller pod then relays nowhere and copies no log."""
    try:
        config = ClusterConfig.load(data_dir or Path.cwd())
    except ConfigError:
        return None, None
    return config.network.ingress_ip, config.logs / "ingress.log"
