"""NetworkPolicy reachability on a real cluster, after upstream's netpol e2e ("Netpol",
test/e2e/network/netpol): namespaces x, y, z each hold pods a, b, c serving TCP and UDP
on ports 80 and 81 (agnhost netexec; container ports named serve-80-tcp, ...).

A case applies policies (and label changes); then every pod probes every pod on the four
ports from inside the pod (a shell in each, `kubectl exec -i`, runs wget for TCP and
nc -u for UDP, by pod IP, all at once; a denied connection is dropped, so a probe counts
as denied once its timeout passes). The observed truth table must equal the one computed
from the case's expectation rules, as upstream's Reachability: everything reachable, each
rule overriding what came before, a pod always reaching itself. Policies reach the node
agents through watches, asynchronously: the probes repeat until the table matches or
SETTLE passes, and a failure shows both tables. Each case removes its policies and labels
afterwards; the pods and shells serve the whole module."""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from kubeloop import Cluster
from tests.integration.conftest import Kubectl, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

NAMESPACES = ("x", "y", "z")
PODS = tuple(f"{ns}/{name}" for ns in NAMESPACES for name in ("a", "b", "c"))
PREFIX = "netpol-"  # the namespaces are netpol-x, netpol-y, netpol-z
NAME_LABEL = "kubernetes.io/metadata.name"
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.52"

Port = tuple[str, int]
TCP80, TCP81, UDP80, UDP81 = ("TCP", 80), ("TCP", 81), ("UDP", 80), ("UDP", 81)
PORTS = (TCP80, TCP81, UDP80, UDP81)
# Seconds a probe waits: what every denied cell costs. One that misses it under load reads
# as a denial, and expect() probes again.
PROBE_TIMEOUT = 0.5
SETTLE = 10.0  # seconds a change may take to show in every probe
Table = dict[tuple[str, str, Port], bool]  # (from pod, to pod, port) -> reachable
SHOWN = 8  # wrong pairs a failure lists by name, per port


# --- expectations --------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """Connections from ``src`` to ``dst`` ("*", a namespace "x" or a pod "x/a") on the
    ports ``on`` are reachable or not."""
    src: str
    dst: str
    reachable: bool
    on: tuple[Port, ...]

    def covers(self, src: str, dst: str, port: Port) -> bool:
        return _names(self.src, src) and _names(self.dst, dst) and port in self.on


def _names(peer: str, pod: str) -> bool:
    return peer in ("*", pod, pod.split("/")[0])


def allow(src: str, dst: str, *on: Port) -> Rule:
    return Rule(src, dst, True, on or PORTS)


def deny(src: str, dst: str, *on: Port) -> Rule:
    return Rule(src, dst, False, on or PORTS)


def expected_table(rules: tuple[Rule, ...]) -> Table:
    table = {}
    for src in PODS:
        for dst in PODS:
            for port in PORTS:
                reachable = True
                for rule in rules:
                    if rule.covers(src, dst, port):
                        reachable = rule.reachable
                table[src, dst, port] = reachable or src == dst
    return table


def truth_tables(want: Table, seen: Table) -> str:
    """Upstream's truth tables for each port where they differ: a row per client, a column
    per server, '.' reachable, 'X' not, '!' a wrong cell; then the first wrong pairs."""
    def grid(cell: Callable[[str], str]) -> str:
        return " ".join("".join(cell(f"{ns}/{name}") for name in "abc") for ns in NAMESPACES)

    lines = []
    for port in PORTS:
        wrong = [(s, d) for s in PODS for d in PODS if want[s, d, port] != seen[s, d, port]]
        if not wrong:
            continue
        lines += [f"{port[0]}/{port[1]:<6}expected      observed      wrong",
                  "to:       " + "   ".join([grid(lambda d: d[0])] * 3),
                  "          " + "   ".join([grid(lambda d: d[-1])] * 3)]
        for src in PODS:
            lines.append(f"from {src}  " + "   ".join(grid(cell) for cell in (
                lambda d: "." if want[src, d, port] else "X",
                lambda d: "." if seen[src, d, port] else "X",
                lambda d: "!" if want[src, d, port] != seen[src, d, port] else ".")))
        lines += [f"  {s} -> {d}: expected {'reachable' if want[s, d, port] else 'denied'}"
                  for s, d in wrong[:SHOWN]]
        lines += [f"  and {len(wrong) - SHOWN} more"] if len(wrong) > SHOWN else []
    return "\n".join(lines)


# --- the pods and the probes ---------------------------------------------------------

def server_pod(ns: str, name: str) -> dict:
    """Upstream's probe target: one container per port, each serving it over TCP and UDP."""
    containers = [{"name": f"cont-{port}", "image": AGNHOST,
                   "args": ["netexec", f"--http-port={port}", f"--udp-port={port}"],
                   "ports": [{"name": f"serve-{port}-{proto.lower()}", "containerPort": port,
                              "protocol": proto} for proto in ("TCP", "UDP")]}
                  for port in (80, 81)]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": PREFIX + ns, "labels": {"pod": name}},
            "spec": {"containers": containers}}


