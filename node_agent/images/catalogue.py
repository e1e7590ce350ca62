"""Which behaviour a container gets: the image reference is normalised (registry aliases,
docker.io/library, tag or digest), looked up among the images kubeloop knows, and the
container's command line is worked out as a container runtime would (spec.command
replaces ENTRYPOINT, spec.args replaces CMD, the image's entrypoint script decides). The
result names the program and its settings, a command for the exec toolbox, or an
immediate exit (a rejected flag, a missing option)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from node_agent import toolbox
from node_agent.images import certgen, coredns, flags, ingress_nginx
from node_agent.images.flags import Flag, FlagError
from node_agent.images.model import Exit


class Kind(StrEnum):
    NGINX = "nginx"
    HTTPD = "httpd"
    HELLO_APP = "hello-app"
    HTTP_ECHO = "http-echo"
    ECHOSERVER = "echoserver"
    JMALLOC_ECHO = "jmalloc-echo-server"
    EALEN_ECHO = "ealen-echo-server"
    NETEXEC = "agnhost-netexec"
    SERVE_HOSTNAME = "agnhost-serve-hostname"
    LIVENESS = "agnhost-liveness"
    AGNHOST_PAUSE = "agnhost-pause"
    PAUSE = "pause"
    COREDNS = "coredns"
    CALICO_NODE = "calico-node"
    CALICO_KUBE_CONTROLLERS = "calico-kube-controllers"
    FLANNEL = "flannel"
    INGRESS_NGINX = "ingress-nginx-controller"
    CERTGEN = "kube-webhook-certgen"
    COMMAND = "command"  # run through the exec toolbox
    EXIT = "exit"  # the process ends at once
    GENERIC = "generic"


@dataclass(frozen=True)
class Choice:
    kind: Kind
    settings: Mapping[str, Any] = field(default_factory=dict)
    argv: tuple[str, ...] = ()  # Kind.COMMAND
    exit: Exit | None = None  # Kind.EXIT


Parser = Callable[["ImageRef", Sequence[str], Mapping[str, str], bool], Choice]


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str  # "latest" when neither tag nor digest is given; "" with a digest alone
    digest: str = ""


_REGISTRY_ALIASES = {"index.docker.io": "docker.io", "registry-1.docker.io": "docker.io",
                     "registry.hub.docker.com": "docker.io", "mirror.gcr.io": "docker.io",
                     "k8s.gcr.io": "registry.k8s.io"}


def parse_reference(image: str) -> ImageRef:
    """Splits and normalises an image reference the way Docker does."""
    name, _, digest = image.strip().partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first.lower(), rest
    else:
        registry, path = "docker.io", name
    registry = _REGISTRY_ALIASES.get(registry, registry)
    head, _, last = path.rpartition("/")
    last, colon, tag = last.partition(":")
    repository = f"{head}/{last}" if head else last
    if registry == "docker.io" and "/" not in repository:
        repository = f"library/{repository}"
    return ImageRef(registry, repository.lower(), tag if colon else
                    ("" if digest else "latest"), digest)


def _version(tag: str) -> tuple[int, ...]:
    match = re.match(r"v?(\d+(?:\.\d+){0,2})", tag)
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


NGINX_DEFAULT = "1.27.5"
NGINX_STABLE = "1.26.3"
# The last patch release of each nginx minor line, for tags like "1.25" or "1.25-alpine".
NGINX_PATCHES = {(1, 20): "1.20.2", (1, 21): "1.21.6", (1, 22): "1.22.1", (1, 23): "1.23.4",
                 (1, 24): "1.24.0", (1, 25): "1.25.5", (1, 26): "1.26.3", (1, 27): "1.27.5",
                 (1, 28): "1.28.0"}
HTTPD_DEFAULT = "2.4.63"


def nginx_version(tag: str) -> str:
    version = _version(tag)
    if len(version) == 3:
        return ".".join(map(str, version))
    if len(version) == 2:
        return NGINX_PATCHES.get(version, f"{version[0]}.{version[1]}.0")
    return NGINX_STABLE if tag.startswith("stable") else NGINX_DEFAULT


def httpd_version(tag: str) -> str:
    version = _version(tag)
    return ".".join(map(str, version)) if len(version) == 3 else HTTPD_DEFAULT


def semver(tag: str, default: str) -> str:
    """``2.0`` -> ``2.0.0``; untagged (latest) -> ``default``."""
    version = _version(tag)
    return ".".join(map(str, version + (0,) * (3 - len(version)))) if version else default


def effective_argv(spec: ImageSpec, command: Sequence[str],
                   args: Sequence[str]) -> tuple[str, ...]:
    """The process a runtime starts: command replaces ENTRYPOINT (and drops CMD), args
    replace CMD."""
    if command:
        return (*command, *args)
    return (*spec.entrypoint, *(args or spec.cmd))


def choose(image: str, command: Sequence[str], args: Sequence[str],
           env: Mapping[str, str], ports: Sequence[Mapping[str, Any]]) -> Choice:
    """The behaviour of a container of ``image`` started with this command line."""
    ref = parse_reference(image)
    spec = IMAGES.get((ref.registry, ref.repository))
    if spec is None:
        if command:
            return Choice(Kind.COMMAND, argv=(*command, *args))
        # With no command the unknown image's own entrypoint would run (args included).
        return Choice(Kind.GENERIC, {"ports": declared_ports(ports)})
    argv = effective_argv(spec, command, args)
    env = {**spec.env, **env}
    entrypoint = False
    if argv and posixpath.basename(argv[0]) == "docker-entrypoint.sh" and spec is _NGINX:
        argv, entrypoint = argv[1:], True
    if argv and posixpath.basename(argv[0]) == "dumb-init" and spec is _INGRESS_NGINX:
        argv = _after_dumb_init(argv[1:])
    if argv and posixpath.basename(argv[0]) == "entrypoint.sh" and spec is _CURL:
        rest = argv[1:]
        # Its entrypoint runs curl unless the first argument is a command it has.
        if not rest or rest[0].startswith("-") or not toolbox.has_command(rest[0]):
            rest = ("curl", *rest)
        argv = rest
    if not argv:
        return Choice(Kind.EXIT, exit=Exit(0))
    if spec.program is None or posixpath.basename(argv[0]) not in spec.binaries:
        return Choice(Kind.COMMAND, argv=argv)
    try:
        return spec.program(ref, argv[1:], env, entrypoint)
    except FlagError as e:
        return Choice(Kind.EXIT, exit=e.exit)


def declared_ports(ports: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    """(containerPort, protocol) of the TCP and UDP ports, without duplicates."""
    seen: list[tuple[int, str]] = []
    for port in ports:
        item = (int(port["containerPort"]), str(port.get("protocol") or "TCP"))
        if item[1] in ("TCP", "UDP") and item not in seen:
            seen.append(item)
    return seen


def _go_port(value: str) -> int:
    """The port of a Go listen address (":8080"), or the FlagError Go would die with."""
    _, colon, port = value.rpartition(":")
    if not colon:
        raise FlagError(Exit(1, (f"listen tcp: address {value}: missing port in address",)))
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise FlagError(Exit(1, (f"listen tcp: lookup tcp/{port}: unknown port",)))
    return int(port)


def _nginx(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
           entrypoint: bool) -> Choice:
    if tuple(args[:1]) == ("-v",):
        version = f"nginx version: nginx/{nginx_version(ref.tag)}"
        return Choice(Kind.EXIT, exit=Exit(0, (version,)))
    port = 8080 if ref.repository == "nginxinc/nginx-unprivileged" else 80
    return Choice(Kind.NGINX, {"version": nginx_version(ref.tag), "port": port,
                               "entrypoint": entrypoint})


def _httpd(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
           entrypoint: bool) -> Choice:
    if tuple(args[:1]) == ("-v",):
        version = f"Server version: Apache/{httpd_version(ref.tag)} (Unix)"
        return Choice(Kind.EXIT, exit=Exit(0, (version,)))
    return Choice(Kind.HTTPD, {"version": httpd_version(ref.tag)})


def _hello(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
           entrypoint: bool) -> Choice:
    port = _go_port(":" + env["PORT"])
    return Choice(Kind.HELLO_APP, {"version": semver(ref.tag, "1.0.0"), "port": port})


HTTP_ECHO_FLAGS = (Flag("listen", str, ":5678", "address and port to listen"),
                   Flag("text", str, "", "text to put on the webpage"),
                   Flag("version", bool, False, "display version information"),
                   Flag("status-code", int, 200, "http response code, e.g.: 200"))


def _http_echo(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
               entrypoint: bool) -> Choice:
    version = semver(ref.tag, "1.0.0")
    values, rest = flags.parse_go("/http-echo", args, HTTP_ECHO_FLAGS)
    if values["version"]:
        return Choice(Kind.EXIT, exit=Exit(0, (f"http-echo v{version} ()",)))
    text = str(values["text"]) or env.get("ECHO_TEXT", "")
    if not text:
        return Choice(Kind.EXIT, exit=Exit(127, ("Missing -text option OR ENV var TEXT is "
                                                 "empty!",)))
    if rest:
        return Choice(Kind.EXIT, exit=Exit(127, ("Too many arguments!",)))
    listen = str(values["listen"])
    return Choice(Kind.HTTP_ECHO, {"text": text, "status": values["status-code"],
                                   "listen": listen, "port": _go_port(listen),
                                   "version": version})


def _echoserver(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
                entrypoint: bool) -> Choice:
    version = _version(ref.tag)
    # 1.4 and older answer with nginx.conf's "CLIENT VALUES" text; later ones use a template.
    return Choice(Kind.ECHOSERVER, {"legacy": bool(version) and version[:2] < (1, 5)})


def _jmalloc(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
             entrypoint: bool) -> Choice:
    return Choice(Kind.JMALLOC_ECHO, {"port": _go_port(":" + env["PORT"])})


def _ealen(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
           entrypoint: bool) -> Choice:
    port = env.get("PORT", "80")
    for i, arg in enumerate(args):  # nconf reads --port=N and --port N
        if arg.startswith("--port="):
            port = arg.split("=", 1)[1]
        elif arg == "--port" and i + 1 < len(args):
            port = args[i + 1]
    if not port.isdigit() or not 0 < int(port) < 65536:
        message = (f"RangeError [ERR_SOCKET_BAD_PORT]: options.port should be >= 0 and "
                   f'< 65536. Received "{port}".')
        return Choice(Kind.EXIT, exit=Exit(1, (message,)))
    return Choice(Kind.EALEN_ECHO, {"port": int(port)})


# klog's flags, which agnhost accepts on every subcommand.
KLOG_FLAGS = frozenset({"v", "vmodule", "logtostderr", "alsologtostderr", "stderrthreshold",
                        "log_dir", "log_file", "log_file_max_size", "one_output",
                        "skip_headers", "skip_log_headers", "add_dir_header",
                        "log_backtrace_at"})
NETEXEC_FLAGS = (Flag("http-port", int, 8080, "HTTP Listen Port"),
                 Flag("udp-port", int, 8081, "UDP Listen Port"),
                 Flag("sctp-port", int, -1, "SCTP Listen Port"),
                 Flag("tls-cert-file", str, "", "File containing an x509 certificate for "
                      "HTTPS. (CA cert, if any, concatenated after server cert)"),
                 Flag("tls-private-key-file", str, "", "File containing an x509 private "
                      "key matching --tls-cert-file"),
                 Flag("http-override", str, "", "Override the HTTP handler to always "
                      "respond as if it were a GET with this path & params"),
                 Flag("udp-listen-addresses", str, "", "A comma separated list of ip "
                      "addresses the udp servers listen from"))
SERVE_HOSTNAME_FLAGS = (Flag("tcp", bool, False, "Serve raw over TCP."),
                        Flag("udp", bool, False, "Serve raw over UDP."),
                        Flag("http", bool, True, "Serve HTTP."),
                        Flag("close", bool, False, "Close connection per each HTTP request."),
                        Flag("port", int, 9376, "Port number."))
AGNHOST_COMMANDS = ("audit-proxy connect crd-conversion-webhook dns-server-list "
                    "dns-suffix entrypoint-tester etc-hosts fake-gitserver "
                    "grpc-health-checking guestbook inclusterclient liveness logs-generator "
                    "mounttest net netexec nettest no-snat-test no-snat-test-proxy pause "
                    "port-forward-tester porter resource-consumer-controller serve-hostname "
                    "tcp-reset test-webserver webhook").split()


def _agnhost(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
             entrypoint: bool) -> Choice:
    if not args or args[0] in ("-h", "--help", "help"):
        usage = ["Usage:", "  app [command]", "", "Available Commands:"]
        usage += [f"  {name}" for name in AGNHOST_COMMANDS]
        return Choice(Kind.EXIT, exit=Exit(0, tuple(usage)))
    sub, rest = args[0], args[1:]
    command = f"agnhost {sub}"
    if sub == "netexec":
        values = flags.parse_cobra(command, rest, NETEXEC_FLAGS, KLOG_FLAGS)
        return Choice(Kind.NETEXEC, {"http_port": values["http-port"],
                                     "udp_port": values["udp-port"]})
    if sub == "serve-hostname":
        values = flags.parse_cobra(command, rest, SERVE_HOSTNAME_FLAGS, KLOG_FLAGS)
        if values["http"] and (values["tcp"] or values["udp"]):
            return Choice(Kind.EXIT, exit=Exit(1, ("Can't server TCP/UDP mode and HTTP mode "
                                                   "at the same time",)))
        return Choice(Kind.SERVE_HOSTNAME, dict(values))
    if sub in ("liveness", "pause"):
        flags.parse_cobra(command, rest, (), KLOG_FLAGS)
        return Choice(Kind.LIVENESS if sub == "liveness" else Kind.AGNHOST_PAUSE)
    if sub in AGNHOST_COMMANDS:
        return Choice(Kind.EXIT, exit=Exit(1, (f"kubeloop: agnhost {sub} is not emulated "
                                               "(netexec, serve-hostname, liveness and "
                                               "pause are)",)))
    return Choice(Kind.EXIT, exit=Exit(1, (f'Error: unknown command "{sub}" for "app"',
                                           "Run 'app --help' for usage.")))


def _pause(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
           entrypoint: bool) -> Choice:
    return Choice(Kind.PAUSE)


COREDNS_FLAGS = (Flag("conf", str, "", 'Corefile to load (default "Corefile")'),
                 Flag("dns.port", str, "53", "Default port"),
                 Flag("pidfile", str, "", "Path to write pid file"),
                 Flag("plugins", bool, False, "List installed plugins"),
                 Flag("quiet", bool, False, "Quiet mode (no initialization output)"),
                 Flag("version", bool, False, "Show version"))


def _coredns(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
             entrypoint: bool) -> Choice:
    version = semver(ref.tag, coredns.VERSION)
    values, _ = flags.parse_go("/coredns", args, COREDNS_FLAGS)
    if values["version"]:
        return Choice(Kind.EXIT, exit=Exit(0, (f"CoreDNS-{version}", coredns.BUILD)))
    if values["plugins"]:
        return Choice(Kind.EXIT, exit=Exit(0, coredns.plugins_listing()))
    # With -conf the Corefile is taken to be kubeadm's (".:53"); without, CoreDNS's
    # default server block listens on -dns.port.
    port = 53 if values["conf"] else _go_port(":" + str(values["dns.port"]))
    return Choice(Kind.COREDNS, {"version": version, "port": port, "quiet": values["quiet"]})


CALICO_DEFAULT = "3.28.2"
FLANNEL_DEFAULT = "0.26.1"


def _calico_node(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
                 entrypoint: bool) -> Choice:
    return Choice(Kind.CALICO_NODE, {"version": "v" + semver(ref.tag, CALICO_DEFAULT)})


def _calico_controllers(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
                        entrypoint: bool) -> Choice:
    return Choice(Kind.CALICO_KUBE_CONTROLLERS,
                  {"version": "v" + semver(ref.tag, CALICO_DEFAULT)})


def _flanneld(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
              entrypoint: bool) -> Choice:
    return Choice(Kind.FLANNEL, {"version": "v" + semver(ref.tag, FLANNEL_DEFAULT)})


def _after_dumb_init(args: Sequence[str]) -> tuple[str, ...]:
    """The command dumb-init runs: what follows its options (and the ``--`` ending them)."""
    rest = list(args)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option == "--":
            break
        if option in ("-r", "--rewrite") and rest:
            rest.pop(0)  # its signal rewrite, s:r
    return tuple(rest)


# The flags of /nginx-ingress-controller that show from outside; the many others (and
# klog's) are accepted and have no effect here.
INGRESS_NGINX_FLAGS = (
    Flag("http-port", int, ingress_nginx.HTTP_PORT, "Port to use for servicing HTTP traffic."),
    Flag("https-port", int, ingress_nginx.HTTPS_PORT,
         "Port to use for servicing HTTPS traffic."),
    Flag("healthz-port", int, ingress_nginx.HEALTHZ_PORT,
         "Port to use for the healthz endpoint."),
    Flag("election-id", str, "ingress-controller-leader", "Election id to use for Ingress "
         "status updates."),
    Flag("controller-class", str, "k8s.io/ingress-nginx", "Ingress Class Controller value "
         "this Ingress satisfies."),
    Flag("validating-webhook", str, "", "The address to start an admission controller on "
         "to validate incoming ingresses."),
    Flag("version", bool, False, "Show release information about the NGINX Ingress "
         "controller and exit."))


def _ingress_nginx(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
                   entrypoint: bool) -> Choice:
    release = "v" + semver(ref.tag, ingress_nginx.RELEASE.lstrip("v"))
    values = flags.parse_cobra("nginx-ingress-controller", args, INGRESS_NGINX_FLAGS,
                               lenient=True)
    if values["version"]:
        return Choice(Kind.EXIT, exit=Exit(0, tuple(ingress_nginx.version_lines(release))))
    return Choice(Kind.INGRESS_NGINX, {"settings": ingress_nginx.Settings(
        release, int(values["http-port"]), int(values["https-port"]),
        int(values["healthz-port"]), str(values["election-id"]),
        str(values["controller-class"]), str(values["validating-webhook"]))})


# kube-webhook-certgen's persistent flags, then each subcommand's own and the ones it
# requires (cobra's MarkFlagRequired).
CERTGEN_GLOBAL_FLAGS = (
    Flag("log-level", str, "info", "Log level: panic|fatal|error|warn|info|debug|trace"),
    Flag("log-format", str, "json", "Log format: text|json"),
    Flag("kubeconfig", str, "", "Path to kubeconfig file: e.g. ~/.kube/kind-config-kind"))
CERTGEN_FLAGS: dict[str, tuple[tuple[Flag, ...], tuple[str, ...]]] = {
    certgen.CREATE: ((
        Flag("host", str, "", "Comma-separated hostnames and IPs to generate a certificate "
             "for"),
        Flag("secret-name", str, "", "Name of the secret where certificate information will "
             "be written"),
        Flag("namespace", str, "", "Namespace of the secret where certificate information "
             "will be written"),
        Flag("cert-name", str, "cert", "Name of cert file in the secret"),
        Flag("key-name", str, "key", "Name of key file in the secret"),
    ), ("host", "namespace", "secret-name")),
    certgen.PATCH: ((
        Flag("secret-name", str, "", "Name of the secret where certificate information will "
             "be read from"),
        Flag("namespace", str, "", "Namespace of the secret where certificate information "
             "will be read from"),
        Flag("webhook-name", str, "", "Name of validatingwebhookconfiguration and "
             "mutatingwebhookconfiguration that will be updated"),
        Flag("patch-validating", bool, True, "If true, patch validatingwebhookconfiguration"),
        Flag("patch-mutating", bool, True, "If true, patch mutatingwebhookconfiguration"),
        Flag("patch-failure-policy", str, "", "If set, patch the webhooks with this failure "
             "policy. Valid options are Ignore or Fail"),
    ), ("namespace", "secret-name", "webhook-name")),
}


def _certgen(ref: ImageRef, args: Sequence[str], env: Mapping[str, str],
             entrypoint: bool) -> Choice:
    if not args or args[0] not in CERTGEN_FLAGS:
        # The root command prints its help and exits 1; an unknown one is cobra's error.
        lines = ("Use this to create a ca and signed certificates and patch admission "
                 "webhooks to allow for quick",) if not args or args[0].startswith("-") else (
            f'Error: unknown command "{args[0]}" for "kube-webhook-certgen"',
            "Run 'kube-webhook-certgen --help' for usage.")
        return Choice(Kind.EXIT, exit=Exit(1, lines))
    command, rest = args[0], args[1:]
    own, required = CERTGEN_FLAGS[command]
    name = f"kube-webhook-certgen {command}"
    values = flags.parse_cobra(name, rest, (*own, *CERTGEN_GLOBAL_FLAGS))
    missing = [f for f in required if not values[f]]
    if missing:
        listed = ", ".join(f'"{f}"' for f in missing)
        return Choice(Kind.EXIT, exit=Exit(1, (
            f"Error: required flag(s) {listed} not set",
            *flags.cobra_usage(name, (*own, *CERTGEN_GLOBAL_FLAGS)), "")))
    return Choice(Kind.CERTGEN, {"command": command, "flags": values})


@dataclass(frozen=True)
class ImageSpec:
    """What kubeloop knows of an image: how its own program reads its arguments,
    ENTRYPOINT and CMD, and the names its binary goes by as argv[0]."""

    program: Parser | None  # None: a shell image, whatever it runs goes to the toolbox
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    binaries: frozenset[str] = frozenset()
    env: Mapping[str, str] = field(default_factory=dict)  # the image's ENV defaults


def _shell(*cmd: str, entrypoint: tuple[str, ...] = ()) -> ImageSpec:
    return ImageSpec(None, entrypoint=entrypoint, cmd=cmd)


_NGINX = ImageSpec(_nginx, ("/docker-entrypoint.sh",), ("nginx", "-g", "daemon off;"),
                   frozenset({"nginx", "nginx-debug"}))
_ECHOSERVER = ImageSpec(_echoserver, ("/usr/local/bin/run.sh",), (),
                        frozenset({"run.sh", "nginx"}))
_AGNHOST = ImageSpec(_agnhost, ("/agnhost",), (), frozenset({"agnhost"}))
_PAUSE = ImageSpec(_pause, ("/pause",), (), frozenset({"pause"}))
_HELLO = ImageSpec(_hello, (), ("/hello-app",), frozenset({"hello-app"}),
                   {"PORT": "8080"})
_BUSYBOX = _shell("sh")
_CURL = _shell("curl", entrypoint=("/entrypoint.sh",))
_COREDNS = ImageSpec(_coredns, ("/coredns",), (), frozenset({"coredns"}))
_CALICO_NODE = ImageSpec(_calico_node, ("start_runit",), (), frozenset({"start_runit"}))
_CALICO_CONTROLLERS = ImageSpec(_calico_controllers, ("/usr/bin/kube-controllers",), (),
                                frozenset({"kube-controllers"}))
_FLANNEL = ImageSpec(_flanneld, ("/opt/bin/flanneld",), (), frozenset({"flanneld"}))
_INGRESS_NGINX = ImageSpec(_ingress_nginx, ("/usr/bin/dumb-init", "--"),
                           ("/nginx-ingress-controller",),
                           frozenset({"nginx-ingress-controller"}))
_JMALLOC = ImageSpec(_jmalloc, ("/bin/echo-server",), (),
                     frozenset({"echo-server"}), {"PORT": "8080"})

IMAGES: dict[tuple[str, str], ImageSpec] = {
    ("docker.io", "library/nginx"): _NGINX,
    ("docker.io", "nginxinc/nginx-unprivileged"): _NGINX,
    ("docker.io", "library/httpd"): ImageSpec(_httpd, (), ("httpd-foreground",),
                                              frozenset({"httpd-foreground", "httpd"})),
    ("gcr.io", "google-samples/hello-app"): _HELLO,
    ("us-docker.pkg.dev", "google-samples/containers/gke/hello-app"): _HELLO,
    ("docker.io", "hashicorp/http-echo"): ImageSpec(_http_echo, ("/http-echo",), (),
                                                    frozenset({"http-echo"})),
    ("registry.k8s.io", "echoserver"): _ECHOSERVER,
    ("gcr.io", "google_containers/echoserver"): _ECHOSERVER,
    ("gcr.io", "google-containers/echoserver"): _ECHOSERVER,
    ("docker.io", "kicbase/echo-server"): _JMALLOC,
    ("docker.io", "jmalloc/echo-server"): _JMALLOC,
    ("docker.io", "ealen/echo-server"): ImageSpec(_ealen, ("node", "webserver"),
                                                  (), frozenset({"node"})),
    ("registry.k8s.io", "e2e-test-images/agnhost"): _AGNHOST,
    ("gcr.io", "kubernetes-e2e-test-images/agnhost"): _AGNHOST,
    ("registry.k8s.io", "pause"): _PAUSE,
    ("gcr.io", "google_containers/pause"): _PAUSE,
    ("gcr.io", "google-containers/pause"): _PAUSE,
    ("registry.k8s.io", "coredns/coredns"): _COREDNS,
    ("registry.k8s.io", "coredns"): _COREDNS,  # where kubeadm before 1.21 took it
    ("docker.io", "coredns/coredns"): _COREDNS,
    ("docker.io", "calico/node"): _CALICO_NODE,
    ("quay.io", "calico/node"): _CALICO_NODE,
    ("docker.io", "calico/kube-controllers"): _CALICO_CONTROLLERS,
    ("quay.io", "calico/kube-controllers"): _CALICO_CONTROLLERS,
    ("docker.io", "flannel/flannel"): _FLANNEL,
    ("ghcr.io", "flannel-io/flannel"): _FLANNEL,
    ("registry.k8s.io", "ingress-nginx/controller"): _INGRESS_NGINX,
    ("registry.k8s.io", "ingress-nginx/controller-chroot"): _INGRESS_NGINX,
    ("registry.k8s.io", "ingress-nginx/kube-webhook-certgen"): ImageSpec(
        _certgen, ("/kube-webhook-certgen",), (), frozenset({"kube-webhook-certgen"})),
    ("docker.io", "library/busybox"): _BUSYBOX,
    ("registry.k8s.io", "e2e-test-images/busybox"): _BUSYBOX,
    ("registry.k8s.io", "busybox"): _BUSYBOX,
    ("gcr.io", "google-containers/busybox"): _BUSYBOX,
    ("docker.io", "library/alpine"): _shell("/bin/sh"),
    ("docker.io", "library/ubuntu"): _shell("/bin/bash"),
    ("docker.io", "library/debian"): _shell("bash"),
    ("docker.io", "curlimages/curl"): _CURL,
    ("docker.io", "nicolaka/netshoot"): _shell("zsh"),
}
