"""One log format for every kubeloop process: short, timestamped, the component first."""

from __future__ import annotations

import logging
import os


def setup(component: str, verbose: bool = False) -> None:
    level = logging.DEBUG if verbose or os.environ.get("KUBELOOP_DEBUG") else logging.INFO
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s.%(msecs)03d %(levelname).1s {component} %(name)s] %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("aiohttp.access", "asyncio", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def install_event_loop() -> None:
    """uvloop when available: the hot paths were measured with it."""
    try:
        import uvloop
    except ImportError:
        return
    uvloop.install()