def probe_script(ips: dict[str, str]) -> str:
    """Every probe at once, each printing "POD PROTOCOL PORT ANSWER" (the server's
    hostname, empty when nothing answered). nc -u runs under `timeout`: its own -w does
    not end a wait for an answer that never comes."""
    lines = []
    for pod, ip in ips.items():
        for protocol, port in PORTS:
            ask = (f"wget -q -T {PROBE_TIMEOUT} -O - http://{ip}:{port}/hostname 2>/dev/null"
                   if protocol == "TCP" else
                   f"echo hostname | timeout {PROBE_TIMEOUT} nc -u {ip} {port}")
            lines.append(f'(r=$({ask}); echo "{pod} {protocol} {port} $r") &')
    return "\n".join([*lines, "wait"])


MARKER = "probed-"  # what the line closing a script's output starts with


class Shell:
    """`kubectl exec -i POD -- sh` kept open: starting an exec costs more than the probes
    it runs. Scripts go to its stdin; each ends by echoing a marker that closes its output."""

    def __init__(self, kubectl: Kubectl, pod: str) -> None:
        ns, name = pod.split("/")
        self._proc = subprocess.Popen(
            ["kubectl", "exec", "-i", "-n", PREFIX + ns, name, "-c", "cont-80", "--", "sh"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=kubectl.cluster.env)
        self._lines: queue.Queue[str | None] = queue.Queue()  # None: the shell ended
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def send(self, script: str, marker: str) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(f"{script}\necho {marker}\n")
        self._proc.stdin.flush()

    def receive(self, marker: str, timeout: float) -> list[str]:
        """The output of the script sent with ``marker``; what an earlier, abandoned
        script printed (before its own marker) is dropped."""
        deadline, lines = time.monotonic() + timeout, list[str]()
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {marker} after {timeout}s: {lines}") from None
            if line is None:
                raise AssertionError(f"the shell ended ({self._proc.wait()}): {lines}")
            if line == marker:
                return lines
            lines = [] if line.startswith(MARKER) else [*lines, line]

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class Probes:
    """The nine servers: their addresses, and a shell in each to probe the others from."""

    def __init__(self, kubectl: Kubectl, ips: dict[str, str]) -> None:
        self.ips = ips
        self._script = probe_script(ips)
        self._shells = {pod: Shell(kubectl, pod) for pod in PODS}
        self._runs = itertools.count()

    def observe(self) -> Table:
        """Every pod probing every pod on every port, all at once."""
        marker = f"{MARKER}{next(self._runs)}"
        for shell in self._shells.values():
            shell.send(self._script, marker)
        table: Table = {}
        for src, shell in self._shells.items():
            for line in shell.receive(marker, timeout=30):
                words = line.split()  # POD PROTOCOL PORT [ANSWER]
                # an answer from another pod than the one probed would be a routing bug
                assert len(words) in (3, 4) and words[0] in self.ips \
                    and words[3:] in ([], [words[0][-1]]), f"from {src}: {line!r}"
                table[src, words[0], (words[1], int(words[2]))] = len(words) == 4
        assert len(table) == len(PODS) ** 2 * len(PORTS), "some probes did not report"
        return table

    def expect(self, *rules: Rule) -> None:
        """The probes show exactly the table the rules describe (within SETTLE)."""
        want = expected_table(rules)
        deadline = time.monotonic() + SETTLE
        while (seen := self.observe()) != want and time.monotonic() < deadline:
            pass
        if seen != want:
            pytest.fail("reachability differs from the expected truth table\n"
                        + truth_tables(want, seen), pytrace=False)

    def close(self) -> None:
        for shell in self._shells.values():
            shell.close()


class Matrix:
    """What a case does to the pods: policies, labels (both undone by cleanup), and
    expectations."""

    def __init__(self, kubectl: Kubectl, probes: Probes) -> None:
        self.kubectl = kubectl
        self._probes = probes
        self._policies: set[tuple[str, str]] = set()
        self._labels: list[tuple[str, ...]] = []  # `kubectl label` arguments undoing one

    def expect(self, *rules: Rule) -> None:
        self._probes.expect(*rules)

    def cidr(self, pod: str) -> str:
        """The pod's address as an ipBlock."""
        return f"{self._probes.ips[pod]}/32"

    def apply(self, ns: str, name: str, spec: dict) -> None:
        """Creates or replaces the policy ``name`` in namespace ``ns``."""
        self._policies.add((ns, name))
        self.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": PREFIX + ns}, "spec": spec}))

    def delete(self, ns: str, name: str) -> None:
        self._policies.discard((ns, name))
        self.kubectl("delete", "networkpolicy", "-n", PREFIX + ns, name)

    def label_namespace(self, ns: str, key: str, value: str) -> None:
        self._label(("namespace", PREFIX + ns), key, value)

    def label_pod(self, pod: str, key: str, value: str) -> None:
        ns, name = pod.split("/")
        self._label(("pod", "-n", PREFIX + ns, name), key, value)

    def _label(self, target: tuple[str, ...], key: str, value: str) -> None:
        self._labels.append((*target, f"{key}-"))
        self.kubectl("label", *target, f"{key}={value}")

    def cleanup(self) -> None:
        if self._policies:
            self.kubectl("delete", "--ignore-not-found", "-f", "-", input=json.dumps({
                "apiVersion": "v1", "kind": "List", "items": [
                    {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": name, "namespace": PREFIX + ns}}
                    for ns, name in sorted(self._policies)]}))
        for args in self._labels:
            self.kubectl("label", *args)


@pytest.fixture(scope="module")
def probes(cluster: Cluster) -> Iterator[Probes]:
    """The nine servers, all reachable."""
    kubectl = Kubectl(cluster)
    namespaces = [{"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": PREFIX + ns, "labels": {"ns": ns}}} for ns in NAMESPACES]
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        *namespaces, *(server_pod(*pod.split("/")) for pod in PODS)]}))

    def running() -> dict[str, str] | None:
        items = kubectl.json("get", "pods", "-A", "-l", "pod")["items"]
        ips = {f"{p['metadata']['namespace'].removeprefix(PREFIX)}/{p['metadata']['name']}":
               p["status"].get("podIP") for p in items
               if p["metadata"]["namespace"].startswith(PREFIX)
               and p["status"].get("phase") == "Running"}
        return ips if len(ips) == len(PODS) and all(ips.values()) else None

    try:
        found = Probes(kubectl, wait_for(running, timeout=30, what="the nine servers Running"))
        try:
            found.expect()
            yield found
        finally:
            found.close()
    finally:
        kubectl.run("delete", "namespace", *(PREFIX + ns for ns in NAMESPACES), "--wait=false",
                    check=False)


