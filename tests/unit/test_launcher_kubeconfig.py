"""kubeconfig rendering: one cluster, user and context named after the cluster."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from kubeloop import kubeconfig, pki
from kubeloop.config import ClusterConfig, Network

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    ("name", "server", "token"),
    [
        ("kubeloop", "https://127.10.0.254:6443", "abc"),
        ("t42-1", "https://127.10.5.254:6443", "0" * 64),
    ],
    ids=["default", "test-cluster"],
)
def test_render(name: str, server: str, token: str) -> None:
    doc = yaml.safe_load(kubeconfig.render(name, server, CA, token))
    assert doc == {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "certificate-authority-data": base64.b64encode(CA).decode(),
                    "server": server,
                },
            }
        ],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }


def test_write_uses_the_cluster_files(tmp_path: Path) -> None:
    config = ClusterConfig(name="demo", data_dir=str(tmp_path), slot=2, network=Network.for_slot(2))
    pki.ensure_pki(config)
    path = kubeconfig.write(config)
    doc = yaml.safe_load(path.read_text())
    assert path == tmp_path / "kubeconfig"
    assert path.stat().st_mode & 0o777 == 0o600
    assert doc["clusters"][0]["cluster"]["server"] == "https://127.10.2.254:6443"
    ca_data = doc["clusters"][0]["cluster"]["certificate-authority-data"]
    assert base64.b64decode(ca_data) == config.ca_cert.read_bytes()
    assert doc["users"][0]["user"]["token"] == pki.read_token(config.admin_token_file)
