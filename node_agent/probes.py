"""Readiness and liveness probes: the pure counting rules (thresholds, initial state) and
the three checks (httpGet, tcpSocket, exec) run from the pod's network identity."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kubeloop import pki
from node_agent.containers import Identity, Runner, Streams


@dataclass(frozen=True)
class ProbeSpec:
    handler: dict
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def parse(cls, probe: dict) -> ProbeSpec:
        handler = {k: probe[k] for k in ("httpGet", "tcpSocket", "exec", "grpc") if k in probe}
        return cls(handler, float(probe.get("initialDelaySeconds", 0)),
                   float(probe.get("periodSeconds", 10)), float(probe.get("timeoutSeconds", 1)),
                   int(probe.get("successThreshold", 1)), int(probe.get("failureThreshold", 3)))


@dataclass
class Tracker:
    """Consecutive results against the thresholds. Readiness starts failing (a pod is not
    Ready until its probe passes); liveness starts passing."""

    spec: ProbeSpec
    passing: bool
    successes: int = 0
    failures: int = 0

    def record(self, ok: bool) -> bool:
        """Count one result; True when ``passing`` flipped."""
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if not self.passing and self.successes >= self.spec.success_threshold:
                self.passing = True
                return True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.passing and self.failures >= self.spec.failure_threshold:
                self.passing = False
                return True
        return False


def resolve_port(port: int | str, container: dict) -> int | None:
    if isinstance(port, int):
        return port
    if str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    return None


async def check(spec: ProbeSpec, identity: Identity, container: dict,
                run: Runner) -> tuple[bool, str]:
    """Run the probe once (``run`` runs an exec probe's command in the container);
    (passed, message for events when it failed)."""
    try:
        return await asyncio.wait_for(_check(spec, identity, container, run), spec.timeout)
    except asyncio.TimeoutError:
        return False, f"probe timed out after {spec.timeout:g}s"


async def _check(spec: ProbeSpec, identity: Identity, container: dict,
                 run: Runner) -> tuple[bool, str]:
    h = spec.handler
    if "httpGet" in h:
        g = h["httpGet"]
        port = resolve_port(g.get("port", 80), container)
        host = g.get("host") or identity.pod_ip
        if port is None:
            return False, f"port {g.get('port')!r} is not a port of the container"
        return await _http(host, port, g.get("path", "/"), g.get("httpHeaders") or [],
                           g.get("scheme", "HTTP") == "HTTPS")
    if "tcpSocket" in h:
        t = h["tcpSocket"]
        port = resolve_port(t.get("port", 0), container)
        if port is None:
            return False, f"port {t.get('port')!r} is not a port of the container"
        try:
            _, writer = await asyncio.open_connection(t.get("host") or identity.pod_ip, port)
        except OSError as e:
            return False, f'dial tcp {identity.pod_ip}:{port}: connect: {e.strerror or e}'
        writer.close()
        return True, ""
    if "exec" in h:
        out = bytearray()

        async def collect(data: bytes) -> None:
            out.extend(data)

        code = await run([str(a) for a in h["exec"].get("command") or []], identity,
                         Streams(stdout=collect, stderr=collect))
        return code == 0, out.decode(errors="replace").strip()
    return False, "the probe has no supported handler (grpc probes are not emulated)"


async def _http(host: str, port: int, path: str, headers: list[dict],
                tls: bool) -> tuple[bool, str]:
    ctx = pki.unverified_client_context() if tls else None  # the kubelet does not verify
    try:
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
    except OSError as e:
        return False, f'Get "http://{host}:{port}{path}": dial tcp {host}:{port}: ' \
                      f"connect: {e.strerror or e}"
    extra = "".join(f"{x['name']}: {x['value']}\r\n" for x in headers if "name" in x)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.32"
                 f"\r\nAccept: */*\r\n{extra}Connection: close\r\n\r\n".encode())
    try:
        line = await reader.readline()
    finally:
        writer.close()
    try:
        code = int(line.split()[1])
    except (IndexError, ValueError):
        return False, f"HTTP probe failed: malformed response {line[:60]!r}"
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"
