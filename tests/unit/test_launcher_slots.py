"""Machine-wide slot claims with real flocks: two descriptors, two processes, a claim handed
to a child as the launcher hands it to the supervisor (which checks it has it), the record
in each lock file, and folders or files that kubeloop cannot use. Each test has its own
slots folder."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeloop import registry
from kubeloop.config import ConfigError
from kubeloop.registry import SlotOwner, Slots

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]
SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "slots"


@pytest.fixture
def slots(folder: Path) -> Iterator[Slots]:
    claims = Slots(folder)
    yield claims
    for slot in list(claims.held):
        claims.release(slot)


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[Any]]]:
    """Children started by a test; killed and reaped at the end."""
    procs: list[subprocess.Popen[Any]] = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


def test_a_claim_excludes_every_other_descriptor(folder: Path, slots: Slots) -> None:
    other = Slots(folder)
    assert slots.claim(3)
    assert not other.claim(3), "another open file of the same slot"
    assert not slots.claim(3), "this process again, for another cluster"
    assert other.claim(4), "other slots stay free"
    slots.release(3)
    slots.release(3)  # idempotent
    assert other.claim(3)
    assert sorted(other.held) == [3, 4]
    other.release(3)
    other.release(4)


def test_a_claim_excludes_other_processes_until_its_holder_dies(
    folder: Path, slots: Slots, spawn: list[subprocess.Popen[Any]]
) -> None:
    hold = ("import sys, time; from kubeloop import registry; "
            "print(registry.Slots(registry.Path(sys.argv[1])).claim(5), flush=True); "
            "time.sleep(60)")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", hold, str(folder)],
                              stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    spawn.append(holder)
    assert holder.stdout is not None and holder.stdout.readline() == "True\n"
    assert not slots.claim(5)
    holder.kill()  # no clean-up of its own: the kernel drops the lock
    holder.wait()
    assert slots.claim(5)


def test_a_handed_over_claim_lives_as_long_as_the_child(
    folder: Path, slots: Slots, spawn: list[subprocess.Popen[Any]]
) -> None:
    """As ``launch`` does: pass the locked descriptor to the supervisor, close ours."""
    assert slots.claim(7)
    child = subprocess.Popen(SLEEP, pass_fds=(slots.held[7],))
    spawn.append(child)
    slots.release(7)
    other = Slots(folder)
    assert not other.claim(7), "the child holds it now"
    child.kill()
    child.wait()
    assert other.claim(7)
    other.release(7)


def test_children_not_handed_the_claim_do_not_keep_it(
    folder: Path, slots: Slots, spawn: list[subprocess.Popen[Any]]
) -> None:
    """The supervisor's own children (apiserver, agents) must not outlive its claim."""
    assert slots.claim(8)
    spawn.append(subprocess.Popen(SLEEP))  # inherits nothing: descriptors are close-on-exec
    slots.release(8)
    assert Slots(folder).claim(8)


def test_a_supervisor_without_the_claim_refuses_to_start(
    folder: Path, slots: Slots, tmp_path: Path
) -> None:
    assert slots.claim(6)
    stranger = os.open(slots.path(6), os.O_RDONLY)  # the same file, but not the claim
    ready_r, ready_w = os.pipe()
    try:
        argv = [sys.executable, "-m", "kubeloop.supervisor", "--data-dir", str(tmp_path),
                "--ready-fd", str(ready_w), "--slot-fd", str(stranger)]  # fmt: skip
        proc = subprocess.run(argv, pass_fds=(ready_w, stranger), capture_output=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=20)
    finally:
        os.close(ready_w)
        os.close(stranger)
    with os.fdopen(ready_r) as ready:
        report = ready.read()
    assert proc.returncode == 1, proc.stderr
    assert report.startswith(
        f"error: supervisor: --slot-fd {stranger} holds no slot claim: [Errno 11] "), report


