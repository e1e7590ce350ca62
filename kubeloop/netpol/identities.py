"""Identities: the pods of one namespace sharing one label set, as Cilium groups them.
Everything policy evaluation learns from labels is kept on the identity, once for all its
pods: the policies selecting it (per direction, by name), the rules of those policies
that admit a given port (built on first use of that port), and what each label selector
of a pod peer answers for its labels (memoized by selector number as evaluation meets
them). What namespace selectors answer for its namespace is memoized in a dict shared by
the identities of the namespace.

The index keeps them up to date: ``reselect`` after a policy of the namespace changed;
it clears ``namespace_matches`` when the namespace's labels change.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeloop.netpol.policies import Peer, Policy, Rule

Selection = tuple[tuple[str, tuple[Rule, ...]], ...]  # (policy name, its rules), by name
# The rules admitting one port: (policy name, the rule's peers (None: all), the rule when
# its port still depends on a named port, else None), in policy name order.
Candidates = tuple[tuple[str, tuple[Peer, ...] | None, Rule | None], ...]
PORTS_KEPT = 1024  # (direction, port, protocol) entries per identity before starting over


class Identity:
    """``ingress``/``egress``: the selecting policies that apply to that direction with
    their rules; ``*_names``: just their names, as verdicts list them; ``matches``:
    selector number -> whether it matches the labels; ``namespace_matches``: the same for
    the namespace's labels."""

    __slots__ = ("namespace", "labels", "selected", "ingress", "egress", "ingress_names",
                 "egress_names", "matches", "namespace_matches", "users", "_by_port")

    def __init__(self, namespace: str, labels: Mapping[str, str],
                 policies: Mapping[str, Policy], namespace_matches: dict[int, bool]) -> None:
        self.namespace = namespace
        self.labels = labels
        self.selected: dict[str, Policy] = {
            name: p for name, p in policies.items() if p.pod_selector.matches(labels)}
        self.matches: dict[int, bool] = {}
        self.namespace_matches = namespace_matches
        self.users = 0  # indexed pods with this identity
        self.ingress: Selection = ()
        self.egress: Selection = ()
        self.ingress_names: tuple[str, ...] = ()
        self.egress_names: tuple[str, ...] = ()
        self._by_port: dict[tuple[bool, int, str], Candidates] = {}
        self._refresh()

    def reselect(self, name: str, policy: Policy | None) -> None:
        """Policy ``name`` became ``policy`` (None: deleted): keep it if it selects us."""
        if policy is not None and policy.pod_selector.matches(self.labels):
            self.selected[name] = policy
        elif self.selected.pop(name, None) is None:
            return
        self._refresh()

    def candidates(self, ingress: bool, port: int, protocol: str) -> Candidates:
        """The rules of the selecting policies (of one direction) that may admit ``port``."""
        key = (ingress, port, protocol)
        found = self._by_port.get(key)
        if found is None:
            if len(self._by_port) >= PORTS_KEPT:
                self._by_port = {}
            found = self._by_port[key] = tuple(
                (name, rule.peers, None if admits else rule)
                for name, rules in (self.ingress if ingress else self.egress)
                for rule in rules
                if (admits := rule.number_matches(port, protocol)) is not False)
        return found

    def _refresh(self) -> None:
        self._by_port = {}
        ordered = [self.selected[n] for n in sorted(self.selected)]
        self.ingress = tuple((p.name, p.ingress) for p in ordered if p.ingress is not None)
        self.egress = tuple((p.name, p.egress) for p in ordered if p.egress is not None)
        self.ingress_names = tuple(name for name, _ in self.ingress)
        self.egress_names = tuple(name for name, _ in self.egress)
