"""Endpoints and EndpointSlices computed from Services and pods (apiserver.endpoints)."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver import endpoints as ep

NS = "default"


def pod(name: str, ip: str | None = "127.244.1.2", *, ready: bool = True,
        labels: dict[str, str] | None = None, node: str = "node-1",
        ports: list[dict] | None = None, deleting: bool = False, phase: str = "Running",
        ready_at: str = "2026-01-01T00:00:10Z", **spec: Any) -> dict:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": f"uid-{name}",
                            "labels": {"app": "web"} if labels is None else labels}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    status: dict[str, Any] = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False",
         "lastTransitionTime": ready_at}]}
    if ip:
        status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
    container = {"name": "c", "image": "nginx", **({"ports": ports} if ports else {})}
    return {"metadata": meta, "spec": {"nodeName": node, "containers": [container], **spec},
            "status": status}


def service(name: str = "web", ports: list[dict] | None = None, *,
            selector: dict[str, str] | None = None, labels: dict[str, str] | None = None,
            **spec: Any) -> dict:
    return {"metadata": {"name": name, "namespace": NS, "uid": f"uid-svc-{name}",
                         "creationTimestamp": "2026-01-01T00:00:00Z",
                         **({"labels": labels} if labels else {})},
            "spec": {"selector": {"app": "web"} if selector is None else selector,
                     "clusterIP": spec.pop("clusterIP", "127.96.0.20"),
                     "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}]
                     if ports is None else ports, **spec}}


def ips(subset: dict, field: str = "addresses") -> list[str]:
    return [a["ip"] for a in subset.get(field) or []]


HTTP = {"name": "http", "containerPort": 8080, "protocol": "TCP"}


@pytest.mark.parametrize("target, protocol, pod_obj, expected", [
    (80, "TCP", pod("a"), 80),
    ("http", "TCP", pod("a", ports=[HTTP]), 8080),
    ("http", "UDP", pod("a", ports=[HTTP]), None),
    ("http", "TCP", pod("a"), None),
    ("http", "TCP", pod("a", initContainers=[{"name": "s", "restartPolicy": "Always",
                                              "ports": [HTTP]}]), 8080),
    ("http", "TCP", pod("a", initContainers=[{"name": "i", "ports": [HTTP]}]), None),
], ids=["number", "named", "named-other-protocol", "name-missing", "sidecar", "init-not-sidecar"])
def test_find_port(target: object, protocol: str, pod_obj: dict, expected: int | None) -> None:
    assert ep.find_port(pod_obj, {"port": 80, "targetPort": target,
                                  "protocol": protocol}) == expected


@pytest.mark.parametrize("pod_obj, include_terminating, expected", [
    (pod("a"), False, True),
    (pod("a", ip=None), True, False),
    (pod("a", phase="Succeeded"), True, False),
    (pod("a", deleting=True), False, False),
    (pod("a", deleting=True), True, True),
], ids=["running", "no-ip", "finished", "terminating", "terminating-included"])
def test_in_endpoints(pod_obj: dict, include_terminating: bool, expected: bool) -> None:
    assert ep.in_endpoints(pod_obj, include_terminating) is expected


@pytest.mark.parametrize("svc, pod_obj, expected", [
    (service(), pod("a"), True),
    (service(), pod("a", labels={"app": "db"}), False),
    (service(selector={}), pod("a"), False),
    (service(selector={"app": "web", "tier": "x"}), pod("a"), False),
    ({**service(), "metadata": {**service()["metadata"], "namespace": "other"}}, pod("a"), False),
], ids=["match", "labels-differ", "no-selector", "partial-match", "other-namespace"])
def test_selects(svc: dict, pod_obj: dict, expected: bool) -> None:
    assert ep.selects(svc, pod_obj) is expected


@pytest.mark.parametrize("svc, expected", [
    (service(), True),
    (service(selector={}), False),
    (service(type="ExternalName", externalName="example.com"), False),
], ids=["selector", "no-selector", "external-name"])
def test_uses_selector(svc: dict, expected: bool) -> None:
    assert ep.uses_selector(svc) is expected


# --- Endpoints --------------------------------------------------------------------------

def test_ready_and_not_ready_addresses() -> None:
    pods = [pod("b", "127.244.1.3", ready=False), pod("a", "127.244.2.2"),
            pod("c", "127.244.1.10", deleting=True), pod("d", None),
            pod("e", "127.244.1.4", labels={"app": "other"})]
    body = ep.endpoints_for(service(), ep.selected(service(), pods), None,
                            "2026-01-01T00:00:00Z")
    assert body is not None
    [subset] = body["subsets"]
    assert ips(subset) == ["127.244.2.2"]
    assert ips(subset, "notReadyAddresses") == ["127.244.1.3"]
    assert subset["ports"] == [{"port": 80, "protocol": "TCP"}]
    assert subset["addresses"][0] == {
        "ip": "127.244.2.2", "nodeName": "node-1",
        "targetRef": {"kind": "Pod", "name": "a", "namespace": NS, "uid": "uid-a"}}
    assert body["metadata"] == {"name": "web", "namespace": NS, "annotations": {
        ep.TRIGGER_TIME: "2026-01-01T00:00:00Z"}}


def test_publish_not_ready_addresses_makes_every_pod_ready() -> None:
    pods = [pod("a", "127.244.1.2", ready=False), pod("b", "127.244.1.3", deleting=True)]
    body = ep.endpoints_for(service(publishNotReadyAddresses=True), pods, None, None)
    assert body is not None
    assert [ips(s) for s in body["subsets"]] == [["127.244.1.2", "127.244.1.3"]]


def test_addresses_sort_numerically() -> None:
    pods = [pod(n, ip) for n, ip in (("b", "127.244.1.10"), ("a", "127.244.1.9"),
                                      ("c", "127.244.2.1"))]
    body = ep.endpoints_for(service(), pods, None, None)
    assert body is not None
    assert ips(body["subsets"][0]) == ["127.244.1.9", "127.244.1.10", "127.244.2.1"]


def test_named_target_ports_resolve_per_pod_and_repack() -> None:
    ports = [{"name": "web", "port": 80, "targetPort": "http", "protocol": "TCP"},
             {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}]
    pods = [pod("a", "127.244.1.2", ports=[HTTP]), pod("b", "127.244.1.3")]
    body = ep.endpoints_for(service(ports=ports), pods, None, None)
    assert body is not None
    assert [(ips(s), [p["port"] for p in s["ports"]]) for s in body["subsets"]] == [
        (["127.244.1.2"], [8080]), (["127.244.1.2", "127.244.1.3"], [9090])]


def test_repack_keeps_an_address_ready_if_ready_anywhere() -> None:
    address = {"ip": "127.1.1.1"}
    port = {"port": 80, "protocol": "TCP"}
    assert ep.repack([(address, False, port), (address, True, port)]) == [
        {"addresses": [address], "ports": [port]}]


def test_headless_without_ports_lists_addresses() -> None:
    body = ep.endpoints_for(service(ports=[], clusterIP="None"), [pod("a")], None, None)
    assert body is not None
    assert body["subsets"] == [{"addresses": [{
        "ip": "127.244.1.2", "nodeName": "node-1",
        "targetRef": {"kind": "Pod", "name": "a", "namespace": NS, "uid": "uid-a"}}]}]
    assert body["metadata"]["labels"] == {ep.HEADLESS: ""}


def test_hostname_published_when_subdomain_names_the_service() -> None:
    pods = [pod("a", "127.244.1.2", hostname="h-a", subdomain="web"),
            pod("b", "127.244.1.3", hostname="h-b", subdomain="other")]
    body = ep.endpoints_for(service(), pods, None, None)
    assert body is not None
    assert [a.get("hostname") for a in body["subsets"][0]["addresses"]] == ["h-a", None]


def test_no_pods_gives_an_empty_endpoints_with_service_labels() -> None:
    body = ep.endpoints_for(service(labels={"app": "web"}), [], None, None)
    assert body == {"apiVersion": "v1", "kind": "Endpoints", "metadata": {
        "name": "web", "namespace": NS, "labels": {"app": "web"}}}


def test_unchanged_endpoints_need_no_write_even_with_a_new_trigger_time() -> None:
    svc, pods = service(), [pod("a")]
    first = ep.endpoints_for(svc, pods, None, "2026-01-01T00:00:00Z")
    assert first is not None
    assert ep.endpoints_for(svc, pods, first, "2026-01-01T00:05:00Z") is None
    relabelled = ep.endpoints_for(service(labels={"x": "y"}), pods, first, None)
    assert relabelled is not None and relabelled["metadata"]["labels"] == {"x": "y"}
    assert ep.TRIGGER_TIME not in relabelled["metadata"].get("annotations", {})


def test_more_than_1000_addresses_are_truncated_ready_first() -> None:
    pods = [pod(f"p{i}", f"127.244.{i // 250}.{i % 250 + 1}", ready=i < 990)
            for i in range(1100)]
    body = ep.endpoints_for(service(), pods, None, None)
    assert body is not None
    [subset] = body["subsets"]
    assert len(subset["addresses"]) == 990 and len(subset["notReadyAddresses"]) == 10
    assert body["metadata"]["annotations"][ep.OVER_CAPACITY] == "truncated"


# --- trigger time -----------------------------------------------------------------------

def test_trigger_time_follows_service_creation_then_pod_changes() -> None:
    svc = service()
    first, state = ep.trigger_time(None, svc, [pod("a", ready_at="2026-01-01T00:00:10Z")])
    assert first == "2026-01-01T00:00:00Z"
    same, state = ep.trigger_time(state, svc, [pod("a", ready_at="2026-01-01T00:00:10Z")])
    assert same is None
    changed, state = ep.trigger_time(state, svc, [
        pod("a", ready_at="2026-01-01T00:00:30Z"), pod("b", ready_at="2026-01-01T00:00:20Z")])
    assert changed == "2026-01-01T00:00:20Z"


# --- EndpointSlices ---------------------------------------------------------------------

def test_pod_groups_carry_conditions_node_zone_and_target() -> None:
    pods = [pod("a", "127.244.1.2"), pod("b", "127.244.1.3", ready=False),
            pod("c", "127.244.1.4", deleting=True), pod("d", "127.244.1.5", phase="Failed")]
    [group] = ep.pod_groups(service(), pods, {"node-1": "zone-a"})
    assert group.ports == ({"name": "", "port": 80, "protocol": "TCP"},)
    conditions = {e["targetRef"]["name"]: e["conditions"] for e in group.endpoints}
    assert conditions == {
        "a": {"ready": True, "serving": True, "terminating": False},
        "b": {"ready": False, "serving": False, "terminating": False},
        "c": {"ready": False, "serving": True, "terminating": True}}
    assert group.endpoints[0] == {
        "addresses": ["127.244.1.2"],
        "conditions": {"ready": True, "serving": True, "terminating": False},
        "nodeName": "node-1",
        "targetRef": {"kind": "Pod", "name": "a", "namespace": NS, "uid": "uid-a"},
        "zone": "zone-a"}


def test_pod_groups_publish_not_ready_marks_terminating_ready() -> None:
    [group] = ep.pod_groups(service(publishNotReadyAddresses=True),
                            [pod("a", deleting=True, ready=False)], {})
    assert group.endpoints[0]["conditions"] == {"ready": True, "serving": False,
                                                "terminating": True}


def test_pod_groups_split_by_resolved_ports() -> None:
    ports = [{"name": "web", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    groups = ep.pod_groups(service(ports=ports), [pod("a", "127.244.1.2", ports=[HTTP]),
                                                   pod("b", "127.244.1.3")], {})
    assert sorted((g.ports, len(g.endpoints)) for g in groups) == [
        ((), 1), (({"name": "web", "port": 8080, "protocol": "TCP"},), 1)]


def test_slice_meta_labels_and_owner() -> None:
    meta = ep.pod_slice_meta(service(labels={"app": "web", ep.MANAGED_BY: "someone"},
                                     clusterIP="None"))
    assert meta["labels"] == {"app": "web", ep.HEADLESS: "", ep.SERVICE_NAME: "web",
                              ep.MANAGED_BY: ep.SLICE_CONTROLLER}
    assert meta["generateName"] == "web-"
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Service", "name": "web",
                                        "uid": "uid-svc-web", "controller": True,
                                        "blockOwnerDeletion": True}]


def endpoint(ip: str, ready: bool = True) -> dict:
    return {"addresses": [ip], "conditions": {"ready": ready}}


PORT80 = ({"name": "", "port": 80, "protocol": "TCP"},)
PORT81 = ({"name": "", "port": 81, "protocol": "TCP"},)
META = {"namespace": NS, "generateName": "web-", "labels": {ep.SERVICE_NAME: "web"}}


def existing(name: str, ports: tuple[dict, ...], *ips_: str) -> dict:
    return {"metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}",
                         "labels": {ep.SERVICE_NAME: "web"}},
            "addressType": "IPv4", "ports": list(ports),
            "endpoints": [endpoint(ip) for ip in ips_]}


def group(ports: tuple[dict, ...], *ips_: str, ready: bool = True) -> ep.Group:
    return ep.Group("IPv4", ports, tuple(endpoint(ip, ready) for ip in ips_))


def summary(plan: ep.SlicePlan) -> tuple:
    def show(body: dict) -> tuple:
        return (body["metadata"].get("name", "new"),
                tuple(e["addresses"][0] for e in body["endpoints"]))
    return (sorted(show(b) for b in plan.create), sorted(show(b) for b in plan.update),
            sorted(s["metadata"]["name"] for s in plan.delete))


ADDRS = [f"127.244.1.{i}" for i in range(1, 8)]


@pytest.mark.parametrize("slices, groups, max_endpoints, expected", [
    ([], [group(PORT80, "127.244.1.1")], 100, ([("new", ("127.244.1.1",))], [], [])),
    ([], [], 100, ([("new", ())], [], [])),
    ([existing("web-a", ())], [], 100, ([], [], [])),
    ([existing("web-a", PORT80, "127.244.1.1")], [group(PORT80, "127.244.1.1")], 100,
     ([], [], [])),
    ([existing("web-a", PORT80, "127.244.1.1")], [group(PORT80, "127.244.1.1", ready=False)],
     100, ([], [("web-a", ("127.244.1.1",))], [])),
    ([existing("web-a", PORT80, "127.244.1.1")], [group(PORT80, "127.244.1.2")], 100,
     ([], [("web-a", ("127.244.1.2",))], [])),
    ([existing("web-a", PORT80, "127.244.1.1")], [], 100, ([], [("web-a", ())], [])),
    ([existing("web-a", PORT80, "127.244.1.1")], [group(PORT81, "127.244.1.1")], 100,
     ([], [("web-a", ("127.244.1.1",))], [])),
    ([], [group(PORT80, *ADDRS[:5])], 2, ([
        ("new", tuple(ADDRS[0:2])), ("new", tuple(ADDRS[2:4])), ("new", (ADDRS[4],))], [], [])),
    ([existing("web-a", PORT80, *ADDRS[:2]), existing("web-b", PORT80, ADDRS[2])],
     [group(PORT80, *ADDRS[:4])], 2, ([], [("web-b", tuple(ADDRS[2:4]))], [])),
    ([existing("web-a", PORT80, ADDRS[0]), existing("web-b", PORT80, ADDRS[1])],
     [group(PORT80, ADDRS[1])], 100, ([], [], ["web-a"])),
    ([existing("web-a", PORT80, ADDRS[0]), existing("web-b", ())],
     [group(PORT80, ADDRS[0])], 100, ([], [], ["web-b"])),
], ids=["first-slice", "placeholder", "placeholder-kept", "unchanged", "condition-changes",
        "endpoint-replaced", "last-endpoint-leaves-placeholder", "ports-change-recycles-name",
        "split-at-max", "fills-slice-with-room", "empty-slice-deleted",
        "placeholder-deleted-once-endpoints-exist"])
def test_plan_slices(slices: list[dict], groups: list[ep.Group], max_endpoints: int,
                     expected: tuple) -> None:
    plan = ep.plan_slices(slices, groups, META, None, max_endpoints=max_endpoints)
    assert summary(plan) == expected


def test_plan_slices_bodies_and_trigger_time() -> None:
    plan = ep.plan_slices([], [group(PORT80, "127.244.1.1")], META, "2026-01-01T00:00:00Z")
    [body] = plan.create
    assert body == {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {**META, "annotations": {ep.TRIGGER_TIME: "2026-01-01T00:00:00Z"}},
        "addressType": "IPv4", "endpoints": [endpoint("127.244.1.1")], "ports": list(PORT80)}
    # A new trigger time alone does not rewrite a slice.
    again = ep.plan_slices([{**body, "metadata": {**body["metadata"], "name": "web-a"}}],
                           [group(PORT80, "127.244.1.1")], META, "2026-01-01T00:09:00Z")
    assert not again


def test_plan_slices_without_placeholder_deletes_everything() -> None:
    plan = ep.plan_slices([existing("web-a", PORT80, "127.1.1.1")], [], META, None,
                          placeholder=False)
    assert summary(plan) == ([], [], ["web-a"])


# --- mirroring --------------------------------------------------------------------------

def user_endpoints(**meta: Any) -> dict:
    return {"metadata": {"name": "ext", "namespace": NS, "uid": "uid-ep", **meta},
            "subsets": [{"addresses": [{"ip": "127.1.2.3", "nodeName": "n1"}],
                         "notReadyAddresses": [{"ip": "127.1.2.4"}],
                         "ports": [{"name": "web", "port": 8080, "protocol": "TCP"}]}]}


def test_mirror_groups_keep_readiness_and_ports() -> None:
    [group_] = ep.mirror_groups(user_endpoints())
    assert group_.ports == ({"name": "web", "port": 8080, "protocol": "TCP"},)
    assert group_.endpoints == (
        {"addresses": ["127.1.2.3"], "conditions": {"ready": True}, "nodeName": "n1"},
        {"addresses": ["127.1.2.4"], "conditions": {"ready": False}})


def test_mirror_slice_meta_copies_labels_and_annotations() -> None:
    meta = ep.mirror_slice_meta(user_endpoints(labels={"team": "a"}, annotations={
        "note": "x", ep.LAST_APPLIED: "{}", ep.TRIGGER_TIME: "t"}))
    assert meta["labels"] == {"team": "a", ep.SERVICE_NAME: "ext",
                              ep.MANAGED_BY: ep.MIRROR_CONTROLLER}
    assert meta["annotations"] == {"note": "x"}
    assert meta["ownerReferences"][0]["kind"] == "Endpoints"


@pytest.mark.parametrize("endpoints_obj, svc, expected", [
    (user_endpoints(), service("ext", selector={}), True),
    (user_endpoints(), None, False),
    (user_endpoints(), service("ext"), False),
    (user_endpoints(labels={ep.SKIP_MIRROR: "true"}), service("ext", selector={}), False),
    (user_endpoints(annotations={ep.LEADER_ELECTION: "{}"}), service("ext", selector={}),
     False),
], ids=["selectorless-service", "no-service", "selector-service", "skip-mirror",
        "leader-election"])
def test_mirrors(endpoints_obj: dict, svc: dict | None, expected: bool) -> None:
    assert ep.mirrors(endpoints_obj, svc) is expected


def test_pod_view_ignores_unrelated_status_changes() -> None:
    a = pod("a")
    b = pod("a")
    b["status"]["containerStatuses"] = [{"restartCount": 1}]
    assert ep.pod_view(a) == ep.pod_view(b)
    assert ep.pod_view(a) != ep.pod_view(pod("a", ready=False))
