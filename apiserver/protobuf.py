"""Decoding of Kubernetes protobuf request bodies into JSON-shaped dicts.

kubectl's typed clients send ``application/vnd.kubernetes.protobuf``: the magic prefix
``k8s\\x00``, then a runtime.Unknown envelope whose ``typeMeta`` names the kind and whose
``raw`` is the object's message. decode() reads the envelope, looks the kind up in
proto_schema.KINDS and walks the wire fields with the proto_schema tables, producing
the dict Go's JSON encoding gives for the object Go's protobuf decoding yields: the
same dict a JSON client would have sent. Unknown field numbers are skipped, as Go does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from apiserver import proto_schema
from apiserver.proto_schema import Field

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"

VARINT, FIXED64, LEN, START_GROUP, END_GROUP, FIXED32 = range(6)
_WIRE_NAMES = {VARINT: "varint", FIXED64: "fixed64", LEN: "length-delimited",
               START_GROUP: "start-group", END_GROUP: "end-group", FIXED32: "fixed32"}
_FIXED_SIZES = {FIXED64: 8, FIXED32: 4}
_INT_BITS = {"int32": 32, "int64": 64}
# Go zero values of the scalar kinds that appear as plain (non-pointer) fields.
_ZERO: dict[str, Any] = {"string": "", "int32": 0, "int64": 0, "bool": False}
_EPOCH = datetime(1970, 1, 1)

# (wire type, value): an int for varint and fixed fields, bytes for length-delimited.
Occurrence = tuple[int, int | bytes]


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf object this server can read."""


def decode(body: bytes) -> dict[str, Any]:
    """Decode a ``k8s\\x00``-prefixed protobuf body into its JSON-shaped object dict."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise ProtobufError(f"protobuf body must be bytes, not {type(body).__name__}")
    body = bytes(body)
    if not body.startswith(MAGIC):
        raise ProtobufError(
            f"not a Kubernetes protobuf body: expected prefix b'k8s\\x00', got {body[:4]!r}")
    envelope = _by_number(_scan(body[len(MAGIC):], "envelope"))
    type_meta = _by_number(_scan(_bytes(envelope, 1, "envelope.typeMeta"), "envelope.typeMeta"))
    api_version = _text(type_meta, 1, "envelope.typeMeta.apiVersion")
    kind = _text(type_meta, 2, "envelope.typeMeta.kind")
    encoding = _text(envelope, 3, "envelope.contentEncoding")
    if encoding:
        raise ProtobufError(f"envelope: unsupported contentEncoding {encoding!r}")
    content_type = _text(envelope, 4, "envelope.contentType")
    if content_type not in ("", PROTOBUF):
        raise ProtobufError(f"envelope: raw object has contentType {content_type!r}, "
                            f"expected {PROTOBUF!r}")
    if not kind:
        raise ProtobufError("envelope: typeMeta has no kind")
    message = (proto_schema.KINDS.get((api_version, kind))
               or proto_schema.ANY_VERSION_KINDS.get(kind))
    if message is None:
        raise ProtobufError(f"no protobuf schema for kind {kind!r} in apiVersion {api_version!r}")
    obj = _message(_bytes(envelope, 2, "envelope.raw"), message, kind)
    return {"kind": kind, "apiVersion": api_version, **obj}


def _scan(buf: bytes, path: str) -> list[tuple[int, int, int | bytes]]:
    """Split one message into (field number, wire type, value) in wire order."""
    fields: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _varint(buf, pos, path)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError(f"{path}: invalid field number 0 at byte {start}")
        value: int | bytes
        if wire == VARINT:
            value, pos = _varint(buf, pos, path)
        elif wire == LEN:
            size, pos = _varint(buf, pos, path)
            if size > len(buf) - pos:
                raise ProtobufError(f"{path}: field {number} at byte {start} is {size} bytes "
                                    f"long but only {len(buf) - pos} remain")
            value, pos = buf[pos:pos + size], pos + size
        elif wire in _FIXED_SIZES:
            size = _FIXED_SIZES[wire]
            if size > len(buf) - pos:
                raise ProtobufError(f"{path}: truncated {_WIRE_NAMES[wire]} field {number} "
                                    f"at byte {start}")
            value, pos = int.from_bytes(buf[pos:pos + size], "little"), pos + size
        else:
            # Groups are proto1 leftovers that no Kubernetes message uses.
            raise ProtobufError(f"{path}: unsupported wire type {wire} "
                                f"({_WIRE_NAMES.get(wire, 'invalid')}) for field {number} "
                                f"at byte {start}")
        fields.append((number, wire, value))
    return fields


def _varint(buf: bytes, pos: int, path: str) -> tuple[int, int]:
    start, result, shift = pos, 0, 0
    while True:
        if pos >= len(buf):
            raise ProtobufError(f"{path}: truncated varint at byte {start}")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFF_FFFF_FFFF_FFFF, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError(f"{path}: varint at byte {start} is longer than 10 bytes")


def _by_number(fields: list[tuple[int, int, int | bytes]]) -> dict[int, list[Occurrence]]:
    grouped: dict[int, list[Occurrence]] = {}
    for number, wire, value in fields:
        grouped.setdefault(number, []).append((wire, value))
    return grouped


def _bytes(fields: dict[int, list[Occurrence]], number: int, path: str) -> bytes:
    return b"".join(_payload(occurrence, path) for occurrence in fields.get(number, []))


def _text(fields: dict[int, list[Occurrence]], number: int, path: str) -> str:
    occurrences = fields.get(number)
    return _scalar(occurrences[-1], "string", path) if occurrences else ""


def _message(buf: bytes, name: str, path: str) -> Any:
    """Decode one message; an empty ``buf`` gives the Go zero value's JSON form."""
    table = proto_schema.MESSAGES.get(name) or proto_schema.SPECIAL.get(name)
    if table is None:
        raise ProtobufError(f"{path}: no protobuf schema for message {name}")
    wire = _by_number(_scan(buf, path))
    out: dict[str, Any] = {}
    for number, field in table.items():
        _field(wire.get(number, []), field, path, out)
    special = _SPECIAL.get(name)
    return special(out, buf, path) if special else out


