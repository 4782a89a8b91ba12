"""Event webhooks of a company: register an endpoint (its secret shown once), list, disable, remove; the
delivery log; redeliver by hand. The console, the CLI and the API call these; every change is audited."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.errors import InputError
from connector.events.outbox import EventType
from connector.events.signing import new_secret
from connector.events.urls import Resolve, checked_url, system_resolve
from connector.models import (
    AuditEntry,
    DeliveryStatus,
    EventOutbox,
    Tenant,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from connector.services.owned import company_row

MAX_ENDPOINTS = 10  # per company: each one multiplies every event's deliveries


def event_types(chosen: Iterable[str]) -> list[str]:
    """The chosen types, checked; an empty choice means every type."""
    known = {t.value for t in EventType}
    picked = sorted({t.strip() for t in chosen if t.strip()})
    if unknown := [t for t in picked if t not in known]:
        raise InputError(f"unknown event type {unknown[0]!r}: one of {', '.join(t.value for t in EventType)}")
    return picked


def add_endpoint(session: Session, tenant: Tenant, url: str, settings: Settings, cipher: TokenCipher, *,
                 types: Iterable[str] = (), description: str = "", by: str = "",
                 resolve: Resolve = system_resolve) -> tuple[WebhookEndpoint, str]:
    """A new endpoint; returns it with its signing secret (stored encrypted, never shown again)."""
    url = checked_url(url, settings.events.allowed_networks, resolve)
    if len(list_endpoints(session, tenant)) >= MAX_ENDPOINTS:
        raise InputError(f"a company has at most {MAX_ENDPOINTS} webhook endpoints: remove one first")
    secret = new_secret()
    endpoint = WebhookEndpoint(tenant_id=tenant.id, url=url, description=description.strip()[:200],
                               secret=cipher.encrypt(secret), event_types=event_types(types), created_by=by)
    session.add(endpoint)
    session.flush()
    _audit(session, endpoint, "webhook_added", by, types=endpoint.event_types or ["*"])
    return endpoint, secret


def list_endpoints(session: Session, tenant: Tenant) -> list[WebhookEndpoint]:
    return list(session.exec(select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant.id)
                             .order_by(col(WebhookEndpoint.id))))


def get_endpoint(session: Session, tenant: Tenant, endpoint_id: int) -> WebhookEndpoint:
    return company_row(session, WebhookEndpoint, endpoint_id, tenant, "webhook endpoint")


def set_active(session: Session, tenant: Tenant, endpoint_id: int, active: bool, by: str = "") -> WebhookEndpoint:
    """A disabled endpoint gets no new events, and its pending deliveries fail at their next attempt."""
    endpoint = get_endpoint(session, tenant, endpoint_id)
    if endpoint.active != active:
        endpoint.active = active
        session.add(endpoint)
        _audit(session, endpoint, "webhook_enabled" if active else "webhook_disabled", by)
    return endpoint


def remove_endpoint(session: Session, tenant: Tenant, endpoint_id: int, by: str = "") -> WebhookEndpoint:
    """The endpoint and its delivery log go; the events stay for the company's other endpoints."""
    endpoint = get_endpoint(session, tenant, endpoint_id)
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    session.exec(delete(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(deliveries)))  # type: ignore[call-overload]
    session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint.id))  # type: ignore[call-overload]
    _audit(session, endpoint, "webhook_removed", by)
    session.delete(endpoint)
    session.flush()
    return endpoint


@dataclass(frozen=True)
class LoggedDelivery:
    delivery: WebhookDelivery
    event: EventOutbox
    url: str


def delivery_log(session: Session, tenant: Tenant, endpoint_id: int | None = None,
                 limit: int = 50) -> list[LoggedDelivery]:
    """The company's deliveries, newest first, with their event and where they went."""
    statement = (select(WebhookDelivery, EventOutbox, WebhookEndpoint.url)
                 .join(EventOutbox, col(EventOutbox.id) == col(WebhookDelivery.event_id))
                 .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
                 .where(WebhookDelivery.tenant_id == tenant.id))
    if endpoint_id is not None:
        statement = statement.where(WebhookDelivery.endpoint_id == get_endpoint(session, tenant, endpoint_id).id)
    rows = session.exec(statement.order_by(col(WebhookDelivery.id).desc()).limit(limit))
    return [LoggedDelivery(delivery, event, url) for delivery, event, url in rows]


def get_delivery(session: Session, tenant: Tenant, delivery_id: int) -> WebhookDelivery:
    return company_row(session, WebhookDelivery, delivery_id, tenant, "webhook delivery")


def logged_delivery(session: Session, tenant: Tenant, delivery_id: int) -> LoggedDelivery:
    delivery = get_delivery(session, tenant, delivery_id)
    event, endpoint = session.get(EventOutbox, delivery.event_id), get_endpoint(session, tenant, delivery.endpoint_id)
    assert event is not None
    return LoggedDelivery(delivery, event, endpoint.url)


def attempts_of(session: Session, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    return list(session.exec(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)
                             .order_by(col(WebhookAttempt.id))))


def redeliver(session: Session, tenant: Tenant, delivery_id: int, now: datetime, by: str = "") -> WebhookDelivery:
    """Send the event to the endpoint again at the worker's next round: the same event id, a fresh signature.

    For a receiver that lost what it was sent, or an event given up on; retried by the usual rules until the
    event is a day old, then one attempt at a time."""
    delivery = get_delivery(session, tenant, delivery_id)
    endpoint = get_endpoint(session, tenant, delivery.endpoint_id)
    if not endpoint.active:
        raise InputError("enable the endpoint first: a disabled endpoint gets no events")
    delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING.value, now
    session.add(delivery)
    _audit(session, endpoint, "webhook_redelivered", by, delivery_id=delivery.id, event_id=delivery.event_id)
    session.flush()
    return delivery


def _audit(session: Session, endpoint: WebhookEndpoint, action: str, by: str, **detail: object) -> None:
    session.add(AuditEntry(tenant_id=endpoint.tenant_id, action=action, reason="by_user",
                           detail={"by": by, "endpoint_id": endpoint.id, "url": endpoint.url, **detail}))
