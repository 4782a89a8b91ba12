"""Timed work: renew subscriptions and watches before they expire (the safety-net sync needs no
sweep: every successful step schedules the mailbox's next sync one safety-net interval later)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.config import Settings
from connector.db import transaction
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


def renew_subscriptions(engine: Engine, sync: SyncEngine, providers: Mapping[str, Provider], now: datetime,
                        settings: Settings, owner: str,
                        on_error: Callable[[int, Exception], None] | None = None) -> int:
    """Create missing subscriptions/watches and renew those expiring soon; returns how many changed.

    Each mailbox is leased first, so several workers never create two subscriptions for one mailbox.
    """
    changed = 0
    for mailbox_id in due_for_renewal(engine, now, settings):
        if not leases.claim(engine, mailbox_id, owner, now, settings.sync.lease_seconds):
            continue
        try:
            changed += _renew_one(engine, sync, providers, mailbox_id, now, settings, on_error)
        finally:
            leases.release(engine, mailbox_id, owner)
    return changed


def _renew_one(engine: Engine, sync: SyncEngine, providers: Mapping[str, Provider], mailbox_id: int, now: datetime,
               settings: Settings, on_error: Callable[[int, Exception], None] | None) -> int:
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
        if mailbox.subscription_id and mailbox.subscription_expires_at and mailbox.subscription_expires_at > now:
            current = Subscription(mailbox.subscription_id, mailbox.subscription_expires_at, mailbox.client_state)
            fresh = provider.renew(ref, current, now)
        else:
            created = True
            fresh = provider.subscribe(ref, webhook_url(settings, mailbox.provider), now,
                                       client_state=mailbox.client_state or secrets.token_urlsafe(48))
    except Exception as exc:  # a failed renewal is retried next tick; the safety-net sync covers the gap
        if on_error:
            on_error(mailbox_id, exc)
        return 0
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

