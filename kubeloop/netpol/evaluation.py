"""The decision for one new connection: a function of its two ends, its port and protocol,
the identities of the ends that are pods (the policies selecting them), and the
namespaces' labels.

A connection passes when the source's egress AND the destination's ingress allow it. A
direction allows when its end is not a pod (an address, the node, a hostNetwork pod),
when no policy selects the pod for that direction, when the connection is the pod's own
(to itself) or with its own node (``hostIP``), or when a rule of any selecting policy
admits it: a peer (from/to) AND a port matching. Only connection initiation is judged:
the replies of an allowed connection always pass (the enforcement points relay both ways
of a connection they let through, as conntrack does).

This is the cold path of every new connection after a change, hence the plain loops over
what the identities prepared: the rules admitting the port, and the memos of what the
selectors of pod peers answer for the peer's labels and its namespace's labels.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeloop.netpol.endpoints import NAME_LABEL, Endpoint, Pod
from kubeloop.netpol.identities import Identity
from kubeloop.netpol.policies import IPBlock
from kubeloop.netpol.verdicts import Direction, DirectionVerdict, Reason, Verdict

NOT_A_POD = DirectionVerdict(Reason.NOT_A_POD)
NOT_ISOLATED = DirectionVerdict(Reason.NOT_ISOLATED)

Namespaces = Mapping[str, Mapping[str, str]]  # namespace name -> its labels


def namespace_labels_of(namespaces: Namespaces, name: str) -> Mapping[str, str]:
    """A namespace's labels; one not known (yet) still carries its name label."""
    labels = namespaces.get(name)
    return labels if labels is not None else {NAME_LABEL: name}


def judge(direction: Direction, pod: Pod, identity: Identity, peer: Endpoint,
          peer_identity: Identity | None, namespaces: Namespaces, port: int,
          protocol: str) -> DirectionVerdict:
    """One direction at ``pod`` (the source for egress, the destination for ingress) for a
    connection with ``peer``; ``peer_identity`` is None when the peer is not a pod (an
    address, a hostNetwork pod)."""
    ingress = direction is Direction.INGRESS
    if not (identity.ingress if ingress else identity.egress):
        return NOT_ISOLATED
    isolated_by = identity.ingress_names if ingress else identity.egress_names
    if peer is pod or (type(peer) is Pod and peer.namespace == pod.namespace
                       and peer.name == pod.name):
        return DirectionVerdict(Reason.SAME_POD, isolated_by)
    if pod.host_ip and peer.ip == pod.host_ip:
        return DirectionVerdict(Reason.OWN_NODE, isolated_by)
    # Named ports resolve on the pod connected to: this one for ingress, the peer for egress.
    named_ports = pod.named_ports if ingress else \
        peer.named_ports if type(peer) is Pod and not peer.host_network else None
    address = peer.address
    allowed_by: list[str] = []
    for name, peers, named_rule in identity.candidates(ingress, port, protocol):
        if allowed_by and allowed_by[-1] == name:
            continue  # an earlier rule of this policy allowed it
        if named_rule is not None and \
                not named_rule.port_matches(port, protocol, named_ports):
            continue
        if peers is not None:
            for spec in peers:
                if isinstance(spec, IPBlock):
                    if spec.contains(address):
                        break
                elif peer_identity is not None:
                    # A pod peer: both selectors answered from the peer identity's memos
                    # (computed here on a miss), inline as this is the hot loop.
                    if spec.namespaces is None:
                        if peer_identity.namespace != spec.home:
                            continue
                    else:
                        hit = peer_identity.namespace_matches.get(spec.namespaces_number)
                        if hit is None:
                            hit = peer_identity.namespace_matches[spec.namespaces_number] = \
                                spec.namespaces.matches(namespace_labels_of(
                                    namespaces, peer_identity.namespace))
                        if not hit:
                            continue
                    if spec.pods is None:
                        break
                    hit = peer_identity.matches.get(spec.pods_number)
                    if hit is None:
                        hit = peer_identity.matches[spec.pods_number] = \
                            spec.pods.matches(peer_identity.labels)
                    if hit:
                        break
            else:
                continue  # no peer of this rule matches
        allowed_by.append(name)
    return DirectionVerdict(Reason.ALLOWED if allowed_by else Reason.DENIED, isolated_by,
                            tuple(allowed_by))


def decide(source: Endpoint, destination: Endpoint, port: int, protocol: str, *,
           source_identity: Identity | None, destination_identity: Identity | None,
           namespaces: Namespaces) -> Verdict:
    """The verdict for a new connection ``source`` -> ``destination``:``port``/``protocol``.
    Each end that is a pod (not hostNetwork) comes with its identity; None for the others."""
    egress = NOT_A_POD if source_identity is None or type(source) is not Pod else \
        judge(Direction.EGRESS, source, source_identity, destination, destination_identity,
              namespaces, port, protocol)
    ingress = NOT_A_POD if destination_identity is None or type(destination) is not Pod \
        else judge(Direction.INGRESS, destination, destination_identity, source,
                   source_identity, namespaces, port, protocol)
    return Verdict(egress, ingress)
