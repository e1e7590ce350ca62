"""A tiny kube-scheduler: which node a pending pod goes to, as a pure decision.

``schedule`` runs upstream's default filters that matter on a loopback cluster
(NodeUnschedulable, TaintToleration, NodeAffinity with its PreFilter) over the node
list, then picks the node with the fewest pods (ties by name). When nothing fits, the
message is the one kube-scheduler puts in its FailedScheduling event.
``schedule_many`` places a batch, counting each placement before the next.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubeloop import object_selectors as selectors

NO_NODES_MESSAGE = "no nodes available to schedule pods"

REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_NODE_NAME = "node(s) didn't match the requested node name"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_AFFINITY_PREFILTER = "node(s) didn't satisfy plugin(s) [NodeAffinity]"
REASON_AFFINITY_CONFLICT = "pod affinity terms conflict"

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
_BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})

_NODE_SELECTOR_OPERATORS = {
    "In": selectors.Operator.IN, "NotIn": selectors.Operator.NOT_IN,
    "Exists": selectors.Operator.EXISTS, "DoesNotExist": selectors.Operator.DOES_NOT_EXIST,
    "Gt": selectors.Operator.GREATER_THAN, "Lt": selectors.Operator.LESS_THAN,
}


@dataclass(frozen=True)
class Decision:
    """Where a pod goes (``node``), or why it cannot go anywhere (``message``).

    On success ``message`` is the Scheduled event text, or "" for a pod whose
    spec.nodeName was already set (kube-scheduler never sees those)."""

    node: str | None
    message: str


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


# --- taints and tolerations -------------------------------------------------------------

def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """v1.Toleration.ToleratesTaint."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def _tolerated(pod: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    return any(tolerates(t, taint) for t in _spec(pod).get("tolerations") or [])


def node_taints(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """spec.taints plus the NoSchedule taint the node lifecycle controller keeps on a node
    that is not Ready (kubelet registers nodes with not-ready until they report Ready)."""
    taints: list[Mapping[str, Any]] = list(_spec(node).get("taints") or [])
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c.get("status") for c in conditions if c.get("type") == "Ready"), None)
    if ready == "True":
        return taints
    key = TAINT_UNREACHABLE if ready == "Unknown" else TAINT_NOT_READY
    if not any(t.get("key") == key and t.get("effect") == "NoSchedule" for t in taints):
        taints.append({"key": key, "effect": "NoSchedule"})
    return taints


# --- node affinity ----------------------------------------------------------------------

