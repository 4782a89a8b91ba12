"""Read → decide → fetch for one mailbox: every provider call of a sync step, none inside a transaction.

    backlog  the thread backlog rows waiting for this mailbox (`ThreadBackfill`): its own threads
             opened by the last commit (read the provider thread) and other participants' requests
             (find this mailbox's copy by Message-ID, then read its thread)
    read     initial → recent(since the connect) · incremental → read_changes(cursor) · resync → recent(window)
    decide   Router.wants() on header-only envelopes: unrelated mail is never fetched in full;
             ids-only ones (Gmail history) get their headers read only when the core asks
    fetch    provider.fetch_full() for the wanted ones (batched by the adapter)

The database is read in short sessions closed before the next provider call; what was fetched goes
to `connector.sync.commit`, which writes it with the new cursor in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connector.config import Settings
from connector.mail.envelope import Envelope, Source
from connector.models import Mailbox, MailboxState, ThreadBackfill
from connector.ports import ChangePage, MailboxRef, Provider
from connector.routing.core import Router, Want
from connector.routing.repository import SqlRepository
from connector.sync import parked as parking

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Fetched:
    envelopes: list[Envelope] = field(default_factory=list)  # full ones and header-only copies to record
    served: list[int] = field(default_factory=list)  # the backlog rows these answer (deleted by the commit)
    downloaded: int = 0  # fetched in full
    parked: list[Envelope] = field(default_factory=list)  # header-read replies naming nothing logged yet (parked)


@dataclass(frozen=True)
class Reader:
    engine: Engine
    settings: Settings
    clock: Clock
    provider: Provider
    ref: MailboxRef
    mailbox: Mailbox  # as the step read it

    def backlog(self) -> Fetched:
        """The earlier messages of threads waiting for this mailbox (rows the commits left)."""
        with Session(self.engine) as session:
            rows = session.exec(select(ThreadBackfill).where(ThreadBackfill.mailbox_id == self.mailbox.id)).all()
        if not rows:
            return Fetched()
        found: list[Envelope] = []
        brought: set[str] = set()
        # Own threads first, then requests in the order they were made: a request whose message an earlier row
        # already brought (a parked reply in the thread just read) costs no look-up.
        for row in sorted(rows, key=lambda r: (not r.provider_message_id, r.id or 0)):
            if row.provider_message_id or row.internet_message_id not in brought:
                read = self._thread_of(row)
                found += read
                brought.update(e.internet_message_id for e in read)
        unique = list({e.provider_message_id: e for e in found}.values())
        wanted, copies, _ = self._triage(unique)
        full = list(self.provider.fetch_full(self.ref, wanted)) if wanted else []
        return Fetched(full + copies, [r.id for r in rows if r.id is not None], len(full))

    def page(self) -> tuple[ChangePage, Fetched]:
        """One page of changes, and what of it the core wants."""
        page = self._read()
        wanted, copies, parked = self._triage(page.envelopes)
        full = list(self.provider.fetch_full(self.ref, wanted)) if wanted else []
        return page, Fetched(full + copies, [], len(full), parked)

    def _thread_of(self, row: ThreadBackfill) -> list[Envelope]:
        if row.provider_message_id:  # this mailbox's copy opened the thread: the others in its provider thread
            return list(self.provider.thread(self.ref, self._own_copy(row)))
        copy = self.provider.find(self.ref, row.internet_message_id)  # another participant asks
        return [] if copy is None else [copy, *self.provider.thread(self.ref, copy)]

    def _own_copy(self, row: ThreadBackfill) -> Envelope:
        """The opening copy as the adapters' thread() reads it: its provider id and thread key."""
        return Envelope(source=Source(self.mailbox.provider), internet_message_id=row.internet_message_id,
                        mailbox=self.ref.address, provider_message_id=row.provider_message_id,
                        thread_key=row.thread_key, complete=False)

    def _read(self) -> ChangePage:
        mailbox = self.mailbox
        if mailbox.state == MailboxState.INITIAL.value or not mailbox.cursor:
            # Everything since the user connected: mail that arrived before this first sync counts.
            since = (mailbox.sync_from or self.clock()) - timedelta(minutes=1)
            return self.provider.recent(self.ref, since=since)
        if mailbox.state == MailboxState.RESYNC.value:
            return self.provider.recent(self.ref, since=self._resync_since())
        return self.provider.read_changes(self.ref, mailbox.cursor)

    def _resync_since(self) -> datetime:
        """Back to an hour before the last good sync, never further than the resync window."""
        floor = self.clock() - timedelta(days=self.settings.sync.resync_window_days)
        last = (self.mailbox.last_success_at or floor) - timedelta(hours=1)
        return max(last, floor)

    def _triage(self, envelopes: Sequence[Envelope]) -> tuple[list[Envelope], list[Envelope], list[Envelope]]:
        """Header-only or ids-only envelopes → (to fetch in full, to route as they are: another copy of a logged
        message, or one its headers already refuse; to park: see `connector.sync.parked`); the rest is skipped.

        Ids-only envelopes the core cannot judge get their headers read (batched) and are sorted
        again, in their place.
        """
        judged = self._wants(envelopes)
        ask = [e for e, want in judged if want is Want.HEADERS]
        if ask:
            read = {e.provider_message_id: (e, want)
                    for e, want in self._wants(self.provider.headers(self.ref, ask)) if not e.ids_only}
            judged = [read.get(e.provider_message_id, (e, Want.NOTHING)) if want is Want.HEADERS else (e, want)
                       for e, want in judged]
        parked = [e for e, want in judged if want is Want.NOTHING and not e.ids_only and parking.worth_parking(e)]
        return ([e for e, want in judged if want is Want.FULL],
                [e for e, want in judged if want in (Want.ANOTHER_COPY, Want.REFUSE)], parked)

    def _wants(self, envelopes: Sequence[Envelope]) -> list[tuple[Envelope, Want]]:
        with Session(self.engine) as session:  # closed before any provider call
            repo = SqlRepository(session)
            # A page's look-ups in one query per kind, as the commit asks them: asked one envelope at a time,
            # the thread keys of a page of mostly unrelated mail cost a query each (the step's largest routing cost).
            repo.prefetch(envelopes, self.settings.dropbox)
            router = Router(repo, self.settings, self.clock)
            return [(e, router.wants(e)) for e in envelopes]
