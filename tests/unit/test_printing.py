"""Server-side table printing: rows per kind must match what a v1.32 apiserver sends kubectl."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from apiserver import printing, resources
from apiserver.status import ApiError

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)

Obj = dict[str, Any]


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, age: float = 248, **extra: Any) -> Obj:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(age), **extra}


def res(kind: str) -> resources.Resource:
    return next(r for r in resources.RESOURCES if r.kind == kind)


# --- human_duration -----------------------------------------------------------------------

@pytest.mark.parametrize("seconds,expected", [
    (-5, "<invalid>"), (-2, "<invalid>"), (-1.5, "0s"), (-0.2, "0s"), (0, "0s"), (5, "5s"),
    (119.9, "119s"), (120, "2m"), (248, "4m8s"), (599, "9m59s"), (600, "10m"),
    (73 * 60, "73m"), (179 * 60 + 59, "179m"), (3 * 3600, "3h"), (3 * 3600 + 39 * 60, "3h39m"),
    (7 * 3600 + 59 * 60, "7h59m"), (8 * 3600, "8h"), (47 * 3600 + 59 * 60, "47h"),
    (48 * 3600, "2d"), (51 * 3600, "2d3h"), (8 * 86400, "8d"), (729 * 86400, "729d"),
    (730 * 86400, "2y"), (731 * 86400, "2y1d"), (8 * 365 * 86400, "8y"),
    (10 * 365 * 86400 + 5 * 86400, "10y"),
], ids=lambda v: str(v))
def test_human_duration(seconds: float, expected: str) -> None:
    assert printing.human_duration(seconds) == expected


# --- label selectors ----------------------------------------------------------------------

@pytest.mark.parametrize("selector,expected", [
    (None, "<none>"),
    ({}, "<none>"),
    ({"matchLabels": {}}, "<none>"),
    ({"matchLabels": {"tier": "web", "app": "nginx"}}, "app=nginx,tier=web"),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]},
     "env in (dev,prod)"),
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["qa"]}]},
     "env notin (qa)"),
    ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, "gpu"),
    ({"matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"}]}, "!legacy"),
    ({"matchLabels": {"role": "db"},
      "matchExpressions": [{"key": "app", "operator": "Exists"},
                           {"key": "zone", "operator": "In", "values": ["b", "a"]}]},
     "app,role=db,zone in (a,b)"),
    ({"matchExpressions": [{"key": "x", "operator": "Gt", "values": ["1"]}]}, "<error>"),
    ({"matchExpressions": [{"key": "x", "operator": "In", "values": []}]}, "<error>"),
    ({"matchExpressions": [{"key": "x", "operator": "Exists", "values": ["1"]}]}, "<error>"),
], ids=["nil", "empty", "empty-match-labels", "labels-sorted", "in-values-sorted", "notin",
        "exists", "does-not-exist", "mixed-sorted-by-key", "bad-operator", "in-without-values",
        "exists-with-values"])
def test_format_label_selector(selector: dict[str, Any] | None, expected: str) -> None:
    assert printing.format_label_selector(selector) == expected


# --- pods ---------------------------------------------------------------------------------

def running(name: str = "app", restarts: int = 0, ready: bool = True, **extra: Any) -> Obj:
    return {"name": name, "ready": ready, "restartCount": restarts,
            "state": {"running": {"startedAt": ago(200)}}, **extra}


def waiting(reason: str, name: str = "app", restarts: int = 0, **extra: Any) -> Obj:
    return {"name": name, "ready": False, "restartCount": restarts,
            "state": {"waiting": {"reason": reason}}, **extra}


def terminated(name: str = "app", restarts: int = 0, **state: Any) -> Obj:
    return {"name": name, "ready": False, "restartCount": restarts,
            "state": {"terminated": {"exitCode": 0, **state}}}


def crashed_before(seconds: float) -> Obj:
    return {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(seconds)}}


def pod(containers: list[Obj] | None = None, init: list[Obj] | None = None,
        phase: str = "Running", node: str = "node-1", ip: str = "10.244.1.5",
        spec: Obj | None = None, status: Obj | None = None, **metadata: Any) -> Obj:
    names = [c["name"] for c in containers or []] or ["app"]
    return {
        "metadata": meta("web", age=300, **metadata),
        "spec": {"containers": [{"name": n, "image": "nginx"} for n in names],
                 **({"nodeName": node} if node else {}), **(spec or {})},
        "status": {"phase": phase, **({"podIP": ip} if ip else {}),
                   "containerStatuses": containers or [], **(status or {}),
                   **({"initContainerStatuses": init} if init is not None else {})},
    }


def with_init(*names: str, sidecar: tuple[str, ...] = ()) -> Obj:
    return {"initContainers": [
        {"name": n, "image": "busybox", **({"restartPolicy": "Always"} if n in sidecar else {})}
        for n in names]}


def row(ready: str, state: str, restarts: str = "0", ip: str = "10.244.1.5",
        node: str = "node-1", nominated: str = "<none>", gates: str = "<none>") -> list[Any]:
    return ["web", ready, state, restarts, "5m", ip, node, nominated, gates]


READY_TRUE = {"conditions": [{"type": "Ready", "status": "True"}]}

POD_CASES = [
    ("running", pod([running()]), row("1/1", "Running")),
    ("pending-unscheduled", pod([], phase="Pending", node="", ip=""),
     row("0/1", "Pending", ip="<none>", node="<none>")),
    ("container-creating", pod([waiting("ContainerCreating")], phase="Pending", ip=""),
     row("0/1", "ContainerCreating", ip="<none>")),
    ("crash-loop-restarts-ago",
     pod([waiting("CrashLoopBackOff", restarts=2, lastState=crashed_before(300))]),
     row("0/1", "CrashLoopBackOff", restarts="2 (5m ago)")),
    ("restarts-without-finish-time", pod([running(restarts=3)]), row("1/1", "Running", "3")),
    ("completed", pod([terminated(reason="Completed")], phase="Succeeded"),
     row("0/1", "Completed")),
    ("error", pod([terminated(exitCode=1, reason="Error")], phase="Failed"),
     row("0/1", "Error")),
    ("exit-code-without-reason", pod([terminated(exitCode=137)], phase="Failed"),
     row("0/1", "ExitCode:137")),
    ("signal-without-reason", pod([terminated(exitCode=137, signal=9)], phase="Failed"),
     row("0/1", "Signal:9")),
    ("first-container-reason-wins",
     pod([waiting("ImagePullBackOff", "a"), waiting("ErrImagePull", "b")], phase="Pending"),
     row("0/2", "ImagePullBackOff")),
    ("two-of-three-ready", pod([running("a"), running("b"), running("c", ready=False)]),
     row("2/3", "Running")),
    ("completed-but-one-running-ready",
     pod([running("a"), terminated("b", reason="Completed")], status=READY_TRUE),
     row("1/2", "Running")),
    ("completed-but-one-running-not-ready",
     pod([running("a"), terminated("b", reason="Completed")]), row("1/2", "NotReady")),
    ("init-first-running",
     pod([waiting("PodInitializing")], phase="Pending", spec=with_init("i1", "i2"),
         init=[running("i1", ready=False), waiting("PodInitializing", "i2")]),
     row("0/1", "Init:0/2")),
    ("init-second-running",
     pod([waiting("PodInitializing")], phase="Pending", spec=with_init("i1", "i2"),
         init=[terminated("i1", reason="Completed"), running("i2", ready=False)]),
     row("0/1", "Init:1/2")),
    ("init-crash-loop",
     pod([waiting("PodInitializing")], phase="Pending", spec=with_init("i1"),
         init=[waiting("CrashLoopBackOff", "i1", restarts=4, lastState=crashed_before(60))]),
     row("0/1", "Init:CrashLoopBackOff", restarts="4 (60s ago)")),
    ("init-error", pod([], phase="Failed", spec=with_init("i1"),
                       init=[terminated("i1", exitCode=2, reason="Error")]),
     row("0/1", "Init:Error")),
    ("init-exit-code", pod([], phase="Pending", spec=with_init("i1"),
                           init=[terminated("i1", exitCode=3)]),
     row("0/1", "Init:ExitCode:3")),
    ("init-signal", pod([], phase="Pending", spec=with_init("i1"),
                        init=[terminated("i1", exitCode=1, signal=15)]),
     row("0/1", "Init:Signal:15")),
    ("sidecar-counts-as-container",
     pod([running("app")], spec=with_init("proxy", sidecar=("proxy",)),
         init=[running("proxy", started=True, restarts=1)]),
     row("2/2", "Running", restarts="1")),
    ("terminating", pod([running()], deletionTimestamp=ago(10)), row("1/1", "Terminating")),
    ("terminating-completed-stays",
     pod([terminated(reason="Completed")], phase="Succeeded", deletionTimestamp=ago(10)),
     row("0/1", "Completed")),
    ("node-lost", pod([running()], status={"reason": "NodeLost"}, deletionTimestamp=ago(10)),
     row("1/1", "Unknown")),
    ("evicted", pod([], phase="Failed", status={"reason": "Evicted"}), row("0/1", "Evicted")),
    ("scheduling-gated",
     pod([], phase="Pending", node="", ip="", status={"conditions": [
         {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
     row("0/1", "SchedulingGated", ip="<none>", node="<none>")),
    ("pod-ips-only", pod([running()], ip="", status={"podIPs": [{"ip": "fd00::5"}]}),
     row("1/1", "Running", ip="fd00::5")),
    ("nominated-node", pod([], phase="Pending", node="", ip="",
                           status={"nominatedNodeName": "node-2"}),
     row("0/1", "Pending", ip="<none>", node="<none>", nominated="node-2")),
    ("readiness-gates",
     pod([running()], spec={"readinessGates": [{"conditionType": "lb/ready"},
                                               {"conditionType": "mesh/ready"}]},
         status={"conditions": [{"type": "lb/ready", "status": "True"},
                                {"type": "mesh/ready", "status": "False"}]}),
     row("1/1", "Running", gates="1/2")),
]


@pytest.mark.parametrize("obj,expected", [c[1:] for c in POD_CASES],
                         ids=[c[0] for c in POD_CASES])
def test_pod_cells(obj: Obj, expected: list[Any]) -> None:
    assert printing.cells(res("Pod"), obj, NOW) == expected


# --- services -----------------------------------------------------------------------------

def svc(svc_type: str = "ClusterIP", ports: list[Obj] | None = None,
        status: Obj | None = None, **spec: Any) -> Obj:
    return {"metadata": meta("nginx-app"),
            "spec": {"type": svc_type, "ports": [{"port": 80, "protocol": "TCP"}]
                     if ports is None else ports, **spec},
            "status": status or {}}


def lb_status(*entries: Obj) -> Obj:
    return {"loadBalancer": {"ingress": list(entries)}}


SERVICE_CASES = [
    ("node-port", svc("NodePort", [{"port": 80, "protocol": "TCP", "nodePort": 32000}],
                      clusterIP="127.96.0.12", clusterIPs=["127.96.0.12"],
                      selector={"app": "nginx"}),
     ["nginx-app", "NodePort", "127.96.0.12", "<none>", "80:32000/TCP", "4m8s", "app=nginx"]),
    ("cluster-ip-multi-port",
     svc(ports=[{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
         clusterIP="127.96.0.10", selector={"tier": "fe", "app": "web"}),
     ["nginx-app", "ClusterIP", "127.96.0.10", "<none>", "80/TCP,53/UDP", "4m8s",
      "app=web,tier=fe"]),
    ("headless", svc(clusterIP="None", clusterIPs=["None"]),
     ["nginx-app", "ClusterIP", "None", "<none>", "80/TCP", "4m8s", "<none>"]),
    ("cluster-ips-only", svc(clusterIPs=["127.96.0.20"]),
     ["nginx-app", "ClusterIP", "127.96.0.20", "<none>", "80/TCP", "4m8s", "<none>"]),
    ("external-ips", svc(clusterIP="127.96.0.11", externalIPs=["192.0.2.1", "192.0.2.2"]),
     ["nginx-app", "ClusterIP", "127.96.0.11", "192.0.2.1,192.0.2.2", "80/TCP", "4m8s",
      "<none>"]),
    ("load-balancer-pending",
     svc("LoadBalancer", [{"port": 80, "protocol": "TCP", "nodePort": 31000}],
         clusterIP="127.96.0.13"),
     ["nginx-app", "LoadBalancer", "127.96.0.13", "<pending>", "80:31000/TCP", "4m8s",
      "<none>"]),
    ("load-balancer-ingress-sorted-unclipped",
     svc("LoadBalancer", [{"port": 443, "protocol": "TCP", "nodePort": 31443}],
         clusterIP="127.96.0.13",
         status=lb_status({"ip": "127.0.0.22"}, {"hostname": "lb.example.internal"},
                          {"ip": "127.0.0.21"}, {"ip": "127.0.0.21"})),
     ["nginx-app", "LoadBalancer", "127.96.0.13", "127.0.0.21,127.0.0.22,lb.example.internal",
      "443:31443/TCP", "4m8s", "<none>"]),
    ("load-balancer-plus-external-ips",
     svc("LoadBalancer", clusterIP="127.96.0.13", externalIPs=["192.0.2.9"],
         status=lb_status({"ip": "127.0.0.21"})),
     ["nginx-app", "LoadBalancer", "127.96.0.13", "127.0.0.21,192.0.2.9", "80/TCP", "4m8s",
      "<none>"]),
    ("external-name", svc("ExternalName", [], externalName="db.example.com"),
     ["nginx-app", "ExternalName", "<none>", "db.example.com", "<none>", "4m8s", "<none>"]),
]


@pytest.mark.parametrize("obj,expected", [c[1:] for c in SERVICE_CASES],
                         ids=[c[0] for c in SERVICE_CASES])
def test_service_cells(obj: Obj, expected: list[Any]) -> None:
    assert printing.cells(res("Service"), obj, NOW) == expected


# --- nodes --------------------------------------------------------------------------------

def node(ready: str | None = "True", unschedulable: bool = False,
         labels: dict[str, str] | None = None, info: Obj | None = None,
         addresses: list[Obj] | None = None) -> Obj:
    conditions = [{"type": "MemoryPressure", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready})
    return {"metadata": {**meta("node-1", age=2 * 86400 + 3 * 3600), "labels": labels or {}},
            "spec": {"unschedulable": True} if unschedulable else {},
            "status": {"conditions": conditions,
                       "addresses": [{"type": "InternalIP", "address": "127.0.10.1"},
                                     {"type": "Hostname", "address": "node-1"}]
                       if addresses is None else addresses,
                       "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "kubeloop",
                                    "kernelVersion": "6.1.0",
                                    "containerRuntimeVersion": "kubeloop://0.1.0"}
                       if info is None else info}}


def node_row(status: str, roles: str = "<none>", internal: str = "127.0.10.1",
             external: str = "<none>") -> list[Any]:
    return ["node-1", status, roles, "2d3h", "v1.32.0", internal, external, "kubeloop",
            "6.1.0", "kubeloop://0.1.0"]


NODE_CASES = [
    ("ready", node(), node_row("Ready")),
    ("not-ready", node("False"), node_row("NotReady")),
    ("ready-unknown-status", node("Unknown"), node_row("NotReady")),
    ("no-ready-condition", node(None), node_row("Unknown")),
    ("cordoned", node(unschedulable=True), node_row("Ready,SchedulingDisabled")),
    ("roles-sorted",
     node(labels={"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane":
                  "", "node-role.kubernetes.io/": "", "kubernetes.io/role": "edge"}),
     node_row("Ready", roles="control-plane,edge,worker")),
    ("external-ip", node(addresses=[{"type": "ExternalIP", "address": "192.0.2.7"}]),
     node_row("Ready", internal="<none>", external="192.0.2.7")),
    ("empty-node-info", node(info={"kubeletVersion": "v1.32.0"}),
     ["node-1", "Ready", "<none>", "2d3h", "v1.32.0", "127.0.10.1", "<none>", "<unknown>",
      "<unknown>", "<unknown>"]),
]


@pytest.mark.parametrize("obj,expected", [c[1:] for c in NODE_CASES],
                         ids=[c[0] for c in NODE_CASES])
def test_node_cells(obj: Obj, expected: list[Any]) -> None:
    assert printing.cells(res("Node"), obj, NOW) == expected


# --- endpoints and slices -----------------------------------------------------------------

def addresses(*ips: str) -> list[Obj]:
    return [{"ip": ip} for ip in ips]


@pytest.mark.parametrize("subsets,expected", [
    (None, "<none>"),
    ([], "<none>"),
    ([{"addresses": addresses("10.0.0.1", "10.0.0.2"), "ports": [{"port": 80}]}],
     "10.0.0.1:80,10.0.0.2:80"),
    ([{"addresses": addresses(*(f"10.0.0.{i}" for i in range(1, 6))), "ports": [{"port": 80}]}],
     "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."),
    ([{"addresses": addresses("10.0.0.1", "10.0.0.2"),
       "ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}],
     "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."),
    ([{"addresses": addresses("fd00::1"), "ports": [{"port": 8080}]}], "[fd00::1]:8080"),
    ([{"addresses": addresses("10.0.0.7")}], "10.0.0.7"),
    ([{"notReadyAddresses": addresses("10.0.0.8"), "ports": [{"port": 80}]}], ""),
], ids=["nil", "empty", "two", "more", "two-ports", "ipv6", "headless-no-ports",
        "only-not-ready"])
def test_endpoints_cells(subsets: list[Obj] | None, expected: str) -> None:
    obj = {"metadata": meta("web"), **({"subsets": subsets} if subsets is not None else {})}
    assert printing.cells(res("Endpoints"), obj, NOW) == ["web", expected, "4m8s"]


@pytest.mark.parametrize("ports,endpoints,expected_ports,expected_endpoints", [
    ([{"name": "http", "port": 80, "protocol": "TCP"}],
     [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}], "80", "10.0.0.1,10.0.0.2"),
    ([], [], "<unset>", "<unset>"),
    ([{"name": "web"}, {}], [{"addresses": ["10.0.0.1"]}], "web,*", "10.0.0.1"),
    ([{"port": p} for p in (1, 2, 3, 4)],
     [{"addresses": [f"10.0.0.{i}"]} for i in range(1, 6)],
     "1,2,3 + 1 more...", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more..."),
], ids=["basic", "empty", "name-or-star", "more"])
def test_endpoint_slice_cells(ports: list[Any], endpoints: list[Any], expected_ports: str,
                              expected_endpoints: str) -> None:
    obj = {"metadata": meta("web-abcde"), "addressType": "IPv4", "ports": ports,
           "endpoints": endpoints}
    assert printing.cells(res("EndpointSlice"), obj, NOW) == [
        "web-abcde", "IPv4", expected_ports, expected_endpoints, "4m8s"]


# --- events -------------------------------------------------------------------------------

def event(**fields: Any) -> Obj:
    return {"metadata": meta("web.17a"), "type": "Normal", "reason": "Scheduled",
            "message": "Successfully assigned default/web to node-1\n",
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"}, **fields}


EVENT_CASES = [
    ("classic", event(firstTimestamp=ago(600), lastTimestamp=ago(30), count=4,
                      source={"component": "kubelet", "host": "node-1"},
                      involvedObject={"kind": "Pod", "name": "web",
                                      "fieldPath": "spec.containers{app}"}),
     ["30s", "Normal", "Scheduled", "pod/web", "spec.containers{app}", "kubelet, node-1",
      "Successfully assigned default/web to node-1", "10m", 4, "web.17a"]),
    ("no-last-timestamp", event(firstTimestamp=ago(90), count=1,
                                source={"component": "default-scheduler"}),
     ["90s", "Normal", "Scheduled", "pod/web", "", "default-scheduler",
      "Successfully assigned default/web to node-1", "90s", 1, "web.17a"]),
    ("new-api-singleton", event(eventTime="2024-05-01T11:59:00.000000Z",
                                reportingComponent="default-scheduler",
                                reportingInstance="default-scheduler-cp"),
     ["60s", "Normal", "Scheduled", "pod/web", "", "default-scheduler, default-scheduler-cp",
      "Successfully assigned default/web to node-1", "60s", 1, "web.17a"]),
    ("series", event(eventTime="2024-05-01T11:00:00.000000Z",
                     series={"count": 7, "lastObservedTime": "2024-05-01T11:58:00.000000Z"}),
     ["2m", "Normal", "Scheduled", "pod/web", "", "",
      "Successfully assigned default/web to node-1", "60m", 7, "web.17a"]),
    ("no-timestamps-kind-only", event(involvedObject={"kind": "Node"}, type="Warning"),
     ["<unknown>", "Warning", "Scheduled", "node", "", "",
      "Successfully assigned default/web to node-1", "<unknown>", 1, "web.17a"]),
]


@pytest.mark.parametrize("obj,expected", [c[1:] for c in EVENT_CASES],
                         ids=[c[0] for c in EVENT_CASES])
def test_event_cells(obj: Obj, expected: list[Any]) -> None:
    assert printing.cells(res("Event"), obj, NOW) == expected


# --- workloads ----------------------------------------------------------------------------

def template(*containers: tuple[str, str]) -> Obj:
    return {"spec": {"containers": [{"name": n, "image": i} for n, i in containers]}}


WORKLOAD_CASES = [
    ("deployment", "Deployment",
     {"metadata": meta("web"), "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                                        "template": template(("nginx", "nginx:1.25"))},
      "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3,
                 "availableReplicas": 2}},
     ["web", "2/3", 3, 2, "4m8s", "nginx", "nginx:1.25", "app=web"]),
    ("deployment-fresh", "Deployment",
     {"metadata": meta("web", age=3), "spec": {"replicas": 2, "selector": {
         "matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]},
         "template": template(("a", "img-a"), ("b", "img-b"))}},
     ["web", "0/2", 0, 0, "3s", "a,b", "img-a,img-b", "app in (api,web)"]),
    ("deployment-bad-selector", "Deployment",
     {"metadata": meta("web"), "spec": {"replicas": 1, "selector": {
         "matchExpressions": [{"key": "app", "operator": "Bogus"}]}, "template": template()},
      "status": {}},
     ["web", "0/1", 0, 0, "4m8s", "", "", "<invalid>"]),
    ("deployment-empty-selector", "Deployment",
     {"metadata": meta("web"), "spec": {"replicas": 0, "selector": {}, "template": template()}},
     ["web", "0/0", 0, 0, "4m8s", "", "", ""]),
    ("replicaset", "ReplicaSet",
     {"metadata": meta("web-7d4b9"), "spec": {"replicas": 3, "selector": {"matchLabels": {
         "pod-template-hash": "7d4b9", "app": "web"}},
         "template": template(("nginx", "nginx:1.25"), ("log", "busybox"))},
      "status": {"replicas": 3, "readyReplicas": 1}},
     ["web-7d4b9", 3, 3, 1, "4m8s", "nginx,log", "nginx:1.25,busybox",
      "app=web,pod-template-hash=7d4b9"]),
    ("replicaset-scaled-down", "ReplicaSet",
     {"metadata": meta("web-old", age=3 * 86400), "spec": {"replicas": 0, "selector": {},
                                                           "template": template(("n", "i"))},
      "status": {"replicas": 0}},
     ["web-old", 0, 0, 0, "3d", "n", "i", "<none>"]),
]


@pytest.mark.parametrize("kind,obj,expected", [c[1:] for c in WORKLOAD_CASES],
                         ids=[c[0] for c in WORKLOAD_CASES])
def test_workload_cells(kind: str, obj: Obj, expected: list[Any]) -> None:
    assert printing.cells(res(kind), obj, NOW) == expected


# --- networking ---------------------------------------------------------------------------

def ingress(rules: list[Obj], **spec: Any) -> Obj:
    lb = spec.pop("lb", None)
    return {"metadata": meta("shop"), "spec": {"rules": rules, **spec},
            "status": {"loadBalancer": {"ingress": lb}} if lb else {}}


NETWORKING_CASES = [
    ("ingress-defaults", "Ingress", ingress([{"http": {"paths": []}}]),
     ["shop", "<none>", "*", "", "80", "4m8s"]),
    ("ingress-class-hosts-tls-address", "Ingress",
     ingress([{"host": "a.example"}, {"host": "b.example"}], ingressClassName="kubeloop",
             tls=[{"hosts": ["a.example"]}], lb=[{"ip": "127.0.0.40"}, {"ip": "127.0.0.30"}]),
     ["shop", "kubeloop", "a.example,b.example", "127.0.0.30,127.0.0.40", "80, 443", "4m8s"]),
    ("ingress-more-hosts", "Ingress",
     ingress([{"host": h} for h in ("a", "b", "c", "d")] + [{}]),
     ["shop", "<none>", "a,b,c + 2 more...", "", "80", "4m8s"]),
    ("ingress-class-no-params", "IngressClass",
     {"metadata": meta("kubeloop"), "spec": {"controller": "kubeloop.dev/ingress"}},
     ["kubeloop", "kubeloop.dev/ingress", "<none>", "4m8s"]),
    ("ingress-class-params", "IngressClass",
     {"metadata": meta("kubeloop"), "spec": {"controller": "kubeloop.dev/ingress", "parameters": {
         "apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}},
     ["kubeloop", "kubeloop.dev/ingress", "IngressParameters.k8s.example.com/external-lb",
      "4m8s"]),
    ("ingress-class-core-params", "IngressClass",
     {"metadata": meta("kubeloop"), "spec": {"controller": "c", "parameters": {
         "kind": "ConfigMap", "name": "cfg"}}},
     ["kubeloop", "c", "ConfigMap/cfg", "4m8s"]),
    ("netpol-all-pods", "NetworkPolicy",
     {"metadata": meta("deny-all"), "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}},
     ["deny-all", "<none>", "4m8s"]),
    ("netpol-selector", "NetworkPolicy",
     {"metadata": meta("db"), "spec": {"podSelector": {
         "matchLabels": {"role": "db"},
         "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}}},
     ["db", "env notin (dev),role=db", "4m8s"]),
]


@pytest.mark.parametrize("kind,obj,expected", [c[1:] for c in NETWORKING_CASES],
                         ids=[c[0] for c in NETWORKING_CASES])
def test_networking_cells(kind: str, obj: Obj, expected: list[Any]) -> None:
    assert printing.cells(res(kind), obj, NOW) == expected


# --- simple kinds and the fallback --------------------------------------------------------

WIDGET = resources.Resource("example.com", "v1", "Widget", "widgets", True)

SIMPLE_CASES = [
    ("namespace", res("Namespace"), {"metadata": meta("default", age=86400),
                                     "status": {"phase": "Active"}},
     ["default", "Active", "24h"]),
    ("namespace-terminating", res("Namespace"),
     {"metadata": meta("old"), "status": {"phase": "Terminating"}}, ["old", "Terminating", "4m8s"]),
    ("configmap", res("ConfigMap"),
     {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}},
     ["cfg", 3, "4m8s"]),
    ("configmap-empty", res("ConfigMap"), {"metadata": meta("kube-root-ca.crt")},
     ["kube-root-ca.crt", 0, "4m8s"]),
    ("secret", res("Secret"),
     {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}},
     ["tls", "kubernetes.io/tls", 2, "4m8s"]),
    ("secret-opaque-default", res("Secret"), {"metadata": meta("s")}, ["s", "Opaque", 0, "4m8s"]),
    ("serviceaccount", res("ServiceAccount"), {"metadata": meta("default")},
     ["default", 0, "4m8s"]),
    ("serviceaccount-secrets", res("ServiceAccount"),
     {"metadata": meta("bot"), "secrets": [{"name": "bot-token"}]}, ["bot", 1, "4m8s"]),
    ("lease", res("Lease"),
     {"metadata": meta("node-1"), "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}},
     ["node-1", "node-1", "4m8s"]),
    ("lease-unheld", res("Lease"), {"metadata": meta("lock"), "spec": {}}, ["lock", "", "4m8s"]),
    ("fallback", WIDGET, {"metadata": meta("w")}, ["w", "2024-05-01T11:55:52Z"]),
    ("fallback-offset-timestamp", WIDGET,
     {"metadata": {"name": "w", "creationTimestamp": "2024-05-01T14:00:00+02:00"}},
     ["w", "2024-05-01T12:00:00Z"]),
    ("fallback-no-timestamp", WIDGET, {"metadata": {"name": "w"}}, ["w", "0001-01-01T00:00:00Z"]),
    ("age-unknown", res("ConfigMap"), {"metadata": {"name": "c"}}, ["c", 0, "<unknown>"]),
    ("age-clock-skew", res("ConfigMap"), {"metadata": meta("c", age=-1)}, ["c", 0, "0s"]),
]


@pytest.mark.parametrize("resource,obj,expected", [c[1:] for c in SIMPLE_CASES],
                         ids=[c[0] for c in SIMPLE_CASES])
def test_simple_cells(resource: resources.Resource, obj: Obj, expected: list[Any]) -> None:
    assert printing.cells(resource, obj, NOW) == expected


# --- column definitions -------------------------------------------------------------------

COLUMNS = {
    "Pod": "Name Ready Status Restarts Age IP* Node* Nominated_Node* Readiness_Gates*",
    "Service": "Name Type Cluster-IP External-IP Port(s) Age Selector*",
    "Node": "Name Status Roles Age Version Internal-IP* External-IP* OS-Image* Kernel-Version* "
            "Container-Runtime*",
    "Namespace": "Name Status Age",
    "Endpoints": "Name Endpoints Age",
    "EndpointSlice": "Name AddressType Ports Endpoints Age",
    "ConfigMap": "Name Data Age",
    "Secret": "Name Type Data Age",
    "ServiceAccount": "Name Secrets Age",
    "Event": "Last_Seen Type Reason Object Subobject* Source* Message First_Seen* Count* Name*",
    "Deployment": "Name Ready Up-to-date Available Age Containers* Images* Selector*",
    "Job": "Name Status Completions Duration Age Containers* Images* Selector*",
    "ReplicaSet": "Name Desired Current Ready Age Containers* Images* Selector*",
    "Ingress": "Name Class Hosts Address Ports Age",
    "IngressClass": "Name Controller Parameters Age",
    "NetworkPolicy": "Name Pod-Selector Age",
    "Lease": "Name Holder Age",
}


@pytest.mark.parametrize("kind,expected", COLUMNS.items(), ids=list(COLUMNS))
def test_column_names_and_priorities(kind: str, expected: str) -> None:
    got = [c["name"].replace(" ", "_") + ("*" if c["priority"] == 1 else "")
           for c in printing.column_definitions(res(kind))]
    assert got == expected.split()


@pytest.mark.parametrize("resource", resources.RESOURCES, ids=lambda r: r.kind)
def test_every_served_kind_prints_one_cell_per_column(resource: resources.Resource) -> None:
    columns = printing.column_definitions(resource)
    assert resource.kind in COLUMNS
    assert all(set(c) == {"name", "type", "format", "description", "priority"} for c in columns)
    assert all(c["description"] for c in columns)
    bare = {"metadata": {"name": "x", "creationTimestamp": ago(5)}}
    assert len(printing.cells(resource, bare, NOW)) == len(columns)


@pytest.mark.parametrize("kind,column,type_,format_", [
    ("Pod", "Name", "string", "name"), ("Pod", "Restarts", "string", ""),
    ("ReplicaSet", "Desired", "integer", ""), ("Event", "Name", "string", "name"),
], ids=["pod-name", "pod-restarts", "rs-desired", "event-name"])
def test_column_types(kind: str, column: str, type_: str, format_: str) -> None:
    found = next(c for c in printing.column_definitions(res(kind)) if c["name"] == column)
    assert (found["type"], found["format"]) == (type_, format_)


def test_fallback_columns() -> None:
    assert [(c["name"], c["type"]) for c in printing.column_definitions(WIDGET)] == [
        ("Name", "string"), ("Created At", "date")]


# --- whole tables -------------------------------------------------------------------------

CM = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": meta("cfg"), "data": {"k": "v"}}


@pytest.mark.parametrize("include,expected_object", [
    ("Metadata", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                  "metadata": CM["metadata"]}),
    ("", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
          "metadata": CM["metadata"]}),
    ("Object", CM),
    ("None", None),
], ids=["metadata", "empty-means-metadata", "object", "none"])
def test_table_include_object(include: str, expected_object: Obj | None) -> None:
    got = printing.table(res("ConfigMap"), [CM], NOW, include_object=include,
                         resource_version="42")
    assert got["kind"] == "Table" and got["apiVersion"] == "meta.k8s.io/v1"
    assert got["metadata"] == {"resourceVersion": "42"}
    assert got["rows"][0]["cells"] == ["cfg", 1, "4m8s"]
    assert got["rows"][0].get("object") == expected_object
    assert ("object" in got["rows"][0]) == (expected_object is not None)


@pytest.mark.parametrize("rv,token,with_columns,expected_meta,n_columns", [
    ("7", "", True, {"resourceVersion": "7"}, 3),
    ("7", "eyJ2IjoxfQ", True, {"resourceVersion": "7", "continue": "eyJ2IjoxfQ"}, 3),
    ("8", "", False, {"resourceVersion": "8"}, 0),
    ("", "", True, {}, 3),
], ids=["list[Any]", "paged", "watch-later-event", "no-rv"])
def test_table_metadata_and_columns(rv: str, token: str, with_columns: bool,
                                    expected_meta: Obj, n_columns: int) -> None:
    got = printing.table(res("ConfigMap"), [CM, CM], NOW, resource_version=rv,
                         continue_token=token, with_columns=with_columns)
    assert got["metadata"] == expected_meta
    assert len(got["columnDefinitions"]) == n_columns
    assert len(got["rows"]) == 2


@pytest.mark.parametrize("phase,expected", [
    ("Running", None),
    ("Succeeded", [{"type": "Completed", "status": "True", "reason": "Succeeded",
                    "message": "The pod has completed successfully."}]),
    ("Failed", [{"type": "Completed", "status": "True", "reason": "Failed",
                 "message": "The pod failed."}]),
], ids=["running", "succeeded", "failed"])
def test_table_pod_row_conditions(phase: str, expected: list[Any] | None) -> None:
    got = printing.table(res("Pod"), [pod([], phase=phase)], NOW)
    assert got["rows"][0].get("conditions") == expected


def test_table_rejects_unknown_include_object() -> None:
    with pytest.raises(ApiError) as caught:
        printing.table(res("ConfigMap"), [CM], NOW, include_object="Everything")
    assert caught.value.code == 400
    assert caught.value.message == 'unrecognized includeObject value: "Everything"'


def test_table_does_not_mutate_input() -> None:
    obj = pod([running()], deletionTimestamp=ago(1))
    snapshot = repr(obj)
    printing.table(res("Pod"), [obj], NOW, include_object="Object")
    assert repr(obj) == snapshot