@pytest.fixture
def matrix(cluster: Cluster, probes: Probes) -> Iterator[Matrix]:
    m = Matrix(Kubectl(cluster), probes)
    try:
        yield m
    finally:
        m.cleanup()


# --- the cases -----------------------------------------------------------------------

CASES: list[Any] = []


def case(run: Callable[[Matrix], None]) -> Callable[[Matrix], None]:
    """Registers a case; its test id is the function's name."""
    CASES.append(pytest.param(run, id=run.__name__.replace("_", "-")))
    return run


def labels(**match: str) -> dict:
    return {"matchLabels": match}


def expr(key: str, operator: str, *values: str) -> dict:
    return {"matchExpressions": [{"key": key, "operator": operator, "values": list(values)}]}


POD_A = labels(pod="a")
INGRESS, EGRESS, BOTH = ["Ingress"], ["Egress"], ["Ingress", "Egress"]


def egress_only(pods: dict, *rules: dict) -> dict:
    """A policy isolating only egress (policyTypes given, as upstream's tests give it)."""
    return {"podSelector": pods, "policyTypes": EGRESS, "egress": list(rules)}


@case
def default_deny_ingress(m: Matrix) -> None:
    m.apply("x", "deny-ingress", {"podSelector": {}, "policyTypes": INGRESS})
    m.expect(deny("*", "x"))


