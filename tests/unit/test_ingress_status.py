"""What the ingress process publishes: an Ingress's status.loadBalancer (ADDRESS) as
ingress-nginx writes it, and the Event of a problem; where it listens, and the fix when it
cannot."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from ingress import server
from ingress.classes import Classes
from ingress.routing import Problem
from ingress.status import problem_event, status_updates, wanted_status
from kubeloop.config import Network

IP = "127.10.0.253"
OURS = {"metadata": {"name": "nginx", "annotations": {
    "ingressclass.kubernetes.io/is-default-class": "true"}},
        "spec": {"controller": "k8s.io/ingress-nginx"}}
THEIRS = {"metadata": {"name": "traefik"}, "spec": {"controller": "traefik.io/ingress"}}
WITH_DEFAULT = Classes.of([OURS, THEIRS])
NO_DEFAULT = Classes.of([THEIRS])
PUBLISHED = {"loadBalancer": {"ingress": [{"ip": IP}]}}


def ingress(class_name: str | None = None, status: Any = None) -> dict:
    obj: dict[str, Any] = {"metadata": {"namespace": "web", "name": "site"}, "spec": {}}
    if class_name:
        obj["spec"]["ingressClassName"] = class_name
    if status is not None:
        obj["status"] = status
    return obj


@pytest.mark.parametrize(
    ("obj", "classes", "expected"),
    [
        (ingress(), WITH_DEFAULT, PUBLISHED),
        (ingress(status={}), WITH_DEFAULT, PUBLISHED),
        (ingress(status=PUBLISHED), WITH_DEFAULT, None),
        (ingress("nginx", {"loadBalancer": {"ingress": [{"ip": "127.0.0.9"}]}}), NO_DEFAULT,
         PUBLISHED),
        (ingress("nginx", {"loadBalancer": {}, "other": 1}), NO_DEFAULT,
         {**PUBLISHED, "other": 1}),
        (ingress(), NO_DEFAULT, None),
        (ingress("traefik"), WITH_DEFAULT, None),
        (ingress("traefik", PUBLISHED), WITH_DEFAULT, {"loadBalancer": {}}),
        (ingress("traefik", {"loadBalancer": {"ingress": [{"ip": "127.0.0.9"}]}}),
         WITH_DEFAULT, None),
        (ingress(status="garbage"), WITH_DEFAULT, PUBLISHED),
    ],
    ids=["class-less-default-ours", "empty-status", "already-published", "wrong-address",
         "keeps-other-fields", "class-less-no-default", "another-class", "no-longer-ours",
         "another-controllers-address", "status-not-a-mapping"])
def test_wanted_status(obj: dict, classes: Classes, expected: dict | None) -> None:
    assert wanted_status(obj, classes, IP) == expected


def test_status_updates_names_only_the_ingresses_to_change() -> None:
    done, todo = ingress(status=PUBLISHED), ingress()
    assert list(status_updates([done, todo], WITH_DEFAULT, IP)) == [(todo, PUBLISHED)]


@pytest.mark.parametrize(
    ("problem", "expected"),
    [(Problem(("web", "site"), "path /: service \"web/x\" not found"),
      ("web", "site", "Rejected", "path /: service \"web/x\" not found")),
     (Problem(("", "site"), "bad"), ("default", "site", "Rejected", "bad")),
     (Problem(("web", "site"), "path /: service \"web/x\" not found", event=False), None)],
    ids=["namespaced", "no-namespace-is-default", "logged-only"])
def test_problem_event(problem: Problem, expected: tuple[str, str, str, str] | None) -> None:
    assert problem_event(problem) == expected


@pytest.mark.parametrize(("slot", "address"), [(0, "127.10.0.253"), (7, "127.10.7.253")],
                         ids=["slot-0", "slot-7"])
def test_the_ingress_address_is_the_slots(slot: int, address: str) -> None:
    assert Network.for_slot(slot).ingress_ip == address


@pytest.mark.parametrize(
    ("code", "fix"),
    [(errno.EADDRINUSE, "Another process listens there"), (errno.EACCES, "CAP_NET_BIND_SERVICE"),
     (errno.EADDRNOTAVAIL, "must be on the loopback"), (None, "must be on the loopback")],
    ids=["in-use", "no-permission", "not-an-address-here", "unknown"])
def test_bind_hint_names_the_fix(code: int | None, fix: str) -> None:
    assert fix in server.bind_hint(code)
