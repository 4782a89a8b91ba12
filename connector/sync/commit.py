"""The write half of a sync step: route + apply + new cursor in ONE transaction, and no provider call.

What `connector.sync.step` fetched goes through the one capture pipeline (`connector.services.capture`)
inside a transaction that also stores the page's cursor and the mailbox's schedule, checked against
the lease (a worker that lost its lease writes nothing) and, through the state machine, against the
state the step started from (a pause or a disconnect made meanwhile stands). A crash anywhere
before the commit leaves the old cursor, and replaying the page re-finds every logged message by its
internet message id.

When a message opens a thread, its earlier messages are still at the provider. Reading them here
would hold the transaction open across provider I/O, so the commit records them as backlog rows
(`ThreadBackfill`): one for this mailbox's own thread, one request for each other participant's
mailbox (woken). The step reads its own rows right after this commit, outside any transaction, and
commits them with `Commit.backlog`; rows a crash left behind are read by the next step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from connector.config import Settings
from connector.db import transaction
from connector.mail.envelope import Envelope
from connector.models import ACTIVE_STATES, Mailbox, Participant, ThreadBackfill
from connector.ports import ChangePage
from connector.routing.decision import Outcome
from connector.services.capture import Captured, capture_batch, retrying
from connector.sync import intake, metrics, states
from connector.sync import parked as parking
from connector.sync.timings import StepTimings

Clock = Callable[[], datetime]
MAX_EARLIER = 10  # messages a just-opened thread's first message names that are looked up (bounds a long References)
log = logging.getLogger("bcc_capture.sync")


class Superseded(Exception):
    """The step's write is void: another worker took the lease (this one was presumed dead), or the
    mailbox's state moved meanwhile (paused, disconnected). Nothing of the step is committed."""


@dataclass(frozen=True)
class Committed:
    logged: int  # new activities
    backlog: bool  # threads opened: this mailbox has earlier messages to read now
    filed: list[str] = field(default_factory=list)  # their Message-IDs


@dataclass
class Progress:
    """Whether a step committed anything besides its cursor: a failure after that does not escalate the backoff."""

    made: bool = False


