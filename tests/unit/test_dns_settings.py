"""Start-up settings: upstream addresses, resolv.conf, static hosts, the cluster domain."""

from __future__ import annotations

import pytest

from node_agent.dns.settings import (
    Settings, StaticHosts, parse_upstream, resolv_conf_nameservers, usable_upstreams)


@pytest.mark.parametrize("text,upstream", [
    ("127.0.0.53", ("127.0.0.53", 53)),
    (" 127.0.0.53:5353 ", ("127.0.0.53", 5353)),
    ("::1", ("::1", 53)),
    ("[::1]:5300", ("::1", 5300)),
    ("[fd00::1]", ("fd00::1", 53)),
])
def test_upstreams(text: str, upstream: tuple[str, int]) -> None:
    assert parse_upstream(text) == upstream


@pytest.mark.parametrize("text,message", [
    ("dns.google", "is not IP"),
    ("127.0.0.1:0", "bad port"),
    ("127.0.0.1:99999", "bad port"),
    ("127.0.0.1:x", "bad port"),
    ("", "is not IP"),
])
def test_bad_upstreams(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_upstream(text)


def test_resolv_conf() -> None:
    text = """# written by a DHCP client
search example.com
nameserver 127.0.0.53
nameserver fe80::1%eth0 ; a comment
nameserver   not-an-address
options edns0 trust-ad
nameserver 127.0.0.54  # third
"""
    assert resolv_conf_nameservers(text) == [("127.0.0.53", 53), ("fe80::1", 53),
                                             ("127.0.0.54", 53)]
    assert resolv_conf_nameservers("") == []


def test_we_never_forward_to_ourselves() -> None:
    own = ("127.96.0.10", 53)
    assert usable_upstreams([own, ("127.0.0.53", 53), ("127.0.0.53", 53),
                             ("127.96.0.10", 5353)], own) == (("127.0.0.53", 53),
                                                              ("127.96.0.10", 5353))


def test_static_hosts() -> None:
    hosts = StaticHosts.of({"Test.Local.": ["127.200.0.1", "fd00::1"], "api.local": "127.200.0.2"})
    assert hosts.addresses == {("test", "local"): ("127.200.0.1", "fd00::1"),
                               ("api", "local"): ("127.200.0.2",)}
    assert hosts.names["fd00::1"] == (("test", "local"),)


@pytest.mark.parametrize("entries,message", [
    ({"test.local": ["300.1.1.1"]}, "'300.1.1.1' is not an IP address"),
    ({"test.local": ["fe80::1%eth0"]}, "is not an IP address"),
    ({"test.local": [7]}, "7 is not an IP address"),
    ({"bad name!": ["127.0.0.1"]}, "static host 'bad name!' is not a valid domain name"),
    ({"": ["127.0.0.1"]}, "is not a valid domain name"),
    ({"a" * 64 + ".local": ["127.0.0.1"]}, "is not a valid domain name"),
], ids=["bad address", "scoped address", "not text", "bad name", "empty name", "label too long"])
def test_bad_static_hosts(entries: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StaticHosts.of(entries)


def test_settings() -> None:
    settings = Settings.of("Cluster.Local.", "127.96.0.10")
    assert settings.domain == ("cluster", "local") and settings.nameserver_ips == ("127.96.0.10",)
    with pytest.raises(ValueError, match="cluster domain 'cluster..local'"):
        Settings.of("cluster..local", "127.96.0.10")
    with pytest.raises(ValueError, match="bind address 'nowhere'"):
        Settings.of("cluster.local", "nowhere")
