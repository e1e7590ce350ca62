"""What the proxy decides from a request head (dispatch: route, 400, 308, the target and
Host sent on) and what it keeps of heads to reuse them (messages.read_request and
messages.relay), as tables."""

from __future__ import annotations

import pytest

from ingress import messages
from ingress.classes import Classes
from ingress.dispatch import dispatch
from ingress.routing import Table, build

CLASSES = Classes.of([{"metadata": {"name": "nginx", "annotations": {
    "ingressclass.kubernetes.io/is-default-class": "true"}},
    "spec": {"controller": "k8s.io/ingress-nginx"}}])
SERVICE = {"metadata": {"name": "web", "namespace": "default"},
           "spec": {"ports": [{"port": 80, "protocol": "TCP"}]}}
SLICE = {"metadata": {"name": "web-x", "namespace": "default",
                      "labels": {"kubernetes.io/service-name": "web"}},
         "ports": [{"name": "", "port": 80, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["127.244.1.2"], "conditions": {"ready": True}}]}


def _ingress(name: str, host: str, path: str, kind: str = "Prefix",
             annotations: dict | None = None, tls: bool = False) -> dict:
    spec: dict = {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [{
        "path": path, "pathType": kind,
        "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    if tls:
        spec["tls"] = [{"hosts": [host], "secretName": "missing"}]
    return {"metadata": {"name": name, "namespace": "default", "annotations": annotations or {},
                         "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": spec}


def _table() -> Table:
    table, _ = build([
        _ingress("web", "web.test", "/"),
        _ingress("secure", "secure.test", "/", tls=True),
        _ingress("rw", "rw.test", "/api(/|$)(.*)", "ImplementationSpecific", annotations={
            "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
            "nginx.ingress.kubernetes.io/use-regex": "true"}),
    ], {("default", "web"): SERVICE}, {("default", "web"): [SLICE]}, CLASSES)
    return table


DISPATCH = [
    # (https, Host, target) -> (ingress of the route, Host sent, target sent, Location)
    ("plain", False, b"web.test", b"/a?b=1", ("web", b"web.test", b"/a?b=1", "")),
    ("host with port", False, b"Web.Test:8080", b"/", ("web", b"Web.Test:8080", b"/", "")),
    ("absolute-form overrides Host", False, b"other.test", b"http://web.test/x",
     ("web", b"web.test", b"/x", "")),
    ("unknown host", False, b"nowhere.test", b"/", (None, b"nowhere.test", b"/", "")),
    ("tls host over http", False, b"secure.test", b"/p?q=1",
     ("secure", b"", b"", "https://secure.test:8443/p?q=1")),
    ("tls host over https", True, b"secure.test", b"/p", ("secure", b"secure.test", b"/p", "")),
    ("rewrite-target", False, b"rw.test", b"/API/users/7?full=1",
     ("rw", b"rw.test", b"/users/7?full=1", "")),
]


@pytest.mark.parametrize("https,host,url,expected", [d[1:] for d in DISPATCH],
                         ids=[d[0] for d in DISPATCH])
def test_dispatch(https: bool, host: bytes, url: bytes,
                  expected: tuple[str | None, bytes, bytes, str]) -> None:
    where = dispatch(_table(), host, url, https=https, https_port=8443)
    assert where.route is not None
    ingress = where.route.ingress[1] if where.route.ingress else None
    assert (ingress, where.host, where.target, where.location) == expected


@pytest.mark.parametrize("url", [b"garbage", b"/..", b"/a/../../etc"])
def test_dispatch_refuses_targets_nginx_refuses(url: bytes) -> None:
    assert dispatch(_table(), b"web.test", url, https=False, https_port=443).route is None


def test_read_request() -> None:
    request = messages.read_request(
        b"GET", b"/x", "1.1", keep_alive=True, upgrade=False,
        headers=[(b"Host", b"web.test"), (b"User-Agent", b"curl"), (b"X-Custom", b"v"),
                 (b"Connection", b"keep-alive")], fields_size=60)
    assert (request.line, request.size, request.host, request.agent) == (
        "GET /x HTTP/1.1", len("GET /x HTTP/1.1") + 60 + 4, b"web.test", '"-" "curl"')
    assert request.kept == (b"X-Custom: v",) and request.replayable
    chunked = messages.read_request(b"POST", b"/", "1.1", keep_alive=True, upgrade=False,
                                    headers=[(b"Host", b"h"), (b"Transfer-Encoding", b"chunked")],
                                    fields_size=0)
    assert chunked.chunked and not chunked.replayable
    upgrade = messages.read_request(b"GET", b"/ws", "1.1", keep_alive=True, upgrade=True,
                                    headers=[(b"Host", b"h"), (b"Upgrade", b"websocket")],
                                    fields_size=0)
    assert upgrade.upgrade and upgrade.protocol == b"websocket" and not upgrade.replayable
    with pytest.raises(messages.BadRequest):
        messages.read_request(b"POST", b"/", "1.1", keep_alive=True, upgrade=False,
                              headers=[(b"Host", b"h"), (b"Content-Length", b"12a")],
                              fields_size=0)
    with pytest.raises(messages.BadRequest):  # HTTP/1.1 needs a Host; 1.0 does not
        messages.read_request(b"GET", b"http://web.test/", "1.1", keep_alive=True,
                              upgrade=False, headers=[], fields_size=0)
    assert messages.read_request(b"GET", b"/", "1.0", keep_alive=False, upgrade=False,
                                 headers=[], fields_size=0).host == b""
    with pytest.raises(messages.BadRequest) as refused:  # two Hosts: smuggling bait
        messages.read_request(b"GET", b"/", "1.1", keep_alive=True, upgrade=False,
                              headers=[(b"Host", b"a"), (b"host", b"b")], fields_size=0)
    assert refused.value.status == 400
    with pytest.raises(messages.UnknownCoding) as unknown:
        messages.read_request(b"POST", b"/", "1.1", keep_alive=True, upgrade=False,
                              headers=[(b"Host", b"h"), (b"Transfer-Encoding", b"gzip")],
                              fields_size=0)
    assert unknown.value.status == 501


RELAYS = [
    # backend head, HEAD request -> (re-chunked, body size when reusable)
    ("length and date", b"HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 12\r\n\r\n", False,
     (False, 12)),
    ("no date: the head depends on the time", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
     False, (False, None)),
    ("chunked", b"HTTP/1.1 200 OK\r\nDate: D\r\nTransfer-Encoding: chunked\r\n\r\n", False,
     (True, None)),
    ("head request", b"HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 12\r\n\r\n", True,
     (False, 0)),
    ("no content", b"HTTP/1.1 204 No Content\r\nDate: D\r\n\r\n", False, (False, 0)),
    ("closing delimits", b"HTTP/1.1 200 OK\r\nDate: D\r\n\r\n", False, (True, None)),
]


@pytest.mark.parametrize("raw,head_only,expected", [r[1:] for r in RELAYS],
                         ids=[r[0] for r in RELAYS])
def test_relay(raw: bytes, head_only: bool, expected: tuple[bool, int | None]) -> None:
    block, lowered, _ = messages.response_fields(raw)
    status = int(raw.split(b" ")[1])
    response = messages.relay(status, block, lowered, date=b"NOW", keep_alive=True,
                              bodiless=head_only or status in (204, 304))
    assert (response.rechunked, response.fixed_body) == expected
    assert response.head == messages.response_head(status, block, lowered, date=b"NOW",
                                                   keep_alive=True, chunked=expected[0])
