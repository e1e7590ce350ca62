"""Certificates: TLS Secrets -> one ssl.SSLContext each, chosen per connection by SNI.

``read_secret`` checks a Secret (type kubernetes.io/tls, PEM certificate and a key that
belongs to it) without raising; ``CertificateStore.apply`` maps every TLS host of the
routing table to its Secret's context, or to the default certificate (a self-signed
"Kubernetes Ingress Controller Fake Certificate", as ingress-nginx's) when the Secret is
missing, invalid or does not cover the host, and says why. The SNI callback then only
looks the name up. ``certificate_requests`` and ``issue_secret`` are cert-manager's part:
which Secrets an Ingress with ``cert-manager.io/cluster-issuer`` needs, and the Secret
the cluster CA signs for it (the controller hands it to whoever creates objects).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import os
import ssl
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ingress import annotations as nginx_annotations
from ingress.classes import Classes
from ingress.routing import Problem, Table, object_key
from kubeloop import pki

TLS_TYPE = "kubernetes.io/tls"
FAKE_CN = "Kubernetes Ingress Controller Fake Certificate"
RENEW_BEFORE = datetime.timedelta(days=30)

ObjectKey = tuple[str, str]


@dataclass(frozen=True)
class KeyPair:
    """A Secret's certificate (chain) and key, checked."""

    cert_pem: bytes
    key_pem: bytes
    names: tuple[str, ...]  # DNS SANs (or the CN when there are none), lower case
    not_after: datetime.datetime

    def covers(self, host: str) -> bool:
        return any(name_matches(name, host) for name in self.names)


def name_matches(pattern: str, host: str) -> bool:
    """A certificate name against a host: "*.x.y" covers exactly one label."""
    if pattern == host:
        return True
    if pattern.startswith("*."):
        dot = host.find(".")
        return dot > 0 and host[dot + 1:] == pattern[2:]
    return False


def read_secret(secret: Mapping) -> KeyPair | str:
    """The Secret's key pair, or why it cannot serve TLS."""
    kind = secret.get("type")
    if kind != TLS_TYPE:
        return f"is of type {kind!r}, not {TLS_TYPE}"
    data = secret.get("data") or {}
    try:
        cert_pem = base64.b64decode(data.get("tls.crt") or "", validate=True)
        key_pem = base64.b64decode(data.get("tls.key") or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        return "has tls.crt or tls.key that is not base64"
    if not cert_pem or not key_pem:
        return "lacks tls.crt or tls.key"
    try:
        certs = x509.load_pem_x509_certificates(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as e:
        return f"has an unreadable certificate or key ({e})"
    leaf = certs[0]
    if leaf.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo) != \
            key.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo):
        return "has a tls.key that does not belong to its tls.crt"
    return KeyPair(cert_pem, key_pem, certificate_names(leaf), leaf.not_valid_after_utc)


def certificate_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return tuple(n.lower() for n in names)


