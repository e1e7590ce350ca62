"""Emulated images on real sockets: each test starts containers on its own loopback pod
IP (random in 127.77.0.0/16, so runs can overlap) and talks to them with the real curl
and plain sockets, bound to a client IP so the apps see who called."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from node_agent import toolbox
from node_agent.containers import (Console, ContainerContext, Identity, LogBuffer, Resolver,
                                   Running, Streams)
from node_agent.images import start

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def random_ip() -> str:
    return f"127.77.{random.randint(1, 254)}.{random.randint(2, 254)}"


class Pod:
    """One pod IP and the containers started on it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ip = random_ip()
        self.client = random_ip()  # where our requests come from
        self.started: list[tuple[Running, LogBuffer]] = []

    async def start(self, image: str, command: Sequence[str] = (), args: Sequence[str] = (),
                    env: dict[str, str] | None = None,
                    ports: Sequence[dict[str, Any]] = ()) -> tuple[Running, LogBuffer]:
        identity = Identity(self.ip, self.name, "default", self.name,
                            Resolver("10.96.0.10", ("default.svc.cluster.local",)), env or {})
        log = LogBuffer()
        ctx = ContainerContext(identity, "main", image, list(command), list(args),
                               list(ports), Console(log))
        running = await start(ctx)
        self.started.append((running, log))
        return running, log

    async def curl(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            "curl", "-sS", "--max-time", "5", "--interface", self.client, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture
async def pod(request: pytest.FixtureRequest) -> AsyncIterator[Pod]:
    the_pod = Pod(request.node.name.split("[")[0].replace("_", "-")[:40].strip("-"))
    yield the_pod
    for running, _ in the_pod.started:
        await running.stop()


def lines(log: LogBuffer) -> list[str]:
    return [line for _, line in log.lines()]


async def until(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := condition()):
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.02)
    return value