def test_the_record_names_the_last_claimer(folder: Path, slots: Slots) -> None:
    assert slots.owner(2) is None, "never claimed"
    first = SlotOwner("first-with-a-long-name", "/home/a", "/home/a/first", 12.5)
    assert slots.claim(2)
    slots.record(2, first)
    assert Slots(folder).owner(2) == first
    second = SlotOwner("b", "/h", "/h/b", 13.0)
    slots.record(2, second)  # shorter: nothing of the first may remain
    slots.release(2)
    assert Slots(folder).owner(2) == second, "kept after release: stopped clusters' memory"


@pytest.mark.parametrize(
    "content", ["", "{not json", '{"name": "a"}', "[1]", '{"name": "a", "home": "/h", '
                '"data_dir": "/d", "claimed_at": "soon"}'],
    ids=["empty", "not-json", "missing-fields", "not-an-object", "bad-time"],
)  # fmt: skip
def test_a_damaged_record_is_no_owner(folder: Path, slots: Slots, content: str) -> None:
    assert slots.claim(1)
    slots.release(1)
    slots.path(1).write_text(content)
    assert slots.owner(1) is None
    assert slots.claim(1), "still a usable lock"


def test_folder_and_files_are_shared_with_every_user(folder: Path, slots: Slots) -> None:
    old = os.umask(0o077)
    try:
        assert slots.claim(0)
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o1777
    assert stat.S_IMODE(slots.path(0).stat().st_mode) == 0o666


def _make_file(path: Path) -> None:
    path.write_text("")


def _make_link_to_folder(path: Path) -> None:
    target = path.with_name("elsewhere")
    target.mkdir()
    path.symlink_to(target)


@pytest.mark.parametrize(
    ("break_it", "why"),
    [
        (_make_file, "not a folder"),
        (_make_link_to_folder, "not a folder"),
    ],
    ids=["folder-is-a-file", "folder-is-a-symlink"],
)
def test_an_unusable_folder_is_explained(
    folder: Path, slots: Slots, break_it: Callable[[Path], None], why: str
) -> None:
    break_it(folder)
    with pytest.raises(ConfigError) as e:
        slots.claim(0)
    assert str(e.value).startswith(f"cannot use the slot lock {folder}: {why}; ")
    assert "fix or delete it" in str(e.value)


@pytest.mark.parametrize(
    ("plant", "why"),
    [
        (lambda p: p.symlink_to(p.with_name("victim")), "Too many levels of symbolic links"),
        (lambda p: os.mkfifo(p), "not a regular file"),
        (lambda p: p.mkdir(), "Is a directory"),
    ],
    ids=["symlink", "fifo", "folder"],
)
def test_a_planted_lock_file_is_refused_without_hanging(
    folder: Path, slots: Slots, plant: Callable[[Path], None], why: str
) -> None:
    folder.mkdir()
    plant(slots.path(4))
    with pytest.raises(ConfigError, match=f"cannot use the slot lock .*4.lock: {why}"):
        slots.claim(4)
    assert slots.owner(4) is None
    assert not slots.path(4).with_name("victim").exists(), "never follows a symlink"
    assert slots.held == {}


def _cluster_dir(path: Path, content: object) -> Path:
    path.mkdir()
    (path / "cluster.json").write_text(json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"slot": 3}, True),
        ({"slot": 4}, False),
        ({"name": "x"}, False),
        ([3], False),
        (None, False),
    ],
    ids=["same-slot", "moved-to-another-slot", "no-slot", "not-an-object", "gone"],
)
def test_keeps_slot(tmp_path: Path, content: object, expected: bool) -> None:
    data_dir = tmp_path / "c"
    if content is not None:
        _cluster_dir(data_dir, content)
    assert registry.keeps_slot(str(data_dir), 3) is expected


def test_remembered_slots_are_those_whose_cluster_is_still_there(
    tmp_path: Path, folder: Path, slots: Slots
) -> None:
    kept = _cluster_dir(tmp_path / "kept", {"slot": 1})
    moved = _cluster_dir(tmp_path / "moved", {"slot": 5})
    for slot, data_dir, at in [(1, kept, 10.0), (2, moved, 20.0), (3, tmp_path / "gone", 30.0)]:
        assert slots.claim(slot)
        slots.record(slot, SlotOwner(data_dir.name, str(tmp_path), str(data_dir), at))
        slots.release(slot)
    assert Slots(folder).remembered() == {1: 10.0}
