"""Figure: ``docker compose up -d`` (images already built) to the first 200 through the
Ingress from the host (target: under 10 s), median of 3 fresh projects. The clock runs
from starting ``docker compose up``; as soon as the kubeconfig appears a Deployment, its
Service and an Ingress are applied with kubectl, then curl asks the published ingress
port until nginx answers. Each project is taken down (down -v) untimed.
Needs a working docker compose (here: /work/shared/compose-env's prepare.sh and env.sh).
    python3 bench/compose_up.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.compose.project import (HTTP_PORT, Project, compose_problem,  # noqa: E402
                                   eventually, publish_address, web_app)

HOST = "web.bench.test"
WEB = web_app(HOST)


def one_run(folder: Path, run: int) -> dict[str, float]:
    """Seconds from ``up`` to: up returned, kubeconfig written, first 200 via the Ingress."""
    p = Project(f"kubeloop-bench-{run}", publish_address(), folder / f"run-{run}")
    began = time.perf_counter()
    try:
        p.up()
        marks = {"up returned": time.perf_counter() - began}
        p.wait_kubeconfig()
        marks["kubeconfig"] = time.perf_counter() - began
        p.kubectl("apply", "-f", "-", stdin=WEB)
        eventually(lambda: "Welcome to nginx!" in p.curl(
            f"http://{HOST}/", "--resolve", p.resolve(HOST, HTTP_PORT), timeout=2),
            60, "the first 200 through the Ingress", interval=0.02)
        marks["first curl"] = time.perf_counter() - began
        return marks
    finally:
        p.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    problem = compose_problem()
    if problem:
        raise SystemExit(f"docker compose does not work here: {problem}")
    with tempfile.TemporaryDirectory(prefix="kubeloop-bench-compose-") as tmp:
        Project("kubeloop-bench-build", "127.0.0.1", Path(tmp)).build()  # untimed
        runs = [one_run(Path(tmp), i) for i in range(args.runs)]
    for i, marks in enumerate(runs):
        print(f"run {i + 1}: " + ", ".join(f"{k} {v:.1f}s" for k, v in marks.items()))
    median = statistics.median(m["first curl"] for m in runs)
    print(f"docker compose up to the first 200 through the Ingress (median of {args.runs}): "
          f"{median:.1f} s (target < 10 s)")


if __name__ == "__main__":
    main()