def fake_certificate(now: datetime.datetime) -> tuple[bytes, bytes]:
    """ingress-nginx's default certificate: self-signed, CN "Kubernetes Ingress
    Controller Fake Certificate", O "Acme Co", for ingress.local."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme Co"),
                      x509.NameAttribute(NameOID.COMMON_NAME, FAKE_CN)])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("ingress.local")]),
                       critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def alpn_protocols(http2: bool) -> list[str]:
    """What ALPN offers, preferred first (ingress-nginx's ``use-http2``, default on)."""
    return ["h2", "http/1.1"] if http2 else ["http/1.1"]


def server_context(cert_pem: bytes, key_pem: bytes, *, http2: bool = True) -> ssl.SSLContext:
    """A server context for one certificate: TLS 1.2 and 1.3, HTTP/2 or HTTP/1.1 by ALPN
    (the SNI-chosen context's list is the one that counts)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(alpn_protocols(http2))
    # The ssl module loads chains from files only: a private directory, removed at once.
    with tempfile.TemporaryDirectory(prefix="kubeloop-ingress-") as tmp:
        cert_file, key_file = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
        for path, data in ((cert_file, cert_pem), (key_file, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


class _DirectSSLObject(ssl.SSLObject):
    """An SSLObject whose read, write and pending are the C methods themselves: the event
    loop's TLS layer calls them for every record, and ssl.SSLObject's pure-Python
    wrappers cost a frame each. (``SSLContext.sslobject_class`` is made for this.)"""

    @property  # type: ignore[override]
    def read(self) -> Callable[..., Any]:
        return self._sslobj.read  # type: ignore[attr-defined]

    @property  # type: ignore[override]
    def write(self) -> Callable[..., int]:
        return self._sslobj.write  # type: ignore[attr-defined]

    @property  # type: ignore[override]
    def pending(self) -> Callable[..., int]:
        return self._sslobj.pending  # type: ignore[attr-defined]


class CertificateStore:
    """The contexts of the TLS hosts, and the listener's context whose SNI callback
    switches to them."""

    def __init__(self, now: datetime.datetime | None = None, *, http2: bool = True) -> None:
        cert, key = fake_certificate(now or datetime.datetime.now(datetime.timezone.utc))
        self.http2 = http2
        self.default = server_context(cert, key, http2=http2)
        self.default.sni_callback = self._sni
        self.default.sslobject_class = _DirectSSLObject
        self._by_secret: dict[bytes, ssl.SSLContext] = {}  # content digest -> context
        self.exact: dict[str, ssl.SSLContext] = {}
        self.wildcard: dict[str, ssl.SSLContext] = {}

    def apply(self, table: Table, secrets: Mapping[ObjectKey, dict]) -> list[Problem]:
        """Points every TLS host of the table at its certificate; returns what is wrong.
        Contexts are kept per Secret content, so an unchanged Secret is not reloaded."""
        problems: list[Problem] = []
        exact: dict[str, ssl.SSLContext] = {}
        wildcard: dict[str, ssl.SSLContext] = {}
        used: dict[bytes, ssl.SSLContext] = {}
        for server in table.all_servers():
            if not server.tls or server.tls_secret is None:
                continue
            host = server.hostname
            ctx = self._context(server.tls_secret, host, secrets, used, problems,
                                server.tls_ingress or server.tls_secret)
            if ctx is None:
                continue
            if host.startswith("*."):
                wildcard[host[2:]] = ctx
            else:
                exact[host] = ctx
        self._by_secret = used
        self.exact, self.wildcard = exact, wildcard
        return problems

    def _context(self, ref: ObjectKey, host: str, secrets: Mapping[ObjectKey, dict],
                 used: dict[bytes, ssl.SSLContext], problems: list[Problem],
                 owner: ObjectKey) -> ssl.SSLContext | None:
        where = f"TLS Secret {ref[0]}/{ref[1]} for host {host}"
        secret = secrets.get(ref)
        if secret is None:
            problems.append(Problem(owner, f"{where} not found; serving the default "
                                           "certificate"))
            return None
        pair = read_secret(secret)
        if isinstance(pair, str):
            problems.append(Problem(owner, f"{where} {pair}; serving the default certificate"))
            return None
        if not pair.covers(host):
            problems.append(Problem(owner, f"{where} does not cover the host (it is for "
                                           f"{', '.join(pair.names) or 'no name'}); serving "
                                           "the default certificate"))
            return None
        digest = hashlib.sha256(pair.cert_pem + b"\0" + pair.key_pem).digest()
        ctx = used.get(digest) or self._by_secret.get(digest)
        if ctx is None:
            try:
                ctx = server_context(pair.cert_pem, pair.key_pem, http2=self.http2)
            except (ssl.SSLError, OSError) as e:
                problems.append(Problem(owner, f"{where} cannot be loaded ({e}); serving the "
                                               "default certificate"))
                return None
        used[digest] = ctx
        return ctx

    def context_for(self, server_name: str | None) -> ssl.SSLContext:
        if not server_name:
            return self.default
        name = server_name.lower().rstrip(".")
        ctx = self.exact.get(name)
        if ctx is None:
            dot = name.find(".")
            ctx = self.wildcard.get(name[dot + 1:]) if dot > 0 else None
        return ctx or self.default

    def _sni(self, sslobj: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
             ctx: ssl.SSLContext) -> None:
        chosen = self.context_for(server_name)
        if chosen is not ctx:
            sslobj.context = chosen


# --- cert-manager ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SecretRequest:
    """A TLS Secret an Ingress's cluster-issuer annotation asks for."""

    namespace: str
    name: str
    hosts: tuple[str, ...]
    issuer: str
    ingress: ObjectKey


def certificate_requests(ingresses: Iterable[dict], secrets: Mapping[ObjectKey, dict],
                         classes: Classes, now: datetime.datetime) -> list[SecretRequest]:
    """The Secrets to (re)issue: those of ``spec.tls`` entries of our Ingresses with
    ``cert-manager.io/cluster-issuer`` that are missing, invalid, do not cover every
    listed host, or expire within 30 days."""
    wanted: list[SecretRequest] = []
    for ing in ingresses:
        if not isinstance(ing, dict) or not classes.takes(ing):
            continue
        issuer = nginx_annotations.parse((ing.get("metadata") or {}).get("annotations")).cluster_issuer
        if not issuer:
            continue
        key = object_key(ing)
        namespace = key[0] or "default"
        for entry in (ing.get("spec") or {}).get("tls") or ():
            if not isinstance(entry, dict) or not entry.get("secretName"):
                continue
            hosts = tuple(sorted({str(h).lower() for h in entry.get("hosts") or ()}))
            if not hosts:
                continue
            secret = secrets.get((namespace, str(entry["secretName"])))
            pair = read_secret(secret) if secret is not None else None
            if isinstance(pair, KeyPair) and all(pair.covers(h) for h in hosts) \
                    and pair.not_after - now > RENEW_BEFORE:
                continue
            wanted.append(SecretRequest(namespace, str(entry["secretName"]), hosts, issuer,
                                        key))
    return wanted


def issue_secret(request: SecretRequest, ca_cert_pem: bytes, ca_key_pem: bytes,
                 now: datetime.datetime) -> dict:
    """The kubernetes.io/tls Secret cert-manager would write, signed by the cluster CA."""
    cert_pem, key_pem = pki.issue_certificate(ca_cert_pem, ca_key_pem, request.hosts, [],
                                              now=now)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {
        "apiVersion": "v1", "kind": "Secret", "type": TLS_TYPE,
        "metadata": {"name": request.name, "namespace": request.namespace, "annotations": {
            "cert-manager.io/certificate-name": request.name,
            "cert-manager.io/issuer-name": request.issuer,
            "cert-manager.io/issuer-kind": "ClusterIssuer",
            "cert-manager.io/issuer-group": "cert-manager.io",
            "cert-manager.io/alt-names": ",".join(request.hosts),
            "cert-manager.io/common-name": request.hosts[0]}},
        "data": {"tls.crt": b64(cert_pem), "tls.key": b64(key_pem), "ca.crt": b64(ca_cert_pem)},
    }
