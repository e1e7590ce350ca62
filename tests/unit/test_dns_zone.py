"""The zone model: Services and EndpointSlices -> what DNS serves, and the cache tags each
change touches."""

from __future__ import annotations

import pytest

from node_agent.dns.zone import (
    ENDPOINT_SLICES, NAMESPACES, SERVICES, VOLATILE, Endpoint, Port, ServiceView, Zone,
    ip_tag, namespace_tag, service_tag)
from tests.unit.test_dns_lookup import HTTP, endpoint_slice, ep, service

VIEWS = [
    ("cluster IP", [service("ns", "web", "127.96.0.5", [HTTP, {"port": 81}])], [],
     ServiceView("ns", "web", ("127.96.0.5",), "", (Port("http", "tcp", 80), Port("", "tcp", 81)),
                 ())),
    ("dual stack", [service("ns", "web", ["127.96.0.5", "fd00::5"])], [],
     ServiceView("ns", "web", ("127.96.0.5", "fd00::5"), "", (), ())),
    ("bad cluster IP is ignored", [service("ns", "web", "nonsense")], [],
     ServiceView("ns", "web", (), "", (), ())),
    ("port without number is ignored", [service("ns", "web", "127.96.0.5",
                                                [{"name": "X", "protocol": "UDP"}])], [],
     ServiceView("ns", "web", ("127.96.0.5",), "", (), ())),
    ("names and protocols lowercased", [service("ns", "web", "127.96.0.5",
                                                [{"name": "DNS", "protocol": "UDP", "port": 53}])],
     [], ServiceView("ns", "web", ("127.96.0.5",), "", (Port("dns", "udp", 53),), ())),
    ("external name", [service("ns", "ext", type="ExternalName", externalName="Db.Example.COM.")],
     [], ServiceView("ns", "ext", (), "db.example.com", (), ())),
    ("headless with ready endpoints", [service("ns", "db", "None", [HTTP])],
     [endpoint_slice("ns", "db", [ep("127.244.1.2", "db-0"), ep("127.244.1.3", ready=None),
                                  ep("127.244.1.4", ready=False)], [HTTP])],
     ServiceView("ns", "db", (), "", (Port("http", "tcp", 80),),
                 (Endpoint("127.244.1.2", "db-0", (Port("http", "tcp", 80),)),
                  Endpoint("127.244.1.3", "127-244-1-3", (Port("http", "tcp", 80),))))),
    ("publishNotReadyAddresses", [service("ns", "db", "None", publishNotReadyAddresses=True)],
     [endpoint_slice("ns", "db", [ep("127.244.1.4", ready=False)])],
     ServiceView("ns", "db", (), "", (), (Endpoint("127.244.1.4", "127-244-1-4", ()),))),
    ("tolerate-unready annotation",
     [{**service("ns", "db", "None"), "metadata": {
         "name": "db", "namespace": "ns",
         "annotations": {"service.alpha.kubernetes.io/tolerate-unready-endpoints": "true"}}}],
     [endpoint_slice("ns", "db", [ep("127.244.1.4", ready=False)])],
     ServiceView("ns", "db", (), "", (), (Endpoint("127.244.1.4", "127-244-1-4", ()),))),
    ("two slices, duplicate endpoint once", [service("ns", "db", "None")],
     [endpoint_slice("ns", "db", [ep("127.244.1.2")], suffix="a"),
      endpoint_slice("ns", "db", [ep("127.244.1.2"), ep("127.244.1.9")], suffix="b")],
     ServiceView("ns", "db", (), "", (), (Endpoint("127.244.1.2", "127-244-1-2", ()),
                                          Endpoint("127.244.1.9", "127-244-1-9", ())))),
    ("FQDN slices carry no addresses", [service("ns", "db", "None")],
     [{**endpoint_slice("ns", "db", [ep("127.244.1.2")]), "addressType": "FQDN"}],
     ServiceView("ns", "db", (), "", (), ())),
    ("slice before its Service", [],
     [endpoint_slice("ns", "db", [ep("127.244.1.2")])], None),
    ("ExternalName ignores slices",
     [service("ns", "db", type="ExternalName", externalName="x.example")],
     [endpoint_slice("ns", "db", [ep("127.244.1.2")])],
     ServiceView("ns", "db", (), "x.example", (), ())),
]


@pytest.mark.parametrize("services,slices,view", [v[1:] for v in VIEWS],
                         ids=[v[0] for v in VIEWS])
def test_views(services: list[dict], slices: list[dict], view: ServiceView | None) -> None:
    zone = Zone()
    for obj in slices:
        zone.update(ENDPOINT_SLICES, obj)
    for obj in services:
        zone.update(SERVICES, obj)
    key = slices[0]["metadata"]["labels"]["kubernetes.io/service-name"] if slices \
        else services[0]["metadata"]["name"]
    assert zone.service("ns", key) == view


