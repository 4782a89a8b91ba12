"""Outbound event webhooks: the endpoints a company registers, the events waiting to go out, each delivery.

The outbox (`EventOutbox`) is written in the same transaction as the change an event reports (an activity
logged or unlogged, unassigned mail kept, a mailbox needing reconnection, a message quarantined), so an
event exists exactly when its change committed. The worker then fans each event out to the company's
endpoints that want its type (one `WebhookDelivery` each) and sends them, retrying with backoff; every
attempt is kept (`WebhookAttempt`) for the delivery log. The event id is the `Webhook-Id` header: a receiver
de-duplicates by it (delivery is at least once).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Text
from sqlmodel import Field, Index, SQLModel

from connector.models._types import created_at, json_dict, json_list, timestamp


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (next_attempt_at)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # retried until the event was too old: given up (an administrator may redeliver)


class WebhookEndpoint(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    url: str
    description: str = ""
    secret: str = Field(sa_type=Text)  # "whsec_…", encrypted at rest (connector.crypto), shown once
    event_types: list[str] = json_list()  # empty: every type
    active: bool = True
    created_by: str = ""
    created_at: datetime = created_at()


class EventOutbox(SQLModel, table=True):
    __table_args__ = (Index("ix_eventoutbox_undispatched", "dispatched_at", "created_at"),)
    id: str = Field(primary_key=True)  # "evt_<uuid4 hex>": the Webhook-Id, stable across attempts
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    type: str
    payload: dict = json_dict()
    created_at: datetime = created_at()
    dispatched_at: datetime | None = timestamp()  # fanned out to the endpoints wanting it


class WebhookDelivery(SQLModel, table=True):
    __table_args__ = (Index("ix_webhookdelivery_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    event_id: str = Field(foreign_key="eventoutbox.id", index=True)
    endpoint_id: int = Field(foreign_key="webhookendpoint.id", index=True)
    status: str = DeliveryStatus.PENDING.value
    attempts: int = 0
    next_attempt_at: datetime | None = timestamp()
    last_attempt_at: datetime | None = timestamp()
    response_code: int | None = None
    last_error: str = ""
    delivered_at: datetime | None = timestamp()
    created_at: datetime = created_at()


class WebhookAttempt(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhookdelivery.id", index=True)
    at: datetime = created_at()
    response_code: int | None = None  # None: no answer (refused, timed out, blocked address)
    error: str = ""
    duration_ms: int = 0
    detail: dict = json_dict()
