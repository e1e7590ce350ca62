"""The apiserver process: owns start-up order (store, bootstrap objects, controllers, REST
and gRPC listeners), signal handling and a bounded graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import time

import grpc
from aiohttp import web

from apiserver import bootstrap, registry, store
from apiserver.api import Api
from apiserver.controllers.endpoints import Endpoints
from apiserver.controllers.garbage import GarbageCollector
from apiserver.controllers.loadbalancers import LoadBalancers
from apiserver.controllers.namespaces import Namespaces
from apiserver.controllers.nodes import NodeLifecycle
from apiserver.controllers.scheduler import Scheduler
from apiserver.controllers.workloads import Deployments, ReplicaSets
from apiserver.events import Recorder
from apiserver.node_service import NodeService
from kubeloop import logs
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
                       f"{config.network.apiserver_ip}:{config.network.api_port}")
        self.controllers = [
            Scheduler(self.registry, self.recorder),
            ReplicaSets(self.registry, self.recorder),
            Deployments(self.registry, self.recorder),
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
        await web.TCPSite(self._runner, net.apiserver_ip, net.api_port, ssl_context=tls,
                          reuse_address=True).start()

        self._grpc = grpc.aio.server()
        pb_grpc.add_NodeServiceServicer_to_server(
            NodeService(self.registry, self.lifecycle, self.recorder,
                        self.config.node_token_file.read_text().strip()), self._grpc)
        creds = grpc.ssl_server_credentials([(self.config.apiserver_key.read_bytes(),
                                              self.config.apiserver_cert.read_bytes())])
        self._grpc.add_secure_port(net.grpc_target, creds)
        await self._grpc.start()
        self.api.ready = True
        log.info("serving https://%s:%d (REST) and %s (gRPC) in %.0f ms", net.apiserver_ip,
                 net.api_port, net.grpc_target, (time.perf_counter() - started) * 1000)

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
