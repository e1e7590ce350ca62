"""NetworkPolicy evaluation for the node agent's enforcement points: see README.md."""

from kubeloop.netpol.check import parse_port, policy_check, resolve, truth_table
from kubeloop.netpol.endpoints import Endpoint, EndpointError, External, Pod
from kubeloop.netpol.index import NAMESPACES, PODS, POLICIES, PolicyIndex
from kubeloop.netpol.policies import PolicyError
from kubeloop.netpol.verdicts import Direction, DirectionVerdict, Reason, Verdict

__all__ = ["NAMESPACES", "PODS", "POLICIES", "Direction", "DirectionVerdict", "Endpoint",
           "EndpointError", "External", "Pod", "PolicyError", "PolicyIndex", "Reason",
           "Verdict", "parse_port", "policy_check", "resolve", "truth_table"]
