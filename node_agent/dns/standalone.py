"""The cluster DNS on a host of its own (``kubeloop serve dns``): the ``ClusterDns`` every
node agent runs, fed by the same gRPC watches of Services, EndpointSlices and Namespaces,
answering on an address other hosts reach (a compose project publishes it on the host).
Pods keep using their node's own DNS on the kube-dns ClusterIP; this one is for clients
outside the cluster, so it judges no NetworkPolicy. While the apiserver is away it answers
from the last records it saw."""

from __future__ import annotations

import asyncio
import logging
import signal

from kubeloop import grpc_client, logs
from kubeloop.config import ClusterConfig
from kubeloop.follow import follow
from kubeloop.tasks import until_first
from node_agent.dns.server import ClusterDns
from node_agent.dns.zone import ENDPOINT_SLICES, NAMESPACES, SERVICES

log = logging.getLogger(__name__)

KINDS = (SERVICES, ENDPOINT_SLICES, NAMESPACES)


async def serve(config: ClusterConfig, address: str, port: int) -> int:
    """Answers on ``address:port`` (UDP and TCP) until SIGTERM/SIGINT; the exit code."""
    net = config.network
    dns = ClusterDns(net.cluster_domain, address, port, config.dns.upstreams, config.dns.hosts)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await dns.start()
    except OSError as e:
        log.error("cannot serve DNS on %s:%d: %s", address, port, e.strerror or e)
        return 1
    log.info("cluster DNS for %s on %s:%d (UDP and TCP)", net.cluster_domain, address, port)
    channel, stub = grpc_client.connect(config)
    try:
        await grpc_client.reconnecting(
            lambda: until_first([follow(stub, kind, [dns]) for kind in KINDS], stop), stop,
            "answering from the last known records")
    finally:
        await dns.close()
        await channel.close()
    log.info("stopped")
    return 0


def run(config: ClusterConfig, address: str, port: int, verbose: bool) -> int:
    logs.setup("dns", verbose)
    logs.install_event_loop()
    return asyncio.run(serve(config, address, port))
