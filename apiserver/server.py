"""The apiserver process: owns start-up order (store, bootstrap objects, controllers, REST
and gRPC listeners), signal handling and a bounded graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import time
from collections.abc import Awaitable, Callable

import grpc
from aiohttp import web

from apiserver import bootstrap, registry, store
from apiserver.bootstrap import CONFIG_MAPS
from apiserver.api import Api
from apiserver.controllers.endpoints import Endpoints
from apiserver.controllers.garbage import GarbageCollector
from apiserver.controllers.jobs import Jobs
from apiserver.controllers.loadbalancers import LoadBalancers
from apiserver.controllers.namespaces import Namespaces
from apiserver.controllers.nodes import NodeLifecycle
from apiserver.controllers.scheduler import Scheduler
from apiserver.controllers.workloads import Deployments, ReplicaSets
from apiserver.events import Recorder
from apiserver.node_service import NodeService
from kubeloop import join, logs, pki
from kubeloop.config import ClusterConfig
from kubeloop.tasks import TaskGroup
from proto import kubeloop_pb2_grpc as pb_grpc

log = logging.getLogger("apiserver")


class ApiServer:
    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.store = store.Store(config.database)
        self.registry = registry.Registry(self.store, config)
        self.recorder = Recorder(self.registry)
        self.tasks = TaskGroup("apiserver")
        self.lifecycle = NodeLifecycle(self.registry, self.recorder, config.timing)
        tokens = {config.admin_token_file.read_text().strip(): "kubernetes-admin"}
        self.api = Api(self.registry, tokens,
                       f"{config.network.apiserver_ip}:{config.network.api_port}",
                       extra=lambda app: app.middlewares.insert(0, self._cluster_info))
        self.controllers = [
            Scheduler(self.registry, self.recorder),
            ReplicaSets(self.registry, self.recorder),
            Deployments(self.registry, self.recorder),
            Jobs(self.registry, self.recorder),
            Namespaces(self.registry, config.ca_cert.read_text()),
            GarbageCollector(self.registry),
            Endpoints(self.registry),
            LoadBalancers(self.registry, self.recorder),
        ]
        self._runner: web.AppRunner | None = None
        self._grpc: grpc.aio.Server | None = None

    async def start(self) -> None:
        started = time.perf_counter()
        net = self.config.network
        await bootstrap.ensure(self.registry)
        for c in self.controllers:
            c.start(self.tasks)
        self.tasks.spawn("node-lifecycle", self.lifecycle.run())

        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.config.apiserver_cert, self.config.apiserver_key)
        self._runner = web.AppRunner(self.api.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        for host in net.listen_hosts:
            await web.TCPSite(self._runner, host, net.api_port, ssl_context=tls,
                              reuse_address=True).start()

        self._grpc = grpc.aio.server()
        pb_grpc.add_NodeServiceServicer_to_server(
            NodeService(self.registry, self.lifecycle, self.recorder,
                        self.config.node_token_file.read_text().strip()), self._grpc)
        creds = grpc.ssl_server_credentials([(self.config.apiserver_key.read_bytes(),
                                              self.config.apiserver_cert.read_bytes())])
        for host in net.listen_hosts:
            self._grpc.add_secure_port(f"{host}:{net.grpc_port}", creds)
        await self._grpc.start()
        self.api.ready = True
        log.info("serving %s port %d (REST) and %d (gRPC) in %.0f ms",
                 " and ".join(net.listen_hosts), net.api_port, net.grpc_port,
                 (time.perf_counter() - started) * 1000)
        if net.advertise_address:
            token = pki.ensure_bootstrap_token(self.config).token
            log.info("nodes on other hosts join with: %s", join.join_command(
                net.advertised_url, token, join.ca_cert_hash(self.config.ca_cert.read_bytes())))

    @web.middleware
    async def _cluster_info(self, request: web.Request,
                            handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                            ) -> web.StreamResponse:
        """Anyone may read kube-public/cluster-info (kubeadm's RBAC grants it to
        system:anonymous): a joining host reads the CA there before it trusts anything."""
        if request.method == "GET" and request.path == join.CLUSTER_INFO_PATH:
            stored = self.registry.store.get(CONFIG_MAPS.key, join.CLUSTER_INFO_NAMESPACE,
                                             join.CLUSTER_INFO)
            if stored is not None:
                return web.Response(body=stored.raw, content_type="application/json")
        return await handler(request)

    async def stop(self) -> None:
        self.api.ready = False
        if self._grpc is not None:
            await self._grpc.stop(grace=0.5)
        self.store.close_watchers()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.tasks.close()
        self.store.close()
        log.info("stopped")


async def serve(config: ClusterConfig) -> None:
    server = ApiServer(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logs.dump_tasks_on_sigusr1()
    try:
        await server.start()
        await stop.wait()
        log.info("shutting down")
    finally:
        await server.stop()