@case
def default_deny_egress(m: Matrix) -> None:
    m.apply("x", "deny-egress", {"podSelector": {}, "policyTypes": EGRESS})
    m.expect(deny("x", "*"))


@case
def default_deny_all(m: Matrix) -> None:
    m.apply("x", "deny-all", {"podSelector": {}, "policyTypes": BOTH})
    m.expect(deny("*", "x"), deny("x", "*"))


@case
def allow_all_ingress_and_egress(m: Matrix) -> None:
    m.apply("x", "allow-all", {"podSelector": {}, "ingress": [{}], "egress": [{}],
                               "policyTypes": BOTH})
    m.expect()


@case
def ingress_pod_selector_within_server_namespace(m: Matrix) -> None:
    m.apply("x", "x-a-allows-x-b", {"podSelector": POD_A,
                                    "ingress": [{"from": [{"podSelector": labels(pod="b")}]}]})
    m.expect(deny("*", "x/a"), allow("x/b", "x/a"))


@case
def ingress_allowed_for_one_target_over_deny_all(m: Matrix) -> None:
    m.apply("x", "deny-all", {"podSelector": {}, "policyTypes": INGRESS})
    m.apply("x", "allow-all-to-a", {"podSelector": POD_A, "ingress": [
        {"from": [{"podSelector": {}, "namespaceSelector": {}}]}]})
    m.expect(deny("*", "x"), allow("*", "x/a"))


@case
def ingress_from_all_namespaces_empty_namespace_selector(m: Matrix) -> None:
    m.apply("x", "deny-all", {"podSelector": {}, "policyTypes": INGRESS})
    m.apply("x", "from-every-namespace", {"podSelector": labels(pod="b"), "ingress": [
        {"from": [{"namespaceSelector": {}}]}]})
    m.expect(deny("*", "x"), allow("*", "x/b"))


@case
def ingress_only_from_another_namespace_namespace_selector(m: Matrix) -> None:
    m.apply("x", "from-y", {"podSelector": POD_A, "ingress": [
        {"from": [{"namespaceSelector": labels(ns="y")}]}]})
    m.expect(deny("*", "x/a"), allow("y", "x/a"))


