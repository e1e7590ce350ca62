"""Pure rules of the node agent's pod runtime: IP allocation, environment building and
`$(VAR)` expansion, probe threshold counting."""

from __future__ import annotations

import pytest

from node_agent import environment, ipam
from node_agent.probes import ProbeSpec, Tracker, resolve_port


@pytest.mark.parametrize("used, after, expected", [
    (set(), None, "127.244.1.2"),
    ({"127.244.1.2"}, None, "127.244.1.3"),
    ({"127.244.1.2", "127.244.1.4"}, None, "127.244.1.3"),
    (set(), "127.244.1.7", "127.244.1.8"),  # a freed .3 is not reused at once
    ({"127.244.1.8"}, "127.244.1.7", "127.244.1.9"),
    ({"127.244.1.2"}, "127.244.1.254", "127.244.1.3"),  # wraps around
    (set(), "127.9.9.9", "127.244.1.2"),  # a cursor outside the pool starts over
], ids=["first-is-dot-2", "next", "fills-gap", "after-cursor", "skips-used", "wraps",
        "foreign-cursor"])
def test_allocate(used: set[str], after: str | None, expected: str) -> None:
    assert ipam.allocate("127.244.1.0/24", used, after) == expected


def test_allocate_exhausted() -> None:
    used = {f"127.244.1.{i}" for i in range(2, 255)}
    with pytest.raises(ipam.PoolExhausted, match="no free pod IP left in 127.244.1.0/24"):
        ipam.allocate("127.244.1.0/24", used)


@pytest.mark.parametrize("text, env, expected", [
    ("$(A)-x", {"A": "1"}, "1-x"),
    ("$(MISSING)", {}, "$(MISSING)"),
    ("$$(A)", {"A": "1"}, "$(A)"),
    ("$A", {"A": "1"}, "$A"),
    ("a$(B)b$(B)", {"B": "-"}, "a-b-"),
], ids=["simple", "unknown-kept", "escaped", "shell-syntax-untouched", "repeated"])
def test_expand(text: str, env: dict[str, str], expected: str) -> None:
    assert environment.expand(text, env) == expected


POD = {"metadata": {"name": "web-1", "namespace": "ns", "uid": "u1", "labels": {"app": "web"}},
       "spec": {"nodeName": "n1", "serviceAccountName": "default"},
       "status": {"podIP": "127.244.1.2", "hostIP": "127.10.0.1"}}


@pytest.mark.parametrize("path, expected", [
    ("metadata.name", "web-1"), ("metadata.namespace", "ns"), ("status.podIP", "127.244.1.2"),
    ("status.hostIP", "127.10.0.1"), ("spec.nodeName", "n1"),
    ("metadata.labels['app']", "web"), ("metadata.labels['none']", ""), ("bogus", ""),
], ids=lambda v: str(v))
def test_field_ref(path: str, expected: str) -> None:
    assert environment.field_ref(POD, path) == expected


def test_container_env_order_and_expansion() -> None:
    container = {"env": [
        {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "URL", "value": "http://$(MY_IP):80"},
        {"name": "LATER", "value": "$(AFTER)"}, {"name": "AFTER", "value": "x"}],
        "command": ["echo", "$(URL)"], "args": ["$(HOSTNAME)"]}
    env = environment.container_env(POD, container, {"KUBERNETES_SERVICE_HOST": "127.96.0.1"})
    assert env["URL"] == "http://127.244.1.2:80"
    assert env["LATER"] == "$(AFTER)"  # only variables defined before it expand
    assert env["KUBERNETES_SERVICE_HOST"] == "127.96.0.1" and env["HOSTNAME"] == "web-1"
    assert environment.command_line(container, env) == (["echo", "http://127.244.1.2:80"],
                                                        ["web-1"])


def test_service_env() -> None:
    env = environment.service_env("my-svc", "127.96.0.5", 8080)
    assert env["MY_SVC_SERVICE_HOST"] == "127.96.0.5"
    assert env["MY_SVC_PORT_8080_TCP"] == "tcp://127.96.0.5:8080"


