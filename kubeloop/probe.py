"""Health checks of a running cluster through its apiserver's HTTPS API.

Used by the supervisor (is start-up done?) and ``kubeloop status``. Standard library only,
so the CLI stays quick to start; it connects directly, ignoring ``https_proxy``. Every
failure (refused, timeout, TLS, HTTP error) reads as "not healthy", never as an exception.
"""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any

from kubeloop.config import ClusterConfig


def ready_node_names(node_list: dict[str, Any]) -> set[str]:
    """Names of the nodes in a NodeList whose Ready condition is "True"."""
    ready = set()
    for node in node_list.get("items") or []:
        conditions = (node.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            ready.add(node.get("metadata", {}).get("name", ""))
    return ready


class Prober:
    """Asks one cluster's apiserver, trusting only the cluster CA."""

    def __init__(self, config: ClusterConfig, timeout: float = 1.0) -> None:
        self.config = config
        self.timeout = timeout
        self._context: ssl.SSLContext | None = None

    def readyz(self) -> bool:
        status, body = self._get("/readyz", authenticated=False)
        return status == 200 and body.strip() == b"ok"

    def nodes(self) -> dict[str, Any] | None:
        """The NodeList, or None when the apiserver does not answer with one."""
        status, body = self._get("/api/v1/nodes", authenticated=True)
        if status != 200:
            return None
        try:
            doc = json.loads(body)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def items(self, path: str) -> list[dict[str, Any]] | None:
        """The items of a list (e.g. ``/api/v1/pods``), or None without an answer."""
        status, body = self._get(path, authenticated=True)
        if status != 200:
            return None
        try:
            items = json.loads(body).get("items")
        except (ValueError, AttributeError):
            return None
        return items if isinstance(items, list) else None

    def ready_nodes(self) -> set[str]:
        return ready_node_names(self.nodes() or {})

    def _get(self, path: str, authenticated: bool) -> tuple[int, bytes]:
        net = self.config.network
        headers = {"Accept": "application/json"}
        try:
            if authenticated:
                token = self.config.admin_token_file.read_text().strip()
                headers["Authorization"] = f"Bearer {token}"
            conn = http.client.HTTPSConnection(
                net.apiserver_ip, net.api_port, context=self._ssl(), timeout=self.timeout
            )
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                return response.status, response.read()
            finally:
                conn.close()
        except (OSError, http.client.HTTPException):
            # ssl.SSLError and timeouts are OSErrors too.
            return 0, b""

    def _ssl(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = ssl.create_default_context(cafile=str(self.config.ca_cert))
        return self._context
