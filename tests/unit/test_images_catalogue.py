"""Which behaviour a container gets from its image reference and command line."""

from __future__ import annotations

from typing import Any

import pytest

from node_agent.images import catalogue, flags
from node_agent.images.catalogue import Kind, choose, parse_reference
from node_agent.images.flags import Flag, FlagError


@pytest.mark.parametrize("image, registry, repository, tag, digest", [
    ("nginx", "docker.io", "library/nginx", "latest", ""),
    ("nginx:1.25", "docker.io", "library/nginx", "1.25", ""),
    ("docker.io/library/nginx:1.27-alpine", "docker.io", "library/nginx", "1.27-alpine", ""),
    ("index.docker.io/library/nginx", "docker.io", "library/nginx", "latest", ""),
    ("nginx@sha256:0123", "docker.io", "library/nginx", "", "sha256:0123"),
    ("nginx:1.25@sha256:0123", "docker.io", "library/nginx", "1.25", "sha256:0123"),
    ("hashicorp/http-echo", "docker.io", "hashicorp/http-echo", "latest", ""),
    ("k8s.gcr.io/echoserver:1.4", "registry.k8s.io", "echoserver", "1.4", ""),
    ("localhost:5000/team/app:v2", "localhost:5000", "team/app", "v2", ""),
    ("us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0", "us-docker.pkg.dev",
     "google-samples/containers/gke/hello-app", "1.0", ""),
    ("mirror.gcr.io/library/busybox:1.36", "docker.io", "library/busybox", "1.36", ""),
], ids=lambda v: v if isinstance(v, str) and v else None)
def test_parse_reference(image: str, registry: str, repository: str, tag: str,
                         digest: str) -> None:
    assert parse_reference(image) == catalogue.ImageRef(registry, repository, tag, digest)


NO_PORTS: list[dict[str, Any]] = []


