"""Services, Endpoints and EndpointSlices. Address allocation (cluster IPs, node ports
and their ranges) is checked by the allocator; here are the shape rules, the type
dependent fields and the clusterIP/ipFamilies update rules.

Cluster IPs are read the way the Service strategy normalises them before validation:
``clusterIPs`` falls back to ``[clusterIP]``, and on update an empty value means
"keep the allocated one" (upstream copies it from the stored object first).
"""

from __future__ import annotations

from functools import lru_cache

from apiserver.validate_formats import (
    Cause, GoValue, as_dict, as_int, as_list, as_str, check_cidr, check_endpoint_ip, check_ip,
    check_port_num_or_name, dicts, dns1123_label, dns1123_subdomain, duplicate, each_invalid,
    forbidden, go_int_or_string, go_quote, go_slice, invalid, name_is_dns1035_label,
    name_is_dns_subdomain, not_supported, parse_ip, port_num, qualified_name, required,
    too_many)
from apiserver.validate_meta import validate_labels, validate_object_meta

PROTOCOLS = ("SCTP", "TCP", "UDP")
SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
MAX_AFFINITY_SECONDS = 86400
ONLY_LOAD_BALANCER = "may only be used when `type` is 'LoadBalancer'"


def cluster_ips(spec: dict) -> list[str]:
    ips = [as_str(ip) for ip in as_list(spec.get("clusterIPs"))]
    if ips:
        return ips
    ip = as_str(spec.get("clusterIP"))
    return [ip] if ip else []


def _headless(spec: dict) -> bool:
    return cluster_ips(spec) == ["None"]


def _externally_accessible(spec: dict) -> bool:
    kind = spec.get("type")
    return kind in ("LoadBalancer", "NodePort") or (
        kind == "ClusterIP" and bool(as_list(spec.get("externalIPs"))))


def _port(port: dict, multiple: bool, names: set[str], path: str) -> list[Cause]:
    causes: list[Cause] = []
    name = as_str(port.get("name"))
    if multiple and not name:
        causes.append(required(f"{path}.name"))
    elif name:
        causes += each_invalid(f"{path}.name", name, dns1123_label(name))
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(name)
    number = as_int(port.get("port")) or 0
    causes += each_invalid(f"{path}.port", number, port_num(number))
    protocol = as_str(port.get("protocol"))
    if not protocol:
        causes.append(required(f"{path}.protocol"))
    elif protocol not in PROTOCOLS:
        causes.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
    causes += check_port_num_or_name(f"{path}.targetPort", port.get("targetPort"))
    if port.get("appProtocol") is not None:
        app = as_str(port["appProtocol"])
        causes += each_invalid(f"{path}.appProtocol", app, qualified_name(app))
    return causes


def _go_service_port(port: dict) -> GoValue:
    return GoValue(f'core.ServicePort{{Name:"", Protocol:{go_quote(as_str(port.get("protocol")))}, '
                   f"AppProtocol:(*string)(nil), Port:{as_int(port.get('port')) or 0}, "
                   f"TargetPort:{go_int_or_string(0).text}, NodePort:0}}")


