"""A cluster process's gRPC connection to the apiserver (node agents, the ingress
controller): TLS with the cluster CA, the node token on every call, fast reconnects (the
apiserver may start after them)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc

from kubeloop.config import ClusterConfig
from proto import kubeloop_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

FIRST_BACKOFF = 0.05  # seconds before the first reconnect; doubles up to MAX_BACKOFF
MAX_BACKOFF = 2.0

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


async def reconnecting(session: Callable[[], Awaitable[None]], stop: asyncio.Event,
                       meanwhile: str) -> None:
    """Runs connected sessions until ``stop``: a session that fails on the gRPC
    connection is followed, after a backoff (FIRST_BACKOFF doubling to MAX_BACKOFF, reset
    by a session that ends cleanly), by a new one. ``meanwhile`` says what the process
    keeps doing while the apiserver is away."""
    backoff = FIRST_BACKOFF
    while not stop.is_set():
        try:
            await session()
            backoff = FIRST_BACKOFF
        except grpc.aio.AioRpcError as e:
            if stop.is_set():
                break
            log.warning("apiserver connection lost (%s: %s); %s, retrying in %.1fs",
                        e.code().name, e.details(), meanwhile, backoff)
            try:
                await asyncio.wait_for(stop.wait(), backoff)
            except asyncio.TimeoutError:
                pass
            backoff = min(backoff * 2, MAX_BACKOFF)
