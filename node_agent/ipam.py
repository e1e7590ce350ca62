"""Pod IP allocation inside the node's pod CIDR, as host-local IPAM does it: the next free
address after the last one handed out, wrapping around, from .2 upward (.1 is the node's
bridge address on a real CNI). A freed address is thus not handed out again at once,
while its old listeners may still be closing and clients may still hold it. Pure: the
caller owns the used set and the cursor."""

from __future__ import annotations

import ipaddress


class PoolExhausted(RuntimeError):
    pass


def allocate(cidr: str, used: set[str], after: str | None = None) -> str:
    hosts = [str(ip) for offset, ip in enumerate(ipaddress.ip_network(cidr).hosts()) if offset]
    start = hosts.index(after) + 1 if after in hosts else 0
    for ip in hosts[start:] + hosts[:start]:
        if ip not in used:
            return ip
    raise PoolExhausted(f"no free pod IP left in {cidr} ({len(used)} in use)")
