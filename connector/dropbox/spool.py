"""The spool: each message committed as received before the sender hears `250`, then claimed by a filer.

`store` is the listener's only write. `claim` is the filer's: on PostgreSQL it locks one due row with
``FOR UPDATE SKIP LOCKED``, so any number of filers (threads or processes) share the spool without
waiting on each other, and a filer killed mid-way releases its row by dying (its transaction rolls
back). SQLite has no row locks but one writer at a time: a claim there takes the write lock first, and
`finish` re-checks that the row is still pending, so two filers can race only to a rollback, never to a
second filing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select

from connector.db import transaction
from connector.models import SpooledMessage, SpoolState


@dataclass(frozen=True)
class Received:
    """One SMTP transaction's message as the listener hands it over."""

    raw: bytes
    mail_from: str
    rcpt_tos: tuple[str, ...]
    peer_ip: str
    helo: str
    tls: bool = False


Store = Callable[[Received], int]


class LostClaim(Exception):
    """Another filer finished this row first (SQLite only): roll back, nothing was filed twice."""


def store(engine: Engine, message: Received) -> int:
    """Commit the message; returns its spool id. Any failure propagates (the listener answers 451)."""
    with transaction(engine) as session:
        row = SpooledMessage(raw=message.raw, size=len(message.raw), mail_from=message.mail_from,
                             rcpt_tos=list(message.rcpt_tos), peer_ip=message.peer_ip, helo=message.helo[:255],
                             tls=message.tls)
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def claim(session: Session, now: datetime) -> SpooledMessage | None:
    """The oldest due pending row, locked for this transaction (skipping rows other filers hold)."""
    if session.get_bind().dialect.name == "sqlite":
        # No row locks: take the database's one write lock before reading, so filers queue here one after
        # the other instead of filing the same row at once and all but one rolling back.
        session.execute(update(SpooledMessage).where(col(SpooledMessage.id) == -1).values(attempts=0))
    statement = (select(SpooledMessage)
                 .where(SpooledMessage.state == SpoolState.PENDING.value,
                        or_(col(SpooledMessage.not_before).is_(None), col(SpooledMessage.not_before) <= now))
                 .order_by(col(SpooledMessage.id)).limit(1).with_for_update(skip_locked=True))
    return session.exec(statement).first()


def finish(session: Session, row_id: int, now: datetime, *, outcome: str, reason: str, authentication: str = "",
           activity_id: int | None = None) -> None:
    """Mark the row done in the filing's own transaction, dropping the bytes (kept where they matter)."""
    done = session.execute(
        update(SpooledMessage)
        .where(col(SpooledMessage.id) == row_id, col(SpooledMessage.state) == SpoolState.PENDING.value)
        .values(state=SpoolState.DONE.value, filed_at=now, outcome=outcome, reason=reason[:200],
                authentication=authentication, activity_id=activity_id, raw=b"", last_error="")
        .execution_options(synchronize_session=False))  # the row object is not used again in this session
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise LostClaim(f"spool row {row_id} was filed by another filer")


def postpone(engine: Engine, row_id: int, now: datetime, error: str) -> int:
    """Record a failed attempt and back off (1 s, 2 s, 4 s … at most 10 min); returns the attempts so far."""
    with transaction(engine) as session:
        row = session.get(SpooledMessage, row_id)
        if row is None or row.state != SpoolState.PENDING.value:
            return 0
        row.attempts += 1
        row.last_error = error[:2000]
        row.not_before = now + timedelta(seconds=min(600, 2 ** (row.attempts - 1)))
        session.add(row)
        return row.attempts

