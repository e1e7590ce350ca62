"""Pod IP allocation inside the node's pod CIDR: the lowest free address from .2 upward
(.1 is the node's bridge address on a real CNI). Pure: the caller owns the used set."""

from __future__ import annotations

import ipaddress


class PoolExhausted(RuntimeError):
    pass


def allocate(cidr: str, used: set[str]) -> str:
    net = ipaddress.ip_network(cidr)
    for offset, ip in enumerate(net.hosts()):
        if offset == 0:
            continue  # .1
        if str(ip) not in used:
            return str(ip)
    raise PoolExhausted(f"no free pod IP left in {cidr} ({len(used)} in use)")
