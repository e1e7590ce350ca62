"""The emulated CoreDNS image: how its command line is read, and its pure parts: what the
relay counts, answers and logs when the cluster DNS is silent, the probes, the metrics
page and its start-up and last lines."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from node_agent.images import coredns, formats
from node_agent.images.catalogue import Kind, choose
from node_agent.images.coredns import Counters, CoreDns, Forward, Metrics, Probe
from node_agent.images.model import Listener, RelayFailure, Request

IMAGE = "registry.k8s.io/coredns/coredns:v1.11.3"
KUBEADM_ARGS = ["-conf", "/etc/coredns/Corefile"]
UPSTREAM = ("127.96.0.10", 53)
NOW = 1733220000.25


def query(name: bytes = b"\x03web\x07default\x03svc\x07cluster\x05local\x00",
          qtype: int = 1, flags: bytes = b"\x01\x00", opt: bool = False) -> bytes:
    """A query with ID 0x1234; ``opt`` appends an EDNS0 OPT record."""
    extra = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00" if opt else b""
    counts = b"\x00\x01\x00\x00\x00\x00" + (b"\x00\x01" if opt else b"\x00\x00")
    return b"\x12\x34" + flags + counts + name + qtype.to_bytes(2, "big") + b"\x00\x01" + extra


QUESTION = b"\x03web\x07default\x03svc\x07cluster\x05local\x00\x00\x01\x00\x01"


def http(path: str) -> Request:
    return Request("GET", path, "1.1", (("host", "127.244.1.2:8080"),), b"",
                   ("127.10.0.1", 40000), ("127.244.1.2", 8080), NOW)


# --- the command line ----------------------------------------------------------------------

@pytest.mark.parametrize("image, args, settings", [
    (IMAGE, KUBEADM_ARGS, {"version": "1.11.3", "port": 53, "quiet": False}),
    ("registry.k8s.io/coredns/coredns:v1.8.6", KUBEADM_ARGS,
     {"version": "1.8.6", "port": 53, "quiet": False}),
    ("k8s.gcr.io/coredns:1.7.0", KUBEADM_ARGS, {"version": "1.7.0", "port": 53, "quiet": False}),
    ("coredns/coredns", KUBEADM_ARGS, {"version": "1.11.3", "port": 53, "quiet": False}),
    (IMAGE, [*KUBEADM_ARGS, "-quiet"], {"version": "1.11.3", "port": 53, "quiet": True}),
    (IMAGE, ["-conf", "/etc/coredns/Corefile", "-dns.port", "1053"],
     {"version": "1.11.3", "port": 53, "quiet": False}),
    (IMAGE, ["-dns.port=1053"], {"version": "1.11.3", "port": 1053, "quiet": False}),
    (IMAGE, [], {"version": "1.11.3", "port": 53, "quiet": False}),
], ids=["kubeadm", "minikube-1.23", "old-path", "docker-hub", "quiet", "conf-sets-port",
        "dns-port", "no-args"])
def test_coredns_images_serve(image: str, args: list[str], settings: dict[str, Any]) -> None:
    choice = choose(image, [], args, {}, [])
    assert (choice.kind, dict(choice.settings)) == (Kind.COREDNS, settings)


@pytest.mark.parametrize("args, code, lines", [
    (["-version"], 0, ("CoreDNS-1.11.3", "linux/amd64, go1.21.11, a6338e9")),
    (["-plugins"], 0, ("Server types:", "  dns", "", "Caddyfile loaders:")),
    (["-bogus"], 2, ("flag provided but not defined: -bogus", "Usage of /coredns:")),
    (["-conf"], 2, ("flag needs an argument: -conf", "Usage of /coredns:")),
    (["-dns.port=x"], 1, ("listen tcp: lookup tcp/x: unknown port",)),
], ids=["version", "plugins", "unknown-flag", "missing-value", "bad-port"])
def test_coredns_command_lines_that_end_at_once(args: list[str], code: int,
                                                lines: tuple[str, ...]) -> None:
    choice = choose(IMAGE, [], args, {}, [])
    assert choice.kind is Kind.EXIT and choice.exit is not None
    assert (choice.exit.code, choice.exit.lines[:len(lines)]) == (code, lines)


def test_a_command_replaces_the_coredns_binary() -> None:
    choice = choose(IMAGE, ["sh", "-c", "echo hi"], [], {}, [])
    assert (choice.kind, choice.argv) == (Kind.COMMAND, ("sh", "-c", "echo hi"))


# --- DNS messages --------------------------------------------------------------------------

@pytest.mark.parametrize("message, expected", [
    (query(), ("web.default.svc.cluster.local.", 1, 12 + len(QUESTION))),
    (query(b"\x00", 2), (".", 2, 17)),
    (query(qtype=33, opt=True), ("web.default.svc.cluster.local.", 33, 12 + len(QUESTION))),
    (query(b"\x03a\\b\x00"), ("a\\\\b.", 1, 21)),
    (query(b"\x03a.b\x00"), ("a\\.b.", 1, 21)),
    (query(b"\x02a\x01\x00"), ("a\\001.", 1, 20)),
    (query()[:12], None),
    (query()[:20], None),
    (query(b"\xc0\x0c"), None),
    (b"\x12\x34\x01\x00" + bytes(8), None),
], ids=["a", "root-ns", "srv-with-opt", "backslash", "dot-in-label", "control-byte",
        "header-only", "cut-in-name", "compressed", "no-question"])
def test_question(message: bytes, expected: tuple[str, int, int] | None) -> None:
    assert coredns.question(message) == expected


@pytest.mark.parametrize("message, rcode, expected", [
    (query(), 2, b"\x12\x34\x81\x82\x00\x01" + bytes(6) + QUESTION),
    (query(opt=True), 5, b"\x12\x34\x81\x85\x00\x01" + bytes(6) + QUESTION),
    (query(flags=b"\x00\x00"), 2, b"\x12\x34\x80\x82\x00\x01" + bytes(6) + QUESTION),
    (b"\x12\x34\x01\x00" + bytes(8), 2, b"\x12\x34\x81\x82" + bytes(8)),
], ids=["servfail", "refused-drops-opt", "no-rd", "no-question"])
def test_error_reply(message: bytes, rcode: int, expected: bytes) -> None:
    assert coredns.error_reply(message, rcode) == expected


@pytest.mark.parametrize("failure, tcp, expected", [
    (RelayFailure("timeout", ("127.244.1.2", 41000)), False,
     "read udp 127.244.1.2:41000->127.96.0.10:53: i/o timeout"),
    (RelayFailure("timeout", ("127.244.1.2", 41000)), True,
     "read tcp 127.244.1.2:41000->127.96.0.10:53: i/o timeout"),
    (RelayFailure("timeout", None), True, "dial tcp 127.96.0.10:53: i/o timeout"),
    (RelayFailure("refused", ("127.244.1.2", 41000)), False,
     "read udp 127.244.1.2:41000->127.96.0.10:53: read: connection refused"),
    (RelayFailure("refused", None), True, "dial tcp 127.96.0.10:53: connect: connection refused"),
    (RelayFailure("error", ("127.244.1.2", 41000), "EOF"), True,
     "read tcp 127.244.1.2:41000->127.96.0.10:53: EOF"),
    (RelayFailure("overloaded", None), False, "concurrent queries exceeded maximum 1000"),
], ids=["udp-timeout", "tcp-timeout", "dial-timeout", "udp-refused", "tcp-refused", "eof",
        "overloaded"])
def test_go_error(failure: RelayFailure, tcp: bool, expected: str) -> None:
    assert coredns.go_error(failure, UPSTREAM, tcp) == expected


@pytest.mark.parametrize("value, expected", [
    (0, "0"), (1, "1"), (42, "42"), (999999, "999999"), (1000000, "1e+06"),
    (1234567, "1.234567e+06"), (0.5, "0.5"), (0.0001, "0.0001"), (0.00001, "1e-05"),
    (1733220000.25, "1.73322000025e+09"), (-2.5, "-2.5"),
])
def test_go_float(value: float, expected: str) -> None:
    assert formats.go_float(value) == expected


# --- the relay -----------------------------------------------------------------------------

def test_relay_counts_queries_and_passes_replies_through() -> None:
    counters = Counters()
    forward = Forward(UPSTREAM, counters)
    assert forward.received(query(), tcp=False)
    assert forward.received(query(qtype=33), tcp=True)
    assert forward.received(query(qtype=99), tcp=False)  # SPF: not a monitored type
    reply = b"\x12\x34\x85\x83" + query()[4:]
    assert forward.answer(query(), reply, None, tcp=False) == (reply, None)
    assert counters.requests == {("udp", "A"): 1, ("tcp", "SRV"): 1, ("udp", "other"): 1}
    assert counters.responses == {"NXDOMAIN": 1}


@pytest.mark.parametrize("message", [b"", b"\x12\x34", query()[:11], b"\x12\x34\x81\x80"
                                     + query()[4:]], ids=["empty", "two-bytes", "short",
                                                          "a-response"])
def test_relay_drops_what_is_not_a_query(message: bytes) -> None:
    counters = Counters()
    assert not Forward(UPSTREAM, counters).received(message, tcp=False)
    assert counters.requests == {}


@pytest.mark.parametrize("failure, tcp, rcode, line", [
    (RelayFailure("timeout", ("127.244.1.2", 41000)), False, 2,
     "[ERROR] plugin/errors: 2 web.default.svc.cluster.local. A: read udp "
     "127.244.1.2:41000->127.96.0.10:53: i/o timeout"),
    (RelayFailure("refused", None), True, 2,
     "[ERROR] plugin/errors: 2 web.default.svc.cluster.local. A: dial tcp 127.96.0.10:53: "
     "connect: connection refused"),
    (RelayFailure("overloaded", None), False, 5,
     "[ERROR] plugin/errors: 5 web.default.svc.cluster.local. A: concurrent queries "
     "exceeded maximum 1000"),
], ids=["timeout", "refused", "overloaded"])
def test_relay_failures_answer_and_log_as_coredns(failure: RelayFailure, tcp: bool, rcode: int,
                                                  line: str) -> None:
    counters = Counters()
    reply, logged = Forward(UPSTREAM, counters).answer(query(), None, failure, tcp)
    assert reply == coredns.error_reply(query(), rcode) and logged == line
    assert counters.responses == {coredns.rcode_name(rcode): 1}
    assert counters.rejected == (1 if failure.kind == "overloaded" else 0)


# --- HTTP: probes and metrics --------------------------------------------------------------

@pytest.mark.parametrize("probe, path, status, body", [
    ("/health", "/health", 200, b"OK"),
    ("/ready", "/ready", 200, b"OK"),
    ("/health", "/health/", 404, b"404 page not found\n"),
    ("/ready", "/", 404, b"404 page not found\n"),
])
def test_probes(probe: str, path: str, status: int, body: bytes) -> None:
    resp = Probe(probe).handle(http(path))
    assert (resp.status, resp.body) == (status, body)


def test_metrics_page() -> None:
    counters = Counters()
    forward = Forward(UPSTREAM, counters)
    for tcp in (False, False, True):
        forward.received(query(), tcp)
    forward.answer(query(), b"\x12\x34\x85\x80" + query()[4:], None, tcp=False)
    forward.answer(query(), None, RelayFailure("timeout", None), tcp=False)
    metrics = Metrics("1.11.3", "dns://:53", counters, NOW)
    resp = metrics.handle(http("/metrics"))
    assert resp.status == 200
    assert b"Content-Type: text/plain; version=0.0.4; charset=utf-8" in resp.head
    lines = resp.body.decode().splitlines()
    zone = 'server="dns://:53",view="",zone="."'
    assert [line for line in lines if not line.startswith("#")] == [
        'coredns_build_info{goversion="go1.21.11",revision="a6338e9",version="1.11.3"} 1',
        f'coredns_dns_requests_total{{family="1",proto="tcp",server="dns://:53",type="A",'
        f'view="",zone="."}} 1',
        f'coredns_dns_requests_total{{family="1",proto="udp",server="dns://:53",type="A",'
        f'view="",zone="."}} 2',
        f'coredns_dns_responses_total{{plugin="",rcode="NOERROR",{zone}}} 1',
        f'coredns_dns_responses_total{{plugin="",rcode="SERVFAIL",{zone}}} 1',
        "coredns_forward_max_concurrent_rejects_total 0",
        *(f'coredns_plugin_enabled{{name="{name}",{zone}}} 1' for name in coredns.CHAIN),
        "process_start_time_seconds 1.73322000025e+09",
    ]
    assert "# TYPE coredns_dns_requests_total counter" in lines
    assert metrics.handle(http("/")).status == 404


def test_counters_without_samples_are_not_exposed() -> None:
    text = Metrics("1.11.3", "dns://:53", Counters(), NOW).render()
    assert "coredns_dns_requests_total" not in text and "coredns_build_info{" in text


# --- the program ---------------------------------------------------------------------------

def program(quiet: bool = False, port: int = 53) -> CoreDns:
    return CoreDns("1.11.3", port, quiet, UPSTREAM, NOW)


def test_listeners() -> None:
    assert [(lst.port, lst.protocol, type(lst.app).__name__) for lst in program().listeners] \
        == [(8181, "TCP", "Probe"), (8080, "TCP", "Probe"), (9153, "TCP", "Metrics"),
            (53, "TCP", "Forward"), (53, "UDP", "Forward")]
    udp, tcp = program(port=1053).listeners[-1], program(port=1053).listeners[-2]
    assert (udp.port, tcp.port) == (1053, 1053)


def test_banner_is_coredns_start_up_output() -> None:
    core = program()
    digest = hashlib.sha512(core.corefile().encode()).hexdigest()
    assert core.banner(NOW) == [
        ".:53", f"[INFO] plugin/reload: Running configuration SHA512 = {digest}",
        "CoreDNS-1.11.3", "linux/amd64, go1.21.11, a6338e9"]
    assert len(digest) == 128 and "forward . 127.96.0.10:53" in core.corefile()
    assert program(quiet=True).banner(NOW) == [core.banner(NOW)[1]]


def test_sigterm_goes_into_lameduck_and_exits_zero() -> None:
    assert program().terminated(NOW).code == 0
    assert program().terminated(NOW).lines == (
        "[INFO] SIGTERM: Shutting down servers then terminating",
        "[INFO] plugin/health: Going into lameduck mode for 5s")


@pytest.mark.parametrize("index, reason, line", [
    (3, "Address already in use", "Listen: listen tcp :53: bind: address already in use"),
    (4, "Permission denied", "ListenPacket: listen udp :53: bind: permission denied"),
    (1, "Address already in use", "listen tcp :8080: bind: address already in use"),
], ids=["dns-tcp", "dns-udp", "health"])
def test_bind_failures(index: int, reason: str, line: str) -> None:
    core = program()
    listener: Listener = core.listeners[index]
    assert core.bind_failed(listener, 98, reason, NOW).lines == (line,)
    assert core.bind_failed(listener, 98, reason, NOW).code == 1
