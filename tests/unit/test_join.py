"""The pure parts of joining from another host: bootstrap tokens, the CA hash, the
server URL, cluster-info, and what the apiserver decides about a joining node."""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess

import pytest

from kubeloop import join, pki
from kubeloop.config import ClusterConfig, ConfigError, Network

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope="module")
def ca_pem() -> bytes:
    return pki.create_ca(NOW)[0]


def test_generated_tokens_have_kubeadms_format() -> None:
    tokens = {join.generate_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", t) for t in tokens)
    assert all(join.parse_token(f" {t}\n") == t for t in tokens)


@pytest.mark.parametrize("bad", ["", "abcdef", "abcdef.0123456789abcde", "ABCDEF.0123456789abcdef",
                                 "abcdef:0123456789abcdef", "abcdefg.0123456789abcdef"])
def test_malformed_tokens_are_refused_with_the_fix(bad: str) -> None:
    with pytest.raises(join.JoinError, match="kubeloop token create"):
        join.parse_token(bad)


def test_tokens_expire_and_are_compared_whole() -> None:
    live = join.TokenRecord("abcdef.0123456789abcdef", 200.0)
    forever = join.TokenRecord("ghijkl.0123456789abcdef", None)
    records = [live, forever]
    assert join.accepted(records, live.token, 100.0)
    assert not join.accepted(records, live.token, 200.0)
    assert join.accepted(records, forever.token, 1e12)
    assert not join.accepted(records, "abcdef.0123456789abcdee", 100.0)
    assert not join.accepted(records, "", 100.0)
    assert join.tokens_from_json(join.tokens_to_json(records)) == records


@pytest.mark.parametrize("text,seconds", [("24h", 86400.0), ("30m", 1800.0), ("90s", 90.0),
                                          ("1h30m", 5400.0), ("7d", 604800.0), ("0", None)])
def test_ttls(text: str, seconds: float | None) -> None:
    assert join.parse_ttl(text) == seconds


@pytest.mark.parametrize("bad", ["", "1x", "h", "24 h", "-1h", "1h junk"])
def test_bad_ttls(bad: str) -> None:
    with pytest.raises(join.JoinError, match="--ttl"):
        join.parse_ttl(bad)


def test_ttl_column() -> None:
    assert [join.format_ttl(s) for s in (86399, 3600, 3599, 59, -3)] == \
        ["23h", "1h", "59m", "59s", "0s"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_ca_hash_is_what_kubeadms_documentation_computes(ca_pem: bytes) -> None:
    # kubeadm's docs: openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum
    pubkey = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=ca_pem,
                            capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pubkey,
                         capture_output=True, check=True).stdout
    digest = subprocess.run(["sha256sum"], input=der, capture_output=True,
                            check=True).stdout.split()[0].decode()
    assert join.ca_cert_hash(ca_pem) == f"sha256:{digest}"


def test_ca_hash_check(ca_pem: bytes) -> None:
    good = join.ca_cert_hash(ca_pem)
    join.check_ca(ca_pem, join.parse_ca_hash(good.upper().replace("SHA256", "sha256")))
    other = join.ca_cert_hash(pki.create_ca(NOW)[0])
    with pytest.raises(join.JoinError, match=f"has the hash {good}, not {other}"):
        join.check_ca(ca_pem, other)
    for bad in ("", "sha256:abc", "md5:" + "0" * 64, good.removeprefix("sha256:")):
        with pytest.raises(join.JoinError, match="sha256:<64 hex digits>"):
            join.parse_ca_hash(bad)


@pytest.mark.parametrize("url,expected", [
    ("https://10.0.0.1:6443", ("10.0.0.1", 6443)), ("https://apiserver", ("apiserver", 6443)),
    ("apiserver:7443", ("apiserver", 7443)), ("https://127.64.0.1:16443/", ("127.64.0.1", 16443)),
])
def test_server_urls(url: str, expected: tuple[str, int]) -> None:
    assert join.parse_server(url) == expected


@pytest.mark.parametrize("url", ["http://10.0.0.1:6443", "https://", "https://h:port"])
def test_bad_server_urls(url: str) -> None:
    with pytest.raises(join.JoinError, match="--server"):
        join.parse_server(url)


def test_cluster_info_round_trip(ca_pem: bytes) -> None:
    body = join.cluster_info("https://127.64.0.1:6443", ca_pem, 6444)
    assert body["metadata"] == {"name": "cluster-info", "namespace": "kube-public"}
    assert "token" not in body["data"]["kubeconfig"]
    assert join.read_cluster_info(body) == join.ClusterInfo(ca_pem, 6444)
    with pytest.raises(join.JoinError, match="not a kubeloop cluster-info"):
        join.read_cluster_info({"data": {"kubeconfig": "clusters: []"}})


def test_join_command(ca_pem: bytes) -> None:
    command = join.join_command("https://127.64.0.1:6443", "abcdef.0123456789abcdef",
                                join.ca_cert_hash(ca_pem))
    assert command.startswith("kubeloop join --server https://127.64.0.1:6443 --token "
                              "abcdef.0123456789abcdef --ca-cert-hash sha256:")


@pytest.mark.parametrize("address,problem", [
    ("192.168.1.20", None), ("127.64.0.11", None),
    ("nonsense", "is not an IP address"), ("0.0.0.0", "not a unicast IPv4"),
    ("::1", "not a unicast IPv4"), ("127.244.3.7", "pod range 127.244.0.0/16"),
    ("127.96.0.10", "Service range"), ("127.200.0.4", "LoadBalancer range"),
])
def test_node_addresses(address: str, problem: str | None) -> None:
    found = join.address_problem(address, Network())
    assert found is None if problem is None else problem in (found or "")


def test_node_numbers() -> None:
    assert join.node_number(0, 1, set()) == 1
    assert join.node_number(0, 3, {3, 4, 6}) == 5  # 1, 2: the control plane's own nodes
    assert join.node_number(4, 3, {3, 4}) == 4  # joining again keeps its number
    assert join.node_number(2, 3, set()) == 3  # never one of the control plane's nodes
    assert join.node_number(0, 1, set(range(1, 251))) is None


def test_certificate_names_the_advertise_address_and_sans() -> None:
    net = Network(advertise_address="127.64.0.1", bind_address="0.0.0.0",
                  cert_sans=("apiserver", "10.0.0.5"))
    dns, ips = pki.apiserver_sans(net)
    assert "apiserver" in dns and {"127.64.0.1", "10.0.0.5", net.apiserver_ip} <= set(ips)
    assert "0.0.0.0" not in ips
    ca, key = pki.create_ca(NOW)
    cert, _ = pki.issue_certificate(ca, key, dns, ips, now=NOW)
    assert pki.covers(cert, dns, ips)
    assert not pki.covers(cert, dns, [*ips, "127.64.0.2"])
    assert not pki.covers(cert, [*dns, "other"], ips)


def test_listen_hosts() -> None:
    assert Network().listen_hosts == ["127.10.0.254"]
    assert Network(advertise_address="127.64.0.1").listen_hosts == ["127.10.0.254", "127.64.0.1"]
    assert Network(advertise_address="10.0.0.1", bind_address="10.0.0.2").listen_hosts == \
        ["127.10.0.254", "10.0.0.2"]
    assert Network(advertise_address="10.0.0.1", bind_address="0.0.0.0").listen_hosts == \
        ["0.0.0.0"]


def test_a_control_plane_without_nodes_needs_an_advertise_address(tmp_path) -> None:
    with pytest.raises(ConfigError, match="0 with --advertise-address"):
        ClusterConfig(data_dir=str(tmp_path), nodes=0).validate()
    ClusterConfig(data_dir=str(tmp_path), nodes=0,
                  network=Network(advertise_address="127.64.0.1")).validate()
    with pytest.raises(ConfigError, match="--advertise-address 'host' is not an IP"):
        ClusterConfig(data_dir=str(tmp_path), nodes=0,
                      network=Network(advertise_address="host")).validate()


def test_a_joined_node_keeps_its_address_outside_the_plan(tmp_path) -> None:
    config = ClusterConfig(data_dir=str(tmp_path), nodes=0, joined_node=3, ingress=False,
                           network=Network(node_ips={"3": "127.64.0.13"}))
    config.validate()
    config.save()
    loaded = ClusterConfig.load(tmp_path)
    assert loaded == config
    assert loaded.network.node_ip(3) == "127.64.0.13"
    assert loaded.network.node_ip(2) == "127.10.0.2"
    assert loaded.process_names() == ["node-3"]
    assert ClusterConfig(data_dir=str(tmp_path), nodes=2, ingress=False).process_names() == \
        ["apiserver", "node-1", "node-2"]