def _session_affinity(spec: dict) -> list[Cause]:
    affinity = as_str(spec.get("sessionAffinity"))
    if not affinity:
        return [required("spec.sessionAffinity")]
    if affinity not in ("ClientIP", "None"):
        return [not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None"))]
    config, path = spec.get("sessionAffinityConfig"), "spec.sessionAffinityConfig"
    if affinity == "None":
        return [] if config is None else [
            forbidden(path, "must not be set when session affinity is None")]
    why = "when session affinity type is ClientIP"
    if config is None:
        return [required(path, why)]
    client = as_dict(config).get("clientIP")
    if client is None:
        return [required(f"{path}.clientIP", why)]
    timeout = as_dict(client).get("timeoutSeconds")
    if timeout is None:
        return [required(f"{path}.clientIP.timeoutSeconds", why)]
    seconds = as_int(timeout) or 0
    if not 0 < seconds <= MAX_AFFINITY_SECONDS:
        return [invalid(f"{path}.clientIP.timeoutSeconds", seconds,
                        f"must be greater than 0 and less than {MAX_AFFINITY_SECONDS}")]
    return []


def _cluster_ip_fields(spec: dict) -> list[Cause]:
    """ValidateServiceClusterIPsRelatedFields."""
    causes: list[Cause] = []
    ips, path = cluster_ips(spec), "spec.clusterIPs"
    raw_ip, raw_ips = as_str(spec.get("clusterIP")), as_list(spec.get("clusterIPs"))
    if raw_ip and raw_ips and ips[0] != raw_ip:
        causes.append(invalid(path, go_slice(ips), "first value must match `clusterIP`"))
    families = [as_str(f) for f in as_list(spec.get("ipFamilies"))]
    for i, family in enumerate(families):
        if family not in ("IPv4", "IPv6"):
            causes.append(not_supported(f"spec.ipFamilies[{i}]", family, ("IPv4", "IPv6")))
        if family in families[:i]:
            causes.append(duplicate(f"spec.ipFamilies[{i}]", family))
    policy = spec.get("ipFamilyPolicy")
    supported = ("PreferDualStack", "RequireDualStack", "SingleStack")
    if policy is not None and policy not in supported:
        causes.append(not_supported("spec.ipFamilyPolicy", as_str(policy), supported))
    bad_ips = False
    for i, ip in enumerate(ips):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                bad_ips = True
                causes.append(invalid(path, go_slice(ips),
                                      "'None' must be the first and only value"))
            continue
        errors = check_ip(f"{path}[{i}]", ip)
        bad_ips = bad_ips or bool(errors)
        causes += errors
    if len(ips) > 2:
        causes.append(invalid(path, go_slice(ips), "may only hold up to 2 values"))
    if bad_ips:
        return causes
    versions = [ip.version for ip in map(parse_ip, ips) if ip is not None]
    if len(ips) > 1 and sorted(versions) != [4, 6]:
        causes.append(invalid(path, go_slice(ips),
                              "may specify no more than one IP for each IP family"))
    if not _headless(spec):
        for i, (ip, family) in enumerate(zip(ips, families)):
            version = 6 if ":" in ip else 4
            if family in ("IPv4", "IPv6") and family != f"IPv{version}":
                causes.append(invalid(f"{path}[{i}]", ip, f"expected an {family} value as "
                                                         f"indicated by `ipFamilies[{i}]`"))
    return causes


def _type_dependent(spec: dict) -> list[Cause]:
    kind, causes = spec.get("type"), []
    if kind in ("LoadBalancer", "NodePort") and _headless(spec):
        causes.append(invalid("spec.clusterIPs[0]", "None",
                              f"may not be set to 'None' for {kind} services"))
    elif kind == "ExternalName":
        for key, present in (("clusterIPs", bool(cluster_ips(spec))),
                             ("ipFamilies", bool(as_list(spec.get("ipFamilies")))),
                             ("ipFamilyPolicy", spec.get("ipFamilyPolicy") is not None)):
            if present:
                causes.append(forbidden(f"spec.{key}", "may not be set for ExternalName services"))
        cname = as_str(spec.get("externalName")).removesuffix(".")
        if cname:
            causes += each_invalid("spec.externalName", cname, dns1123_subdomain(cname))
        else:
            causes.append(required("spec.externalName"))
    return causes


def _traffic_policies(spec: dict) -> list[Cause]:
    causes: list[Cause] = []
    external = as_str(spec.get("externalTrafficPolicy"))
    if not _externally_accessible(spec):
        if external:
            causes.append(invalid("spec.externalTrafficPolicy", external,
                                  "may only be set for externally-accessible services"))
    elif not external:
        causes.append(required("spec.externalTrafficPolicy"))
    elif external not in ("Cluster", "Local"):
        causes.append(not_supported("spec.externalTrafficPolicy", external, ("Cluster", "Local")))
    # A missing healthCheckNodePort is the allocator's to fill, so only set values are checked.
    health = as_int(spec.get("healthCheckNodePort")) or 0
    if health:
        if spec.get("type") == "LoadBalancer" and external == "Local":
            causes += each_invalid("spec.healthCheckNodePort", health, port_num(health))
        else:
            causes.append(invalid("spec.healthCheckNodePort", health,
                                  "may only be set when `type` is 'LoadBalancer' and "
                                  "`externalTrafficPolicy` is 'Local'"))
    internal = spec.get("internalTrafficPolicy")
    if internal is None:
        if spec.get("type") in ("NodePort", "LoadBalancer", "ClusterIP"):
            causes.append(required("spec.internalTrafficPolicy"))
    elif internal not in ("Cluster", "Local"):
        causes.append(not_supported("spec.internalTrafficPolicy", as_str(internal),
                                    ("Cluster", "Local")))
    distribution = spec.get("trafficDistribution")
    if distribution is not None and distribution != "PreferClose":
        causes.append(not_supported("spec.trafficDistribution", as_str(distribution),
                                    ("PreferClose",)))
    return causes


def _load_balancer_fields(spec: dict) -> list[Cause]:
    causes: list[Cause] = []
    is_lb = spec.get("type") == "LoadBalancer"
    ranges = as_list(spec.get("loadBalancerSourceRanges"))
    if ranges:
        if not is_lb:
            causes.append(forbidden("spec.LoadBalancerSourceRanges", ONLY_LOAD_BALANCER))
        for i, cidr in enumerate(ranges):
            causes += check_cidr(f"spec.LoadBalancerSourceRanges[{i}]", as_str(cidr).strip())
    if spec.get("allocateLoadBalancerNodePorts") is not None and not is_lb:
        causes.append(forbidden("spec.allocateLoadBalancerNodePorts", ONLY_LOAD_BALANCER))
    if is_lb and spec.get("allocateLoadBalancerNodePorts") is None:
        causes.append(required("allocateLoadBalancerNodePorts"))  # sic: upstream omits "spec."
    lb_class = spec.get("loadBalancerClass")
    if lb_class is not None:
        if not is_lb:
            causes.append(forbidden("spec.loadBalancerClass", ONLY_LOAD_BALANCER))
        else:
            causes += each_invalid("spec.loadBalancerClass", as_str(lb_class),
                                   qualified_name(as_str(lb_class)))
    return causes


def validate_service(service: dict) -> list[Cause]:
    spec = as_dict(service.get("spec"))
    kind = as_str(spec.get("type"))
    ports = dicts(spec.get("ports"))
    causes = validate_object_meta(service.get("metadata"), True, name_is_dns1035_label)
    if not ports and not _headless(spec) and kind != "ExternalName":
        causes.append(required("spec.ports"))
    causes += _type_dependent(spec)
    names: set[str] = set()
    for i, port in enumerate(ports):
        causes += _port(port, len(ports) > 1, names, f"spec.ports[{i}]")
    if spec.get("selector") is not None:
        causes += validate_labels(spec["selector"], "spec.selector")
    causes += _session_affinity(spec)
    if kind != "ExternalName":
        causes += _cluster_ip_fields(spec)
    for i, ip in enumerate(as_list(spec.get("externalIPs"))):
        errors = check_ip(f"spec.externalIPs[{i}]", as_str(ip))
        causes += errors or check_endpoint_ip(f"spec.externalIPs[{i}]", as_str(ip))
    if not kind:
        causes.append(required("spec.type"))
    elif kind not in SERVICE_TYPES:
        causes.append(not_supported("spec.type", kind, SERVICE_TYPES))
    node_ports: set[tuple[str, int]] = set()
    service_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        node_port = as_int(port.get("nodePort")) or 0
        if kind == "ClusterIP" and node_port:
            causes.append(forbidden(f"spec.ports[{i}].nodePort",
                                    "may not be used when `type` is 'ClusterIP'"))
    for i, port in enumerate(ports):
        node_port, protocol = as_int(port.get("nodePort")) or 0, as_str(port.get("protocol"))
        if node_port:
            if (protocol, node_port) in node_ports:
                causes.append(duplicate(f"spec.ports[{i}].nodePort", node_port))
            node_ports.add((protocol, node_port))
    for i, port in enumerate(ports):
        key = (as_str(port.get("protocol")), as_int(port.get("port")) or 0)
        if key in service_ports:
            causes.append(duplicate(f"spec.ports[{i}]", _go_service_port(port)))
        service_ports.add(key)
    causes += _load_balancer_fields(spec)
    causes += _traffic_policies(spec)
    return causes


def _effective_update_ips(spec: dict, old_spec: dict) -> list[str]:
    old_ips, raw_ip = cluster_ips(old_spec), as_str(spec.get("clusterIP"))
    if [as_str(i) for i in as_list(spec.get("clusterIPs"))] == old_ips and raw_ip and \
            raw_ip != as_str(old_spec.get("clusterIP")):
        return [raw_ip]  # the strategy follows a changed clusterIP when clusterIPs is stale
    return cluster_ips(spec) or old_ips


def validate_service_update(service: dict, old: dict) -> list[Cause]:
    spec, old_spec = as_dict(service.get("spec")), as_dict(old.get("spec"))
    causes: list[Cause] = []
    if "ExternalName" not in (spec.get("type"), old_spec.get("type")):
        causes += _cluster_ip_changes(spec, old_spec)
        causes += _family_changes(spec, old_spec)
    if spec.get("type") == "LoadBalancer" and old_spec.get("type") == "LoadBalancer" and \
            spec.get("loadBalancerClass") != old_spec.get("loadBalancerClass"):
        causes.append(invalid("spec.loadBalancerClass", spec.get("loadBalancerClass"),
                              "may not change once set"))
    health, old_health = spec.get("healthCheckNodePort"), old_spec.get("healthCheckNodePort")
    if health and old_health and health != old_health:
        causes.append(forbidden("spec.healthCheckNodePort", "field is immutable"))
    return causes + validate_service(service)


def _cluster_ip_changes(spec: dict, old_spec: dict) -> list[Cause]:
    old_ips, new_ips = cluster_ips(old_spec), _effective_update_ips(spec, old_spec)
    if old_ips == ["None"] and new_ips == ["None"]:
        return []
    shown, path = go_slice(new_ips), "spec.clusterIPs"
    if len(old_ips) == len(new_ips):
        return [invalid(f"{path}[{i}]", shown, "may not change once set")
                for i, (a, b) in enumerate(zip(old_ips, new_ips)) if a != b]
    causes: list[Cause] = []
    if old_ips and new_ips[0] != old_ips[0]:
        causes.append(invalid(f"{path}[0]", shown, "may not change once set"))
    if len(old_ips) > len(new_ips) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
        causes.append(invalid("spec.ipFamilyPolicy", spec.get("ipFamilyPolicy"), "must be set "
                              "to 'SingleStack' when releasing the secondary clusterIP"))
    return causes


def _family_changes(spec: dict, old_spec: dict) -> list[Cause]:
    if _headless(old_spec) or _headless(spec):
        return []
    old = [as_str(f) for f in as_list(old_spec.get("ipFamilies"))]
    new = [as_str(f) for f in as_list(spec.get("ipFamilies"))] or old
    path = "spec.ipFamilies[0]"
    if len(old) == len(new):
        shown = go_slice(new, "[]core.IPFamily")
        return [invalid(path, shown, "may not change once set")
                for a, b in zip(old, new) if a != b]
    causes: list[Cause] = []
    if old and new and new[0] != old[0]:
        # Upstream shows the clusterIPs here, not the families.
        causes.append(invalid(path, go_slice(cluster_ips(spec)), "may not change once set"))
    if len(old) > len(new) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
        causes.append(invalid("spec.ipFamilyPolicy", spec.get("ipFamilyPolicy"),
                              "must be set to 'SingleStack' when releasing the secondary ipFamily"))
    return causes


# --- Endpoints and EndpointSlices -------------------------------------------------------

def _endpoint_port(port: dict, multiple: bool, path: str) -> list[Cause]:
    causes: list[Cause] = []
    name = as_str(port.get("name"))
    if multiple and not name:
        causes.append(required(f"{path}.name"))
    elif name:
        causes += each_invalid(f"{path}.name", name, dns1123_label(name))
    number = as_int(port.get("port")) or 0
    causes += each_invalid(f"{path}.port", number, port_num(number))
    protocol = as_str(port.get("protocol"))
    if not protocol:
        causes.append(required(f"{path}.protocol"))
    elif protocol not in PROTOCOLS:
        causes.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
    if port.get("appProtocol") is not None:
        app = as_str(port["appProtocol"])
        causes += each_invalid(f"{path}.appProtocol", app, qualified_name(app))
    return causes


# The endpoints controllers rewrite whole objects on every pod change, so the checks of an
# address or node name (the same few thousand strings again and again) are remembered.

@lru_cache(maxsize=8192)
def _ip_causes(ip: str) -> tuple[Cause, ...]:
    return tuple(check_ip("", ip))


@lru_cache(maxsize=8192)
def _endpoint_ip_causes(ip: str) -> tuple[Cause, ...]:
    return tuple(check_endpoint_ip("", ip))


@lru_cache(maxsize=1024)
def _node_name_errors(node: str) -> tuple[str, ...]:
    return tuple(name_is_dns_subdomain(node))


def _at(path: str, causes: tuple[Cause, ...]) -> list[Cause]:
    return [Cause(path, c.reason, c.message) for c in causes]


def _endpoint_address(address: dict, path: str) -> list[Cause]:
    ip = as_str(address.get("ip"))
    causes = _at(f"{path}.ip", _ip_causes(ip))
    hostname = as_str(address.get("hostname"))
    if hostname:
        causes += each_invalid(f"{path}.hostname", hostname, dns1123_label(hostname))
    if address.get("nodeName") is not None:
        node = as_str(address["nodeName"])
        causes += each_invalid(f"{path}.nodeName", node, _node_name_errors(node))
    return causes + _at(f"{path}.ip", _endpoint_ip_causes(ip))


def validate_endpoints(obj: dict) -> list[Cause]:
    causes = validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)
    for i, subset in enumerate(dicts(obj.get("subsets"))):
        path = f"subsets[{i}]"
        ready, not_ready = dicts(subset.get("addresses")), dicts(subset.get("notReadyAddresses"))
        if not ready and not not_ready:
            causes.append(required(path, "must specify `addresses` or `notReadyAddresses`"))
        for key, addresses in (("addresses", ready), ("notReadyAddresses", not_ready)):
            for j, address in enumerate(addresses):
                causes += _endpoint_address(address, f"{path}.{key}[{j}]")
        ports = dicts(subset.get("ports"))
        for j, port in enumerate(ports):
            causes += _endpoint_port(port, len(ports) > 1, f"{path}.ports[{j}]")
    return causes


