"""Protobuf request bodies: real and hand-built fixtures, wire edge cases, malformed input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apiserver import proto_schema, resources
from apiserver.protobuf import ProtobufError, decode

FIXTURES = Path(__file__).parent / "fixtures" / "protobuf"
FIXTURE_NAMES = sorted(p.stem for p in FIXTURES.glob("*.bin"))

NOV_22 = 1795331891  # 2026-11-22T07:18:11Z


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative numbers travel as 10-byte two's complement
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out) + bytes([value])


def _num(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _str(field: int, value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _msg(field: int, *parts: bytes) -> bytes:
    return _str(field, b"".join(parts))


def _body(api_version: str, kind: str, *raw: bytes) -> bytes:
    return b"k8s\x00" + _msg(1, _str(1, api_version), _str(2, kind)) + _msg(2, *raw)


def _lease(*spec: bytes) -> bytes:
    return _body("coordination.k8s.io/v1", "Lease", _msg(2, *spec))


def _meta(*fields: bytes) -> bytes:
    return _body("v1", "ConfigMap", _msg(1, *fields))


def _service_port(*fields: bytes) -> bytes:
    return _body("v1", "Service", _msg(2, _msg(1, *fields)))


def _pod_spec(*fields: bytes) -> bytes:
    return _body("apps/v1", "Deployment", _msg(2, _msg(3, _msg(2, *fields))))


def _dig(obj: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        obj = obj[step]
    return obj


@pytest.mark.parametrize("name", FIXTURE_NAMES, ids=FIXTURE_NAMES)
def test_fixture_decodes_to_its_json(name: str) -> None:
    body = (FIXTURES / f"{name}.bin").read_bytes()
    expected = json.loads((FIXTURES / f"{name}.json").read_text())
    assert decode(body) == expected


def test_fixtures_cover_every_served_kind() -> None:
    kinds = {json.loads((FIXTURES / f"{n}.json").read_text())["kind"] for n in FIXTURE_NAMES}
    served = {r.kind for r in resources.RESOURCES}
    assert served | {"Binding", "Scale", "DeleteOptions"} <= kinds


# (id, body, path into the decoded object, expected value there). The ConfigMap, Deployment,
# Service and Namespace rows were also checked against kubectl's own (Go) decoding of the body.
WIRE_CASES: list[tuple[str, bytes, tuple[str | int, ...], Any]] = [
    ("kind and apiVersion come from the envelope", _lease(), (),
     {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
      "metadata": {"creationTimestamp": None}, "spec": {}}),
    ("pointer fields keep zero values present on the wire",
     _lease(_str(1, ""), _num(2, 0), _num(5, 0)), ("spec",),
     {"holderIdentity": "", "leaseDurationSeconds": 0, "leaseTransitions": 0}),
    ("omitempty value fields drop zero values", _meta(_str(1, ""), _num(7, 0)),
     ("metadata",), {"creationTimestamp": None}),
    ("value fields keep non-zero values", _meta(_str(1, "cm"), _num(7, 3)),
     ("metadata",), {"name": "cm", "generation": 3, "creationTimestamp": None}),
    ("pointer int64 zero", _meta(_num(10, 0)), ("metadata", "deletionGracePeriodSeconds"), 0),
    ("required field missing from the wire gets its zero value",
     _pod_spec(_msg(2, _str(1, "c"), _msg(6, _str(1, "http")))),
     ("spec", "template", "spec", "containers", 0, "ports"),
     [{"name": "http", "containerPort": 0}]),
    ("pointer without omitempty missing from the wire is null", _pod_spec(),
     ("spec", "selector"), None),
    ("list without omitempty missing from the wire is null", _pod_spec(),
     ("spec", "template", "spec"), {"containers": None}),
    ("negative int32 as a 10-byte varint", _pod_spec(_num(25, -5)),
     ("spec", "template", "spec", "priority"), -5),
    ("int32 keeps the low 32 bits, like Go", _lease(_num(2, (1 << 32) + 7)),
     ("spec", "leaseDurationSeconds"), 7),
    ("int64 beyond 32 bits", _pod_spec(_msg(14, _num(2, 1 << 40))),
     ("spec", "template", "spec", "securityContext"), {"runAsUser": 1 << 40}),
    ("bool is any non-zero varint", _pod_spec(_num(11, 2)),
     ("spec", "template", "spec", "hostNetwork"), True),
    ("packed and unpacked repeated int64 together",
     _pod_spec(_msg(14, _str(4, _varint(1) + _varint(2)), _num(4, 3))),
     ("spec", "template", "spec", "securityContext", "supplementalGroups"), [1, 2, 3]),
    ("repeated strings keep wire order",
     _pod_spec(_msg(2, _str(1, "c"), _str(3, "sh"), _str(3, "-c"))),
     ("spec", "template", "spec", "containers", 0, "command"), ["sh", "-c"]),
    ("last occurrence of a scalar wins", _lease(_str(1, "a"), _str(1, "b")),
     ("spec", "holderIdentity"), "b"),
    ("split occurrences of a message merge", _body(
        "coordination.k8s.io/v1", "Lease", _msg(2, _str(1, "a")), _msg(2, _num(5, 4))),
     ("spec",), {"holderIdentity": "a", "leaseTransitions": 4}),
    ("unknown fields of every wire type are skipped",
     _lease(_num(99, 1), _str(98, "x"), _varint(97 << 3 | 5) + b"\0\0\0\0",
            _varint(96 << 3 | 1) + b"\0" * 8, _str(1, "kept")),
     ("spec",), {"holderIdentity": "kept"}),
    ("invalid UTF-8 becomes U+FFFD as in Go's JSON", _meta(_str(1, b"\xffab")),
     ("metadata", "name"), "\ufffdab"),
    ("Time keeps whole seconds", _meta(_msg(8, _num(1, NOV_22), _num(2, 999_999_999))),
     ("metadata", "creationTimestamp"), "2026-11-22T07:18:11Z"),
    ("Time with an empty payload is null", _meta(_msg(9)), ("metadata", "deletionTimestamp"), None),
    ("Time of zero seconds is the epoch, not null", _meta(_msg(8, _num(1, 0))),
     ("metadata", "creationTimestamp"), "1970-01-01T00:00:00Z"),
    ("Time before 1970", _meta(_msg(8, _num(1, -1))),
     ("metadata", "creationTimestamp"), "1969-12-31T23:59:59Z"),
    ("Time with year below 1000 is zero-padded", _meta(_msg(8, _num(1, -50_000_000_000))),
     ("metadata", "creationTimestamp"), "0385-07-25T07:06:40Z"),
    ("MicroTime truncates to microseconds", _lease(_msg(4, _num(1, NOV_22), _num(2, 123_456_789))),
     ("spec", "renewTime"), "2026-11-22T07:18:11.123456Z"),
    ("MicroTime with nanos only", _lease(_msg(3, _num(2, 5000))),
     ("spec", "acquireTime"), "1970-01-01T00:00:00.000005Z"),
    ("MicroTime with an empty payload is null", _lease(_msg(4)), ("spec", "renewTime"), None),
    ("MicroTime before 1970", _lease(_msg(4, _num(1, -1), _num(2, 500_000_000))),
     ("spec", "renewTime"), "1969-12-31T23:59:59.500000Z"),
    ("IntOrString int", _service_port(_num(3, 80), _msg(4, _num(1, 0), _num(2, 8080))),
     ("spec", "ports", 0), {"port": 80, "targetPort": 8080}),
    ("IntOrString string", _service_port(_num(3, 80), _msg(4, _num(1, 1), _str(3, "http"))),
     ("spec", "ports", 0), {"port": 80, "targetPort": "http"}),
    ("IntOrString missing is Go's zero, 0", _service_port(_num(3, 80)),
     ("spec", "ports", 0), {"port": 80, "targetPort": 0}),
    ("Quantity map values", _pod_spec(_msg(32, _str(1, "cpu"), _msg(2, _str(1, "250m")))),
     ("spec", "template", "spec", "overhead"), {"cpu": "250m"}),
    ("Quantity without a string is Go's zero, 0", _pod_spec(_msg(32, _str(1, "cpu"))),
     ("spec", "template", "spec", "overhead"), {"cpu": "0"}),
    ("map entry without a value", _body("v1", "ConfigMap", _msg(2, _str(1, "k"))),
     ("data",), {"k": ""}),
    ("map entry without a key", _body("v1", "ConfigMap", _msg(2, _str(2, "v"))),
     ("data",), {"": "v"}),
    ("later map entries win", _body("v1", "ConfigMap", _msg(2, _str(1, "k"), _str(2, "old")),
                                    _msg(2, _str(1, "k"), _str(2, "new"))),
     ("data",), {"k": "new"}),
    ("bytes map values are base64",
     _body("v1", "ConfigMap", _msg(3, _str(1, "b"), _str(2, b"\0\xff"))),
     ("binaryData",), {"b": "AP8="}),
    ("FieldsV1 is embedded JSON",
     _meta(_msg(17, _str(1, "kubectl"), _msg(7, _str(1, '{"f:data":{}}')))),
     ("metadata", "managedFields"), [{"manager": "kubectl", "fieldsV1": {"f:data": {}}}]),
    ("DeleteOptions under any group version",
     _body("networking.k8s.io/v1", "DeleteOptions", _num(1, 0)),
     (), {"kind": "DeleteOptions", "apiVersion": "networking.k8s.io/v1", "gracePeriodSeconds": 0}),
    ("object without raw is the zero object",
     b"k8s\x00" + _msg(1, _str(1, "v1"), _str(2, "Namespace")),
     (), {"kind": "Namespace", "apiVersion": "v1", "metadata": {"creationTimestamp": None},
          "spec": {}, "status": {}}),
    ("empty contentType is accepted", _lease() + _str(4, ""), ("kind",), "Lease"),
    ("protobuf contentType is accepted", _lease() + _str(4, "application/vnd.kubernetes.protobuf"),
     ("kind",), "Lease"),
]


@pytest.mark.parametrize("body,path,expected", [c[1:] for c in WIRE_CASES],
                         ids=[c[0] for c in WIRE_CASES])
def test_wire_decoding(body: bytes, path: tuple[str | int, ...], expected: Any) -> None:
    assert _dig(decode(body), path) == expected


# (id, body, part of the error message)
MALFORMED: list[tuple[str, Any, str]] = [
    ("empty body", b"", "expected prefix b'k8s\\x00', got b''"),
    ("JSON body", b'{"kind":"Pod"}', "not a Kubernetes protobuf body"),
    ("bad magic", b"k8s\x01" + _lease()[4:], "got b'k8s\\x01'"),
    ("text instead of bytes", "k8s\x00", "must be bytes, not str"),
    ("truncated varint", b"k8s\x00\x0a\x80", "envelope: truncated varint at byte 1"),
    ("varint longer than 10 bytes", b"k8s\x00\x08" + b"\xff" * 10 + b"\x01",
     "envelope: varint at byte 1 is longer than 10 bytes"),
    ("length past the end", b"k8s\x00\x0a\x05ab",
     "field 1 at byte 0 is 5 bytes long but only 2 remain"),
    ("truncated fixed32", b"k8s\x00\x0d\x00\x00", "envelope: truncated fixed32 field 1 at byte 0"),
    ("field number zero", b"k8s\x00\x02\x00", "envelope: invalid field number 0 at byte 0"),
    ("group wire type", b"k8s\x00\x0b\x0c", "unsupported wire type 3 (start-group) for field 1"),
    ("invalid wire type", b"k8s\x00\x0f", "unsupported wire type 7 (invalid) for field 1"),
    ("typeMeta sent as a varint", b"k8s\x00\x08\x01",
     "envelope.typeMeta: wire type 0 (varint) where a message needs length-delimited"),
    ("no kind", _body("v1", ""), "envelope: typeMeta has no kind"),
    ("unknown kind", _body("apps/v1", "StatefulSet"),
     "no protobuf schema for kind 'StatefulSet' in apiVersion 'apps/v1'"),
    ("known kind, unknown version", _body("apps/v1beta1", "Deployment"),
     "no protobuf schema for kind 'Deployment' in apiVersion 'apps/v1beta1'"),
    ("compressed raw", _lease() + _str(3, "gzip"), "envelope: unsupported contentEncoding 'gzip'"),
    ("JSON raw", _lease() + _str(4, "application/json"),
     "envelope: raw object has contentType 'application/json'"),
    ("string sent as a varint", _meta(_num(1, 5)),
     "ConfigMap.metadata.name: wire type 0 (varint) where a string needs length-delimited"),
    ("int sent length-delimited", _body("apps/v1", "Deployment", _msg(2, _str(1, "3"))),
     "Deployment.spec.replicas: wire type 2 (length-delimited) where a int32 needs varint"),
    ("message sent as a varint", _pod_spec(_num(2, 1)),
     "Deployment.spec.template.spec.containers[0]: wire type 0 (varint) where a message needs"),
    ("truncated nested message", _pod_spec(_str(2, b"\x0a\x09nginx")),
     "Deployment.spec.template.spec.containers[0]: field 1 at byte 0 is 9 bytes long"),
    ("IntOrString of unknown type", _service_port(_msg(4, _num(1, 2))),
     "Service.spec.ports[0].targetPort: IntOrString type 2 is neither 0 (int) nor 1 (string)"),
    ("Time out of range", _meta(_msg(8, _num(1, 1 << 62))),
     "ConfigMap.metadata.creationTimestamp: time of 4611686018427387904 seconds"),
    ("FieldsV1 that is not JSON", _meta(_msg(17, _msg(7, _str(1, "{")))),
     "ConfigMap.metadata.managedFields[0].fieldsV1.Raw: embedded JSON does not parse"),
]


@pytest.mark.parametrize("body,message", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_bodies_raise_protobuf_error(body: Any, message: str) -> None:
    with pytest.raises(ProtobufError) as caught:
        decode(body)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("name",
                         ["captured-ingress-rules", "oracle-service-full", "oracle-event-full"])
def test_damaged_bodies_raise_only_protobuf_error(name: str) -> None:
    body = (FIXTURES / f"{name}.bin").read_bytes()
    damaged = [body[:cut] for cut in range(len(body))]
    damaged += [body[:i] + bytes([body[i] ^ 0xFF]) + body[i + 1:] for i in range(len(body))]
    failures = 0
    for variant in damaged:
        try:
            decode(variant)
        except ProtobufError:
            failures += 1
    assert failures > len(body)  # most damage is detected; none escapes as another error


KNOWN_SCALARS = {"string", "int32", "int64", "bool", "bytes", "json"}
ALL_TABLES = {**proto_schema.MESSAGES, **proto_schema.SPECIAL}


@pytest.mark.parametrize("message", sorted(ALL_TABLES), ids=sorted(ALL_TABLES))
def test_schema_entries_are_consistent(message: str) -> None:
    for number, (json_name, kind, message_type, flags) in ALL_TABLES[message].items():
        where = f"{message} field {number}"
        assert number > 0, where
        assert set(flags) <= set("rmpoi") and not {"r", "m"} <= set(flags), where
        if kind == "message":
            assert message_type in ALL_TABLES, where
        else:
            assert kind in KNOWN_SCALARS and message_type is None, where
        if "i" in flags:
            assert kind == "message" and flags == "i" and json_name == "", where
        else:
            assert json_name, where
        if not set(flags) & set("rmp") and kind != "message":
            assert kind in {"string", "int32", "int64", "bool"}, where


@pytest.mark.parametrize("resource", resources.RESOURCES, ids=lambda r: r.kind)
def test_every_served_kind_has_a_schema(resource: resources.Resource) -> None:
    assert proto_schema.KINDS[(resource.api_version, resource.kind)] in proto_schema.MESSAGES