@dataclass(frozen=True)
class Commit:
    engine: Engine
    settings: Settings
    clock: Clock
    mailbox: Mailbox  # as the step read it: its state, wake-up count and pending time
    owner: str  # the lease holder
    timings: StepTimings = field(default_factory=StepTimings)  # route and commit time, what was filed
    settle_after: float = 0.0  # the provider's push_settle_seconds: a push-woken step is read again this much later
    progress: Progress = field(default_factory=Progress)

    def page(self, page: ChangePage, envelopes: list[Envelope], served: list[int],
             parked: Sequence[Envelope] = ()) -> Committed:
        """A page's envelopes (and the backlog rows they answer) with the page's cursor: the mailbox is synced.
        ``parked``: replies of the page that name messages nobody logged yet (`connector.sync.parked`)."""
        return retrying(lambda: self._page(page, envelopes, served, parked))

    def backlog(self, envelopes: list[Envelope], served: list[int], more: bool) -> Committed:
        """Earlier messages read after the page's commit; the cursor is already stored, the state unchanged."""
        return retrying(lambda: self._backlog(envelopes, served, more))

    def _page(self, page: ChangePage, envelopes: list[Envelope], served: list[int],
              parked: Sequence[Envelope]) -> Committed:
        now = self.clock()
        synced = states.transition(self.mailbox, states.Event.SYNCED, now, cursor=page.cursor)
        with transaction(self.engine) as session:
            assert self.mailbox.id is not None
            parking.park(session, self.mailbox.tenant_id, self.mailbox.id, parked, now,
                         self.settings.sync.parked_reply_days)
            committed = self._capture(session, envelopes, served, now, page=True)
            # A crash before the backlog is read must not wait for the safety net: due again at once.
            self._write(session, {**synced.values, **self._schedule(now, page.more or committed.backlog),
                                  "messages_logged": Mailbox.messages_logged + committed.logged},
                        states.still_in(synced))
            self.timings.committing()
        self.timings.committed(committed.filed)
        synced.apply_to(self.mailbox)  # the step's view follows its commit: a later failure moves on from here
        return committed

    def _backlog(self, envelopes: list[Envelope], served: list[int], more: bool) -> Committed:
        now = self.clock()
        with transaction(self.engine) as session:
            committed = self._capture(session, envelopes, served, now)
            self._write(session, {**self._schedule(now, more or committed.backlog),
                                  "messages_logged": Mailbox.messages_logged + committed.logged})
            self.timings.committing()
        self.timings.committed(committed.filed)
        return committed

    def _capture(self, session: Session, envelopes: list[Envelope], served: list[int], now: datetime,
                 page: bool = False) -> Committed:
        """``page``: the envelopes are a page of changes, whose joined provider threads were not read (a backlog's
        were: it reads whole threads)."""
        self.progress.made = self.progress.made or bool(envelopes or served)
        if served:  # first: a thread opened below may need a row for the same message again
            session.exec(delete(ThreadBackfill).where(col(ThreadBackfill.id).in_(served)))  # type: ignore[call-overload]
        with self.timings.phase("route"):
            results = capture_batch(session, self.settings, self.clock, envelopes)
        self._report(results)
        opened = [(e, a.activity_id) for e, a in results if a.thread_opened and a.activity_id is not None]
        for envelope, activity_id in opened:
            self._record_backlog(session, envelope, activity_id, now)
        joined = [e for e, a in results if a.provider_thread_joined and page]
        for envelope in joined:
            session.add(self._own_thread_row(session, envelope))
        filed = [e.internet_message_id for e, a in results if a.created]
        requeued = requeue_parked(session, self.mailbox.tenant_id, filed, now)
        return Committed(len(filed), bool(opened or joined) or self.mailbox.id in requeued, filed)

    def _report(self, results: Captured) -> None:
        for envelope, applied in results:
            metrics.MESSAGES.labels(self.mailbox.provider, applied.outcome.value).inc()
            if applied.outcome is not Outcome.IGNORED:
                log.info("message", extra={"mailbox_id": self.mailbox.id, "provider_message_id":
                                           envelope.provider_message_id, "internet_message_id":
                                           envelope.internet_message_id, "outcome": applied.outcome.value,
                                           "reason": applied.reason.value, "activity_id": applied.activity_id})

    def _record_backlog(self, session: Session, envelope: Envelope, activity_id: int, now: datetime) -> None:
        """The earlier messages of a thread just opened (F13): in this mailbox, and in the other users' on it."""
        assert self.mailbox.id is not None
        session.add(self._own_thread_row(session, envelope))
        # The messages it answers, when a subject edit put them in another provider thread (Gmail and Outlook
        # start a new one): found by Message-ID and read with their own thread. Those the own thread brings cost
        # no look-up (`step.Reader.backlog`); none of them is logged, or this message would not open a thread.
        earlier = dict.fromkeys([*envelope.in_reply_to, *reversed(envelope.references)])  # the nearest first
        for internet_message_id in list(earlier)[:MAX_EARLIER]:
            session.add(_backfill_row(session, self.mailbox.id, internet_message_id))
        request_copies(session, envelope.internet_message_id, activity_id, now, besides=self.mailbox.id)

    def _own_thread_row(self, session: Session, envelope: Envelope) -> ThreadBackfill:
        """A backlog row that reads the rest of this copy's provider thread in this mailbox."""
        assert self.mailbox.id is not None
        own = _backfill_row(session, self.mailbox.id, envelope.internet_message_id)
        own.provider_message_id, own.thread_key = envelope.provider_message_id, envelope.thread_key
        return own

    def _schedule(self, now: datetime, more: bool) -> dict[str, object]:
        """When to sync next: at once while work is waiting, else one safety-net interval later (a push-woken
        step of a provider that drops close pushes: once more, ``settle_after`` seconds later)."""
        # On PostgreSQL this UPDATE waits for a waking transaction's row lock and then sees its count:
        # a wake-up committed during this step (whatever time it carries) stays pending, due at once.
        woken = col(Mailbox.wakeups) != self.mailbox.wakeups
        pushed = self.settle_after > 0 and self.mailbox.pending_since is not None
        later = now + (timedelta(seconds=self.settle_after) if pushed
                       else timedelta(minutes=self.settings.sync.safety_net_minutes))
        return {"backlog": 1 if more else 0,
                "pending_since": case((woken, col(Mailbox.pending_since)),
                                      else_=self.mailbox.pending_since if more else None),
                "next_sync_at": case((woken, now), else_=now if more else later)}

    def _write(self, session: Session, values: dict[str, object], *guards: ColumnElement[bool]) -> None:
        result = session.exec(update(Mailbox).where(  # type: ignore[call-overload]
            col(Mailbox.id) == self.mailbox.id, col(Mailbox.lease_owner) == self.owner, *guards).values(**values))
        if not result.rowcount:
            raise Superseded(self.mailbox.id)


def request_copies(session: Session, internet_message_id: str, activity_id: int, now: datetime,
                   besides: int | None = None) -> None:
    """Ask the connected mailboxes of the users on a just-opened thread for their copies and the rest of their
    own provider thread (replies only they received): a backlog row each, and a wake-up. Called by the sync
    commit and by every other way a thread can open (the SMTP dropbox)."""
    users = select(Participant.user_id).where(Participant.activity_id == activity_id,
                                              col(Participant.user_id).is_not(None))
    others = session.exec(select(Mailbox.id).where(
        col(Mailbox.user_id).in_(users), col(Mailbox.state).in_([s.value for s in ACTIVE_STATES]))).all()
    for other in others:
        if other is None or other == besides:
            continue
        session.add(_backfill_row(session, other, internet_message_id))
        intake.wake(session, other, now)


def requeue_parked(session: Session, tenant_id: int, filed: Sequence[str], now: datetime) -> set[int]:
    """The parked replies naming messages just filed become backlog requests to their mailboxes (woken).
    Returns those mailboxes."""
    found = parking.unpark(session, tenant_id, filed)
    for mailbox_id, internet_message_id in found:
        session.add(_backfill_row(session, mailbox_id, internet_message_id))
        intake.wake(session, mailbox_id, now)
    return {mailbox_id for mailbox_id, _ in found}


def _backfill_row(session: Session, mailbox_id: int, internet_message_id: str) -> ThreadBackfill:
    found = session.exec(select(ThreadBackfill).where(
        ThreadBackfill.mailbox_id == mailbox_id, ThreadBackfill.internet_message_id == internet_message_id)).first()
    return found or ThreadBackfill(mailbox_id=mailbox_id, internet_message_id=internet_message_id)
