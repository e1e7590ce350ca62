"""Where a pod's log, exec, attach and portforward requests go on its node's kubelet, and
why they cannot go anywhere: upstream's LogLocation / streamLocation / PortForwardLocation
as plain functions from the pod (and its node) and the request's query to a kubelet URL.

Pure: objects and query values in, a ``KubeletLocation`` or an ``ApiError`` out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from apiserver import status as errors
from apiserver import validate_formats as fmt
from apiserver.resources import require
from apiserver.validation import invalid_message

KUBELET_PORT = 10250
NODES = require("", "v1", "nodes")
Query = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class KubeletLocation:
    host: str
    port: int
    path: str
    params: tuple[tuple[str, str], ...] = ()

    @property
    def url(self) -> str:
        query = f"?{urlencode(self.params)}" if self.params else ""
        return f"https://{self.host}:{self.port}{self.path}{query}"


# --- query values the way apiserver's parameter conversion reads them -------------------
def query_bool(query: Query, name: str) -> bool:
    """Go's string-slice-to-bool conversion: absent is false, and so are "0" and
    "false"; any other first value is true."""
    values = query.get(name) or []
    return bool(values) and values[0] != "0" and values[0].lower() != "false"


def query_int(query: Query, name: str) -> int | None:
    values = query.get(name) or []
    if not values or values[0] == "":
        return None
    try:
        return int(values[0])
    except ValueError as e:
        raise errors.bad_request(f'{name}: strconv.ParseInt: parsing "{values[0]}": invalid '
                                 f'syntax') from e


# --- pods and containers ----------------------------------------------------------------
def container_names(pod: dict) -> list[str]:
    """Init, regular then ephemeral containers, the order VisitContainers walks them."""
    spec = pod.get("spec") or {}
    return [c.get("name", "") for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or []]


def choose_container(pod: dict, container: str) -> str:
    """The container a request addresses: the named one, or the only one."""
    name = pod["metadata"]["name"]
    if container:
        if container not in container_names(pod):
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        return container
    regular = (pod.get("spec") or {}).get("containers") or []
    if len(regular) == 1:
        return str(regular[0].get("name", ""))
    if not regular:
        raise errors.bad_request(f"a container name must be specified for pod {name}")
    raise errors.bad_request(f"a container name must be specified for pod {name}, choose one "
                             f"of: [{' '.join(container_names(pod))}]")


def node_endpoint(pod: dict, node: dict | None) -> tuple[str, int]:
    """The kubelet's address: the node's InternalIP and daemon endpoint port, or the
    pod's hostIP when the Node object is gone."""
    status = (node or {}).get("status") or {}
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    for address in status.get("addresses") or []:
        if address.get("type") == "InternalIP" and address.get("address"):
            return str(address["address"]), int(port or KUBELET_PORT)
    host_ip = (pod.get("status") or {}).get("hostIP")
    if host_ip:
        return str(host_ip), KUBELET_PORT
    raise errors.not_found(NODES, (pod.get("spec") or {}).get("nodeName", ""))


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


# --- log ----------------------------------------------------------------------------------
_LOG_INT_PARAMS = ("sinceSeconds", "tailLines", "limitBytes")


def _validate_log_options(pod_name: str, query: Query) -> None:
    tail, limit, since = (query_int(query, n) for n in ("tailLines", "limitBytes",
                                                         "sinceSeconds"))
    causes = []
    if tail is not None and tail < 0:
        causes.append(fmt.invalid("tailLines", tail, "must be greater than or equal to 0"))
    if limit is not None and limit < 1:
        causes.append(fmt.invalid("limitBytes", limit, "must be greater than 0"))
    if since is not None and (query.get("sinceTime") or [""])[0]:
        causes.append(fmt.forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be "
                                        "specified"))
    elif since is not None and since < 1:
        causes.append(fmt.invalid("sinceSeconds", since, "must be greater than 0"))
    if causes:
        raise errors.ApiError(422, "Invalid", invalid_message("PodLogOptions", pod_name, causes), {
            "name": pod_name, "kind": "PodLogOptions",
            "causes": [{"reason": c.reason, "message": c.message, "field": c.field}
                       for c in causes]})


def _container_status(pod: dict, container: str) -> dict | None:
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for s in status.get(key) or []:
            if s.get("name") == container:
                return dict(s)
    return None


def is_running(pod: dict, container: str) -> bool:
    return "running" in ((_container_status(pod, container) or {}).get("state") or {})


