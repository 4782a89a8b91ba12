"""Input no page or API call can take, refused with 400 before any route sees it.

* NUL bytes, anywhere: the path, the query, a form field, a JSON string. No address, search or name
  contains one, and PostgreSQL cannot store one (the query would fail with a 500).
* JSON nested deeper than the decoder goes.
* Console and API bodies over `MAX_BODY_BYTES` (413): forms and API calls are a few hundred bytes, and
  the CSRF check reads every console POST's form before anything else.

Archive uploads (multipart bodies to `STREAMED` paths) are left to their routes, which stream them to disk with
their own limit (`web.uploads`); other bodies there are checked here as anywhere. Refusals are counted and
sampled into the audit (`services.rejections`, action ``request_rejected``).
Webhooks read and check their own bodies (`routes.webhooks`); only their URL is checked here.
"""

from __future__ import annotations

import json
import re

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.services import rejections
from connector.web.middleware import is_machine_path
from connector.web.templating import render_page

MAX_BODY_BYTES = 1024 * 1024
_NUL_ENCODED = re.compile(rb"%00", re.IGNORECASE)
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)  # \u0000, not an escaped backslash before it
STREAMED = ("/api/v1/imports", "/admin/imports")  # POST bodies of up to imports.max_upload_bytes
_MESSAGES = {"nul_byte": "This request contains a NUL character, which nothing here accepts.",
             "nested_too_deeply": "This request's JSON is nested too deeply.",
             "too_large": "This request is too large."}


class InputGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or _NUL_ENCODED.search(scope["query_string"]) or b"\x00" in scope["query_string"]:
            await self._refuse(scope, receive, send, "nul_byte")
            return
        kind = _body_kind(scope)
        if kind is None:
            await self.app(scope, receive, send)
            return
        body = await _read_capped(scope, receive)
        problem = "too_large" if body is None else await run_in_threadpool(_body_problem, kind, body)
        if problem is not None:
            await self._refuse(scope, receive, send, problem)
            return
        await self.app(scope, _replay(body or b"", receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, reason: str) -> None:
        area = "api" if scope["path"].startswith("/api/") else "webhooks" if scope["path"].startswith(
            "/webhooks/") else "console"
        engine = scope["app"].state.context.engine
        await run_in_threadpool(rejections.record, engine, area, reason, f"{scope['method']} {scope['path'][:120]!r}",
                                action=rejections.REQUEST)
        status = 413 if reason == "too_large" else 400
        response: Response
        if is_machine_path(scope["path"]):
            response = JSONResponse({"detail": _MESSAGES[reason], "reason": reason}, status_code=status)
        else:
            request = Request(scope, receive)
            response = render_page(request, "error.html", None, status, title="Bad request",
                                   message=_MESSAGES[reason], signed_in=isinstance(request.session.get("uid"), int))
        await response(scope, receive, send)


def _body_kind(scope: Scope) -> str | None:
    """Which console or API bodies are read here: forms (of any encoding) and JSON."""
    if scope["method"] not in ("POST", "PUT", "PATCH") or scope["path"].startswith("/webhooks/"):
        return None
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"").split(b";")[0].strip().lower()
    if content_type == b"application/x-www-form-urlencoded":
        return "urlencoded"
    if content_type == b"multipart/form-data":
        return None if scope["path"].rstrip("/") in STREAMED else "multipart"
    return "json" if content_type == b"application/json" or content_type.endswith(b"+json") else None


async def capped_body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it is known to be over ``limit`` bytes (the rest is never read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    received, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        received.append(chunk)
    return b"".join(received)


async def _read_capped(scope: Scope, receive: Receive) -> bytes | None:
    declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the app sees an empty body
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _body_problem(kind: str, body: bytes) -> str | None:
    if b"\x00" in body or (kind == "urlencoded" and _NUL_ENCODED.search(body)):
        return "nul_byte"
    if kind == "json":
        if _JSON_NUL.search(body):
            return "nul_byte"
        try:
            json.loads(body)
        except RecursionError:
            return "nested_too_deeply"
        except ValueError:
            return None  # not JSON at all: the route's own validation says so
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once more for the app, then whatever the client sends next (a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
