"""PolicyIndex: the cluster's NetworkPolicies, pods and namespaces kept ready for
connection checks, fed by the agent's watches like kube-proxy.

Three layers keep a check cheap:

- Policies are compiled once (policies.py) and grouped by namespace.
- Pods sharing a namespace and a label set share an ``Identity`` (identities.py) holding
  the policies that select it, their rules per port, and memos of what peer selectors
  answer for it. A policy change re-tests only that policy against the identities of its
  namespace; a namespace label change forgets what namespace selectors answered for that
  namespace; a new label set is tested against its namespace's policies once.
- Verdicts are cached per (source IP, destination IP, port, protocol). Any change that can
  alter a verdict bumps ``generation`` and empties the cache; updates that change nothing
  policy evaluation reads (a pod's readiness, a resync of the same objects) keep it.

No I/O and no clock: every method is a plain call that returns once the new state holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from kubeloop.netpol.endpoints import (
    PROTOCOLS, Endpoint, EndpointError, External, Pod, namespace_labels, object_key,
    pod_from_object)
from kubeloop.netpol.evaluation import decide
from kubeloop.netpol.identities import Identity
from kubeloop.netpol.policies import Policy, PolicyError, compile_policy
from kubeloop.netpol.verdicts import Verdict

log = logging.getLogger(__name__)

POLICIES = "networking.k8s.io/networkpolicies"  # the apiserver's storage keys
PODS = "pods"
NAMESPACES = "namespaces"
KINDS = (POLICIES, PODS, NAMESPACES)
CACHE_SIZE = 100_000  # verdicts kept before the cache starts over

LabelKey = frozenset[tuple[str, str]]
ObjectKey = tuple[str, str]  # (namespace, name)
VerdictKey = tuple[str, str, int, str]


def _label_key(labels: Mapping[str, str]) -> LabelKey:
    return frozenset(labels.items())


class PolicyIndex:
    """Answers ``check(source IP, destination IP, port, protocol)`` from the state its
    ``update``/``delete``/``resync`` calls describe (kinds: ``POLICIES``, ``PODS``,
    ``NAMESPACES``). Malformed objects are logged and ignored (the apiserver validated
    them); ``apply`` is the variant that raises instead, for input a user typed."""

    def __init__(self, *, cache_size: int = CACHE_SIZE) -> None:
        self.generation = 0
        self._cache_size = cache_size
        self._policies: dict[str, dict[str, Policy]] = {}
        self._namespaces: dict[str, dict[str, str]] = {}
        self._pods: dict[ObjectKey, Pod] = {}
        self._by_ip: dict[str, Pod] = {}
        self._claims: dict[str, list[ObjectKey]] = {}  # IP -> pods holding it, newest last
        self._identities: dict[str, dict[LabelKey, Identity]] = {}
        self._identity_of: dict[ObjectKey, Identity] = {}
        # namespace -> selector number -> whether it matches the namespace's labels
        self._namespace_matches: dict[str, dict[int, bool]] = {}
        self._verdicts: dict[VerdictKey, Verdict] = {}

    # --- what the agent calls -------------------------------------------------------------

    def update(self, kind: str, obj: dict) -> None:
        """An object was added or modified."""
        try:
            self.apply(kind, obj)
        except (PolicyError, EndpointError) as e:
            log.warning("network policy: ignoring a malformed %s object: %s", kind, e)
            self.delete(kind, obj)  # its previous version, if any, is gone

    def delete(self, kind: str, obj: dict) -> None:
        """An object was deleted."""
        try:
            key = self._key(kind, obj)
        except EndpointError as e:
            log.warning("network policy: ignoring a %s object without a name: %s", kind, e)
            return
        self._remove(kind, key)

    def resync(self, kind: str, objects: Iterable[dict]) -> None:
        """The complete list of ``kind`` (after a watch (re)started): what is not in it was
        deleted meanwhile."""
        _kind(kind)
        objects = list(objects)
        listed = set()
        for obj in objects:
            try:
                listed.add(self._key(kind, obj))
            except EndpointError:
                continue  # update() below logs it
        for key in self._keys(kind) - listed:
            self._remove(kind, key)
        for obj in objects:
            self.update(kind, obj)

    def apply(self, kind: str, obj: dict) -> None:
        """``update`` that raises ``PolicyError``/``EndpointError`` (ValueErrors naming the
        object and field) for a malformed object, leaving the state as it was."""
        if _kind(kind) == POLICIES:
            self._store_policy(compile_policy(obj))
        elif kind == PODS:
            self._store_pod(pod_from_object(obj))
        else:
            self._set_namespace(*namespace_labels(obj))

    # --- what enforcement points call -----------------------------------------------------

    def check(self, source_ip: str, destination_ip: str, port: int,
              protocol: str = "TCP") -> Verdict:
        """The verdict for a new connection between two addresses (cached until the next
        change). EndpointError for an address that is not one; ValueError for a bad port
        or protocol."""
        key = (source_ip, destination_ip, port, protocol)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self.evaluate(self.endpoint(source_ip), self.endpoint(destination_ip),
                                    port, protocol)
            if len(self._verdicts) >= self._cache_size:
                self._verdicts = {}
            self._verdicts[key] = verdict
        return verdict

    def evaluate(self, source: Endpoint, destination: Endpoint, port: int,
                 protocol: str = "TCP") -> Verdict:
        """The verdict for any two ends, known pods or not (not cached): e.g. a stand-in pod
        for a server the agent runs itself, like the cluster DNS."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be TCP, UDP or SCTP, not {protocol!r}")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise ValueError(f"port must be a number between 1 and 65535, not {port!r}")
        return decide(source, destination, port, protocol,
                      source_identity=self._identity(source),
                      destination_identity=self._identity(destination),
                      namespaces=self._namespaces)

    def endpoint(self, ip: str) -> Endpoint:
        """The pod holding ``ip``, else the address itself (EndpointError if malformed)."""
        pod = self._by_ip.get(ip)
        return pod if pod is not None else External.of(ip)

    def pod_at(self, ip: str) -> Pod | None:
        return self._by_ip.get(ip)

    def pod(self, namespace: str, name: str) -> Pod | None:
        return self._pods.get((namespace, name))

    def policies(self, namespace: str) -> list[Policy]:
        """The policies of a namespace, by name."""
        found = self._policies.get(namespace, {})
        return [found[name] for name in sorted(found)]

    def isolated(self, pod: Pod) -> tuple[bool, bool]:
        """(isolated for ingress, isolated for egress): whether any policy selects it."""
        identity = self._identity(pod)
        return (False, False) if identity is None else \
            (bool(identity.ingress), bool(identity.egress))

    # --- state ----------------------------------------------------------------------------

    def _changed(self) -> None:
        self.generation += 1
        if self._verdicts:
            self._verdicts = {}

    @staticmethod
    def _key(kind: str, obj: dict) -> Any:
        namespace, name = object_key(obj, _kind(kind))
        return name if kind == NAMESPACES else (namespace or "default", name)

    def _keys(self, kind: str) -> set[Any]:
        if kind == POLICIES:
            return {(ns, name) for ns, found in self._policies.items() for name in found}
        return set(self._pods) if kind == PODS else set(self._namespaces)

    def _remove(self, kind: str, key: Any) -> None:
        if kind == POLICIES:
            self._remove_policy(*key)
        elif kind == PODS:
            self._remove_pod(key)
        else:
            self._set_namespace(key, None)

    def _set_namespace(self, name: str, labels: dict[str, str] | None) -> None:
        if self._namespaces.get(name) == labels:
            return
        if labels is None:
            del self._namespaces[name]
        else:
            self._namespaces[name] = labels
        self._namespace_matches.get(name, {}).clear()  # shared by its identities
        self._changed()

    def _store_policy(self, policy: Policy) -> None:
        found = self._policies.setdefault(policy.namespace, {})
        if found.get(policy.name) == policy:
            return
        found[policy.name] = policy
        self._reselect(policy.namespace, policy.name, policy)

    def _remove_policy(self, namespace: str, name: str) -> None:
        found = self._policies.get(namespace, {})
        if found.pop(name, None) is None:
            return
        if not found:
            del self._policies[namespace]
        self._reselect(namespace, name, None)

    def _reselect(self, namespace: str, name: str, policy: Policy | None) -> None:
        for identity in self._identities.get(namespace, {}).values():
            identity.reselect(name, policy)
        self._changed()

    def _identity(self, end: Endpoint) -> Identity | None:
        """The identity of a pod (None for an address or a hostNetwork pod). A pod the
        index does not hold (a stand-in) gets one too, kept for the next time."""
        if type(end) is not Pod or end.host_network:
            return None
        identity = self._identity_of.get((end.namespace, end.name))
        if identity is not None and self._pods.get((end.namespace, end.name)) is end:
            return identity
        return self._identity_for(end)

    def _identity_for(self, pod: Pod) -> Identity:
        by_labels = self._identities.setdefault(pod.namespace, {})
        key = _label_key(pod.labels)
        identity = by_labels.get(key)
        if identity is None:
            identity = by_labels[key] = Identity(
                pod.namespace, pod.labels, self._policies.get(pod.namespace, {}),
                self._namespace_matches.setdefault(pod.namespace, {}))
        return identity

    def _store_pod(self, pod: Pod) -> None:
        key = (pod.namespace, pod.name)
        old = self._pods.get(key)
        if old == pod:
            return
        if old is not None:
            self._remove_pod(key)
        self._pods[key] = pod
        if _holds_ip(pod):
            self._claims.setdefault(pod.ip, []).append(key)
            self._by_ip[pod.ip] = pod  # the newest claim to an address wins
        if not pod.host_network:
            identity = self._identity_for(pod)
            identity.users += 1
            self._identity_of[key] = identity
        self._changed()

    def _remove_pod(self, key: ObjectKey) -> None:
        pod = self._pods.pop(key, None)
        if pod is None:
            return
        if _holds_ip(pod):
            claims = self._claims[pod.ip]
            claims.remove(key)
            if claims:
                self._by_ip[pod.ip] = self._pods[claims[-1]]
            else:
                del self._claims[pod.ip], self._by_ip[pod.ip]
        identity = self._identity_of.pop(key, None)
        if identity is not None:
            identity.users -= 1
            if not identity.users:
                by_labels = self._identities[identity.namespace]
                del by_labels[_label_key(identity.labels)]
                if not by_labels:
                    del self._identities[identity.namespace]
                    del self._namespace_matches[identity.namespace]
        self._changed()


def _holds_ip(pod: Pod) -> bool:
    """Whether connections from/to ``pod.ip`` are the pod's (not the node's, not a former
    pod's)."""
    return bool(pod.ip) and not pod.host_network and not pod.terminated


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"the network policy index follows {', '.join(map(repr, KINDS))}, "
                         f"not {kind!r}")
    return kind