@case
def ingress_namespace_selector_default_name_label(m: Matrix) -> None:
    m.apply("x", "from-z", {"podSelector": POD_A, "ingress": [
        {"from": [{"namespaceSelector": labels(**{NAME_LABEL: PREFIX + "z"})}]}]})
    m.expect(deny("*", "x/a"), allow("z", "x/a"))


@case
def ingress_pod_selector_match_expressions(m: Matrix) -> None:
    m.apply("x", "not-from-b", {"podSelector": POD_A, "ingress": [
        {"from": [{"podSelector": expr("pod", "NotIn", "b")}]}]})
    m.expect(deny("*", "x/a"), allow("x", "x/a"), deny("x/b", "x/a"))


@case
def ingress_namespace_selector_match_expressions(m: Matrix) -> None:
    m.apply("x", "from-y", {"podSelector": POD_A, "ingress": [
        {"from": [{"namespaceSelector": expr(NAME_LABEL, "In", PREFIX + "y")}]}]})
    m.expect(deny("*", "x/a"), allow("y", "x/a"))


@case
def ingress_pod_selector_or_namespace_selector(m: Matrix) -> None:
    m.apply("x", "other-ns-or-b", {"podSelector": POD_A, "ingress": [{"from": [
        {"namespaceSelector": expr(NAME_LABEL, "NotIn", PREFIX + "x")},
        {"podSelector": labels(pod="b")}]}]})
    m.expect(deny("x", "x/a"), allow("x/b", "x/a"))


@case
def ingress_pod_selector_and_namespace_selector(m: Matrix) -> None:
    m.apply("x", "b-of-other-ns", {"podSelector": POD_A, "ingress": [{"from": [
        {"namespaceSelector": expr(NAME_LABEL, "NotIn", PREFIX + "x"),
         "podSelector": labels(pod="b")}]}]})
    m.expect(deny("*", "x/a"), allow("y/b", "x/a"), allow("z/b", "x/a"))


@case
def ingress_multiple_pod_selectors_and_namespace_selectors(m: Matrix) -> None:
    m.apply("x", "b-c-of-other-ns", {"podSelector": POD_A, "ingress": [{"from": [
        {"namespaceSelector": expr(NAME_LABEL, "NotIn", PREFIX + "x"),
         "podSelector": expr("pod", "In", "b", "c")}]}]})
    m.expect(deny("x", "x/a"), deny("y/a", "x/a"), deny("z/a", "x/a"))


@case
def ingress_any_of_several_pod_selectors(m: Matrix) -> None:
    m.apply("x", "b-or-c", {"podSelector": POD_A, "ingress": [{"from": [
        {"podSelector": labels(pod="b")}, {"podSelector": labels(pod="c")}]}]})
    m.expect(deny("*", "x/a"), allow("x/b", "x/a"), allow("x/c", "x/a"))


@case
def ingress_one_pod_of_another_namespace(m: Matrix) -> None:
    m.apply("x", "y-a", {"podSelector": POD_A, "ingress": [{"from": [
        {"namespaceSelector": labels(ns="y"), "podSelector": POD_A}]}]})
    m.expect(deny("*", "x/a"), allow("y/a", "x/a"))


@case
def ingress_ports_tcp(m: Matrix) -> None:
    m.apply("x", "y-on-81", {"podSelector": POD_A, "ingress": [
        {"from": [{"namespaceSelector": labels(ns="y")}],
         "ports": [{"port": 81, "protocol": "TCP"}]}]})
    m.expect(deny("*", "x/a"), allow("y", "x/a", TCP81))


@case
def ingress_ports_udp(m: Matrix) -> None:
    m.apply("x", "y-on-81-udp", {"podSelector": POD_A, "ingress": [
        {"from": [{"namespaceSelector": labels(ns="y")}],
         "ports": [{"port": 81, "protocol": "UDP"}]}]})
    m.expect(deny("*", "x/a"), allow("y", "x/a", UDP81))


