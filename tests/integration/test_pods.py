"""Pods that really run: IPs from the node's pod CIDR, emulated images answering on the
pod IP, readiness and liveness probes, restarts, env expansion, graceful deletion."""

from __future__ import annotations

import ipaddress
import json
import socket
import urllib.request

import pytest

from tests.integration.conftest import Kubectl, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def pod(name: str, image: str = "nginx", **container: object) -> str:
    spec = {"name": "main", "image": image, **container}
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name,
                       "labels": {"app": name}}, "spec": {"containers": [spec]}})


def ready(kubectl: Kubectl, name: str) -> dict | None:
    obj = kubectl.json("get", "pod", name)
    status = obj.get("status", {})
    ok = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
    return obj if ok and status.get("podIP") else None


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_pods_get_unique_ips_in_their_node_cidr_and_serve(kubectl: Kubectl, cluster) -> None:
    for i in range(4):
        kubectl("create", "-f", "-", input=pod(f"web{i}", ports=[{"containerPort": 80}]))
    objs = [wait_for(lambda i=i: ready(kubectl, f"web{i}"), what=f"web{i} Ready")
            for i in range(4)]
    ips = [o["status"]["podIP"] for o in objs]
    assert len(set(ips)) == 4
    nodes = {n["metadata"]["name"]: n for n in kubectl.json("get", "nodes")["items"]}
    for o in objs:
        cidr = nodes[o["spec"]["nodeName"]]["spec"]["podCIDR"]
        assert ipaddress.ip_address(o["status"]["podIP"]) in ipaddress.ip_network(cidr)
        assert o["status"]["phase"] == "Running"
        assert o["status"]["containerStatuses"][0]["ready"] is True
    code, body = get(f"http://{ips[0]}/")
    assert code == 200 and "<title>Welcome to nginx!</title>" in body
    code, body = get(f"http://{ips[0]}/missing")
    assert code == 404 and "404 Not Found" in body
    wide = kubectl("get", "pods", "-o", "wide")
    assert ips[0] in wide and objs[0]["spec"]["nodeName"] in wide


def test_readiness_probe_gates_ready(kubectl: Kubectl) -> None:
    probe = {"httpGet": {"path": "/nothing-here", "port": 80}, "periodSeconds": 1}
    kubectl("create", "-f", "-", input=pod("unready", ports=[{"containerPort": 80}],
                                           readinessProbe=probe))
    obj = wait_for(lambda: (o := kubectl.json("get", "pod", "unready"))["status"].get("podIP")
                   and o, what="pod IP")
    assert obj["status"]["phase"] == "Running"
    assert ready(kubectl, "unready") is None
    assert "0/1" in kubectl("get", "pod", "unready")
    probe_ok = dict(probe, httpGet={"path": "/", "port": 80})
    kubectl("create", "-f", "-", input=pod("isready", ports=[{"containerPort": 80}],
                                           readinessProbe=probe_ok))
    wait_for(lambda: ready(kubectl, "isready"), what="isready Ready")


def test_failing_liveness_probe_restarts(kubectl: Kubectl) -> None:
    probe = {"tcpSocket": {"port": 9999}, "periodSeconds": 1, "failureThreshold": 1}
    kubectl("create", "-f", "-", input=pod("restarts", ports=[{"containerPort": 80}],
                                           livenessProbe=probe))
    wait_for(lambda: kubectl.json("get", "pod", "restarts")["status"].get(
        "containerStatuses", [{}])[0].get("restartCount", 0) >= 1, timeout=15,
        what="a restart")
    row = kubectl("get", "pod", "restarts").splitlines()[1].split()
    assert int(row[3]) >= 1


def test_graceful_delete_closes_the_port(kubectl: Kubectl) -> None:
    kubectl("create", "-f", "-", input=pod("gone", ports=[{"containerPort": 80}]))
    ip = wait_for(lambda: ready(kubectl, "gone"), what="Ready")["status"]["podIP"]
    assert 'pod "gone" deleted' in kubectl("delete", "pod", "gone")
    with pytest.raises(OSError):
        socket.create_connection((ip, 80), timeout=1).close()
