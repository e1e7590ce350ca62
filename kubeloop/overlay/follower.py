"""Follows Nodes (kubeloop/follow.py) in node agents and the ingress controller: their pod
CIDRs and InternalIP addresses become the routes of the process's dialer, so a pod that
lands on a new node is reachable as soon as its node registered."""

from __future__ import annotations

import logging

from kubeloop.overlay.dialer import Dialer
from kubeloop.overlay.routes import Route, Routes, route_of

log = logging.getLogger(__name__)

NODES = "nodes"


class RouteFollower:
    def __init__(self, dialer: Dialer) -> None:
        self.dialer = dialer
        self.routes: dict[str, Route] = {}  # node name -> its route

    def resync(self, kind: str, objects: list[dict]) -> None:
        fresh = {route.node: route for route in map(route_of, objects) if route is not None}
        if fresh != self.routes:
            self.routes = fresh
            self._apply()

    def update(self, kind: str, obj: dict) -> None:
        route = route_of(obj)
        name = obj["metadata"]["name"]
        if route is None:
            self.delete(kind, obj)
        elif self.routes.get(name) != route:
            self.routes[name] = route
            self._apply()

    def delete(self, kind: str, obj: dict) -> None:
        if self.routes.pop(obj["metadata"]["name"], None) is not None:
            self._apply()

    def _apply(self) -> None:
        self.dialer.set_routes(Routes.build(self.routes.values()))
        log.info("overlay %s, %d node routes", self.dialer.mode.value, len(self.routes))