@case
def stacked_policies_overlapping_pod_selectors(m: Matrix) -> None:
    y = [{"namespaceSelector": labels(ns="y")}]
    m.apply("x", "y-on-81", {"podSelector": POD_A, "ingress": [
        {"from": y, "ports": [{"port": 81}]}]})
    m.expect(deny("*", "x/a"), allow("y", "x/a", TCP81))
    m.apply("x", "y-on-80", {"podSelector": {}, "ingress": [
        {"from": y, "ports": [{"port": 80}]}]})
    m.expect(deny("*", "x"), allow("y", "x", TCP80), allow("y", "x/a", TCP81))


@case
def ingress_named_port(m: Matrix) -> None:
    m.apply("x", "serve-81-tcp", {"podSelector": {}, "ingress": [
        {"ports": [{"port": "serve-81-tcp"}]}]})
    m.expect(deny("*", "x", TCP80, UDP80, UDP81))


@case
def ingress_named_port_from_namespace(m: Matrix) -> None:
    m.apply("x", "y-on-serve-80-tcp", {"podSelector": POD_A, "ingress": [
        {"from": [{"namespaceSelector": labels(ns="y")}],
         "ports": [{"port": "serve-80-tcp", "protocol": "TCP"}]}]})
    m.expect(deny("*", "x/a"), allow("y", "x/a", TCP80))


@case
def ingress_named_udp_port(m: Matrix) -> None:
    m.apply("x", "serve-81-udp", {"podSelector": POD_A, "ingress": [
        {"ports": [{"port": "serve-81-udp", "protocol": "UDP"}]}]})
    m.expect(deny("*", "x/a", TCP80, TCP81, UDP80))


@case
def egress_named_port(m: Matrix) -> None:
    m.apply("x", "to-serve-80-tcp", egress_only({}, {"ports": [{"port": "serve-80-tcp"}]}))
    m.expect(deny("x", "*", TCP81, UDP80, UDP81))


@case
def updated_policy(m: Matrix) -> None:
    m.apply("x", "allow-all-then-deny-all", {"podSelector": {}, "ingress": [{}]})
    m.expect()
    m.apply("x", "allow-all-then-deny-all", {"podSelector": {}, "ingress": []})
    m.expect(deny("*", "x"))


@case
def ingress_from_updated_namespace(m: Matrix) -> None:
    m.apply("x", "from-ns2-updated", {"podSelector": POD_A, "ingress": [
        {"from": [{"namespaceSelector": labels(ns2="updated")}]}]})
    m.expect(deny("*", "x/a"))
    m.label_namespace("y", "ns2", "updated")
    m.expect(deny("*", "x/a"), allow("y", "x/a"))


@case
def ingress_from_updated_pod(m: Matrix) -> None:
    m.apply("x", "from-b-updated", {"podSelector": POD_A, "ingress": [
        {"from": [{"podSelector": labels(pod="b", pod2="updated")}]}]})
    m.expect(deny("*", "x/a"))
    m.label_pod("x/b", "pod2", "updated")
    m.expect(deny("*", "x/a"), allow("x/b", "x/a"))


@case
def ingress_denied_from_other_namespaces(m: Matrix) -> None:
    m.apply("x", "own-namespace", {"podSelector": {}, "ingress": [
        {"from": [{"podSelector": {}}]}]})
    m.expect(deny("y", "x"), deny("z", "x"))


@case
def ingress_denied_to_updated_pod(m: Matrix) -> None:
    m.apply("x", "isolate-labelled", {"podSelector": labels(target="isolated"),
                                      "policyTypes": INGRESS})
    m.expect()
    m.label_pod("x/a", "target", "isolated")
    m.expect(deny("*", "x/a"))


@case
def egress_denied_for_pod_selector(m: Matrix) -> None:
    m.apply("x", "deny-egress-a", {"podSelector": POD_A, "policyTypes": EGRESS})
    m.expect(deny("x/a", "*"))


