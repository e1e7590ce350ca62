"""FirstSync: a follower sees nothing until every kind it needs has its first list,
then the lists in its order, then everything as it comes."""

from __future__ import annotations

import asyncio

import pytest

from kubeloop.follow import FirstSync


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, list[str]]] = []

    def resync(self, kind: str, objects: list[dict]) -> None:
        self.calls.append(("resync", kind, [o["metadata"]["name"] for o in objects]))

    async def update(self, kind: str, obj: dict) -> None:
        self.calls.append(("update", kind, [obj["metadata"]["name"]]))

    def delete(self, kind: str, obj: dict) -> None:
        self.calls.append(("delete", kind, [obj["metadata"]["name"]]))


def obj(name: str) -> dict:
    return {"metadata": {"namespace": "ns", "name": name}}


Step = tuple[str, str, list[str]]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([("resync", "b", ["b1"]), ("resync", "a", ["a1"])],
         [("resync", "a", ["a1"]), ("resync", "b", ["b1"])]),
        ([("resync", "b", ["b1"]), ("update", "b", ["b2"]), ("delete", "b", ["b1"])],
         []),
        ([("resync", "b", ["b1"]), ("update", "b", ["b2"]), ("delete", "b", ["b1"]),
          ("resync", "a", [])],
         [("resync", "a", []), ("resync", "b", ["b2"])]),
        ([("resync", "a", []), ("resync", "b", []), ("update", "a", ["a1"]),
          ("delete", "b", ["b9"]), ("resync", "b", ["b3"])],
         [("resync", "a", []), ("resync", "b", []), ("update", "a", ["a1"]),
          ("delete", "b", ["b9"]), ("resync", "b", ["b3"])]),
        ([("resync", "a", ["a1"]), ("resync", "a", ["a2"]), ("resync", "b", [])],
         [("resync", "a", ["a2"]), ("resync", "b", [])]),
    ],
    ids=["lists-in-order", "held-until-all-listed", "changes-folded-into-the-list",
         "open-passes-through", "a-second-list-replaces-the-first"])
def test_first_sync(steps: list[Step], expected: list[Step]) -> None:
    recorder = Recorder()
    gate = FirstSync(recorder, ("a", "b"))

    async def feed() -> None:
        for op, kind, names in steps:
            if op == "resync":
                await gate.resync(kind, [obj(n) for n in names])
            elif op == "update":
                await gate.update(kind, obj(names[0]))
            else:
                await gate.delete(kind, obj(names[0]))

    asyncio.run(feed())
    assert recorder.calls == expected
