"""Plain TCP relay listeners (``model.ForwardApp``): each accepted connection is spliced
(node_agent/splice.py: bytes, backpressure and half-closes both ways) to one of its own to
the app's upstream, dialed from the client's address so the upstream sees the real
client (from the pod IP when that cannot be bound). No upstream, or one that cannot be
reached: the client's connection is reset."""

from __future__ import annotations

import asyncio
import errno
import logging

from kubeloop.tasks import TaskGroup
from node_agent.images.model import ForwardApp
from node_agent.splice import Accepted, Dialed, Splice

log = logging.getLogger(__name__)


class ForwardService:
    """What the connections of one relay listener share: the app, the pod IP (the
    fallback source address), the tasks that dial upstream, the open relays."""

    def __init__(self, app: ForwardApp, pod_ip: str, tasks: TaskGroup) -> None:
        self.app = app
        self.pod_ip = pod_ip
        self.tasks = tasks
        self.relays: set[_Relay] = set()

    def protocol(self) -> Accepted:
        return _Relay(self).client

    def close_all(self, abort: bool) -> None:
        for relay in list(self.relays):
            relay.abort() if abort else relay.end(None)


class _Relay(Splice):
    __slots__ = ("service",)

    def __init__(self, service: ForwardService) -> None:
        super().__init__()
        self.service = service

    def accepted(self) -> None:
        service = self.service
        service.relays.add(self)
        upstream = service.app.upstream
        if upstream is None:
            self.abort()
            return
        assert self.client.transport is not None
        client_ip = self.client.transport.get_extra_info("peername")[0]
        sources = tuple(dict.fromkeys((client_ip, service.pod_ip)))
        service.tasks.spawn("dial", self._dial(upstream, sources), expect_exit=True)

    async def _dial(self, upstream: tuple[str, int], sources: tuple[str, ...]) -> None:
        """Connects from the first source address that can be bound; the splice joins
        the two once connected (``Dialed``), or is aborted."""
        loop = asyncio.get_running_loop()
        for source in sources:
            try:
                async with asyncio.timeout(self.service.app.timeout):
                    await loop.create_connection(lambda: Dialed(self), *upstream,
                                                 local_addr=(source, 0))
                return
            except OSError as e:
                if e.errno != errno.EADDRNOTAVAIL:
                    log.debug("relay to %s:%d: %r", *upstream, e)
                    break
            except TimeoutError:
                break
        self.abort()

    def ended(self) -> None:
        self.service.relays.discard(self)
