"""The emulated ingress-nginx controller image: how its command line is read (dumb-init,
lenient flags, ``--version``), its banner and start-up lines, which lines of the ingress
process's log it copies and how it rewords them, its health port, and how the followed
file is read (new bytes only; replaced, truncated and flooded files)."""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

import pytest

from node_agent.images import ingress_nginx, tail
from node_agent.images.catalogue import Kind, choose
from node_agent.images.ingress_nginx import Health, IngressLog, Settings, record_time
from node_agent.images.model import Request

IMAGE = "registry.k8s.io/ingress-nginx/controller:v1.11.3"
# apiserver/bootstrap.py's args, $(POD_NAMESPACE) expanded.
ADDON_ARGS = ["/nginx-ingress-controller", "--election-id=ingress-nginx-leader",
              "--controller-class=k8s.io/ingress-nginx", "--ingress-class=nginx",
              "--publish-service=ingress-nginx/ingress-nginx-controller",
              "--configmap=ingress-nginx/ingress-nginx-controller"]
POD = "ingress-nginx-controller-5d88495688-x2x4k"
NOW = 1733220000.123456
KLOG = re.compile(r"[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6}       7 [\w.]+\.go:\d+\] .+")


# --- the command line ------------------------------------------------------------------


def settings_of(image: str, args: list[str], command: list[str] | None = None) -> Settings:
    choice = choose(image, command or [], args, {}, [])
    assert choice.kind is Kind.INGRESS_NGINX, choice
    return choice.settings["settings"]


def test_the_addon_deployment_runs_the_controller() -> None:
    assert settings_of(IMAGE, ADDON_ARGS) == Settings(election_id="ingress-nginx-leader")


@pytest.mark.parametrize("args, expected", [
    (["--http-port=8080", "--https-port", "8443", "--healthz-port=10256"],
     Settings(http_port=8080, https_port=8443, healthz_port=10256)),
    (["--validating-webhook=:8443", "--validating-webhook-certificate=/c", "--v=2"],
     Settings(webhook=":8443")),
    # flags the emulation does not read, klog's, a shorthand and a stray word: accepted
    (["--enable-ssl-passthrough", "--watch-ingress-without-class", "true", "-v=3",
      "--default-ssl-certificate", "ns/secret", "extra"], Settings()),
], ids=["ports", "webhook", "unread-flags"])
def test_flags(args: list[str], expected: Settings) -> None:
    assert settings_of(IMAGE, ["/nginx-ingress-controller", *args]) == expected


@pytest.mark.parametrize("image, release", [
    ("registry.k8s.io/ingress-nginx/controller:v1.10.1", "v1.10.1"),
    ("k8s.gcr.io/ingress-nginx/controller:v1.2.0@sha256:" + "a" * 64, "v1.2.0"),
    ("registry.k8s.io/ingress-nginx/controller@sha256:" + "b" * 64, "v1.11.3"),
    ("registry.k8s.io/ingress-nginx/controller-chroot:v1.12.0", "v1.12.0"),
], ids=["tag", "old-registry-and-digest", "digest-alone", "chroot"])
def test_the_tag_sets_the_release(image: str, release: str) -> None:
    assert settings_of(image, ADDON_ARGS).release == release


def test_the_image_default_runs_dumb_init_then_the_controller() -> None:
    assert settings_of(IMAGE, []) == Settings()
    explicit = ["/usr/bin/dumb-init", "--", "/nginx-ingress-controller", "--http-port=81"]
    assert settings_of(IMAGE, [], command=explicit).http_port == 81


def test_version_prints_the_banner() -> None:
    choice = choose(IMAGE, [], ["/nginx-ingress-controller", "--version"], {}, [])
    assert choice.kind is Kind.EXIT and choice.exit is not None
    assert choice.exit.code == 0
    assert choice.exit.lines[1:6] == (
        "NGINX Ingress controller", "  Release:       v1.11.3",
        f"  Build:         {ingress_nginx.BUILD}",
        "  Repository:    https://github.com/kubernetes/ingress-nginx",
        "  nginx version: nginx/1.25.5")


