"""Figures: the cluster DNS server's queries/s and p99 latency under dnsperf, against BIND's
named serving an equivalent static zone; and the time from a Service's ``update()`` to its
A record answering.

ClusterDns runs in its own process (uvloop) on 127.69.250.1:53, fed 100 ClusterIP and 10
headless Services through ``update()``; named (one worker thread, foreground) serves the
same records from a generated zone on 127.69.250.2:53 (an address added to ``lo`` for the
run and removed after). Both are pinned to CPU 0; dnsperf, and this script, to CPU 1.
Before measuring, every question of the mix is asked of both and their answers compared.
Runs alternate; medians are printed. Latency: dnsperf's p99 at saturation, and the p50/p99
round trip of one query at a time (a plain UDP client, the mix in order). The mix: 60% A
of Services (1/10 headless), 27% SRV of named ports, 13% NXDOMAIN. Needs dnsperf and named
(Debian packages dnsperf, bind9), and root.
    python3 bench/cluster_dns.py [--runs 3] [--seconds 5] [--clients 4] [--outstanding 100]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import uvloop

from node_agent.dns import ENDPOINT_SLICES, SERVICES, ClusterDns

OURS_IP, NAMED_IP, LATENCY_IP = "127.69.250.1", "127.69.250.2", "127.69.250.3"
SERVER_CPU, DNSPERF_CPU = 0, 1
SERVICE_COUNT, HEADLESS_COUNT = 100, 10
ZONE = "cluster.local"
PING_QUERIES = 5_000  # one at a time, for the round-trip latency


def objects() -> list[tuple[str, dict]]:
    http = [{"name": "http", "port": 80, "protocol": "TCP"}]
    out: list[tuple[str, dict]] = []
    for i in range(SERVICE_COUNT):
        out.append((SERVICES, {"metadata": {"name": f"svc-{i}", "namespace": "default"},
                               "spec": {"clusterIP": f"127.96.1.{i + 1}", "ports": http}}))
    for j in range(HEADLESS_COUNT):
        out.append((SERVICES, {"metadata": {"name": f"hl-{j}", "namespace": "default"},
                               "spec": {"clusterIP": "None", "ports": http}}))
        endpoints = [{"addresses": [f"127.244.{j + 1}.{k + 1}"], "hostname": f"hl-{j}-{k}",
                      "conditions": {"ready": True}} for k in range(3)]
        out.append((ENDPOINT_SLICES, {
            "metadata": {"name": f"hl-{j}-abc", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": f"hl-{j}"}},
            "addressType": "IPv4", "endpoints": endpoints, "ports": http}))
    return out


def zone_file(serial: int) -> str:
    """The same records as a BIND zone (the SOA CoreDNS uses, TTL 5)."""
    lines = ["$TTL 5", f"@ IN SOA ns.dns.{ZONE}. hostmaster.{ZONE}. {serial} 7200 1800 86400 5",
             f"@ IN NS ns.dns.{ZONE}.", f"ns.dns IN A {OURS_IP}"]
    for i in range(SERVICE_COUNT):
        name = f"svc-{i}.default.svc"
        lines += [f"{name} IN A 127.96.1.{i + 1}",
                  f"_http._tcp.{name} IN SRV 0 100 80 {name}.{ZONE}."]
    for j in range(HEADLESS_COUNT):
        name = f"hl-{j}.default.svc"
        for k in range(3):
            lines += [f"{name} IN A 127.244.{j + 1}.{k + 1}",
                      f"hl-{j}-{k}.{name} IN A 127.244.{j + 1}.{k + 1}",
                      f"_http._tcp.{name} IN SRV 0 33 80 hl-{j}-{k}.{name}.{ZONE}."]
    return "\n".join(lines) + "\n"


def queries() -> list[str]:
    mix = []
    for i in range(SERVICE_COUNT):
        mix += [f"svc-{i}.default.svc.{ZONE} A"] * 2
        mix.append(f"_http._tcp.svc-{i}.default.svc.{ZONE} SRV")
    for j in range(HEADLESS_COUNT):
        mix += [f"hl-{j}.default.svc.{ZONE} A"] * 2
    mix += [f"missing-{i}.default.svc.{ZONE} A" for i in range(SERVICE_COUNT // 2)]
    random.Random(1).shuffle(mix)
    return mix


# --- the servers ---------------------------------------------------------------------------

async def _serve_ours() -> None:
    server = ClusterDns(ZONE, OURS_IP, 53, upstreams=[])
    for kind, obj in objects():
        server.update(kind, obj)
    await server.start()
    await asyncio.Event().wait()


def _run_ours() -> None:
    os.sched_setaffinity(0, {SERVER_CPU})
    uvloop.run(_serve_ours())


def _start_named(workdir: Path) -> subprocess.Popen[bytes]:
    (workdir / "zone").write_text(zone_file(int(time.time())))
    (workdir / "named.conf").write_text(f"""options {{
    directory "{workdir}";
    listen-on port 53 {{ {NAMED_IP}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    minimal-responses no-auth;
    dnssec-validation no;
    notify no;
    pid-file none;
    session-keyfile none;
}};
controls {{ }};
zone "{ZONE}" {{ type primary; file "zone"; }};
""")
    log = (workdir / "named.log").open("wb")
    return subprocess.Popen(["taskset", "-c", str(SERVER_CPU), "named", "-g", "-4", "-n", "1",
                             "-c", str(workdir / "named.conf")], stdout=log, stderr=log)


def _wait_answering(ip: str, what: str) -> None:
    query = dns.message.make_query(f"svc-0.default.svc.{ZONE}", "A")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            dns.query.udp(query, ip, timeout=0.2)
            return
        except (OSError, dns.exception.Timeout):
            time.sleep(0.1)
    raise SystemExit(f"{what} does not answer on {ip}:53")


def _answers(ip: str, question: str) -> tuple:
    qname, qtype = question.split()
    for attempt in range(3):  # a busy machine can lose a datagram
        try:
            reply = dns.query.udp(dns.message.make_query(qname, qtype), ip, timeout=2)
            break
        except dns.exception.Timeout:
            if attempt == 2:
                raise SystemExit(f"no answer from {ip} to {question!r} in 3 tries") from None

    def texts(section: list) -> list[str]:
        return sorted(f"{rrset.name} {rrset.rdtype} {rr}" for rrset in section for rr in rrset)
    return reply.rcode(), texts(reply.answer), texts(reply.additional)


def _compare(questions: list[str]) -> None:
    for question in sorted(set(questions)):
        ours, named = _answers(OURS_IP, question), _answers(NAMED_IP, question)
        if ours != named:
            raise SystemExit(f"the two servers disagree on {question}:\n  ours:  {ours}\n"
                             f"  named: {named}")


# --- dnsperf ---------------------------------------------------------------------------------

def dnsperf(ip: str, datafile: Path, seconds: int, clients: int, outstanding: int
            ) -> tuple[float, float, int]:
    """(queries/s, p99 latency in ms, queries lost) of one run."""
    command = ["taskset", "-c", str(DNSPERF_CPU), "dnsperf", "-s", ip, "-d", str(datafile),
               "-l", str(seconds), "-c", str(clients), "-q", str(outstanding), "-v"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    latencies = sorted(float(line.rsplit(" ", 1)[1]) for line in out.splitlines()
                       if re.match(r"> \w+ .* [\d.]+$", line))
    qps = re.search(r"Queries per second:\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    if qps is None or lost is None or not latencies:
        raise SystemExit(f"no figures in dnsperf's output:\n{out[-2000:]}")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return float(qps.group(1)), p99 * 1000, int(lost.group(1))


def round_trips(ip: str, questions: list[str]) -> tuple[float, float]:
    """(p50, p99) in ms of one query at a time."""
    wires = [dns.message.make_query(q.split()[0], q.split()[1]).to_wire() for q in questions]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((ip, 53))
    sock.settimeout(2)
    times = []
    try:
        for i in range(PING_QUERIES):
            wire = wires[i % len(wires)]
            started = time.perf_counter()
            sock.send(wire)
            while sock.recv(4096)[:2] != wire[:2]:
                pass
            times.append(time.perf_counter() - started)
    finally:
        sock.close()
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.99)] * 1000


# --- Service create to answer ------------------------------------------------------------------

async def _update_to_answer(count: int) -> list[float]:
    server = ClusterDns(ZONE, LATENCY_IP, 53, upstreams=[])
    await server.start()
    loop = asyncio.get_running_loop()
    replies: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            replies.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=(LATENCY_IP, 53))
    times = []
    try:
        for i in range(count):
            query = dns.message.make_query(f"new-{i}.default.svc.{ZONE}", "A")
            wire = query.to_wire()
            transport.sendto(wire)  # a miss first: the name is NXDOMAIN and now cached
            await replies.get()
            started = time.perf_counter()
            server.update(SERVICES, {"metadata": {"name": f"new-{i}", "namespace": "default"},
                                     "spec": {"clusterIP": f"127.96.2.{i % 250 + 1}"}})
            transport.sendto(wire)
            reply = dns.message.from_wire(await replies.get())
            times.append(time.perf_counter() - started)
            if not reply.answer:
                raise SystemExit(f"new-{i} did not answer after update()")
    finally:
        transport.close()
        await server.close()
    return times


# --- main ---------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--outstanding", type=int, default=100)
    args = parser.parse_args()
    for tool in ("dnsperf", "named", "taskset", "ip"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is required (Debian packages dnsperf, bind9, util-linux, "
                             "iproute2)")
    questions = queries()
    os.sched_setaffinity(0, {DNSPERF_CPU})  # reading dnsperf's output must not steal CPU 0
    ours = multiprocessing.Process(target=_run_ours, daemon=True)
    named: subprocess.Popen[bytes] | None = None
    added = subprocess.run(["ip", "addr", "add", f"{NAMED_IP}/32", "dev", "lo"],
                           capture_output=True, text=True)
    if added.returncode != 0 and "File exists" not in added.stderr:
        raise SystemExit(f"cannot add {NAMED_IP} to lo for named: {added.stderr.strip()}")
    with tempfile.TemporaryDirectory(prefix="kubeloop-bench-dns-") as tmp:
        workdir = Path(tmp)
        datafile = workdir / "queries.txt"
        datafile.write_text("\n".join(questions) + "\n")
        try:
            ours.start()
            named = _start_named(workdir)
            _wait_answering(OURS_IP, "ClusterDns")
            _wait_answering(NAMED_IP, f"named (log: {workdir / 'named.log'})")
            _compare(questions)
            servers = {"ClusterDns": OURS_IP, "named": NAMED_IP}
            for ip in servers.values():  # warm up
                dnsperf(ip, datafile, 1, args.clients, args.outstanding)
            runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in servers}
            pings: dict[str, tuple[float, float]] = {}
            for _ in range(args.runs):
                for name, ip in servers.items():
                    runs[name].append(dnsperf(ip, datafile, args.seconds, args.clients,
                                              args.outstanding))
            for name, ip in servers.items():
                pings[name] = round_trips(ip, questions)
        finally:
            if named is not None:
                named.terminate()
                named.wait(10)
            ours.terminate()
            ours.join(5)
            subprocess.run(["ip", "addr", "del", f"{NAMED_IP}/32", "dev", "lo"], check=False)
    medians = {}
    for name, values in runs.items():
        qps = statistics.median(v[0] for v in values)
        p99 = statistics.median(v[1] for v in values)
        medians[name] = qps
        print(f"{name}: median {qps:,.0f} queries/s, p99 {p99:.2f} ms at saturation "
              f"(runs: {', '.join(f'{v[0]:,.0f}' for v in values)}; lost "
              f"{sum(v[2] for v in values)}); one at a time: p50 {pings[name][0]:.3f} ms, "
              f"p99 {pings[name][1]:.3f} ms")
    print(f"ClusterDns / named: {medians['ClusterDns'] / medians['named']:.2f}x "
          f"({args.runs} runs of {args.seconds}s, dnsperf -c {args.clients} -q "
          f"{args.outstanding}, {len(set(questions))} distinct questions, both on one CPU)")
    times = sorted(uvloop.run(_update_to_answer(300)))
    print(f"Service update() to its A record answering (in-process, UDP): "
          f"p50 {statistics.median(times) * 1000:.3f} ms, "
          f"p99 {times[int(len(times) * 0.99)] * 1000:.3f} ms, max {times[-1] * 1000:.3f} ms "
          f"over {len(times)} Services")


if __name__ == "__main__":
    main()
