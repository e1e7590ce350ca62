"""Nodes joining from other hosts, as ``kubeadm join`` does: the pure parts.

A bootstrap token (``[a-z0-9]{6}.[a-z0-9]{16}``, id and secret) lets a new host call the
apiserver's ``Join`` once; the CA hash (``sha256:`` and the hex SHA-256 of the CA
certificate's SubjectPublicKeyInfo) lets it trust the CA it reads, unauthenticated,
from the ``cluster-info`` ConfigMap in ``kube-public``. The tokens live in the control
plane's data dir (``pki/bootstrap-tokens.json``, see ``kubeloop.pki``); the network side
is ``kubeloop/join_client.py`` (the joining host) and ``apiserver/node_service.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import string
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kubeloop.config import Network

TOKEN_PATTERN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
HASH_PATTERN = re.compile(r"^sha256:([0-9a-f]{64})$")
DEFAULT_TTL = 24 * 3600.0  # seconds, as kubeadm's tokens
DEFAULT_API_PORT = 6443
CLUSTER_INFO_NAMESPACE = "kube-public"
CLUSTER_INFO = "cluster-info"
CLUSTER_INFO_PATH = f"/api/v1/namespaces/{CLUSTER_INFO_NAMESPACE}/configmaps/{CLUSTER_INFO}"
GRPC_PORT_KEY = "kubeloop.grpc-port"  # cluster-info's key for the agents' gRPC port
_TOKEN_ALPHABET = string.ascii_lowercase + string.digits
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class JoinError(ValueError):
    """Joining cannot go on; the message says what to do."""


# --- bootstrap tokens ---------------------------------------------------------------


def generate_token() -> str:
    def part(n: int) -> str:
        return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(n))

    return f"{part(6)}.{part(16)}"


def parse_token(text: str) -> str:
    token = text.strip()
    if not TOKEN_PATTERN.match(token):
        raise JoinError(f"--token {token[:30]!r} is not a bootstrap token: it looks like "
                        "abcdef.0123456789abcdef; print one on the control plane with: "
                        "kubeloop token create")
    return token


@dataclass(frozen=True)
class TokenRecord:
    """One bootstrap token; ``expires`` in seconds since the epoch, None: never."""

    token: str
    expires: float | None
    description: str = ""

    def valid(self, now: float) -> bool:
        return self.expires is None or now < self.expires


def parse_ttl(text: str) -> float | None:
    """``24h``, ``30m``, ``90s``, ``7d`` (or combined, ``1h30m``); ``0``: never expires."""
    if text.strip() == "0":
        return None
    parts = re.findall(r"(\d+)([smhd])", text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise JoinError(f"--ttl {text!r}: give a duration such as 24h, 30m or 1h30m "
                        "(0: never expires)")
    return float(sum(int(n) * _TTL_UNITS[u] for n, u in parts))


def format_ttl(seconds: float) -> str:
    """Like kubeadm's TTL column: ``23h``, ``59m``, ``12s``, or ``<forever>``."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60:
        return f"{int(seconds // 60)}m"
    return f"{max(0, int(seconds))}s"


def tokens_from_json(text: str) -> list[TokenRecord]:
    return [TokenRecord(**raw) for raw in json.loads(text or "[]")]


def tokens_to_json(records: list[TokenRecord]) -> str:
    return json.dumps([asdict(r) for r in records], indent=2) + "\n"


def accepted(records: list[TokenRecord], token: str, now: float) -> bool:
    """Whether ``token`` is one of the valid bootstrap tokens (compared in constant time)."""
    found = False
    for record in records:
        if hmac.compare_digest(record.token, token) and record.valid(now):
            found = True
    return found


# --- the CA and the server -------------------------------------------------------------


