from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterRequest(_message.Message):
    __slots__ = ("node_name", "address", "pod_cidr", "labels", "agent_version")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    POD_CIDR_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    node_name: str
    address: str
    pod_cidr: str
    labels: _containers.ScalarMap[str, str]
    agent_version: str
    def __init__(self, node_name: _Optional[str] = ..., address: _Optional[str] = ..., pod_cidr: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., agent_version: _Optional[str] = ...) -> None: ...

class ClusterInfo(_message.Message):
    __slots__ = ("cluster_domain", "dns_ip", "service_cidr", "node_port_range", "lb_cidr", "cni", "heartbeat_interval")
    CLUSTER_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    DNS_IP_FIELD_NUMBER: _ClassVar[int]
    SERVICE_CIDR_FIELD_NUMBER: _ClassVar[int]
    NODE_PORT_RANGE_FIELD_NUMBER: _ClassVar[int]
    LB_CIDR_FIELD_NUMBER: _ClassVar[int]
    CNI_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    cluster_domain: str
    dns_ip: str
    service_cidr: str
    node_port_range: str
    lb_cidr: str
    cni: str
    heartbeat_interval: float
    def __init__(self, cluster_domain: _Optional[str] = ..., dns_ip: _Optional[str] = ..., service_cidr: _Optional[str] = ..., node_port_range: _Optional[str] = ..., lb_cidr: _Optional[str] = ..., cni: _Optional[str] = ..., heartbeat_interval: _Optional[float] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("pod_cidr", "node", "cluster")
    POD_CIDR_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    pod_cidr: str
    node: bytes
    cluster: ClusterInfo
    def __init__(self, pod_cidr: _Optional[str] = ..., node: _Optional[bytes] = ..., cluster: _Optional[_Union[ClusterInfo, _Mapping]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("node_name",)
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    node_name: str
    def __init__(self, node_name: _Optional[str] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("registered",)
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    registered: bool
    def __init__(self, registered: _Optional[bool] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("resource", "namespace", "field_selector", "label_selector")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    FIELD_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    LABEL_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    resource: str
    namespace: str
    field_selector: str
    label_selector: str
    def __init__(self, resource: _Optional[str] = ..., namespace: _Optional[str] = ..., field_selector: _Optional[str] = ..., label_selector: _Optional[str] = ...) -> None: ...

class WatchEvent(_message.Message):
    __slots__ = ("type", "object", "resource_version")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ADDED: _ClassVar[WatchEvent.Type]
        MODIFIED: _ClassVar[WatchEvent.Type]
        DELETED: _ClassVar[WatchEvent.Type]
        SYNCED: _ClassVar[WatchEvent.Type]
    ADDED: WatchEvent.Type
    MODIFIED: WatchEvent.Type
    DELETED: WatchEvent.Type
    SYNCED: WatchEvent.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    type: WatchEvent.Type
    object: bytes
    resource_version: int
    def __init__(self, type: _Optional[_Union[WatchEvent.Type, str]] = ..., object: _Optional[bytes] = ..., resource_version: _Optional[int] = ...) -> None: ...

class UpdateStatusRequest(_message.Message):
    __slots__ = ("resource", "namespace", "name", "uid", "status")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    resource: str
    namespace: str
    name: str
    uid: str
    status: bytes
    def __init__(self, resource: _Optional[str] = ..., namespace: _Optional[str] = ..., name: _Optional[str] = ..., uid: _Optional[str] = ..., status: _Optional[bytes] = ...) -> None: ...

class UpdateStatusResponse(_message.Message):
    __slots__ = ("resource_version",)
    RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    resource_version: int
    def __init__(self, resource_version: _Optional[int] = ...) -> None: ...

class ObjectRef(_message.Message):
    __slots__ = ("resource", "namespace", "name", "uid")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    resource: str
    namespace: str
    name: str
    uid: str
    def __init__(self, resource: _Optional[str] = ..., namespace: _Optional[str] = ..., name: _Optional[str] = ..., uid: _Optional[str] = ...) -> None: ...

class FinishDeletionResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class EventRequest(_message.Message):
    __slots__ = ("object", "type", "reason", "message", "field_path", "node_name", "component")
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_PATH_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    object: ObjectRef
    type: str
    reason: str
    message: str
    field_path: str
    node_name: str
    component: str
    def __init__(self, object: _Optional[_Union[ObjectRef, _Mapping]] = ..., type: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., field_path: _Optional[str] = ..., node_name: _Optional[str] = ..., component: _Optional[str] = ...) -> None: ...

class EventResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class JoinRequest(_message.Message):
    __slots__ = ("address", "node_number")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NODE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    address: str
    node_number: int
    def __init__(self, address: _Optional[str] = ..., node_number: _Optional[int] = ...) -> None: ...

class JoinResponse(_message.Message):
    __slots__ = ("node_number", "node_name", "pod_cidr", "node_token", "cluster_config", "kubelet_cert", "kubelet_key")
    NODE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    POD_CIDR_FIELD_NUMBER: _ClassVar[int]
    NODE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_CONFIG_FIELD_NUMBER: _ClassVar[int]
    KUBELET_CERT_FIELD_NUMBER: _ClassVar[int]
    KUBELET_KEY_FIELD_NUMBER: _ClassVar[int]
    node_number: int
    node_name: str
    pod_cidr: str
    node_token: str
    cluster_config: bytes
    kubelet_cert: bytes
    kubelet_key: bytes
    def __init__(self, node_number: _Optional[int] = ..., node_name: _Optional[str] = ..., pod_cidr: _Optional[str] = ..., node_token: _Optional[str] = ..., cluster_config: _Optional[bytes] = ..., kubelet_cert: _Optional[bytes] = ..., kubelet_key: _Optional[bytes] = ...) -> None: ...
