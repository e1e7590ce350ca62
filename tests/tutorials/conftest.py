"""Fixtures for the tutorial replays: each module replays one seed on a cluster of its
own (the tutorials start from a fresh minikube or kind cluster and work in ``default``),
driven by the real kubectl. ``Kubectl`` and ``wait_for`` are the integration suite's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubeloop import Cluster
from kubeloop.config import Dns
from tests.integration.conftest import Kubectl


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The module's cluster: ``NODES`` nodes (default 1, as minikube) with the CNI in
    ``CNI`` (default calico); names outside the cluster are not forwarded anywhere."""
    home = tmp_path_factory.mktemp("kubeloop-tutorial")
    nodes = getattr(request.module, "NODES", 1)
    cni = getattr(request.module, "CNI", "calico")
    with Cluster(nodes=nodes, cni=cni, home=home, dns=Dns(upstreams=())) as c:
        yield c


@pytest.fixture(scope="module")
def kubectl(cluster: Cluster) -> Kubectl:
    """kubectl as the tutorials type it: no ``-n``, so ``default`` unless they say."""
    return Kubectl(cluster)