WEB = ("ns", "web")


def test_tags_of_a_new_service_and_its_endpoints() -> None:
    zone = Zone()
    assert zone.update(SERVICES, service("ns", "web", "127.96.0.5")) == \
        {service_tag(WEB), namespace_tag("ns"), VOLATILE, ip_tag("127.96.0.5")}
    assert zone.update(ENDPOINT_SLICES, endpoint_slice("ns", "web", [ep("127.244.1.2")])) == \
        {service_tag(WEB), namespace_tag("ns"), VOLATILE, ip_tag("127.96.0.5"),
         ip_tag("127.244.1.2")}
    # an endpoint turning not ready: the old address's reverse name changes too
    assert ip_tag("127.244.1.2") in zone.update(
        ENDPOINT_SLICES, endpoint_slice("ns", "web", [ep("127.244.1.2", ready=False)]))
    assert zone.owners("127.244.1.2") == []


def test_a_change_dns_does_not_see_touches_nothing() -> None:
    zone = Zone()
    zone.update(SERVICES, service("ns", "web", "127.96.0.5"))
    relabelled = service("ns", "web", "127.96.0.5")
    relabelled["metadata"]["labels"] = {"app": "web"}
    assert zone.update(SERVICES, relabelled) == set()


def test_delete_and_namespaces() -> None:
    zone = Zone()
    zone.update(SERVICES, service("ns", "web", "127.96.0.5"))
    assert zone.namespace_exists("ns") and not zone.namespace_exists("other")
    assert [v.name for v in zone.owners("127.96.0.5")] == ["web"]
    zone.delete(SERVICES, service("ns", "web"))
    assert not zone.namespace_exists("ns") and zone.owners("127.96.0.5") == [] and len(zone) == 0
    assert zone.update(NAMESPACES, {"metadata": {"name": "other"}}) == \
        {namespace_tag("other"), VOLATILE}
    assert zone.namespace_exists("other")


def test_slice_moving_to_another_service() -> None:
    zone = Zone()
    zone.update(SERVICES, service("ns", "a", "None"))
    zone.update(SERVICES, service("ns", "b", "None"))
    piece = endpoint_slice("ns", "a", [ep("127.244.1.2")])
    zone.update(ENDPOINT_SLICES, piece)
    piece["metadata"]["labels"]["kubernetes.io/service-name"] = "b"
    tags = zone.update(ENDPOINT_SLICES, piece)
    assert {service_tag(("ns", "a")), service_tag(("ns", "b"))} <= tags
    assert zone.service("ns", "a").endpoints == ()  # type: ignore[union-attr]
    assert len(zone.service("ns", "b").endpoints) == 1  # type: ignore[union-attr]


def test_resync_drops_what_the_list_lacks() -> None:
    zone = Zone()
    zone.update(SERVICES, service("ns", "old", "127.96.0.5"))
    zone.update(SERVICES, service("ns", "kept", "127.96.0.6"))
    zone.update(NAMESPACES, {"metadata": {"name": "gone"}})
    tags = zone.resync(SERVICES, [service("ns", "kept", "127.96.0.6"),
                                  service("ns", "new", "127.96.0.7")])
    assert service_tag(("ns", "old")) in tags and service_tag(("ns", "new")) in tags
    assert service_tag(("ns", "kept")) not in tags
    assert zone.service("ns", "old") is None and zone.service("ns", "new") is not None
    zone.resync(NAMESPACES, [])
    assert not zone.namespace_exists("gone")


@pytest.mark.parametrize("kind,obj,message", [
    (SERVICES, {"metadata": {}}, "without metadata.name"),
    (SERVICES, {"spec": {}}, "without metadata.name"),
    ("pods", {"metadata": {"name": "x"}}, "not 'pods'"),
], ids=["no name", "no metadata", "unknown kind"])
def test_bad_input(kind: str, obj: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Zone().update(kind, obj)


def test_odd_field_types_do_not_break_the_model() -> None:
    zone = Zone()
    zone.update(SERVICES, {"metadata": {"name": "x", "namespace": "ns"},
                           "spec": {"ports": "nope", "clusterIPs": 7}})
    zone.update(ENDPOINT_SLICES, {"metadata": {"name": "x-1", "namespace": "ns",
                                               "labels": {"kubernetes.io/service-name": "x"}},
                                  "addressType": "IPv4", "endpoints": [None, {"addresses": 5}],
                                  "ports": [{"port": True}]})
    assert zone.service("ns", "x") == ServiceView("ns", "x", (), "", (), ())