def _field(occurrences: list[Occurrence], field: Field, path: str, out: dict[str, Any]) -> None:
    """Set ``out[json_name]`` as Go's JSON encoding would, or leave it out."""
    json_name, kind, message, flags = field
    where = f"{path}.{json_name}" if json_name else path
    if "r" in flags or "m" in flags:
        if occurrences:
            out[json_name] = (_list(occurrences, kind, message, where) if "r" in flags
                              else _map(occurrences, kind, message, where))
        elif "o" not in flags:
            out[json_name] = None
        return
    if not occurrences and "p" in flags:
        if "o" not in flags:
            out[json_name] = None
        return
    if kind == "message":
        assert message is not None
        # Repeated occurrences of one embedded message merge, as protobuf specifies.
        value = _message(b"".join(_payload(o, where) for o in occurrences), message, where)
        if "i" in flags:
            out.update(value)
            return
    else:
        value = _scalar(occurrences[-1], kind, where) if occurrences else _ZERO[kind]
        if "o" in flags and "p" not in flags and value == _ZERO[kind]:
            return
    out[json_name] = value


def _list(occurrences: list[Occurrence], kind: str, message: str | None, path: str) -> list[Any]:
    items: list[Any] = []
    for wire, value in occurrences:
        where = f"{path}[{len(items)}]"
        if kind == "message":
            assert message is not None
            items.append(_message(_payload((wire, value), where), message, where))
        elif kind in _INT_BITS and wire == LEN:
            assert isinstance(value, bytes)
            items.extend(_packed(value, kind, where))
        else:
            items.append(_scalar((wire, value), kind, where))
    return items


def _packed(buf: bytes, kind: str, path: str) -> list[int]:
    numbers: list[int] = []
    pos = 0
    while pos < len(buf):
        value, pos = _varint(buf, pos, path)
        numbers.append(_signed(value, _INT_BITS[kind]))
    return numbers


