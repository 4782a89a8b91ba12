"""The one capture pipeline: route → apply, retry a lost unique-key race, offer a thread's messages again.

Every way mail comes in goes through these functions, so the three rules below live here only:

* **route → apply** (`capture_batch`): the routing core decides, the `Writer` writes, in the caller's
  transaction; a batch's look-ups are asked up front (one query per kind) and most of its rows inserted at
  its end (one multi-row INSERT per table), with the same rows as one transaction per message.
* **a lost race is retried** (`retrying`): two workers committing copies of one message at once both
  insert on a unique key; the loser's transaction rolls back with an IntegrityError, and running it
  again re-routes against the winner's rows and merges.
* **earlier messages are offered again** (`reoffering`): when a message opens a thread, every
  envelope of the batch the core had set aside (ignored) is routed again, until nothing changes, so
  the order mail arrives in never changes what is logged (F13).

Callers: `Capture` (one transaction per envelope, a batch of one) for `bcc-capture ingest`, the demo, the
tests and any front door holding whole messages (an SMTP dropbox); `capture_batch` for an archive import
(`connector.services.archive`) and the sync commit (`connector.sync.commit`), which runs the whole page in
one transaction with the provider's cursor and turns each opened thread into backlog rows (the provider's
copies of its earlier messages are read by the next sync step, outside any transaction). The pipeline lives
in services/, not in sync/, because it knows nothing of providers, cursors or leases: the sync engine is one
caller among several.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from connector.config import Settings
from connector.db import transaction
from connector.dropbox import notices
from connector.mail.envelope import Envelope
from connector.routing.apply import Applied, Writer, apply
from connector.routing.core import Router
from connector.routing.decision import Decision, Outcome, Reason, refused
from connector.routing.repository import SqlRepository

T = TypeVar("T")
Clock = Callable[[], datetime]
Captured = list[tuple[Envelope, Applied]]


def route_and_apply(session: Session, router: Router, settings: Settings, envelope: Envelope) -> Applied:
    """One envelope, written before returning."""
    repo = router.repo if isinstance(router.repo, SqlRepository) else None
    return apply(router.route(envelope), session, settings, repo)


def retrying(work: Callable[..., T], *args: object, also: tuple[type[Exception], ...] = ()) -> T:
    """Run ``work`` (one whole transaction) again when it lost a unique-key race to another worker (or another
    race the caller names in ``also``)."""
    retry = retry_if_exception_type((IntegrityError, *also))
    return Retrying(retry=retry, stop=stop_after_attempt(4), reraise=True)(work, *args)


def reoffering(envelopes: Iterable[Envelope], process: Callable[[Envelope], Applied]) -> Captured:
    """Process each envelope; while new threads open, offer the ignored ones again."""
    results = [(envelope, process(envelope)) for envelope in envelopes]
    changed = any(applied.thread_opened for _, applied in results)
    while changed:  # each newly logged message may pull in more of its thread
        changed = False
        for index, (envelope, applied) in enumerate(results):
            if applied.outcome is Outcome.IGNORED:
                again = process(envelope)
                if again.outcome is not Outcome.IGNORED:
                    results[index] = (envelope, again)
                    changed = True
    return results


def capture_batch(session: Session, settings: Settings, clock: Clock, envelopes: Iterable[Envelope], *,
                  tenant_id: int | None = None) -> Captured:
    """Route and apply a batch inside the caller's transaction (one router: it sees the threads the batch opens).

    The batch's look-ups are asked up front, one query per kind, and its rows are inserted at the end, one
    multi-row INSERT per table (`Writer`): the same rows as one transaction per message, at a fraction of the
    round trips. ``tenant_id``: file only for this company (an import); mail another company's rules would file
    is refused as `other_company`.
    """
    items = list(envelopes)
    repo = SqlRepository(session)
    writer = Writer(session, settings, repo)
    if len(items) > 1:  # one message asks only what its routing needs: asking ahead would buy nothing
        repo.prefetch(items, settings.dropbox)
        writer.prefetch_children(repo.known_activities())
    router = Router(repo, settings, clock)
    results = reoffering(items, lambda envelope: writer.apply(
        _told(session, settings, _within(router.route(envelope), tenant_id))))
    writer.flush()
    repo.publish()  # what the batch read of the directory, for the process's next transactions
    return [(envelope, writer.resolved(applied)) for envelope, applied in results]


def _told(session: Session, settings: Settings, decision: Decision) -> Decision:
    """A user who Bcc'd mail to a record they are walled from, or to an archived one, hears why it was not filed
    (once it commits)."""
    if decision.reason is Reason.WALLED and decision.detail.get("asked") and decision.user_id is not None:
        walled = decision.detail.get("walled_record_ids")
        notices.walled(session, settings, decision.user_id, decision.subject,
                       [int(r) for r in walled] if isinstance(walled, list) else [])
    archived = decision.detail.get("archived")
    if decision.outcome is Outcome.REFUSED and isinstance(archived, list) and archived and decision.user_id:
        notices.archived(session, settings, decision.user_id, decision.subject, [str(a) for a in archived])
    return decision


def _within(decision: Decision, tenant_id: int | None) -> Decision:
    if tenant_id is None or decision.tenant_id is None or decision.tenant_id == tenant_id:
        return decision
    return refused(decision.envelope, Reason.OTHER_COMPANY, tenant_id, user_id=None)


class Capture:
    """Envelopes already in hand, one transaction each (a failure keeps what was captured before it)."""

    def __init__(self, engine: Engine, settings: Settings, clock: Clock = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock

    def process(self, envelope: Envelope) -> Applied:
        return retrying(lambda: self._once(envelope))

    def process_all(self, envelopes: Iterable[Envelope]) -> Captured:
        return reoffering(envelopes, self.process)

    def _once(self, envelope: Envelope) -> Applied:
        with transaction(self.engine) as session:
            return capture_batch(session, self.settings, self.clock, [envelope])[0][1]