def check_log_state(pod: dict, container: str) -> None:
    """Whether the container has a log yet, judged from the status its node reported,
    with the kubelet's messages (validateContainerLogStatus)."""
    name = pod["metadata"]["name"]
    where = f'container "{container}" in pod "{name}"'
    s = _container_status(pod, container)
    if s is None:
        raise errors.bad_request(f"{where} is waiting to start: ContainerCreating")
    state, last = s.get("state") or {}, (s.get("lastState") or {}).get("terminated")
    if "running" in state:
        return
    if "terminated" in state:
        if state["terminated"].get("containerID") or (last and last.get("containerID")):
            return
        raise errors.bad_request(f"{where} is terminated")
    if last is not None:
        if last.get("containerID"):
            return
        raise errors.bad_request(f"{where} is terminated")
    if "waiting" in state:
        reason = (state["waiting"] or {}).get("reason", "")
        detail = {"ErrImagePull": "image can't be pulled",
                  "ImagePullBackOff": "trying and failing to pull image"}.get(reason, reason)
        raise errors.bad_request(f"{where} is waiting to start: {detail}")
    raise errors.bad_request(f"{where} is waiting to start - no logs yet")


def log_location(pod: dict, node: dict | None, query: Query) -> KubeletLocation | None:
    """The kubelet URL of the container's log; None when the pod has no node yet (the
    apiserver then answers with an empty log, as upstream does)."""
    name = pod["metadata"]["name"]
    _validate_log_options(name, query)
    container = choose_container(pod, (query.get("container") or [""])[0])
    if not (pod.get("spec") or {}).get("nodeName"):
        return None
    previous = query_bool(query, "previous")
    if not previous:
        check_log_state(pod, container)
    # The kubelet follows a log only while its container runs; a stopped one's ends.
    follow = query_bool(query, "follow") and not previous and is_running(pod, container)
    params: list[tuple[str, str]] = [(flag, "true") for flag, on in (
        ("follow", follow), ("previous", previous), ("timestamps", query_bool(query, "timestamps")))
        if on]
    params += [(n, str(query_int(query, n))) for n in _LOG_INT_PARAMS
               if query_int(query, n) is not None]
    since_time = (query.get("sinceTime") or [""])[0]
    if since_time:
        params.append(("sinceTime", since_time))
    host, port = node_endpoint(pod, node)
    return KubeletLocation(host, port, _path("containerLogs", pod["metadata"]["namespace"],
                                             name, container), tuple(params))


# --- exec, attach, portforward ----------------------------------------------------------
def _require_host(pod: dict) -> None:
    if not (pod.get("spec") or {}).get("nodeName"):
        raise errors.bad_request(f"pod {pod['metadata']['name']} does not have a host assigned")


def stream_location(kind: str, pod: dict, node: dict | None, query: Query) -> KubeletLocation:
    """``exec`` or ``attach``: PodExecOptions / PodAttachOptions become the kubelet's
    input/output/error/tty parameters (and command, for exec)."""
    container = choose_container(pod, (query.get("container") or [""])[0])
    _require_host(pod)
    params: list[tuple[str, str]] = [
        (kubelet, "1") for option, kubelet in (("stdin", "input"), ("stdout", "output"),
                                               ("stderr", "error"), ("tty", "tty"))
        if query_bool(query, option)]
    if kind == "exec":
        params += [("command", c) for c in query.get("command") or []]
    host, port = node_endpoint(pod, node)
    meta = pod["metadata"]
    return KubeletLocation(host, port, _path(kind, meta["namespace"], meta["name"], container),
                           tuple(params))


def portforward_location(pod: dict, node: dict | None, query: Query) -> KubeletLocation:
    _require_host(pod)
    ports = []
    for value in query.get("ports") or []:
        for piece in value.split(","):
            if not piece.strip().isdigit() or not 0 < int(piece) < 65536:
                raise errors.bad_request(f"invalid port {piece.strip()!r}: must be 1-65535")
            ports.append(("port", piece.strip()))
    host, port = node_endpoint(pod, node)
    meta = pod["metadata"]
    return KubeletLocation(host, port, _path("portForward", meta["namespace"], meta["name"]),
                           tuple(ports))


def location(subresource: str, pod: dict, node: dict | None,
             query: Query) -> KubeletLocation | None:
    """Dispatch by subresource: ``log``, ``exec``, ``attach`` or ``portforward``."""
    if subresource == "log":
        return log_location(pod, node, query)
    if subresource == "portforward":
        return portforward_location(pod, node, query)
    return stream_location(subresource, pod, node, query)

