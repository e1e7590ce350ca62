"""The Kubernetes REST API over aiohttp: authentication, decoding, dispatch to the registry
and store, encoding (JSON, Tables), list paging and watch streams."""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import orjson
import yaml
from aiohttp import web

from apiserver import (discovery, fields, openapi, paths, printing, protobuf, proxy, registry,
                       store, validation)
from apiserver import status as errors
from apiserver.resources import Resource
from kubeloop.object_selectors import SelectorError, parse_field_selector, parse_label_selector

log = logging.getLogger(__name__)

JSON = "application/json"
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/livez", "/version"})
BOOKMARK_INTERVAL = 5.0
DEFAULT_WATCH_TIMEOUT = 1800.0


def json_response(body: Any, status: int = 200, content_type: str = JSON) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=content_type)


def error_response(e: errors.ApiError) -> web.Response:
    return json_response(e.status(), e.code)


class Api:
    def __init__(self, reg: registry.Registry, tokens: dict[str, str],
                 server_address: str, extra: Callable[[web.Application], None] | None = None
                 ) -> None:
        self.registry = reg
        self.store = reg.store
        self.tokens = tokens  # token -> user name
        self.server_address = server_address
        self.extra = extra
        self.ready = False

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024, middlewares=[self._middleware])
        if self.extra:
            self.extra(app)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    def user_for(self, header: str) -> str | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        for known, user in self.tokens.items():
            if hmac.compare_digest(known, token.strip()):
                return user
        return None

    @web.middleware
    async def _middleware(self, request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
        started = time.perf_counter()
        if request.path not in PUBLIC_PATHS and not self.user_for(
                request.headers.get("Authorization", "")):
            return error_response(errors.unauthorized())
        try:
            response = await handler(request)
        except errors.ApiError as e:
            response = error_response(e)
        except (ValueError, SelectorError) as e:
            response = error_response(errors.bad_request(str(e)))
        except store.StoreError as e:
            log.error("storage error on %s %s: %s", request.method, request.path, e)
            response = error_response(errors.internal(str(e)))
        except web.HTTPException:
            raise
        except Exception as e:  # a bug must cost one request, answered as a Status
            log.exception("internal error on %s %s", request.method, request.path_qs)
            response = error_response(errors.internal(f"{type(e).__name__}: {e}"))
        elapsed = (time.perf_counter() - started) * 1000
        if elapsed > 500 and not request.query.get("watch") and \
                not proxy.is_streaming(request.path):
            log.warning("slow request %s %s: %.0f ms", request.method, request.path_qs, elapsed)
        return response

    # --- dispatch ------------------------------------------------------------------------
    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if request.method == "GET":
            special = self._non_resource(request, path)
            if special is not None:
                return special
        target = paths.parse(path)
        if target is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested "
                                  "resource", {})
        res, name, sub = target.resource, target.name, target.subresource
        method = request.method
        if sub in proxy.NODE_SUBRESOURCES and res.plural == "pods":
            return await proxy.pod_subresource(request, self.registry, target)
        if sub in (*proxy.NODE_SUBRESOURCES, "proxy"):
            raise errors.ApiError(501, "NotImplemented",
                                  f"{res.plural}/{sub} is not served yet by this kubeloop version")
        if not name:
            if method == "GET":
                if paths.flag(request.query.get("watch")):
                    return await self.watch(request, target)
                return self.list(request, target)
            if method == "POST":
                body = await self._body(request)
                unknown = self._unknown_fields(request, res, body)
                obj = await self.registry.create(res, target.namespace, body,
                                                 dry_run=self._dry_run(request))
                return _warn(json_response(obj, 201), unknown, validation.warnings(res.kind, obj))
            if method == "DELETE":
                return await self.delete_collection(request, target)
            raise errors.method_not_allowed(method, res.plural)
        if sub == "scale":
            return await self.scale(request, target)
        if sub == "binding" and method == "POST":
            body = await self._body(request)
            node = ((body.get("target") or {}) if isinstance(body, dict) else {}).get("name")
            if not node:
                raise errors.bad_request("binding target name is required")
            await self.registry.bind(target.namespace, name, node)
            return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Success", "code": 201}, 201)
        if method == "GET":
            obj = self.registry.get(res, target.namespace, name).obj
            if paths.wants_table(request.headers.get("Accept", "")):
                return json_response(self._table(request, res, [obj], str(self.store.rv)))
            return json_response(obj)
        if method == "PUT":
            body = await self._body(request)
            unknown = self._unknown_fields(request, res, body)
            obj = await self.registry.update(res, target.namespace, name, body,
                                             subresource=sub if sub in ("status",) else "",
                                             dry_run=self._dry_run(request))
            return _warn(json_response(obj), unknown)
        if method == "PATCH":
            ctype = request.content_type
            raw = await request.read()
            if ctype == "application/apply-patch+yaml" and \
                    self.store.get(res.key, target.namespace if res.namespaced else "", name) is None:
                obj = await self.registry.create(res, target.namespace, _decode(raw, ctype),
                                                 dry_run=self._dry_run(request))
                return _warn(json_response(obj, 201), [], validation.warnings(res.kind, obj))
            obj = await self.registry.patch(res, target.namespace, name, raw, ctype,
                                            subresource=sub if sub == "status" else "",
                                            dry_run=self._dry_run(request),
                                            strict=self._validation(request) == "Strict")
            return json_response(obj)
        if method == "DELETE":
            options = await self._delete_options(request)
            obj = await self.registry.delete(res, target.namespace, name, options,
                                             dry_run=self._dry_run(request))
            return json_response(obj)
        raise errors.method_not_allowed(method, f"{res.plural}/{sub}" if sub else res.plural)

    def _non_resource(self, request: web.Request, path: str) -> web.Response | None:
        accept = request.headers.get("Accept", "")
        if path in ("/healthz", "/livez"):
            return web.Response(text="ok")
        if path == "/readyz":
            return web.Response(text="ok") if self.ready else web.Response(
                text="not ready", status=503)
        if path == "/version":
            return json_response(discovery.version_info())
        if path in ("/api", "/apis"):
            aggregated = discovery.wants_aggregated(accept)
            if aggregated:
                return web.Response(body=orjson.dumps(discovery.aggregated_discovery(path[1:])),
                                    headers={"Content-Type": aggregated, "Vary": "Accept"})
            if path == "/api":
                return json_response(discovery.api_versions(self.server_address))
            return json_response(discovery.api_group_list())
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2:
            group_doc = discovery.api_group(parts[1])
            return json_response(group_doc) if group_doc else None
        if (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) == 3):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            listing = discovery.resource_list(group, version)
            return json_response(listing) if listing else None
        if path == "/openapi/v2":
            if openapi.OPENAPI_V2_PROTOBUF_ACCEPT in accept:
                return web.Response(body=openapi.openapi_v2_protobuf(), headers={
                    "Content-Type": openapi.OPENAPI_V2_PROTOBUF_CONTENT_TYPE})
            return json_response(openapi.openapi_v2_document())
        if path == "/openapi/v3":
            return json_response(openapi.openapi_v3_root())
        if path.startswith("/openapi/v3/"):
            doc = openapi.openapi_v3_document(path[len("/openapi/v3/"):])
            if doc is None:
                raise errors.ApiError(404, "NotFound", "the server could not find the "
                                      "requested resource", {})
            digest = openapi.document_hash(doc)
            response = json_response(doc)
            response.headers.update({"Vary": "Accept", "ETag": f'"{digest}"'})
            if request.query.get("hash") == digest:  # content-addressed: cache forever
                response.headers["Cache-Control"] = "public, immutable"
                response.headers["Expires"] = "Fri, 01 Jan 2100 00:00:00 GMT"
            return response
        return None

    # --- helpers -----------------------------------------------------------------------
    @staticmethod
    def _dry_run(request: web.Request) -> bool:
        values = request.query.getall("dryRun", [])
        for v in values:
            if v != "All":
                raise errors.bad_request(f"unsupported dryRun value {v!r}: only All is supported")
        return bool(values)

    @staticmethod
    def _validation(request: web.Request) -> str:
        value = request.query.get("fieldValidation", "Warn")
        if value not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(f'fieldValidation: Unsupported value: "{value}": '
                                     'supported values: "Ignore", "Strict", "Warn"')
        return value

    def _unknown_fields(self, request: web.Request, res: Resource, body: Any) -> list[str]:
        """Drop fields the type does not have; Strict refuses them, Warn reports them."""
        if not isinstance(body, dict):
            return []
        mode = self._validation(request)
        unknown = fields.prune(res.api_version, res.kind, body)
        if unknown and mode == "Strict":
            raise errors.bad_request(fields.strict_message(res.kind, res.api_version, unknown))
        return unknown if mode == "Warn" else []

    @staticmethod
    async def _body(request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            raise errors.bad_request("the request body is empty: send a JSON or YAML object")
        return _decode(raw, request.content_type)

    async def _delete_options(self, request: web.Request) -> dict:
        options: dict[str, Any] = {}
        raw = await request.read()
        if raw:
            body = _decode(raw, request.content_type)
            if isinstance(body, dict):
                options.update(body)
        q = request.query
        if "propagationPolicy" in q:
            options["propagationPolicy"] = q["propagationPolicy"]
        if "gracePeriodSeconds" in q:
            options["gracePeriodSeconds"] = paths.parse_int(q["gracePeriodSeconds"],
                                                            "gracePeriodSeconds")
        policy = options.get("propagationPolicy")
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise errors.bad_request(f'propagationPolicy: Unsupported value: "{policy}": '
                                     'supported values: "Foreground", "Background", "Orphan"')
        return options

    def _selected(self, request: web.Request, target: paths.Target) -> list[store.Stored]:
        res = target.resource
        q = request.query
        label = parse_label_selector(q.get("labelSelector", ""))
        field = parse_field_selector(q.get("fieldSelector", ""), res.field_selectors)
        items = self.store.list(res.key, target.namespace if res.namespaced else None)
        if label.empty and not q.get("fieldSelector"):
            return items
        return [s for s in items if label.matches(s.obj["metadata"].get("labels"))
                and field.matches(s.obj)]

    def _table(self, request: web.Request, res: Resource, objs: list[dict], rv: str,
               continue_token: str = "") -> dict:
        include = request.query.get("includeObject", "Metadata")
        return printing.table(res, objs, datetime.now(timezone.utc), include_object=include,
                              resource_version=rv, continue_token=continue_token)

    # --- list --------------------------------------------------------------------------
    def list(self, request: web.Request, target: paths.Target) -> web.Response:
        res = target.resource
        rv = str(self.store.rv)
        items = self._selected(request, target)
        limit = paths.parse_int(request.query.get("limit"), "limit")
        token = request.query.get("continue", "")
        next_token = ""
        if token:
            start = _decode_continue(token)
            items = [s for s in items if _sort_key(s.obj) > start]
        if limit and len(items) > limit:
            items = items[:limit]
            next_token = _encode_continue(_sort_key(items[-1].obj))
        if paths.wants_table(request.headers.get("Accept", "")):
            return json_response(self._table(request, res, [s.obj for s in items], rv, next_token))
        meta = b'{"resourceVersion":"' + rv.encode() + b'"'
        if next_token:
            meta += b',"continue":"' + next_token.encode() + b'"'
        body = (b'{"kind":"' + res.kind.encode() + b'List","apiVersion":"' +
                res.api_version.encode() + b'","metadata":' + meta + b'},"items":[' +
                b",".join(s.raw for s in items) + b"]}")
        return web.Response(body=body, content_type=JSON)

    async def delete_collection(self, request: web.Request, target: paths.Target) -> web.Response:
        options = await self._delete_options(request)
        deleted = []
        for s in self._selected(request, target):
            meta = s.obj["metadata"]
            try:
                deleted.append(await self.registry.delete(
                    target.resource, meta.get("namespace", ""), meta["name"], options,
                    dry_run=self._dry_run(request)))
            except errors.ApiError as e:
                if e.reason != "NotFound":
                    raise
        res = target.resource
        return json_response({"kind": f"{res.kind}List", "apiVersion": res.api_version,
                              "metadata": {"resourceVersion": str(self.store.rv)},
                              "items": deleted})

    # --- scale -------------------------------------------------------------------------
    async def scale(self, request: web.Request, target: paths.Target) -> web.Response:
        res, ns, name = target.resource, target.namespace, target.name
        if request.method == "GET":
            return json_response(self.registry.scale_of(res, self.registry.get(res, ns, name).obj))
        if request.method == "PUT":
            return json_response(await self.registry.set_scale(res, ns, name,
                                                               await self._body(request)))
        if request.method == "PATCH":
            from apiserver import patching

            current = self.registry.scale_of(res, self.registry.get(res, ns, name).obj)
            try:
                patched = patching.apply_patch(current, await request.read(),
                                               request.content_type, "Scale")
            except patching.PatchError as e:
                raise errors.ApiError(e.code, e.reason, e.message) from e
            return json_response(await self.registry.set_scale(res, ns, name, patched))
        raise errors.method_not_allowed(request.method, f"{res.plural}/scale")

    # --- watch -------------------------------------------------------------------------
    async def watch(self, request: web.Request, target: paths.Target) -> web.StreamResponse:
        res = target.resource
        q = request.query
        label = parse_label_selector(q.get("labelSelector", ""))
        field = parse_field_selector(q.get("fieldSelector", ""), res.field_selectors)
        as_table = paths.wants_table(request.headers.get("Accept", ""))
        bookmarks = paths.flag(q.get("allowWatchBookmarks"))
        timeout = paths.parse_int(q.get("timeoutSeconds"), "timeoutSeconds")
        rv_param = q.get("resourceVersion", "")
        initial = paths.flag(q.get("sendInitialEvents")) if "sendInitialEvents" in q else \
            rv_param in ("", "0")
        namespace = target.namespace if res.namespaced else None

        def matches(obj: dict) -> bool:
            return label.matches(obj["metadata"].get("labels")) and field.matches(obj)

        response = web.StreamResponse(headers={"Content-Type": JSON})
        response.enable_chunked_encoding()
        await response.prepare(request)
        first = [True]

        async def send(kind: str, obj: dict) -> None:
            if as_table and kind != "ERROR" and kind != "BOOKMARK":
                obj = self._table(request, res, [obj], obj["metadata"].get("resourceVersion", ""))
                if not first[0]:
                    obj["columnDefinitions"] = []
                first[0] = False
            await response.write(orjson.dumps({"type": kind, "object": obj}) + b"\n")

        since: int | None = None
        if rv_param not in ("", "0"):
            try:
                since = int(rv_param)
            except ValueError:
                await send("ERROR", errors.bad_request(
                    f"invalid resourceVersion {rv_param!r}").status())
                return response
        try:
            watcher = self.store.subscribe(res.key, namespace, since)
        except store.Gone:
            await send("ERROR", errors.gone(since or 0, self.store.oldest_resumable).status())
            return response
        try:
            if initial and since is None:
                for s in self._selected(request, target):
                    await send("ADDED", s.obj)
                if paths.flag(q.get("sendInitialEvents")):
                    await send("BOOKMARK", self._bookmark(res, str(self.store.rv), initial_end=True))
            deadline = time.monotonic() + (timeout if timeout else DEFAULT_WATCH_TIMEOUT)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(watcher.queue.get(),
                                                   min(remaining, BOOKMARK_INTERVAL))
                except asyncio.TimeoutError:
                    if bookmarks:
                        await send("BOOKMARK", self._bookmark(res, str(self.store.rv)))
                    continue
                if event is None:
                    if watcher.dropped:
                        await send("ERROR", errors.gone(0, self.store.oldest_resumable).status())
                    break
                seen = store.seen_as(event, matches)
                if seen:
                    await send(seen, event.obj)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unsubscribe(watcher)
        return response

    @staticmethod
    def _bookmark(res: Resource, rv: str, initial_end: bool = False) -> dict:
        meta: dict[str, Any] = {"resourceVersion": rv}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": res.kind, "apiVersion": res.api_version, "metadata": meta}


def _decode(raw: bytes, content_type: str) -> Any:
    if content_type == protobuf.PROTOBUF:
        try:
            return protobuf.decode(raw)
        except protobuf.ProtobufError as e:
            raise errors.bad_request(f"the request body is not a valid Kubernetes protobuf "
                                     f"message: {e}") from e
    if "protobuf" in content_type:
        raise errors.unsupported_media_type(content_type)
    try:
        if "yaml" in content_type:
            return yaml.safe_load(raw)
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, yaml.YAMLError) as e:
        what = "YAML" if "yaml" in content_type else "JSON"
        raise errors.bad_request(f"the request body is not valid {what}: {e}") from e


def _warn(response: web.Response, unknown: list[str], notes: Sequence[str] = ()
          ) -> web.Response:
    """Warning headers as the apiserver sends them (code 299, the text a quoted string),
    which kubectl prints as ``Warning: TEXT``: unknown fields, then ``notes``."""
    for text in [*(f'unknown field "{path}"' for path in unknown), *notes]:
        quoted = text.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{quoted}"')
    return response


def _sort_key(obj: dict) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _encode_continue(key: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"start": key})).decode()


def _decode_continue(token: str) -> str:
    try:
        return str(orjson.loads(base64.urlsafe_b64decode(token.encode()))["start"])
    except (ValueError, KeyError, TypeError) as e:
        raise errors.bad_request("continue key is not valid: it must come from a previous "
                                 "list response") from e
