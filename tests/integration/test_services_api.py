"""Services against a real cluster: Endpoints and EndpointSlices following pods and their
readiness, mirrored user Endpoints, LoadBalancer addresses from the pool, and the kubectl
commands that make Services (expose, create service, patch) answering like a real cluster."""

from __future__ import annotations

import ipaddress
import json

import pytest

from tests.integration.conftest import Kubectl, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def apply(kubectl: Kubectl, *docs: dict) -> None:
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                  "items": list(docs)}))


def pod(name: str, labels: dict[str, str], *, ready_path: str = "/",
        port_name: str = "http") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{
                "name": "web", "image": "nginx",
                "ports": [{"name": port_name, "containerPort": 80}],
                "readinessProbe": {"httpGet": {"path": ready_path, "port": 80},
                                   "periodSeconds": 1}}]}}


def endpoints_ips(kubectl: Kubectl, name: str, field: str = "addresses") -> list[str]:
    obj = kubectl.json("get", "endpoints", name)
    return sorted(a["ip"] for s in obj.get("subsets") or [] for a in s.get(field) or [])


def slices(kubectl: Kubectl, service: str) -> list[dict]:
    return kubectl.json("get", "endpointslices", "-l",
                        f"kubernetes.io/service-name={service}")["items"]


def slice_endpoints(kubectl: Kubectl, service: str) -> dict[str, dict]:
    return {e["addresses"][0]: e for s in slices(kubectl, service)
            for e in s.get("endpoints") or []}


def test_expose_deployment_lists_ready_pods_and_follows_scaling(kubectl: Kubectl) -> None:
    kubectl("create", "deployment", "web", "--image=nginx", "--replicas=3")
    assert kubectl("expose", "deployment", "web", "--port=80").strip() == "service/web exposed"
    ips = wait_for(lambda: len(got := endpoints_ips(kubectl, "web")) == 3 and got,
                   what="3 ready endpoints")
    pods = kubectl.json("get", "pods", "-l", "app=web")["items"]
    assert ips == sorted(p["status"]["podIP"] for p in pods)
    header, row = kubectl("get", "endpoints", "web").splitlines()
    assert header.split() == ["NAME", "ENDPOINTS", "AGE"]
    assert row.split()[1] == ",".join(f"{ip}:80" for ip in sorted(
        ips, key=lambda a: tuple(map(int, a.split(".")))))
    [eps] = slices(kubectl, "web")
    svc = kubectl.json("get", "service", "web")
    assert eps["metadata"]["labels"] == {
        "app": "web", "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    assert eps["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
    assert eps["ports"] == [{"name": "", "port": 80, "protocol": "TCP"}]
    by_ip = {e["addresses"][0]: e for e in eps["endpoints"]}
    for p in pods:
        e = by_ip[p["status"]["podIP"]]
        assert e["conditions"] == {"ready": True, "serving": True, "terminating": False}
        assert e["nodeName"] == p["spec"]["nodeName"]
        assert e["targetRef"] == {"kind": "Pod", "name": p["metadata"]["name"],
                                  "namespace": p["metadata"]["namespace"],
                                  "uid": p["metadata"]["uid"]}
    described = kubectl("describe", "service", "web")
    assert "Endpoints:" in described and f"{ips[0]}:80" in described
    annotations = kubectl.json("get", "endpoints", "web")["metadata"]["annotations"]
    assert "endpoints.kubernetes.io/last-change-trigger-time" in annotations

    kubectl("scale", "deployment", "web", "--replicas=5")
    wait_for(lambda: len(endpoints_ips(kubectl, "web")) == 5, what="5 endpoints")
    assert "+ 2 more..." in kubectl("get", "endpoints", "web")
    kubectl("scale", "deployment", "web", "--replicas=0")
    wait_for(lambda: kubectl("get", "endpoints", "web").splitlines()[1].split()[1] == "<none>",
             what="no endpoints")
    [placeholder] = slices(kubectl, "web")
    assert placeholder["metadata"]["name"] == eps["metadata"]["name"]
    assert not placeholder.get("endpoints") and not placeholder.get("ports")


def test_readiness_named_ports_and_publish_not_ready(kubectl: Kubectl) -> None:
    apply(kubectl, pod("ok", {"app": "probe"}), pod("bad", {"app": "probe"},
                                                    ready_path="/missing"),
          pod("other-name", {"app": "probe"}, port_name="web"),
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "probe"},
           "spec": {"selector": {"app": "probe"},
                    "ports": [{"name": "web", "port": 8080, "targetPort": "http"}]}},
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "everyone"},
           "spec": {"selector": {"app": "probe"}, "publishNotReadyAddresses": True,
                    "ports": [{"port": 80}]}})
    def running() -> list[dict]:
        return [p for p in kubectl.json("get", "pods")["items"] if p["status"].get("podIP")]

    pods = wait_for(lambda: len(found := running()) == 3 and found, what="pod IPs")
    ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}
    wait_for(lambda: endpoints_ips(kubectl, "probe") == [ips["ok"]] and
             endpoints_ips(kubectl, "probe", "notReadyAddresses") == [ips["bad"]],
             what="ready and not-ready addresses")
    obj = kubectl.json("get", "endpoints", "probe")
    assert [p["port"] for s in obj["subsets"] for p in s["ports"]] == [80]
    by_ip = slice_endpoints(kubectl, "probe")
    assert by_ip[ips["bad"]]["conditions"] == {"ready": False, "serving": False,
                                               "terminating": False}
    # The pod whose port has another name serves none of the Service's ports.
    portless = [s for s in slices(kubectl, "probe") if not s.get("ports")]
    assert [e["addresses"][0] for s in portless for e in s["endpoints"]] == [
        ips["other-name"]]
    wait_for(lambda: endpoints_ips(kubectl, "everyone") == sorted(ips.values()),
             what="publishNotReadyAddresses lists every pod")


