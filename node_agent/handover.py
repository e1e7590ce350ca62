"""What a node agent takes over from an earlier agent process on the same node: pod IPs
to give back, restart counts and the lost run of each container (the apiserver still has
the pods' statuses). Pure functions."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from node_agent import ipam

LOST = {"exitCode": 255, "reason": "Unknown"}  # a container the runtime lost (a reboot)


def assign_ips(pods: Sequence[dict], cidr: str, used: set[str],
               after: str | None = None) -> dict[str, str | None]:
    """Pod uid -> IP for pods about to start here (None: the pool is exhausted).

    A pod keeps its ``status.podIP`` (the agent restarted) when it lies in ``cidr`` and no
    running pod (``used``) or earlier pod of the batch holds it; the others then take free
    addresses after the cursor ``after`` (see ipam), so a new pod never takes an address
    an old one comes back to.
    """
    net = ipaddress.ip_network(cidr)
    taken = set(used)
    chosen: dict[str, str | None] = {}
    for pod in pods:
        previous = (pod.get("status") or {}).get("podIP")
        if previous and previous not in taken and ipaddress.ip_address(previous) in net:
            chosen[pod["metadata"]["uid"]] = previous
            taken.add(previous)
    for pod in pods:
        uid = pod["metadata"]["uid"]
        if uid in chosen:
            continue
        try:
            chosen[uid] = after = ipam.allocate(cidr, taken, after)
        except ipam.PoolExhausted:
            chosen[uid] = None
            continue
        taken.add(str(chosen[uid]))
    return chosen


@dataclass(frozen=True)
class Carried:
    """What a pod's status keeps from the run a previous agent process gave it."""

    restarts: dict[str, int]  # container name -> restarts before this agent
    last_states: dict[str, dict[str, Any]]  # container name -> the run that was lost
    start_time: str | None = None


def carried_over(status: dict | None) -> Carried | None:
    """What carries over when this agent starts a pod an earlier agent process ran (the
    apiserver still has its container statuses), None for a pod that never ran: restart
    counts so far, plus one for each container that was running (or had just ended), whose
    lost run becomes the last state, as the kubelet shows after a node reboot."""
    status = status or {}
    restarts, last_states = {}, {}
    for c in status.get("containerStatuses") or []:
        state = c.get("state") or {}
        ran = state.get("running") or state.get("terminated")
        count = int(c.get("restartCount") or 0) + (1 if ran else 0)
        if not count:
            continue
        restarts[c["name"]] = count
        if ran:
            lost = {**LOST, "startedAt": ran.get("startedAt"), "finishedAt": None}
            if c.get("containerID"):
                lost["containerID"] = c["containerID"]
            last_states[c["name"]] = {"terminated": lost}
        elif c.get("lastState"):
            last_states[c["name"]] = c["lastState"]
    if not restarts:
        return None
    return Carried(restarts, last_states, status.get("startTime"))


def continue_status(status: dict, carried: Carried | None) -> dict:
    """A fresh runtime's status as the continuation of the earlier run: restart counts
    add up, the lost run is the last state until a newer one, the pod keeps its start
    time."""
    if carried is None:
        return status
    statuses = []
    for c in status.get("containerStatuses") or []:
        name = c["name"]
        c = {**c, "restartCount": carried.restarts.get(name, 0) + int(c.get("restartCount") or 0)}
        if not c.get("lastState") and name in carried.last_states:
            c["lastState"] = carried.last_states[name]
        statuses.append(c)
    out = {**status, "containerStatuses": statuses}
    if carried.start_time:
        out["startTime"] = carried.start_time
    return out
