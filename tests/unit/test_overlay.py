"""The overlay's pure parts: routes from Node objects, the mode choice, the tunnel header
and the UDP framing."""

from __future__ import annotations

import pytest

from kubeloop.config import ClusterConfig, ConfigError
from kubeloop.overlay import wire
from kubeloop.overlay.routes import Mode, Route, Routes, mode, next_hop, route_of


def node(name: str, cidr: str | None, address: str | None) -> dict:
    return {"metadata": {"name": name}, "spec": {"podCIDR": cidr} if cidr else {},
            "status": {"addresses": [{"type": "Hostname", "address": name}] + (
                [{"type": "InternalIP", "address": address}] if address else [])}}


NODES = [node("n1", "127.244.1.0/24", "10.77.0.1"), node("n2", "127.244.2.0/24", "10.77.0.2"),
         node("wide", "127.245.0.0/16", "10.77.0.9")]
ROUTES = Routes.of(NODES)


@pytest.mark.parametrize("ip, owner", [
    ("127.244.1.5", "n1"),
    ("127.244.2.0", "n2"),
    ("127.244.2.255", "n2"),
    ("127.244.3.1", None),  # no node has this range
    ("127.245.77.1", "wide"),  # a /16 next to /24s
    ("127.96.0.10", None),  # a Service IP: served on every node
    ("10.77.0.2", None),  # a node address
    ("not-an-ip", None),
], ids=lambda v: str(v))
def test_owner(ip: str, owner: str | None) -> None:
    route = ROUTES.owner(ip)
    assert (route.node if route else None) == owner


@pytest.mark.parametrize("obj, route", [
    (node("a", "127.244.1.0/24", "10.0.0.1"), Route("a", "127.244.1.0/24", "10.0.0.1")),
    (node("no-cidr", None, "10.0.0.1"), None),  # still registering
    (node("no-ip", "127.244.1.0/24", None), None),
    (node("bad-cidr", "nonsense", "10.0.0.1"), None),
    (node("v6", "fd00::/64", "10.0.0.1"), None),
    ({"metadata": {"name": "bare"}}, None),
], ids=lambda v: v["metadata"]["name"] if isinstance(v, dict) else "")
def test_route_of(obj: dict, route: Route | None) -> None:
    assert route_of(obj) == route


@pytest.mark.parametrize("setting, addresses, expected", [
    ("auto", ["127.10.0.1", "127.10.0.2"], Mode.SHARED),  # one host's loopback
    ("auto", [], Mode.SHARED),  # nothing known yet: as on one host
    ("auto", ["127.10.0.1", "10.77.0.2"], Mode.TUNNEL),  # a node joined from elsewhere
    ("auto", ["10.77.0.1", "10.77.0.2"], Mode.TUNNEL),  # netns / containers
    ("tunnel", ["127.10.0.1"], Mode.TUNNEL),  # forced
    ("shared", ["10.77.0.1"], Mode.SHARED),
], ids=["loopback", "empty", "mixed", "remote", "forced-tunnel", "forced-shared"])
def test_mode(setting: str, addresses: list[str], expected: Mode) -> None:
    assert mode(setting, addresses) is expected


@pytest.mark.parametrize("current, ip, hop", [
    (Mode.TUNNEL, "127.244.2.9", "10.77.0.2"),  # another node's pod: its tunnel
    (Mode.TUNNEL, "127.244.1.9", None),  # this node's pod
    (Mode.TUNNEL, "127.96.0.1", None),  # a ClusterIP: the local kube-proxy
    (Mode.TUNNEL, "10.77.0.2", None),  # a node address: routed
    (Mode.SHARED, "127.244.2.9", None),  # one loopback: everything direct
], ids=["remote-pod", "local-pod", "service", "node", "shared"])
def test_next_hop(current: Mode, ip: str, hop: str | None) -> None:
    assert next_hop(ROUTES, current, "n1", ip) == hop


@pytest.mark.parametrize("header", [
    wire.Header(wire.Protocol.TCP, "127.244.1.5", 40000, "127.244.2.7", 8080),
    wire.Header(wire.Protocol.UDP, "0.0.0.0", 0, "127.244.2.7", 53),
], ids=["tcp", "udp-snat"])
def test_header_round_trip(header: wire.Header) -> None:
    raw = header.encode()
    assert len(raw) == wire.HEADER_SIZE == 17
    assert raw.startswith(b"KLT1")
    assert wire.Header.decode(raw + b"payload") == header


@pytest.mark.parametrize("raw, error", [
    (b"KLT1", "4 bytes"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n", "magic"),
    (b"KLT1\x01" + bytes(12), "protocol 1"),
    (b"KLT1\x06" + bytes(12), "destination port 0"),
], ids=["short", "http", "icmp", "port-0"])
def test_header_rejects(raw: bytes, error: str) -> None:
    with pytest.raises(wire.HeaderError, match=error):
        wire.Header.decode(raw)


@pytest.mark.parametrize("chunks, datagrams", [
    ([b"\x00\x03abc"], [b"abc"]),
    ([b"\x00\x03a", b"bc\x00"], [b"abc"]),  # split inside a datagram and a length
    ([b"\x00\x00\x00\x01z"], [b"", b"z"]),  # an empty datagram is a datagram
    ([b"\x00"], []),
], ids=["whole", "split", "empty", "partial-length"])
def test_deframer(chunks: list[bytes], datagrams: list[bytes]) -> None:
    deframer = wire.Deframer()
    assert [d for c in chunks for d in deframer.feed(c)] == datagrams


def test_frame_round_trip() -> None:
    payload = [b"x" * 65535, b"", b"dns"]
    stream = b"".join(map(wire.frame, payload))
    assert wire.Deframer().feed(stream) == payload


@pytest.mark.parametrize("value, ok", [("auto", True), ("shared", True), ("tunnel", True),
                                       ("vxlan", False)])
def test_config_overlay(value: str, ok: bool, tmp_path) -> None:
    config = ClusterConfig(data_dir=str(tmp_path), overlay=value)
    if ok:
        config.validate()
        config.save()
        assert ClusterConfig.load(tmp_path).overlay == value
    else:
        with pytest.raises(ConfigError, match="--overlay 'vxlan': choose auto, shared or tunnel"):
            config.validate()


def test_old_cluster_json_defaults_to_auto(tmp_path) -> None:
    (tmp_path / "cluster.json").write_text('{"name": "old", "nodes": 2}')
    assert ClusterConfig.load(tmp_path).overlay == "auto"
