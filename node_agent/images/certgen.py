"""kube-webhook-certgen (registry.k8s.io/ingress-nginx/kube-webhook-certgen), the program
of the ingress add-on's two admission Jobs: ``create`` makes a CA and a serving
certificate and stores them in a Secret, ``patch`` writes that CA into the admission
webhook configurations. Here each logs what the real one logs on a fresh cluster, logrus
JSON lines on stdout, and exits 0; neither talks to the API (no Secret is written, no
webhook configuration patched). Log lines are pure functions of the clock passed in."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone

from node_agent.images.model import Exit, Program

CREATE, PATCH = "create", "patch"
FAILURE_POLICIES = ("", "Ignore", "Fail")


def log_line(level: str, msg: str, source: str, now: float, **fields: str) -> str:
    """One logrus JSONFormatter line: keys sorted, time in RFC 3339 (UTC, whole
    seconds); ``source`` is the file:line the filename hook adds."""
    stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = {**fields, "level": level, "msg": msg, "source": source, "time": stamp}
    return json.dumps(dict(sorted(entry.items())), separators=(",", ":"))


def problem(command: str, settings: Mapping[str, str | int | bool]) -> tuple[str, str] | None:
    """What patch's own checks (prePatchCommand) reject before it runs, as (message,
    source) of its Fatal line; None when it goes on."""
    if command != PATCH:
        return None
    if not settings["patch-mutating"] and not settings["patch-validating"]:
        return ("patch-validating=false, patch-mutating=false. You must patch at least one "
                "kind of webhook, otherwise this command is a no-op", "cmd/patch.go:26")
    policy = settings["patch-failure-policy"]
    if policy not in FAILURE_POLICIES:
        return f"patch-failure-policy {policy} is not valid", "cmd/patch.go:35"
    return None


class CertGen(Program):
    """One run of ``create`` or ``patch`` with its flag values (``settings``): it listens
    on nothing and ends once its lines are out, 0, or 1 after a Fatal line."""

    def __init__(self, command: str, settings: Mapping[str, str | int | bool]) -> None:
        self.command = command
        self.settings = dict(settings)
        self.problem = problem(command, self.settings)

    def banner(self, now: float) -> list[str]:
        s = self.settings
        if self.problem is not None:
            return [log_line("fatal", *self.problem, now)]
        if self.command == CREATE:
            return [log_line("info", "no secret found", "k8s/k8s.go:229", now,
                             err=f'secrets "{s["secret-name"]}" not found'),
                    log_line("info", "creating new secret", "cmd/create.go:28", now)]
        return [log_line("info", f"patching webhook configurations '{s['webhook-name']}' "
                         f"mutating={str(s['patch-mutating']).lower()}, "
                         f"validating={str(s['patch-validating']).lower()}, "
                         f"failurePolicy={s['patch-failure-policy']}", "k8s/k8s.go:118", now),
                log_line("info", "Patched hook(s)", "k8s/k8s.go:138", now)]

    def finished(self, now: float) -> Exit | None:
        return Exit(1 if self.problem is not None else 0)
