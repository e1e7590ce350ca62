"""The exec/attach channel protocol: message framing, v5's close signal, the Status on
the error channel (exit codes as kubectl reads them), resize messages, and the kubelet's
stream options."""

from __future__ import annotations

import json

import pytest

from node_agent import channels
from node_agent.channels import Channel, CloseSignal, Message, StreamOptions


@pytest.mark.parametrize(("channel", "data", "wire"), [
    (Channel.STDOUT, b"hi\n", b"\x01hi\n"),
    (Channel.STDERR, b"oops", b"\x02oops"),
    (Channel.ERROR, b"", b"\x03"),
    (Channel.STDIN, b"\x00\xff", b"\x00\x00\xff"),
], ids=["stdout", "stderr", "empty-error-ready", "binary-stdin"])
def test_encode(channel: int, data: bytes, wire: bytes) -> None:
    assert channels.encode(channel, data) == wire


@pytest.mark.parametrize(("wire", "protocol", "decoded"), [
    (b"\x00echo hi\n", channels.V5, Message(0, b"echo hi\n")),
    (b"\x04{\"Width\":80,\"Height\":24}", channels.V5,
     Message(4, b'{"Width":80,"Height":24}')),
    (b"\xff\x00", channels.V5, CloseSignal(0)),
    (b"\xff\x00", channels.V4, None),
    (b"\xff\x00\x01", channels.V5, None),
    (b"", channels.V5, None),
    (b"\x00", channels.V4, Message(0, b"")),
], ids=["stdin", "resize", "v5-close-stdin", "v4-has-no-close", "close-wrong-length",
        "empty", "stdin-empty"])
def test_decode(wire: bytes, protocol: str, decoded: object) -> None:
    assert channels.decode(wire, protocol) == decoded


@pytest.mark.parametrize(("code", "argv", "status"), [
    (0, ["true"], {"metadata": {}, "status": "Success"}),
    (3, ["sh", "-c", "exit 3"], {
        "metadata": {}, "status": "Failure",
        "message": "command terminated with non-zero exit code: error executing command "
                   "[sh -c exit 3], exit code 3",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}),
    (127, ["nope"], {
        "metadata": {}, "status": "Failure",
        "message": "command terminated with non-zero exit code: error executing command "
                   "[nope], exit code 127",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "127"}]}}),
], ids=["success", "exit-3", "not-found-127"])
def test_exit_status(code: int, argv: list[str], status: dict) -> None:
    assert channels.exit_status(code, argv) == status
    assert json.loads(channels.status_bytes(status)) == status


def test_internal_error_status() -> None:
    status = channels.internal_error("error executing command in container: boom")
    assert (status["status"], status["reason"], status["code"]) == ("Failure", "InternalError",
                                                                     500)
    assert status["message"] == \
        "Internal error occurred: error executing command in container: boom"


@pytest.mark.parametrize(("data", "size"), [
    (b'{"Width":80,"Height":24}', channels.TerminalSize(80, 24)),
    (b'{"Width":0,"Height":0}', channels.TerminalSize(0, 0)),
    (b'{"Width":80}', None),
    (b'{"Width":"x","Height":1}', None),
    (b"not json", None),
    (b"[]", None),
], ids=["80x24", "zero", "no-height", "not-a-number", "not-json", "not-an-object"])
def test_parse_resize(data: bytes, size: channels.TerminalSize | None) -> None:
    assert channels.parse_resize(data) == size


@pytest.mark.parametrize(("query", "exec_", "expected"), [
    ({"command": ["ls", "-l"], "output": ["1"], "error": ["1"]}, True,
     StreamOptions(False, True, True, False, ("ls", "-l"))),
    ({"command": ["sh"], "input": ["1"], "output": ["1"], "tty": ["1"], "error": ["1"]}, True,
     StreamOptions(True, True, False, True, ("sh",))),
    ({"input": ["true"], "output": ["true"]}, False, StreamOptions(True, True, False, False)),
    ({"output": ["0"], "error": ["1"], "command": ["x"]}, True,
     StreamOptions(False, False, True, False, ("x",))),
    ({"command": ["ls"]}, True, "at least 1 of stdin, stdout, stderr"),
    ({"output": ["1"]}, True, "at least 1 command"),
], ids=["exec-out-err", "exec-tty-drops-stderr", "attach", "only-stderr", "no-streams",
        "no-command"])
def test_parse_stream_options(query: dict[str, list[str]], exec_: bool,
                              expected: StreamOptions | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            channels.parse_stream_options(query, exec_)
    else:
        assert channels.parse_stream_options(query, exec_) == expected


@pytest.mark.parametrize(("opts", "channel"), [
    (StreamOptions(True, True, True, False), Channel.STDOUT),
    (StreamOptions(True, False, True, False), Channel.STDERR),
    (StreamOptions(True, False, False, False), Channel.ERROR),
], ids=["stdout", "stderr-only", "stdin-only"])
def test_first_channel(opts: StreamOptions, channel: Channel) -> None:
    assert channels.first_channel(opts) == channel
