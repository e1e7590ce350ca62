"""kube-webhook-certgen, the ingress add-on's admission Jobs' image: how its command lines
are read (cobra subcommands, required flags) and the logrus JSON lines each run logs."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from node_agent.images import catalogue, certgen
from node_agent.images.catalogue import Kind

IMAGE = "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.4.4"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()
CREATE = ["create", "--host=ingress-nginx-controller-admission,"
          "ingress-nginx-controller-admission.ingress-nginx.svc",
          "--namespace=ingress-nginx", "--secret-name=ingress-nginx-admission"]
PATCH = ["patch", "--webhook-name=ingress-nginx-admission", "--namespace=ingress-nginx",
         "--patch-mutating=false", "--secret-name=ingress-nginx-admission",
         "--patch-failure-policy=Fail"]


def run(args: list[str]) -> tuple[int, list[dict]]:
    """(exit code, decoded log lines) of one run."""
    choice = catalogue.choose(IMAGE, [], args, {}, [])
    if choice.kind is Kind.EXIT:
        assert choice.exit is not None
        return choice.exit.code, [{"text": line} for line in choice.exit.lines]
    assert choice.kind is Kind.CERTGEN
    program = certgen.CertGen(choice.settings["command"], choice.settings["flags"])
    done = program.finished(NOW)
    assert done is not None and not program.listeners
    return done.code, [json.loads(line) for line in program.banner(NOW)]


def test_create_logs_the_new_secret() -> None:
    assert run(CREATE) == (0, [
        {"err": 'secrets "ingress-nginx-admission" not found', "level": "info",
         "msg": "no secret found", "source": "k8s/k8s.go:229", "time": "2024-05-01T12:00:00Z"},
        {"level": "info", "msg": "creating new secret", "source": "cmd/create.go:28",
         "time": "2024-05-01T12:00:00Z"}])


def test_patch_logs_the_patched_hooks() -> None:
    code, lines = run(PATCH)
    assert code == 0
    assert [line["msg"] for line in lines] == [
        "patching webhook configurations 'ingress-nginx-admission' mutating=false, "
        "validating=true, failurePolicy=Fail", "Patched hook(s)"]


def test_log_lines_are_logrus_json_with_sorted_keys() -> None:
    line = certgen.log_line("info", "m", "a.go:1", NOW, err="e")
    assert line == ('{"err":"e","level":"info","msg":"m","source":"a.go:1",'
                    '"time":"2024-05-01T12:00:00Z"}')


@pytest.mark.parametrize("args,code,first", [
    (["create", "--namespace=x"], 1,
     'Error: required flag(s) "host", "secret-name" not set'),
    (["patch", "--namespace=x", "--secret-name=s"], 1,
     'Error: required flag(s) "webhook-name" not set'),
    (["create", *CREATE[1:], "--bogus"], 1, "Error: unknown flag: --bogus"),
    (["sign"], 1, 'Error: unknown command "sign" for "kube-webhook-certgen"'),
], ids=["create-required", "patch-required", "unknown-flag", "unknown-command"])
def test_rejected_command_lines(args: list[str], code: int, first: str) -> None:
    got, lines = run(args)
    assert (got, lines[0]["text"]) == (code, first)


@pytest.mark.parametrize("extra,msg", [
    (["--patch-validating=false"], "patch-validating=false, patch-mutating=false. You must "
     "patch at least one kind of webhook, otherwise this command is a no-op"),
    (["--patch-failure-policy=Sometimes"], "patch-failure-policy Sometimes is not valid"),
], ids=["nothing-to-patch", "bad-policy"])
def test_patch_fatal_checks(extra: list[str], msg: str) -> None:
    code, lines = run([*PATCH, *extra])
    assert code == 1 and [(line["level"], line["msg"]) for line in lines] == [("fatal", msg)]
