"""Entry point: ``python -m apiserver --data-dir DIR`` (started by the kubeloop launcher)."""

from __future__ import annotations

import asyncio
import sys

from kubeloop import logs
from kubeloop.config import process_command_line


def main(argv: list[str] | None = None) -> int:
    args, config = process_command_line("apiserver", "The kubeloop apiserver process.", argv)
    logs.setup("apiserver", args.verbose)
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
