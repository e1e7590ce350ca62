"""A cluster process's gRPC connection to the apiserver (node agents, the ingress
controller): TLS with the cluster CA, the node token on every call, fast reconnects (the
apiserver may start after them)."""

from __future__ import annotations

import grpc

from kubeloop.config import ClusterConfig
from proto import kubeloop_pb2_grpc as pb_grpc

CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.keepalive_time_ms", 10000),
    ("grpc.keepalive_timeout_ms", 5000),
]


def connect(config: ClusterConfig) -> tuple[grpc.aio.Channel, pb_grpc.NodeServiceStub]:
    creds = grpc.composite_channel_credentials(
        grpc.ssl_channel_credentials(root_certificates=config.ca_cert.read_bytes()),
        grpc.access_token_call_credentials(config.node_token_file.read_text().strip()),
    )
    channel = grpc.aio.secure_channel(config.network.grpc_target, creds, options=CHANNEL_OPTIONS)
    return channel, pb_grpc.NodeServiceStub(channel)