@pytest.mark.parametrize("image, command, args, env, kind, settings", [
    ("nginx", [], [], {}, Kind.NGINX, {"version": "1.27.5", "port": 80, "entrypoint": True}),
    ("nginx:1.25.3", [], [], {}, Kind.NGINX, {"version": "1.25.3", "port": 80,
                                              "entrypoint": True}),
    ("nginx:1.25-alpine", [], [], {}, Kind.NGINX, {"version": "1.25.5", "port": 80,
                                                   "entrypoint": True}),
    ("nginx:stable", [], [], {}, Kind.NGINX, {"version": "1.26.3", "port": 80,
                                              "entrypoint": True}),
    ("docker.io/library/nginx@sha256:ab", [], [], {}, Kind.NGINX,
     {"version": "1.27.5", "port": 80, "entrypoint": True}),
    ("nginx", ["nginx"], ["-g", "daemon off;"], {}, Kind.NGINX,
     {"version": "1.27.5", "port": 80, "entrypoint": False}),
    ("nginx", [], ["nginx-debug", "-g", "daemon off;"], {}, Kind.NGINX,
     {"version": "1.27.5", "port": 80, "entrypoint": True}),
    ("nginxinc/nginx-unprivileged", [], [], {}, Kind.NGINX,
     {"version": "1.27.5", "port": 8080, "entrypoint": True}),
    ("httpd:2.4", [], [], {}, Kind.HTTPD, {"version": "2.4.63"}),
    ("httpd:2.4.58-alpine", [], [], {}, Kind.HTTPD, {"version": "2.4.58"}),
    ("gcr.io/google-samples/hello-app:2.0", [], [], {}, Kind.HELLO_APP,
     {"version": "2.0.0", "port": 8080}),
    ("us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0", [], [],
     {"PORT": "9000"}, Kind.HELLO_APP, {"version": "1.0.0", "port": 9000}),
    ("hashicorp/http-echo:1.0", [], ["-text=hello", "-listen=:8080"], {}, Kind.HTTP_ECHO,
     {"text": "hello", "status": 200, "listen": ":8080", "port": 8080,
      "version": "1.0.0"}),
    ("hashicorp/http-echo", [], ["-text", "hi", "--status-code=404"], {}, Kind.HTTP_ECHO,
     {"text": "hi", "status": 404, "listen": ":5678", "port": 5678, "version": "1.0.0"}),
    ("hashicorp/http-echo", [], [], {"ECHO_TEXT": "from env"}, Kind.HTTP_ECHO,
     {"text": "from env", "status": 200, "listen": ":5678", "port": 5678,
      "version": "1.0.0"}),
    ("registry.k8s.io/echoserver:1.10", [], [], {}, Kind.ECHOSERVER, {"legacy": False}),
    ("k8s.gcr.io/echoserver:1.4", [], [], {}, Kind.ECHOSERVER, {"legacy": True}),
    ("kicbase/echo-server:1.0", [], [], {}, Kind.JMALLOC_ECHO, {"port": 8080}),
    ("ealen/echo-server", [], [], {}, Kind.EALEN_ECHO, {"port": 80}),
    ("ealen/echo-server", [], [], {"PORT": "3000"}, Kind.EALEN_ECHO, {"port": 3000}),
    ("ealen/echo-server", [], ["--port", "4000"], {}, Kind.EALEN_ECHO, {"port": 4000}),
    ("registry.k8s.io/e2e-test-images/agnhost:2.53", [], ["netexec"], {}, Kind.NETEXEC,
     {"http_port": 8080, "udp_port": 8081}),
    ("registry.k8s.io/e2e-test-images/agnhost:2.53", [],
     ["netexec", "--http-port=8090", "--udp-port", "-1", "--v=2"], {}, Kind.NETEXEC,
     {"http_port": 8090, "udp_port": -1}),
    ("registry.k8s.io/e2e-test-images/agnhost:2.53", ["/agnhost", "netexec"], [], {},
     Kind.NETEXEC, {"http_port": 8080, "udp_port": 8081}),
    ("registry.k8s.io/e2e-test-images/agnhost:2.53", [], ["serve-hostname"], {},
     Kind.SERVE_HOSTNAME, {"tcp": False, "udp": False, "http": True, "close": False,
                           "port": 9376}),
    ("registry.k8s.io/e2e-test-images/agnhost:2.53", [],
     ["serve-hostname", "--http=false", "--udp", "--tcp", "--port=9000"], {},
     Kind.SERVE_HOSTNAME, {"tcp": True, "udp": True, "http": False, "close": False,
                           "port": 9000}),
    ("registry.k8s.io/e2e-test-images/agnhost:2.40", [], ["liveness"], {}, Kind.LIVENESS,
     {}),
    ("registry.k8s.io/e2e-test-images/agnhost:2.40", [], ["pause"], {},
     Kind.AGNHOST_PAUSE, {}),
    ("registry.k8s.io/pause:3.10", [], [], {}, Kind.PAUSE, {}),
], ids=lambda v: v if isinstance(v, str) else None)
def test_serving_programs(image: str, command: list[str], args: list[str],
                          env: dict[str, str], kind: Kind, settings: dict[str, Any]) -> None:
    choice = choose(image, command, args, env, NO_PORTS)
    assert (choice.kind, dict(choice.settings)) == (kind, settings)


