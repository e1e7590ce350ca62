"""``kubeloop join``'s network side: find and trust the cluster's CA, call ``Join``, and
write the node's own data dir (its ``cluster.json``, the CA, the node token and the
kubelet's certificate). The pure rules are in ``kubeloop/join.py``.

The CA comes from ``kube-public/cluster-info``, read over TLS without verification (the
CA is what we are looking for), then checked against ``--ca-cert-hash``, or read with
``--ca-cert`` verifying the connection, or taken on trust with
``--insecure-skip-ca-verification``. ``Join`` then goes over gRPC with that CA, the
bootstrap token as bearer token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from kubeloop import join, pki
from kubeloop.config import ClusterConfig, ConfigError
from kubeloop.join import JoinError
from proto import kubeloop_pb2 as pb
from proto import kubeloop_pb2_grpc as pb_grpc

TIMEOUT = 10.0  # seconds for each call to the control plane


@dataclass(frozen=True)
class Trust:
    """How to trust the CA the server hands out: exactly one is set."""

    ca_hash: str = ""
    ca_pem: bytes = b""
    insecure: bool = False


def fetch_ca(host: str, port: int, trust: Trust, timeout: float = TIMEOUT) -> join.ClusterInfo:
    """The cluster's CA (and gRPC port) from cluster-info, trusted per ``trust``."""
    if trust.ca_pem:
        context = ssl.create_default_context(cadata=trust.ca_pem.decode())
    else:  # the CA is what we fetch; checked below
        context = pki.unverified_client_context()
    url = f"https://{host}:{port}"
    conn = http.client.HTTPSConnection(host, port, context=context, timeout=timeout)
    try:
        conn.request("GET", join.CLUSTER_INFO_PATH)
        reply = conn.getresponse()
        body = reply.read()
    except ssl.SSLCertVerificationError as e:
        raise JoinError(f"{url} is not served with a certificate of the CA in --ca-cert "
                        f"({e.verify_message}); check --server and --ca-cert") from None
    except OSError as e:
        raise JoinError(f"cannot reach the apiserver at {url}: {e}. Check --server, and "
                        "that the control plane listens there (kubeloop up "
                        "--advertise-address ADDR)") from None
    finally:
        conn.close()
    if reply.status != 200:
        raise JoinError(f"{url}{join.CLUSTER_INFO_PATH} answered {reply.status}: is --server "
                        "a kubeloop apiserver of this version?")
    try:
        info = join.read_cluster_info(json.loads(body))
    except ValueError as e:
        raise JoinError(f"{url}: the cluster-info answer is not JSON ({e})") from None
    if trust.ca_hash:
        join.check_ca(info.ca_pem, trust.ca_hash)
    elif trust.ca_pem and info.ca_pem.strip() != trust.ca_pem.strip():
        raise JoinError(f"{url} announces another CA than --ca-cert; check both")
    return info


def source_address(host: str, port: int) -> str:
    """The local address this host reaches ``host`` from (what kubeadm advertises)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((host, port))  # UDP: picks the route, sends nothing
        except OSError as e:
            raise JoinError(f"no route to {host}: {e}; give this node's address with "
                            "--address") from None
        return str(s.getsockname()[0])


async def call_join(host: str, grpc_port: int, ca_pem: bytes, token: str, address: str,
                    number: int, timeout: float = TIMEOUT) -> pb.JoinResponse:
    creds = grpc.composite_channel_credentials(
        grpc.ssl_channel_credentials(root_certificates=ca_pem),
        grpc.access_token_call_credentials(token))
    async with grpc.aio.secure_channel(f"{host}:{grpc_port}", creds) as channel:
        try:
            reply: pb.JoinResponse = await pb_grpc.NodeServiceStub(channel).Join(
                pb.JoinRequest(address=address, node_number=number), timeout=timeout)
        except grpc.aio.AioRpcError as e:
            if e.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT,
                            grpc.StatusCode.RESOURCE_EXHAUSTED):
                raise JoinError(f"the control plane refused to join: {e.details()}") from None
            raise JoinError(f"Join at {host}:{grpc_port} failed ({e.code().name}: "
                            f"{e.details()}); check that the control plane's gRPC port is "
                            "reachable from here") from None
    return reply


def previous_number(data_dir: Path) -> int:
    """The node number a data dir joined with before (0: none), to keep it."""
    try:
        return ClusterConfig.load(data_dir).joined_node
    except ConfigError:
        return 0


def write_node_dir(data_dir: Path, reply: pb.JoinResponse, host: str, api_port: int,
                   grpc_port: int, address: str, ca_pem: bytes) -> ClusterConfig:
    """The joined node's data dir: the cluster's settings, pointed at the server as this
    host reaches it, with this node's number and address."""
    settings = json.loads(reply.cluster_config)
    base = ClusterConfig.from_json(settings, data_dir)
    network = dataclasses.replace(
        base.network, apiserver_ip=host, api_port=api_port, grpc_port=grpc_port,
        advertise_address="", bind_address="", cert_sans=(),
        node_ips={str(reply.node_number): address})
    config = dataclasses.replace(base, nodes=0, network=network, ingress=False,
                                 joined_node=reply.node_number)
    config.validate()
    config.save()
    config.pki.mkdir(parents=True, exist_ok=True)
    config.pki.chmod(0o700)
    config.ca_cert.write_bytes(ca_pem)
    pki.write_private(config.node_token_file, (reply.node_token + "\n").encode())
    config.kubelet_cert(reply.node_name).write_bytes(reply.kubelet_cert)
    pki.write_private(config.kubelet_key(reply.node_name), reply.kubelet_key)
    return config


def join_cluster(server: str, token: str, trust: Trust, address: str | None,
                 data_dir: Path) -> tuple[ClusterConfig, pb.JoinResponse]:
    """The whole join: the node's data dir is ready for its agent once this returns."""
    token = join.parse_token(token)
    host, port = join.parse_server(server)
    info = fetch_ca(host, port, trust)
    address = address or source_address(host, port)
    reply = asyncio.run(call_join(host, info.grpc_port, info.ca_pem, token, address,
                                  previous_number(data_dir)))
    config = write_node_dir(data_dir, reply, host, port, info.grpc_port, address, info.ca_pem)
    return config, reply
