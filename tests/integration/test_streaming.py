"""The real kubectl through the apiserver's proxy to the kubelet API: logs (and -f),
exec with exit codes, stdin and a TTY, attach, port-forward to pods and services, and
the errors of each. The cluster is streaming_harness's: containers filled in by hand."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from apiserver import registry
from tests.integration.streaming_harness import Harness, PtySession, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
TIMEOUT = 20


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    h = Harness(tmp_path_factory.mktemp("streaming")).start()
    try:
        h.add_pod("web", labels={"app": "web"}, ports=(8080,), stdin=True)
        h.add_pod("duo", ("a", "b"))
        h.add_pod("pending", node="")
        h.log("web", "app", "one", "two", "three")
        h.log("duo", "a", "from a")
        h.log("duo", "b", "from b")
        h.serve_http("web", 8080)
        h.create(registry.SERVICES, {"metadata": {"name": "web"}, "spec": {
            "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
        yield h
    finally:
        h.stop()


def kubectl(h: Harness, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], env=h.env, capture_output=True, text=True,
                          input=input, timeout=TIMEOUT)


def popen(h: Harness, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(["kubectl", *args], env=h.env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(p: subprocess.Popen[str]) -> None:
    if p.poll() is None:
        p.terminate()
    p.wait(timeout=TIMEOUT)
    for pipe in (p.stdin, p.stdout, p.stderr):
        if pipe is not None and not pipe.closed:
            pipe.close()


TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"


@pytest.mark.parametrize(("args", "code", "stdout", "stderr"), [
    (["logs", "web"], 0, "one\ntwo\nthree\n", ""),
    (["logs", "web", "--tail=2"], 0, "two\nthree\n", ""),
    (["logs", "web", "--tail=0"], 0, "", ""),
    (["logs", "web", "--limit-bytes=6"], 0, "one\ntw", ""),
    (["logs", "web", "--since=1h"], 0, "one\ntwo\nthree\n", ""),
    (["logs", "web", "--timestamps", "--tail=1"], 0, re.compile(f"{TS} three\n"), ""),
    (["logs", "duo", "-c", "b"], 0, "from b\n", ""),
    (["logs", "duo"], 0, "from a\n", 'Defaulted container "a" out of: a, b'),
    (["logs", "pending"], 0, "", ""),
    (["logs", "web", "--previous"], 1, "",
     'Error from server (BadRequest): previous terminated container "app" in pod "web" '
     'not found'),
    (["get", "--raw", "/api/v1/namespaces/default/pods/duo/log"], 1, "",
     "Error from server (BadRequest): a container name must be specified for pod duo, "
     "choose one of: [a b]"),
    (["get", "--raw", "/api/v1/namespaces/default/pods/duo/log?container=zz"], 1, "",
     "Error from server (BadRequest): container zz is not valid for pod duo"),
    (["logs", "nosuch"], 1, "",
     'error: error from server (NotFound): pods "nosuch" not found in namespace "default"'),
], ids=["all", "tail", "tail-0", "limit-bytes", "since", "timestamps", "container",
        "defaulted-container", "unscheduled-is-empty", "previous", "raw-ambiguous",
        "raw-invalid-container", "no-pod"])
def test_logs(harness: Harness, args: list[str], code: int, stdout: str | re.Pattern[str],
              stderr: str) -> None:
    result = kubectl(harness, *args)
    assert result.returncode == code, result.stderr
    if isinstance(stdout, re.Pattern):
        assert stdout.fullmatch(result.stdout), result.stdout
    else:
        assert result.stdout == stdout
    assert stderr in result.stderr


def test_logs_follow_streams_new_lines_until_the_log_ends(harness: Harness) -> None:
    harness.add_pod("follow")
    harness.log("follow", "app", "before")
    p = popen(harness, "logs", "-f", "follow")
    try:
        assert p.stdout is not None
        assert p.stdout.readline() == "before\n"
        harness.log("follow", "app", "after")
        assert p.stdout.readline() == "after\n"

        async def end() -> None:
            harness.pods["follow"].handles["app"].log.close()
        harness.call(end())
        assert p.wait(timeout=TIMEOUT) == 0
    finally:
        stop(p)


@pytest.mark.parametrize(("args", "input", "code", "stdout", "stderr"), [
    (["exec", "web", "--", "echo", "hello", "world"], None, 0, "hello world\n", ""),
    (["exec", "web", "--", "hostname"], None, 0, "web\n", ""),
    (["exec", "web", "--", "sh", "-c", "exit 3"], None, 3, "",
     "command terminated with exit code 3"),
    (["exec", "web", "--", "nosuch"], None, 127, "",
     "sh: nosuch: not found\ncommand terminated with exit code 127"),
    (["exec", "-i", "web", "--", "cat"], "hi\nthere\n", 0, "hi\nthere\n", ""),
    (["exec", "duo", "-c", "b", "--", "echo", "b"], None, 0, "b\n", ""),
    (["exec", "web", "-c", "wrong", "--", "ls"], None, 1, "",
     "Error from server (BadRequest): container wrong is not valid for pod web"),
    (["exec", "pending", "--", "ls"], None, 1, "",
     "Error from server (BadRequest): pod pending does not have a host assigned"),
], ids=["echo", "identity", "exit-code", "not-found", "stdin", "container", "bad-container",
        "unscheduled"])
def test_exec(harness: Harness, args: list[str], input: str | None, code: int, stdout: str,
              stderr: str) -> None:
    result = kubectl(harness, *args, input=input)
    assert (result.returncode, result.stdout) == (code, stdout), result.stderr
    assert stderr in result.stderr


def test_exec_with_a_tty_echoes_and_exits_with_the_shell(harness: Harness) -> None:
    session = PtySession(["kubectl", "exec", "-it", "web", "--", "sh"], harness.env)
    try:
        session.expect(b"/ # ")
        session.type(b"echo hi\r")
        session.expect(b"echo hi\r\nhi\r\n/ # ")
        session.type(b"exit 4\r")
        session.expect(b"command terminated with exit code 4")
        assert session.wait() == 4
    finally:
        session.close()


def test_attach_streams_the_console_and_feeds_its_stdin(harness: Harness) -> None:
    harness.add_pod("tty", stdin=True)
    p = popen(harness, "attach", "-i", "tty")
    try:
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write("typed\n")
        p.stdin.close()
        console = harness.pods["tty"].handles["app"].console
        assert console.stdin is not None
        assert harness.call(console.stdin.readline()) == b"typed\n"
        assert harness.call(console.stdin.readline()) == b""  # kubectl's stdin ended
        harness.console_write("tty", "app", b"main process says hi\n")
        assert p.stdout.readline() == "main process says hi\n"
        harness.console_close("tty", "app")  # the main process ended
        assert p.wait(timeout=TIMEOUT) == 0
    finally:
        stop(p)


def _forward(harness: Harness, target: str, remote: int) -> tuple[subprocess.Popen[str], int]:
    p = popen(harness, "port-forward", target, f"0:{remote}")
    assert p.stdout is not None
    line = p.stdout.readline()
    match = re.search(r"127\.0\.0\.1:(\d+) -> (\d+)", line)
    assert match, line
    return p, int(match.group(1))


def _curl(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "10", f"http://127.0.0.1:{port}/x"],
                          capture_output=True, text=True, timeout=TIMEOUT)


@pytest.mark.parametrize(("target", "remote"), [("pod/web", 8080), ("svc/web", 80)],
                         ids=["pod", "service"])
def test_port_forward_reaches_the_pod_from_the_node(harness: Harness, target: str,
                                                    remote: int) -> None:
    p, port = _forward(harness, target, remote)
    try:
        for _ in range(3):  # several connections share one tunnel
            result = _curl(port)
            assert result.stdout == f"hello from web; you are {harness.node_ip}\n", \
                result.stderr
    finally:
        stop(p)


def test_port_forward_to_a_closed_port_reports_and_exits(harness: Harness) -> None:
    p, port = _forward(harness, "pod/web", 9)
    try:
        assert _curl(port).returncode != 0
        assert p.wait(timeout=TIMEOUT) == 1
        assert p.stderr is not None
        err = p.stderr.read()
        assert "an error occurred forwarding" in err and "connection refused" in err, err
    finally:
        stop(p)


def test_port_forward_refuses_a_pending_pod(harness: Harness) -> None:
    result = kubectl(harness, "port-forward", "pod/pending", "0:80")
    assert result.returncode == 1
    assert "unable to forward port because pod is not running. Current status=Pending" in \
        result.stderr


def test_unreachable_kubelet_is_a_502(harness: Harness) -> None:
    ip = harness.node_ip.rsplit(".", 1)[0] + ".2"
    port = free_port(ip)
    harness.add_node("gone", ip, port)
    harness.add_pod("stranded", node="gone")
    message = f"Error from server: error dialing backend: dial tcp {ip}:{port}: connect: " \
              f"connection refused"
    for args in (["logs", "stranded"], ["exec", "stranded", "--", "ls"]):
        result = kubectl(harness, *args)
        assert (result.returncode, message in result.stderr) == (1, True), result.stderr
    raw = kubectl(harness, "get", "--raw", "/api/v1/namespaces/default/pods/stranded/log")
    assert "error dialing backend" in raw.stderr


@pytest.fixture(scope="module")
def core(harness: Harness) -> Iterator[Any]:
    kubernetes = pytest.importorskip("kubernetes")
    client = kubernetes.config.new_client_from_config(config_file=str(harness.config.kubeconfig))
    yield kubernetes.client.CoreV1Api(client)
    client.close()


def test_python_client_exec_logs_and_exit_code(core: Any) -> None:
    from kubernetes.stream import stream

    assert stream(core.connect_get_namespaced_pod_exec, "web", "default",
                  command=["echo", "hi"], stdout=True, stderr=True, stdin=False,
                  tty=False) == "hi\n"
    resp = stream(core.connect_get_namespaced_pod_exec, "web", "default",
                  command=["sh", "-c", "exit 5"], stdout=True, stderr=True, stdin=False,
                  tty=False, _preload_content=False)
    resp.run_forever(timeout=TIMEOUT)
    assert resp.returncode == 5
    assert core.read_namespaced_pod_log("web", "default", tail_lines=1) == "three\n"


def test_python_client_port_forward(harness: Harness, core: Any) -> None:
    from kubernetes.stream import portforward

    forward = portforward(core.connect_get_namespaced_pod_portforward, "web", "default",
                          ports="8080,9")
    sock = forward.socket(8080)
    sock.settimeout(TIMEOUT)
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
        assert reply.endswith(f"hello from web; you are {harness.node_ip}\n".encode())
        assert "connect: connection refused" in (forward.error(9) or "")
    finally:
        sock.close()
