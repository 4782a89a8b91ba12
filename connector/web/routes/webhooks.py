"""Webhook endpoints: validate first, persist the wake-up, answer within the providers' deadlines.

Graph wants a 2xx within 3 seconds (we answer 202 after one small UPDATE); Pub/Sub treats any 2xx
as an acknowledgement and redelivers otherwise. A database failure answers 503 so the provider
retries; a forged or malformed call answers 4xx and is counted and sampled into the audit
(`services.rejections`). No provider API is called here.

Anyone on the internet can call these, so one call must not hold the server: the body is read with a
cap (a declared Content-Length over it is refused before reading anything), a call with too many
notifications is refused before any query, and the parsing and the database work run in the
threadpool, never on the event loop that serves every other request.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from connector.errors import TransientError, WebhookRejected
from connector.ports import Notification, NotificationParser
from connector.sync import intake
from connector.web.context import AppContext
from connector.web.deps import Context
from connector.web.input_guard import capped_body

_STATUS = {"missing_token": 401, "invalid_token": 401, "wrong_audience": 403, "wrong_service_account": 403,
           "client_state_mismatch": 403, "unknown_subscription": 404, "too_large": 413, "too_many_items": 413}
_AUDITED_BY_INTAKE = ("client_state_mismatch", "unknown_subscription")

router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/{provider}")
async def webhook(provider: str, request: Request, context: Context) -> Response:
    return await _receive(provider, request, context)


@router.post("/webhooks/{provider}/lifecycle")
async def lifecycle(provider: str, request: Request, context: Context) -> Response:
    return await _receive(provider, request, context)


async def _receive(provider: str, request: Request, context: AppContext) -> Response:
    parser = context.parsers.get(provider)
    if parser is None:
        return JSONResponse({"error": f"unknown provider {provider}"}, status_code=404)
    token = parser.handshake(request.query_params)
    if token is not None:  # the provider validating the endpoint (Graph subscription handshake)
        return PlainTextResponse(token, status_code=200)
    body = await capped_body(request, context.webhook_max_bytes)
    if body is None:
        return await run_in_threadpool(_refused, context, provider, WebhookRejected(
            "too_large", f"body over {context.webhook_max_bytes} bytes"))
    return await run_in_threadpool(_handle, context, provider, parser, dict(request.headers), body, str(request.url))


def _handle(context: AppContext, provider: str, parser: NotificationParser, headers: Mapping[str, str],
            body: bytes, url: str) -> Response:
    """Parse, check and persist the wake-ups (in the threadpool: token checks and queries block)."""
    try:
        notes = _notifications(parser, headers, body, url, context.webhook_max_items)
        accepted = intake.accept(context.engine, provider, notes, context.clock())
    except WebhookRejected as exc:
        return _refused(context, provider, exc)
    except (SQLAlchemyError, TransientError):  # ours or Google's keys unreachable: the provider retries
        return JSONResponse({"error": "could not persist, retry"}, status_code=503)
    return JSONResponse({"accepted": accepted}, status_code=202)


def _notifications(parser: NotificationParser, headers: Mapping[str, str], body: bytes, url: str,
                   max_items: int) -> list[Notification]:
    try:
        notes = parser.parse(headers, body, url)
    except RecursionError as exc:  # JSON nested deeper than the decoder goes
        raise WebhookRejected("malformed", "JSON nested too deeply") from exc
    if len(notes) > max_items:
        raise WebhookRejected("too_many_items", f"{len(notes)} notifications in one call (at most {max_items})")
    if any("\x00" in (n.subscription_id + n.address + (n.client_state or "") + n.lifecycle_event) for n in notes):
        raise WebhookRejected("malformed", "NUL byte in a notification")
    return list(dict.fromkeys(notes))  # a copy of the same notification wakes nothing more


def _refused(context: AppContext, provider: str, exc: WebhookRejected) -> Response:
    if exc.reason not in _AUDITED_BY_INTAKE:  # accept() counts and samples its own
        with suppress(SQLAlchemyError):  # the refusal stands without its audit sample; the counter has it
            intake.reject(context.engine, provider, exc.reason, str(exc))
    return JSONResponse({"error": exc.reason}, status_code=_STATUS.get(exc.reason, 400))
