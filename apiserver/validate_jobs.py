"""batch/v1 Jobs (ValidateJob, ValidateJobUpdate): counts that may not be negative, the
completion mode, the selector (required, matching the template's labels, and on a
generated selector the controller-uid and job-name labels it implies), the pod template
(whose restartPolicy must be OnFailure or Never), and what may not change afterwards."""

from __future__ import annotations

from apiserver.validate_formats import (
    Cause, GoValue, as_dict, as_int, as_str, dns1123_label, go_quote, go_string_map, invalid,
    name_is_dns_subdomain, nonnegative, not_supported, required)
from apiserver.validate_meta import (
    FIELD_IMMUTABLE, go_label_selector, selector_matches, validate_label_selector,
    validate_object_meta)
from apiserver.validate_pods import validate_pod_template
from apiserver.validate_workloads import selector_immutable

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"
COMPLETION_MODES = ("NonIndexed", "Indexed")
RESTART_POLICIES = ("OnFailure", "Never")
MAX_PARALLELISM_INDEXED = 100_000


def _template_labels(spec: dict) -> dict | None:
    labels = as_dict(as_dict(spec.get("template")).get("metadata")).get("labels")
    return labels if isinstance(labels, dict) else None


def _has_label(labels: dict | None, key: str, value: str) -> list[Cause]:
    """ValidateHasLabel on the template's metadata."""
    path = f"spec.template.metadata.labels[{key}]"
    if labels is None or key not in labels:
        return [required(path, "")]
    if labels[key] != value:
        return [invalid(path, labels[key], f"must be '{value}'")]
    return []


def _generated_selector(job: dict) -> list[Cause]:
    """ValidateGeneratedSelector: what the create-time selector generation promises."""
    spec, meta = as_dict(job.get("spec")), as_dict(job.get("metadata"))
    if spec.get("manualSelector") is True:
        return []
    labels = _template_labels(spec)
    uid, name = as_str(meta.get("uid")), as_str(meta.get("name"))
    causes = _has_label(labels, CONTROLLER_UID, uid) + _has_label(labels, JOB_NAME, name)
    selector = spec.get("selector")
    if selector is not None and not validate_label_selector(selector, "spec.selector") and \
            not selector_matches(selector, {CONTROLLER_UID: uid}):
        causes.append(invalid("spec.selector", go_label_selector(selector),
                              "`selector` not auto-generated"))
    return causes


def _spec(spec: dict) -> list[Cause]:
    causes: list[Cause] = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
                "ttlSecondsAfterFinished"):
        causes += nonnegative(f"spec.{key}", spec.get(key))
    mode = spec.get("completionMode")
    if mode is not None:
        if mode not in COMPLETION_MODES:
            causes.append(not_supported("spec.completionMode", as_str(mode), COMPLETION_MODES))
        if mode == "Indexed":
            if spec.get("completions") is None:
                causes.append(required("spec.completions", "when completion mode is Indexed"))
            parallelism = as_int(spec.get("parallelism"))
            if parallelism is not None and parallelism > MAX_PARALLELISM_INDEXED:
                causes.append(invalid("spec.parallelism", parallelism,
                                      f"must be less than or equal to "
                                      f"{MAX_PARALLELISM_INDEXED} when completion mode is "
                                      "Indexed"))
    selector = spec.get("selector")
    selector_errors: list[Cause] = []
    if selector is None:
        causes.append(required("spec.selector", ""))
    else:
        selector_errors = validate_label_selector(selector, "spec.selector")
        causes += selector_errors
    labels = _template_labels(spec)
    if selector is not None and not selector_errors and \
            not selector_matches(selector, labels or {}):
        causes.append(invalid("spec.template.metadata.labels", go_string_map(labels),
                              "`selector` does not match template `labels`"))
    template = as_dict(spec.get("template"))
    causes += validate_pod_template(template, "spec.template")
    policy = as_str(as_dict(template.get("spec")).get("restartPolicy"))
    if policy not in RESTART_POLICIES:
        causes.append(required("spec.template.spec.restartPolicy",
                               "valid values: " + ", ".join(go_quote(p)
                                                            for p in RESTART_POLICIES)))
    return causes


def validate_job(job: dict) -> list[Cause]:
    spec, meta = as_dict(job.get("spec")), as_dict(job.get("metadata"))
    causes = validate_object_meta(job.get("metadata"), True, name_is_dns_subdomain)
    causes += _generated_selector(job)
    causes += _spec(spec)
    completions = as_int(spec.get("completions"))
    if spec.get("completionMode") == "Indexed" and completions and completions > 0:
        # Indexed pods are named (and get a hostname) <job>-<index>.
        hostname = f"{as_str(meta.get('name'))}-{completions - 1}"
        if dns1123_label(hostname):
            causes.append(invalid("metadata.name", as_str(meta.get("name")),
                                  f"will not able to create pod with invalid DNS label: "
                                  f"{hostname}"))
    return causes


def validate_job_update(job: dict, old: dict) -> list[Cause]:
    """ValidateJobUpdate: the new Job, then the fields batch/v1 keeps as created (the
    template may change only while the Job is suspended)."""
    spec, old_spec = as_dict(job.get("spec")), as_dict(old.get("spec"))
    causes = validate_job(job) + selector_immutable(job, old)
    if spec.get("template") != old_spec.get("template") and not old_spec.get("suspend"):
        causes.append(invalid("spec.template", GoValue("core.PodTemplateSpec{...}"),
                              FIELD_IMMUTABLE))
    for key in ("completionMode", "completions"):
        if spec.get(key) != old_spec.get(key):
            value = spec.get(key)
            shown = GoValue(go_quote(value)) if isinstance(value, str) else value
            causes.append(invalid(f"spec.{key}", shown, FIELD_IMMUTABLE))
    return causes
