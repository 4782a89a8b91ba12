"""Webhook intake, provider-neutral: validate, persist a wake-up, answer fast. Never calls a provider.

A wake-up is one UPDATE of the mailbox row: many notifications for one mailbox collapse into one
pending sync, and a mailbox waiting out a rate limit is not woken early.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.db import transaction
from connector.errors import WebhookRejected
from connector.models import ACTIVE_STATES, Mailbox
from connector.ports import Notification
from connector.services import rejections
from connector.sync import metrics, wakeups


def wake(session: Session, mailbox_id: int, now: datetime) -> None:
    backing_off = (col(Mailbox.attempts) > 0) & (col(Mailbox.next_sync_at) > now)
    session.exec(update(Mailbox).where(  # type: ignore[call-overload]
        col(Mailbox.id) == mailbox_id, col(Mailbox.state).in_([s.value for s in ACTIVE_STATES])).values(
        pending_since=case((col(Mailbox.pending_since).is_(None), now), else_=col(Mailbox.pending_since)),
        next_sync_at=case((backing_off, col(Mailbox.next_sync_at)), else_=now), wakeups=col(Mailbox.wakeups) + 1))
    wakeups.announce(session)


def _find(session: Session, provider: str, note: Notification) -> Mailbox | None:
    if note.subscription_id:
        return session.exec(select(Mailbox).where(Mailbox.provider == provider,
                                                  Mailbox.subscription_id == note.subscription_id)).first()
    return session.exec(select(Mailbox).where(Mailbox.provider == provider,
                                              Mailbox.address == note.address.lower())).first()


def accept(engine: Engine, provider: str, notes: Sequence[Notification], now: datetime) -> int:
    """Persist wake-ups for genuine notifications; raise WebhookRejected when none is genuine."""
    accepted = 0
    rejected: list[str] = []
    with transaction(engine) as session:
        for note in notes:
            mailbox = _find(session, provider, note)
            if mailbox is None or mailbox.id is None:
                rejected.append("unknown_subscription")
                continue
            if note.checks_client_state and not hmac.compare_digest(note.client_state, mailbox.client_state):
                rejected.append("client_state_mismatch")
                continue
            if note.lifecycle_event == "subscriptionRemoved":
                mailbox.subscription_id = None  # the scheduler creates a new one, then the delta catches up
                session.add(mailbox)
            elif note.lifecycle_event == "reauthorizationRequired":
                mailbox.subscription_expires_at = now  # renew (reauthorize) at the next schedule tick
                session.add(mailbox)
            wake(session, mailbox.id, now)
            accepted += 1
            metrics.WAKEUPS.labels(provider).inc()
    if rejected:
        reject(engine, provider, rejected[0], f"{len(rejected)} of {len(notes)} notification(s) rejected")
        if not accepted:
            raise WebhookRejected(rejected[0])
    return accepted


def reject(engine: Engine, provider: str, reason: str, detail: str = "") -> None:
    """Count a rejected call (forged, replayed, malformed), sampled into the audit; nothing else happens."""
    rejections.record(engine, provider, reason, detail)
