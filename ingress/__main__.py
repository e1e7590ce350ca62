"""Entry point: ``python -m ingress --data-dir DIR`` (started by the supervisor); ``run``
is also ``kubeloop serve ingress`` (the controller on a host of its own)."""

from __future__ import annotations

import asyncio
import sys

from kubeloop import logs
from kubeloop.config import ClusterConfig, process_command_line


def main(argv: list[str] | None = None) -> int:
    args, config = process_command_line(
        "ingress", "kubeloop's ingress controller (ingress-nginx).", argv)
    return run(config, None, args.verbose)


def run(config: ClusterConfig, address: str | None, verbose: bool) -> int:
    """The controller in this process until SIGTERM; ``address`` as ``serve`` takes it."""
    logs.setup("ingress", verbose)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # access log
    from ingress.server import serve

    logs.install_event_loop()
    return asyncio.run(serve(config, address))


if __name__ == "__main__":
    sys.exit(main())
