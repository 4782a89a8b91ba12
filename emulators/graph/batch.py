"""``POST /$batch``: JSON batching of up to 20 requests.

Each item runs through the full router pipeline on its own (its own throttling decision, fault
knobs and request-log entry, with ``in_batch=True``) using the batch's Authorization header.
Items run in order; an item whose ``dependsOn`` names a failed item answers ``424 Failed
Dependency``. Item URLs are relative to the version root (``/me``, ``users/x``), as Graph documents:
an absolute URL fails the whole batch (``Invalid batch payload format.``, as clients have reported),
and a path that repeats the version (``/v1.0/me``) fails its item with ``Resource not found for the
segment 'v1.0'.`` JSON bodies come back as JSON objects; other bodies (``$value``) as base64 strings, or
with ``text_bodies`` as plain strings: how Graph wraps a non-JSON body is not documented and clients have
seen both (the JSON batching page shows base64 for binary content; a text body can come back as text).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .wire import GraphRequest, GraphResponse, Principal, graph_error

MAX_REQUESTS = 20
_VERSION = re.compile(r"^/?(v1\.0|beta)(?=/|$)", re.IGNORECASE)


def run_batch(
    req: GraphRequest, principal: Principal, handle: Callable[[GraphRequest], GraphResponse],
    text_bodies: bool = False,
) -> GraphResponse:
    try:
        payload = json.loads(req.body or b"{}")
        items = payload["requests"]
        assert isinstance(items, list)
    except (ValueError, KeyError, AssertionError, TypeError):
        return graph_error(400, "BadRequest", "Invalid batch payload format.")
    if not items:
        return graph_error(400, "BadRequest", "Invalid batch payload format.")
    if len(items) > MAX_REQUESTS:
        return graph_error(400, "BadRequest", f"Unable to process batch: the maximum number of requests in a "
                           f"batch is {MAX_REQUESTS}.")
    ids = [str(item.get("id", "")) for item in items]
    if any(not i for i in ids) or len(set(ids)) != len(ids):
        return graph_error(400, "BadRequest", "Batch request ids must be present and unique.")
    if any(urlsplit(str(item.get("url", ""))).scheme.lower() in ("http", "https") for item in items):
        return graph_error(400, "BadRequest", "Invalid batch payload format.")
    status: dict[str, int] = {}
    responses: list[dict[str, Any]] = []
    for item in items:
        item_id = str(item["id"])
        depends = item.get("dependsOn") or []
        if any(d not in ids for d in depends):
            return graph_error(400, "BadRequest", f"Request '{item_id}' depends on an unknown request id.")
        if any(not (200 <= status.get(d, 0) < 300) for d in depends):
            status[item_id] = 424
            failed = graph_error(424, "FailedDependency", "The request could not be executed because a "
                                 "request it depends on failed.")
            responses.append({"id": item_id, "status": 424, "headers": {"Content-Type": "application/json"},
                              "body": failed.body})
            continue
        version = _VERSION.match(urlsplit(str(item.get("url", ""))).path)
        result = handle(_sub_request(req, item)) if version is None else graph_error(
            400, "BadRequest", f"Resource not found for the segment '{version.group(1)}'.")
        status[item_id] = result.status
        responses.append(_item_response(item_id, result, text_bodies))
    return GraphResponse(200, {"responses": responses})


def _sub_request(outer: GraphRequest, item: dict[str, Any]) -> GraphRequest:
    parts = urlsplit(str(item.get("url", "")))
    path = "/" + unquote(parts.path).lstrip("/")
    headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
    headers["authorization"] = outer.header("authorization")
    body = item.get("body")
    raw = b""
    if isinstance(body, dict | list):
        raw = json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
    elif isinstance(body, str):
        raw = base64.b64decode(body) if not headers.get("content-type", "").startswith("application/json") \
            else body.encode()
    return GraphRequest(
        method=str(item.get("method", "GET")).upper(), path=path, query=dict(parse_qsl(parts.query)),
        headers=headers, body=raw, root=outer.root, in_batch=True,
    )


def _item_response(item_id: str, result: GraphResponse, text_bodies: bool = False) -> dict[str, Any]:
    headers = dict(result.headers)
    entry: dict[str, Any] = {"id": item_id, "status": result.status, "headers": headers}
    if isinstance(result.body, dict | list):
        headers.setdefault("Content-Type", "application/json")
        entry["body"] = result.body
    elif isinstance(result.body, bytes | str):
        data = result.body.encode() if isinstance(result.body, str) else result.body
        headers.setdefault("Content-Type", result.content_type or "application/octet-stream")
        entry["body"] = data.decode("utf-8", "replace") if text_bodies else base64.b64encode(data).decode()
    return entry
