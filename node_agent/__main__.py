"""Entry point: ``python -m node_agent --data-dir DIR --node N`` (started by the launcher)."""

from __future__ import annotations

import asyncio
import sys

from kubeloop import logs
from kubeloop.config import process_command_line


def main(argv: list[str] | None = None) -> int:
    args, config = process_command_line("node_agent", "A kubeloop node agent (one per node).",
                                        argv, node=True)
    logs.setup(config.node_name(args.node), args.verbose)
    from node_agent.agent import serve

    logs.install_event_loop()
    asyncio.run(serve(config, args.node))
    return 0


if __name__ == "__main__":
    sys.exit(main())
