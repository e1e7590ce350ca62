"""Many hosts on one machine, as Linux network namespaces: a "switch" namespace holding a
bridge, and one namespace per host (the control plane, each node) with a veth whose peer
is a port of that bridge. The addresses (10.231.0.0/24) exist only inside the namespaces
the test creates: the machine's own network gets nothing. Everything started in a host
namespace is killed and every namespace deleted (which removes its veths) at teardown,
even after a failure."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import pytest

SUBNET = "10.231.0"  # only inside the test's namespaces
PREFIX_LEN = 24
BRIDGE = "br0"
LINK = "eth0"  # each host's interface


def netns_problem() -> str | None:
    """Why this machine cannot run the suite (None: it can)."""
    if os.geteuid() != 0:
        return "needs root: it creates network namespaces (ip netns)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip command (apt-get install iproute2)"
    probe = f"klprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add fails here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def ip(*args: str) -> None:
    """``ip ARGS``; fails the test with ip's message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        pytest.fail(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class Host:
    """One namespace with one address on the switch."""

    netns: str
    address: str
    port: str  # the veth's peer on the bridge, in the switch namespace

    def command(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *args]

    def run(self, *args: str, timeout: float = 30, input: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), capture_output=True, text=True,
                              timeout=timeout, input=input, env=env)

    def popen(self, *args: str, log: IO[bytes], env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command(*args), stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)

    def curl(self, url: str, *extra: str, timeout: float = 3) -> subprocess.CompletedProcess[str]:
        return self.run("curl", "-sS", "--max-time", str(timeout), *extra, url,
                        timeout=timeout + 5)


@dataclass
class Switch:
    """The bridge and the hosts plugged into it; ``remove`` undoes it all."""

    tag: str
    hosts: list[Host] = field(default_factory=list)

    @property
    def netns(self) -> str:
        return f"{self.tag}-switch"

    def create(self) -> None:
        ip("netns", "add", self.netns)
        ip("-n", self.netns, "link", "add", BRIDGE, "type", "bridge")
        ip("-n", self.netns, "link", "set", BRIDGE, "up")

    def plug(self, name: str, host_number: int) -> Host:
        """A new namespace ``<tag>-<name>`` at ``10.231.0.<host_number>``."""
        host = Host(f"{self.tag}-{name}", f"{SUBNET}.{host_number}", f"p{host_number}")
        ip("netns", "add", host.netns)
        self.hosts.append(host)
        ip("-n", host.netns, "link", "add", LINK, "type", "veth", "peer", "name", host.port,
           "netns", self.netns)
        ip("-n", self.netns, "link", "set", host.port, "master", BRIDGE)
        ip("-n", self.netns, "link", "set", host.port, "up")
        ip("-n", host.netns, "addr", "add", f"{host.address}/{PREFIX_LEN}", "dev", LINK)
        ip("-n", host.netns, "link", "set", LINK, "up")
        ip("-n", host.netns, "link", "set", "lo", "up")
        return host

    def cable(self, host: Host, up: bool) -> None:
        """Plug or unplug ``host``'s cable at the switch (its side sees no carrier)."""
        ip("-n", self.netns, "link", "set", host.port, "up" if up else "down")

    def remove(self) -> None:
        """Kill what runs in the hosts' namespaces, then delete every namespace."""
        for host in self.hosts:
            kill_all(host.netns)
        for netns in [h.netns for h in self.hosts] + [self.netns]:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=10)


def pids_in(netns: str) -> list[int]:
    done = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True,
                          timeout=10)
    return [int(p) for p in done.stdout.split()]


def kill_all(netns: str, grace: float = 5.0) -> None:
    """SIGTERM every process in ``netns``, SIGKILL what is left after ``grace`` s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids_in(netns):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while pids_in(netns) and time.monotonic() < deadline:
            time.sleep(0.1)


TAG = re.compile(r"^kl(\d+)-")  # namespaces of a test run: kl<pid>-<host>


def namespaces() -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            timeout=10).stdout
    return [line.split()[0] for line in listed.splitlines() if line.strip()]


def running(pid: int) -> bool:
    """Whether ``pid`` is alive: a zombie (a killed pytest not reaped yet) is not."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def sweep_stale() -> None:
    """Remove the namespaces of runs whose pytest died without its teardown (SIGKILL)."""
    for netns in namespaces():
        found = TAG.match(netns)
        if found and not running(int(found[1])):
            kill_all(netns)
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def switch() -> Iterator[Switch]:
    """A fresh switch (namespaces named after this test process); at the end nothing of
    it may be left."""
    problem = netns_problem()
    if problem:
        pytest.skip(f"multi-host tests: {problem}")
    sweep_stale()
    fabric = Switch(f"kl{os.getpid()}")
    try:
        fabric.create()
        yield fabric
    finally:
        fabric.remove()
    left = [n for n in namespaces() if n.startswith(f"{fabric.tag}-")]
    assert not left, f"namespaces left behind: {left}"