@pytest.mark.parametrize("image, command, args, argv", [
    ("busybox", [], [], ("sh",)),
    ("busybox:1.36", ["sleep", "3600"], [], ("sleep", "3600")),
    ("busybox", [], ["sh", "-c", "echo hi"], ("sh", "-c", "echo hi")),
    ("alpine:3.20", [], [], ("/bin/sh",)),
    ("ubuntu", [], [], ("/bin/bash",)),
    ("debian:bookworm", [], [], ("bash",)),
    ("nicolaka/netshoot", [], [], ("zsh",)),
    ("curlimages/curl", [], [], ("curl",)),
    ("curlimages/curl:8.10.1", [], ["-s", "http://web"], ("curl", "-s", "http://web")),
    ("curlimages/curl", [], ["http://web"], ("curl", "http://web")),
    ("curlimages/curl", [], ["sh", "-c", "curl web"], ("sh", "-c", "curl web")),
    ("curlimages/curl", ["curl"], ["-v", "web"], ("curl", "-v", "web")),
    ("nginx", ["sh", "-c", "sleep 1"], [], ("sh", "-c", "sleep 1")),
    ("nginx", [], ["sleep", "5"], ("sleep", "5")),
    ("hashicorp/http-echo", ["sh"], [], ("sh",)),
    ("python:3.12", ["python", "-c", "print(1)"], [], ("python", "-c", "print(1)")),
    ("myorg/tool", ["/bin/tool"], ["--flag"], ("/bin/tool", "--flag")),
], ids=lambda v: " ".join(v) if isinstance(v, (list, tuple)) else v)
def test_commands_go_to_the_toolbox(image: str, command: list[str], args: list[str],
                                    argv: tuple[str, ...]) -> None:
    choice = choose(image, command, args, {}, NO_PORTS)
    assert (choice.kind, choice.argv) == (Kind.COMMAND, argv)


@pytest.mark.parametrize("image, args, env, code, first_line", [
    ("hashicorp/http-echo", [], {}, 127, "Missing -text option OR ENV var TEXT is empty!"),
    ("hashicorp/http-echo", ["-text=a", "extra"], {}, 127, "Too many arguments!"),
    ("hashicorp/http-echo", ["-bogus"], {}, 2, "flag provided but not defined: -bogus"),
    ("hashicorp/http-echo", ["-text"], {}, 2, "flag needs an argument: -text"),
    ("hashicorp/http-echo", ["-text=a", "-status-code=abc"], {}, 2,
     'invalid value "abc" for flag -status-code: parse error'),
    ("hashicorp/http-echo", ["-text=a", "-listen=5678"], {}, 1,
     "listen tcp: address 5678: missing port in address"),
    ("hashicorp/http-echo:0.2.3", ["-version"], {}, 0, "http-echo v0.2.3 ()"),
    ("nginx", ["nginx", "-v"], {}, 0, "nginx version: nginx/1.27.5"),
    ("httpd:2.4.62", ["httpd", "-v"], {}, 0, "Server version: Apache/2.4.62 (Unix)"),
    ("gcr.io/google-samples/hello-app:1.0", [], {"PORT": "http"}, 1,
     "listen tcp: lookup tcp/http: unknown port"),
    ("registry.k8s.io/e2e-test-images/agnhost:2.53", ["serve-hostname", "--udp"], {}, 1,
     "Can't server TCP/UDP mode and HTTP mode at the same time"),
    ("registry.k8s.io/e2e-test-images/agnhost:2.53", ["netexec", "--bogus"], {}, 1,
     "Error: unknown flag: --bogus"),
    ("registry.k8s.io/e2e-test-images/agnhost:2.53", ["netexec", "-p"], {}, 1,
     "Error: unknown shorthand flag: 'p' in -p"),
    ("registry.k8s.io/e2e-test-images/agnhost:2.53", ["netexec", "--http-port=x"], {}, 1,
     'Error: invalid argument "x" for "--http-port" flag: strconv.ParseInt: parsing "x": '
     'invalid syntax'),
    ("registry.k8s.io/e2e-test-images/agnhost:2.53", ["netexec", "extra"], {}, 1,
     "Error: accepts at most 0 arg(s), received 1"),
    ("registry.k8s.io/e2e-test-images/agnhost:2.53", ["frobnicate"], {}, 1,
     'Error: unknown command "frobnicate" for "app"'),
    ("registry.k8s.io/e2e-test-images/agnhost:2.53", ["porter"], {}, 1,
     "kubeloop: agnhost porter is not emulated (netexec, serve-hostname, liveness and "
     "pause are)"),
    ("registry.k8s.io/e2e-test-images/agnhost:2.53", [], {}, 0, "Usage:"),
    ("ealen/echo-server", ["--port=x"], {}, 1,
     'RangeError [ERR_SOCKET_BAD_PORT]: options.port should be >= 0 and < 65536. '
     'Received "x".'),
], ids=lambda v: " ".join(v) if isinstance(v, list) else (v if isinstance(v, str) else None))
def test_programs_that_end_at_once(image: str, args: list[str], env: dict[str, str],
                                   code: int, first_line: str) -> None:
    choice = choose(image, [], args, env, NO_PORTS)
    assert choice.kind is Kind.EXIT and choice.exit is not None
    assert (choice.exit.code, choice.exit.lines[0]) == (code, first_line)