@pytest.mark.parametrize("passing, results, flips, final", [
    (False, [True], [True], True),
    (True, [False, False, False], [False, False, True], False),
    (True, [False, True, False, False], [False, False, False, False], True),
    (False, [True, True], [False, True], True),
], ids=["readiness-one-success", "liveness-three-failures", "liveness-reset-by-success",
        "success-threshold-two"])
def test_tracker(passing: bool, results: list[bool], flips: list[bool], final: bool) -> None:
    spec = ProbeSpec({"tcpSocket": {"port": 80}},
                     success_threshold=2 if results == [True, True] else 1)
    t = Tracker(spec, passing)
    assert [t.record(r) for r in results] == flips
    assert t.passing is final


@pytest.mark.parametrize("port, expected", [(80, 80), ("8080", 8080), ("http", 8081),
                                            ("nope", None)], ids=str)
def test_resolve_port(port: int | str, expected: int | None) -> None:
    assert resolve_port(port, {"ports": [{"name": "http", "containerPort": 8081}]}) == expected


def test_probe_spec_defaults() -> None:
    spec = ProbeSpec.parse({"httpGet": {"path": "/", "port": 80}})
    assert (spec.initial_delay, spec.period, spec.timeout, spec.success_threshold,
            spec.failure_threshold) == (0, 10, 1, 1, 3)


OBJECTS = {("ConfigMap", "ns", "cfg"): {"mode": "fast", "level": "3", "bad-name!": "x"},
           ("Secret", "ns", "creds"): {"password": "s3cret"}}


def lookup(kind: str, namespace: str, name: str) -> dict[str, str] | None:
    return OBJECTS.get((kind, namespace, name))


@pytest.mark.parametrize("container, expected", [
    ({"envFrom": [{"configMapRef": {"name": "cfg"}}]}, {"mode": "fast", "level": "3"}),
    ({"envFrom": [{"secretRef": {"name": "creds"}, "prefix": "DB_"}]},
     {"DB_password": "s3cret"}),
    ({"envFrom": [{"configMapRef": {"name": "cfg"}}],
      "env": [{"name": "mode", "value": "slow-$(level)"}]}, {"mode": "slow-3", "level": "3"}),
    ({"env": [{"name": "M", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}},
              {"name": "P", "valueFrom": {"secretKeyRef": {"name": "creds",
                                                           "key": "password"}}}]},
     {"M": "fast", "P": "s3cret"}),
    ({"env": [{"name": "O", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k",
                                                              "optional": True}}}],
      "envFrom": [{"secretRef": {"name": "nope", "optional": True}}]}, {}),
    ({"resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
      "env": [{"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
              {"name": "MEM", "valueFrom": {"resourceFieldRef": {
                  "resource": "limits.memory", "divisor": "1Mi"}}},
              {"name": "REQ", "valueFrom": {"resourceFieldRef": {
                  "resource": "requests.cpu", "divisor": "1m"}}}]},
     {"CPU": "1", "MEM": "64", "REQ": "500"}),
], ids=["envFrom-configmap", "envFrom-secret-prefix", "env-overrides-envFrom", "key-refs",
        "optional-missing", "resource-field-refs"])
def test_env_sources(container: dict, expected: dict[str, str]) -> None:
    env = environment.container_env(POD, container, {}, lookup)
    assert {k: v for k, v in env.items() if k != "HOSTNAME"} == expected


@pytest.mark.parametrize("container, message", [
    ({"envFrom": [{"configMapRef": {"name": "nope"}}]}, 'configmap "nope" not found'),
    ({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]},
     'secret "nope" not found'),
    ({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]},
     "couldn't find key k in ConfigMap ns/cfg"),
], ids=["configmap", "secret", "key"])
def test_missing_env_sources_are_config_errors(container: dict, message: str) -> None:
    with pytest.raises(environment.ConfigError, match=message):
        environment.container_env(POD, container, {}, lookup)


def test_decode_secret() -> None:
    assert environment.decode_secret({"data": {"a": "aGk="}, "stringData": {"b": "yo"}}) == \
        {"a": "hi", "b": "yo"}
