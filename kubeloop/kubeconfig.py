"""The cluster's kubeconfig: ``render`` builds the YAML text, ``write`` puts it in the data dir.

One cluster, one user and one context, all named after the cluster, like ``kind`` does, so
several kubeloop kubeconfigs merge cleanly through ``KUBECONFIG=a:b``.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from kubeloop import pki
from kubeloop.config import ClusterConfig


def render(name: str, server: str, ca_pem: bytes, token: str) -> str:
    """The kubeconfig YAML granting ``token`` on ``server`` trusted through ``ca_pem``."""
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                    "server": server,
                },
            }
        ],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    text: str = yaml.safe_dump(doc, sort_keys=False)
    return text


def write(config: ClusterConfig) -> Path:
    """Write ``config.kubeconfig`` (mode 0600: it holds the admin token) from the PKI files."""
    text = render(
        config.name,
        config.network.api_url,
        config.ca_cert.read_bytes(),
        pki.read_token(config.admin_token_file),
    )
    pki.write_private(config.kubeconfig, text.encode())
    return config.kubeconfig