async def udp(pod: Pod, port: int, payload: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    received: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            received.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(
        Client, local_addr=(pod.client, 0), remote_addr=(pod.ip, port))
    try:
        transport.sendto(payload)
        return await asyncio.wait_for(received, 3)
    finally:
        transport.close()


async def test_nginx_welcome_page_head_404_and_access_log(pod: Pod) -> None:
    _, log = await pod.start("nginx:1.27", ports=[{"containerPort": 80}])
    code, body, _ = await pod.curl(f"http://{pod.ip}/")
    assert code == 0 and "<title>Welcome to nginx!</title>" in body
    code, head, _ = await pod.curl("-I", f"http://{pod.ip}/")
    assert "HTTP/1.1 200 OK" in head and "Server: nginx/1.27.5" in head
    assert "Content-Length: 615" in head and 'ETag: "67ff9c07-267"' in head
    code, body, _ = await pod.curl("-w", "%{http_code}", f"http://{pod.ip}/nope")
    assert body.endswith("404") and "<center>nginx/1.27.5</center>" in body
    access = await until(lambda: [ln for ln in lines(log) if ln.startswith(pod.client)])
    assert [ln.split('"')[1] for ln in access] == ["GET / HTTP/1.1", "HEAD / HTTP/1.1",
                                                   "GET /nope HTTP/1.1"]
    assert ' "GET / HTTP/1.1" 200 615 "-" "curl/' in access[0]
    assert any("open() \"/usr/share/nginx/html/nope\" failed" in ln for ln in lines(log))


async def test_curl_reuses_a_keep_alive_connection(pod: Pod) -> None:
    await pod.start("nginx")
    _, out, err = await pod.curl("-v", "-o", "/dev/null", "-o", "/dev/null",
                                 "-w", "%{http_code} ", f"http://{pod.ip}/",
                                 f"http://{pod.ip}/x")
    assert out.split() == ["200", "404"]
    assert "Re-using existing connection" in err


async def test_httpd_it_works(pod: Pod) -> None:
    _, log = await pod.start("httpd:2.4")
    code, body, _ = await pod.curl(f"http://{pod.ip}/")
    assert body == "<html><body><h1>It works!</h1></body></html>\n"
    await until(lambda: any(f'{pod.client} - - [' in ln and '"GET / HTTP/1.1" 200 45' in ln
                            for ln in lines(log)))


async def test_the_image_decides_its_port_not_the_declared_one(pod: Pod) -> None:
    await pod.start("gcr.io/google-samples/hello-app:2.0", env={"PORT": "9090"},
                    ports=[{"containerPort": 8080}])
    code, body, _ = await pod.curl(f"http://{pod.ip}:9090/")
    assert body == f"Hello, world!\nVersion: 2.0.0\nHostname: {pod.name}\n"
    code, _, _ = await pod.curl(f"http://{pod.ip}:8080/")
    assert code == 7  # connection refused


async def test_http_echo_answers_its_text_on_its_listen_port(pod: Pod) -> None:
    _, log = await pod.start("hashicorp/http-echo:1.0", args=["-text=hello kubeloop",
                                                               "-listen=:5678"])
    code, body, _ = await pod.curl("-i", f"http://{pod.ip}:5678/anything")
    assert body.endswith("\r\n\r\nhello kubeloop\n") and "X-App-Name: http-echo" in body
    await until(lambda: any(f'{pod.client}:' in ln and '"GET /anything HTTP/1.1" 200 15'
                            in ln for ln in lines(log)))


async def test_echo_servers_show_the_client_address(pod: Pod) -> None:
    await pod.start("registry.k8s.io/echoserver:1.10")
    _, body, _ = await pod.curl(f"http://{pod.ip}:8080/path?q=1")
    assert f"\tclient_address={pod.client}\n" in body and f"Hostname: {pod.name}" in body
    assert "\treal path=/path?q=1\n" in body


async def test_ealen_echo_server_json(pod: Pod) -> None:
    await pod.start("ealen/echo-server:latest", env={"PORT": "3000"})
    _, body, _ = await pod.curl("-H", "Content-Type: application/json", "-d", '{"a":1}',
                                f"http://{pod.ip}:3000/x")
    echoed = json.loads(body)
    assert echoed["host"]["ip"] == f"::ffff:{pod.client}"
    assert echoed["request"]["body"] == {"a": 1} and echoed["http"]["method"] == "POST"


async def test_chunked_upload_is_echoed_by_kicbase(pod: Pod) -> None:
    _, log = await pod.start("kicbase/echo-server:1.0")
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--interface", pod.client, "-H", "Transfer-Encoding: chunked",
        "--data-binary", "@-", f"http://{pod.ip}:8080/up", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate(b"streamed body")
    assert out.decode().startswith(f"Request served by {pod.name}\n\nHTTP/1.1 POST /up\n")
    assert out.decode().endswith("\n\nstreamed body")
    await until(lambda: any(ln.startswith(f"{pod.client}:") and ln.endswith("| POST /up")
                            for ln in lines(log)))


async def test_agnhost_netexec_over_http_and_udp(pod: Pod) -> None:
    await pod.start("registry.k8s.io/e2e-test-images/agnhost:2.53",
                    args=["netexec", "--http-port=8080", "--udp-port=8081"])
    assert (await pod.curl(f"http://{pod.ip}:8080/hostname"))[1] == pod.name
    assert (await pod.curl(f"http://{pod.ip}:8080/clientip"))[1].startswith(f"{pod.client}:")
    assert (await pod.curl(f"http://{pod.ip}:8080/echo?msg=hi"))[1] == "hi"
    assert await udp(pod, 8081, b"hostname") == pod.name.encode()
    assert await udp(pod, 8081, b"echo Hello") == b"hello"
    assert (await udp(pod, 8081, b"clientip")).startswith(f"{pod.client}:".encode())


async def test_agnhost_serve_hostname_over_raw_tcp_and_udp(pod: Pod) -> None:
    await pod.start("registry.k8s.io/e2e-test-images/agnhost:2.53",
                    args=["serve-hostname", "--http=false", "--tcp", "--udp"])
    reader, writer = await asyncio.open_connection(pod.ip, 9376, local_addr=(pod.client, 0))
    assert await asyncio.wait_for(reader.read(), 3) == pod.name.encode()  # then EOF
    writer.close()
    assert await udp(pod, 9376, b"?") == pod.name.encode()


async def test_unknown_images_greet_echo_and_answer_http(pod: Pod) -> None:
    _, log = await pod.start("registry.example.com/team/api:3.1",
                             ports=[{"containerPort": 7000},
                                    {"containerPort": 7001, "protocol": "UDP"}])
    reader, writer = await asyncio.open_connection(pod.ip, 7000, local_addr=(pod.client, 0))
    greeting = await asyncio.wait_for(reader.readline(), 3)
    assert greeting.startswith(f"kubeloop: pod default/{pod.name} (image ".encode())
    writer.write(b"ping\n")
    assert await asyncio.wait_for(reader.readline(), 3) == b"ping\n"
    writer.close()
    code, body, _ = await pod.curl(f"http://{pod.ip}:7000/")
    assert body == (f"kubeloop: pod default/{pod.name} (image registry.example.com/team/api:3.1)"
                    " answered on port 7000\n")
    assert await udp(pod, 7001, b"anyone?") == b"anyone?"
    assert lines(log)[0].startswith("kubeloop: registry.example.com/team/api:3.1 is not")


async def test_stop_drops_open_connections_and_reports_the_exit(pod: Pod) -> None:
    running, log = await pod.start("nginx")
    reader, writer = await asyncio.open_connection(pod.ip, 80)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(reader.readuntil(b"</html>\n"), 3)
    await asyncio.wait_for(running.stop(), 1)
    assert await asyncio.wait_for(reader.read(), 1) == b""  # the kept-alive connection is gone
    writer.close()
    assert running.exited.result() == 0
    assert lines(log)[-1].endswith("[notice] 1#1: exit")
    with pytest.raises(OSError):
        socket.create_connection((pod.ip, 80), timeout=1).close()


async def test_a_port_in_use_ends_the_second_container(pod: Pod) -> None:
    first, _ = await pod.start("nginx")
    second, log = await pod.start("nginx")
    assert second.exited.done() and second.exited.result() == 1
    assert lines(log)[-1] == "nginx: [emerg] still could not bind()"
    assert "bind() to 0.0.0.0:80 failed (98: Address already in use)" in lines(log)[0]
    assert not first.exited.done()
    assert "Welcome to nginx!" in (await pod.curl(f"http://{pod.ip}/"))[1]


async def test_an_app_can_end_its_own_container(pod: Pod) -> None:
    running, log = await pod.start("registry.k8s.io/e2e-test-images/agnhost:2.53",
                                   args=["netexec", "--udp-port=-1"])
    code, _, _ = await pod.curl(f"http://{pod.ip}:8080/exit?code=3")
    assert code == 0
    assert await asyncio.wait_for(running.exited, 3) == 3
    assert "then will exit with 3" in lines(log)[-1]


async def test_a_rejected_command_line_ends_at_once(pod: Pod) -> None:
    running, log = await pod.start("hashicorp/http-echo")
    assert running.exited.result() == 127
    assert lines(log) == ["Missing -text option OR ENV var TEXT is empty!"]


async def test_pause_runs_until_stopped(pod: Pod) -> None:
    running, log = await pod.start("registry.k8s.io/pause:3.10")
    await asyncio.sleep(0.1)
    assert not running.exited.done()
    await running.stop()
    assert running.exited.result() == 0
    assert lines(log) == ["Shutting down, got signal: Terminated"]


async def test_commands_run_in_the_exec_toolbox(pod: Pod) -> None:
    running, log = await pod.start("busybox:1.36", command=["sh", "-c", "echo hello; exit 3"])
    assert await asyncio.wait_for(running.exited, 5) == 3
    assert "hello" in lines(log)


async def test_stopping_a_command_kills_it(pod: Pod) -> None:
    running, _ = await pod.start("busybox", args=["sleep", "3600"])
    await asyncio.sleep(0.1)
    await asyncio.wait_for(running.stop(), 1)
    assert running.exited.result() == 137


async def test_the_toolbox_gets_the_image_default_and_the_pod_identity(
        pod: Pod, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], Identity]] = []

    async def fake_run(argv: list[str], identity: Identity, streams: Streams) -> int:
        calls.append((argv, identity))
        await streams.stdout(b"from the stub\n")
        return 5

    monkeypatch.setattr(toolbox, "run", fake_run)
    running, log = await pod.start("curlimages/curl:8.10.1", args=["http://web"])
    assert await asyncio.wait_for(running.exited, 3) == 5
    assert [(argv, identity.pod_ip) for argv, identity in calls] == [
        (["curl", "http://web"], pod.ip)]
    assert lines(log) == ["from the stub"]