def test_a_bad_port_fails_like_pflag() -> None:
    choice = choose(IMAGE, [], ["/nginx-ingress-controller", "--http-port=eighty"], {}, [])
    assert choice.kind is Kind.EXIT and choice.exit is not None
    assert choice.exit.code == 1
    assert choice.exit.lines[0] == ('Error: invalid argument "eighty" for "--http-port" flag: '
                                    'strconv.ParseInt: parsing "eighty": invalid syntax')


def test_another_command_goes_to_the_toolbox() -> None:
    choice = choose(IMAGE, ["sh", "-c", "cat /etc/nginx/nginx.conf"], [], {}, [])
    assert choice.kind is Kind.COMMAND


# --- start-up lines --------------------------------------------------------------------


def test_the_banner_then_klog_lines() -> None:
    lines = ingress_nginx.startup(Settings(election_id="ingress-nginx-leader"),
                                  "ingress-nginx", POD, "10.96.0.1:443", NOW)
    rule = "-" * 79
    assert lines[:9] == [rule, "NGINX Ingress controller", "  Release:       v1.11.3",
                         f"  Build:         {ingress_nginx.BUILD}",
                         "  Repository:    https://github.com/kubernetes/ingress-nginx",
                         "  nginx version: nginx/1.25.5", "", rule, ""]
    klog = lines[9:]
    assert all(KLOG.fullmatch(line) for line in klog), klog
    assert klog[0].startswith("W1203 10:00:00.123456       7 client_config.go:659] ")
    messages = [line.partition("] ")[2] for line in klog]
    assert messages[1] == '"Creating API client" host="https://10.96.0.1:443"'
    assert messages[2].startswith('"Running in Kubernetes cluster" major="1" minor="32" ')
    assert "attempting to acquire leader lease ingress-nginx/ingress-nginx-leader..." in \
        messages
    assert messages[-5:] == [
        '"Configuration changes detected, backend reload required"',
        "successfully acquired lease ingress-nginx/ingress-nginx-leader",
        f'"New leader elected" identity="{POD}"', '"Backend successfully reloaded"',
        '"Initial sync, sleeping for 1 second"']
    assert not any("validation webhook" in m for m in messages)


def test_the_webhook_starts_when_asked() -> None:
    lines = ingress_nginx.startup(Settings(webhook=":8443"), "ingress-nginx", POD,
                                  "10.96.0.1:443", NOW)
    assert any('"Starting validation webhook" address=":8443"' in line for line in lines)


def test_sigterm_exits_0_with_the_shutdown_lines() -> None:
    program = ingress_nginx.IngressNginx(Settings(), "ingress-nginx", POD, "10.96.0.1:443",
                                         None, None, NOW)
    end = program.terminated(NOW)
    assert end.code == 0
    assert all(KLOG.fullmatch(line) for line in end.lines)
    assert end.lines[0].endswith('] "Received SIGTERM, shutting down"')


# --- the ingress process's log -----------------------------------------------------------

ACCESS = ('127.0.0.1 - - [03/Dec/2024:10:00:00 +0000] "GET /users HTTP/1.1" 200 45 "-" '
          '"curl/8.5.0" 78 0.002 [production-user-service-80] [] 127.244.1.7:8080 45 0.002 '
          "200 3f0b6c4e2a1d9f8e7c6b5a4938271605")


def local_clock(now: float) -> str:
    """HH:MM:SS.mmm of ``now`` in local time, as kubeloop's logging prints it."""
    moment = datetime.fromtimestamp(now)
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


CLOCK = local_clock(NOW)


