"""PKI: the apiserver certificate's SANs, its chain to the cluster CA, and reuse."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from kubeloop import pki
from kubeloop.config import ClusterConfig, Network

NOW = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)


def _config(tmp_path: Path, slot: int = 0) -> ClusterConfig:
    network = Network.for_slot(slot)
    return ClusterConfig(name="demo", data_dir=str(tmp_path), slot=slot, network=network)


def _sans(cert_pem: bytes) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }


@pytest.mark.parametrize(
    ("slot", "dns", "ips"),
    [
        (
            0,
            {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local"},
            {"127.10.0.254", "127.0.0.1", "127.96.0.1"},
        ),
        (
            3,
            {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local"},
            {"127.10.3.254", "127.0.0.1", "127.99.0.1"},
        ),
    ],
    ids=["slot-0", "slot-3"],
)  # fmt: skip
def test_apiserver_certificate_covers_every_name(
    tmp_path: Path, slot: int, dns: set[str], ips: set[str]
) -> None:
    config = _config(tmp_path, slot)
    pki.ensure_pki(config)
    assert _sans(config.apiserver_cert.read_bytes()) == (dns, ips)


def test_apiserver_certificate_is_signed_by_the_ca(tmp_path: Path) -> None:
    config = _config(tmp_path)
    pki.ensure_pki(config)
    ca = x509.load_pem_x509_certificate(config.ca_cert.read_bytes())
    leaf = x509.load_pem_x509_certificate(config.apiserver_cert.read_bytes())
    assert ca.subject.rfc4514_string() == "CN=kubeloop-ca"
    assert leaf.issuer == ca.subject
    leaf.verify_directly_issued_by(ca)  # raises when the signature does not match
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)


@pytest.mark.parametrize(
    ("removed", "rewritten"),
    [
        ([], []),
        (["apiserver.crt"], ["apiserver.crt", "apiserver.key"]),
        (["ca.key"], ["ca.crt", "ca.key", "apiserver.crt", "apiserver.key"]),
        (["admin.token"], ["admin.token"]),
    ],
    ids=["all-present-kept", "leaf-missing", "ca-missing-reissues-leaf", "token-missing"],
)
def test_existing_files_are_reused(
    tmp_path: Path, removed: list[str], rewritten: list[str]
) -> None:
    config = _config(tmp_path)
    pki.ensure_pki(config)
    before = {p.name: p.read_bytes() for p in config.pki.iterdir()}
    for name in removed:
        (config.pki / name).unlink()
    written = pki.ensure_pki(config)
    assert sorted(p.name for p in written) == sorted(rewritten)
    after = {p.name: p.read_bytes() for p in config.pki.iterdir()}
    assert sorted(n for n in before if before[n] != after[n]) == sorted(rewritten)


@pytest.mark.parametrize(
    "name", ["ca.key", "apiserver.key", "admin.token", "node.token"], ids=lambda n: n
)
def test_secrets_are_private(tmp_path: Path, name: str) -> None:
    config = _config(tmp_path)
    pki.ensure_pki(config)
    assert (config.pki / name).stat().st_mode & 0o777 == 0o600


def test_tokens_are_random_hex(tmp_path: Path) -> None:
    config = _config(tmp_path)
    pki.ensure_pki(config)
    admin, node = pki.read_token(config.admin_token_file), pki.read_token(config.node_token_file)
    assert len(admin) == len(node) == 64 and admin != node
    int(admin, 16)


@pytest.mark.parametrize(
    ("dns", "ips", "common_name"),
    [
        (["shop.example.com", "*.example.com"], [], "shop.example.com"),
        ([], ["127.200.0.1"], "127.200.0.1"),
        (["ingress.local"], ["127.200.0.1", "127.0.0.1"], "ingress.local"),
    ],
    ids=["dns-only", "ip-only", "both"],
)
def test_issue_certificate(dns: list[str], ips: list[str], common_name: str) -> None:
    ca_pem, ca_key = pki.create_ca(NOW)
    cert_pem, key_pem = pki.issue_certificate(ca_pem, ca_key, dns, ips, days=30, now=NOW)
    cert = x509.load_pem_x509_certificate(cert_pem)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
    assert _sans(cert_pem) == (set(dns), {str(ipaddress.ip_address(i)) for i in ips})
    assert cert.subject.rfc4514_string() == f"CN={common_name}"
    assert cert.not_valid_after_utc == NOW + datetime.timedelta(days=30)
    assert b"PRIVATE KEY" in key_pem


def test_issue_certificate_needs_a_name() -> None:
    ca_pem, ca_key = pki.create_ca(NOW)
    with pytest.raises(ValueError, match="at least one"):
        pki.issue_certificate(ca_pem, ca_key, [], [], now=NOW)
