"""Sockets in the pod's network identity: every TCP connection and UDP socket binds its
source address to the pod IP, so servers see the pod as the client (through the overlay
dialer: a pod of another node may be behind its node's tunnel), and passes the pod's
egress NetworkPolicy first (a denied connection times out, or is refused at once with the
reject deny action; a denied UDP socket's datagrams vanish); listeners pass its ingress
policy. Errors come back as one ConnectError with a kind the commands turn into their own
wording. Also reading one HTTP response off a connection (httpwire decides the framing)."""

from __future__ import annotations

import asyncio
import errno
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kubeloop import overlay
from node_agent.containers import Identity
from node_agent.toolbox import httpwire


DROPPED_WAIT = 130.0  # what Linux's SYN retries take before a dropped connect fails


class ConnectError(Exception):
    """``kind``: "refused", "timeout", "unreachable", "reset", "cert", "tls" or "other";
    ``str()`` is the strerror-like text."""

    def __init__(self, kind: str, text: str, verify_code: int = 0) -> None:
        super().__init__(text)
        self.kind = kind
        self.text = text
        self.verify_code = verify_code


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @property
    def local(self) -> tuple[str, int]:
        host, port = self.writer.get_extra_info("sockname")[:2]
        return host, port

    def close(self) -> None:
        self.writer.close()


def os_error(e: OSError) -> ConnectError:
    if isinstance(e, ConnectionRefusedError):
        return ConnectError("refused", "Connection refused")
    if isinstance(e, ConnectionResetError):
        return ConnectError("reset", "Connection reset by peer")
    if e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return ConnectError("unreachable", e.strerror or "No route to host")
    if e.errno == errno.ETIMEDOUT:
        return ConnectError("timeout", "Connection timed out")
    return ConnectError("other", e.strerror or str(e))


async def connect(identity: Identity, ip: str, port: int,
                  timeout: float | None = None) -> Connection:
    """A TCP connection from the pod IP to ip:port within ``timeout`` seconds. One that
    NetworkPolicy denies is dropped (it times out, as on Calico) or, with the reject
    action, refused."""
    try:
        if not _egress(identity, ip, port, "TCP"):
            await asyncio.sleep(DROPPED_WAIT if timeout is None else timeout)
            raise ConnectError("timeout", "Connection timed out")
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        async with asyncio.timeout(timeout):
            transport, protocol = await overlay.open_tcp(
                lambda: asyncio.StreamReaderProtocol(reader), identity.pod_ip, ip, port)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    except TimeoutError:
        raise ConnectError("timeout", "Connection timed out") from None
    except OSError as e:
        raise os_error(e) from e
    return Connection(reader, writer)


def _egress(identity: Identity, ip: str, port: int, protocol: str) -> bool:
    """Whether the pod's egress policy lets this connection out (raises
    ConnectionRefusedError when the reject action refuses it)."""
    admission = identity.admission
    return admission is None or admission.egress_allowed(identity.pod_ip, ip, port, protocol)


async def listen(identity: Identity, port: int,
                 accept: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
                 ) -> asyncio.Server:
    """A TCP server on the pod IP (asyncio.start_server's streams) whose connections pass
    the pod's ingress policy first, as a container's listeners do."""
    loop = asyncio.get_running_loop()

    def protocol() -> asyncio.StreamReaderProtocol:
        return asyncio.StreamReaderProtocol(asyncio.StreamReader(), accept)
    factory: Callable[[], asyncio.BaseProtocol] = protocol
    if identity.admission is not None:
        factory = identity.admission.guarded(protocol, identity.pod_ip, port, "TCP")
    return await loop.create_server(factory, identity.pod_ip, port)


def client_context(verify: bool, cafile_data: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=cafile_data) if cafile_data else \
        ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def start_tls(conn: Connection, ctx: ssl.SSLContext, server_hostname: str,
                    timeout: float | None = None) -> None:
    """Upgrades ``conn`` in place (the handshake counts against ``timeout``)."""
    try:
        async with asyncio.timeout(timeout):
            await conn.writer.start_tls(ctx, server_hostname=server_hostname)
    except TimeoutError:
        raise ConnectError("timeout", "Connection timed out") from None
    except ssl.SSLCertVerificationError as e:
        raise ConnectError("cert", e.verify_message or str(e), e.verify_code) from e
    except ssl.SSLError as e:
        raise ConnectError("tls", e.reason or str(e)) from e
    except OSError as e:
        raise os_error(e) from e


def tls_details(conn: Connection) -> dict[str, str]:
    """What curl -v says about an established TLS session and the server certificate."""
    obj = conn.writer.get_extra_info("ssl_object")
    if obj is None:
        return {}
    details = {"version": obj.version() or "", "cipher": (obj.cipher() or ("",))[0],
               "alpn": obj.selected_alpn_protocol() or ""}
    der = obj.getpeercert(binary_form=True)
    if der:
        from cryptography import x509

        cert = x509.load_der_x509_certificate(der)
        details.update(subject=cert.subject.rfc4514_string(),
                       issuer=cert.issuer.rfc4514_string(),
                       start=cert.not_valid_before_utc.strftime("%b %e %H:%M:%S %Y GMT"),
                       expire=cert.not_valid_after_utc.strftime("%b %e %H:%M:%S %Y GMT"))
    return details


class Datagrams(asyncio.DatagramProtocol):
    """A connected UDP socket's incoming datagrams (and ICMP errors) as a queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.queue.put_nowait(exc)


class _Dropped(asyncio.DatagramTransport):
    """A UDP socket whose flow NetworkPolicy denies: what it sends never arrives, so the
    tool waits for answers in vain, as behind a drop rule."""

    def __init__(self, inner: asyncio.DatagramTransport) -> None:
        super().__init__()
        self._inner = inner

    def sendto(self, data: Any, addr: Any = None) -> None:
        return None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def close(self) -> None:
        self._inner.close()

    def abort(self) -> None:
        self._inner.abort()


async def udp(identity: Identity, ip: str, port: int
              ) -> tuple[asyncio.DatagramTransport, Datagrams]:
    """A connected UDP socket from the pod IP to ip:port; egress policy judges the flow
    once, as conntrack does (a denied one drops every datagram, with either action: no
    ICMP error is emulated)."""
    datagrams = Datagrams()
    try:
        transport = overlay.open_udp(datagrams, identity.pod_ip, ip, port)
    except OSError as e:
        raise os_error(e) from e
    if not _egress(identity, ip, port, "UDP"):
        return _Dropped(transport), datagrams
    return transport, datagrams


async def read_response(conn: Connection, parser: httpwire.ResponseParser,
                        on_head: Callable[[httpwire.Head], Awaitable[bool]],
                        on_body: Callable[[bytes], Awaitable[None]]) -> None:
    """Reads one HTTP response: ``on_head`` once the head is in (returning False stops
    after the bytes that came with it), then ``on_body`` with each piece of the body.
    Raises httpwire.HttpError, with kind "reset" when the peer resets."""
    reported = False
    while not parser.done:
        try:
            data = await conn.reader.read(65536)
        except ConnectionResetError:
            raise httpwire.HttpError("reset", "Recv failure: Connection reset by peer") from None
        if data:
            body = parser.feed(data)
        else:
            parser.finish()
            body = b""
        keep_going = True
        if parser.head is not None and not reported:
            reported = True
            keep_going = await on_head(parser.head)
        if body:
            await on_body(body)
        if not data or not keep_going:
            return
