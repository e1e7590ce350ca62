"""Unknown-field pruning against the typed field tables (fieldValidation)."""

from __future__ import annotations

import pytest

from apiserver.fields import prune, strict_message


@pytest.mark.parametrize("api_version, kind, obj, unknown", [
    ("v1", "ConfigMap", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
                         "data": {"k": "v"}}, []),
    ("apps/v1", "Deployment", {"spec": {"replcas": 3}}, ["spec.replcas"]),
    ("v1", "Pod", {"spec": {"containers": [{"name": "c", "imagee": "x",
                                            "ports": [{"containerPort": 80, "nope": 1}]}]}},
     ["spec.containers[0].imagee", "spec.containers[0].ports[0].nope"]),
    ("v1", "Pod", {"spec": {"containers": [{"name": "c", "livenessProbe": {
        "httpGet": {"port": 80}, "periodSeconds": 3}}], "volumes": [{"name": "v",
                                                                     "emptyDir": {}}]}}, []),
    ("v1", "Service", {"spec": {"ports": [{"port": 80, "targetPort": "http"}],
                                "selector": {"a": "b"}}, "status": {"loadBalancer": {}}}, []),
    ("v1", "Secret", {"metadata": {"labels": {"x": "y"}, "bogus": 1}, "stringData": {"a": "b"}},
     ["metadata.bogus"]),
    ("example.com/v1", "Widget", {"anything": 1}, []),
], ids=["clean-configmap", "deployment-typo", "nested-container", "inline-probe-and-volume",
        "service-intorstring", "meta-unknown", "unknown-kind-untouched"])
def test_prune(api_version: str, kind: str, obj: dict, unknown: list[str]) -> None:
    assert prune(api_version, kind, obj) == unknown
    assert prune(api_version, kind, obj) == []  # pruned in place


def test_strict_message_is_upstreams() -> None:
    assert strict_message("Deployment", "apps/v1", ["spec.replcas"]) == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.replcas"')