def _fqdn(path: str, name: str) -> list[Cause]:
    """IsFullyQualifiedDomainName: at least two labels, trailing dot allowed."""
    if not name:
        return [required(path)]
    name = name.removesuffix(".")
    errors = dns1123_subdomain(name)
    if errors:
        return [invalid(path, name, ",".join(errors))]
    if len(name.split(".")) < 2:
        return [invalid(path, name, "should be a domain with at least two segments separated "
                                    "by dots")]
    for label in name.split("."):
        errors = dns1123_label(label)
        if errors:
            return [invalid(path, label, ",".join(errors))]
    return []


@lru_cache(maxsize=8192)
def _slice_address_causes(kind: str, address: str) -> tuple[Cause, ...]:
    if kind == "FQDN":
        return tuple(_fqdn("", address))
    ip = parse_ip(address)
    if kind not in ("IPv4", "IPv6"):
        return ()
    causes = [] if ip is not None and f"IPv{ip.version}" == kind else [
        invalid("", address, f"must be a valid {kind} address")]
    return tuple(causes) + _endpoint_ip_causes(address)


def _slice_address(kind: str, address: str, path: str) -> list[Cause]:
    return _at(path, _slice_address_causes(kind, address))


def validate_endpoint_slice(obj: dict) -> list[Cause]:
    causes = validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)
    kind = as_str(obj.get("addressType"))
    if not kind:
        causes.append(required("addressType"))
    elif kind not in ("FQDN", "IPv4", "IPv6"):
        causes.append(not_supported("addressType", kind, ("FQDN", "IPv4", "IPv6")))
    endpoints = dicts(obj.get("endpoints"))
    if len(endpoints) > 1000:
        causes.append(too_many("endpoints", len(endpoints), 1000))
        endpoints = []
    for i, endpoint in enumerate(endpoints):
        path = f"endpoints[{i}]"
        addresses = [as_str(a) for a in as_list(endpoint.get("addresses"))]
        if not addresses:
            causes.append(required(f"{path}.addresses", "must contain at least 1 address"))
        elif len(addresses) > 100:
            causes.append(too_many(f"{path}.addresses", len(addresses), 100))
        for j, address in enumerate(addresses):
            causes += _slice_address(kind, address, f"{path}.addresses[{j}]")
        if endpoint.get("nodeName") is not None:
            node = as_str(endpoint["nodeName"])
            causes += each_invalid(f"{path}.nodeName", node, _node_name_errors(node))
        causes += validate_labels(endpoint.get("deprecatedTopology"), f"{path}.deprecatedTopology")
        if endpoint.get("hostname") is not None:
            host = as_str(endpoint["hostname"])
            causes += each_invalid(f"{path}.hostname", host, dns1123_label(host))
    ports = dicts(obj.get("ports"))
    if len(ports) > 100:
        return causes + [too_many("ports", len(ports), 100)]
    names: set[str] = set()
    for i, port in enumerate(ports):
        name = as_str(port.get("name"))
        if name:
            causes += each_invalid(f"ports[{i}].name", name, dns1123_label(name))
        if name in names:
            causes.append(duplicate(f"ports[{i}].name", name))
        names.add(name)
        protocol = port.get("protocol")
        if protocol is None:
            causes.append(required(f"ports[{i}].protocol"))
        elif protocol not in PROTOCOLS:
            causes.append(not_supported(f"ports[{i}].protocol", as_str(protocol), PROTOCOLS))
        if port.get("appProtocol") is not None:
            app = as_str(port["appProtocol"])
            causes += each_invalid(f"ports[{i}].appProtocol", app, qualified_name(app))
    return causes


def validate_endpoint_slice_update(obj: dict, old: dict) -> list[Cause]:
    causes = validate_endpoint_slice(obj)
    if obj.get("addressType") != old.get("addressType"):
        causes.append(invalid("addressType", as_str(obj.get("addressType")), "field is immutable"))
    return causes

