"""The outbox's memory: settled deliveries, their attempts and their events are deleted after
``events.retention_days`` (30 by default), so the tables hold about a month of events however much mail flows.

Settled means delivered (counted from the delivery) or given up (counted from the last attempt); a pending
delivery is never deleted, nor the event it carries. An event goes once no delivery of it is left and it was
fanned out that long ago (an event no endpoint wanted has none from the start). The worker's delivery loop runs
this about once an hour (`connector.events.delivery.Dispatcher.run_once`), in short transactions of at most
``_BATCH`` deliveries and events each, so a large backlog never holds a long lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, or_
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from connector.db import transaction
from connector.events.settings import EventSettings
from connector.models import DeliveryStatus, EventOutbox, WebhookAttempt, WebhookDelivery

log = logging.getLogger("bcc_capture.events")
CLEAN_EVERY = timedelta(hours=1)
_BATCH = 1000


@dataclass(frozen=True)
class Cleaned:
    deliveries: int = 0
    attempts: int = 0
    events: int = 0

    def __add__(self, other: Cleaned) -> Cleaned:
        return Cleaned(self.deliveries + other.deliveries, self.attempts + other.attempts, self.events + other.events)


def clean_up(engine: Engine, settings: EventSettings, now: datetime) -> Cleaned:
    """Delete what the retention lets go of, a batch per transaction until none is left; what was deleted."""
    cutoff = now - timedelta(days=settings.retention_days)
    total = Cleaned()
    while True:
        cleaned = _one_batch(engine, cutoff)
        total += cleaned
        if cleaned.deliveries < _BATCH and cleaned.events < _BATCH:
            break
    if total.deliveries or total.events:
        log.info("event outbox cleaned", extra={"deliveries": total.deliveries, "attempts": total.attempts,
                                                "events": total.events, "before": cutoff.isoformat()})
    return total


def _one_batch(engine: Engine, cutoff: datetime) -> Cleaned:
    settled = or_(and_(col(WebhookDelivery.status) == DeliveryStatus.DELIVERED.value,
                       col(WebhookDelivery.delivered_at) < cutoff),
                  and_(col(WebhookDelivery.status) == DeliveryStatus.FAILED.value,
                       col(WebhookDelivery.last_attempt_at) < cutoff))
    with transaction(engine) as session:
        ids = list(session.exec(select(WebhookDelivery.id).where(settled).limit(_BATCH)))
        attempts = deliveries = 0
        if ids:
            attempts = session.exec(delete(WebhookAttempt).where(  # type: ignore[call-overload]
                col(WebhookAttempt.delivery_id).in_(ids))).rowcount
            deliveries = session.exec(delete(WebhookDelivery).where(  # type: ignore[call-overload]
                col(WebhookDelivery.id).in_(ids))).rowcount
        has_delivery = exists().where(col(WebhookDelivery.event_id) == col(EventOutbox.id))
        events = list(session.exec(select(EventOutbox.id).where(
            col(EventOutbox.dispatched_at) < cutoff, ~has_delivery).limit(_BATCH)))
        if events:
            session.exec(delete(EventOutbox).where(col(EventOutbox.id).in_(events)))  # type: ignore[call-overload]
    return Cleaned(deliveries, attempts, len(events))
