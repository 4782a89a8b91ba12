"""Timed work: renew subscriptions and watches before they expire (the safety-net sync needs no
sweep: every successful step schedules the mailbox's next sync one safety-net interval later)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.config import Settings
from connector.db import transaction
from connector.errors import PermanentError
from connector.models import ACTIVE_STATES, Mailbox
from connector.ports import Provider, Subscription
from connector.sync import leases
from connector.sync.engine import SyncEngine


def due_for_renewal(engine: Engine, now: datetime, settings: Settings, limit: int = 500) -> list[int]:
    horizon = now + timedelta(minutes=settings.sync.renew_before_minutes)
    with Session(engine) as session:
        statement = select(Mailbox.id).where(
            col(Mailbox.state).in_([s.value for s in ACTIVE_STATES]),
            or_(col(Mailbox.subscription_id).is_(None), col(Mailbox.subscription_expires_at) < horizon),
        ).order_by(col(Mailbox.subscription_expires_at)).limit(limit)
        return [i for i in session.exec(statement) if i is not None]


def webhook_url(settings: Settings, provider: str) -> str:
    return f"{settings.sync.public_url.rstrip('/')}/webhooks/{provider}"


@dataclass
class RenewalBackoff:
    """When a failed renewal may be tried again, per mailbox: 30 s doubling to an hour, reset by a success.

    Kept by each worker in memory: a subscription that cannot be created (a misconfigured push endpoint, a
    mailbox that does not exist) is tried a few times an hour, not at every schedule tick.
    """

    first: float = 30.0
    cap: float = 3600.0
    failures: dict[int, tuple[int, datetime]] = field(default_factory=dict)

    def waiting(self, mailbox_id: int, now: datetime) -> bool:
        failed = self.failures.get(mailbox_id)
        return failed is not None and now < failed[1]

    def failed(self, mailbox_id: int, now: datetime) -> datetime:
        count = self.failures.get(mailbox_id, (0, now))[0] + 1
        retry_at = now + timedelta(seconds=min(self.first * 2 ** (count - 1), self.cap))
        self.failures[mailbox_id] = (count, retry_at)
        return retry_at

    def succeeded(self, mailbox_id: int) -> None:
        self.failures.pop(mailbox_id, None)


def renew_subscriptions(engine: Engine, sync: SyncEngine, providers: Mapping[str, Provider], now: datetime,
                        settings: Settings, owner: str,
                        on_error: Callable[[int, Exception, datetime], None] | None = None,
                        backoff: RenewalBackoff | None = None) -> int:
    """Create missing subscriptions/watches and renew those expiring soon; returns how many changed.

    Each mailbox is leased first, so several workers never create two subscriptions for one mailbox. A failure
    is reported once (``on_error`` with the time of the next try) and waits out ``backoff``.
    """
    backoff = backoff if backoff is not None else RenewalBackoff()
    changed = 0
    for mailbox_id in due_for_renewal(engine, now, settings):
        if backoff.waiting(mailbox_id, now) or not leases.claim(engine, mailbox_id, owner, now,
                                                                 settings.sync.lease_seconds):
            continue
        try:
            renewed = _renew_one(engine, sync, providers, mailbox_id, now, settings)
        except Exception as exc:  # retried after the backoff; the safety-net sync covers the gap meanwhile
            retry_at = backoff.failed(mailbox_id, now)
            if on_error:
                on_error(mailbox_id, exc, retry_at)
        else:
            backoff.succeeded(mailbox_id)
            changed += renewed
        finally:
            leases.release(engine, mailbox_id, owner)
    return changed


def _renew_one(engine: Engine, sync: SyncEngine, providers: Mapping[str, Provider], mailbox_id: int, now: datetime,
               settings: Settings) -> int:
    with Session(engine, expire_on_commit=False) as session:
        mailbox = session.get(Mailbox, mailbox_id)
    horizon = now + timedelta(minutes=settings.sync.renew_before_minutes)
    if mailbox is None or (mailbox.subscription_id and mailbox.subscription_expires_at
                           and mailbox.subscription_expires_at >= horizon):
        return 0  # another worker renewed it meanwhile
    provider = providers[mailbox.provider]
    ref = sync.mailbox_ref(mailbox)
    created = False
    try:
        fresh = None
        if mailbox.subscription_id:  # renewing also reauthorizes (its expiry was set to now to make it due)
            current = Subscription(mailbox.subscription_id, mailbox.subscription_expires_at or now,
                                   mailbox.client_state)
            try:
                fresh = provider.renew(ref, current, now)
            except PermanentError as exc:
                if exc.status != 404:  # 404: it expired or was removed, so a new one is made below
                    raise
        if fresh is None:
            created = True
            fresh = provider.subscribe(ref, webhook_url(settings, mailbox.provider), now,
                                       client_state=mailbox.client_state or secrets.token_urlsafe(48))
    finally:
        sync.store_credentials(provider, mailbox_id)  # a token rotated by the call is kept before the lease goes
    with transaction(engine) as session:
        row = session.get(Mailbox, mailbox_id)
        if row is not None:
            row.subscription_id, row.subscription_expires_at = fresh.subscription_id, fresh.expires_at
            row.client_state = fresh.client_state or row.client_state
            if created:
                row.next_sync_at = now  # catch up on anything missed while unsubscribed
            session.add(row)
    return 1

