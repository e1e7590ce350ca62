"""`kubeloop up --policy-deny drop|reject`: parsed, validated, kept in cluster.json across
restarts unless given again, and "drop" for data dirs written before the option."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeloop import cli, cluster, registry
from kubeloop.cluster import Request
from kubeloop.config import ClusterConfig, ConfigError


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[registry.Registry]:
    reg = registry.Registry(tmp_path / "home", tmp_path / "slots")
    yield reg
    for slot in list(reg.slots.held):
        reg.slots.release(slot)


def started(reg: registry.Registry, request: Request) -> ClusterConfig:
    config = cluster.prepare(reg, request)
    reg.slots.release(config.slot)
    return config


@pytest.mark.parametrize("argv, expected", [
    (["up"], None),
    (["up", "--policy-deny", "drop"], "drop"),
    (["up", "--policy-deny", "reject"], "reject"),
], ids=["unset", "drop", "reject"])
def test_parser(argv: list[str], expected: str | None) -> None:
    assert cli.build_parser().parse_args(argv).policy_deny == expected


def test_parser_refuses_other_actions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["up", "--policy-deny", "ignore"])
    assert "invalid choice: 'ignore'" in capsys.readouterr().err


def test_validate_names_the_flag() -> None:
    with pytest.raises(ConfigError, match="--policy-deny 'log': choose drop or reject"):
        ClusterConfig(data_dir="/tmp/x", policy_deny="log").validate()


def test_kept_across_restarts(reg: registry.Registry) -> None:
    assert started(reg, Request(name="a")).policy_deny == "drop"
    assert started(reg, Request(name="a", policy_deny="reject")).policy_deny == "reject"
    again = started(reg, Request(name="a"))
    assert again.policy_deny == "reject" == ClusterConfig.load(again.root).policy_deny
    assert started(reg, Request(name="a", policy_deny="drop")).policy_deny == "drop"


def test_data_dir_from_before_the_option(reg: registry.Registry) -> None:
    config = started(reg, Request(name="old", policy_deny="reject"))
    path = config.root / "cluster.json"
    raw = json.loads(path.read_text())
    del raw["policy_deny"]
    path.write_text(json.dumps(raw))
    assert ClusterConfig.load(config.root).policy_deny == "drop"