def _map(occurrences: list[Occurrence], kind: str, message: str | None,
         path: str) -> dict[str, Any]:
    """A map field is a list of entry messages {1: key, 2: value}; later keys win."""
    out: dict[str, Any] = {}
    for occurrence in occurrences:
        entry = _by_number(_scan(_payload(occurrence, path), path))
        key = _text(entry, 1, f"{path}.key")
        where = f"{path}[{key!r}]"
        values = entry.get(2, [])
        if kind == "message":
            assert message is not None
            out[key] = _message(b"".join(_payload(v, where) for v in values), message, where)
        elif values:
            out[key] = _scalar(values[-1], kind, where)
        else:
            out[key] = "" if kind == "bytes" else _ZERO[kind]
    return out


def _payload(occurrence: Occurrence, path: str) -> bytes:
    wire, value = occurrence
    if wire != LEN:
        raise _wrong_wire(wire, "message", path)
    assert isinstance(value, bytes)
    return value


def _scalar(occurrence: Occurrence, kind: str, path: str) -> Any:
    wire, value = occurrence
    if kind in _INT_BITS or kind == "bool":
        if wire != VARINT:
            raise _wrong_wire(wire, kind, path)
        assert isinstance(value, int)
        return value != 0 if kind == "bool" else _signed(value, _INT_BITS[kind])
    if wire != LEN:
        raise _wrong_wire(wire, kind, path)
    assert isinstance(value, bytes)
    if kind == "string":
        # Go strings carry any bytes; its JSON encoder replaces invalid UTF-8 with U+FFFD.
        return value.decode("utf-8", "replace")
    if kind == "bytes":
        return base64.b64encode(value).decode("ascii")
    if kind == "json":
        try:
            return json.loads(value)
        except (ValueError, RecursionError) as e:
            raise ProtobufError(f"{path}: embedded JSON does not parse: {e}") from e
    raise ProtobufError(f"{path}: schema names unknown scalar kind {kind!r}")


def _wrong_wire(wire: int, kind: str, path: str) -> ProtobufError:
    expected = "varint" if kind in _INT_BITS or kind == "bool" else "length-delimited"
    return ProtobufError(f"{path}: wire type {wire} ({_WIRE_NAMES.get(wire, 'invalid')}) "
                         f"where a {kind} needs {expected}")


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _time(fields: dict[str, Any], payload: bytes, path: str) -> str | None:
    # meta/v1 Time keeps whole seconds only (Go drops nanos when decoding it).
    if not payload:
        return None
    return _instant(fields.get("seconds", 0), 0, path).isoformat(timespec="seconds") + "Z"


def _micro_time(fields: dict[str, Any], payload: bytes, path: str) -> str | None:
    if not payload:
        return None
    instant = _instant(fields.get("seconds", 0), fields.get("nanos", 0), path)
    return instant.isoformat(timespec="microseconds") + "Z"


def _instant(seconds: int, nanos: int, path: str) -> datetime:
    try:
        return _EPOCH + timedelta(microseconds=(seconds * 1_000_000_000 + nanos) // 1000)
    except OverflowError as e:
        raise ProtobufError(f"{path}: time of {seconds} seconds since 1970 is out of range") from e


def _int_or_string(fields: dict[str, Any], payload: bytes, path: str) -> int | str:
    kind = fields.get("type", 0)
    if kind == 0:
        return int(fields.get("intVal", 0))
    if kind == 1:
        return str(fields.get("strVal", ""))
    raise ProtobufError(f"{path}: IntOrString type {kind} is neither 0 (int) nor 1 (string)")


def _quantity(fields: dict[str, Any], payload: bytes, path: str) -> str:
    return str(fields.get("string", "0"))


def _fields_v1(fields: dict[str, Any], payload: bytes, path: str) -> Any:
    return fields.get("Raw")


_SPECIAL: dict[str, Callable[[dict[str, Any], bytes, str], Any]] = {
    "intstr.IntOrString": _int_or_string,
    "meta.v1.FieldsV1": _fields_v1,
    "meta.v1.MicroTime": _micro_time,
    "meta.v1.Time": _time,
    "resource.Quantity": _quantity,
}
