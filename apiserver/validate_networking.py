"""networking.k8s.io/v1: Ingress rules, paths and backends, IngressClass controllers and
parameters, and NetworkPolicy selectors, ports and ipBlocks."""

from __future__ import annotations

import re
from typing import Any

from apiserver.validate_formats import (
    Cause, as_dict, as_int, as_list, as_str, check_cidr, dicts, dns1123_subdomain,
    each_invalid, forbidden, go_slice, invalid, name_is_dns1035_label, name_is_dns_label,
    name_is_dns_subdomain, not_supported, parse_cidr, parse_ip, port_name, port_num,
    regex_error, required, too_long, wildcard_dns1123_subdomain)
from apiserver.validate_meta import immutable, validate_label_selector, validate_object_meta

PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
_BAD_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_BAD_SUFFIXES = ("/..", "/.")
_HTTP_PATH_FMT = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+"


def _host(host: str, path: str) -> list[Cause]:
    causes = []
    if parse_ip(host) is not None:
        causes.append(invalid(path, host, "must be a DNS name, not an IP address"))
    check = wildcard_dns1123_subdomain if "*" in host else dns1123_subdomain
    return causes + each_invalid(path, host, check(host))


def _path_segment_name(value: str) -> list[str]:
    """IsValidPathSegmentName: the name must be usable as one URL path segment."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{ch}'" for ch in "/%" if ch in value]


def _typed_reference(ref: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if ref.get("apiGroup") is not None:
        group = as_str(ref["apiGroup"])
        causes += each_invalid(f"{path}.apiGroup", group, dns1123_subdomain(group))
    for key in ("kind", "name"):
        value = as_str(ref.get(key))
        if not value:
            causes.append(required(f"{path}.{key}"))
        else:
            causes += each_invalid(f"{path}.{key}", value, _path_segment_name(value))
    return causes


def _backend(backend: dict, path: str) -> list[Cause]:
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        return _typed_reference(as_dict(resource), f"{path}.resource")
    if service is None:
        return [invalid(path, "", "resource or service backend is required")]
    service = as_dict(service)
    causes: list[Cause] = []
    name = as_str(service.get("name"))
    if not name:
        causes.append(required(f"{path}.service.name"))
    else:
        causes += each_invalid(f"{path}.service.name", name, name_is_dns1035_label(name))
    port = as_dict(service.get("port"))
    port_text, number = as_str(port.get("name")), as_int(port.get("number")) or 0
    if port_text and number:
        causes.append(invalid(path, "", "cannot set both port name & port number"))
    elif port_text:
        causes += each_invalid(f"{path}.service.port.name", port_text, port_name(port_text))
    elif number:
        causes += each_invalid(f"{path}.service.port.number", number, port_num(number))
    else:
        causes.append(required(path, "port name or number is required"))
    return causes


def _http_path(entry: dict, path: str) -> list[Cause]:
    if entry.get("pathType") is None:
        return [required(f"{path}.pathType", "pathType must be specified")]
    kind, value = as_str(entry["pathType"]), as_str(entry.get("path"))
    causes: list[Cause] = []
    if kind in ("Exact", "Prefix"):
        if not value.startswith("/"):
            causes.append(invalid(f"{path}.path", value, "must be an absolute path"))
        causes += [invalid(f"{path}.path", value, f"must not contain '{seq}'")
                   for seq in _BAD_SEQUENCES if seq in value]
        causes += [invalid(f"{path}.path", value, f"cannot end with '{suffix}'")
                   for suffix in _BAD_SUFFIXES if value.endswith(suffix)]
    elif kind == "ImplementationSpecific":
        if value and not value.startswith("/"):
            causes.append(invalid(f"{path}.path", value, "must be an absolute path"))
    else:
        causes.append(not_supported(f"{path}.pathType", kind, PATH_TYPES))
    return causes + _backend(as_dict(entry.get("backend")), f"{path}.backend")


def validate_ingress(ingress: dict) -> list[Cause]:
    spec = as_dict(ingress.get("spec"))
    causes = validate_object_meta(ingress.get("metadata"), True, name_is_dns_subdomain)
    rules = dicts(spec.get("rules"))
    if not rules and spec.get("defaultBackend") is None:
        raw = spec.get("rules")
        causes.append(invalid("spec", go_slice(raw if isinstance(raw, list) else None,
                                               "[]networking.IngressRule"),
                              "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        causes += _backend(as_dict(spec["defaultBackend"]), "spec.defaultBackend")
    for i, rule in enumerate(rules):
        host = as_str(rule.get("host"))
        if host:
            causes += _host(host, f"spec.rules[{i}].host")
        if rule.get("http") is not None:
            paths = dicts(as_dict(rule["http"]).get("paths"))
            if not paths:
                causes.append(required(f"spec.rules[{i}].http.paths"))
            for j, entry in enumerate(paths):
                causes += _http_path(entry, f"spec.rules[{i}].http.paths[{j}]")
    for i, tls in enumerate(dicts(spec.get("tls"))):
        for j, host in enumerate(as_list(tls.get("hosts"))):
            host = as_str(host)
            check = wildcard_dns1123_subdomain if "*" in host else dns1123_subdomain
            causes += each_invalid(f"spec.tls[{i}].hosts[{j}]", host, check(host))
        secret = as_str(tls.get("secretName"))
        if secret:
            causes += each_invalid(f"spec.tls[{i}].secretName", secret,
                                   name_is_dns_subdomain(secret))
    if spec.get("ingressClassName") is not None:
        class_name = as_str(spec["ingressClassName"])
        causes += each_invalid("spec.ingressClassName", class_name,
                               name_is_dns_subdomain(class_name))
    return causes


def validate_ingress_create(ingress: dict) -> list[Cause]:
    causes = validate_ingress(ingress)
    annotations = as_dict(as_dict(ingress.get("metadata")).get("annotations"))
    class_name = as_dict(ingress.get("spec")).get("ingressClassName")
    annotated = annotations.get(INGRESS_CLASS_ANNOTATION)
    if annotated is not None and class_name is not None and annotated != class_name:
        causes.append(invalid(f"annotations.{INGRESS_CLASS_ANNOTATION}", as_str(annotated),
                              "must match `ingressClassName` when both are specified"))
    return causes


def ingress_warnings(ingress: dict) -> list[str]:
    """What creating ``ingress`` warns about (upstream's WarningsOnCreate; updates warn
    about nothing): the class annotation is deprecated where no ingressClassName is set."""
    annotations = as_dict(as_dict(ingress.get("metadata")).get("annotations"))
    if INGRESS_CLASS_ANNOTATION in annotations and \
            as_dict(ingress.get("spec")).get("ingressClassName") is None:
        return [f'annotation "{INGRESS_CLASS_ANNOTATION}" is deprecated, please use '
                "'spec.ingressClassName' instead"]
    return []


def _controller(controller: str, path: str) -> list[Cause]:
    """IsDomainPrefixedPath, e.g. ``example.com/ingress-controller``."""
    if not controller:
        return [required(path)]
    causes = [too_long(path, 250)] if len(controller) > 250 else []
    host, sep, rest = controller.partition("/")
    if not sep or not host or not rest:
        return causes + [invalid(path, controller,
                                 'must be a domain-prefixed path (such as "acme.io/foo")')]
    causes += each_invalid(path, host, dns1123_subdomain(host))
    if not re.fullmatch(_HTTP_PATH_FMT, rest):
        causes.append(invalid(path, rest, regex_error("Invalid path", _HTTP_PATH_FMT)))
    return causes


def validate_ingress_class(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = validate_object_meta(obj.get("metadata"), False, name_is_dns_subdomain)
    causes += _controller(as_str(spec.get("controller")), "spec.controller")
    params = spec.get("parameters")
    if params is None:
        return causes
    params, path = as_dict(params), "spec.parameters"
    causes += _typed_reference(params, path)
    scope = params.get("scope")
    if scope is None:
        return causes + [required(f"{path}.scope")]
    if scope not in ("Cluster", "Namespace"):
        return causes + [not_supported(f"{path}.scope", as_str(scope), ("Cluster", "Namespace"))]
    namespace = params.get("namespace")
    if scope == "Namespace":
        if namespace is None:
            causes.append(required(f"{path}.namespace", "`parameters.scope` is set to 'Namespace'"))
        else:
            causes += each_invalid(f"{path}.namespace", as_str(namespace),
                                   name_is_dns_label(as_str(namespace)))
    elif namespace is not None:
        causes.append(forbidden(f"{path}.namespace", "`parameters.scope` is set to 'Cluster'"))
    return causes


def validate_ingress_class_update(obj: dict, old: dict) -> list[Cause]:
    controller = as_str(as_dict(obj.get("spec")).get("controller"))
    old_controller = as_str(as_dict(old.get("spec")).get("controller"))
    return immutable("spec.controller", controller, old_controller) + validate_ingress_class(obj)


# --- NetworkPolicy --------------------------------------------------------------------

def _policy_port(port: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in ("TCP", "UDP", "SCTP"):
        causes.append(not_supported(f"{path}.protocol", as_str(protocol), ("TCP", "UDP", "SCTP")))
    value, end = port.get("port"), as_int(port.get("endPort"))
    if value is None:
        if end is not None:
            causes.append(invalid(f"{path}.endPort", end,
                                  "may not be specified when `port` is not specified"))
    elif isinstance(value, str):
        if end is not None:
            causes.append(invalid(f"{path}.endPort", end,
                                  "may not be specified when `port` is non-numeric"))
        causes += each_invalid(f"{path}.port", value, port_name(value))
    else:
        number = as_int(value) or 0
        causes += each_invalid(f"{path}.port", number, port_num(number))
        if end is not None:
            if end < number:
                causes.append(invalid(f"{path}.endPort", end,
                                      "must be greater than or equal to `port`"))
            causes += each_invalid(f"{path}.endPort", end, port_num(end))
    return causes


def _ip_block(block: dict, path: str) -> list[Cause]:
    cidr = as_str(block.get("cidr"))
    if not cidr:
        return [required(f"{path}.cidr")]
    causes = check_cidr(f"{path}.cidr", cidr)
    network = parse_cidr(cidr)
    if network is None:
        return causes
    for i, text in enumerate(as_list(block.get("except"))):
        text, epath = as_str(text), f"{path}.except[{i}]"
        causes += check_cidr(epath, text)
        excluded = parse_cidr(text)
        if excluded is None:
            continue
        if excluded.version != network.version or excluded.network_address not in network or \
                network.prefixlen >= excluded.prefixlen:
            causes.append(invalid(epath, text, "must be a strict subset of `cidr`"))
    return causes


def _peer(peer: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    count = 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            count += 1
            causes += validate_label_selector(peer[key], f"{path}.{key}")
    if peer.get("ipBlock") is not None:
        count += 1
        causes += _ip_block(as_dict(peer["ipBlock"]), f"{path}.ipBlock")
    if count == 0:
        causes.append(required(path, "must specify a peer"))
    elif count > 1 and peer.get("ipBlock") is not None:
        causes.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return causes


def validate_network_policy(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)
    causes += validate_label_selector(as_dict(spec.get("podSelector")), "spec.podSelector")
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(dicts(spec.get(direction))):
            rpath = f"spec.{direction}[{i}]"
            for j, port in enumerate(dicts(rule.get("ports"))):
                causes += _policy_port(port, f"{rpath}.ports[{j}]")
            for j, peer in enumerate(dicts(rule.get(peers_key))):
                causes += _peer(peer, f"{rpath}.{peers_key}[{j}]")
    types: list[Any] = as_list(spec.get("policyTypes"))
    if len(types) > 2:
        return causes + [invalid("spec.policyTypes", go_slice(types, "[]networking.PolicyType"),
                                 "may not specify more than two policyTypes")]
    for i, kind in enumerate(types):
        if kind not in ("Ingress", "Egress"):
            causes.append(not_supported(f"spec.policyTypes[{i}]", as_str(kind),
                                        ("Ingress", "Egress")))
    return causes

