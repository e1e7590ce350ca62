"""Figure: `kubeloop up --nodes 3` until every node is Ready (target: under 2 s).

Runs the real command line in a fresh KUBELOOP_HOME several times and prints the median.
    python3 bench/startup.py [--runs 5] [--nodes 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from _common import summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    samples = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="kubeloop-bench-") as home:
            env = {**os.environ, "KUBELOOP_HOME": home}
            cmd = [sys.executable, "-m", "kubeloop"]
            started = time.perf_counter()
            subprocess.run([*cmd, "up", "--nodes", str(args.nodes), "--name", "bench"],
                           check=True, env=env, capture_output=True)
            samples.append(time.perf_counter() - started)
            subprocess.run([*cmd, "down", "--name", "bench"], check=True, env=env,
                           capture_output=True)
    print(summary(f"kubeloop up --nodes {args.nodes} to all nodes Ready", samples, "s", 1))


if __name__ == "__main__":
    main()