def test_selector_and_port_changes_update_at_once(kubectl: Kubectl) -> None:
    apply(kubectl, pod("a", {"app": "a"}), pod("b", {"app": "b"}),
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "pick"},
           "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]}})
    ip_a = wait_for(lambda: endpoints_ips(kubectl, "pick"), what="endpoint of a")[0]
    kubectl("patch", "service", "pick", "-p", '{"spec":{"selector":{"app":"b"}}}')
    ip_b = wait_for(lambda: (got := endpoints_ips(kubectl, "pick")) != [ip_a] and got,
                    what="endpoint of b")[0]
    assert ip_b == kubectl.json("get", "pod", "b")["status"]["podIP"]
    kubectl("patch", "service", "pick", "--type=json", "-p",
            '[{"op":"replace","path":"/spec/ports/0/targetPort","value":8080}]')
    wait_for(lambda: [p["port"] for e in slices(kubectl, "pick") for p in e["ports"]] == [8080],
             what="slice port 8080")
    kubectl("label", "pod", "b", "app=c", "--overwrite")
    wait_for(lambda: endpoints_ips(kubectl, "pick") == [], what="relabelled pod leaves")


def test_headless_external_name_and_mirrored_endpoints(kubectl: Kubectl) -> None:
    kubectl("create", "deployment", "db", "--image=nginx", "--replicas=2")
    kubectl("create", "service", "clusterip", "db", "--clusterip=None")
    kubectl("create", "service", "externalname", "ext", "--external-name=example.com")
    apply(kubectl, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "manual"},
                    "spec": {"ports": [{"name": "web", "port": 80, "targetPort": 9376}]}},
          {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
           "subsets": [{"addresses": [{"ip": "127.1.2.3"}],
                        "ports": [{"name": "web", "port": 9376}]}]})
    wait_for(lambda: len(endpoints_ips(kubectl, "db")) == 2, what="headless endpoints")
    assert kubectl.json("get", "endpoints", "db")["metadata"]["labels"][
        "service.kubernetes.io/headless"] == ""
    mirrored = wait_for(lambda: slices(kubectl, "manual"), what="mirrored slice")
    assert mirrored[0]["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
        "endpointslicemirroring-controller.k8s.io"
    assert [e["addresses"] for e in mirrored[0]["endpoints"]] == [["127.1.2.3"]]
    assert mirrored[0]["ports"] == [{"name": "web", "port": 9376, "protocol": "TCP"}]
    apply(kubectl, {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
                    "subsets": [{"addresses": [{"ip": "127.1.2.3"}, {"ip": "127.1.2.4"}],
                                 "ports": [{"name": "web", "port": 9376}]}]})
    wait_for(lambda: len(slice_endpoints(kubectl, "manual")) == 2, what="mirror follows")
    assert "127.1.2.3:9376,127.1.2.4:9376" in kubectl("describe", "service", "manual")
    assert kubectl.run("get", "endpoints", "ext", check=False).returncode == 1
    assert slices(kubectl, "ext") == []
    kubectl("delete", "service", "manual")
    wait_for(lambda: kubectl.run("get", "endpoints", "manual", check=False).returncode == 1
             and not slices(kubectl, "manual"), what="endpoints gone with the service")


def external_ip(kubectl: Kubectl, name: str) -> str:
    return kubectl("get", "service", name).splitlines()[1].split()[3]


def test_load_balancer_addresses_from_the_pool(kubectl: Kubectl, cluster) -> None:
    pool = ipaddress.ip_network(cluster.config.network.lb_cidr)
    wanted = str(pool.network_address + 200)
    assert kubectl("create", "service", "loadbalancer", "lb1", "--tcp=80:80").strip() == \
        "service/lb1 created"
    ip1 = wait_for(lambda: (ip := external_ip(kubectl, "lb1")) != "<pending>" and ip,
                   what="an external IP")
    assert ipaddress.ip_address(ip1) in pool
    status = kubectl.json("get", "service", "lb1")["status"]
    assert status == {"loadBalancer": {"ingress": [{"ip": ip1, "ipMode": "VIP"}]}}
    apply(kubectl, *({"apiVersion": "v1", "kind": "Service", "metadata": {"name": n},
                      "spec": {"type": "LoadBalancer", "loadBalancerIP": wanted,
                               "ports": [{"port": 80}]}} for n in ("lb2", "lb3")))
    wait_for(lambda: wanted in (external_ip(kubectl, "lb2"), external_ip(kubectl, "lb3")),
             what="the requested IP")
    loser = "lb3" if external_ip(kubectl, "lb2") == wanted else "lb2"
    assert external_ip(kubectl, loser) == "<pending>"
    warning = wait_for(lambda: [line for line in kubectl("describe", "service", loser)
                                .splitlines() if "SyncLoadBalancerFailed" in line],
                       what="a warning event")
    assert f"requested loadBalancerIP {wanted} is already assigned" in warning[0]
    kubectl("delete", "service", "lb3" if loser == "lb2" else "lb2")
    wait_for(lambda: external_ip(kubectl, loser) == wanted, what="freed IP handed over")
    kubectl("patch", "service", "lb1", "-p", '{"spec":{"type":"ClusterIP"}}')
    wait_for(lambda: kubectl.json("get", "service", "lb1")["status"] == {"loadBalancer": {}},
             what="status cleared")
    assert external_ip(kubectl, "lb1") == "<none>"
    described = wait_for(lambda: "DeletedLoadBalancer" in (
        out := kubectl("describe", "service", "lb1")) and out, what="deletion events")
    assert "EnsuredLoadBalancer" in described


def test_kubectl_creates_services_like_a_real_cluster(kubectl: Kubectl) -> None:
    kubectl("create", "deployment", "app", "--image=nginx", "--replicas=2")
    rs = wait_for(lambda: kubectl.json("get", "rs")["items"], what="a ReplicaSet")[0]
    name = wait_for(lambda: kubectl.json("get", "pods")["items"], what="pods")[0][
        "metadata"]["name"]
    outputs = [
        kubectl("expose", "deployment", "app", "--port=8080", "--target-port=80",
                "--type=NodePort", "--name=app-np"),
        kubectl("expose", "rs", rs["metadata"]["name"], "--port=80", "--name=app-rs"),
        kubectl("expose", "pod", name, "--port=80", "--name=one-pod", "--type=LoadBalancer"),
        kubectl("create", "service", "nodeport", "app", "--tcp=80:80"),
        kubectl("create", "service", "clusterip", "plain", "--tcp=5678:8080"),
    ]
    assert [o.strip() for o in outputs] == [
        "service/app-np exposed", "service/app-rs exposed", "service/one-pod exposed",
        "service/app created", "service/plain created"]
    rows = {line.split()[0]: line.split() for line in kubectl("get", "services").splitlines()}
    assert rows["NAME"] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert rows["app-np"][1] == "NodePort" and rows["app-np"][4].startswith("8080:")
    assert rows["plain"][1:5] == ["ClusterIP", rows["plain"][2], "<none>", "5678/TCP"]
    svc = kubectl.json("get", "service", "app")
    assert svc["spec"]["selector"] == {"app": "app"}
    assert svc["spec"]["ports"][0]["name"] == "80-80"
    # Pods labelled app=app are selected by the Service named after them, as in the seed.
    wait_for(lambda: len(endpoints_ips(kubectl, "app")) == 2, what="endpoints of app")
    wait_for(lambda: [p["port"] for s in kubectl.json("get", "endpoints", "app-np")["subsets"]
                      for p in s["ports"]] == [80], what="target port 80")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    kubectl("patch", "service", "app", "-p", '{"spec":{"type":"ClusterIP"}}')
    patched = kubectl.json("get", "service", "app")["spec"]
    assert patched["type"] == "ClusterIP" and "nodePort" not in patched["ports"][0]
    assert "externalTrafficPolicy" not in patched
    kubectl("patch", "service", "app", "-p",
            json.dumps({"spec": {"type": "NodePort", "ports": [
                {"port": 80, "name": "80-80", "nodePort": node_port}]}}))
    assert kubectl.json("get", "service", "app")["spec"]["ports"][0]["nodePort"] == node_port


def test_address_conflicts_are_422_with_upstream_wording(kubectl: Kubectl) -> None:
    kubernetes_ip = Kubectl(kubectl.cluster, "default").json("get", "service", "kubernetes")[
        "spec"]["clusterIP"]
    taken = kubectl.run("create", "service", "clusterip", "dup", "--tcp=80",
                        f"--clusterip={kubernetes_ip}", check=False)
    assert taken.returncode == 1
    assert (f'Service "dup" is invalid: spec.clusterIPs: Invalid value: []string{{'
            f'"{kubernetes_ip}"}}: failed to allocate IP {kubernetes_ip}: provided IP is already '
            f'allocated') in taken.stderr
    outside = kubectl.run("create", "service", "clusterip", "far", "--tcp=80",
                          "--clusterip=127.1.1.1", check=False)
    assert "the provided IP (127.1.1.1) is not in the valid range. The range of valid IPs is" \
        in outside.stderr
    own = str(ipaddress.ip_address(kubernetes_ip) + 77)
    kubectl("create", "service", "clusterip", "mine", "--tcp=80", f"--clusterip={own}")
    assert kubectl.json("get", "service", "mine")["spec"]["clusterIPs"] == [own]


def test_endpoints_appear_within_milliseconds_of_the_service(kubectl: Kubectl) -> None:
    kubectl("create", "deployment", "fast", "--image=nginx", "--replicas=3")
    kubectl("rollout", "status", "deployment/fast", "--timeout=30s")
    # Every pod is Ready before the Service exists, so its first Endpoints are complete
    # by the time kubectl (a new process, ~100 ms) reads them.
    kubectl("expose", "deployment", "fast", "--port=80")
    created = kubectl.json("get", "endpoints", "fast")
    assert len([a for s in created.get("subsets") or [] for a in s["addresses"]]) == 3


def test_hand_edits_of_managed_objects_are_undone(kubectl: Kubectl) -> None:
    kubectl("create", "deployment", "keep", "--image=nginx", "--replicas=1")
    kubectl("expose", "deployment", "keep", "--port=80")
    ip = wait_for(lambda: endpoints_ips(kubectl, "keep"), what="an endpoint")
    [eps] = slices(kubectl, "keep")
    kubectl("delete", "endpointslice", eps["metadata"]["name"])
    wait_for(lambda: [e["addresses"] for s in slices(kubectl, "keep")
                      for e in s["endpoints"]] == [ip], what="slice made again")
    kubectl("patch", "endpoints", "keep", "--type=json", "-p",
            '[{"op":"add","path":"/subsets/0/addresses/-","value":{"ip":"127.9.9.9"}}]')
    wait_for(lambda: endpoints_ips(kubectl, "keep") == ip, what="stray address removed")
