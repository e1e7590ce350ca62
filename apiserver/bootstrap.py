"""Objects every cluster has from its first second: the system namespaces and the
`kubernetes` Service (with its Endpoints and EndpointSlice) in `default`, pointing at
this apiserver. The slice carries no managed-by label: like upstream's, it belongs to the
apiserver, not to the EndpointSlice controller."""

from __future__ import annotations

from apiserver import registry
from apiserver import status as errors
from apiserver.resources import require

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
ENDPOINTS = require("", "v1", "endpoints")
ENDPOINT_SLICES = require("discovery.k8s.io", "v1", "endpointslices")


async def ensure(reg: registry.Registry) -> None:
    for ns in SYSTEM_NAMESPACES:
        await _create(reg, registry.NAMESPACES, "", {"metadata": {"name": ns}})
    net = reg.config.network
    await _create(reg, registry.SERVICES, "default", {
        "metadata": {"name": "kubernetes", "labels": {
            "component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": net.kubernetes_service_ip, "ports": [
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": net.api_port}]},
    })
    await _create(reg, ENDPOINTS, "default", {
        "metadata": {"name": "kubernetes", "labels": {
            "endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": net.apiserver_ip}],
                     "ports": [{"name": "https", "port": net.api_port, "protocol": "TCP"}]}],
    })
    await _create(reg, ENDPOINT_SLICES, "default", {
        "metadata": {"name": "kubernetes", "labels": {
            "kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [net.apiserver_ip], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": net.api_port, "protocol": "TCP"}],
    })


async def _create(reg: registry.Registry, res: registry.Resource, ns: str, body: dict) -> None:
    if reg.store.get(res.key, ns, body["metadata"]["name"]) is not None:
        return
    try:
        await reg.create(res, ns, body)
    except errors.ApiError as e:
        if e.reason != "AlreadyExists":
            raise
