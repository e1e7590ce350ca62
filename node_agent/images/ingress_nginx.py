"""registry.k8s.io/ingress-nginx/controller, the pod of minikube's ingress addon. The
controller's work (watching Ingresses, proxying) is done by kubeloop's ingress process on
the cluster's ingress address (ingress/), so this pod stands for it as the real one looks
from outside: its HTTP and HTTPS ports relay, byte for byte, to that process's 80 and 443;
the health port answers ``/healthz`` and ``/metrics``; its log has the controller's start-up
lines, then what the ingress process writes to its own log: each access line as it is
(ingress-nginx's upstreaminfo format), its warnings and errors as klog lines, nothing else.

Pure: the start-up lines are functions of the clock passed in, the copied lines of the
line and the clock; forward.py, tail.py and httpserver.py do the I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from node_agent.images import formats
from node_agent.images.cni import klog_time
from node_agent.images.goapps import NOT_FOUND, go_respond
from node_agent.images.model import (Exit, FollowedFile, ForwardApp, HttpApp, Listener,
                                     Program, Request, Response)

RELEASE = "v1.11.3"
# Every tag prints v1.11.3's build line and nginx (the nginx v1.11 is built with).
BUILD = "0106de65cfccb74405a6dfa7d9daffc6f0a6ef1a"
NGINX_VERSION = "1.25.5"
REPOSITORY = "https://github.com/kubernetes/ingress-nginx"
PID = 7  # the controller under dumb-init, as its pod shows it
HTTP_PORT, HTTPS_PORT, HEALTHZ_PORT = 80, 443, 10254
# What the apiserver's /version answers (apiserver/discovery.py), as client-go reads it.
KUBERNETES_VERSION = ("1", "32", "v1.32.0-kubeloop")
RULE = "-" * 79


@dataclass(frozen=True)
class Settings:
    """What the controller's command line sets that shows from outside."""

    release: str = RELEASE
    http_port: int = HTTP_PORT
    https_port: int = HTTPS_PORT
    healthz_port: int = HEALTHZ_PORT
    election_id: str = "ingress-controller-leader"
    controller_class: str = "k8s.io/ingress-nginx"
    webhook: str = ""  # --validating-webhook address (":8443"), "" when none


def version_lines(release: str) -> list[str]:
    """The banner every start (and ``--version``) prints."""
    return [RULE, "NGINX Ingress controller", f"  Release:       {release}",
            f"  Build:         {BUILD}", f"  Repository:    {REPOSITORY}",
            f"  nginx version: nginx/{NGINX_VERSION}", "", RULE, ""]


def klog(severity: str, now: float, where: str, message: str) -> str:
    """One line in klog's format: ``I1203 10:00:00.123456       7 main.go:205] ...``."""
    return f"{severity}{klog_time(now)} {PID:7d} {where}] {message}"


def startup(settings: Settings, namespace: str, pod: str, api: str, now: float) -> list[str]:
    """The banner and the controller's start-up lines: the API client, the NGINX process,
    the leader lease (kubeloop has one controller: it wins at once) and the first reload.
    ``api`` is the in-cluster API address (``10.96.0.1:443``)."""
    major, minor, git = KUBERNETES_VERSION
    lease = f"{namespace}/{settings.election_id}"

    def info(where: str, message: str) -> str:
        return klog("I", now, where, message)

    lines = version_lines(settings.release) + [
        klog("W", now, "client_config.go:659", "Neither --kubeconfig nor --master was "
             "specified.  Using the inClusterConfig.  This might not work."),
        info("main.go:205", f'"Creating API client" host="https://{api}"'),
        info("main.go:248", f'"Running in Kubernetes cluster" major="{major}" '
             f'minor="{minor}" git="{git}" state="clean" commit="" platform="linux/amd64"'),
        info("main.go:101", '"SSL fake certificate created" '
             'file="/etc/ingress-controller/ssl/default-fake-certificate.pem"'),
        info("nginx.go:271", '"Starting NGINX Ingress controller"'),
        info("nginx.go:317", '"Starting NGINX process"'),
        info("leaderelection.go:250", f"attempting to acquire leader lease {lease}...")]
    if settings.webhook:
        lines.append(info("nginx.go:337", f'"Starting validation webhook" '
                          f'address="{settings.webhook}" certPath="/usr/local/certificates/'
                          'cert" keyPath="/usr/local/certificates/key"'))
    return lines + [
        info("controller.go:193", '"Configuration changes detected, backend reload required"'),
        info("leaderelection.go:260", f"successfully acquired lease {lease}"),
        info("status.go:85", f'"New leader elected" identity="{pod}"'),
        info("controller.go:213", '"Backend successfully reloaded"'),
        info("controller.go:224", '"Initial sync, sleeping for 1 second"')]


# ingress-nginx's upstreaminfo line: $remote_addr - $remote_user [$time_local] "$request" ...
ACCESS_LINE = re.compile(r'\S+ - \S+ \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "')
# kubeloop's logging lines (kubeloop/logs.py): "10:00:00.123 W ingress ingress.proxy] ..."
LOG_RECORD = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d{3}) ([A-Z]) \S+ (\S+)\] (.*)")
_SEVERITY = {"W": "W", "E": "E", "C": "E"}  # logging's WARNING, ERROR, CRITICAL


def record_time(hour: int, minute: int, second: int, millis: int, now: float) -> float:
    """The epoch time of a logging line's local ``HH:MM:SS.mmm`` read at ``now``: today's,
    or yesterday's when today's is still ahead (a line written before midnight)."""
    moment = datetime.fromtimestamp(now).replace(hour=hour, minute=minute, second=second,
                                                 microsecond=millis * 1000).timestamp()
    return moment - 86400 if moment > now + 60 else moment


