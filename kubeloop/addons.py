"""Names of the add-on objects the apiserver installs at a cluster's first start and the
processes standing behind them look for (the ingress controller finds its own pod by
these, to connect to backends from that pod's IP)."""

from __future__ import annotations

INGRESS_NAMESPACE = "ingress-nginx"
INGRESS_CONTROLLER = "ingress-nginx-controller"
INGRESS_LABELS = {"app.kubernetes.io/component": "controller",
                  "app.kubernetes.io/instance": "ingress-nginx",
                  "app.kubernetes.io/name": "ingress-nginx"}


def label_selector(labels: dict[str, str]) -> str:
    """``labels`` as an equality label selector (``a=b,c=d``)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
