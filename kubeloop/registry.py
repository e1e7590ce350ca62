"""Which clusters exist, where their data lives and whether they run.

One JSON file per cluster, ``$KUBELOOP_HOME/clusters/<name>.json`` ->
``{name, data_dir, slot, pid}``; ``pid`` is the cluster's supervisor. An entry whose pid is
gone (or now belongs to an unrelated process) is a stopped cluster, never an error, so a
crash or reboot leaves nothing to clean up by hand. Claiming a slot happens under an
exclusive lock on the clusters folder so two ``kubeloop up`` never pick the same addresses.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from kubeloop.config import MAX_CLUSTERS, ConfigError

DEFAULT_HOME = "~/.kubeloop"
DEFAULT_NAME = "kubeloop"
# Node names are "<cluster>-node-<n>" and must stay valid DNS labels (63 characters).
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?")


@dataclass(frozen=True)
class Entry:
    name: str
    data_dir: str
    slot: int
    pid: int = 0  # supervisor of the last start; 0 before the first


def home_from_env(environ: Mapping[str, str]) -> Path:
    """``$KUBELOOP_HOME``, else ``~/.kubeloop``."""
    return Path(os.path.expanduser(environ.get("KUBELOOP_HOME") or DEFAULT_HOME))


def validate_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"cluster name {name!r}: use 1-40 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )


def choose_slot(
    running: Collection[int], stopped: Collection[int], bindable: Callable[[int], bool]
) -> int | None:
    """The lowest slot a new cluster can take, or None when all are busy.

    Slots of running clusters are never taken; slots remembered by stopped clusters only
    when nothing else is left, so restarting those usually finds its addresses free.
    ``bindable`` is asked last, and only about candidates, because it touches sockets.
    """
    free = [s for s in range(MAX_CLUSTERS) if s not in running]
    preferred = [s for s in free if s not in stopped] + [s for s in free if s in stopped]
    return next((s for s in preferred if bindable(s)), None)


class Registry:
    """The clusters folder under a kubeloop home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.folder = home / "clusters"

    def default_data_dir(self, name: str) -> Path:
        return self.home / name

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the registry's exclusive lock (between processes) for the block."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def get(self, name: str) -> Entry | None:
        return self._read(self.folder / f"{name}.json")

    def entries(self) -> list[Entry]:
        if not self.folder.is_dir():
            return []
        found = (self._read(p) for p in sorted(self.folder.glob("*.json")))
        return [e for e in found if e is not None]

    def save(self, entry: Entry) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{entry.name}.json"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(entry), indent=2) + "\n")
        tmp.replace(path)

    def remove(self, name: str) -> None:
        (self.folder / f"{name}.json").unlink(missing_ok=True)

    @staticmethod
    def _read(path: Path) -> Entry | None:
        try:
            raw = json.loads(path.read_text())
            return Entry(
                name=str(raw["name"]),
                data_dir=str(raw["data_dir"]),
                slot=int(raw["slot"]),
                pid=int(raw.get("pid", 0)),
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{path} is damaged ({e}); delete it and run kubeloop up") from e


def is_running(entry: Entry) -> bool:
    return is_kubeloop_process(entry.pid)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the parenthesised command name, which may contain spaces.
    return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] not in (b"Z", b"X")


def is_kubeloop_process(pid: int) -> bool:
    """``pid`` is alive and runs kubeloop (a recycled pid of another program does not count)."""
    if not pid_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"kubeloop" in f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False


def address_bindable(ip: str, port: int) -> bool:
    """Whether a server could listen on ip:port now (with SO_REUSEADDR, as servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True
