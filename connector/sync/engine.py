"""One sync step of one mailbox: read a page of changes → route → apply + new cursor, one transaction.

The step is the only place that reads a provider. It is idempotent: a crash anywhere before the
commit leaves the old cursor, and replaying the page re-finds every logged message by its
internet message id. Notifications only ever *wake* a mailbox; they never carry work.

    read     initial → start cursor · incremental → read_changes(cursor) · resync → recent(window)
    decide   Router.wants() on header-only envelopes: unrelated mail is never fetched in full;
             ids-only ones (Gmail history) get their headers read only when the core asks
    fetch    provider.fetch_full() for the wanted ones (batched by the adapter)
    commit   route + apply each; pull in the earlier messages of threads that just opened;
             store the cursor with a lease check (a worker that lost its lease writes nothing)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.envelope import Envelope
from connector.models import ACTIVE_STATES, AuditEntry, Mailbox, MailboxState, Participant, ThreadBackfill, User
from connector.ports import ChangePage, MailboxRef, Provider
from connector.routing.apply import apply
from connector.routing.core import Router, Want
from connector.routing.decision import Outcome, Reason
from connector.routing.repository import SqlRepository
from connector.routing.senders import enablement_problem
from connector.sync import intake, metrics, policy

Clock = Callable[[], datetime]
log = logging.getLogger("bcc_capture.sync")


class LeaseLost(Exception):
    """Another worker took the mailbox over (this one was presumed dead): discard the step."""


@dataclass(frozen=True)
class StepResult:
    mailbox_id: int
    ok: bool
    more: bool = False  # another page is ready now
    logged: int = 0  # new activities
    seen: int = 0  # envelopes in the page
    fetched: int = 0  # fetched in full
    action: str = ""  # the policy action after a failure


class SyncEngine:
    def __init__(self, engine: Engine, settings: Settings, providers: Mapping[str, Provider],
                 cipher: TokenCipher, clock: Clock = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.settings = settings
        self.providers = providers
        self.cipher = cipher
        self.clock = clock
        self._calls_seen: dict[tuple[str, str], int] = {}
        self._calls_lock = threading.Lock()  # a worker's threads share this engine
        self._credentials_lock = threading.Lock()
        self._credentials_read: dict[int, str] = {}  # mailbox id → the sealed credentials its step started from

    def ref(self, mailbox: Mailbox) -> MailboxRef:
        assert mailbox.id is not None
        credentials = self.cipher.decrypt(mailbox.credentials) if mailbox.credentials else ""
        with self._credentials_lock:
            self._credentials_read[mailbox.id] = mailbox.credentials
        return MailboxRef(mailbox.id, mailbox.address, mailbox.provider_user_id, credentials, mailbox.app_only)

    # ------------------------------------------------------------------------------------- a step
    def step(self, mailbox_id: int, owner: str) -> StepResult:
        with Session(self.engine, expire_on_commit=False) as session:
            mailbox = session.get(Mailbox, mailbox_id)
        if mailbox is None or mailbox.state not in {s.value for s in MailboxState} - {
                MailboxState.NEEDS_RECONNECT.value, MailboxState.PAUSED.value}:
            return StepResult(mailbox_id, ok=True)
        if self._pause_if_not_allowed(mailbox, owner):
            return StepResult(mailbox_id, ok=True)
        provider = self.providers[mailbox.provider]
        ref = self.ref(mailbox)
        try:
            backfill_ids, backfilled = self._backfill(provider, ref, mailbox)
            page = self._read(provider, ref, mailbox)
            wanted, source_only = self._sort(provider, ref, page.envelopes)
            full = list(provider.fetch_full(ref, wanted)) if wanted else []
            for attempt in Retrying(retry=retry_if_exception_type(IntegrityError), stop=stop_after_attempt(4),
                                    reraise=True):
                with attempt:  # two workers committed copies of one message at once: re-route and merge
                    logged = self._commit(mailbox, owner, provider, ref, page,
                                          backfilled + full + source_only, backfill_ids)
        except LeaseLost:
            return StepResult(mailbox_id, ok=False, action="lease_lost")
        except Exception as exc:  # every failure becomes data on the mailbox row (policy table)
            action = self._record_failure(mailbox, owner, exc)
            return StepResult(mailbox_id, ok=False, action=action.value)
        finally:
            self.store_credentials(provider, mailbox_id)
            self._count_calls(provider)
        metrics.STEPS.labels(mailbox.provider).inc()
        return StepResult(mailbox_id, ok=True, more=page.more, logged=logged, seen=len(page.envelopes),
                          fetched=len(full))

    def _count_calls(self, provider: Provider) -> None:
        """Export the adapter's per-endpoint call counters as Prometheus counters."""
        with self._calls_lock:
            for endpoint, total in provider.usage().by_endpoint.items():
                key = (provider.name, endpoint)
                delta = total - self._calls_seen.get(key, 0)
                if delta > 0:
                    metrics.API_CALLS.labels(provider.name, endpoint).inc(delta)
                    self._calls_seen[key] = total

    def store_credentials(self, provider: Provider, finished: int) -> None:
        """Persist rotated tokens (encrypted) so a restart never falls back to a spent refresh token.

        Called when the step (or renewal) of mailbox ``finished`` ends, before its lease goes: taken and
        stored under one lock, so a token rotated by it is committed before anyone can claim it again,
        whichever thread takes it. A rotated token is not written over the credentials of a reconnect
        made meanwhile: the new grant wins.
        """
        with self._credentials_lock:
            updates = provider.take_credential_updates()
            if updates:
                with transaction(self.engine) as session:
                    for mailbox_id, credentials in updates.items():
                        sealed = self.cipher.encrypt(credentials)
                        statement = update(Mailbox).where(col(Mailbox.id) == mailbox_id)
                        if mailbox_id in self._credentials_read:
                            statement = statement.where(col(Mailbox.credentials) == self._credentials_read[mailbox_id])
                        session.exec(statement.values(credentials=sealed))  # type: ignore[call-overload]
                        self._credentials_read[mailbox_id] = sealed
            self._credentials_read.pop(finished, None)

    def _pause_if_not_allowed(self, mailbox: Mailbox, owner: str) -> bool:
        """Only users who may capture, and did enable it, are ever synced (F7)."""
        with transaction(self.engine) as session:
            user = session.get(User, mailbox.user_id)
            problem = enablement_problem(user, SqlRepository(session)) if user else Reason.UNKNOWN_MAILBOX
            if problem is None:
                return False
            session.exec(update(Mailbox).where(  # type: ignore[call-overload]
                col(Mailbox.id) == mailbox.id, col(Mailbox.lease_owner) == owner).values(
                state=MailboxState.PAUSED.value, next_sync_at=None, last_error=f"capture is off: {problem.value}"))
        return True

    def _backfill(self, provider: Provider, ref: MailboxRef, mailbox: Mailbox) -> tuple[list[int], list[Envelope]]:
        """Threads opened in another mailbox: find this mailbox's copy and pull its own thread."""
        with Session(self.engine) as session:
            requests = session.exec(select(ThreadBackfill).where(ThreadBackfill.mailbox_id == mailbox.id)).all()
        found: list[Envelope] = []
        for request in requests:
            copy = provider.find(ref, request.internet_message_id)
            if copy is not None:
                found += [copy, *provider.thread(ref, copy)]
        unique = list({e.provider_message_id: e for e in found}.values())
        wanted, source_only = self._sort(provider, ref, unique)
        full = list(provider.fetch_full(ref, wanted)) if wanted else []
        return [r.id for r in requests if r.id is not None], full + source_only

    def _read(self, provider: Provider, ref: MailboxRef, mailbox: Mailbox) -> ChangePage:
        if mailbox.state == MailboxState.INITIAL.value or not mailbox.cursor:
            # Everything since the user connected: mail that arrived before this first sync counts.
            since = (mailbox.sync_from or self.clock()) - timedelta(minutes=1)
            return provider.recent(ref, since=since)
        if mailbox.state == MailboxState.RESYNC.value:
            return provider.recent(ref, since=self._resync_since(mailbox))
        return provider.read_changes(ref, mailbox.cursor)

    def _resync_since(self, mailbox: Mailbox) -> datetime:
        """Back to an hour before the last good sync, never further than the resync window."""
        now = self.clock()
        floor = now - timedelta(days=self.settings.sync.resync_window_days)
        last = (mailbox.last_success_at or floor) - timedelta(hours=1)
        return max(last, floor)

    def _sort(self, provider: Provider, ref: MailboxRef, envelopes: Sequence[Envelope],
              router: Router | None = None) -> tuple[list[Envelope], list[Envelope]]:
        """Header-only or ids-only envelopes → (to fetch in full, to record as another copy); the rest is skipped.

        Ids-only envelopes the core cannot judge get their headers read (batched) and are sorted
        again, in their place. ``router``: the commit's own, which sees the thread it just opened.
        """
        sorted_ = self._wants(envelopes, router)
        ask = [e for e, want in sorted_ if want is Want.HEADERS]
        if ask:
            read = {e.provider_message_id: (e, want)
                    for e, want in self._wants(provider.headers(ref, ask), router) if not e.ids_only}
            sorted_ = [read.get(e.provider_message_id, (e, Want.NOTHING)) if want is Want.HEADERS else (e, want)
                       for e, want in sorted_]
        return ([e for e, want in sorted_ if want is Want.FULL],
                [e for e, want in sorted_ if want is Want.SOURCE_ONLY])

    def _wants(self, envelopes: Sequence[Envelope], router: Router | None) -> list[tuple[Envelope, Want]]:
        if router is not None:
            return [(e, router.wants(e)) for e in envelopes]
        with Session(self.engine) as session:  # closed before any provider call
            router = Router(SqlRepository(session), self.settings, self.clock)
            return [(e, router.wants(e)) for e in envelopes]

    # ------------------------------------------------------------------------------------- commit
    def _commit(self, mailbox: Mailbox, owner: str, provider: Provider, ref: MailboxRef, page: ChangePage,
                envelopes: list[Envelope], backfill_ids: list[int]) -> int:
        now = self.clock()
        logged = 0
        with transaction(self.engine) as session:
            router = Router(SqlRepository(session), self.settings, self.clock)
            queue = list(envelopes)
            seen = {e.provider_message_id for e in queue}
            while queue:
                envelope = queue.pop(0)
                applied = apply(router.route(envelope), session, self.settings)
                metrics.MESSAGES.labels(mailbox.provider, applied.outcome.value).inc()
                logged += int(applied.created)
                if applied.outcome is not Outcome.IGNORED:
                    log.info("message", extra={"mailbox_id": mailbox.id, "provider_message_id":
                                               envelope.provider_message_id, "internet_message_id":
                                               envelope.internet_message_id, "outcome": applied.outcome.value,
                                               "reason": applied.reason.value, "activity_id": applied.activity_id})
                if applied.thread_opened and applied.activity_id is not None:
                    # The earlier messages of this thread are logged too (F13), in this mailbox and in
                    # the mailboxes of the other users on the message.
                    queue.extend(self._thread_backlog(provider, ref, envelope, router, seen))
                    self._request_backfills(session, mailbox, applied.activity_id, envelope, now)
            if backfill_ids:
                session.exec(delete(ThreadBackfill).where(col(ThreadBackfill.id).in_(backfill_ids)))  # type: ignore[call-overload]
            done = not page.more
            # On PostgreSQL this UPDATE waits for a waking transaction's row lock and then sees its count.
            woken = col(Mailbox.wakeups) != mailbox.wakeups
            result = session.exec(update(Mailbox).where(  # type: ignore[call-overload]
                col(Mailbox.id) == mailbox.id, col(Mailbox.lease_owner) == owner).values(
                cursor=page.cursor, state=MailboxState.INCREMENTAL.value, last_success_at=now, attempts=0,
                last_error="", last_error_kind="", backlog=1 if page.more else 0,
                # A wake-up committed during this step (a notification, a backfill request) counted
                # itself, whatever time it carries: keep it pending and sync again at once.
                pending_since=case((woken, col(Mailbox.pending_since)), else_=None if done else mailbox.pending_since),
                next_sync_at=case((woken, now), else_=now if page.more else now + timedelta(
                    minutes=self.settings.sync.safety_net_minutes)),
                messages_logged=Mailbox.messages_logged + logged,
                resyncs=mailbox.resyncs if mailbox.state == MailboxState.RESYNC.value else 0))
            if not result.rowcount:
                raise LeaseLost(mailbox.id)
        if done and mailbox.pending_since is not None:
            metrics.SYNC_LAG.labels(mailbox.provider).observe((now - mailbox.pending_since).total_seconds())
        return logged

    def _request_backfills(self, session: Session, mailbox: Mailbox, activity_id: int, envelope: Envelope,
                           now: datetime) -> None:
        users = select(Participant.user_id).where(Participant.activity_id == activity_id,
                                                  col(Participant.user_id).is_not(None))
        others = session.exec(select(Mailbox.id).where(
            col(Mailbox.user_id).in_(users), Mailbox.id != mailbox.id,
            col(Mailbox.state).in_([s.value for s in ACTIVE_STATES]))).all()
        for other in others:
            assert other is not None
            exists = session.exec(select(ThreadBackfill.id).where(
                ThreadBackfill.mailbox_id == other,
                ThreadBackfill.internet_message_id == envelope.internet_message_id)).first()
            if exists is None:
                session.add(ThreadBackfill(mailbox_id=other, internet_message_id=envelope.internet_message_id))
            intake.wake(session, other, now)

    def _thread_backlog(self, provider: Provider, ref: MailboxRef, envelope: Envelope, router: Router,
                        seen: set[str]) -> list[Envelope]:
        siblings = [e for e in provider.thread(ref, envelope) if e.provider_message_id not in seen]
        seen.update(e.provider_message_id for e in siblings)
        wanted, _ = self._sort(provider, ref, siblings, router)  # as before: siblings are only ever downloaded
        return list(provider.fetch_full(ref, wanted)) if wanted else []

    # ------------------------------------------------------------------------------------- failures
    def _record_failure(self, mailbox: Mailbox, owner: str, error: Exception) -> policy.Action:
        action = policy.action_for(error)
        metrics.ERRORS.labels(mailbox.provider, action.value).inc()
        now = self.clock()
        attempts = mailbox.attempts + 1
        values: dict[str, object] = {"attempts": attempts, "last_error": f"{type(error).__name__}: {error}"[:500],
                                     "last_error_kind": action.value, "last_error_at": now}
        delay = policy.delay_for(error, attempts, self.settings.sync.max_backoff_seconds)
        values["next_sync_at"] = now + timedelta(seconds=delay)
        if action is policy.Action.RESYNC:
            values.update(self._resync_values(mailbox, now))
        elif action is policy.Action.NEEDS_RECONNECT:
            values.update(state=MailboxState.NEEDS_RECONNECT.value, next_sync_at=None)
        elif action is policy.Action.FAIL and attempts >= self.settings.sync.failing_after_attempts:
            values["state"] = MailboxState.FAILING.value
        with transaction(self.engine) as session:
            statement = update(Mailbox).where(col(Mailbox.id) == mailbox.id, col(Mailbox.lease_owner) == owner)
            if action is policy.Action.NEEDS_RECONNECT:  # unless the user reconnected while this step ran
                statement = statement.where(col(Mailbox.credentials) == mailbox.credentials)
            if not session.exec(statement.values(**values)).rowcount:  # type: ignore[call-overload]
                return action
            if action in (policy.Action.FAIL, policy.Action.NEEDS_RECONNECT, policy.Action.RESYNC):
                session.add(AuditEntry(tenant_id=mailbox.tenant_id, action="sync_error", reason=action.value,
                                       mailbox=mailbox.address, source=mailbox.provider,
                                       detail={"error": values["last_error"], "attempts": attempts}))
        return action

    def _resync_values(self, mailbox: Mailbox, now: datetime) -> dict[str, object]:
        """Enter resync at once, unless the cursor keeps expiring (loop guard): then show as failing."""
        recent = mailbox.resync_started_at is not None and now - mailbox.resync_started_at < timedelta(days=1)
        resyncs = mailbox.resyncs + 1 if recent else 1
        if resyncs > self.settings.sync.max_resyncs_per_day:
            return {"state": MailboxState.FAILING.value, "resyncs": resyncs,
                    "last_error": f"cursor expired {resyncs} times within a day; resync paused for an hour",
                    "next_sync_at": now + timedelta(hours=1)}
        return {"state": MailboxState.RESYNC.value, "resyncs": resyncs, "resync_started_at": now,
                "next_sync_at": now}
