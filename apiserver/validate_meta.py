"""Object metadata and label selectors, as apimachinery validates them for every kind:
names, namespaces, labels, annotations, finalizers, owner references, the fields an
update may not change, and metav1.LabelSelector syntax, matching and Go rendering."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from apiserver.validate_formats import (
    Cause, GoValue, as_dict, as_list, as_str, dicts, each_invalid, forbidden, go_quote,
    go_slice, go_string_map, invalid, label_value, name_is_dns_label, qualified_name,
    required, too_long)

NameFn = Callable[[str, bool], list[str]]

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
FIELD_IMMUTABLE = "field is immutable"
STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def validate_labels(labels: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in sorted(as_dict(labels).items()):
        causes += each_invalid(path, key, qualified_name(key))
        causes += each_invalid(path, as_str(value), label_value(as_str(value)))
    return causes


def validate_annotations(annotations: Any, path: str) -> list[Cause]:
    annotations = as_dict(annotations)
    causes: list[Cause] = []
    for key in sorted(annotations):
        # Annotation keys are qualified names in any letter case.
        causes += each_invalid(path, key, qualified_name(key.lower()))
    size = sum(len(k.encode()) + len(as_str(v).encode()) for k, v in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return causes


def _validate_finalizers(finalizers: list[str], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for f in finalizers:
        causes += each_invalid(path, f, qualified_name(f))
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        causes.append(invalid(path, go_slice(finalizers),
                              "finalizer orphan and foregroundDeletion cannot be both set"))
    return causes


def kube_finalizer_name(name: str, path: str) -> list[Cause]:
    if "/" not in name and name not in STANDARD_FINALIZERS:
        return [invalid(path, name, "name is neither a standard finalizer name nor is it fully "
                                    "qualified")]
    return []


def _validate_owner_references(refs: list[dict], path: str) -> list[Cause]:
    causes: list[Cause] = []
    first_controller = ""
    for ref in refs:
        api_version = as_str(ref.get("apiVersion"))
        if not api_version.rpartition("/")[2]:
            causes.append(invalid(f"{path}.apiVersion", api_version, "version must not be empty"))
        for key in ("kind", "name", "uid"):
            if not as_str(ref.get(key)):
                causes.append(invalid(f"{path}.{key}", as_str(ref.get(key)), "must not be empty"))
        if ref.get("controller") is True:
            current = f"{as_str(ref.get('kind'))}/{as_str(ref.get('name'))}"
            if first_controller:
                causes.append(invalid(path, GoValue("[]v1.OwnerReference{...}"),
                                      "Only one reference can have Controller set to true. Found "
                                      f'"true" in references for {first_controller} and {current}'))
            else:
                first_controller = current
    return causes


def validate_object_meta(meta: Any, namespaced: bool, name_fn: NameFn,
                         path: str = "metadata") -> list[Cause]:
    """ValidateObjectMeta. The apiserver has already generated the name from generateName
    and cleared the namespace of cluster-scoped kinds by the time this runs."""
    meta = as_dict(meta)
    causes: list[Cause] = []
    name, generate_name = as_str(meta.get("name")), as_str(meta.get("generateName"))
    if generate_name:
        causes += each_invalid(f"{path}.generateName", generate_name, name_fn(generate_name, True))
    if name:
        causes += each_invalid(f"{path}.name", name, name_fn(name, False))
    elif not generate_name:
        causes.append(required(f"{path}.name", "name or generateName is required"))
    namespace = as_str(meta.get("namespace"))
    if namespaced:
        if not namespace:
            causes.append(required(f"{path}.namespace"))
        else:
            causes += each_invalid(f"{path}.namespace", namespace,
                                   name_is_dns_label(namespace, False))
    generation = meta.get("generation")
    if isinstance(generation, int) and generation < 0:
        causes.append(invalid(f"{path}.generation", generation,
                              "must be greater than or equal to 0"))
    causes += validate_labels(meta.get("labels"), f"{path}.labels")
    causes += validate_annotations(meta.get("annotations"), f"{path}.annotations")
    causes += _validate_owner_references(dicts(meta.get("ownerReferences")),
                                         f"{path}.ownerReferences")
    finalizers = [as_str(f) for f in as_list(meta.get("finalizers"))]
    causes += _validate_finalizers(finalizers, f"{path}.finalizers")
    for i, f in enumerate(finalizers):
        causes += kube_finalizer_name(f, f"{path}.finalizers[{i}]")
    return causes


def go_time(timestamp: str) -> GoValue:
    """metav1.Time prints through time.Time.String()."""
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return GoValue(go_quote(timestamp))
    return GoValue(moment.strftime("%Y-%m-%d %H:%M:%S +0000 UTC"))


def immutable(path: str, new: Any, old: Any, shown: Any = None) -> list[Cause]:
    if new == old:
        return []
    return [invalid(path, new if shown is None else shown, FIELD_IMMUTABLE)]


def validate_object_meta_update(new: Any, old: Any, path: str = "metadata") -> list[Cause]:
    """ValidateObjectMetaUpdate. Empty uid and creationTimestamp count as unchanged: the
    apiserver copies them from the stored object before validating (rest.BeforeUpdate)."""
    new, old = as_dict(new), as_dict(old)
    causes: list[Cause] = []
    if old.get("deletionTimestamp"):
        added = sorted(set(map(str, as_list(new.get("finalizers"))))
                       - set(map(str, as_list(old.get("finalizers")))))
        if added:
            causes.append(forbidden(f"{path}.finalizers", "no new finalizers can be added if the "
                                    f"object is being deleted, found new finalizers "
                                    f"{go_slice(added).text}"))
    for key in ("name", "namespace", "uid"):
        new_value, old_value = as_str(new.get(key)), as_str(old.get(key))
        if key != "uid" or new_value:
            causes += immutable(f"{path}.{key}", new_value, old_value)
    created = as_str(new.get("creationTimestamp"))
    if created:
        causes += immutable(f"{path}.creationTimestamp", created,
                            as_str(old.get("creationTimestamp")), go_time(created))
    causes += validate_labels(new.get("labels"), f"{path}.labels")
    causes += validate_annotations(new.get("annotations"), f"{path}.annotations")
    causes += _validate_owner_references(dicts(new.get("ownerReferences")),
                                         f"{path}.ownerReferences")
    for i, f in enumerate(as_list(new.get("finalizers"))):
        causes += kube_finalizer_name(as_str(f), f"{path}.finalizers[{i}]")
    return causes


# --- label selectors ------------------------------------------------------------------

SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector: Any, path: str) -> list[Cause]:
    """ValidateLabelSelector (strict: label values in expressions are checked)."""
    if selector is None:
        return []
    selector = as_dict(selector)
    causes = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(dicts(selector.get("matchExpressions"))):
        epath = f"{path}.matchExpressions[{i}]"
        operator, values = as_str(expr.get("operator")), as_list(expr.get("values"))
        if operator in ("In", "NotIn"):
            if not values:
                causes.append(required(f"{epath}.values",
                                       "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                causes.append(forbidden(f"{epath}.values", "may not be specified when `operator` "
                                                           "is 'Exists' or 'DoesNotExist'"))
        else:
            causes.append(invalid(f"{epath}.operator", operator, "not a valid selector operator"))
        key = as_str(expr.get("key"))
        causes += each_invalid(f"{epath}.key", key, qualified_name(key))
        for j, value in enumerate(values):
            value = as_str(value)
            causes += each_invalid(f"{epath}.values[{j}]", value, label_value(value))
    return causes


def selector_matches(selector: Any, labels: Mapping[str, Any] | None) -> bool:
    """metav1.LabelSelectorAsSelector(selector).Matches(labels); a missing selector
    matches nothing, an empty one everything."""
    if selector is None:
        return False
    selector, labels = as_dict(selector), labels or {}
    if any(labels.get(k) != v for k, v in as_dict(selector.get("matchLabels")).items()):
        return False
    for expr in dicts(selector.get("matchExpressions")):
        key, operator = as_str(expr.get("key")), expr.get("operator")
        values = as_list(expr.get("values"))
        present = key in labels
        if ((operator == "In" and not (present and labels[key] in values))
                or (operator == "NotIn" and present and labels[key] in values)
                or (operator == "Exists" and not present)
                or (operator == "DoesNotExist" and present)):
            return False
    return True


def selector_is_empty(selector: Any) -> bool:
    selector = as_dict(selector)
    return not as_dict(selector.get("matchLabels")) and not as_list(
        selector.get("matchExpressions"))


def _go_values(values: Any) -> GoValue:
    return go_slice(values if isinstance(values, list) else None)


def go_label_selector(selector: Any) -> GoValue:
    """%#v of a *metav1.LabelSelector (the pointer is dereferenced by ErrorBody)."""
    if selector is None:
        return GoValue("null")
    selector = as_dict(selector)
    labels = selector.get("matchLabels")
    exprs = selector.get("matchExpressions")
    rendered_exprs = go_slice(
        None if exprs is None else [GoValue(
            f"v1.LabelSelectorRequirement{{Key:{go_quote(as_str(e.get('key')))}, "
            f"Operator:{go_quote(as_str(e.get('operator')))}, "
            f"Values:{_go_values(e.get('values')).text}}}")
            for e in dicts(exprs)],
        "[]v1.LabelSelectorRequirement")
    rendered_labels = go_string_map(labels if isinstance(labels, dict) else None)
    return GoValue(f"v1.LabelSelector{{MatchLabels:{rendered_labels.text}, "
                   f"MatchExpressions:{rendered_exprs.text}}}")
