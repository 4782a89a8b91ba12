"""One sync step of one mailbox, start to end: the step's read half, its commits, and what a failure does.

    check    only a syncable mailbox of a user who may capture is read (else it is paused: F7)
    step     `connector.sync.step.Reader`: backlog rows, a page, decide, fetch — provider I/O, no transaction
    commit   `connector.sync.commit.Commit.page`: route + apply + cursor in one transaction, no provider I/O
    backlog  threads that commit opened: their earlier messages read (no transaction), then committed
    failure  `policy` names the action; the state machine (`states`) any state change that goes with it

Every state change goes through `connector.sync.states`. Notifications only ever *wake* a mailbox;
they never carry work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.dropbox import notices
from connector.errors import PermanentError
from connector.events.outbox import EventType, emit
from connector.models import AuditEntry, Mailbox, MailboxState, User
from connector.ports import MailboxRef, Provider
from connector.routing.decision import Reason
from connector.routing.repository import SqlRepository
from connector.routing.senders import enablement_problem
from connector.sync import metrics, policy, states
from connector.sync.commit import Commit, Superseded
from connector.sync.pacing import Pacer
from connector.sync.step import Reader

__all__ = ["StepResult", "Superseded", "SyncEngine"]

Clock = Callable[[], datetime]
BACKLOG_ROUNDS = 3  # threads opened by a thread's earlier messages: rows left after these wait for the next step
QUOTA = "(quota units)"  # the key the running quota total is kept under, beside the endpoints


@dataclass(frozen=True)
class StepResult:
    mailbox_id: int
    ok: bool
    more: bool = False  # another page is ready now
    logged: int = 0  # new activities
    seen: int = 0  # envelopes in the page
    fetched: int = 0  # fetched in full
    action: str = ""  # the policy action after a failure
    timings: dict[str, object] = field(default_factory=dict)  # where the step's time went (sync.timings)


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
        self.pacer = Pacer(settings.sync)  # page sizes and timeouts per mailbox (slow providers)

    def mailbox_ref(self, mailbox: Mailbox) -> MailboxRef:
        assert mailbox.id is not None
        credentials = self.cipher.decrypt(mailbox.credentials) if mailbox.credentials else ""
        with self._credentials_lock:
            self._credentials_read[mailbox.id] = mailbox.credentials
        pace = self.pacer.pace(mailbox.id)
        return MailboxRef(mailbox.id, mailbox.address, mailbox.provider_user_id, credentials, mailbox.app_only,
                          page_size=pace.page_size, timeout=pace.timeout)

    # ------------------------------------------------------------------------------------- a step
    def step(self, mailbox_id: int, owner: str) -> StepResult:
        with Session(self.engine, expire_on_commit=False) as session:
            mailbox = session.get(Mailbox, mailbox_id)
        if mailbox is None or mailbox.state not in states.ACTIVE_STATES:
            return StepResult(mailbox_id, ok=True)
        if self._pause_if_not_allowed(mailbox, owner):
            return StepResult(mailbox_id, ok=True)
        provider = self.providers[mailbox.provider]
        reader = Reader(self.engine, self.settings, self.clock, provider, self.mailbox_ref(mailbox), mailbox)
        commit = Commit(self.engine, self.settings, self.clock, mailbox, owner,
                        settle_after=provider.push_settle_seconds)
        attempts_before = mailbox.attempts
        try:
            result = self._run(reader, commit)
        except Superseded:
            return StepResult(mailbox_id, ok=False, action="superseded")
        except Exception as exc:  # every failure becomes data on the mailbox row (policy table)
            self.pacer.failed(mailbox_id, exc)  # a timeout: smaller pages next time
            if not commit.progress.made:  # an empty page committed, then the backlog failed: no progress, escalate
                mailbox.attempts = attempts_before
            action = self._record_failure(mailbox, owner, exc)
            return StepResult(mailbox_id, ok=False, action=action.value)
        finally:
            self.store_credentials(provider, mailbox_id)
            self._count_calls(provider)
        self.pacer.succeeded(mailbox_id)
        metrics.STEPS.labels(mailbox.provider).inc()
        if not result.more and mailbox.pending_since is not None:
            metrics.SYNC_LAG.labels(mailbox.provider).observe((self.clock() - mailbox.pending_since).total_seconds())
        return result

    def _run(self, reader: Reader, commit: Commit) -> StepResult:
        """New mail first (what a notification is about), then the thread backlog: rows earlier steps and other
        mailboxes left, and the earlier messages of threads this page opened."""
        timings = commit.timings
        with timings.phase("provider"):
            page, fetched = reader.page()
        committed = commit.page(page, fetched.envelopes, [], fetched.parked)
        logged = committed.logged
        deadline = self.clock() + timedelta(seconds=self.settings.sync.step_deadline_seconds)
        waiting = True  # backlog rows may be waiting: read until none are, or past the deadline (the next step is due)
        for _ in range(BACKLOG_ROUNDS):
            if not waiting or self.clock() >= deadline:
                break
            with timings.phase("backlog"):
                backlog = reader.backlog()
            if not backlog.served:
                waiting = False
                break
            committed = commit.backlog(backlog.envelopes, backlog.served, more=page.more)
            logged += committed.logged
            waiting = committed.backlog
        assert commit.mailbox.id is not None
        return StepResult(commit.mailbox.id, ok=True, more=page.more or waiting, logged=logged,
                          seen=len(page.envelopes), fetched=fetched.downloaded, timings=timings.as_log())

    def _count_calls(self, provider: Provider) -> None:
        """Export the adapter's per-endpoint call counters as Prometheus counters."""
        with self._calls_lock:
            usage = provider.usage()
            for endpoint, total in usage.by_endpoint.items():
                key = (provider.name, endpoint)
                delta = total - self._calls_seen.get(key, 0)
                if delta > 0:
                    metrics.API_CALLS.labels(provider.name, endpoint).inc(delta)
                    self._calls_seen[key] = total
            units = usage.quota_units - self._calls_seen.get((provider.name, QUOTA), 0)
            if units > 0:  # Gmail bills each method in quota units; Graph reports none
                metrics.QUOTA_UNITS.labels(provider.name).inc(units)
                self._calls_seen[(provider.name, QUOTA)] = usage.quota_units

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
            paused = states.transition(mailbox, states.Event.CAPTURE_OFF, self.clock(),
                                       last_error=f"capture is off: {problem.value}")
            session.exec(update(Mailbox).where(  # type: ignore[call-overload]
                col(Mailbox.id) == mailbox.id, col(Mailbox.lease_owner) == owner, states.still_in(paused))
                .values(**paused.values))
        return True

    # ------------------------------------------------------------------------------------- failures
    def _record_failure(self, mailbox: Mailbox, owner: str, error: Exception) -> policy.Action:
        action = policy.action_for(error)
        metrics.ERRORS.labels(mailbox.provider, action.value).inc()
        now = self.clock()
        attempts = mailbox.attempts + 1
        values: dict[str, object] = {"attempts": attempts, "last_error": f"{type(error).__name__}: {error}"[:500],
                                     "last_error_kind": action.value, "last_error_at": now}
        delay = policy.delay_for(error, attempts, self.settings.sync.max_backoff_seconds,
                                 self.settings.sync.answering_backoff_seconds)
        values["next_sync_at"] = now + timedelta(seconds=delay)
        moved = self._failure_transition(mailbox, action, attempts, now, never_worked=_no_such_mailbox(mailbox, error))
        with transaction(self.engine) as session:
            statement = update(Mailbox).where(col(Mailbox.id) == mailbox.id, col(Mailbox.lease_owner) == owner)
            if moved is not None:
                values.update(moved.values)
                statement = statement.where(states.still_in(moved))
            if action is policy.Action.NEEDS_RECONNECT:  # unless the user reconnected while this step ran
                statement = statement.where(col(Mailbox.credentials) == mailbox.credentials)
            if not session.exec(statement.values(**values)).rowcount:  # type: ignore[call-overload]
                return action
            if action in (policy.Action.FAIL, policy.Action.NEEDS_RECONNECT, policy.Action.RESYNC):
                session.add(AuditEntry(tenant_id=mailbox.tenant_id, action="sync_error", reason=action.value,
                                       mailbox=mailbox.address, source=mailbox.provider,
                                       detail={"error": values["last_error"], "attempts": attempts}))
            if action is policy.Action.NEEDS_RECONNECT:  # once per revocation: the update above moved it
                notices.needs_reconnect(session, self.settings, mailbox)
                emit(session, mailbox.tenant_id, EventType.MAILBOX_NEEDS_RECONNECT, {
                    "mailbox_id": mailbox.id, "address": mailbox.address, "provider": mailbox.provider,
                    "user_id": mailbox.user_id, "error": values["last_error"]})
        return action

    def _failure_transition(self, mailbox: Mailbox, action: policy.Action, attempts: int, now: datetime,
                            never_worked: bool = False) -> states.Transition | None:
        """The state change a failure makes, if any: the policy's action as an event of the machine."""
        if action is policy.Action.RESYNC:
            return states.expire_cursor(mailbox, now, self.settings.sync.max_resyncs_per_day)
        if action is policy.Action.NEEDS_RECONNECT:
            return states.transition(mailbox, states.Event.GRANT_REVOKED, now)
        if action is policy.Action.FAIL and (never_worked or attempts >= self.settings.sync.failing_after_attempts):
            return states.transition(mailbox, states.Event.FAILED_REPEATEDLY, now)
        return None


def _no_such_mailbox(mailbox: Mailbox, error: Exception) -> bool:
    """A first sync answered 404 by the provider (Graph ErrorInvalidUser: an Outlook mailbox connected for a user
    whose mail is elsewhere) can never work: it fails at once with its reason instead of retrying for hours."""
    return (mailbox.state == MailboxState.INITIAL.value and isinstance(error, PermanentError)
            and error.status == 404)
