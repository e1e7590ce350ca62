"""kubectl logs, exec, attach (through ``run -it``) and port-forward on a real cluster:
pods started by the node agents' runtime, the apiserver proxying to each node's kubelet
API, the emulated images and the exec toolbox behind them."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest

from tests.integration.conftest import Kubectl, wait_for
from tests.integration.streaming_harness import PtySession

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

TICKER = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"


def running(kubectl: Kubectl, pod: str) -> None:
    wait_for(lambda: kubectl("get", "pod", pod, "-o", "jsonpath={.status.phase}") == "Running",
             timeout=30, what=f"pod {pod} Running")


@pytest.fixture
def ticker(kubectl: Kubectl) -> Iterator[str]:
    kubectl("run", "ticker", "--image=busybox", "--", "sh", "-c", TICKER)
    running(kubectl, "ticker")
    wait_for(lambda: "tick 3" in kubectl("logs", "ticker"), what="four ticks")
    yield "ticker"


def test_logs_tail_timestamps_and_follow(kubectl: Kubectl, ticker: str) -> None:
    assert re.fullmatch(r"tick \d+\n", kubectl("logs", ticker, "--tail=1"))
    stamped = kubectl("logs", ticker, "--tail=2", "--timestamps")
    assert re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick \d+\n){2}", stamped)
    assert kubectl("logs", ticker, "--limit-bytes=5") == "tick "
    with subprocess.Popen(["kubectl", "-n", kubectl.namespace or "", "logs", "-f", ticker,
                           "--tail=0"], env=kubectl.cluster.env, stdout=subprocess.PIPE,
                          text=True) as p:
        try:
            assert p.stdout is not None
            first, second = p.stdout.readline(), p.stdout.readline()
            n = int(first.split()[1])
            assert (first, second) == (f"tick {n}\n", f"tick {n + 1}\n")
        finally:
            p.terminate()


def test_logs_errors(kubectl: Kubectl, ticker: str) -> None:
    result = kubectl.run("logs", ticker, "--previous", check=False)
    assert result.returncode == 1
    assert 'previous terminated container "ticker" in pod "ticker" not found' in result.stderr
    result = kubectl.run("logs", ticker, "-c", "nope", check=False)
    assert "container nope is not valid for pod ticker" in result.stderr


def test_exec_exit_codes_and_stdin(kubectl: Kubectl, ticker: str) -> None:
    result = kubectl.run("exec", ticker, "--", "sh", "-c", "echo out; echo err >&2; exit 3",
                         check=False)
    assert (result.returncode, result.stdout) == (3, "out\n")
    assert "err\ncommand terminated with exit code 3" in result.stderr
    assert kubectl("exec", "-i", ticker, "--", "cat", input="hi\n") == "hi\n"
    assert kubectl("exec", ticker, "--", "hostname") == "ticker\n"


def test_port_forward_pod_and_service(kubectl: Kubectl) -> None:
    kubectl("run", "web", "--image=nginx", "--port=80", "--labels=app=web")
    kubectl("expose", "pod", "web", "--port=8000", "--target-port=80")
    running(kubectl, "web")
    node_ip = kubectl("get", "pod", "web", "-o", "jsonpath={.status.hostIP}")
    for target, port in (("pod/web", 80), ("svc/web", 8000)):
        with subprocess.Popen(["kubectl", "-n", kubectl.namespace or "", "port-forward",
                               target, f"0:{port}"], env=kubectl.cluster.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
            try:
                assert p.stdout is not None
                local = re.search(r"127\.0\.0\.1:(\d+)", p.stdout.readline())
                assert local, "kubectl port-forward did not start"
                page = subprocess.run(["curl", "-sS", "--max-time", "10",
                                       f"http://127.0.0.1:{local.group(1)}/"],
                                      capture_output=True, text=True, timeout=20)
                assert "<title>Welcome to nginx!</title>" in page.stdout, page.stderr
            finally:
                p.terminate()
    # nginx logged the node's address as its client, as behind a real kubelet.
    assert f"{node_ip} - - " in kubectl("logs", "web")


def test_run_interactive_attaches_to_the_shell(kubectl: Kubectl) -> None:
    session = PtySession(["kubectl", "-n", kubectl.namespace or "", "run", "shell",
                          "--image=busybox", "-it", "--rm", "--restart=Never", "--", "sh"],
                         kubectl.cluster.env)
    try:
        session.expect(b"If you don't see a command prompt, try pressing enter.")
        session.type(b"\r")
        session.expect(b"/ # ")
        session.type(b"hostname\r")
        session.expect(b"shell\r\n/ # ")
        session.type(b"exit 3\r")
        session.expect(b'pod "shell" deleted')
        assert session.wait() == 3
    finally:
        session.close()
