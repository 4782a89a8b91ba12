"""Event webhooks through the API: register the host system's receiver (its signing secret is in the answer,
once), list and remove endpoints, read the delivery log, redeliver by hand. docs/integration.md shows a receiver.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from connector.crypto import TokenCipher
from connector.services import event_webhooks
from connector.web.api_host_models import DeliveryOut, EndpointCreated, EndpointIn, EndpointOut, endpoint_out
from connector.web.api_paging import answered_as_http
from connector.web.deps import ApiCaller, AppSettings, Context, DbSession

router = APIRouter(prefix="/api/v1/webhooks", tags=["event webhooks"],
                   responses={401: {"description": "Missing or invalid token"}})
NOT_FOUND = {404: {"description": "No such thing in this company"}}


def _by(who: ApiCaller) -> str:
    return f"API token {who.token_name}"


@router.get("", response_model=list[EndpointOut], summary="The company's webhook endpoints")
def endpoints(session: DbSession, who: ApiCaller) -> list[EndpointOut]:
    return [endpoint_out(e) for e in event_webhooks.list_endpoints(session, who.tenant)]


@router.post("", response_model=EndpointCreated, status_code=201,
             responses={422: {"description": "Not an http(s) URL on a public address, or an unknown event type"}},
             summary="Register an endpoint; the answer holds its signing secret, shown only once")
def add_endpoint(body: EndpointIn, session: DbSession, who: ApiCaller, settings: AppSettings) -> EndpointCreated:
    with answered_as_http():
        endpoint, secret = event_webhooks.add_endpoint(
            session, who.tenant, body.url, settings, TokenCipher.from_settings(settings),
            types=[t.value for t in body.event_types], description=body.description, by=_by(who))
    session.commit()
    return EndpointCreated(**endpoint_out(endpoint).model_dump(), secret=secret)


@router.delete("/{endpoint_id}", response_model=EndpointOut, responses=NOT_FOUND,
               summary="Remove an endpoint and its delivery log")
def remove_endpoint(endpoint_id: int, session: DbSession, who: ApiCaller) -> EndpointOut:
    with answered_as_http():
        endpoint = event_webhooks.remove_endpoint(session, who.tenant, endpoint_id, by=_by(who))
    out = endpoint_out(endpoint)
    session.commit()
    return out


@router.get("/deliveries", response_model=list[DeliveryOut], responses=NOT_FOUND,
            summary="The delivery log, newest first: each event sent to each endpoint, its attempts and answer")
def deliveries(session: DbSession, who: ApiCaller, endpoint_id: int | None = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[DeliveryOut]:
    with answered_as_http():
        rows = event_webhooks.delivery_log(session, who.tenant, endpoint_id, limit)
    return [DeliveryOut.of(r) for r in rows]


@router.post("/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut, status_code=202,
             responses={**NOT_FOUND, 422: {"description": "The endpoint is disabled"}},
             summary="Send an event again (same webhook-id, fresh signature) at the worker's next round")
def redeliver(delivery_id: int, session: DbSession, who: ApiCaller, context: Context) -> DeliveryOut:
    with answered_as_http():
        event_webhooks.redeliver(session, who.tenant, delivery_id, context.clock(), by=_by(who))
        session.commit()
        return DeliveryOut.of(event_webhooks.logged_delivery(session, who.tenant, delivery_id))
