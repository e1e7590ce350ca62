"""Which clusters exist, where their data lives and whether they run; who holds which slot.

One JSON file per cluster, ``$KUBELOOP_HOME/clusters/<name>.json`` ->
``{name, data_dir, slot, pid}``; ``pid`` is the cluster's supervisor. An entry whose pid is
gone (or now belongs to an unrelated process) is a stopped cluster, never an error, so a
crash or reboot leaves nothing to clean up by hand. Starts in one home take turns under an
exclusive lock on its clusters folder.

Addresses belong to the machine, not to a home, so slots are claimed machine-wide
(``Slots``): one lock file per slot in ``/tmp/kubeloop-slots``, exclusively flocked by the
launcher while it chooses and then by the cluster's supervisor for as long as it lives. The
kernel drops the lock when the last holder exits, however it exits, so nothing is left to
clean up. Each file also records the cluster that claimed it last (``SlotOwner``): it
names the holder in errors, and lets new clusters leave stopped clusters' slots alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import stat
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from kubeloop.config import MAX_CLUSTERS, ConfigError

DEFAULT_HOME = "~/.kubeloop"
DEFAULT_NAME = "kubeloop"
# Machine-wide, whatever $TMPDIR or $KUBELOOP_HOME say: so are the addresses it guards.
SLOTS_DIR = Path("/tmp/kubeloop-slots")
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
    running: Collection[int], remembered: Mapping[int, float], take: Callable[[int], bool]
) -> int | None:
    """The slot a new cluster gets, or None when all are busy.

    Slots of this home's running clusters are never tried. Slots that stopped clusters
    would start on again (``remembered``: slot -> when they claimed it) come last, the one
    claimed longest ago first, so a cluster just stopped finds its addresses free when it
    starts again even while other clusters come and go. ``take`` claims a slot if no
    cluster holds it and its addresses are free; it is asked in that order, until one
    succeeds, and is the only part that touches locks and sockets.
    """
    free = [s for s in range(MAX_CLUSTERS) if s not in running]
    order = sorted(free, key=lambda s: (s in remembered, remembered.get(s, 0.0), s))
    return next((s for s in order if take(s)), None)


class Registry:
    """The clusters folder under a kubeloop home, and the machine-wide slot claims."""

    def __init__(self, home: Path, slots_dir: Path = SLOTS_DIR) -> None:
        self.home = home.absolute()  # recorded in slot files, read from anywhere
        self.folder = self.home / "clusters"
        self.slots = Slots(slots_dir)

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


@dataclass(frozen=True)
class SlotOwner:
    """What a slot's lock file records: the cluster that claimed the slot last."""

    name: str
    home: str  # its KUBELOOP_HOME, so an error can say how to reach it
    data_dir: str
    claimed_at: float  # seconds since the epoch


class Slots:
    """Machine-wide slot claims: ``<folder>/<slot>.lock``, one exclusive flock each.

    The lock, not the file, is the claim: files stay (never deleted, so every claimer
    locks the same inode), and the folder is sticky and world-writable (1777, like /tmp)
    with files every user can read and write (666), so clusters of different users
    exclude each other too. ``held`` maps the slots this process claimed to their locked
    descriptors; a descriptor handed to a child keeps the claim alive in the child.
    """

    def __init__(self, folder: Path = SLOTS_DIR) -> None:
        self.folder = folder
        self.held: dict[int, int] = {}

    def path(self, slot: int) -> Path:
        return self.folder / f"{slot}.lock"

    def claim(self, slot: int) -> bool:
        """Lock ``slot`` without waiting; False if anyone holds it (this process too)."""
        fd = self._open(slot)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.held[slot] = fd
        return True

    def record(self, slot: int, owner: SlotOwner) -> None:
        """Write ``owner`` into the lock file of a slot this process holds."""
        fd = self.held[slot]
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(asdict(owner)) + "\n").encode(), 0)

    def release(self, slot: int) -> None:
        """Close this process's descriptor; the claim ends once no other process has it."""
        fd = self.held.pop(slot, None)
        if fd is not None:
            os.close(fd)

    def owner(self, slot: int) -> SlotOwner | None:
        """The last claimer of ``slot``, if its file says; only a hint, so never an error."""
        try:
            fd = os.open(self.path(slot), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None  # never claimed, or not a file kubeloop made
        try:
            raw = json.loads(os.read(fd, 64 * 1024))
            return SlotOwner(
                name=str(raw["name"]),
                home=str(raw["home"]),
                data_dir=str(raw["data_dir"]),
                claimed_at=float(raw["claimed_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None  # being rewritten right now, or damaged
        finally:
            os.close(fd)

    def remembered(self) -> dict[int, float]:
        """Slots whose last claimer's data dir still holds it -> when it claimed it."""
        owners = ((slot, self.owner(slot)) for slot in range(MAX_CLUSTERS))
        return {
            slot: owner.claimed_at
            for slot, owner in owners
            if owner is not None and keeps_slot(owner.data_dir, slot)
        }

    def _open(self, slot: int) -> int:
        path = self.path(slot)
        try:
            self._make_folder()
            fd = _open_or_create(path)
        except OSError as e:
            raise self._unusable(path, e.strerror or str(e)) from e
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise self._unusable(path, "not a regular file")
        return fd

    def _make_folder(self) -> None:
        try:
            os.mkdir(self.folder, 0o1777)
            os.chmod(self.folder, 0o1777)  # mkdir applies the umask
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(self.folder).st_mode):  # a symlink does not count
                raise self._unusable(self.folder, "not a folder") from None

    def _unusable(self, path: Path, why: str) -> ConfigError:
        return ConfigError(
            f"cannot use the slot lock {path}: {why}; kubeloop needs {self.folder} to be a "
            "folder (mode 1777) of regular files every user can read and write (mode 666): "
            "fix or delete it"
        )


def _open_or_create(path: Path) -> int:
    # No symlink or FIFO planted in the shared folder may redirect or block us.
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK
    while True:
        try:
            return os.open(path, flags)
        except FileNotFoundError:
            pass
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue  # another claimer created it meanwhile: open theirs
        os.fchmod(fd, 0o666)  # past the umask: other users lock it too
        return fd


def keeps_slot(data_dir: str, slot: int) -> bool:
    """Whether ``data_dir`` holds a cluster that would start on ``slot`` again."""
    try:
        raw = json.loads((Path(data_dir) / "cluster.json").read_text())
    except PermissionError:
        return True  # another user's cluster: it is there, we just may not read it
    except (OSError, ValueError):
        return False  # gone (purged, a deleted temp dir) or damaged
    return isinstance(raw, dict) and raw.get("slot") == slot


def is_running(entry: Entry) -> bool:
    return is_kubeloop_process(entry.pid)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            line = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the parenthesised command name, which may contain spaces.
    return line[line.rindex(b")") + 2 : line.rindex(b")") + 3] not in (b"Z", b"X")


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
