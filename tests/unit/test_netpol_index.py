"""The PolicyIndex as the agent feeds it: changes take effect at once (cache invalidation),
unchanged updates keep the cache, resyncs drop what vanished, addresses map to the right
pod, and verdicts say which policies isolated and which allowed."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from kubeloop.netpol import (
    Direction, DirectionVerdict, EndpointError, External, Pod, PolicyIndex, Reason, Verdict)
from kubeloop.netpol.index import NAMESPACES, PODS, POLICIES
from tests.unit.test_netpol_matrix import (
    DENY_ALL, DENY_INGRESS, ONLY_XA, match, namespace_object, netpol, pod_ip, pod_object, world)

XA, XB, YA, YB = pod_ip("x", "a"), pod_ip("x", "b"), pod_ip("y", "a"), pod_ip("y", "b")
FROM_NS_Y = netpol("from-y", ONLY_XA, ingress=[{"from": [{"namespaceSelector": match(ns="y")}]}])
FROM_B = netpol("from-b", ONLY_XA, ingress=[{"from": [{"podSelector": match(pod="b")}]}])


def allowed(index: PolicyIndex, source: str, destination: str, port: int = 80) -> bool:
    return index.check(source, destination, port).allowed


# Each change: (initial policies, change applied to the index, source, destination,
# allowed before, allowed after). The first check fills the cache; the change must show.
Change = Callable[[PolicyIndex], None]
CHANGES = [
    pytest.param([], lambda i: i.update(POLICIES, DENY_INGRESS), YA, XA, True, False,
                 id="policy-added"),
    pytest.param([DENY_INGRESS], lambda i: i.delete(POLICIES, DENY_INGRESS), YA, XA, False, True,
                 id="policy-deleted"),
    pytest.param([FROM_NS_Y], lambda i: i.update(POLICIES, netpol(
        "from-y", ONLY_XA, ingress=[{"from": [{"namespaceSelector": match(ns="z")}]}])),
        YA, XA, True, False, id="policy-changed"),
    pytest.param([FROM_NS_Y], lambda i: i.update(POLICIES, netpol(
        "from-y", match(pod="b"), ingress=[{"from": [{"namespaceSelector": match(ns="y")}]}])),
        pod_ip("z", "a"), XA, False, True, id="policy-selects-other-pods"),
    pytest.param([FROM_NS_Y], lambda i: i.update(NAMESPACES, namespace_object("y", ns="other")),
                 YA, XA, True, False, id="namespace-label-removed"),
    pytest.param([FROM_NS_Y], lambda i: i.update(NAMESPACES, {"metadata": {
        "name": "z", "labels": {"ns": "y"}}}), pod_ip("z", "a"), XA, False, True,
        id="namespace-label-added"),
    pytest.param([FROM_NS_Y], lambda i: i.delete(NAMESPACES, namespace_object("y")),
                 YA, XA, True, False, id="namespace-deleted-keeps-only-its-name-label"),
    pytest.param([FROM_B], lambda i: i.update(PODS, pod_object("y", "b", {"pod": "b"})),
                 XB, XA, True, True, id="pod-in-other-namespace-irrelevant"),
    pytest.param([FROM_B], lambda i: i.update(PODS, pod_object("x", "b", {"pod": "z"})),
                 XB, XA, True, False, id="source-pod-relabelled"),
    pytest.param([FROM_B], lambda i: i.update(PODS, pod_object("x", "a", {"pod": "z"})),
                 pod_ip("x", "c"), XA, False, True, id="target-pod-relabelled-unselected"),
    pytest.param([FROM_B], lambda i: i.update(PODS, pod_object("x", "c", {"pod": "b"})),
                 pod_ip("x", "c"), XA, False, True, id="source-pod-gets-allowed-label"),
    pytest.param([FROM_B], lambda i: i.update(PODS, pod_object("x", "c", {})),
                 pod_ip("x", "c"), XA, False, False, id="pod-without-labels"),
    pytest.param([netpol("unlabelled", {"matchExpressions": [
        {"key": "pod", "operator": "DoesNotExist"}]}, ingress=[])],
        lambda i: i.update(PODS, pod_object("x", "a", {})), YA, XA, True, False,
        id="pod-loses-its-labels-gets-selected"),
    pytest.param([DENY_INGRESS], lambda i: i.delete(PODS, pod_object("x", "a")), YA, XA,
                 False, True, id="pod-deleted-its-address-is-outside"),
    pytest.param([FROM_B], lambda i: i.resync(POLICIES, []), YA, XA, False, True,
                 id="resync-drops-vanished-policy"),
]


@pytest.mark.parametrize("policies, change, source, destination, before, after", CHANGES)
def test_changes_take_effect(policies: list[dict], change: Change, source: str,
                             destination: str, before: bool, after: bool) -> None:
    index = world(*policies)
    assert allowed(index, source, destination) is before
    change(index)
    assert allowed(index, source, destination) is after


@pytest.mark.parametrize("change", [
    pytest.param(lambda i: i.update(POLICIES, FROM_B), id="same-policy"),
    pytest.param(lambda i: i.update(NAMESPACES, namespace_object("x")), id="same-namespace"),
    pytest.param(lambda i: i.update(PODS, {**pod_object("x", "a"), "status": {
        **pod_object("x", "a")["status"], "conditions": [{"type": "Ready"}]}}),
        id="pod-status-irrelevant-to-policy"),
    pytest.param(lambda i: i.resync(POLICIES, [FROM_B]), id="resync-same-list"),
    pytest.param(lambda i: i.delete(POLICIES, netpol("never-was")), id="delete-unknown"),
])
def test_unchanged_state_keeps_the_cache(change: Change) -> None:
    index = world(FROM_B)
    first = index.check(XB, XA, 80)
    generation = index.generation
    change(index)
    assert index.generation == generation
    assert index.check(XB, XA, 80) is first


def test_verdict_names_every_isolating_and_allowing_policy() -> None:
    index = world(DENY_ALL, FROM_B, netpol("also-b", ONLY_XA, ingress=[{"ports": [{"port": 80}]}]),
                  netpol("x-egress", egress=[{}], types=["Egress"]))
    assert index.check(XB, XA, 80) == Verdict(
        DirectionVerdict(Reason.ALLOWED, ("deny-all", "x-egress"), ("x-egress",)),
        DirectionVerdict(Reason.ALLOWED, ("also-b", "deny-all", "from-b"), ("also-b", "from-b")))
    denied = index.check(YA, XA, 81)
    assert (denied.allowed, denied.denied) == (False, Direction.INGRESS)
    assert denied.describe() == ("DENIED at ingress (egress: not isolated; ingress: denied, "
                                 "isolated by also-b, deny-all, from-b)")


def test_egress_is_named_first_when_both_directions_deny() -> None:
    index = world(DENY_ALL, netpol("deny-y", namespace="y", ingress=[]))
    verdict = index.check(XA, YA, 80)
    assert verdict.denied is Direction.EGRESS
    assert not verdict.egress.allowed and not verdict.ingress.allowed
    assert verdict.describe() == ("DENIED at egress (egress: denied, isolated by deny-all; "
                                  "ingress: denied, isolated by deny-y)")


def test_allowed_verdict_describes_both_directions() -> None:
    assert world(FROM_B).check(XB, XA, 80).describe() == \
        "ALLOWED (egress: not isolated; ingress: allowed by from-b)"


def test_replicas_share_one_identity() -> None:
    index = world(FROM_B)
    for name in ("a2", "a3"):
        index.update(PODS, pod_object("x", name, {"pod": "a"}, ip=f"127.244.1.{name[-1]}"))
    assert index._identity_of[("x", "a")] is index._identity_of[("x", "a3")]
    assert not allowed(index, YA, "127.244.1.3")
    index.delete(POLICIES, FROM_B)
    assert allowed(index, YA, "127.244.1.3")


def test_named_ports_resolve_per_pod_not_per_identity() -> None:
    """Replicas share an identity, but a named port is whatever each pod calls it."""
    index = world(netpol("http", match(pod="web"), ingress=[{"ports": [{"port": "http"}]}]),
                  netpol("to-http", match(pod="b"), egress=[{"ports": [{"port": "http"}]}],
                         types=["Egress"]))
    for name, number in (("web-1", 8080), ("web-2", 9090)):
        web = pod_object("x", name, {"pod": "web"}, ip=f"127.244.1.{number // 1000}")
        web["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": number}]
        index.update(PODS, web)
    assert [allowed(index, YA, "127.244.1.8", port) for port in (8080, 9090)] == [True, False]
    assert [allowed(index, YA, "127.244.1.9", port) for port in (8080, 9090)] == [False, True]
    assert [allowed(index, XB, "127.244.1.9", port) for port in (8080, 9090)] == [False, True]


def test_a_port_scan_does_not_grow_an_identity_without_bound() -> None:
    index = world(DENY_INGRESS)
    for port in range(1, 3000):
        index.evaluate(index.endpoint(YA), index.endpoint(XA), port, "TCP")
    identity = index._identity_of[("x", "a")]
    assert 0 < len(identity._by_port) <= 1024


def test_address_goes_to_its_newest_holder_then_back() -> None:
    index = world()
    index.update(PODS, pod_object("y", "new", {"pod": "new"}, ip=XA))
    assert index.pod_at(XA) == index.pod("y", "new")
    index.delete(PODS, {"metadata": {"namespace": "y", "name": "new"}})
    assert index.pod_at(XA) == index.pod("x", "a")


def test_finished_pod_gives_up_its_address() -> None:
    index = world(DENY_INGRESS)
    done = pod_object("x", "a")
    done["status"]["phase"] = "Succeeded"
    index.update(PODS, done)
    assert index.pod_at(XA) is None
    assert index.check(YA, XA, 80).ingress.reason is Reason.NOT_A_POD


def test_pod_without_address_is_not_reachable_by_address() -> None:
    index = world()
    index.update(PODS, {"metadata": {"namespace": "x", "name": "p"},
                        "status": {"phase": "Pending"}})
    pending = index.pod("x", "p")
    assert pending is not None and pending.address is None
    assert index.isolated(pending) == (False, False)


def test_resync_drops_vanished_pods_and_namespaces() -> None:
    index = world(FROM_NS_Y)
    index.resync(PODS, [pod_object("x", "a"), pod_object("y", "a")])
    assert index.pod_at(XB) is None and index.pod_at(YA) is not None
    index.resync(NAMESPACES, [namespace_object("x")])
    assert not allowed(index, YA, XA)  # y lost its labels with its Namespace object


def test_cache_starts_over_when_full() -> None:
    index = PolicyIndex(cache_size=2)
    index.resync(PODS, [pod_object("x", "a"), pod_object("x", "b")])
    first = index.check(XA, XB, 80)
    index.check(XA, XB, 81)
    index.check(XA, XB, 82)
    assert index.check(XA, XB, 80) is not first and index.check(XA, XB, 80) == first


def test_stand_in_pod_for_a_server_the_agent_runs() -> None:
    """The cluster DNS is served by the agents, not a pod: enforcement can judge it as the
    kube-dns pod it stands for."""
    index = world(netpol("dns-only", ONLY_XA, types=["Egress"], egress=[{
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name":
                                                      "kube-system"}},
                "podSelector": match(**{"k8s-app": "kube-dns"})}],
        "ports": [{"port": 53, "protocol": "UDP"}]}]))
    dns = Pod("kube-system", "coredns", {"k8s-app": "kube-dns"}, "127.96.0.10")
    source = index.endpoint(XA)
    assert index.evaluate(source, dns, 53, "UDP").allowed
    assert not index.evaluate(source, dns, 53, "TCP").allowed
    assert not index.evaluate(source, External.of("127.96.0.10"), 53, "UDP").allowed


@pytest.mark.parametrize("call, error, message", [
    pytest.param(lambda i: i.check("pod-a", XA, 80), EndpointError, "not an IP address",
                 id="bad-source-address"),
    pytest.param(lambda i: i.check(XA, XB, 0), ValueError, "between 1 and 65535",
                 id="port-zero"),
    pytest.param(lambda i: i.check(XA, XB, 80, "tcp"), ValueError, "TCP, UDP or SCTP",
                 id="lowercase-protocol"),
    pytest.param(lambda i: i.update("services", {}), ValueError, "follows", id="unknown-kind"),
    pytest.param(lambda i: i.resync("services", []), ValueError, "follows",
                 id="unknown-kind-resync"),
    pytest.param(lambda i: i.apply(POLICIES, netpol("bad", ingress=[{"from": [{}]}])),
                 ValueError, r"x/bad: spec.ingress\[0\].from\[0\]: must specify a peer",
                 id="apply-raises-for-malformed-policy"),
    pytest.param(lambda i: i.apply(PODS, {"metadata": {"name": "p"},
                                          "status": {"podIP": "127.1"}}),
                 ValueError, "pod default/p: status.podIP: not an IP address",
                 id="apply-raises-for-malformed-pod"),
    pytest.param(lambda i: i.apply(NAMESPACES, {"metadata": {"name": "n", "labels": {"a": 1}}}),
                 ValueError, "namespace n: metadata.labels must map strings to strings",
                 id="apply-raises-for-malformed-namespace"),
])
def test_bad_input_is_refused_clearly(call: Callable[[PolicyIndex], object],
                                      error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call(world())


def test_malformed_update_is_logged_and_drops_the_old_version(
        caplog: pytest.LogCaptureFixture) -> None:
    index = world(DENY_INGRESS)
    broken = netpol("deny-ingress", ingress=[{"ports": [{"port": 0}]}])
    with caplog.at_level(logging.WARNING):
        index.update(POLICIES, broken)
        index.update(POLICIES, {"spec": {}})
    assert "deny-ingress: spec.ingress[0].ports[0].port" in caplog.text
    assert "without metadata.name" in caplog.text
    assert index.policies("x") == []
    assert allowed(index, YA, XA)
