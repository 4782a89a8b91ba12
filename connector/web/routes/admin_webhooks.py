"""Admin → Webhooks: register where the company's events go (the signing secret shown once), disable or
remove an endpoint, read the delivery log, redeliver an event by hand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from connector.crypto import TokenCipher
from connector.events.outbox import EventType
from connector.services import event_webhooks
from connector.web import security
from connector.web.deps import Admin, AppSettings, Context, DbSession
from connector.web.forms import submit_form
from connector.web.security import csrf_guard
from connector.web.templating import render_page

PAGE = "/admin/webhooks"
router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])


@router.get(PAGE)
def webhooks_page(request: Request, session: DbSession, who: Admin) -> Response:
    created = security.pop_secret(request, "new_webhook")  # shown once, right after registration
    return render_page(request, "admin_webhooks.html", who, created=created, event_types=[t.value for t in EventType],
                       endpoints=event_webhooks.list_endpoints(session, who.tenant),
                       deliveries=event_webhooks.delivery_log(session, who.tenant, limit=50))


@router.post(PAGE)
def add_endpoint(request: Request, session: DbSession, who: Admin, settings: AppSettings,
                 url: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "",
                 types: Annotated[list[str] | None, Form()] = None) -> Response:
    def work() -> str:
        endpoint, secret = event_webhooks.add_endpoint(session, who.tenant, url, settings,
                                                       TokenCipher.from_settings(settings), types=types or [],
                                                       description=description, by=who.user.email)
        security.put_secret(request, "new_webhook", {"url": endpoint.url, "secret": secret})
        return f"Events now go to {endpoint.url}. Copy its signing secret now: it is not shown again."
    return submit_form(request, session, PAGE, work)


@router.post(PAGE + "/{endpoint_id}/active")
def switch(endpoint_id: int, request: Request, session: DbSession, who: Admin,
           active: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        endpoint = event_webhooks.set_active(session, who.tenant, endpoint_id, active == "on", by=who.user.email)
        return f"{endpoint.url} {'gets events again' if endpoint.active else 'is disabled: it gets no events'}."
    return submit_form(request, session, PAGE, work, missing_is_404=True)


@router.post(PAGE + "/{endpoint_id}/remove")
def remove(endpoint_id: int, request: Request, session: DbSession, who: Admin) -> Response:
    def work() -> str:
        endpoint = event_webhooks.remove_endpoint(session, who.tenant, endpoint_id, by=who.user.email)
        return f"{endpoint.url} is removed, with its delivery log."
    return submit_form(request, session, PAGE, work, missing_is_404=True)


@router.post(PAGE + "/deliveries/{delivery_id}/redeliver")
def redeliver(delivery_id: int, request: Request, session: DbSession, who: Admin, context: Context) -> Response:
    def work() -> str:
        delivery = event_webhooks.redeliver(session, who.tenant, delivery_id, context.clock(), by=who.user.email)
        return f"Event {delivery.event_id} is sent again within a few seconds (the same webhook-id)."
    return submit_form(request, session, PAGE + "#deliveries", work, missing_is_404=True)
