"""The compose end-to-end tests (marker ``compose``): they need a working ``docker
compose`` and are skipped without one, unless KUBELOOP_REQUIRE_COMPOSE=1 (CI), which makes
its absence a failure."""

from __future__ import annotations

import os

import pytest

from tests.compose.project import compose_problem

REQUIRE = "KUBELOOP_REQUIRE_COMPOSE"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "compose: runs compose.yaml with docker compose")


@pytest.fixture(scope="session")
def compose_available() -> None:
    problem = compose_problem()
    if problem is None:
        return
    advice = ("run /work/shared/compose-env/prepare.sh and `source "
              "/work/shared/compose-env/env.sh` (see its README), or install Docker")
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{REQUIRE}=1 but docker compose does not work: {problem}; {advice}",
                    pytrace=False)
    pytest.skip(f"docker compose does not work here ({problem}); {advice}")
