"""NetworkPolicy evaluation for the node agent's enforcement points: see README.md."""

from node_agent.netpol.check import parse_port, policy_check, resolve, truth_table
from node_agent.netpol.endpoints import Endpoint, EndpointError, External, Pod
from node_agent.netpol.index import NAMESPACES, PODS, POLICIES, PolicyIndex
from node_agent.netpol.policies import PolicyError
from node_agent.netpol.verdicts import Direction, DirectionVerdict, Reason, Verdict

__all__ = ["NAMESPACES", "PODS", "POLICIES", "Direction", "DirectionVerdict", "Endpoint",
           "EndpointError", "External", "Pod", "PolicyError", "PolicyIndex", "Reason",
           "Verdict", "parse_port", "policy_check", "resolve", "truth_table"]
