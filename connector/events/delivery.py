"""The worker's delivery loop: fan each outbox event out to the endpoints that want it, send what is due,
retry failures with exponential backoff, give up on an event a day old (settings.events).

At least once: a delivery is claimed (its next attempt pushed past the time an attempt can take) before it
is sent and settled after, each step its own transaction, so a worker killed mid-send leaves it due again
when the claim lapses; the receiver de-duplicates by the event id (`webhook-id`). Several workers share the
work through FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite serializes the claims anyway.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.crypto import TokenCipher
from connector.db import transaction, utcnow
from connector.errors import InputError
from connector.events.retention import CLEAN_EVERY, clean_up
from connector.events.settings import EventSettings
from connector.events.signing import signed_headers
from connector.events.urls import Resolve, checked, pinned, system_resolve
from connector.models import DeliveryStatus, EventOutbox, WebhookAttempt, WebhookDelivery, WebhookEndpoint

log = logging.getLogger("bcc_capture.events")
_FAN_OUT_BATCH = 500


@dataclass(frozen=True)
class Sent:
    delivery_id: int
    event_id: str
    status: str  # delivered | pending (retried later) | failed (given up)
    response_code: int | None
    error: str


def body_of(event: EventOutbox) -> bytes:
    """What a receiver gets: the event's id and type, when it happened, and its data."""
    message = {"id": event.id, "type": event.type, "timestamp": event.created_at.isoformat(), "data": event.payload}
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def retry_delay(settings: EventSettings, attempts: int) -> timedelta:
    """Exponential backoff: the first retry after retry_first_seconds, each next one twice as late, capped."""
    seconds = min(settings.retry_max_seconds, settings.retry_first_seconds * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=seconds)


