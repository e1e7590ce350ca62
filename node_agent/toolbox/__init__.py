"""The exec toolbox: the commands `kubectl exec POD -- CMD`, exec probes and command-style
containers (busybox `sleep 3600`, curlimages/curl `curl http://svc`) run inside a pod's
network identity. ``run`` looks argv[0] up in the command table (by its basename, so
/bin/sh and sh are the same) and runs it with the container's environment and an
in-memory filesystem (per exec, or shared by the container when the caller passes one);
commands reach each other (the shell, env, timeout, nc -e) through the same table. See
README.md for the commands and their flags."""

from __future__ import annotations

import logging
import posixpath
from datetime import datetime, timezone

from node_agent.containers import Identity, Streams
from node_agent.toolbox import curl, dnstools, files, netcat, shsession, system, wget
from node_agent.toolbox.fs import FileSystem
from node_agent.toolbox.process import Command, PipeClosed, Proc, base_env, invoke

log = logging.getLogger(__name__)

__all__ = ["run", "filesystem", "has_command", "COMMANDS"]


async def busybox(argv: list[str], proc: Proc) -> int:
    """`busybox APPLET ARGS...` runs the applet; alone it lists them."""
    if len(argv) < 2:
        names = sorted(COMMANDS)
        await proc.out("BusyBox v1.36.1 (kubeloop toolbox) multi-call binary.\n\n"
                       "Currently defined functions:\n\t" + ", ".join(names) + "\n")
        return 0
    command = find(argv[1])
    if command is None:
        return await proc.fail(f"{argv[1]}: applet not found", 127)
    return await invoke(command, argv[1:], proc)


COMMANDS: dict[str, Command] = {
    **shsession.COMMANDS, **files.COMMANDS, **system.COMMANDS, **curl.COMMANDS, **wget.COMMANDS,
    **dnstools.COMMANDS, **netcat.COMMANDS, "busybox": busybox,
}


def find(name: str) -> Command | None:
    return COMMANDS.get(posixpath.basename(name)) if name else None


def has_command(name: str) -> bool:
    """Whether ``name`` (a bare name or a path) is a command the toolbox can run."""
    return find(name) is not None


def not_found_message(name: str) -> str:
    """What kubectl shows when the runtime cannot start argv[0] of an exec."""
    reason = (f"stat {name}: no such file or directory" if "/" in name
              else "executable file not found in $PATH")
    return ("OCI runtime exec failed: exec failed: unable to start container process: "
            f'exec: "{name}": {reason}: unknown\n')


def filesystem(identity: Identity) -> FileSystem:
    """A fresh container filesystem. Pass the same one to every ``run`` of a container
    (main process, execs, exec probes) so that they see each other's files, as the
    liveness example `touch /tmp/healthy` + probe `cat /tmp/healthy` needs."""
    return FileSystem(identity, datetime.now(timezone.utc), COMMANDS)


async def run(argv: list[str], identity: Identity, streams: Streams, *,
              fs: FileSystem | None = None) -> int:
    """Runs ``argv`` as a process of the pod and returns its exit code. Never raises
    (cancellation aside): failures become a message on stderr and a non-zero code.
    Without ``fs`` the process gets a filesystem of its own, gone when it ends."""
    command = find(argv[0]) if argv else None
    if command is None:
        try:
            await streams.stderr(not_found_message(argv[0] if argv else "").encode())
        except Exception as e:  # the client may be gone; the exit code still tells
            log.debug("could not report a missing command: %r", e)
        return 127
    proc = Proc(identity, streams, base_env(identity, streams.tty),
                fs if fs is not None else filesystem(identity), find)
    try:
        return await invoke(command, argv, proc)
    except PipeClosed:  # the caller's streams were pipes and their reader went away
        return 141
