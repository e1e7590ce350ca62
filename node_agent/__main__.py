"""Entry point: ``python -m node_agent --data-dir DIR --node N`` (started by the launcher)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from kubeloop import logs
from kubeloop.config import ClusterConfig, ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node_agent",
                                     description="A kubeloop node agent (one per node).")
    parser.add_argument("--data-dir", required=True, help="cluster data dir (with cluster.json)")
    parser.add_argument("--node", type=int, required=True, help="node number, 1..nodes")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    try:
        config = ClusterConfig.load(args.data_dir)
        config.validate()
    except ConfigError as e:
        print(f"node_agent: {e}", file=sys.stderr)
        return 2
    if not 1 <= args.node <= 250:
        print(f"node_agent: --node {args.node} must be 1..250", file=sys.stderr)
        return 2
    logs.setup(config.node_name(args.node), args.verbose)
    from node_agent.agent import serve

    logs.install_event_loop()
    asyncio.run(serve(config, args.node))
    return 0


if __name__ == "__main__":
    sys.exit(main())
