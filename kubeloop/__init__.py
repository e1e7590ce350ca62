"""kubeloop: a multi-node Kubernetes cluster on loopback. ``Cluster`` is the Python API.

``Cluster`` loads on first use so that the ``kubeloop`` command and the supervisor, which
import this package, do not pay for the certificate code at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubeloop.cluster import Cluster

__all__ = ["Cluster"]


def __getattr__(name: str) -> Any:
    if name == "Cluster":
        from kubeloop.cluster import Cluster

        return Cluster
    raise AttributeError(f"module 'kubeloop' has no attribute {name!r}")
