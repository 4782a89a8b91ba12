"""The mailbox state machine, told as stories: what each event does to a mailbox, and what it may not do.

The first stories ask the table directly; the last ones run real sync steps (SQLite and PostgreSQL)
against a scripted provider, to show the machine and the step/commit split at work together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.errors import GrantRevoked, TransientError
from connector.mail.envelope import Envelope
from connector.models import Activity, Mailbox, ThreadBackfill
from connector.ports import ApiUsage, ChangePage, MailboxRef
from connector.services import mailboxes, users
from connector.sync import leases
from connector.sync.engine import SyncEngine
from connector.sync.states import (
    ACTIVE_STATES,
    RULES,
    Event,
    IllegalTransition,
    MailboxState,
    expire_cursor,
    transition,
)
from tests.conftest import World
from tests.mailbuilder import in_mailbox, mail

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
KEY = b"q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="
ALICE = "alice@acme-law.com"


def box(state: MailboxState, **values: object) -> Mailbox:
    """A mailbox row as the machine sees it (never saved)."""
    values = {"cursor": "delta-1", "credentials": "sealed-grant", **values}
    return Mailbox(tenant_id=1, user_id=1, provider="graph", address=ALICE, state=state.value, **values)


# ------------------------------------------------------------------------------------------ the table
def test_a_paused_mailbox_resumes_from_a_fresh_cursor_when_capture_comes_back_on() -> None:
    paused = box(MailboxState.PAUSED, sync_from=NOW - timedelta(days=30))

    moved = transition(paused, Event.CAPTURE_ON, NOW)

    assert moved.target is MailboxState.INITIAL
    assert moved.values["cursor"] == "" and moved.values["sync_from"] == NOW  # the paused weeks are not read
    assert moved.values["next_sync_at"] == NOW


def test_a_disconnected_mailbox_stays_paused_when_capture_comes_back_on() -> None:
    disconnected = box(MailboxState.INCREMENTAL)
    transition(disconnected, Event.DISCONNECTED, NOW).apply_to(disconnected)
    assert (disconnected.state, disconnected.credentials, disconnected.cursor) == ("paused", "", "")

    moved = transition(disconnected, Event.CAPTURE_ON, NOW)

    assert moved.target is MailboxState.PAUSED and moved.values == {}  # only connecting it again resumes it


def test_a_revoked_grant_waits_for_the_user_whatever_else_happens() -> None:
    for event in Event:
        if event in (Event.RECONNECTED, Event.DISCONNECTED):  # the user's own moves
            continue
        try:
            moved = transition(box(MailboxState.NEEDS_RECONNECT), event, NOW)
        except IllegalTransition:
            continue
        assert (moved.target, moved.values) == (MailboxState.NEEDS_RECONNECT, {}), event


def test_reconnecting_resumes_from_the_kept_cursor_and_keeps_the_start() -> None:
    started = NOW - timedelta(days=3)
    revoked = box(MailboxState.NEEDS_RECONNECT, sync_from=started, attempts=4, last_error="invalid_grant")

    moved = transition(revoked, Event.RECONNECTED, NOW)
    moved.apply_to(revoked)

    assert moved.target is MailboxState.INCREMENTAL
    assert (revoked.cursor, revoked.sync_from, revoked.attempts, revoked.last_error) == ("delta-1", started, 0, "")
    never_synced = box(MailboxState.NEEDS_RECONNECT, cursor="")
    assert transition(never_synced, Event.RECONNECTED, NOW).target is MailboxState.INITIAL


def test_a_fresh_grant_does_not_move_a_mailbox_that_is_syncing() -> None:
    for state in ACTIVE_STATES:
        assert transition(box(state), Event.RECONNECTED, NOW).target is state


def test_an_illegal_transition_is_refused() -> None:
    with pytest.raises(IllegalTransition, match="no move from 'paused' on 'synced'"):
        transition(box(MailboxState.PAUSED), Event.SYNCED, NOW)  # a paused mailbox is never synced
    with pytest.raises(IllegalTransition, match="no move from 'needs_reconnect' on 'cursor_expired'"):
        transition(box(MailboxState.NEEDS_RECONNECT), Event.CURSOR_EXPIRED, NOW)
    with pytest.raises(IllegalTransition, match="'archived'"):
        transition(Mailbox(tenant_id=1, user_id=1, provider="graph", address=ALICE, state="archived"),
                   Event.SYNCED, NOW)
    with pytest.raises(ValueError, match="the state is the table's to choose"):
        transition(box(MailboxState.INCREMENTAL), Event.SYNCED, NOW, state="initial")


def test_finishing_a_resync_keeps_counting_expiries_for_the_loop_guard() -> None:
    assert transition(box(MailboxState.RESYNC, resyncs=2), Event.SYNCED, NOW).values["resyncs"] == 2
    assert transition(box(MailboxState.INCREMENTAL, resyncs=2), Event.SYNCED, NOW).values["resyncs"] == 0


def test_a_cursor_that_keeps_expiring_shows_the_mailbox_as_failing_for_an_hour() -> None:
    first = expire_cursor(box(MailboxState.INCREMENTAL, resyncs=3, resync_started_at=NOW - timedelta(days=2)),
                          NOW, max_per_day=3)
    assert (first.target, first.values["resyncs"], first.values["next_sync_at"]) == (MailboxState.RESYNC, 1, NOW)

    looping = expire_cursor(box(MailboxState.RESYNC, resyncs=3, resync_started_at=NOW - timedelta(hours=2)),
                            NOW, max_per_day=3)
    assert looping.target is MailboxState.FAILING and looping.values["resyncs"] == 4
    assert looping.values["next_sync_at"] == NOW + timedelta(hours=1)
    assert "cursor expired 4 times within a day" in str(looping.values["last_error"])


def test_no_mailbox_is_ever_stuck_every_state_leads_back_to_syncing() -> None:
    reached = {MailboxState.INCREMENTAL}
    while True:  # walk the table backwards from incremental, whatever the guards
        more = {r.source for r in RULES if r.target in reached and not r.ignored} - reached
        if not more:
            break
        reached |= more
    assert reached == set(MailboxState)


def test_each_event_has_one_answer_per_state() -> None:
    """Guarded rules come first and one unguarded rule closes each (state, event): order never hides a move."""
    pairs = {(r.source, r.event) for r in RULES}
    for source, event in pairs:
        rules = [r for r in RULES if (r.source, r.event) == (source, event)]
        assert [r.guard is None for r in rules] == [False] * (len(rules) - 1) + [True], (source, event)


# ------------------------------------------------------------------------------------------ real steps
def _connect(world: World) -> int:
    with transaction(world.engine) as session:
        mailbox = mailboxes.connect(session, users.get_user(session, ALICE), "graph", "{}", TokenCipher(KEY))
        assert mailbox.id is not None
        return mailbox.id


def _row(world: World, mailbox_id: int) -> Mailbox:
    with Session(world.engine) as session:
        row = session.get(Mailbox, mailbox_id)
        assert row is not None
        return row


def _logged(world: World, message_id: str) -> Activity | None:
    with Session(world.engine) as session:
        return session.exec(select(Activity).where(Activity.internet_message_id == message_id)).first()


class ScriptedOutlook:
    """Alice's mailbox: a first page holding her reply to Carol (Bcc to a matter), Carol's mail earlier in
    the conversation, readable only through thread(); ``checks`` runs whenever thread() is called."""

    name = "graph"
    push_settle_seconds = 0.0
    CONVERSATION = f"graph:{ALICE}:conv-1"

    def __init__(self, world: World, thread_failures: Sequence[Exception] = ()) -> None:
        self.world, self.thread_failures = world, list(thread_failures)
        earlier = mail("Carol <carol@clientco.com>", [ALICE], subject="Smith v. Jones", message_id="<e0@client>")
        reply = mail(f"Alice <{ALICE}>", ["carol@clientco.com"], bcc=["acme+10802@bcc.example.com"],
                     subject="Re: Smith v. Jones", message_id="<e1@acme>", in_reply_to="<e0@client>",
                     references=["<e0@client>"])
        self.full = {pid: in_mailbox(raw, ALICE, self.CONVERSATION).with_changes(provider_message_id=pid)
                     for pid, raw in (("m0", earlier), ("m1", reply))}
        self.seen_in_thread: list[tuple[str, bool]] = []  # (cursor stored, reply logged) when thread() ran

    @staticmethod
    def header_only(envelope: Envelope) -> Envelope:
        return envelope.with_changes(complete=False, text="", html=None)

    def recent(self, mailbox: MailboxRef, since: datetime) -> ChangePage:
        return ChangePage([self.header_only(self.full["m1"])], cursor="delta-after-page-1")

    def read_changes(self, mailbox: MailboxRef, cursor: str) -> ChangePage:
        return ChangePage([], cursor="delta-after-page-2")

    def thread(self, mailbox: MailboxRef, envelope: Envelope) -> Sequence[Envelope]:
        self.seen_in_thread.append((_row(self.world, mailbox.mailbox_id).cursor, _logged(self.world, "<e1@acme>")
                                    is not None))
        if self.thread_failures:
            raise self.thread_failures.pop(0)
        assert (envelope.provider_message_id, envelope.thread_key) == ("m1", self.CONVERSATION)
        return [self.header_only(self.full["m0"])]

    def headers(self, mailbox: MailboxRef, envelopes: Sequence[Envelope]) -> Sequence[Envelope]:
        return envelopes

    def fetch_full(self, mailbox: MailboxRef, envelopes: Sequence[Envelope]) -> Sequence[Envelope]:
        return [self.full[e.provider_message_id] for e in envelopes]

    def usage(self) -> ApiUsage:
        return ApiUsage()

    def take_credential_updates(self) -> dict[int, str]:
        return {}


def _step(world: World, settings: Settings, provider: object, mailbox_id: int) -> tuple[bool, str, int]:
    sync = SyncEngine(world.engine, settings, {"graph": provider}, TokenCipher(KEY))  # type: ignore[dict-item]
    assert leases.claim(world.engine, mailbox_id, "w1", datetime.now(UTC), ttl=60)
    result = sync.step(mailbox_id, "w1")
    return result.ok, result.action, result.logged


def test_a_threads_earlier_messages_are_read_after_the_commit_not_inside_it(world: World, settings: Settings) -> None:
    mailbox_id = _connect(world)
    outlook = ScriptedOutlook(world)

    assert _step(world, settings, outlook, mailbox_id) == (True, "", 2)

    assert outlook.seen_in_thread == [("delta-after-page-1", True)]  # the page and its cursor were committed first
    earlier = _logged(world, "<e0@client>")
    opening = _logged(world, "<e1@acme>")
    assert earlier is not None and opening is not None and earlier.thread_id == opening.thread_id
    with Session(world.engine) as session:
        assert session.exec(select(ThreadBackfill)).all() == []  # the backlog was served
    assert _row(world, mailbox_id).state == "incremental"


def test_a_failure_after_the_commit_leaves_the_threads_backlog_as_a_row_for_the_next_step(
        world: World, settings: Settings) -> None:
    mailbox_id = _connect(world)
    outlook = ScriptedOutlook(world, thread_failures=[TransientError("503 from Graph")])

    ok, action, _ = _step(world, settings, outlook, mailbox_id)

    assert (ok, action) == (False, "retry")
    assert _logged(world, "<e1@acme>") is not None and _logged(world, "<e0@client>") is None
    with Session(world.engine) as session:
        waiting = session.exec(select(ThreadBackfill).where(ThreadBackfill.mailbox_id == mailbox_id)).all()
        # its own thread, and the message it answers (found by Message-ID unless the thread brings it)
        assert {(w.internet_message_id, w.provider_message_id) for w in waiting} == {
            ("<e1@acme>", "m1"), ("<e0@client>", "")}
    assert _row(world, mailbox_id).cursor == "delta-after-page-1"  # the page stays committed

    assert _step(world, settings, outlook, mailbox_id) == (True, "", 1)  # the next step serves the row
    assert _logged(world, "<e0@client>") is not None
    assert _row(world, mailbox_id).cursor == "delta-after-page-2"


def test_a_grant_revoked_while_reading_the_backlog_still_asks_alice_to_reconnect(
        world: World, settings: Settings) -> None:
    mailbox_id = _connect(world)
    outlook = ScriptedOutlook(world, thread_failures=[GrantRevoked("invalid_grant")])

    assert _step(world, settings, outlook, mailbox_id)[:2] == (False, "needs_reconnect")

    row = _row(world, mailbox_id)  # the failure moves on from the state the page's commit left
    assert (row.state, row.cursor, row.next_sync_at) == ("needs_reconnect", "delta-after-page-1", None)


class PausedMeanwhile(ScriptedOutlook):
    """Alice's company switches capture off while her mailbox's page is being read."""

    def recent(self, mailbox: MailboxRef, since: datetime) -> ChangePage:
        with transaction(self.world.engine) as session:
            users.set_capture(session, users.get_user(session, ALICE), False)
        return super().recent(mailbox, since)


def test_a_pause_made_while_a_step_runs_is_not_undone_by_its_commit(world: World, settings: Settings) -> None:
    mailbox_id = _connect(world)

    ok, action, _ = _step(world, settings, PausedMeanwhile(world), mailbox_id)

    assert (ok, action) == (False, "superseded")
    row = _row(world, mailbox_id)
    assert (row.state, row.cursor, row.next_sync_at) == ("paused", "", None)
    assert _logged(world, "<e1@acme>") is None  # nothing of the step was committed
