"""Kubernetes ``Status`` errors: the one place where failures become the 4xx/5xx bodies
kubectl and client libraries know how to print."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apiserver.resources import Resource


class ApiError(Exception):
    """An error answered as a metav1.Status with the given HTTP code and reason."""

    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def qualified(resource: Resource) -> str:
    """``pods`` or ``deployments.apps``: how the apiserver names a resource in messages."""
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def _details(resource: Resource, name: str, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    details.update(extra)
    return details


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(resource)} "{name}" not found',
                    _details(resource, name))


def already_exists(resource: Resource, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(resource)} "{name}" already exists',
                    _details(resource, name))


def conflict(resource: Resource, name: str, why: str = "") -> ApiError:
    why = why or ("the object has been modified; please apply your changes to the latest "
                  "version and try again")
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {qualified(resource)} "{name}": {why}',
                    _details(resource, name))


def invalid(resource: Resource, name: str, message: str, causes: Iterable[Any]) -> ApiError:
    """422 from validation causes (objects with field, reason and message)."""
    return ApiError(422, "Invalid", message, {
        **_details(resource, name, kind=resource.kind),
        "causes": [{"reason": c.reason, "message": c.message, "field": c.field} for c in causes],
    })


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(resource: Resource, name: str, why: str) -> ApiError:
    what = f'{qualified(resource)} "{name}"' if name else qualified(resource)
    return ApiError(403, "Forbidden", f"{what} is forbidden: {why}", _details(resource, name))


def method_not_allowed(verb: str, what: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", f"{verb} is not supported on {what}")


def gone(requested: int, oldest: int) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f'the body of the request was in an unknown format - accepted media types '
                    f'include: application/json, application/yaml, '
                    f'application/json-patch+json, application/merge-patch+json, '
                    f'application/strategic-merge-patch+json (got "{content_type}")')


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def success(resource: Resource, name: str, uid: str = "") -> dict[str, Any]:
    details = _details(resource, name)
    if uid:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details}
