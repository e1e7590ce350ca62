"""ingress-nginx annotations: values, defaults, bad values, and nginx's rewrite."""

from __future__ import annotations

import re

import pytest

from ingress import annotations as nginx_annotations
from ingress.annotations import DEFAULT_BODY_SIZE, Annotations, BackendProtocol

P = "nginx.ingress.kubernetes.io/"

PARSE = [
    ("none", None, Annotations()),
    ("unknown ignored", {P + "whatever": "1", "foo": "bar"}, Annotations()),
    ("ssl-redirect false", {P + "ssl-redirect": "false"}, Annotations(ssl_redirect=False)),
    ("force", {P + "force-ssl-redirect": "true"}, Annotations(force_ssl_redirect=True)),
    ("body 8m", {P + "proxy-body-size": "8m"}, Annotations(body_limit=8 << 20)),
    ("body 512k", {P + "proxy-body-size": "512K"}, Annotations(body_limit=512 << 10)),
    ("body bytes", {P + "proxy-body-size": "1000"}, Annotations(body_limit=1000)),
    ("body unlimited", {P + "proxy-body-size": "0"}, Annotations(body_limit=None)),
    ("rewrite", {P + "rewrite-target": "/$2"}, Annotations(rewrite_target="/$2")),
    ("regex", {P + "use-regex": "true"}, Annotations(use_regex=True)),
    ("https backend", {P + "backend-protocol": "https"},
     Annotations(backend_protocol=BackendProtocol.HTTPS)),
    ("cluster issuer", {"cert-manager.io/cluster-issuer": "letsencrypt-prod"},
     Annotations(cluster_issuer="letsencrypt-prod")),
]


@pytest.mark.parametrize("given,expected", [p[1:] for p in PARSE], ids=[p[0] for p in PARSE])
def test_parse(given: dict | None, expected: Annotations) -> None:
    parsed = nginx_annotations.parse(given)
    assert parsed == expected and parsed.problems == ()


BAD = [
    ({P + "proxy-body-size": "lots"}, "body_limit", DEFAULT_BODY_SIZE,
     "annotation nginx.ingress.kubernetes.io/proxy-body-size: 'lots' is not a size "
     "(like 1m, 512k or 1024); using the default"),
    ({P + "ssl-redirect": "yes"}, "ssl_redirect", True,
     "annotation nginx.ingress.kubernetes.io/ssl-redirect: 'yes' is not a boolean; "
     "using the default"),
    ({P + "backend-protocol": "GRPC"}, "backend_protocol", BackendProtocol.HTTP,
     "annotation nginx.ingress.kubernetes.io/backend-protocol: 'GRPC' is not supported "
     "(HTTP or HTTPS); using the default"),
]


@pytest.mark.parametrize("given,attr,value,problem", BAD, ids=[b[1] for b in BAD])
def test_bad_values_keep_the_default(given: dict, attr: str, value: object,
                                     problem: str) -> None:
    parsed = nginx_annotations.parse(given)
    assert getattr(parsed, attr) == value
    assert parsed.problems == (problem,)


REWRITES = [
    # (path regex, target, request path, query) -> new request-target
    ("/", "/", "/web/page", "", "/"),
    ("/web", "/", "/web/page", "a=1", "/?a=1"),
    ("/something(/|$)(.*)", "/$2", "/something", "", "/"),
    ("/something(/|$)(.*)", "/$2", "/something/", "", "/"),
    ("/something(/|$)(.*)", "/$2", "/something/new", "x=y", "/new?x=y"),
    ("/api(/|$)(.*)", "/v1/${2}", "/API/users", "", "/v1/users"),  # case-insensitive
    ("/a(/.*)?", "/b$1", "/a", "", "/b"),  # a group that took no part: empty
    ("/a", "/b?k=v", "/a", "q=1", "/b?k=v&q=1"),
    ("/a", "/b?", "/a", "q=1", "/b"),
    ("/x", "/", "/other", "", None),
]


@pytest.mark.parametrize("path,target,request_path,query,expected", REWRITES,
                         ids=[f"{r[0]}->{r[1]}:{r[2]}" for r in REWRITES])
def test_rewrite(path: str, target: str, request_path: str, query: str,
                 expected: str | None) -> None:
    pattern = re.compile(path, re.IGNORECASE)
    assert nginx_annotations.rewrite(pattern, target, request_path, query) == expected
