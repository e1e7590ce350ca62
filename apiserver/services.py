"""Service address bookkeeping on create and update: which ClusterIP and NodePorts a
Service gets, keeping what it already had (as the upstream Service REST storage does)."""

from __future__ import annotations

import random

from apiserver import allocation
from apiserver.validation import Cause

NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def allocate(svc: dict, old: dict | None, ranges: allocation.Ranges, used_ips: set[str],
             used_ports: set[tuple[int, str]], rng: random.Random) -> None:
    """Fill spec.clusterIP(s) and nodePorts of ``svc`` in place; raises AllocationError."""
    spec = svc.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    stype = spec.get("type", "ClusterIP")
    if stype == "ExternalName":
        for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            spec.pop(field, None)
    else:
        requested = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
        if not requested and old_spec.get("clusterIP"):
            requested = old_spec["clusterIP"]  # an update that omits it keeps it
            used_ips = used_ips - {requested}
        if requested == "None":
            spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
        elif requested and requested == old_spec.get("clusterIP"):
            spec["clusterIP"], spec["clusterIPs"] = requested, [requested]
        else:
            ip = allocation.allocate_cluster_ip(requested, ranges.service_cidr, used_ips, rng)
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                 for p in old_spec.get("ports") or [] if p.get("nodePort")}
    taken = set(used_ports)
    for i, port in enumerate(spec.get("ports") or []):
        protocol = port.get("protocol", "TCP")
        if stype not in NODE_PORT_TYPES:
            if port.get("nodePort") and stype == "ClusterIP" and old is not None and \
                    port["nodePort"] == old_ports.get((port.get("port"), protocol)):
                port.pop("nodePort")  # switching back to ClusterIP releases the port
            continue
        wanted = port.get("nodePort") or old_ports.get((port.get("port"), protocol))
        if wanted and wanted == old_ports.get((port.get("port"), protocol)):
            port["nodePort"] = wanted
        else:
            port["nodePort"] = allocation.allocate_node_port(
                wanted, protocol, i, ranges.node_ports, taken, rng)
        taken.add((port["nodePort"], protocol))


def cause_for(error: allocation.AllocationError) -> Cause:
    value = error.value
    if isinstance(value, list):
        shown = "[]string{" + ", ".join(f'"{v}"' for v in value) + "}"
    else:
        shown = str(value)
    return Cause(error.field, "FieldValueInvalid", f"Invalid value: {shown}: {error}")
