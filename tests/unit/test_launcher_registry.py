"""Registry: slot choice, cluster names, the home folder and entries on disk (slot
claims themselves are in test_launcher_slots.py)."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

import pytest

from kubeloop import registry
from kubeloop.config import ConfigError


@pytest.mark.parametrize(
    ("running", "remembered", "unavailable", "expected"),
    [
        (set(), {}, set(), 0),
        ({0}, {}, set(), 1),
        ({0, 1, 3}, {}, set(), 2),
        (set(), {0: 5.0}, set(), 1),
        ({1}, {0: 5.0, 2: 1.0}, set(), 3),
        (set(range(11)), {}, set(), 11),
        (set(range(10)), {10: 1.0, 11: 2.0}, set(), 10),
        (set(range(10)), {10: 9.0, 11: 2.0}, set(), 11),
        (set(range(10)), {10: 0.0, 11: 2.0}, set(), 10),
        (set(range(10)), {10: 2.0, 11: 2.0}, set(), 10),
        (set(), {}, {0, 1}, 2),
        ({2}, {0: 1.0}, {1, 3}, 4),
        (set(range(10)), {11: 1.0}, {10}, 11),
        (set(range(12)), {}, set(), None),
        (set(range(10)), {}, {10, 11}, None),
    ],
    ids=[
        "empty-takes-0",
        "skips-running",
        "fills-a-gap",
        "avoids-a-stopped-clusters-slot",
        "prefers-never-remembered",
        "last-slot",
        "remembered-when-nothing-else",
        "remembered-claimed-longest-ago-first",
        "unrecorded-stopped-counts-as-oldest",
        "tie-lowest-first",
        "skips-unavailable",
        "running-remembered-and-unavailable",
        "unavailable-then-remembered",
        "all-running",
        "rest-unavailable",
    ],
)
def test_choose_slot(
    running: Collection[int], remembered: dict[int, float], unavailable: set[int],
    expected: int | None,
) -> None:  # fmt: skip
    asked: list[int] = []

    def take(slot: int) -> bool:
        asked.append(slot)
        return slot not in unavailable

    assert registry.choose_slot(running, remembered, take) == expected
    assert not set(asked) & set(running), "never tries a running cluster's slot"
    if expected is not None:
        assert asked[-1] == expected, "stops at the first slot it gets"
    assert len(asked) == len(set(asked)), "tries each slot once"


@pytest.mark.parametrize(
    "name",
    ["kubeloop", "a", "t1234-1", "dev-2", "x" * 40],
    ids=["default", "one-letter", "test-name", "dashes", "forty-chars"],
)
def test_valid_names(name: str) -> None:
    registry.validate_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "Dev", "-dev", "dev-", "dev_1", "a.b", "x" * 41, "../etc"],
    ids=["empty", "upper", "leading-dash", "trailing-dash", "underscore", "dot", "too-long",
         "path"],  # fmt: skip
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(ConfigError, match="cluster name"):
        registry.validate_name(name)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, Path(os.path.expanduser("~/.kubeloop"))),
        ({"KUBELOOP_HOME": ""}, Path(os.path.expanduser("~/.kubeloop"))),
        ({"KUBELOOP_HOME": "/srv/kl"}, Path("/srv/kl")),
    ],
    ids=["unset", "empty", "set"],
)
def test_home_from_env(environ: dict[str, str], expected: Path) -> None:
    assert registry.home_from_env(environ) == expected


def test_entries_round_trip(tmp_path: Path) -> None:
    reg = registry.Registry(tmp_path)
    assert reg.entries() == []
    with reg.locked():
        reg.save(registry.Entry("b", "/d/b", 1, 42))
        reg.save(registry.Entry("a", "/d/a", 0))
    assert reg.entries() == [registry.Entry("a", "/d/a", 0, 0), registry.Entry("b", "/d/b", 1, 42)]
    assert reg.get("b") == registry.Entry("b", "/d/b", 1, 42)
    reg.remove("b")
    reg.remove("b")  # idempotent
    assert reg.get("b") is None


def test_damaged_entry_says_how_to_fix(tmp_path: Path) -> None:
    reg = registry.Registry(tmp_path)
    reg.folder.mkdir(parents=True)
    (reg.folder / "x.json").write_text("{not json")
    with pytest.raises(ConfigError, match="delete it"):
        reg.get("x")


@pytest.mark.parametrize(
    ("pid", "expected"),
    [(os.getpid(), True), (0, False), (-1, False), (2**22 + 12345, False)],
    ids=["self", "zero", "negative", "no-such-pid"],
)
def test_pid_alive(pid: int, expected: bool) -> None:
    assert registry.pid_alive(pid) is expected


def test_entry_of_a_dead_or_foreign_pid_is_not_running() -> None:
    assert not registry.is_running(registry.Entry("a", "/d", 0, 0))
    # pid 1 is alive but is not kubeloop: a recycled pid must not count as running.
    assert not registry.is_running(registry.Entry("a", "/d", 0, 1))
