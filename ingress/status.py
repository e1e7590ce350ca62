"""What the controller publishes about objects: the Ingresses' ``status.loadBalancer``
(kubectl's ADDRESS column), the Normal ``Sync`` Event ingress-nginx records each time it
takes an Ingress in, and the Warning Events of problems. Pure: server.py sends what these
decide over gRPC."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ingress.classes import Classes
from ingress.routing import Problem

# ingress-nginx's events come from this component (kubectl describe: "From").
COMPONENT = "nginx-ingress-controller"
PROBLEM_REASON = "Rejected"  # the reason of a problem's Warning Event
SYNC_REASON, SYNC_MESSAGE = "Sync", "Scheduled for sync"


def wanted_status(ingress: dict, classes: Classes, address: str) -> dict | None:
    """The Ingress's new ``.status``, or None when it is right already: ours carry our
    address; one that stopped being ours loses it (another controller may publish its)."""
    status = ingress.get("status")
    status = dict(status) if isinstance(status, dict) else {}
    balancer = status.get("loadBalancer")
    current = balancer.get("ingress") if isinstance(balancer, dict) else None
    mine = [{"ip": address}]
    if classes.takes(ingress):
        if current == mine:
            return None
        return {**status, "loadBalancer": {"ingress": mine}}
    if current != mine:
        return None
    return {**status, "loadBalancer": {}}


def status_updates(ingresses: Iterable[dict], classes: Classes, address: str
                   ) -> Iterator[tuple[dict, dict]]:
    """(Ingress, its new status) for each Ingress whose status must change."""
    for ingress in ingresses:
        status = wanted_status(ingress, classes, address)
        if status is not None:
            yield ingress, status


def problem_event(problem: Problem) -> tuple[str, str, str, str] | None:
    """(namespace, name, reason, message) of the Warning Event reporting ``problem``; None
    for a problem ingress-nginx only logs."""
    if not problem.event:
        return None
    namespace, name = problem.ingress
    return namespace or "default", name, PROBLEM_REASON, problem.message