class Dispatcher:
    def __init__(self, engine: Engine, settings: EventSettings, cipher: TokenCipher,
                 clock: Callable[[], datetime] = utcnow, transport: httpx.BaseTransport | None = None,
                 resolve: Resolve = system_resolve, batch: int = 50) -> None:
        self.engine = engine
        self.settings = settings
        self.cipher = cipher
        self.clock = clock
        self.resolve = resolve
        self.batch = batch
        self.next_clean_up: datetime | None = None  # the first round cleans up, then once every CLEAN_EVERY
        # Redirects are not followed: a receiver must not bounce events to an address the guard would refuse.
        self.client = httpx.Client(timeout=settings.timeout_seconds, follow_redirects=False, transport=transport,
                                   headers={"user-agent": "bcc-capture-events/1"})

    def run_once(self) -> list[Sent]:
        """Fan out new events, send every delivery that is due (up to ``batch``), and now and then delete what
        the retention lets go of (`connector.events.retention`)."""
        self.fan_out()
        sent = [self.send(delivery_id) for delivery_id in self.claim_due()]
        now = self.clock()
        if self.next_clean_up is None or now >= self.next_clean_up:
            clean_up(self.engine, self.settings, now)
            self.next_clean_up = now + CLEAN_EVERY
        return sent

    def loop(self, stop: threading.Event) -> None:
        """The worker's events thread: a round every ``poll_seconds`` until ``stop``."""
        while not stop.is_set():
            try:
                busy = len(self.run_once()) >= self.batch
            except Exception:  # the database went away for a moment: keep the thread, try again later
                log.exception("event delivery round failed")
                busy = False
            if not busy:
                stop.wait(self.settings.poll_seconds)

    def fan_out(self) -> int:
        """One delivery per (new event, active endpoint of its company wanting its type); the number of events."""
        with transaction(self.engine) as session:
            events = session.exec(select(EventOutbox).where(col(EventOutbox.dispatched_at).is_(None))
                                  .order_by(col(EventOutbox.created_at)).limit(_FAN_OUT_BATCH)
                                  .with_for_update(skip_locked=True)).all()
            if not events:
                return 0
            endpoints = session.exec(select(WebhookEndpoint).where(
                col(WebhookEndpoint.tenant_id).in_({e.tenant_id for e in events}), col(WebhookEndpoint.active))).all()
            now = self.clock()
            for event in events:
                for endpoint in endpoints:
                    if endpoint.tenant_id == event.tenant_id and (not endpoint.event_types
                                                                  or event.type in endpoint.event_types):
                        session.add(WebhookDelivery(tenant_id=event.tenant_id, event_id=event.id,
                                                    endpoint_id=endpoint.id, next_attempt_at=now, created_at=now))
                event.dispatched_at = now
                session.add(event)
        return len(events)

    def claim_due(self) -> list[int]:
        """Deliveries due now, claimed: due again only once an attempt has certainly ended (a killed worker's)."""
        now = self.clock()
        claim = timedelta(seconds=2 * self.settings.timeout_seconds + 60)
        with transaction(self.engine) as session:
            ids = list(session.exec(select(WebhookDelivery.id).where(
                WebhookDelivery.status == DeliveryStatus.PENDING.value, col(WebhookDelivery.next_attempt_at) <= now)
                .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id)).limit(self.batch)
                .with_for_update(skip_locked=True)))
            if ids:
                session.exec(update(WebhookDelivery).where(col(WebhookDelivery.id).in_(ids))  # type: ignore[call-overload]
                             .values(next_attempt_at=now + claim))
        return [i for i in ids if i is not None]

    def send(self, delivery_id: int) -> Sent:
        """One attempt, signed afresh (its own timestamp), then settled: delivered, retried later or given up."""
        with Session(self.engine) as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            assert delivery is not None
            event, endpoint = session.get(EventOutbox, delivery.event_id), session.get(WebhookEndpoint,
                                                                                       delivery.endpoint_id)
            assert event is not None and endpoint is not None
        now = self.clock()
        started = time.monotonic()
        code, error = self._post(endpoint, event, now) if endpoint.active else (None, "the endpoint is disabled")
        return self._settle(delivery, event, now, code, error, int((time.monotonic() - started) * 1000))

    def _post(self, endpoint: WebhookEndpoint, event: EventOutbox, now: datetime) -> tuple[int | None, str]:
        body = body_of(event)
        try:
            # To the address the guard checked, not one the name resolves to a moment later (DNS rebinding).
            url, host, extensions = pinned(checked(endpoint.url, self.settings.allowed_networks, self.resolve))
            headers = signed_headers(self.cipher.decrypt(endpoint.secret), event.id, int(now.timestamp()), body)
            # Streamed and never read: a receiver cannot make the worker hold a large answer in memory.
            with self.client.stream("POST", url, content=body, headers={**headers, **host},
                                    extensions=extensions) as response:
                code = response.status_code
        except InputError as exc:
            return None, f"not sent: {exc}"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        return code, "" if 200 <= code < 300 else f"answered {code}"

    def _settle(self, delivery: WebhookDelivery, event: EventOutbox, now: datetime, code: int | None, error: str,
                duration_ms: int) -> Sent:
        assert delivery.id is not None
        attempts = delivery.attempts + 1
        values: dict[str, object] = {"attempts": attempts, "last_attempt_at": now, "response_code": code,
                                     "last_error": error}
        if not error:
            values.update(status=DeliveryStatus.DELIVERED.value, delivered_at=now, next_attempt_at=None)
        elif now - event.created_at >= timedelta(hours=self.settings.give_up_after_hours):
            values.update(status=DeliveryStatus.FAILED.value, next_attempt_at=None)
        else:
            values["next_attempt_at"] = now + retry_delay(self.settings, attempts)
        with transaction(self.engine) as session:
            session.add(WebhookAttempt(delivery_id=delivery.id, at=now, response_code=code, error=error,
                                       duration_ms=duration_ms))
            session.exec(update(WebhookDelivery).where(col(WebhookDelivery.id) == delivery.id)  # type: ignore[call-overload]
                         .values(**values))
        if error:
            log.warning("event delivery failed", extra={"delivery_id": delivery.id, "event_id": event.id,
                                                        "attempts": attempts, "error": error})
        return Sent(delivery.id, event.id, str(values.get("status", DeliveryStatus.PENDING.value)), code, error)
