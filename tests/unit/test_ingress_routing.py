"""Routing tables: the examples of the Kubernetes Ingress docs page (path types, multiple
matches, host wildcards) and ingress-nginx's merge, class and regex rules."""

from __future__ import annotations

import pytest

from ingress.classes import Classes
from ingress.routing import CATCH_ALL, NOT_FOUND, Table, build

NGINX_CLASS = {"metadata": {"name": "nginx", "annotations": {
    "ingressclass.kubernetes.io/is-default-class": "true"}},
    "spec": {"controller": "k8s.io/ingress-nginx"}}
CLASSES = Classes.of([NGINX_CLASS])


def svc(name: str, *ports: int | tuple[str, int], namespace: str = "default") -> dict:
    specs = [{"port": p, "protocol": "TCP"} if isinstance(p, int)
             else {"name": p[0], "port": p[1], "protocol": "TCP"} for p in ports]
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"ports": specs}}


def eps(service: str, port: int, *ips: str, name: str = "", ready: bool = True,
        namespace: str = "default") -> dict:
    return {"metadata": {"name": f"{service}-abc", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service}},
            "ports": [{"name": name, "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}} for ip in ips]}


def backend(service: str, port: int | str = 80) -> dict:
    ref = {"number": port} if isinstance(port, int) else {"name": port}
    return {"service": {"name": service, "port": ref}}


def ing(name: str, paths: list[tuple[str, str, str]] | None = None, host: str = "", *,
        created: str = "2026-01-01T00:00:00Z", ann: dict | None = None, cls: str | None = "nginx",
        default: str | None = None, tls: list | None = None, namespace: str = "default",
        extra_rules: list | None = None) -> dict:
    """``paths``: (path, pathType, service) with service port 80."""
    spec: dict = {}
    if cls is not None:
        spec["ingressClassName"] = cls
    rules = list(extra_rules or [])
    if paths:
        rule: dict = {"http": {"paths": [{"path": p, "pathType": t, "backend": backend(s)}
                                          for p, t, s in paths]}}
        if host:
            rule["host"] = host
        rules.insert(0, rule)
    if rules:
        spec["rules"] = rules
    if default:
        spec["defaultBackend"] = backend(default)
    if tls is not None:
        spec["tls"] = tls
    return {"metadata": {"name": name, "namespace": namespace, "creationTimestamp": created,
                         "annotations": ann or {}}, "spec": spec}


SERVICES = ["a", "b", "c", "exact", "prefix", "root", "other", "def", "old", "new", "api"]


def table(*ingresses: dict, classes: Classes = CLASSES) -> Table:
    services = {("default", s): svc(s, 80) for s in SERVICES}
    slices = {("default", s): [eps(s, 8080, f"127.244.1.{i + 2}")] for i, s in enumerate(SERVICES)}
    t, _ = build(ingresses, services, slices, classes)
    return t


def served_by(t: Table, host: str, path: str) -> str:
    route = t.match(host, path)
    if route.backend is None:
        return "404"
    return route.backend.name.split("-")[1]


# The docs' "Examples" table: (kind, paths, request) -> matches. Each rule path goes to a
# Service named after its position so the test sees which one won.
DOC_EXAMPLES = [
    ("Prefix", ["/"], "/anything/at/all", "a"),
    ("Exact", ["/foo"], "/foo", "a"),
    ("Exact", ["/foo"], "/bar", "404"),
    ("Exact", ["/foo"], "/foo/", "404"),
    ("Exact", ["/foo/"], "/foo", "404"),
    ("Prefix", ["/foo"], "/foo", "a"),
    ("Prefix", ["/foo"], "/foo/", "a"),
    ("Prefix", ["/foo/"], "/foo", "a"),
    ("Prefix", ["/foo/"], "/foo/", "a"),
    ("Prefix", ["/aaa/bb"], "/aaa/bbb", "404"),
    ("Prefix", ["/aaa/bbb"], "/aaa/bbb", "a"),
    ("Prefix", ["/aaa/bbb/"], "/aaa/bbb", "a"),
    ("Prefix", ["/aaa/bbb"], "/aaa/bbb/", "a"),
    ("Prefix", ["/aaa/bbb"], "/aaa/bbb/ccc", "a"),
    ("Prefix", ["/aaa/bbb"], "/aaa/bbbxyz", "404"),
    ("Prefix", ["/", "/aaa"], "/aaa/ccc", "b"),
    ("Prefix", ["/", "/aaa", "/aaa/bbb"], "/aaa/bbb", "c"),
    ("Prefix", ["/", "/aaa", "/aaa/bbb"], "/ccc", "a"),
    ("Prefix", ["/aaa"], "/ccc", "404"),
    ("Prefix", ["/foo"], "/FOO", "404"),  # case sensitive
]


@pytest.mark.parametrize("kind,paths,request_path,expected", DOC_EXAMPLES,
                         ids=[f"{k}:{','.join(p)}:{r}" for k, p, r, _ in DOC_EXAMPLES])
def test_docs_path_examples(kind: str, paths: list[str], request_path: str,
                            expected: str) -> None:
    t = table(ing("x", [(p, kind, "abc"[i]) for i, p in enumerate(paths)]))
    assert served_by(t, "example.com", request_path) == expected


PRECEDENCE = [
    # rules (path, type, service), request -> service
    ([("/foo", "Prefix", "prefix"), ("/foo", "Exact", "exact")], "/foo", "exact"),
    ([("/foo", "Prefix", "prefix"), ("/foo", "Exact", "exact")], "/foo/x", "prefix"),
    ([("/", "Prefix", "root"), ("/foo/bar", "Exact", "exact")], "/foo/bar/", "root"),
    ([("/foo", "Prefix", "a"), ("/foo/bar", "Prefix", "b")], "/foo/bar/baz", "b"),
    ([("/foo", "Prefix", "a"), ("/foo/bar", "Prefix", "b")], "/foo/barn", "a"),
    # ImplementationSpecific is nginx's prefix location: a plain string prefix
    ([("/foo", "ImplementationSpecific", "a")], "/foobar", "a"),
    ([("/foo", "ImplementationSpecific", "a"), ("/foo/bar", "Prefix", "b")], "/foo/bar", "b"),
    ([("/foo/ba", "ImplementationSpecific", "a"), ("/foo", "Prefix", "b")], "/foo/bar", "a"),
    ([("/", "ImplementationSpecific", "a")], "/x/y", "a"),
]


@pytest.mark.parametrize("paths,request_path,expected", PRECEDENCE,
                         ids=[f"{r}->{e}" for _, r, e in PRECEDENCE])
def test_precedence(paths: list[tuple[str, str, str]], request_path: str,
                    expected: str) -> None:
    assert served_by(table(ing("x", paths)), "h.example", request_path) == expected


HOSTS = [
    ("foo.bar.com", "foo.bar.com", "a"),
    ("foo.bar.com", "other.com", "404"),
    ("*.foo.com", "bar.foo.com", "a"),
    ("*.foo.com", "baz.bar.foo.com", "404"),  # a wildcard covers one label
    ("*.foo.com", "foo.com", "404"),
    ("", "anything.example", "a"),
]


@pytest.mark.parametrize("rule_host,request_host,expected", HOSTS,
                         ids=[f"{r or 'no-host'}<-{h}" for r, h, _ in HOSTS])
def test_host_matching(rule_host: str, request_host: str, expected: str) -> None:
    t = table(ing("x", [("/", "Prefix", "a")], rule_host))
    assert served_by(t, request_host, "/") == expected


def test_exact_host_beats_wildcard_and_hosts_do_not_fall_back_to_no_host_rules() -> None:
    t = table(ing("x", [("/", "Prefix", "a")], "*.foo.com"),
              ing("y", [("/", "Prefix", "b")], "www.foo.com"),
              ing("z", [("/", "Prefix", "c")]),
              ing("w", [("/only", "Prefix", "exact")], "api.example"))
    assert served_by(t, "www.foo.com", "/") == "b"
    assert served_by(t, "x.foo.com", "/") == "a"
    assert served_by(t, "nowhere", "/") == "c"
    # api.example has its own server: paths it lacks get its 404, not the no-host rule
    assert served_by(t, "api.example", "/only/x") == "exact"
    assert served_by(t, "api.example", "/other") == "404"


MERGES = [
    # two Ingresses on one host: (older, newer), request -> service
    ("disjoint paths merge", [("/a", "Prefix", "old")], [("/b", "Prefix", "new")], "/b", "new"),
    ("conflict: oldest wins", [("/a", "Prefix", "old")], [("/a", "Prefix", "new")], "/a", "old"),
    ("same path, other type", [("/a", "Prefix", "old")], [("/a", "Exact", "new")], "/a", "new"),
    ("root of the older", [("/", "Prefix", "old")], [("/x", "Exact", "new")], "/y", "old"),
]


@pytest.mark.parametrize("older,newer,request_path,expected",
                         [m[1:] for m in MERGES], ids=[m[0] for m in MERGES])
def test_merge_per_host(older: list, newer: list, request_path: str, expected: str) -> None:
    # created in the opposite order to the arguments: age, not list order, decides
    t = table(ing("n", newer, "h.com", created="2026-01-02T00:00:00Z"),
              ing("o", older, "h.com", created="2026-01-01T00:00:00Z"))
    assert served_by(t, "h.com", request_path) == expected


def test_conflict_is_reported() -> None:
    services = {("default", "old"): svc("old", 80), ("default", "new"): svc("new", 80)}
    _, problems = build([ing("n", [("/a", "Prefix", "new")], "h.com", created="2026-01-02T00:00:00Z"),
                         ing("o", [("/a", "Prefix", "old")], "h.com")],
                        services, {}, CLASSES)
    assert [(p.ingress, p.message) for p in problems] == [
        (("default", "n"), "path h.com/a (Prefix) is already defined by Ingress default/o; "
                           "ignored")]


def test_default_backends() -> None:
    t = table(ing("catch", default="def"),  # no rules: the catch-all server's default
              ing("host", [("/app", "Prefix", "a")], "h.com", default="other",
                  created="2026-01-02T00:00:00Z"))
    assert served_by(t, "unknown.host", "/x") == "def"
    assert served_by(t, "h.com", "/app/1") == "a"
    assert served_by(t, "h.com", "/nope") == "other"  # the host's own defaultBackend
    assert served_by(table(ing("x", [("/app", "Prefix", "a")])), "h", "/nope") == "404"


CLASS_CASES = [
    ("ingressClassName nginx", {"cls": "nginx"}, [NGINX_CLASS], True),
    ("other class", {"cls": "traefik"}, [NGINX_CLASS], False),
    ("class named by its object", {"cls": "mine"},
     [{"metadata": {"name": "mine"}, "spec": {"controller": "k8s.io/ingress-nginx"}}], True),
    ("class of another controller", {"cls": "mine"},
     [{"metadata": {"name": "mine"}, "spec": {"controller": "traefik.io/ingress-controller"}}],
     False),
    ("annotation nginx", {"cls": None, "ann": {"kubernetes.io/ingress.class": "nginx"}}, [], True),
    ("annotation other", {"cls": None, "ann": {"kubernetes.io/ingress.class": "gce"}},
     [NGINX_CLASS], False),
    ("no class, ours is default", {"cls": None}, [NGINX_CLASS], True),
    ("no class, no default", {"cls": None},
     [{"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}], False),
    ("no class, default is another's", {"cls": None},
     [{"metadata": {"name": "x", "annotations": {
         "ingressclass.kubernetes.io/is-default-class": "true"}},
       "spec": {"controller": "example.com/other"}}], False),
]


@pytest.mark.parametrize("kwargs,classes,taken", [c[1:] for c in CLASS_CASES],
                         ids=[c[0] for c in CLASS_CASES])
def test_ingress_classes(kwargs: dict, classes: list[dict], taken: bool) -> None:
    t = table(ing("x", [("/", "Prefix", "a")], **kwargs), classes=Classes.of(classes))
    assert (served_by(t, "h", "/") == "a") is taken


REGEX = [
    # (annotations, paths, request) -> service
    ({"nginx.ingress.kubernetes.io/use-regex": "true"}, [("/api/v[0-9]+", "Prefix", "a")],
     "/API/V2/users", "a"),
    ({"nginx.ingress.kubernetes.io/use-regex": "true"}, [("/api/v[0-9]+", "Prefix", "a")],
     "/api/vx", "404"),
    ({"nginx.ingress.kubernetes.io/use-regex": "true"},
     [("/x", "Prefix", "a"), ("/x/long", "Prefix", "b")], "/x/longer", "b"),
    # rewrite-target makes the host's paths regexes: "^/foo" matches /foobar
    ({"nginx.ingress.kubernetes.io/rewrite-target": "/"}, [("/foo", "Prefix", "a")],
     "/foobar", "a"),
    ({}, [("/foo", "Prefix", "a")], "/foobar", "404"),
]


@pytest.mark.parametrize("ann,paths,request_path,expected", REGEX,
                         ids=[f"{r}->{e}" for _, _, r, e in REGEX])
def test_regex_paths(ann: dict, paths: list, request_path: str, expected: str) -> None:
    assert served_by(table(ing("x", paths, "h", ann=ann)), "h", request_path) == expected


def test_regex_is_enforced_on_every_ingress_of_the_host() -> None:
    t = table(ing("plain", [("/Plain", "Exact", "a")], "h"),
              ing("rx", [("/r.x", "Prefix", "b")], "h", created="2026-01-02T00:00:00Z",
                  ann={"nginx.ingress.kubernetes.io/use-regex": "true"}))
    assert served_by(t, "h", "/plainly") == "a"  # Exact became `~* "^/Plain"`
    assert served_by(t, "h", "/rAx") == "b"
    assert served_by(t, "other", "/plain") == "404"


def test_bad_regex_is_reported_and_skipped() -> None:
    t, problems = build([ing("x", [("/(", "Prefix", "a"), ("/ok", "Prefix", "a")], "h",
                             ann={"nginx.ingress.kubernetes.io/use-regex": "true"})],
                        {("default", "a"): svc("a", 80)}, {}, CLASSES)
    assert t.match("h", "/ok").backend is not None
    assert any("not a valid regular expression" in p.message for p in problems)


BACKENDS = [
    # (services, slices, backend port) -> (endpoints, error)
    ("ready endpoints", [svc("s", 80)], [eps("s", 8080, "127.244.1.5", "127.244.2.7")], 80,
     (("127.244.1.5", 8080), ("127.244.2.7", 8080)), ""),
    ("not ready skipped", [svc("s", 80)], [eps("s", 8080, "127.244.1.5", ready=False)], 80,
     (), ""),
    ("named port", [svc("s", ("http", 80), ("metrics", 9090))],
     [eps("s", 8080, "127.244.1.5", name="http"), eps("s", 9100, "127.244.1.5", name="metrics")],
     "http", (("127.244.1.5", 8080),), ""),
    ("missing service", [], [], 80, (), 'service "default/s" not found'),
    ("missing port", [svc("s", 81)], [], 80, (), 'service "default/s" does not have port 80'),
]


@pytest.mark.parametrize("services,slices,port,endpoints,error", [b[1:] for b in BACKENDS],
                         ids=[b[0] for b in BACKENDS])
def test_backends(services: list[dict], slices: list[dict], port: int | str,
                  endpoints: tuple, error: str) -> None:
    ingress = ing("x")
    ingress["spec"]["rules"] = [{"http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": backend("s", port)}]}}]
    t, problems = build([ingress], {("default", s["metadata"]["name"]): s for s in services},
                        {("default", "s"): slices}, CLASSES)
    b = t.match("h", "/").backend
    assert b is not None and (b.endpoints, b.error) == (endpoints, error)
    assert [p.message for p in problems] == ([f"path /: {error}"] if error else [])


def test_round_robin_and_adopt_keeps_the_turn() -> None:
    services = {("default", "s"): svc("s", 80)}
    slices = {("default", "s"): [eps("s", 8080, "127.244.1.2", "127.244.1.3")]}
    old, _ = build([ing("x", [("/", "Prefix", "s")])], services, slices, CLASSES)
    b = old.match("h", "/").backend
    assert b is not None and b.pick() == ("127.244.1.2", 8080)
    new, _ = build([ing("x", [("/", "Prefix", "s")])], services, slices, CLASSES)
    new.adopt(old)
    nb = new.match("h", "/").backend
    assert nb is b and nb.pick() == ("127.244.1.3", 8080)


def test_tls_and_redirects() -> None:
    tls = [{"hosts": ["secure.com"], "secretName": "secure-tls"}]
    t = table(ing("s", [("/", "Prefix", "a")], "secure.com", tls=tls),
              ing("n", [("/", "Prefix", "a")], "plain.com"),
              ing("f", [("/", "Prefix", "a")], "forced.com",
                  ann={"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}),
              ing("off", [("/", "Prefix", "a")], "off.com", tls=[{"hosts": ["off.com"]}],
                  ann={"nginx.ingress.kubernetes.io/ssl-redirect": "false"}))
    secure = t.server("secure.com")
    assert (secure.tls, secure.tls_secret) == (True, ("default", "secure-tls"))
    assert t.match("secure.com", "/x").redirect
    assert not t.match("plain.com", "/").redirect and not t.server("plain.com").tls
    assert t.match("forced.com", "/").redirect
    off = t.server("off.com")
    assert (off.tls, off.tls_secret) == (True, None)  # no secretName: default certificate
    assert not t.match("off.com", "/").redirect


def test_malformed_objects_do_not_raise() -> None:
    broken = [{"metadata": {"name": "a", "namespace": "default"}, "spec": {
        "ingressClassName": "nginx", "rules": [None, {"host": "h", "http": {"paths": [
            None, {"path": "/x", "pathType": "Weird", "backend": backend("a")},
            {"path": "/y", "pathType": "Prefix", "backend": {"resource": {"kind": "Bucket"}}},
            {"path": "/z", "pathType": "Prefix"}]}}]}}]
    t, problems = build(broken, {}, {}, CLASSES)
    assert t.match("h", "/x") is NOT_FOUND
    resource = t.match("h", "/y").backend
    assert resource is not None and resource.error
    assert len(problems) == 3
    assert t.default.hostname == CATCH_ALL
