"""Where pods/log, exec, attach and portforward go on the kubelet, and upstream's errors
when they cannot: container choice, unscheduled pods, log options, container states."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver import locations
from apiserver.locations import KubeletLocation
from apiserver.status import ApiError

NODE = {"metadata": {"name": "n1"}, "status": {
    "addresses": [{"type": "InternalIP", "address": "127.10.0.1"},
                  {"type": "Hostname", "address": "n1"}],
    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}
RUNNING = {"name": "app", "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}


def pod(containers: tuple[str, ...] = ("app",), node: str = "n1", statuses: Any = None,
        init: tuple[str, ...] = ()) -> dict:
    return {"metadata": {"name": "web", "namespace": "ns"},
            "spec": {"nodeName": node, "containers": [{"name": c} for c in containers],
                     "initContainers": [{"name": c} for c in init]},
            "status": {"hostIP": "127.10.0.9",
                       "containerStatuses": [RUNNING] if statuses is None else statuses}}


def fails(code: int, message: str) -> tuple[int, str]:
    return code, message


@pytest.mark.parametrize(("p", "query", "expected"), [
    (pod(), {}, KubeletLocation("127.10.0.1", 10250, "/containerLogs/ns/web/app")),
    (pod(), {"follow": ["true"], "tailLines": ["5"], "timestamps": ["true"],
             "limitBytes": ["10"], "sinceSeconds": ["60"]},
     KubeletLocation("127.10.0.1", 10250, "/containerLogs/ns/web/app", (
         ("follow", "true"), ("timestamps", "true"), ("sinceSeconds", "60"),
         ("tailLines", "5"), ("limitBytes", "10")))),
    (pod(), {"sinceTime": ["2025-01-01T00:00:00Z"], "follow": ["false"]},
     KubeletLocation("127.10.0.1", 10250, "/containerLogs/ns/web/app",
                     (("sinceTime", "2025-01-01T00:00:00Z"),))),
    (pod(("a", "b"), statuses=[{**RUNNING, "name": "b"}]), {"container": ["b"]},
     KubeletLocation("127.10.0.1", 10250, "/containerLogs/ns/web/b")),
    (pod(statuses=[{"name": "app", "state": {"terminated": {"containerID": "k://1"}}}]),
     {"follow": ["true"], "timestamps": ["true"]},
     KubeletLocation("127.10.0.1", 10250, "/containerLogs/ns/web/app",
                     (("timestamps", "true"),))),
    (pod(statuses=[]), {"previous": ["true"], "follow": ["true"]},
     KubeletLocation("127.10.0.1", 10250, "/containerLogs/ns/web/app", (("previous", "true"),))),
    (pod(node=""), {}, None),
    (pod(("a", "b")), {}, fails(400, "a container name must be specified for pod web, choose "
                                     "one of: [a b]")),
    (pod(("a", "b"), init=("setup",)), {},
     fails(400, "a container name must be specified for pod web, choose one of: "
                "[setup a b]")),
    (pod(()), {}, fails(400, "a container name must be specified for pod web")),
    (pod(), {"container": ["nope"]}, fails(400, "container nope is not valid for pod web")),
    (pod(), {"tailLines": ["-1"]}, fails(422, 'PodLogOptions "web" is invalid: tailLines: '
                                              'Invalid value: -1: must be greater than or '
                                              'equal to 0')),
    (pod(), {"limitBytes": ["0"], "sinceSeconds": ["0"]},
     fails(422, 'PodLogOptions "web" is invalid: [limitBytes: Invalid value: 0: must be '
                'greater than 0, sinceSeconds: Invalid value: 0: must be greater than 0]')),
    (pod(), {"sinceSeconds": ["5"], "sinceTime": ["2025-01-01T00:00:00Z"]},
     fails(422, 'PodLogOptions "web" is invalid: : Forbidden: at most one of `sinceTime` or '
                '`sinceSeconds` may be specified')),
    (pod(), {"tailLines": ["x"]},
     fails(400, 'tailLines: strconv.ParseInt: parsing "x": invalid syntax')),
], ids=["default-container", "options-forwarded", "since-time", "named-container",
        "stopped-container-is-not-followed", "previous-skips-state-check-and-follow",
        "unscheduled-empty-log", "choose-one-of",
        "choose-one-of-lists-init-first", "no-containers", "invalid-container",
        "negative-tail", "two-invalid", "since-both", "tail-not-a-number"])
def test_log_location(p: dict, query: dict[str, list[str]],
                      expected: KubeletLocation | tuple[int, str] | None) -> None:
    if isinstance(expected, tuple):
        with pytest.raises(ApiError) as e:
            locations.log_location(p, NODE, query)
        assert (e.value.code, e.value.message) == expected
    else:
        assert locations.log_location(p, NODE, query) == expected


W = 'container "app" in pod "web"'


@pytest.mark.parametrize(("statuses", "message"), [
    ([RUNNING], None),
    ([{"name": "app", "state": {"terminated": {"exitCode": 0, "containerID": "k://1"}}}], None),
    ([{"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
       "lastState": {"terminated": {"exitCode": 1, "containerID": "k://1"}}}], None),
    ([], f"{W} is waiting to start: ContainerCreating"),
    ([{"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}],
     f"{W} is waiting to start: ContainerCreating"),
    ([{"name": "app", "state": {"waiting": {"reason": "ErrImagePull"}}}],
     f"{W} is waiting to start: image can't be pulled"),
    ([{"name": "app", "state": {"waiting": {"reason": "ImagePullBackOff"}}}],
     f"{W} is waiting to start: trying and failing to pull image"),
    ([{"name": "app", "state": {"terminated": {"exitCode": 128, "reason": "StartError"}}}],
     f"{W} is terminated"),
    ([{"name": "app", "state": {}}], f"{W} is waiting to start - no logs yet"),
], ids=["running", "terminated", "crashloop-has-last", "no-status-yet", "creating",
        "err-image-pull", "image-pull-backoff", "never-started", "unknown-state"])
def test_log_state(statuses: list[dict], message: str | None) -> None:
    if message is None:
        locations.check_log_state(pod(statuses=statuses), "app")
    else:
        with pytest.raises(ApiError) as e:
            locations.check_log_state(pod(statuses=statuses), "app")
        assert (e.value.code, e.value.reason, e.value.message) == (400, "BadRequest", message)


@pytest.mark.parametrize(("kind", "p", "query", "expected"), [
    ("exec", pod(), {"command": ["sh", "-c", "exit 3"], "stdout": ["true"],
                     "stderr": ["true"]},
     KubeletLocation("127.10.0.1", 10250, "/exec/ns/web/app", (
         ("output", "1"), ("error", "1"), ("command", "sh"), ("command", "-c"),
         ("command", "exit 3")))),
    ("exec", pod(), {"command": ["sh"], "stdin": ["true"], "stdout": ["true"],
                     "tty": ["true"], "stderr": ["false"]},
     KubeletLocation("127.10.0.1", 10250, "/exec/ns/web/app", (
         ("input", "1"), ("output", "1"), ("tty", "1"), ("command", "sh")))),
    ("attach", pod(("a", "b")), {"container": ["b"], "stdout": ["1"], "stdin": ["0"]},
     KubeletLocation("127.10.0.1", 10250, "/attach/ns/web/b", (("output", "1"),))),
    ("exec", pod(node=""), {"command": ["ls"]},
     (400, "pod web does not have a host assigned")),
    ("exec", pod(), {"container": ["db"]}, (400, "container db is not valid for pod web")),
    ("attach", pod(("a", "b")), {}, (400, "a container name must be specified for pod web, "
                                          "choose one of: [a b]")),
], ids=["exec", "exec-tty", "attach-named", "exec-unscheduled", "exec-bad-container",
        "attach-ambiguous"])
def test_stream_location(kind: str, p: dict, query: dict[str, list[str]],
                         expected: KubeletLocation | tuple[int, str]) -> None:
    if isinstance(expected, tuple):
        with pytest.raises(ApiError) as e:
            locations.stream_location(kind, p, NODE, query)
        assert (e.value.code, e.value.message) == expected
    else:
        assert locations.stream_location(kind, p, NODE, query) == expected


@pytest.mark.parametrize(("p", "query", "expected"), [
    (pod(), {}, KubeletLocation("127.10.0.1", 10250, "/portForward/ns/web")),
    (pod(), {"ports": ["80,8080"]},
     KubeletLocation("127.10.0.1", 10250, "/portForward/ns/web", (("port", "80"),
                                                                   ("port", "8080")))),
    (pod(node=""), {}, (400, "pod web does not have a host assigned")),
    (pod(), {"ports": ["http"]}, (400, "invalid port 'http': must be 1-65535")),
], ids=["no-ports", "ports", "unscheduled", "named-port"])
def test_portforward_location(p: dict, query: dict[str, list[str]],
                              expected: KubeletLocation | tuple[int, str]) -> None:
    if isinstance(expected, tuple):
        with pytest.raises(ApiError) as e:
            locations.portforward_location(p, NODE, query)
        assert (e.value.code, e.value.message) == expected
    else:
        assert locations.portforward_location(p, NODE, query) == expected


@pytest.mark.parametrize(("node", "endpoint"), [
    (NODE, ("127.10.0.1", 10250)),
    ({"status": {"addresses": [{"type": "InternalIP", "address": "127.77.0.1"}],
                 "daemonEndpoints": {"kubeletEndpoint": {"Port": 20250}}}}, ("127.77.0.1", 20250)),
    ({"status": {"addresses": [{"type": "InternalIP", "address": "127.77.0.1"}]}},
     ("127.77.0.1", 10250)),
    (None, ("127.10.0.9", 10250)),
], ids=["internal-ip", "custom-port", "default-port", "node-gone-uses-host-ip"])
def test_node_endpoint(node: dict | None, endpoint: tuple[str, int]) -> None:
    assert locations.node_endpoint(pod(), node) == endpoint


def test_node_endpoint_without_any_address() -> None:
    p = pod()
    del p["status"]["hostIP"]
    with pytest.raises(ApiError) as e:
        locations.node_endpoint(p, None)
    assert (e.value.code, e.value.message) == (404, 'nodes "n1" not found')


@pytest.mark.parametrize(("values", "result"), [
    (None, False), ([], False), (["true"], True), (["1"], True), ([""], True),
    (["0"], False), (["False"], False), (["false", "true"], False),
], ids=["absent", "empty-list", "true", "one", "empty-string", "zero", "False",
        "first-wins"])
def test_query_bool(values: list[str] | None, result: bool) -> None:
    query = {} if values is None else {"x": values}
    assert locations.query_bool(query, "x") is result


def test_location_url_quotes_and_encodes() -> None:
    where = KubeletLocation("127.10.0.1", 10250, "/exec/ns/web/app",
                            (("command", "echo a&b"), ("output", "1")))
    assert where.url == "https://127.10.0.1:10250/exec/ns/web/app?command=echo+a%26b&output=1"
