"""Entry point: ``python -m ingress --data-dir DIR`` (started by the supervisor); ``run``
is also ``kubeloop serve ingress`` (the controller on a host of its own)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from kubeloop import logs
from kubeloop.config import ClusterConfig, ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingress",
                                     description="kubeloop's ingress controller (ingress-nginx).")
    parser.add_argument("--data-dir", required=True, help="cluster data dir (with cluster.json)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    try:
        config = ClusterConfig.load(args.data_dir)
        config.validate()
    except ConfigError as e:
        print(f"ingress: {e}", file=sys.stderr)
        return 2
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
