"""Figure: a whole pytest session with kubeloop's plugin running examples/test_web.py
(cluster ready, a namespace, a Deployment + Service + Ingress applied, requests served,
teardown): wall time of `python3 -m pytest`, target under 3 s. Median of --runs.
    python3 bench/plugin_session.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "test_web.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    seconds = []
    for _ in range(args.runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(EXAMPLE)], capture_output=True, text=True,
                              cwd=EXAMPLE.parent, timeout=120)
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"the example session failed:\n{done.stdout}{done.stderr}")
    print(f"pytest session with the plugin (examples/test_web.py: cluster up, namespace, "
          f"Deployment + Service + Ingress, requests, teardown): median "
          f"{statistics.median(seconds):.2f} s, min {min(seconds):.2f}, max {max(seconds):.2f} "
          f"({args.runs} runs; target < 3 s)")


if __name__ == "__main__":
    main()