@case
def ingress_and_egress_together(m: Matrix) -> None:
    m.apply("x", "a-from-b-to-80", {"podSelector": POD_A, "policyTypes": BOTH,
                                    "ingress": [{"from": [{"podSelector": labels(pod="b")}]}],
                                    "egress": [{"ports": [{"port": 80}]}]})
    m.expect(deny("*", "x/a"), allow("x/b", "x/a"), deny("x/a", "*", TCP81, UDP80, UDP81))


@case
def egress_denied_at_the_client_although_the_server_allows(m: Matrix) -> None:
    x_a = [{"namespaceSelector": labels(ns="x"), "podSelector": POD_A}]
    m.apply("x", "to-y-a", egress_only(POD_A, {"to": [
        {"namespaceSelector": labels(ns="y"), "podSelector": POD_A}]}))
    m.apply("y", "a-from-x-a", {"podSelector": POD_A, "ingress": [{"from": x_a}]})
    m.apply("y", "b-from-x-a", {"podSelector": labels(pod="b"), "ingress": [{"from": x_a}]})
    m.expect(deny("x/a", "*"), deny("*", "y/a"), deny("*", "y/b"), allow("x/a", "y/a"))


@case
def egress_to_a_pod_of_another_namespace(m: Matrix) -> None:
    m.apply("x", "to-y-a", egress_only(POD_A, {"to": [
        {"namespaceSelector": labels(**{NAME_LABEL: PREFIX + "y"}), "podSelector": POD_A}]}))
    m.expect(deny("x/a", "*"), allow("x/a", "y/a"))


@case
def egress_namespace_selector_not_in_default_name_label(m: Matrix) -> None:
    m.apply("x", "not-to-y", egress_only(POD_A, {"to": [
        {"namespaceSelector": expr(NAME_LABEL, "NotIn", PREFIX + "y")}]}))
    m.expect(deny("x/a", "y"))


@case
def egress_rules_without_policy_types_isolate_both_ways(m: Matrix) -> None:
    m.apply("x", "to-b", {"podSelector": POD_A, "egress": [
        {"to": [{"podSelector": labels(pod="b")}]}]})
    m.expect(deny("*", "x/a"), deny("x/a", "*"), allow("x/a", "x/b"))


@case
def ingress_any_port_on_one_protocol(m: Matrix) -> None:
    m.apply("x", "tcp-only", {"podSelector": POD_A, "ingress": [
        {"ports": [{"protocol": "TCP"}]}]})
    m.expect(deny("*", "x/a", UDP80, UDP81))


@case
def ingress_allow_all_takes_precedence(m: Matrix) -> None:
    m.apply("x", "port-80", {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]})
    m.expect(deny("*", "x", TCP81, UDP80, UDP81))
    m.apply("x", "allow-all", {"podSelector": {}, "ingress": [{}]})
    m.expect()


@case
def egress_allow_all_takes_precedence(m: Matrix) -> None:
    m.apply("x", "port-80", egress_only({}, {"ports": [{"port": 80}]}))
    m.expect(deny("x", "*", TCP81, UDP80, UDP81))
    m.apply("x", "allow-all", egress_only({}, {}))
    m.expect()


@case
def policies_stop_applying_once_deleted(m: Matrix) -> None:
    m.apply("x", "deny-all", {"podSelector": {}, "policyTypes": BOTH})
    m.expect(deny("*", "x"), deny("x", "*"))
    m.delete("x", "deny-all")
    m.expect()


@case
def egress_to_a_cidr_block(m: Matrix) -> None:
    m.apply("x", "to-y-b", egress_only(POD_A, {"to": [{"ipBlock": {"cidr": m.cidr("y/b")}}]}))
    m.expect(deny("x/a", "*"), allow("x/a", "y/b"))