@pytest.mark.parametrize("lines, expected", [
    ([ACCESS], [ACCESS]),
    ([f'127.244.1.9 - - [03/Dec/2024:10:00:00 +0000] "GET / HTTP/2.0" 404 146 "-" "-" 20 '
      "0.000 [upstream-default-backend] [] - - - - abc"],
     [f'127.244.1.9 - - [03/Dec/2024:10:00:00 +0000] "GET / HTTP/2.0" 404 146 "-" "-" 20 '
      "0.000 [upstream-default-backend] [] - - - - abc"]),
    ([f"{CLOCK} I ingress ingress.server] listening on 127.10.0.253 ports 80 and 443"],
     [None]),
    ([f"{CLOCK} D ingress ingress.proxy] upstream closed"], [None]),
    ([f"{CLOCK} W ingress ingress.controller] Ingress default/web: service web not found"],
     ["W1203 10:00:00.123000       7 controller.go:0] Ingress default/web: service web not "
      "found"]),
    ([f"{CLOCK} E ingress ingress.proxy] ingress: request handling failed",
      "Traceback (most recent call last):", '  File "proxy.py", line 1, in f',
      "ValueError: boom", ACCESS],
     ["E1203 10:00:00.123000       7 proxy.go:0] ingress: request handling failed",
      "Traceback (most recent call last):", '  File "proxy.py", line 1, in f',
      "ValueError: boom", ACCESS]),
    ([f"{CLOCK} I ingress kubeloop.tasks] 3 tasks:", "main: server.py:run:12"],
     [None, None]),
    ([f"{CLOCK} C ingress ingress] out of file descriptors"],
     ["E1203 10:00:00.123000       7 ingress.go:0] out of file descriptors"]),
    (["", "stray output"], [None, None]),
], ids=["access", "default-backend", "info", "debug", "warning", "error-traceback",
        "info-continuation", "critical", "other"])
def test_which_lines_are_copied(lines: list[str], expected: list[str | None]) -> None:
    copier = IngressLog(Path("ingress.log"))
    assert [copier.copy(line, NOW + 0.5) for line in lines] == expected


def test_a_record_from_before_midnight_keeps_its_day() -> None:
    midnight = datetime(2024, 12, 3, 0, 0, 1).timestamp()
    assert record_time(23, 59, 59, 500, midnight) == \
        datetime(2024, 12, 2, 23, 59, 59, 500000).timestamp()
    assert record_time(0, 0, 0, 250, midnight) == \
        datetime(2024, 12, 3, 0, 0, 0, 250000).timestamp()


# --- the health port -------------------------------------------------------------------


def get(path: str) -> Request:
    return Request("GET", path, "1.1", (("host", "127.244.1.5:10254"),), b"",
                   ("127.10.0.1", 40000), ("127.244.1.5", 10254), NOW)


def test_healthz_and_metrics() -> None:
    health = Health(Settings(election_id="ingress-nginx-leader"), "ingress-nginx", POD, NOW)
    ok = health.handle(get("/healthz"))
    assert (ok.status, ok.body) == (200, b"ok")
    metrics = health.handle(get("/metrics"))
    assert metrics.status == 200
    assert b"Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n" in metrics.head
    text = metrics.body.decode()
    controller = ('controller_class="k8s.io/ingress-nginx",'
                  f'controller_namespace="ingress-nginx",controller_pod="{POD}"')
    assert f"nginx_ingress_controller_config_last_reload_successful{{{controller}}} 1\n" \
        in text
    assert (f'nginx_ingress_controller_leader_election_status{{{controller},'
            f'name="ingress-nginx-leader"}} 1\n') in text
    assert "# TYPE nginx_ingress_controller_build_info gauge\n" in text
    assert "process_start_time_seconds 1.73322000012e+09\n" in text
    missing = health.handle(get("/nginx_status"))
    assert (missing.status, missing.body) == (404, b"404 page not found\n")


# --- following the file ------------------------------------------------------------------


def stat(inode: int, size: int) -> os.stat_result:
    return os.stat_result((0o100644, inode, 0, 1, 0, 0, size, 0, 0, 0))


@pytest.mark.parametrize("position, now, expected", [
    (tail.Position(7, 100), stat(7, 150), (100, 50, True)),
    (tail.Position(7, 100), stat(8, 30), (0, 30, False)),  # rotated: a new file
    (tail.Position(7, 100), stat(7, 40), (0, 40, False)),  # truncated
    (tail.Position(), stat(9, 20), (0, 20, False)),  # appeared after the start
    (tail.Position(7, 0), stat(7, tail.MAX_READ + 10), (10, tail.MAX_READ, False)),
], ids=["grown", "replaced", "truncated", "appeared", "flooded"])
def test_what_is_read(position: tail.Position, now: os.stat_result,
                      expected: tuple[int, int, bool]) -> None:
    assert tail.next_read(position, now) == expected


def test_a_file_there_at_the_start_is_followed_from_its_end() -> None:
    assert tail.start_position(stat(7, 1234)) == tail.Position(7, 1234)
    assert tail.start_position(None) == tail.Position(0, 0)