def ca_cert_hash(ca_pem: bytes) -> str:
    """kubeadm's ``--discovery-token-ca-cert-hash``: SHA-256 of the CA's public key info."""
    cert = x509.load_pem_x509_certificate(ca_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def parse_ca_hash(text: str) -> str:
    value = text.strip().lower()
    if not HASH_PATTERN.match(value):
        raise JoinError(f"--ca-cert-hash {text[:80]!r}: give sha256:<64 hex digits>, as the "
                        "control plane prints it in its join command")
    return value


def check_ca(ca_pem: bytes, expected_hash: str) -> None:
    actual = ca_cert_hash(ca_pem)
    if not hmac.compare_digest(actual, expected_hash):
        raise JoinError(f"the server's CA has the hash {actual}, not {expected_hash}: this "
                        "is another cluster, or someone in between. Check --server and copy "
                        "the hash from the control plane's join command (kubeloop token "
                        "create --print-join-command)")


def parse_server(url: str) -> tuple[str, int]:
    """(host, port) of ``https://HOST[:PORT]`` (the apiserver's REST address)."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme != "https" or not parts.hostname:
        raise JoinError(f"--server {url!r}: give the apiserver's URL, e.g. "
                        "https://192.168.1.10:6443")
    try:
        port = parts.port or DEFAULT_API_PORT
    except ValueError:
        raise JoinError(f"--server {url!r}: the port is not a number") from None
    return parts.hostname, port


def join_command(server_url: str, token: str, ca_hash: str) -> str:
    return f"kubeloop join --server {server_url} --token {token} --ca-cert-hash {ca_hash}"


# --- cluster-info -----------------------------------------------------------------------


def cluster_info(server_url: str, ca_pem: bytes, grpc_port: int) -> dict[str, Any]:
    """The ``cluster-info`` ConfigMap: kubeadm's kubeconfig (the server and its CA, no
    user), plus the port of the agents' gRPC service."""
    kubeconfig: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "", "cluster": {
            "certificate-authority-data": base64.b64encode(ca_pem).decode(),
            "server": server_url}}],
        "contexts": None, "current-context": "", "users": None}
    return {"metadata": {"name": CLUSTER_INFO, "namespace": CLUSTER_INFO_NAMESPACE},
            "data": {"kubeconfig": yaml.safe_dump(kubeconfig, sort_keys=False),
                     GRPC_PORT_KEY: str(grpc_port)}}


@dataclass(frozen=True)
class ClusterInfo:
    ca_pem: bytes
    grpc_port: int


def read_cluster_info(configmap: dict[str, Any]) -> ClusterInfo:
    try:
        data = configmap["data"]
        cluster = yaml.safe_load(data["kubeconfig"])["clusters"][0]["cluster"]
        ca_pem = base64.b64decode(cluster["certificate-authority-data"])
        x509.load_pem_x509_certificate(ca_pem)
        return ClusterInfo(ca_pem, int(data[GRPC_PORT_KEY]))
    except (KeyError, IndexError, TypeError, ValueError, yaml.YAMLError) as e:
        raise JoinError(f"the server's {CLUSTER_INFO_NAMESPACE}/{CLUSTER_INFO} ConfigMap is "
                        f"not a kubeloop cluster-info ({type(e).__name__}: {e}); is --server "
                        "a kubeloop apiserver?") from None


# --- the apiserver's side ---------------------------------------------------------------


def address_problem(address: str, network: Network) -> str | None:
    """Why a joining node cannot have this address (None: it can): it must be one
    unicast IPv4 address outside the cluster's pod, Service and LoadBalancer ranges."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"node address {address!r} is not an IP address"
    if ip.version != 4 or ip.is_unspecified or ip.is_multicast:
        return f"node address {address} is not a unicast IPv4 address"
    for what, cidr in (("pod", network.pod_cidr), ("Service", network.service_cidr),
                       ("LoadBalancer", network.lb_cidr)):
        if ip in ipaddress.ip_network(cidr):
            return f"node address {address} lies in the cluster's {what} range {cidr}"
    return None


def node_number(requested: int, first: int, taken: set[int], last: int = 250) -> int | None:
    """The number of a joining node: the one it asks for (a host joining again with its
    data dir) when it is not the control plane's own, else the lowest free one from
    ``first``; None when all are taken."""
    if first <= requested <= last:
        return requested
    return next((n for n in range(first, last + 1) if n not in taken), None)
