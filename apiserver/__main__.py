"""Entry point: ``python -m apiserver --data-dir DIR`` (started by the kubeloop launcher)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from kubeloop import logs
from kubeloop.config import ClusterConfig, ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apiserver",
                                     description="The kubeloop apiserver process.")
    parser.add_argument("--data-dir", required=True, help="cluster data dir (with cluster.json)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logs.setup("apiserver", args.verbose)
    try:
        config = ClusterConfig.load(args.data_dir)
        config.validate()
    except ConfigError as e:
        print(f"apiserver: {e}", file=sys.stderr)
        return 2
    from apiserver.server import serve  # heavy imports only once the config is good

    logs.install_event_loop()
    try:
        asyncio.run(serve(config))
    except OSError as e:
        print(f"apiserver: cannot listen: {e}. Is another cluster using "
              f"{config.network.apiserver_ip}? Try `kubeloop status`.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
