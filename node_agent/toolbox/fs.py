"""The filesystem a toolbox process sees: the files kubelet mounts into every container
(/etc/resolv.conf, /etc/hosts, /etc/hostname), a busybox-like skeleton of directories and
account files, and a per-exec scratch area where commands write (curl -o, wget -O, shell
redirections). Everything lives in memory, bounded; nothing touches the node's disk."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from node_agent.containers import Identity

LIMIT = 32 * 1024 * 1024  # bytes of scratch data per exec

ENOENT = "No such file or directory"
EISDIR = "Is a directory"
ENOTDIR = "Not a directory"
ENOSPC = "No space left on device"
EEXIST = "File exists"
ENOTEMPTY = "Directory not empty"

DIRECTORIES = ("/", "/bin", "/dev", "/etc", "/home", "/proc", "/root", "/sys", "/tmp", "/usr",
               "/usr/bin", "/usr/sbin", "/var", "/var/spool", "/var/www")
PASSWD = ("root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
          "bin:x:2:2:bin:/bin:/bin/false\nsys:x:3:3:sys:/dev:/bin/false\n"
          "nobody:x:65534:65534:nobody:/home:/bin/false\n")
GROUP = ("root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nwheel:x:10:root\n"
         "nobody:x:65534:\n")


class FsError(Exception):
    """A failed file operation; ``str()`` is the strerror text."""

    def __init__(self, path: str, strerror: str) -> None:
        super().__init__(strerror)
        self.path = path
        self.strerror = strerror


@dataclass
class Node:
    data: bytes | None  # None for a directory
    mtime: datetime

    @property
    def is_dir(self) -> bool:
        return self.data is None


class FileSystem:
    """A tiny tree keyed by absolute path. /dev/null swallows writes and reads empty."""

    def __init__(self, identity: Identity, now: datetime, commands: Iterable[str] = ()) -> None:
        self._nodes: dict[str, Node] = {d: Node(None, now) for d in DIRECTORIES}
        files = {"/etc/resolv.conf": identity.resolver.render(),
                 "/etc/hosts": identity.etc_hosts(),
                 "/etc/hostname": identity.hostname + "\n",
                 "/etc/passwd": PASSWD, "/etc/group": GROUP, "/dev/null": ""}
        for path, text in files.items():
            self._nodes[path] = Node(text.encode(), now)
        for name in commands:
            self._nodes[f"/bin/{name}"] = Node(b"", now)
        self._used = 0

    @staticmethod
    def absolute(path: str, cwd: str = "/") -> str:
        joined = posixpath.normpath(posixpath.join(cwd, path or "."))
        return "/" + joined.lstrip("/")  # normpath keeps a leading "//"

    def stat(self, path: str, cwd: str = "/") -> Node:
        full = self.absolute(path, cwd)
        node = self._nodes.get(full)
        if node is None:
            parent = self._nodes.get(posixpath.dirname(full))
            raise FsError(path, ENOTDIR if parent is not None and not parent.is_dir else ENOENT)
        return node

    def exists(self, path: str, cwd: str = "/") -> bool:
        return self.absolute(path, cwd) in self._nodes

    def is_dir(self, path: str, cwd: str = "/") -> bool:
        node = self._nodes.get(self.absolute(path, cwd))
        return node is not None and node.is_dir

    def read(self, path: str, cwd: str = "/") -> bytes:
        node = self.stat(path, cwd)
        if node.data is None:
            raise FsError(path, EISDIR)
        return node.data

    def write(self, path: str, data: bytes, now: datetime, cwd: str = "/",
              append: bool = False) -> None:
        full = self.absolute(path, cwd)
        if full == "/dev/null":
            return
        parent = self._nodes.get(posixpath.dirname(full))
        if parent is None or not parent.is_dir:
            raise FsError(path, ENOENT if parent is None else ENOTDIR)
        old = self._nodes.get(full)
        if old is not None and old.data is None:
            raise FsError(path, EISDIR)
        before = old.data if old is not None and old.data is not None else b""
        new = before + data if append else data
        if self._used - len(before) + len(new) > LIMIT:
            raise FsError(path, ENOSPC)
        self._used += len(new) - len(before)
        self._nodes[full] = Node(new, now)

    def mkdir(self, path: str, now: datetime, cwd: str = "/") -> None:
        full = self.absolute(path, cwd)
        if full in self._nodes:
            raise FsError(path, EEXIST)
        parent = self._nodes.get(posixpath.dirname(full))
        if parent is None or not parent.is_dir:
            raise FsError(path, ENOENT if parent is None else ENOTDIR)
        self._nodes[full] = Node(None, now)

    def remove(self, path: str, cwd: str = "/") -> None:
        full = self.absolute(path, cwd)
        node = self.stat(path, cwd)
        if node.is_dir and self.listdir(path, cwd):
            raise FsError(path, ENOTEMPTY)
        if node.data:
            self._used -= len(node.data)
        del self._nodes[full]

    def listdir(self, path: str, cwd: str = "/") -> list[str]:
        full = self.absolute(path, cwd)
        node = self.stat(path, cwd)
        if not node.is_dir:
            raise FsError(path, ENOTDIR)
        return sorted(posixpath.basename(p) for p in self._nodes
                      if p != "/" and posixpath.dirname(p) == full)
