"""The flow log's format and filters (kubeloop/flows.py)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from kubeloop import flows
from kubeloop.flows import Flow

A = Flow(1796529600.25, "n1", "TCP", "127.244.1.3:40000", "x/a", "127.244.2.4:80", "y/b",
         "DROPPED", "egress: not isolated; ingress: denied, isolated by deny")
B = Flow(1796529601.5, "n2", "UDP", "127.0.0.1:5353", "", "127.244.2.5:53", "z/c",
         "FORWARDED", "egress: not isolated; ingress: not isolated")


def test_render_like_hubble() -> None:
    assert A.render() == ("Dec 06 04:00:00.250: x/a (127.244.1.3:40000) -> y/b "
                          "(127.244.2.4:80) TCP DROPPED (egress: not isolated; ingress: "
                          "denied, isolated by deny)")
    assert B.render().startswith("Dec 06 04:00:01.500: 127.0.0.1:5353 -> z/c (")


@pytest.mark.parametrize("namespace, verdict, expected", [
    (None, None, [A, B]), ("x", None, [A]), ("y", None, [A]), ("z", None, [B]),
    (None, "dropped", [A]), (None, "FORWARDED", [B]), ("x", "forwarded", []),
    ("nope", None, []),
])
def test_select(namespace: str | None, verdict: str | None, expected: list[Flow]) -> None:
    assert flows.select([A, B], namespace, verdict) == expected


def test_write_read_and_damaged_lines(tmp_path: Path) -> None:
    log = flows.FlowLog(tmp_path / "flows-n1.jsonl", "n1")
    log.record("TCP", "127.244.1.3:1", "x/a", "127.244.2.4:80", "y/b", False, "why")
    log.close()
    with open(tmp_path / "flows-n2.jsonl", "w") as f:
        f.write(json.dumps(asdict(B)) + "\n" + '{"time": 1, "node"\n')  # cut mid-write
    got = flows.read(tmp_path)
    assert [f.node for f in got] == ["n2", "n1"]  # oldest first
    assert got[1].verdict == "DROPPED" and got[1].destination_pod == "y/b"
    assert flows.select(got, None, None, last=1) == got[1:]
