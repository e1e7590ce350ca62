"""The network plugin's add-on: which objects the apiserver creates for each CNI (as
calico.yaml and kube-flannel.yml install them) and what their images do when they run."""

from __future__ import annotations

import pytest

from apiserver import bootstrap
from kubeloop.config import ClusterConfig
from node_agent.images import catalogue
from node_agent.images.catalogue import Kind
from node_agent.images.cni import CalicoKubeControllers, CalicoNode, Flanneld

NOW = 1733220000.5  # 2024-12-03 10:00:00.5 UTC


@pytest.mark.parametrize("cni, namespace, prefix, image, labels", [
    ("calico", "kube-system", "calico-node-", "docker.io/calico/node:v3.28.2",
     {"k8s-app": "calico-node"}),
    ("flannel", "kube-flannel", "kube-flannel-ds-", "docker.io/flannel/flannel:v0.26.1",
     {"app": "flannel", "tier": "node"}),
])
def test_per_node_pod(cni: str, namespace: str, prefix: str, image: str,
                      labels: dict[str, str]) -> None:
    ns, selector, pod = bootstrap.cni_node_pod(ClusterConfig(cni=cni), "kubeloop-node-2")
    assert (ns, selector, pod["metadata"]["labels"]) == (namespace, labels, labels)
    assert pod["metadata"]["generateName"] == prefix
    spec = pod["spec"]
    assert (spec["nodeName"], spec["hostNetwork"], spec["containers"][0]["image"]) == (
        "kubeloop-node-2", True, image)
    assert {"operator": "Exists", "effect": "NoExecute"} in spec["tolerations"]


@pytest.mark.parametrize("cni, objects", [
    ("calico", [("serviceaccounts", "kube-system", "calico-node"),
                ("serviceaccounts", "kube-system", "calico-kube-controllers"),
                ("configmaps", "kube-system", "calico-config"),
                ("deployments", "kube-system", "calico-kube-controllers")]),
    ("flannel", [("namespaces", "", "kube-flannel"),
                 ("serviceaccounts", "kube-flannel", "flannel"),
                 ("configmaps", "kube-flannel", "kube-flannel-cfg")]),
])
def test_addon_objects(cni: str, objects: list[tuple[str, str, str]]) -> None:
    made = bootstrap.cni_addon(ClusterConfig(cni=cni))
    assert [(res.plural, ns, body["metadata"]["name"]) for res, ns, body in made] == objects


def test_flannel_network_is_the_pod_range() -> None:
    config = ClusterConfig(cni="flannel")
    cfg = next(body for res, _, body in bootstrap.cni_addon(config) if res.plural == "configmaps")
    assert f'"Network": "{config.network.pod_cidr}"' in cfg["data"]["net-conf.json"]


@pytest.mark.parametrize("image, kind, version", [
    ("calico/node:v3.27.3", Kind.CALICO_NODE, "v3.27.3"),
    ("quay.io/calico/node", Kind.CALICO_NODE, "v3.28.2"),
    ("docker.io/calico/kube-controllers:v3.28.2", Kind.CALICO_KUBE_CONTROLLERS, "v3.28.2"),
    ("flannel/flannel:v0.25.6", Kind.FLANNEL, "v0.25.6"),
    ("ghcr.io/flannel-io/flannel:v0.26.1", Kind.FLANNEL, "v0.26.1"),
])
def test_images_are_known(image: str, kind: Kind, version: str) -> None:
    choice = catalogue.choose(image, [], [], {}, [])
    assert (choice.kind, choice.settings["version"]) == (kind, version)


def test_flanneld_command_line_runs_flanneld() -> None:
    choice = catalogue.choose("flannel/flannel:v0.26.1", ["/opt/bin/flanneld"],
                              ["--ip-masq", "--kube-subnet-mgr"], {}, [])
    assert choice.kind is Kind.FLANNEL


def test_programs_log_their_start_and_stop() -> None:
    node = CalicoNode("v3.28.2", "kubeloop-node-1")
    lines = node.banner(NOW)
    assert lines[0] == ("2024-12-03 10:00:00.500 [INFO][9] startup/startup.go 427: Early "
                        "log level set to info")
    assert any("node name kubeloop-node-1" in line for line in lines)
    assert node.terminated(NOW).code == 0
    assert "version=v3.28.2" in CalicoKubeControllers("v3.28.2").banner(NOW)[0]
    assert CalicoKubeControllers("v3.28.2").terminated(NOW).code == 143
    flannel = Flanneld("v0.26.1", "kubeloop-node-1")
    assert flannel.banner(NOW)[0] == "I1203 10:00:00.500000       1 main.go:211] flannel " \
        "version v0.26.1"
    assert any("Kubernetes Subnet Manager - kubeloop-node-1" in line
               for line in flannel.banner(NOW))
    assert flannel.terminated(NOW).lines[-1].endswith("Exiting cleanly...")
    assert not node.listeners and not flannel.listeners
