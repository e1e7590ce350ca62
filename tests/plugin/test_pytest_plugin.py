"""The pytest plugin as a user meets it: a test file using its fixtures, run by pytest in
a subprocess (pytester) against a real cluster; and what a failing test reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "test_web.py"
pytest_plugins = ["pytester"]

USER_TESTS = '''
import asyncio
import json

import pytest
from test_web import WEB  # the README's example, run alongside

SEEN = []


def test_deploy_and_reach(kubeloop, kubeloop_cluster, kubeloop_namespace):
    SEEN.append(kubeloop_namespace)
    with open("cluster.json", "w") as f:
        json.dump({"root": str(kubeloop_cluster.config.root),
                   "pids": list(kubeloop_cluster.processes().values())}, f)
    assert kubeloop.cluster is kubeloop_cluster
    kinds = [o["kind"] for o in kubeloop.apply(WEB)]
    assert kinds == ["Deployment", "Service", "Ingress"]
    kubeloop.wait_available("web")
    assert len(kubeloop.wait_endpoints("web", 2)) == 2
    assert "Welcome to nginx" in kubeloop.wait_serving("http://web.example.test/").text
    (ip,) = kubeloop.dns("web")
    assert kubeloop.dns(f"web.{kubeloop_namespace}.svc.cluster.local.") == [ip]
    assert kubeloop.http(f"http://{ip}/").status == 200
    result = kubeloop.exec("deploy/web", "curl -s -o /dev/null -w '%{http_code}' http://web")
    assert result.ok and result.stdout == "200", result
    assert asyncio.run(kubeloop.aio.dns("web")) == [ip]


def test_fresh_namespace_each_test(kubeloop, kubeloop_cluster):
    assert SEEN and kubeloop.name != SEEN[0]
    assert "web" not in kubeloop.kubectl("get", "deploy", "-o", "name").stdout
    namespaces = kubeloop_cluster.kubectl("get", "ns", SEEN[0], "-o",
                                          "jsonpath={.status.phase}", check=False)
    assert namespaces.returncode != 0 or namespaces.stdout == "Terminating"


def test_failure_report(kubeloop):
    kubeloop.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shown"},
                    "data": {"k": "v"}})
    kubeloop.wait_available("missing", timeout=0.2)
'''


def test_a_user_suite_with_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS, test_web=EXAMPLE.read_text())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--kubeloop-nodes",
                                           "2", "-rA", timeout=110)
    result.assert_outcomes(passed=3, failed=1)
    out = result.stdout.str()
    # the failing test names what it waited for and shows where to look
    assert "TimeoutError: waited 0.2 s for deployment test-failure-report-" in out
    assert "it does not exist" in out
    assert "kubeloop events in test-failure-report-" in out
    assert "kubeloop objects in test-failure-report-" in out
    assert "name: shown" in out  # the ConfigMap's YAML
    assert "kubeloop apiserver log" in out and "kubeloop node-1 log" in out
    # the session's cluster is gone afterwards: its processes and its data
    started = json.loads((pytester.path / "cluster.json").read_text())
    assert all(pid for pid in started["pids"])
    assert not [pid for pid in started["pids"] if Path(f"/proc/{pid}").exists()]
    assert not Path(started["root"]).exists()


PER_WORKER = '''
import json, os

import pytest


@pytest.mark.parametrize("n", [0, 1])
def test_where(kubeloop, kubeloop_cluster, n):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    assert kubeloop.dns("kubernetes.default.svc.cluster.local.")
    with open(f"seen-{worker}-{n}.json", "w") as f:
        json.dump({"api": kubeloop_cluster.api_url, "dns": kubeloop_cluster.config.network.dns_ip}, f)
'''


def test_xdist_workers_get_their_own_clusters(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_where=PER_WORKER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2",
                                           "--dist", "each", "--kubeloop-nodes", "1",
                                           timeout=110)
    result.assert_outcomes(passed=4)
    seen: dict[str, set[str]] = {}
    for path in pytester.path.glob("seen-*.json"):
        worker = path.name.split("-")[1]
        seen.setdefault(worker, set()).add(path.read_text())
    assert sorted(seen) == ["gw0", "gw1"]
    # one cluster per worker, shared by the worker's tests, on different addresses
    assert all(len(clusters) == 1 for clusters in seen.values())
    (first,), (second,) = seen.values()
    assert json.loads(first)["api"] != json.loads(second)["api"]
    assert json.loads(first)["dns"] != json.loads(second)["dns"]
