"""The cluster DNS server each node agent runs (node-local DNS): see README.md."""

from node_agent.dns.server import ClusterDns
from node_agent.dns.zone import ENDPOINT_SLICES, NAMESPACES, SERVICES

__all__ = ["ENDPOINT_SLICES", "NAMESPACES", "SERVICES", "ClusterDns"]