class IngressLog(FollowedFile):
    """The ingress process's log (DATA/logs/ingress.log) as the controller pod shows it:
    access lines as they are, WARNING and ERROR records as klog lines (with the lines of
    their traceback), INFO and DEBUG records left out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.in_record = False  # the last record was copied: its continuation lines go too

    def copy(self, line: str, now: float) -> str | None:
        if ACCESS_LINE.match(line):
            self.in_record = False
            return line
        record = LOG_RECORD.fullmatch(line)
        if record is None:
            return line if self.in_record and line else None
        hour, minute, second, millis = (int(record[i]) for i in range(1, 5))
        severity = _SEVERITY.get(record[5])
        self.in_record = severity is not None
        if severity is None:
            return None
        source = record[6].rpartition(".")[2]  # the logger's module stands for the Go file
        return klog(severity, record_time(hour, minute, second, millis, now),
                    f"{source}.go:0", record[7])


class Health(HttpApp):
    """The controller's health port: ``/healthz`` (the pod's probes) and Prometheus's
    ``/metrics``; other paths, Go's 404."""

    def __init__(self, settings: Settings, namespace: str, pod: str, started: float) -> None:
        self._ok = go_respond(200, b"ok", [("Content-Type", "text/plain; charset=utf-8"),
                                           ("X-Content-Type-Options", "nosniff")])
        self._metrics = go_respond(200, metrics(settings, namespace, pod, started).encode(),
                                   [("Content-Type", "text/plain; version=0.0.4; "
                                     "charset=utf-8")])

    def handle(self, req: Request) -> Response:
        if req.path == "/healthz":
            return self._ok
        if req.path == "/metrics":
            return self._metrics
        return NOT_FOUND


def metrics(settings: Settings, namespace: str, pod: str, started: float) -> str:
    """The controller's own metrics: its build, the one (successful) reload, the lease."""
    controller = (f'controller_class="{settings.controller_class}",'
                  f'controller_namespace="{namespace}",controller_pod="{pod}"')
    families: list[formats.Family] = [
        ("nginx_ingress_controller_build_info", "gauge", "A metric with a constant '1' "
         "labeled with information about the build.",
         [(f'build="{BUILD}",{controller},release="{settings.release}",'
           f'repository="{REPOSITORY}"', 1)]),
        ("nginx_ingress_controller_config_last_reload_successful", "gauge",
         "Whether the last configuration reload attempt was successful", [(controller, 1)]),
        ("nginx_ingress_controller_config_last_reload_successful_timestamp_seconds", "gauge",
         "Timestamp of the last successful configuration reload.",
         [(controller, int(started))]),
        ("nginx_ingress_controller_leader_election_status", "gauge", "Gauge reporting "
         "status of the leader election, 0 indicates follower, 1 indicates leader. 'name' "
         "is the string used to identify the lease",
         [(f'{controller},name="{settings.election_id}"', 1)]),
        ("nginx_ingress_controller_success", "counter",
         "Cumulative number of Ingress controller reload operations", [(controller, 1)]),
        ("process_start_time_seconds", "gauge",
         "Start time of the process since unix epoch in seconds.", [("", round(started, 2))]),
    ]
    return formats.prometheus_text(families)


class IngressNginx(Program):
    """The controller pod: the relays to the ingress process (none when its address is
    not known here), the health port, the start-up lines, and the ingress process's log
    followed when it is on this host (``log`` None: only the start-up lines)."""

    def __init__(self, settings: Settings, namespace: str, pod: str, api: str,
                 ingress_ip: str | None, log: Path | None, started: float) -> None:
        self.settings, self.namespace, self.pod, self.api = settings, namespace, pod, api
        relays = [ForwardApp((ingress_ip, port) if ingress_ip else None)
                  for port in (HTTP_PORT, HTTPS_PORT)]
        self.listeners = (
            Listener(settings.healthz_port, "TCP", Health(settings, namespace, pod, started)),
            Listener(settings.http_port, "TCP", relays[0]),
            Listener(settings.https_port, "TCP", relays[1]))
        self.follows = (IngressLog(log),) if log is not None else ()

    def banner(self, now: float) -> list[str]:
        return startup(self.settings, self.namespace, self.pod, self.api, now)

    def terminated(self, now: float) -> Exit:
        # SIGTERM: the controller drains and stops nginx, then exits 0.
        return Exit(0, (klog("I", now, "sigterm.go:36", '"Received SIGTERM, shutting down"'),
                        klog("I", now, "nginx.go:393", '"Shutting down controller queues"'),
                        klog("I", now, "nginx.go:409", '"Stopping NGINX process"'),
                        klog("I", now, "nginx.go:422", '"NGINX process has stopped"'),
                        klog("I", now, "sigterm.go:44",
                             "Handled quit, delaying controller exit for 0 seconds"),
                        klog("I", now, "sigterm.go:47", '"Exiting" code=0')))

    def bind_failed(self, listener: Listener, errno: int, reason: str, now: float) -> Exit:
        if listener.port == self.settings.healthz_port:
            return Exit(1, (klog("F", now, "main.go:159",
                                 f"listen tcp :{listener.port}: bind: {reason.lower()}"),))
        # nginx itself cannot bind: the controller's first reload fails and it exits.
        return Exit(1, (klog("E", now, "nginx.go:321", f'"Error starting NGINX" '
                             f'err="nginx: [emerg] bind() to 0.0.0.0:{listener.port} '
                             f'failed ({errno}: {reason})"'),))
