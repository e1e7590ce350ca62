"""TLS Secrets: checks, host coverage, SNI choice, and cert-manager's Secrets."""

from __future__ import annotations

import base64
import datetime

import pytest

from ingress import tls
from ingress.classes import Classes
from ingress.routing import Problem, build
from kubeloop import pki

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
CA_CERT, CA_KEY = pki.create_ca(NOW)
CERT, KEY = pki.issue_certificate(CA_CERT, CA_KEY, ["a.test", "*.b.test"], [], now=NOW)
OTHER_CERT, OTHER_KEY = pki.issue_certificate(CA_CERT, CA_KEY, ["other.test"], [], now=NOW)
CLASSES = Classes.of([{"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}])


def secret(name: str = "s", cert: bytes = CERT, key: bytes = KEY, kind: str = tls.TLS_TYPE,
           raw: dict | None = None) -> dict:
    data = raw if raw is not None else {"tls.crt": base64.b64encode(cert).decode(),
                                        "tls.key": base64.b64encode(key).decode()}
    return {"metadata": {"name": name, "namespace": "default"}, "type": kind, "data": data}


SECRETS = [
    ("valid", secret(), ("a.test", "*.b.test")),
    ("opaque", secret(kind="Opaque"), "is of type 'Opaque', not kubernetes.io/tls"),
    ("no key", secret(raw={"tls.crt": base64.b64encode(CERT).decode()}),
     "lacks tls.crt or tls.key"),
    ("not base64", secret(raw={"tls.crt": "!!", "tls.key": "!!"}),
     "has tls.crt or tls.key that is not base64"),
    ("someone else's key", secret(key=OTHER_KEY),
     "has a tls.key that does not belong to its tls.crt"),
]


@pytest.mark.parametrize("given,expected", [s[1:] for s in SECRETS], ids=[s[0] for s in SECRETS])
def test_read_secret(given: dict, expected: tuple | str) -> None:
    pair = tls.read_secret(given)
    assert (pair.names if isinstance(pair, tls.KeyPair) else pair) == expected


def test_unreadable_pem() -> None:
    pair = tls.read_secret(secret(raw={"tls.crt": base64.b64encode(b"nope").decode(),
                                       "tls.key": base64.b64encode(b"nope").decode()}))
    assert isinstance(pair, str) and pair.startswith("has an unreadable certificate or key")


NAMES = [("a.test", "a.test", True), ("*.b.test", "x.b.test", True),
         ("*.b.test", "y.x.b.test", False), ("*.b.test", "b.test", False),
         ("a.test", "b.test", False)]


@pytest.mark.parametrize("pattern,host,matches", NAMES, ids=[f"{p}~{h}" for p, h, _ in NAMES])
def test_name_matches(pattern: str, host: str, matches: bool) -> None:
    assert tls.name_matches(pattern, host) is matches


def ingress(host: str, secret_name: str | None, ann: dict | None = None) -> dict:
    entry: dict = {"hosts": [host]}
    if secret_name:
        entry["secretName"] = secret_name
    return {"metadata": {"name": host, "namespace": "default", "annotations": ann or {}},
            "spec": {"ingressClassName": "nginx", "tls": [entry], "rules": [{"host": host}]}}


def test_store_picks_contexts_by_sni_and_reports_problems() -> None:
    table, _ = build([ingress("a.test", "good"), ingress("x.b.test", "good"),
                      ingress("c.test", "missing"), ingress("d.test", "wrong"),
                      ingress("e.test", None)], {}, {}, CLASSES)
    store = tls.CertificateStore(NOW)
    secrets = {("default", "good"): secret("good"),
               ("default", "wrong"): secret("wrong", OTHER_CERT, OTHER_KEY)}
    problems = store.apply(table, secrets)
    assert sorted(problems, key=lambda p: p.ingress) == [
        Problem(("default", "c.test"), "TLS Secret default/missing for host c.test not found; "
                                       "serving the default certificate"),
        Problem(("default", "d.test"), "TLS Secret default/wrong for host d.test does not "
                                       "cover the host (it is for other.test); serving the "
                                       "default certificate")]
    good = store.context_for("A.TEST")
    assert good is not store.default and store.context_for("x.b.test") is good
    for name in ("c.test", "d.test", "e.test", None, "unknown"):
        assert store.context_for(name) is store.default
    again = tls.CertificateStore(NOW)
    again._by_secret = store._by_secret
    again.apply(table, secrets)
    assert again.context_for("a.test") is good  # an unchanged Secret is not reloaded


def test_certificate_requests_and_issued_secret() -> None:
    ann = {"cert-manager.io/cluster-issuer": "letsencrypt-prod"}
    ingresses = [ingress("api.test", "api-tls", ann), ingress("plain.test", "plain-tls")]
    wanted = tls.certificate_requests(ingresses, {}, CLASSES, NOW)
    assert wanted == [tls.SecretRequest("default", "api-tls", ("api.test",), "letsencrypt-prod",
                                        ("default", "api.test"))]
    issued = tls.issue_secret(wanted[0], CA_CERT, CA_KEY, NOW)
    assert issued["type"] == tls.TLS_TYPE and issued["metadata"]["name"] == "api-tls"
    pair = tls.read_secret(issued)
    assert isinstance(pair, tls.KeyPair) and pair.covers("api.test")
    # once the Secret exists and covers the hosts, nothing more is asked
    existing = {("default", "api-tls"): issued}
    assert tls.certificate_requests(ingresses, existing, CLASSES, NOW) == []
    # renewed 30 days before it expires
    late = pair.not_after - datetime.timedelta(days=10)
    assert len(tls.certificate_requests(ingresses, existing, CLASSES, late)) == 1
