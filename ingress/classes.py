"""Which Ingresses are ours: IngressClass selection as ingress-nginx makes it.

An Ingress is taken when its ``kubernetes.io/ingress.class`` annotation names our class;
else when ``spec.ingressClassName`` names an IngressClass whose ``spec.controller`` is
ours, or names our class itself (ingress-nginx's ``--ingress-class-by-name``, which keeps
Ingresses working before the IngressClass object exists); else, with no class at all,
when an IngressClass of ours is marked default
(``ingressclass.kubernetes.io/is-default-class: "true"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ingress.annotations import INGRESS_CLASS

CLASS_NAME = "nginx"
CONTROLLER = "k8s.io/ingress-nginx"
IS_DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"


@dataclass(frozen=True)
class Classes:
    """The IngressClasses of the cluster, reduced to what selection needs."""

    ours: frozenset[str]  # names of IngressClasses whose controller is ours
    default_is_ours: bool
    class_name: str = CLASS_NAME

    @classmethod
    def of(cls, ingress_classes: Iterable[dict], *, class_name: str = CLASS_NAME,
           controller: str = CONTROLLER) -> Classes:
        ours: set[str] = set()
        default = False
        for obj in ingress_classes:
            meta = obj.get("metadata") or {}
            if (obj.get("spec") or {}).get("controller") != controller:
                continue
            name = meta.get("name")
            if isinstance(name, str):
                ours.add(name)
            if str((meta.get("annotations") or {}).get(IS_DEFAULT_CLASS, "")).lower() == "true":
                default = True
        return cls(frozenset(ours), default, class_name)

    def takes(self, ingress: dict) -> bool:
        """Whether this controller serves the Ingress."""
        meta = ingress.get("metadata") or {}
        annotated = (meta.get("annotations") or {}).get(INGRESS_CLASS)
        if annotated is not None:
            return annotated == self.class_name
        name = (ingress.get("spec") or {}).get("ingressClassName")
        if name:
            return name in self.ours or name == self.class_name
        return self.default_is_ours