def _required_terms(pod: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    """requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms, None if unset."""
    affinity = (_spec(pod).get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return None
    return list(required.get("nodeSelectorTerms") or [])


def _expressions_match(expressions: list[Mapping[str, Any]],
                       labels: Mapping[str, str]) -> bool:
    for expr in expressions:
        operator = _NODE_SELECTOR_OPERATORS.get(expr.get("operator", ""))
        if operator is None:
            return False
        try:
            requirement = selectors.new_requirement(expr.get("key", ""), operator,
                                                    tuple(expr.get("values") or ()))
        except selectors.SelectorError:
            # Upstream ignores parse errors and treats the term as not matching.
            return False
        if not requirement.matches(labels):
            return False
    return True


def _fields_match(expressions: list[Mapping[str, Any]], node_name: str) -> bool:
    for expr in expressions:
        values = expr.get("values") or []
        if expr.get("operator") not in ("In", "NotIn") or len(values) != 1:
            return False
        # metadata.name is the only node field; any other key reads as "".
        actual = node_name if expr.get("key") == "metadata.name" else ""
        if (actual == values[0]) != (expr.get("operator") == "In"):
            return False
    return True


def _term_matches(term: Mapping[str, Any], labels: Mapping[str, str], node_name: str) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    return _expressions_match(expressions, labels) and _fields_match(fields, node_name)


def matches_node_affinity(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """spec.nodeSelector and required node affinity (terms ORed) both hold for ``node``."""
    labels: Mapping[str, str] = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (_spec(pod).get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    terms = _required_terms(pod)
    if terms is None:
        return True
    return any(_term_matches(t, labels, _name(node)) for t in terms)


def _prefilter_node_names(pod: Mapping[str, Any]) -> set[str] | None:
    """NodeAffinity PreFilter: the only candidate nodes when every term pins
    ``metadata.name In``; None when all nodes are candidates."""
    terms = _required_terms(pod)
    if not terms:
        return None
    names: set[str] = set()
    for term in terms:
        term_names: set[str] | None = None
        for expr in term.get("matchFields") or []:
            if expr.get("key") == "metadata.name" and expr.get("operator") == "In":
                pinned = set(expr.get("values") or [])
                term_names = pinned if term_names is None else term_names & pinned
        if term_names is None:
            return None
        names |= term_names
    return names


# --- the decision -----------------------------------------------------------------------

def _filter(pod: Mapping[str, Any], node: Mapping[str, Any]) -> str | None:
    """The first failing filter's reason, in the default profile's plugin order."""
    if _spec(node).get("unschedulable") and not _tolerated(
            pod, {"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"}):
        return REASON_UNSCHEDULABLE
    for taint in node_taints(node):
        if taint.get("effect") in _BLOCKING_EFFECTS and not _tolerated(pod, taint):
            key, value = taint.get("key") or "", taint.get("value") or ""
            return f"node(s) had untolerated taint {{{key}: {value}}}"
    if not matches_node_affinity(pod, node):
        return REASON_AFFINITY
    return None


def _preemption_message(pod: Mapping[str, Any], total: int) -> str:
    if _spec(pod).get("preemptionPolicy") == "Never":
        return "preemption: not eligible due to preemptionPolicy=Never."
    # Every filter here fails as UnschedulableAndUnresolvable, so no node can be freed up.
    return (f"preemption: 0/{total} nodes are available: "
            f"{total} Preemption is not helpful for scheduling.")


def fit_error(pod: Mapping[str, Any], total: int, reasons: Mapping[str, int],
              prefilter_message: str = "") -> str:
    """framework.FitError.Error() followed by the DefaultPreemption message."""
    message = f"0/{total} nodes are available:"
    if prefilter_message:
        message += f" {prefilter_message}."
    else:
        # Plain string sort, as upstream ("10 node(s)" sorts before "2 node(s)").
        histogram = sorted(f"{count} {reason}" for reason, count in reasons.items())
        if histogram:
            message += " " + ", ".join(histogram) + "."
    return f"{message} {_preemption_message(pod, total)}"


def _scheduled_message(pod: Mapping[str, Any], node: str) -> str:
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    return f"Successfully assigned {namespace}/{_name(pod)} to {node}"


def schedule(pod: Mapping[str, Any], nodes: Sequence[Mapping[str, Any]],
             pods_per_node: Mapping[str, int]) -> Decision:
    """Pick a node for ``pod`` among ``nodes``; ``pods_per_node`` counts pods already bound."""
    if not nodes:
        return Decision(None, NO_NODES_MESSAGE)
    preset = _spec(pod).get("nodeName")
    if preset:
        if any(_name(n) == preset for n in nodes):
            return Decision(preset, "")
        return Decision(None, fit_error(pod, len(nodes), {REASON_NODE_NAME: len(nodes)}))
    candidates = _prefilter_node_names(pod)
    if candidates is not None and not candidates:
        return Decision(None, fit_error(pod, len(nodes), {}, REASON_AFFINITY_CONFLICT))
    reasons: Counter[str] = Counter()
    feasible: list[str] = []
    for node in nodes:
        name = _name(node)
        reason = (REASON_AFFINITY_PREFILTER if candidates is not None and name not in candidates
                  else _filter(pod, node))
        if reason is None:
            feasible.append(name)
        else:
            reasons[reason] += 1
    if not feasible:
        return Decision(None, fit_error(pod, len(nodes), reasons))
    best = min(feasible, key=lambda n: (pods_per_node.get(n, 0), n))
    return Decision(best, _scheduled_message(pod, best))


def schedule_many(pods: Sequence[Mapping[str, Any]], nodes: Sequence[Mapping[str, Any]],
                  pods_per_node: Mapping[str, int]) -> list[Decision]:
    """``schedule`` for each pod in order, counting each placement before the next so a
    batch spreads evenly. ``pods_per_node`` itself is left unchanged."""
    counts = Counter(pods_per_node)
    decisions = []
    for pod in pods:
        decision = schedule(pod, nodes, counts)
        if decision.node is not None:
            counts[decision.node] += 1
        decisions.append(decision)
    return decisions
