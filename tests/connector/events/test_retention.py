"""The outbox forgets settled deliveries after `events.retention_days` (30): the worker's delivery loop deletes
a delivered one, its attempts and its event 30 days after delivery, a given-up one 30 days after its last
attempt, and keeps whatever is younger or still pending. Time moves by the dispatcher's clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.models import EventOutbox, WebhookAttempt, WebhookDelivery
from tests.conftest import World
from tests.connector.events.conftest import Events
from tests.connector.web.receiver import Receiver


def kept(engine: Engine) -> dict[str, tuple[str, int]]:
    """Each event still in the outbox by its mail's subject: its delivery's status and the attempts kept."""
    with Session(engine) as session:
        rows = session.exec(select(EventOutbox, WebhookDelivery)
                            .join(WebhookDelivery, col(WebhookDelivery.event_id) == col(EventOutbox.id))).all()
        return {event.payload["subject"]: (delivery.status, len(session.exec(select(WebhookAttempt).where(
            WebhookAttempt.delivery_id == delivery.id)).all())) for event, delivery in rows}


def test_settled_deliveries_go_after_thirty_days_and_younger_ones_stay(world: World, events: Events,
                                                                       crm: Receiver) -> None:
    events.register(world, crm.url)
    crm.statuses = [200, 500, 500]
    events.log_mail(1)
    events.log_mail(2)
    assert [s.status for s in events.dispatcher.run_once()] == ["delivered", "pending"]
    events.clock.advance(hours=25)
    assert [s.status for s in events.dispatcher.run_once()] == ["failed"]  # a day old: given up
    events.clock.advance(days=28)
    events.log_mail(3)
    events.dispatcher.run_once()
    assert kept(events.engine) == {"Brief 1": ("delivered", 1), "Brief 2": ("failed", 2), "Brief 3": ("delivered", 1)}

    events.clock.advance(hours=23, minutes=1)  # Brief 1 was delivered 30 days (and a minute) ago
    events.dispatcher.run_once()
    assert kept(events.engine) == {"Brief 2": ("failed", 2), "Brief 3": ("delivered", 1)}
    with Session(events.engine) as session:
        assert len(session.exec(select(EventOutbox)).all()) == 2  # the event went with its delivery

    events.clock.advance(days=1)
    events.dispatcher.run_once()  # Brief 2 was given up 25 hours after Brief 1, nearly 30 days ago: it stays
    assert kept(events.engine) == {"Brief 2": ("failed", 2), "Brief 3": ("delivered", 1)}
    events.clock.advance(hours=1)
    events.dispatcher.run_once()  # now it goes
    assert kept(events.engine) == {"Brief 3": ("delivered", 1)}
    assert [r.event["data"]["subject"] for r in crm.received] == ["Brief 1", "Brief 2", "Brief 2", "Brief 3"]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_pending_delivery_is_never_deleted(world: World, events: Events, crm: Receiver) -> None:
    events.register(world, crm.url)
    crm.statuses = [500] * 50
    events.log_mail(1)
    events.dispatcher.run_once()
    events.clock.advance(hours=2)
    events.dispatcher.run_once()
    with Session(events.engine) as session:  # an administrator pressed Redeliver on it long ago, say
        delivery = session.exec(select(WebhookDelivery)).one()
        delivery.next_attempt_at = events.clock.now + timedelta(days=60)
        session.add(delivery)
        session.commit()
    events.clock.advance(days=45)
    events.dispatcher.run_once()
    assert kept(events.engine) == {"Brief 1": ("pending", 2)}
