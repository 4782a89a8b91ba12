"""A company with a webhook endpoint, the worker's dispatcher on a movable clock, and mail to file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import transaction, utcnow
from connector.events.delivery import Dispatcher
from connector.events.settings import EventSettings
from connector.events.urls import Resolve, system_resolve
from connector.models import Tenant
from connector.services import event_webhooks
from connector.services.capture import Capture
from tests.conftest import World
from tests.connector.web.receiver import Receiver, receiver
from tests.mailbuilder import mail, to_dropbox


class MovableClock:
    """Starts at the real time: the outbox stamps events with it (an event's age decides when it is given up)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Events:
    engine: Engine
    settings: Settings
    clock: MovableClock
    dispatcher: Dispatcher
    capture: Capture

    def register(self, world: World, url: str, resolve: Resolve = system_resolve) -> str:
        """An endpoint of Acme for every event type; its signing secret."""
        with transaction(self.engine) as session:
            tenant = session.get(Tenant, world.tenant.id)
            assert tenant is not None
            _, secret = event_webhooks.add_endpoint(session, tenant, url, self.settings,
                                                    TokenCipher.from_settings(self.settings), resolve=resolve)
        return secret

    def log_mail(self, n: int) -> None:
        """Alice Bccs the matter: one activity.logged event."""
        applied = self.capture.process(to_dropbox(mail(
            "Alice Archer <alice@acme-law.com>", ["carol@clientco.com"], bcc=["acme+10802@bcc.example.com"],
            subject=f"Brief {n}", message_id=f"<brief-{n}@acme-law.com>")))
        assert applied.activity_id is not None


def events_on(engine: Engine, settings: Settings, events: EventSettings, resolve: Resolve = system_resolve,
              **dispatcher: object) -> Events:
    """The worker's dispatcher with these `events:` settings (``dispatcher``: its other arguments)."""
    configured = settings.model_copy(update={"events": events})
    clock = MovableClock()
    sender = Dispatcher(engine, events, TokenCipher.from_settings(configured), clock=clock, resolve=resolve,
                        **dispatcher)  # type: ignore[arg-type]
    return Events(engine, configured, clock, sender, Capture(engine, configured, clock=clock))


LOOPBACK = EventSettings(allowed_networks=("127.0.0.0/8",))  # the CRM's receiver runs on this machine


@pytest.fixture
def crm() -> Iterator[Receiver]:
    """The host system's receiver on loopback."""
    with receiver() as running:
        yield running


@pytest.fixture
def events(engine: Engine, settings: Settings) -> Events:
    return events_on(engine, settings, LOOPBACK)
