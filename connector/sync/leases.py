"""Mailbox leases: one worker syncs a mailbox at a time; a dead worker's lease simply expires.

On PostgreSQL, due mailboxes are claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` so any number of
workers on any number of machines share the work without blocking each other. SQLite serializes
writers, which is right for its one-worker deployments.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.models import ACTIVE_STATES, Mailbox


def _claimable(now: datetime):
    return or_(col(Mailbox.lease_expires_at).is_(None), col(Mailbox.lease_expires_at) < now)


def claim_due(engine: Engine, owner: str, now: datetime, limit: int, ttl: float) -> list[int]:
    """Lease up to ``limit`` mailboxes whose sync is due; returns their ids."""
    with Session(engine) as session:
        statement = (
            select(Mailbox.id)
            .where(col(Mailbox.next_sync_at) <= now, col(Mailbox.state).in_([s.value for s in ACTIVE_STATES]),
                   _claimable(now))
            .order_by(col(Mailbox.next_sync_at))
            .limit(limit)
        )
        if engine.dialect.name == "postgresql":
            statement = statement.with_for_update(skip_locked=True)
        ids = [i for i in session.exec(statement) if i is not None]
        if ids:
            session.exec(update(Mailbox).where(col(Mailbox.id).in_(ids))  # type: ignore[call-overload]
                         .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=ttl)))
        session.commit()
        return ids


def claim(engine: Engine, mailbox_id: int, owner: str, now: datetime, ttl: float) -> bool:
    """Lease one mailbox now, due or not (a direct sync request)."""
    with Session(engine) as session:
        result = session.exec(update(Mailbox).where(  # type: ignore[call-overload]
            col(Mailbox.id) == mailbox_id, or_(_claimable(now), col(Mailbox.lease_owner) == owner))
            .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=ttl)))
        session.commit()
        return bool(result.rowcount)


def renew(engine: Engine, mailbox_id: int, owner: str, now: datetime, ttl: float) -> bool:
    with Session(engine) as session:
        result = session.exec(update(Mailbox).where(  # type: ignore[call-overload]
            col(Mailbox.id) == mailbox_id, col(Mailbox.lease_owner) == owner)
            .values(lease_expires_at=now + timedelta(seconds=ttl)))
        session.commit()
        return bool(result.rowcount)


def release(engine: Engine, mailbox_id: int, owner: str) -> None:
    with Session(engine) as session:
        session.exec(update(Mailbox).where(  # type: ignore[call-overload]
            col(Mailbox.id) == mailbox_id, col(Mailbox.lease_owner) == owner)
            .values(lease_owner=None, lease_expires_at=None))
        session.commit()


@contextmanager
def heartbeat(engine: Engine, mailbox_id: int, owner: str, ttl: float,
              clock: Callable[[], datetime]) -> Iterator[None]:
    """Keep renewing a lease while a long step runs, so a live worker never loses it to the TTL.

    A killed worker stops beating; its lease then expires within ``ttl`` and another worker takes over.
    """
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(ttl / 3):
            if not renew(engine, mailbox_id, owner, clock(), ttl):
                return  # taken over: the step's commit will find out (Superseded) and write nothing

    thread = threading.Thread(target=beat, name=f"lease-{mailbox_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=ttl)
