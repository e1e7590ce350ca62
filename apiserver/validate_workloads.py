"""Deployments and ReplicaSets: replicas, the selector (required, non-empty, matching the
template's labels, immutable in apps/v1), the rollout strategy, and the pod template."""

from __future__ import annotations

import re
from typing import Any

from apiserver.validate_formats import (
    Cause, GoValue, as_dict, as_int, as_str, each_invalid, forbidden, go_int_or_string,
    go_quote, go_string_map, invalid, name_is_dns_subdomain, nonnegative, not_supported,
    percent, required)
from apiserver.validate_meta import (
    FIELD_IMMUTABLE, go_label_selector, selector_is_empty, selector_matches,
    validate_label_selector, validate_object_meta)
from apiserver.validate_pods import validate_pod_template


def _template(spec: dict, path: str) -> list[Cause]:
    """ValidatePodTemplateSpecForReplicaSet, skipped upstream when the selector is invalid."""
    selector = spec.get("selector")
    template = as_dict(spec.get("template"))
    labels = as_dict(template.get("metadata")).get("labels")
    causes: list[Cause] = []
    if (selector is None or not selector_is_empty(selector)) and not selector_matches(
            selector, labels if isinstance(labels, dict) else None):
        causes.append(invalid(f"{path}.metadata.labels",
                              go_string_map(labels if isinstance(labels, dict) else None),
                              "`selector` does not match template `labels`"))
    causes += validate_pod_template(template, path)
    pod_spec = as_dict(template.get("spec"))
    policy = as_str(pod_spec.get("restartPolicy"))
    if policy != "Always":
        causes.append(not_supported(f"{path}.spec.restartPolicy", policy, ("Always",)))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        causes.append(forbidden(f"{path}.spec.activeDeadlineSeconds",
                                "activeDeadlineSeconds in ReplicaSet is not Supported"))
    return causes


def _selector_and_template(spec: dict) -> list[Cause]:
    causes: list[Cause] = []
    selector = spec.get("selector")
    if selector is None:
        causes.append(required("spec.selector"))
        selector_errors: list[Cause] = []
    else:
        selector_errors = validate_label_selector(selector, "spec.selector")
        causes += selector_errors
        if selector_is_empty(selector):
            causes.append(invalid("spec.selector", go_label_selector(selector),
                                  "empty selector is invalid for deployment"))
    if selector_errors:
        causes.append(invalid("spec.selector", go_label_selector(selector),
                              "invalid label selector"))
    else:
        causes += _template(spec, "spec.template")
    return causes


def _percent_value(value: Any) -> int | None:
    if isinstance(value, str) and not percent(value):
        return int(value[:-1])
    return None


def _int_or_percent_value(value: Any) -> int:
    """getIntOrPercentValue: a bad string counts as its integer value, or 0."""
    as_percent = _percent_value(value)
    if as_percent is not None:
        return as_percent
    if isinstance(value, str):
        return int(value) if re.fullmatch(r"[+-]?\d+", value) else 0
    return as_int(value) or 0


def _positive_int_or_percent(value: Any, path: str) -> list[Cause]:
    if isinstance(value, str):
        return each_invalid(path, go_int_or_string(value), percent(value))
    return nonnegative(path, value)


def _strategy(strategy: Any) -> list[Cause]:
    strategy = as_dict(strategy)
    kind = as_str(strategy.get("type"))
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            return [forbidden("spec.strategy.rollingUpdate",
                              "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if kind == "RollingUpdate":
        if rolling is None:
            return [required("spec.strategy.rollingUpdate",
                             "this should be defaulted and never be nil")]
        rolling, path = as_dict(rolling), "spec.strategy.rollingUpdate"
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        causes = _positive_int_or_percent(unavailable, f"{path}.maxUnavailable")
        causes += _positive_int_or_percent(surge, f"{path}.maxSurge")
        if _int_or_percent_value(unavailable) == 0 and _int_or_percent_value(surge) == 0:
            causes.append(invalid(f"{path}.maxUnavailable", go_int_or_string(unavailable),
                                  "may not be 0 when `maxSurge` is 0"))
        unavailable_percent = _percent_value(unavailable)
        if unavailable_percent is not None and unavailable_percent > 100:
            causes.append(invalid(f"{path}.maxUnavailable", go_int_or_string(unavailable),
                                  "must not be greater than 100%"))
        return causes
    rendered = "(*apps.RollingUpdateDeployment)(nil)" if rolling is None else \
        "(*apps.RollingUpdateDeployment)(0xc000000000)"
    shown = GoValue(f"apps.DeploymentStrategy{{Type:{go_quote(kind)}, RollingUpdate:{rendered}}}")
    return [not_supported("spec.strategy", shown, ("Recreate", "RollingUpdate"))]


def validate_deployment(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)
    causes += nonnegative("spec.replicas", spec.get("replicas"))
    causes += _selector_and_template(spec)
    causes += _strategy(spec.get("strategy"))
    causes += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    deadline = as_int(spec.get("progressDeadlineSeconds"))
    if deadline is not None:
        causes += nonnegative("spec.progressDeadlineSeconds", deadline)
        if deadline <= (as_int(spec.get("minReadySeconds")) or 0):
            causes.append(invalid("spec.progressDeadlineSeconds", deadline,
                                  "must be greater than minReadySeconds"))
    return causes


def validate_replica_set(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = validate_object_meta(obj.get("metadata"), True, name_is_dns_subdomain)
    causes += nonnegative("spec.replicas", spec.get("replicas"))
    causes += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += _selector_and_template(spec)
    return causes


def selector_immutable(obj: dict, old: dict) -> list[Cause]:
    """apps/v1 strategies forbid changing spec.selector after creation."""
    selector = as_dict(obj.get("spec")).get("selector")
    if selector == as_dict(old.get("spec")).get("selector"):
        return []
    return [invalid("spec.selector", go_label_selector(selector), FIELD_IMMUTABLE)]
