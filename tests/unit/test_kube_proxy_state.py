"""kube-proxy's boundary: what it refuses from its caller, with a clear error."""

from __future__ import annotations

import asyncio

import pytest

from kubeloop.config import ClusterConfig
from node_agent.kube_proxy import KubeProxy
from node_agent.kube_proxy.proxy import object_key, slice_owner


@pytest.mark.parametrize("obj, message", [
    pytest.param({"spec": {}}, "without metadata.name", id="no-metadata"),
    pytest.param({"metadata": {"name": ""}}, "without metadata.name", id="empty-name"),
])
def test_objects_without_a_name_are_refused(obj: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        object_key(obj)


def test_unknown_kind_is_refused() -> None:
    proxy = KubeProxy(ClusterConfig(name="kp", data_dir="/x"), 1)
    with pytest.raises(ValueError, match="follows 'services'"):
        asyncio.run(proxy.update("pods", {"metadata": {"name": "p"}}))


def test_malformed_service_serves_nothing() -> None:
    async def apply() -> dict:
        proxy = KubeProxy(ClusterConfig(name="kp", data_dir="/x"), 1)
        await proxy.update("services", {"metadata": {"name": "bad"},
                                        "spec": {"clusterIP": "127.251.9.9", "ports": "80"}})
        listening = proxy.listening()
        await proxy.close()
        return listening

    assert asyncio.run(apply()) == {}


@pytest.mark.parametrize("labels, owner", [
    pytest.param({"kubernetes.io/service-name": "web"}, ("shop", "web"), id="labelled"),
    pytest.param({}, None, id="unlabelled"),
    pytest.param({"kubernetes.io/service-name": ""}, None, id="empty-label"),
])
def test_slice_owner(labels: dict, owner: tuple[str, str] | None) -> None:
    assert slice_owner({"metadata": {"name": "s", "namespace": "shop", "labels": labels}}) == owner
