"""The remote-command channel protocol of exec and attach over WebSocket
(``v5.channel.k8s.io`` / ``v4.channel.k8s.io``): every binary message is one channel byte
and its payload; the error channel carries a metav1.Status at the end; v5 adds a close
signal (255, channel) for stdin. Also the kubelet's exec/attach query parameters.

Pure: message bytes and query values in, decisions out."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
PROTOCOLS = (V5, V4)  # preference order; kubectl v1.32 offers only v5
NON_ZERO_EXIT = "NonZeroExitCode"
EXIT_CODE_CAUSE = "ExitCode"


class Channel(IntEnum):
    STDIN = 0
    STDOUT = 1
    STDERR = 2
    ERROR = 3
    RESIZE = 4
    CLOSE = 255  # v5: "no more data on the channel in the next byte"


@dataclass(frozen=True)
class Message:
    channel: int
    data: bytes


@dataclass(frozen=True)
class CloseSignal:
    channel: int


def encode(channel: int, data: bytes = b"") -> bytes:
    return bytes((channel,)) + data


def decode(message: bytes, protocol: str | None) -> Message | CloseSignal | None:
    """One client message; None for an empty one. The close signal only exists in v5:
    earlier protocols have no channel 255, so such a message is ignored."""
    if not message:
        return None
    if message[0] == Channel.CLOSE:
        if protocol == V5 and len(message) == 2:
            return CloseSignal(message[1])
        return None
    return Message(message[0], message[1:])


def success() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int, argv: Sequence[str]) -> dict[str, Any]:
    """What the error channel says when the command ended with ``code``: Success, or the
    NonZeroExitCode Status from which kubectl takes its own exit code."""
    if code == 0:
        return success()
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command "
                   f"[{' '.join(argv)}], exit code {code}",
        "reason": NON_ZERO_EXIT,
        "details": {"causes": [{"reason": EXIT_CODE_CAUSE, "message": str(code)}]},
    }


def internal_error(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
            "reason": "InternalError", "details": {"causes": [{"message": message}]},
            "code": 500}


def status_bytes(status: Mapping[str, Any]) -> bytes:
    return json.dumps(status, separators=(",", ":")).encode()


@dataclass(frozen=True)
class TerminalSize:
    width: int
    height: int


def parse_resize(data: bytes) -> TerminalSize | None:
    """A resize message ({"Width": 80, "Height": 24}); None when it is not one."""
    try:
        size = json.loads(data)
        width, height = int(size["Width"]), int(size["Height"])
    except (ValueError, TypeError, KeyError):
        return None
    return TerminalSize(width, height) if width >= 0 and height >= 0 else None


@dataclass(frozen=True)
class StreamOptions:
    """Which streams a kubelet exec/attach request opens, from its query parameters
    (``input``, ``output``, ``error``, ``tty`` set to 1, as the apiserver forwards them)."""

    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool
    command: tuple[str, ...] = ()


def _on(query: Mapping[str, Sequence[str]], name: str) -> bool:
    values = query.get(name) or []
    return bool(values) and values[-1].lower() in ("1", "true")


def parse_stream_options(query: Mapping[str, Sequence[str]], exec_: bool) -> StreamOptions:
    """ValueError with the kubelet's message when the request cannot be served."""
    tty = _on(query, "tty")
    opts = StreamOptions(stdin=_on(query, "input"), stdout=_on(query, "output"),
                         stderr=_on(query, "error") and not tty,  # a TTY merges stderr
                         tty=tty, command=tuple(query.get("command") or ()))
    if not (opts.stdin or opts.stdout or opts.stderr):
        raise ValueError("you must specify at least 1 of stdin, stdout, stderr")
    if exec_ and not opts.command:
        raise ValueError("you must specify at least 1 command")
    return opts


def first_channel(opts: StreamOptions) -> Channel:
    """Where the kubelet writes an empty message once the streams are ready: the
    lowest writable channel, which tells the client the connection is established."""
    if opts.stdout:
        return Channel.STDOUT
    if opts.stderr:
        return Channel.STDERR
    return Channel.ERROR
