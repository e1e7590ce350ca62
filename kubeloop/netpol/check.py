"""``policy check FROM TO PORT`` and reachability tables, over a cluster state given as
plain lists of objects: what a CLI (or a test) asks without running an agent.

Ends are written ``NAMESPACE/NAME`` or ``NAME`` (a pod, in the default namespace given) or
an IP address (the pod holding it, else an outside address); ports ``80``, ``53/udp``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from kubeloop.netpol.endpoints import PROTOCOLS, Endpoint, EndpointError
from kubeloop.netpol.index import NAMESPACES, PODS, POLICIES, PolicyIndex
from kubeloop.netpol.verdicts import Verdict


def resolve(index: PolicyIndex, end: str, namespace: str = "default") -> Endpoint:
    """``x/a``, ``a`` or an IP -> the end it names; EndpointError when no pod has that name."""
    try:
        ipaddress.ip_address(end)
    except ValueError:
        pass
    else:
        return index.endpoint(end)
    ns, _, name = end.rpartition("/")
    ns = ns or namespace
    if not name or "/" in ns:
        raise EndpointError(f"{end!r} is neither NAMESPACE/NAME, NAME nor an IP address")
    pod = index.pod(ns, name)
    if pod is None:
        raise EndpointError(f'pod "{name}" not found in namespace "{ns}"')
    return pod


def parse_port(text: str) -> tuple[int, str]:
    """``80`` -> (80, "TCP"); ``53/udp`` -> (53, "UDP"); ValueError otherwise."""
    number, slash, protocol = text.partition("/")
    protocol = protocol.upper() if slash else "TCP"
    if protocol not in PROTOCOLS or not number.isdigit() or not 1 <= int(number) <= 65535:
        raise ValueError(f"{text!r} is not a port: expected PORT or PORT/PROTOCOL, with "
                         f"PORT 1-65535 and PROTOCOL one of {', '.join(PROTOCOLS)}")
    return int(number), protocol


def load(policies: Iterable[dict], pods: Iterable[dict],
         namespaces: Iterable[dict]) -> PolicyIndex:
    """An index of the given objects; PolicyError/EndpointError name a malformed one."""
    index = PolicyIndex()
    for kind, objects in ((NAMESPACES, namespaces), (PODS, pods), (POLICIES, policies)):
        for obj in objects:
            index.apply(kind, obj)
    return index


def policy_check(policies: Iterable[dict], pods: Iterable[dict], namespaces: Iterable[dict],
                 source: str, destination: str, port: int, protocol: str = "TCP",
                 namespace: str = "default") -> Verdict:
    """Would a new connection ``source`` -> ``destination``:``port``/``protocol`` pass?"""
    index = load(policies, pods, namespaces)
    return index.evaluate(resolve(index, source, namespace),
                          resolve(index, destination, namespace), port, protocol)


def truth_table(index: PolicyIndex, ends: Sequence[Endpoint], port: int,
                protocol: str = "TCP") -> str:
    """Reachability among ``ends`` as upstream's netpol e2e prints it: a row per source, a
    column per destination, ``.`` allowed and ``X`` denied."""
    names = [str(end) for end in ends]
    width = max(len(n) for n in ["-", *names])
    lines = [" ".join(n.ljust(width) for n in ["-", *names]).rstrip()]
    for name, source in zip(names, ends):
        cells = ("." if index.evaluate(source, dest, port, protocol).allowed else "X"
                 for dest in ends)
        lines.append(" ".join(c.ljust(width) for c in [name, *cells]).rstrip())
    return "\n".join(lines)
