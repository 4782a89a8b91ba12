"""Webhook endpoints: validate first, persist the wake-up, answer within the providers' deadlines.

Graph wants a 2xx within 3 seconds (we answer 202 after one small UPDATE); Pub/Sub treats any 2xx
as an acknowledgement and redelivers otherwise. A database failure answers 503 so the provider
retries; a forged or malformed call answers 4xx and is audited. No provider API is called here.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import WebhookRejected
from connector.sync import intake
from connector.web.context import AppContext
from connector.web.deps import Context

_STATUS = {"missing_token": 401, "invalid_token": 401, "wrong_audience": 403, "wrong_service_account": 403,
           "client_state_mismatch": 403, "unknown_subscription": 404}

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
    body = await request.body()
    try:
        notes = parser.parse(dict(request.headers), body, str(request.url))
        accepted = intake.accept(context.engine, provider, notes, context.clock())
    except WebhookRejected as exc:
        if exc.reason not in ("client_state_mismatch", "unknown_subscription"):  # accept() audits its own
            intake.reject(context.engine, provider, exc.reason, str(exc))
        return JSONResponse({"error": exc.reason}, status_code=_STATUS.get(exc.reason, 400))
    except SQLAlchemyError:
        return JSONResponse({"error": "could not persist, retry"}, status_code=503)
    return JSONResponse({"accepted": accepted}, status_code=202)
