"""What a connection check answers: allowed or not, which direction denied, and per
direction why (the policies that isolate the pod and those that allowed the connection),
so a flow log can say what Cilium's ``hubble observe`` says."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Direction(StrEnum):
    EGRESS = "egress"  # checked at the source pod
    INGRESS = "ingress"  # checked at the destination pod


class Reason(StrEnum):
    """Why one direction allowed or denied."""

    NOT_A_POD = "not a pod"  # that end is an address or the node: no policy applies
    NOT_ISOLATED = "not isolated"  # no policy selects the pod for this direction
    SAME_POD = "same pod"  # a pod cannot block access to itself
    OWN_NODE = "own node"  # traffic with the pod's own node is always allowed
    ALLOWED = "allowed"  # isolated, and at least one policy's rules admit it
    DENIED = "denied"  # isolated, and no policy's rules admit it


@dataclass(frozen=True, slots=True)
class DirectionVerdict:
    """One direction's answer. ``isolated_by``: every policy selecting the pod for this
    direction; ``allowed_by``: those whose rules admit the connection (policy names; they
    all live in the pod's namespace)."""

    reason: Reason
    isolated_by: tuple[str, ...] = ()
    allowed_by: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.reason is not Reason.DENIED

    def describe(self) -> str:
        if self.reason is Reason.ALLOWED:
            return "allowed by " + ", ".join(self.allowed_by)
        if self.reason is Reason.DENIED:
            return "denied, isolated by " + ", ".join(self.isolated_by)
        return str(self.reason)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A new connection's fate: both directions must allow it. ``denied`` names the
    direction that denied, egress first (the source's check comes first on the wire)."""

    egress: DirectionVerdict
    ingress: DirectionVerdict
    # Derived once: enforcement reads them on every connection, from the cache.
    allowed: bool = field(init=False, compare=False)
    denied: Direction | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        denied = Direction.EGRESS if not self.egress.allowed else \
            None if self.ingress.allowed else Direction.INGRESS
        object.__setattr__(self, "denied", denied)
        object.__setattr__(self, "allowed", denied is None)

    def describe(self) -> str:
        """One line for a flow log: ``ALLOWED (egress: not isolated; ingress: allowed by
        web)`` or ``DENIED at ingress (...)``."""
        outcome = "ALLOWED" if self.allowed else f"DENIED at {self.denied}"
        return (f"{outcome} (egress: {self.egress.describe()}; "
                f"ingress: {self.ingress.describe()})")
