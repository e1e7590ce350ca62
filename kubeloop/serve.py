"""Processes on hosts other than the control plane's: ``kubeloop serve ingress|dns`` read
the control plane's data dir (mounted from a shared volume, as compose.yaml does) and
reach the apiserver at its advertise address; ``kubeloop join --wait`` waits for an
apiserver that starts alongside (containers started together)."""

from __future__ import annotations

import dataclasses
import http.client
import time
from collections.abc import Callable
from pathlib import Path

from kubeloop import join, join_client, pki
from kubeloop.config import ClusterConfig, ConfigError

POLL = 0.1  # seconds between looks while waiting

Needs = Callable[[ClusterConfig], list[Path]]


def ingress_needs(config: ClusterConfig) -> list[Path]:
    """The ingress writes cert-manager's Secrets (admin token) signed by the CA (its key):
    like ingress-nginx's privileged service account, it is part of the control plane."""
    return [config.ca_cert, config.ca_key, config.admin_token_file, config.node_token_file]


def dns_needs(config: ClusterConfig) -> list[Path]:
    """The DNS only watches, with the node credential every joined node holds too."""
    return [config.ca_cert, config.node_token_file]


def control_plane_view(data_dir: Path, needs: Needs, wait: float) -> ClusterConfig:
    """The control plane's config as this host uses it, once the files ``needs`` names
    are there and the apiserver answers (waiting up to ``wait`` seconds in all for a
    control plane starting meanwhile; past that the component starts anyway and keeps
    reconnecting)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            config = ClusterConfig.load(data_dir)
            missing = [p for p in needs(config) if not p.exists()]
            problem = f"{missing[0]} is missing" if missing else ""
        except ConfigError as e:
            problem = str(e)
        if not problem:
            break
        if time.monotonic() >= deadline:
            raise ConfigError(f"{problem}: mount the control plane's data dir here (kubeloop "
                              "up --advertise-address IP --data-dir DIR makes it), or wait "
                              "longer with --wait SECONDS")
        time.sleep(POLL)
    config.validate()
    if not config.network.advertise_address:
        raise ConfigError(f"the control plane of {data_dir} has no advertise address, so no "
                          "other host can reach it: start it with kubeloop up "
                          "--advertise-address IP")
    config = dataclasses.replace(config, network=config.network.seen_from_elsewhere())
    wait_ready(config.network.apiserver_ip, config.network.api_port,
               deadline - time.monotonic())
    return config


def own_address(config: ClusterConfig) -> str:
    """This host's address towards the apiserver (kubeloop join's default, too)."""
    net = config.network
    try:
        return join_client.source_address(net.apiserver_ip, net.api_port)
    except join.JoinError as e:
        raise ConfigError(str(e)) from None


def wait_ready(host: str, port: int, wait: float) -> None:
    """Returns once ``https://host:port/readyz`` answers ok (the apiserver then serves its
    gRPC port too), or after ``wait`` seconds, leaving the error to the caller's next
    step. Unverified TLS: this only says when to start; trust is checked afterwards."""
    context = pki.unverified_client_context()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        conn = http.client.HTTPSConnection(host, port, context=context, timeout=2)
        try:
            conn.request("GET", "/readyz")
            reply = conn.getresponse()
            if reply.status == 200 and reply.read().strip() == b"ok":
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(POLL)