@case
def egress_cidr_block_except(m: Matrix) -> None:
    m.apply("x", "all-but-x-b", egress_only(POD_A, {"to": [
        {"ipBlock": {"cidr": "127.0.0.0/8", "except": [m.cidr("x/b")]}}]}))
    m.expect(deny("x/a", "x/b"))


@case
def address_in_one_except_and_another_cidr_is_allowed(m: Matrix) -> None:
    m.apply("x", "all-but-x-b", egress_only(POD_A, {"to": [
        {"ipBlock": {"cidr": "127.0.0.0/8", "except": [m.cidr("x/b")]}}]}))
    m.expect(deny("x/a", "x/b"))
    m.apply("x", "to-x-b", egress_only(POD_A, {"to": [{"ipBlock": {"cidr": m.cidr("x/b")}}]}))
    m.expect()


@case
def ingress_cidr_block_except(m: Matrix) -> None:
    m.apply("x", "all-but-y", {"podSelector": POD_A, "ingress": [{"from": [
        {"ipBlock": {"cidr": "127.0.0.0/8", "except": [m.cidr(f"y/{p}") for p in "abc"]}}]}]})
    m.expect(deny("y", "x/a"))


@case
def ingress_and_egress_policies_apply_independently(m: Matrix) -> None:
    m.apply("x", "egress-for-a", egress_only(POD_A, {}))
    m.expect()
    m.apply("x", "deny-ingress-a", {"podSelector": POD_A, "policyTypes": INGRESS})
    m.expect(deny("*", "x/a"))


@case
def sctp_rule_does_not_admit_tcp(m: Matrix) -> None:
    m.apply("x", "deny-ingress", {"podSelector": {}, "policyTypes": INGRESS})
    m.apply("x", "sctp-81", {"podSelector": POD_A, "ingress": [
        {"ports": [{"port": 81, "protocol": "SCTP"}]}]})
    m.expect(deny("*", "x"))


@case
def sctp_only_policy_isolates_its_pods(m: Matrix) -> None:
    m.apply("x", "sctp-80", {"podSelector": POD_A, "ingress": [
        {"ports": [{"port": 80, "protocol": "SCTP"}]}]})
    m.expect(deny("*", "x/a"))


@case
def udp_rule_does_not_admit_tcp(m: Matrix) -> None:
    m.apply("x", "udp-81", {"podSelector": POD_A, "ingress": [
        {"ports": [{"port": 81, "protocol": "UDP"}]}]})
    m.expect(deny("*", "x/a", TCP80, TCP81, UDP80))


@case
def ingress_port_range(m: Matrix) -> None:
    m.apply("x", "y-on-80-81", {"podSelector": POD_A, "ingress": [
        {"from": [{"namespaceSelector": labels(ns="y")}],
         "ports": [{"port": 80, "endPort": 81}]}]})
    m.expect(deny("*", "x/a"), allow("y", "x/a", TCP80, TCP81))


@case
def ingress_several_port_ranges_and_protocols(m: Matrix) -> None:
    m.apply("x", "ranges", {"podSelector": {}, "ingress": [{"ports": [
        {"port": 81, "endPort": 1000}, {"port": 1, "endPort": 80, "protocol": "UDP"}]}]})
    m.expect(deny("*", "x", TCP80, UDP81))


@case
def egress_port_range(m: Matrix) -> None:
    m.apply("x", "udp-81-90", egress_only(POD_A, {"ports": [
        {"port": 81, "endPort": 90, "protocol": "UDP"}]}))
    m.expect(deny("x/a", "*", TCP80, TCP81, UDP80))


@case
def policy_in_another_namespace_selects_only_its_own_pods(m: Matrix) -> None:
    m.apply("y", "deny-a", {"podSelector": POD_A, "policyTypes": BOTH})
    m.expect(deny("*", "y/a"), deny("y/a", "*"))


@pytest.mark.parametrize("run", CASES)
def test_reachability(matrix: Matrix, run: Callable[[Matrix], None]) -> None:
    run(matrix)
