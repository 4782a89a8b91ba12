"""Endpoints of the inbound-mail services (verification and storing: `connector.dropbox.inbound`):

    POST /webhooks/inbound/postmark       Postmark inbound webhook (JSON), basic auth in the URL
    POST /webhooks/inbound/mailgun/mime   a Mailgun route's forward() (raw MIME; the URL must end in "mime")
    POST /webhooks/inbound/sendgrid       SendGrid Inbound Parse, raw mode, basic auth and/or a signed webhook
    POST /webhooks/inbound/ses            Amazon SES receipt rule → SNS topic → this HTTPS subscription

A 2xx is answered only after the message is committed to the spool (the SMTP listener's), so filing,
authentication and exactly-once are the same as for mail delivered by SMTP. Each service is told "retry"
or "do not retry" in the codes it documents (`ANSWERS`). An endpoint whose secret is not set answers 404.
The body is read with a cap; the parsing, the signature checks and the database work run in the threadpool.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp

from connector.config import Settings
from connector.dropbox.inbound import Delivery, Refused, ReplayGuard, accept, enabled, guards
from connector.dropbox.inbound_services import mailgun, postmark, sendgrid
from connector.dropbox.ses import Handled, SnsVerifier, Unavailable, ses
from connector.dropbox.ses_s3 import SesObjects
from connector.services import rejections
from connector.web.context import AppContext
from connector.web.deps import Context
from connector.web.input_guard import capped_body

log = logging.getLogger(__name__)
router = APIRouter(tags=["inbound mail"])


@dataclass(frozen=True)
class Answers:
    refuse: int  # do not retry: replayed, stale, malformed, too large, no dropbox recipient
    forged: int  # wrong credentials or signature
    retry: int = 503  # the database (or AWS) could not be reached: the service keeps the message and tries again
    ok: int = 200


ANSWERS = {
    # "If we receive a 403 Forbidden response, retries stop immediately"; any other non-200 is retried 10 times
    # over about 10.5 hours (postmarkapp.com/support/article/understanding-inbound-webhook-retries-in-postmark).
    # Wrong credentials answer 401, which Postmark retries: a password out of step is fixed with nothing lost.
    "postmark": Answers(refuse=403, forged=401),
    # "406 (Not Acceptable) ... the POST is rejected and it will not be retried"; any other code is retried for
    # 8 hours (documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/receive-http). A
    # signature made with another key answers 401, retried like a 503: a key rotation loses nothing.
    "mailgun": Answers(refuse=406, forged=401),
    # Inbound Parse "retries any POSTs that respond with a 5XX status" for up to 3 days and stops at a 2xx
    # (twilio.com/docs/sendgrid/for-developers/parsing-email/inbound-email): a 4xx is final.
    "sendgrid": Answers(refuse=403, forged=401),
    # SNS retries server-side errors (5xx) as the subscription's delivery policy says (at most an hour) and
    # does not retry client-side errors (docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html,
    # …/sns-dead-letter-queues.html).
    "ses": Answers(refuse=403, forged=403),
}


@dataclass
class InboundState:
    """Per app: the replay guards, the SNS verifier (its fetcher and certificate cache; tests inject one) and
    the reader of SES's S3 action objects (made at the first such delivery)."""

    guards: dict[str, ReplayGuard] = field(default_factory=guards)
    sns: SnsVerifier = field(default_factory=SnsVerifier)
    s3: SesObjects | None = None

    def ses_objects(self, settings: Settings) -> SesObjects:
        with _state_lock:
            if self.s3 is None:
                self.s3 = SesObjects(settings.inbound, settings.smtp.max_message_bytes)
            return self.s3


_state_lock = threading.Lock()


def inbound_state(app: ASGIApp) -> InboundState:
    state = app.state  # type: ignore[attr-defined]
    with _state_lock:
        if not isinstance(getattr(state, "inbound", None), InboundState):
            state.inbound = InboundState()
        return state.inbound  # type: ignore[no-any-return]


@router.post("/webhooks/inbound/postmark")
async def postmark_webhook(request: Request, context: Context) -> Response:
    return await _receive("postmark", request, context)


@router.post("/webhooks/inbound/mailgun/mime")
async def mailgun_webhook(request: Request, context: Context) -> Response:
    return await _receive("mailgun", request, context)


@router.post("/webhooks/inbound/sendgrid")
async def sendgrid_webhook(request: Request, context: Context) -> Response:
    return await _receive("sendgrid", request, context)


@router.post("/webhooks/inbound/ses")
async def ses_webhook(request: Request, context: Context) -> Response:
    return await _receive("ses", request, context)


async def _receive(service: str, request: Request, context: AppContext) -> Response:
    if not enabled(service, context.settings.inbound):
        return JSONResponse({"error": f"{service} is not configured here"}, status_code=404)
    limit = max_request_bytes(context.settings)
    body = await capped_body(request, limit)
    if body is None:
        return await run_in_threadpool(_refused, context, service, Refused("too_large", f"over {limit} bytes"))
    headers = {name.lower(): value for name, value in request.headers.items()}
    return await run_in_threadpool(_handle, context, inbound_state(request.app), service, headers, body,
                                   request.url.scheme == "https")


def max_request_bytes(settings: Settings) -> int:
    """Room for the largest message the dropbox takes, twice over and base64'd (Postmark's JSON carries the
    parsed message with its attachments and the raw one), and for the rest of the call."""
    return 3 * settings.smtp.max_message_bytes + 1024 * 1024


def _handle(context: AppContext, state: InboundState, service: str, headers: dict[str, str], body: bytes,
            tls: bool) -> Response:
    answers, now = ANSWERS[service], time.time()
    try:
        found = _read(service, context.settings, state, headers, body, now)
        if isinstance(found, Handled):
            log.info("%s: %s", service, found.what)
            return JSONResponse({"status": found.what}, status_code=answers.ok)
        spool_id = accept(context.engine, context.settings, found, state.guards[service], now, tls=tls)
    except Refused as exc:
        return _refused(context, service, exc)
    except (SQLAlchemyError, Unavailable) as exc:
        log.warning("%s: not stored, the service is asked to retry: %s", service, exc)
        return JSONResponse({"error": "not stored; retry"}, status_code=answers.retry)
    return JSONResponse({"status": "stored", "id": spool_id}, status_code=answers.ok)


def _read(service: str, settings: Settings, state: InboundState, headers: dict[str, str], body: bytes,
          now: float) -> Delivery | Handled:
    if service == "postmark":
        return postmark(settings.inbound, settings.dropbox, headers, body)
    if service == "mailgun":
        return mailgun(settings.inbound, headers, body, now)
    if service == "sendgrid":
        return sendgrid(settings.inbound, headers, body, now)
    return ses(settings.inbound, state.sns, body, now, state.ses_objects(settings))


def _refused(context: AppContext, service: str, exc: Refused) -> Response:
    with suppress(SQLAlchemyError):  # the refusal stands without its audit sample; the counter has it
        rejections.record(context.engine, f"inbound_{service}", exc.reason, exc.detail)
    answers = ANSWERS[service]
    status = answers.forged if exc.forged else answers.refuse
    response = JSONResponse({"error": exc.reason}, status_code=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="bcc-capture inbound mail"'
    return response