@pytest.mark.parametrize("ports, expected", [
    ([], []),
    ([{"containerPort": 8080}], [(8080, "TCP")]),
    ([{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53, "protocol": "TCP"}],
     [(53, "UDP"), (53, "TCP")]),
    ([{"containerPort": 80}, {"containerPort": 80, "protocol": "TCP", "name": "http"}],
     [(80, "TCP")]),
    ([{"containerPort": 9, "protocol": "SCTP"}], []),
], ids=["none", "one-tcp", "udp-and-tcp", "duplicate", "sctp-skipped"])
def test_unknown_images_serve_their_declared_ports(ports: list[dict[str, Any]],
                                                   expected: list[tuple[int, str]]) -> None:
    choice = choose("registry.example.com/team/api:3.1", [], ["--serve"], {}, ports)
    assert (choice.kind, choice.settings["ports"]) == (Kind.GENERIC, expected)


@pytest.mark.parametrize("tag, expected", [
    ("latest", "1.27.5"), ("1.27.3", "1.27.3"), ("1.26", "1.26.3"),
    ("1.23-alpine-slim", "1.23.4"), ("1.99", "1.99.0"), ("stable-perl", "1.26.3"),
    ("mainline", "1.27.5"), ("", "1.27.5"),
])
def test_nginx_version_from_tag(tag: str, expected: str) -> None:
    assert catalogue.nginx_version(tag) == expected


@pytest.mark.parametrize("tag, default, expected", [
    ("2.0", "1.0.0", "2.0.0"), ("1", "1.0.0", "1.0.0"), ("0.2.3", "1.0.0", "0.2.3"),
    ("latest", "1.0.0", "1.0.0"), ("v1.2", "x", "1.2.0"),
])
def test_semver_from_tag(tag: str, default: str, expected: str) -> None:
    assert catalogue.semver(tag, default) == expected


GO_FLAGS = (Flag("listen", str, ":5678", "address"), Flag("n", int, 1, "count"),
            Flag("v", bool, False, "verbose"))


@pytest.mark.parametrize("argv, values, rest", [
    ([], {"listen": ":5678", "n": 1, "v": False}, []),
    (["-listen=:80", "-n", "3"], {"listen": ":80", "n": 3, "v": False}, []),
    (["--listen", ":81", "-v"], {"listen": ":81", "n": 1, "v": True}, []),
    (["-v=false", "-n=0x10"], {"listen": ":5678", "n": 16, "v": False}, []),
    (["-n=010"], {"listen": ":5678", "n": 8, "v": False}, []),
    (["-v", "extra", "-n=2"], {"listen": ":5678", "n": 1, "v": True}, ["extra", "-n=2"]),
    (["--", "-v"], {"listen": ":5678", "n": 1, "v": False}, ["-v"]),
], ids=["defaults", "equals-and-space", "double-dash", "bool-false-hex", "octal",
        "stops-at-argument", "terminator"])
def test_go_flag_parsing(argv: list[str], values: dict[str, Any], rest: list[str]) -> None:
    assert flags.parse_go("/prog", argv, GO_FLAGS) == (values, rest)


def test_go_flag_help_exits_zero_with_usage() -> None:
    with pytest.raises(FlagError) as failure:
        flags.parse_go("/prog", ["-h"], GO_FLAGS)
    assert failure.value.exit.code == 0
    assert failure.value.exit.lines[:3] == ("Usage of /prog:", "  -listen string",
                                            '    \taddress (default ":5678")')
