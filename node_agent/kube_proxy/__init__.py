"""The service data plane of a node agent (kube-proxy): see README.md."""

from node_agent.kube_proxy.proxy import ENDPOINT_SLICES, SERVICES, KubeProxy

__all__ = ["ENDPOINT_SLICES", "SERVICES", "KubeProxy"]
