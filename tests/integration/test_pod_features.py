"""Pod features as the Kubernetes tasks use them, on a real cluster: exec liveness probes
sharing the container's files, env from fieldRef and $(VAR) expansion, access logs in
`kubectl logs`, containers sharing the pod IP, exec from a pod's network identity."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from tests.integration.conftest import Kubectl, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def create(kubectl: Kubectl, name: str, *containers: dict, **spec: object) -> None:
    kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": list(containers), **spec}}))


def status(kubectl: Kubectl, name: str) -> dict:
    return kubectl.json("get", "pod", name).get("status", {})


def running_ip(kubectl: Kubectl, name: str) -> str:
    return wait_for(lambda: (s := status(kubectl, name)).get("phase") == "Running"
                    and s.get("podIP"), timeout=20, what=f"{name} Running")


def test_exec_liveness_probe_sees_the_files_of_the_main_process(kubectl: Kubectl) -> None:
    # The liveness example of the Kubernetes docs, with shorter sleeps.
    create(kubectl, "liveness-exec", {
        "name": "liveness", "image": "registry.k8s.io/busybox",
        "args": ["/bin/sh", "-c", "touch /tmp/healthy; sleep 2; rm -f /tmp/healthy; sleep 600"],
        "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]},
                          "periodSeconds": 1, "failureThreshold": 1}})
    running_ip(kubectl, "liveness-exec")
    first = status(kubectl, "liveness-exec")["containerStatuses"][0]
    assert first["restartCount"] == 0 and first["ready"] is True
    wait_for(lambda: status(kubectl, "liveness-exec")["containerStatuses"][0]["restartCount"] >= 1,
             timeout=15, what="a restart after /tmp/healthy is removed")
    after = status(kubectl, "liveness-exec")["containerStatuses"][0]
    assert after["lastState"]["terminated"]["exitCode"] == 137
    events = kubectl.json("get", "events", "--field-selector",
                          "involvedObject.name=liveness-exec")["items"]
    reasons = {e["reason"]: e for e in events}
    assert {"Scheduled", "Pulled", "Created", "Started", "Unhealthy", "Killing"} <= set(reasons)
    assert reasons["Unhealthy"]["type"] == "Warning"
    assert reasons["Unhealthy"]["message"].startswith("Liveness probe failed: cat: ")
    assert reasons["Killing"]["message"] == \
        "Container liveness failed liveness probe, will be restarted"
    assert reasons["Started"]["involvedObject"]["fieldPath"] == "spec.containers{liveness}"
    assert reasons["Started"]["source"]["host"] == kubectl.json(
        "get", "pod", "liveness-exec")["spec"]["nodeName"]
    described = kubectl("describe", "pod", "liveness-exec")
    assert "Started container liveness" in described
    # The restarted container has fresh files and creates /tmp/healthy again.
    wait_for(lambda: kubectl.run("exec", "liveness-exec", "--", "cat", "/tmp/healthy",
                                 check=False).returncode == 0, what="/tmp/healthy again")


def test_env_from_field_refs_and_var_expansion(kubectl: Kubectl) -> None:
    create(kubectl, "envs", {
        "name": "main", "image": "busybox",
        "command": ["sh", "-c", "echo ip=$(MY_POD_IP) name=$MY_POD_NAME $(GREETING)-$(NOPE)"
                                "; sleep 3600"],
        "env": [{"name": "MY_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "MY_POD_NAME",
                 "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "GREETING", "value": "hello $(MY_POD_NAME)"}]})
    ip = running_ip(kubectl, "envs")
    wait_for(lambda: kubectl("logs", "envs"), what="the echo line")
    # kubelet leaves an unknown $(NOPE) alone; the shell then runs it as a command.
    assert kubectl("logs", "envs") == f"sh: NOPE: not found\nip={ip} name=envs hello envs-\n"
    env = kubectl("exec", "envs", "--", "env")
    assert f"MY_POD_IP={ip}\n" in env and "HOSTNAME=envs\n" in env
    assert "KUBERNETES_SERVICE_HOST=" in env


def test_access_log_lines_in_kubectl_logs(kubectl: Kubectl) -> None:
    create(kubectl, "logged", {"name": "web", "image": "nginx:1.27",
                               "ports": [{"containerPort": 80}]})
    ip = running_ip(kubectl, "logged")
    with urllib.request.urlopen(f"http://{ip}/", timeout=5) as resp:
        assert resp.status == 200
    line = wait_for(lambda: [x for x in kubectl("logs", "logged").splitlines()
                             if '"GET / HTTP/1.1" 200' in x], what="an access log line")[0]
    # nginx's combined format: client - - [time] "request" status bytes "referer" "agent"
    assert re.match(r'127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
                    r'"GET / HTTP/1\.1" 200 615 "-" "Python-urllib/3\.\d+"', line), line
    assert kubectl("logs", "logged", "-c", "web", "--tail=1") == line + "\n"


def test_containers_of_a_pod_share_its_ip(kubectl: Kubectl) -> None:
    create(kubectl, "sidecars",
           {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]},
           {"name": "echo", "image": "hashicorp/http-echo", "args": ["-text=from the sidecar"],
            "ports": [{"containerPort": 5678}]})
    ip = wait_for(lambda: all(c["ready"] for c in status(kubectl, "sidecars").get(
        "containerStatuses", [{"ready": False}])) and status(kubectl, "sidecars")["podIP"],
        timeout=20, what="both containers ready")
    assert "2/2" in kubectl("get", "pod", "sidecars")
    with urllib.request.urlopen(f"http://{ip}:5678/", timeout=5) as resp:
        assert resp.read() == b"from the sidecar\n"
    # One container reaches the other over the pod's own IP.
    page = kubectl("exec", "sidecars", "-c", "echo", "--", "wget", "-qO-", f"http://{ip}/")
    assert "<title>Welcome to nginx!</title>" in page


def test_exec_connects_from_the_pod_ip(kubectl: Kubectl) -> None:
    create(kubectl, "echo", {"name": "echo", "image": "registry.k8s.io/e2e-test-images/agnhost:2.52",
                             "args": ["netexec", "--http-port=8080"],
                             "ports": [{"containerPort": 8080}]})
    create(kubectl, "client", {"name": "shell", "image": "busybox",
                               "command": ["sleep", "3600"]})
    echo_ip, client_ip = running_ip(kubectl, "echo"), running_ip(kubectl, "client")
    seen = kubectl("exec", "client", "--", "curl", "-s", f"http://{echo_ip}:8080/clientip")
    assert seen.split(":")[0] == client_ip
    assert kubectl("exec", "client", "--", "hostname") == "client\n"
    resolv = kubectl("exec", "client", "--", "cat", "/etc/resolv.conf")
    ns = kubectl.namespace
    assert f"search {ns}.svc.cluster.local svc.cluster.local cluster.local" in resolv
    assert re.search(r"^nameserver 127\.\d+\.0\.10$", resolv, re.M)
    missing = kubectl.run("exec", "client", "--", "sh", "-c", "no-such-tool", check=False)
    assert missing.returncode == 127 and "sh: no-such-tool: not found" in missing.stderr
    missing = kubectl.run("exec", "client", "--", "no-such-tool", check=False)
    assert 'exec: "no-such-tool": executable file not found in $PATH' in missing.stderr


def test_env_from_configmaps_and_secrets_waits_for_them(kubectl: Kubectl) -> None:
    create(kubectl, "configured", {
        "name": "main", "image": "busybox", "command": ["sleep", "3600"],
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds",
                                                                    "key": "password"}}}]})
    wait_for(lambda: "CreateContainerConfigError" in kubectl("get", "pod", "configured"),
             what="CreateContainerConfigError in kubectl get")
    waiting = status(kubectl, "configured")["containerStatuses"][0]["state"]["waiting"]
    assert waiting["message"] == 'configmap "settings" not found'
    kubectl("create", "configmap", "settings", "--from-literal=mode=fast")
    kubectl("create", "secret", "generic", "creds", "--from-literal=password=s3cret")
    running_ip(kubectl, "configured")
    env = kubectl("exec", "configured", "--", "env")
    assert "CFG_mode=fast\n" in env and "PASSWORD=s3cret\n" in env


def test_crashing_container_backs_off_and_keeps_its_previous_log(kubectl: Kubectl) -> None:
    create(kubectl, "crasher", {"name": "main", "image": "busybox",
                                "command": ["sh", "-c", "echo run at $(date +%s); exit 3"]})
    wait_for(lambda: status(kubectl, "crasher").get("containerStatuses", [{}])[0].get(
        "restartCount", 0) >= 1, timeout=15, what="a restart")
    wait_for(lambda: "CrashLoopBackOff" in kubectl("get", "pod", "crasher"),
             timeout=15, what="CrashLoopBackOff in kubectl get")
    c = status(kubectl, "crasher")["containerStatuses"][0]
    assert c["lastState"]["terminated"]["exitCode"] == 3
    previous = kubectl("logs", "crasher", "--previous")
    assert re.fullmatch(r"run at \d+\n", previous)
    events = {e["reason"] for e in kubectl.json("get", "events", "--field-selector",
                                                "involvedObject.name=crasher")["items"]}
    assert "BackOff" in events


def test_init_containers_run_in_order_before_the_app(kubectl: Kubectl) -> None:
    # The Kubernetes docs' example: wait until a Service resolves, then start.
    wait = (f"until nslookup myservice.{kubectl.namespace}.svc.cluster.local; "
            "do echo waiting for myservice; sleep 0.5; done")
    kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "myapp-pod"},
        "spec": {"initContainers": [
            {"name": "init-myservice", "image": "busybox:1.28",
             "command": ["sh", "-c", wait]},
            {"name": "init-done", "image": "busybox:1.28",
             "command": ["sh", "-c", "echo init done"]}],
            "containers": [{"name": "myapp-container", "image": "busybox:1.28",
                            "command": ["sh", "-c", "echo The app is running! && sleep 3600"]}]}}))
    wait_for(lambda: "Init:0/2" in kubectl("get", "pod", "myapp-pod"), what="Init:0/2")
    assert "waiting for myservice" in wait_for(
        lambda: kubectl("logs", "myapp-pod", "-c", "init-myservice"), what="init log")
    pending = status(kubectl, "myapp-pod")
    assert pending["phase"] == "Pending"
    assert {c["type"]: c["status"] for c in pending["conditions"]}["Initialized"] == "False"
    kubectl("create", "service", "clusterip", "myservice", "--tcp=80:9376")
    running_ip(kubectl, "myapp-pod")
    done = status(kubectl, "myapp-pod")
    assert [c["state"]["terminated"]["reason"] for c in done["initContainerStatuses"]] == \
        ["Completed", "Completed"]
    assert kubectl("logs", "myapp-pod", "-c", "init-done") == "init done\n"
    assert wait_for(lambda: kubectl("logs", "myapp-pod"), what="app log") == \
        "The app is running!\n"
