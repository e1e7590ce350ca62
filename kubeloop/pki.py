"""Cluster PKI: the CA, the apiserver serving certificate, the bearer tokens and the
bootstrap tokens nodes join with (``kubeloop/join.py``).

``ensure_pki`` writes whatever is missing under ``config.pki`` and keeps what exists, so a
restart on the same data dir keeps the CA every kubeconfig already trusts. Keys are ECDSA
P-256 (fast to generate). ``issue_certificate`` signs leaf certificates for other servers
(the ingress controller) from the same CA.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import os
import secrets
import ssl
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeloop import join
from kubeloop.config import ClusterConfig, Network

CA_COMMON_NAME = "kubeloop-ca"
CA_DAYS = 3650
LEAF_DAYS = 3650
# Clock skew between the processes is nil on one host, but kubectl refuses a certificate
# that starts even a second in its future, so back-date a little.
_BACKDATE = datetime.timedelta(minutes=5)


def apiserver_sans(network: Network) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the apiserver certificate must cover, as kubeadm does."""
    dns = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{network.cluster_domain}",
    ]
    ips = [network.apiserver_ip, "127.0.0.1", network.kubernetes_service_ip]
    for extra in (network.advertise_address, network.bind_address, *network.cert_sans):
        if extra and extra not in ("0.0.0.0", "::"):
            (ips if _is_ip(extra) else dns).append(extra)
    return list(dict.fromkeys(dns)), list(dict.fromkeys(ips))


def covers(cert_pem: bytes, dns_names: Sequence[str], ip_addresses: Sequence[str]) -> bool:
    """Whether the certificate names every one of the DNS names and IP addresses."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    return set(dns_names) <= set(sans.get_values_for_type(x509.DNSName)) and \
        set(ip_addresses) <= have_ips


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@functools.cache
def unverified_client_context() -> ssl.SSLContext:
    """A TLS client context that checks nothing, for those that do not verify: the
    kubelet's HTTPS probes, ingress-nginx's connections to backends (proxy_ssl_verify
    off), waiting for an apiserver to answer, fetching the CA to be checked by its hash,
    ``verify=False`` requests. No CA store is loaded (the system's costs ~17 ms); one
    context serves every connection, so nobody changes it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _certificate(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
                 now: datetime.datetime, days: int, *, ca: bool) -> x509.CertificateBuilder:
    """What a CA and a leaf certificate have in common: names, key, validity, and the
    constraints and key usage of their kind (a CA signs certificates and CRLs; a leaf's
    ECDSA key signs handshakes and agrees keys)."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=not ca,
                          key_cert_sign=ca, crl_sign=ca, encipher_only=False,
                          decipher_only=False),
            critical=True)
    )


def create_ca(now: datetime.datetime, days: int = CA_DAYS) -> tuple[bytes, bytes]:
    """A self-signed CA certificate and its key, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    cert = (
        _certificate(name, name, key, now, days, ca=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return _cert_pem(cert), _key_pem(key)


def issue_certificate(
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    days: int = LEAF_DAYS,
    *,
    now: datetime.datetime | None = None,
) -> tuple[bytes, bytes]:
    """A server certificate (and its new key, both PEM) for the given names, signed by the CA.

    The subject CN is the first DNS name (or IP); clients check the SANs only.
    """
    if not dns_names and not ip_addresses:
        raise ValueError("a certificate needs at least one DNS name or IP address")
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an ECDSA key")
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    common_name = (list(dns_names) or list(ip_addresses))[0]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        _certificate(subject, ca_cert.subject, key, now, days, ca=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return _cert_pem(cert), _key_pem(key)


def ensure_pki(config: ClusterConfig) -> list[Path]:
    """Create the CA, apiserver certificate and tokens that are missing; return what was written.

    A new CA invalidates the old apiserver certificate, so both are rewritten together; so
    does a new advertise address or ``--cert-san`` the certificate does not name yet.
    """
    written: list[Path] = []
    config.pki.mkdir(parents=True, exist_ok=True)
    os.chmod(config.pki, 0o700)
    now = datetime.datetime.now(datetime.timezone.utc)
    new_ca = not (config.ca_cert.exists() and config.ca_key.exists())
    if new_ca:
        ca_pem, ca_key_pem = create_ca(now)
        write_private(config.ca_key, ca_key_pem)
        config.ca_cert.write_bytes(ca_pem)
        written += [config.ca_cert, config.ca_key]
    dns, ips = apiserver_sans(config.network)
    if new_ca or not (config.apiserver_cert.exists() and config.apiserver_key.exists()) \
            or not covers(config.apiserver_cert.read_bytes(), dns, ips):
        cert_pem, key_pem = issue_certificate(
            config.ca_cert.read_bytes(), config.ca_key.read_bytes(), dns, ips, now=now
        )
        write_private(config.apiserver_key, key_pem)
        config.apiserver_cert.write_bytes(cert_pem)
        written += [config.apiserver_cert, config.apiserver_key]
    for token_file in (config.admin_token_file, config.node_token_file):
        if not token_file.exists():
            write_private(token_file, (secrets.token_hex(32) + "\n").encode())
            written.append(token_file)
    return written


def read_bootstrap_tokens(config: ClusterConfig) -> list[join.TokenRecord]:
    try:
        return join.tokens_from_json(config.bootstrap_tokens_file.read_text())
    except FileNotFoundError:
        return []


def create_bootstrap_token(config: ClusterConfig, ttl: float | None, description: str = "",
                           *, now: float | None = None, token: str | None = None
                           ) -> join.TokenRecord:
    """A new bootstrap token (``token``: this one, chosen in advance; it replaces a record
    of the same token), saved with the valid ones (expired ones are dropped, as kubeadm's
    token cleaner does)."""
    now = time.time() if now is None else now
    record = join.TokenRecord(token or join.generate_token(),
                              None if ttl is None else now + ttl, description)
    kept = [r for r in read_bootstrap_tokens(config) if r.valid(now) and r.token != record.token]
    write_private(config.bootstrap_tokens_file, join.tokens_to_json([*kept, record]).encode())
    return record


def ensure_bootstrap_token(config: ClusterConfig) -> join.TokenRecord:
    """A valid bootstrap token for the join command ``kubeloop up`` prints: the one that
    expires last, or a new one (default TTL) when none is left."""
    now = time.time()
    valid = [r for r in read_bootstrap_tokens(config) if r.valid(now)]
    if valid:
        return max(valid, key=lambda r: float("inf") if r.expires is None else r.expires)
    return create_bootstrap_token(config, join.DEFAULT_TTL, "made by kubeloop up", now=now)


def read_token(path: Path) -> str:
    return path.read_text().strip()


def write_private(path: Path, data: bytes) -> None:
    """Write a secret with mode 0600 from the start (never briefly world-readable)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)  # O_CREAT keeps the mode of a file that exists
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
