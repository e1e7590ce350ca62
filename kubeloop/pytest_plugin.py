"""The pytest plugin (entry point ``pytest11``): a kubeloop cluster for a user's test
session and a fresh namespace per test, both cleaned up afterwards.

Fixtures:
  kubeloop_cluster    the session's ``Cluster`` (nodes: ``--kubeloop-nodes`` or the ini
                      option ``kubeloop_nodes``, default 2; ``--kubeloop-cni``)
  kubeloop            a ``Namespace`` client in a new namespace, deleted after the test;
                      ``@pytest.mark.kubeloop(nodes=3, cni="flannel")`` gives the test a
                      cluster of that shape instead (started once per shape)
  kubeloop_namespace  the name of that namespace

With pytest-xdist every worker has its own clusters: each cluster claims its own address
slot, so workers never share addresses. When a test using them fails, its report gets the
namespace's events and objects, the flow log lines of its pods and the last log lines of
every cluster process.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported when a fixture is used: pytest starts fast without clusters
    from kubeloop.client import Namespace
    from kubeloop.cluster import Cluster

MARKER = "kubeloop"
DEFAULT_NODES = 2
REPORT_LINES = 40  # of events, flows and each process log in a failure report
_NAMESPACE = pytest.StashKey["Namespace"]()  # the test's namespace, for its failure report


class Clusters:
    """The session's clusters, one per (nodes, cni), started on first use."""

    def __init__(self) -> None:
        self._started: dict[tuple[int, str], Cluster] = {}
        self._failed: dict[tuple[int, str], Exception] = {}  # not tried again: fails fast

    def get(self, nodes: int, cni: str) -> Cluster:
        key = (nodes, cni)
        if key in self._failed:
            raise self._failed[key]
        if key not in self._started:
            from kubeloop.cluster import Cluster
            try:
                self._started[key] = Cluster(nodes=nodes, cni=cni).start()
            except Exception as e:
                self._failed[key] = e
                raise
        return self._started[key]

    def close(self) -> None:
        for cluster in self._started.values():
            cluster.stop()
        self._started.clear()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kubeloop", "kubeloop clusters for integration tests")
    group.addoption("--kubeloop-nodes", type=int, default=None,
                    help=f"nodes of the session's cluster (default {DEFAULT_NODES})")
    group.addoption("--kubeloop-cni", choices=["calico", "flannel"], default=None,
                    help="network plugin of the session's cluster (default calico)")
    parser.addini("kubeloop_nodes", f"nodes of the session's cluster (default {DEFAULT_NODES})",
                  default=str(DEFAULT_NODES))
    parser.addini("kubeloop_cni", "network plugin of the session's cluster", default="calico")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(nodes=N, cni='calico'|'flannel'): run the test on a kubeloop "
        "cluster of that shape")


def _shape(config: pytest.Config) -> tuple[int, str]:
    nodes = config.getoption("kubeloop_nodes") or int(config.getini("kubeloop_nodes"))
    cni = config.getoption("kubeloop_cni") or str(config.getini("kubeloop_cni"))
    return nodes, cni


@pytest.fixture(scope="session")
def kubeloop_clusters() -> Iterator[Clusters]:
    clusters = Clusters()
    try:
        yield clusters
    finally:
        clusters.close()


@pytest.fixture(scope="session")
def kubeloop_cluster(kubeloop_clusters: Clusters, pytestconfig: pytest.Config) -> Cluster:
    return kubeloop_clusters.get(*_shape(pytestconfig))


@pytest.fixture
def kubeloop(request: pytest.FixtureRequest, kubeloop_clusters: Clusters) -> Iterator[Namespace]:
    nodes, cni = _shape(request.config)
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        nodes, cni = marker.kwargs.get("nodes", nodes), marker.kwargs.get("cni", cni)
    cluster = kubeloop_clusters.get(nodes, cni)
    namespace = cluster.create_namespace(request.node.name)
    request.node.stash[_NAMESPACE] = namespace
    try:
        yield namespace
    finally:
        namespace.delete_namespace()


@pytest.fixture
def kubeloop_namespace(kubeloop: Namespace) -> str:
    return kubeloop.name



@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    namespace = item.stash.get(_NAMESPACE, None)
    if namespace is not None and report.when == "call" and report.failed:
        for title, text in debug_sections(namespace):
            report.sections.append((f"kubeloop {title}", text))
    return report


def debug_sections(namespace: Namespace) -> list[tuple[str, str]]:
    """What a user needs to see when a test failed: (title, text) pairs."""
    from kubeloop.cluster import log_tail
    config = namespace.cluster.config
    objects = namespace.kubectl(
        "get", "all,ingresses,networkpolicies,endpoints,configmaps", "-o", "yaml",
        check=False)
    sections = [
        (f"events in {namespace.name}", _last(namespace.events(), REPORT_LINES)),
        (f"objects in {namespace.name}", objects.stdout or objects.stderr),
        (f"flows of {namespace.name}",
         "\n".join(f.render() for f in namespace.flows()[-REPORT_LINES:])
         or "(no flows recorded)"),
    ]
    for log in sorted(config.logs.glob("*.log")):
        sections.append((f"{log.stem} log", "\n".join(log_tail(log, REPORT_LINES))))
    return sections


def _last(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])
