"""Alice's Gmail, end to end: real consent → connect → watch → push → worker → activities in the database.

Everything runs for real: the emulator behind googleapiclient / google-auth / oauthlib, the push
through Pub/Sub's HTTP delivery and the connector's PushParser and intake, the SyncEngine and
Worker on SQLite and PostgreSQL. Only time is moved by hand, to skip rate-limit waits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from google.oauth2.credentials import Credentials
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.models import Activity, Mailbox
from connector.ports import ApiUsage
from connector.services import mailboxes, users
from connector.sync import intake
from connector.sync.engine import StepResult, SyncEngine
from connector.sync.worker import Worker
from emulators.gmail import GmailEmulator, GmailUrls
from emulators.postoffice import PostOffice
from providers.gmail import quota
from providers.gmail.adapter import GmailProvider, build
from providers.gmail.push import PushParser
from tests.conftest import MovableClock, build_world
from tests.inspect_db import audit_reasons, count, logged

from .conftest import MAIL_SCOPE, PUSH_SA, TOPIC, PushReceiver, connect, gmail, send

pytestmark = pytest.mark.timeout(120)
ALICE, BOB = "alice@acme-law.com", "bob@acme-law.com"
CAROL = "carol@clientco.com"
DROPBOX = "acme+10802@bcc.example.com"
KEY = b"q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="
HISTORY_LIST = "gmail.users.history.list"


@dataclass
class Office:
    engine: Engine
    emulator: GmailEmulator
    post_office: PostOffice
    provider: GmailProvider
    parser: PushParser
    worker: Worker
    clock: MovableClock
    receiver: PushReceiver
    alice_gmail: Any  # Alice's own Gmail client, to write mail the way she would
    mailbox_id: int
    pushes_seen: int = 0
    steps: list[StepResult] = field(default_factory=list)

    def deliver_pushes(self) -> int:
        """Every push Pub/Sub delivered since last time, through the parser and the intake."""
        assert self.emulator.wait_push_idle()
        fresh = self.receiver.pushes[self.pushes_seen:]
        self.pushes_seen += len(fresh)
        for push in fresh:
            notes = self.parser.parse(push.headers, _json(push.body), self.receiver.url)
            intake.accept(self.engine, "gmail", notes, self.clock())
        return len(fresh)

    def sync(self) -> list[StepResult]:
        self.deliver_pushes()
        results = self.worker.run_once()
        self.steps += results
        return results

    def alice_sends(self, to: str, subject: str, **headers: str) -> str:
        return send(self.alice_gmail, ALICE, to, subject, **headers)[1]

    def external_sends(self, sender: str, subject: str, **headers: str) -> str:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = sender, ALICE, subject
        msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
        for name, value in headers.items():
            msg[name.replace("_", "-")] = value
        msg.set_content(f"{subject}\n\nRegards")
        return self.post_office.send(sender, msg.as_bytes())

    def gmail_ids(self, message_id: str) -> list[str]:
        return self.emulator.mailbox(ALICE).by_rfc822[message_id]

    def mailbox(self) -> Mailbox:
        with Session(self.engine) as session:
            row = session.get(Mailbox, self.mailbox_id)
            assert row is not None
            return row


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


@pytest.fixture
def office(engine: Engine, emulator: GmailEmulator, urls: GmailUrls, post_office: PostOffice,
           connector_settings: Settings, receiver: PushReceiver) -> Iterator[Office]:
    emulator.add_user(ALICE, "Alice Archer")
    emulator.add_user(BOB, "Bob Baker")
    emulator.configure_push(TOPIC, receiver.url, service_account_email=PUSH_SA)
    emulator.set_push_interval(0)
    build_world(engine)
    connected = connect(connector_settings, ALICE)  # the real consent flow
    cipher = TokenCipher(KEY)
    with transaction(engine) as session:
        box = mailboxes.connect(session, users.get_user(session, ALICE), "gmail", connected.credentials,
                                cipher, provider_user_id=connected.provider_user_id)
        mailbox_id = box.id
    assert mailbox_id is not None
    clock = MovableClock()
    provider, parser = build(connector_settings, clock)
    sync = SyncEngine(engine, connector_settings, {"gmail": provider}, cipher, clock)
    worker = Worker(engine, connector_settings, sync, {"gmail": provider}, owner="test-worker", clock=clock)
    alice_gmail = gmail(urls, Credentials(emulator.issue_access_token(ALICE, [MAIL_SCOPE])))
    office = Office(engine, emulator, post_office, provider, parser, worker, clock, receiver, alice_gmail, mailbox_id)
    assert worker.tick_schedules() == 1  # the watch on INBOX and SENT
    assert [r.ok for r in office.sync()] == [True]  # the first step only takes a cursor at "now"
    assert office.mailbox().state == "incremental"
    yield office


def _per_message(before: ApiUsage, after: ApiUsage, messages: int) -> tuple[float, float]:
    return ((after.http_requests - before.http_requests) / messages,
            (after.quota_units - before.quota_units) / messages)


def test_a_bcc_logs_the_thread_and_every_reply_without_bcc(office: Office) -> None:
    before = office.provider.usage()
    first = office.alice_sends(CAROL, "Smith v. Jones: settlement", Bcc=DROPBOX)
    office.sync()
    activity = logged(office.engine, first)
    assert activity is not None and "matter:10802" in activity.filed_under
    assert activity.sources == {("gmail", ALICE)} and activity.activity.direction == "sent"

    reply = office.external_sends(CAROL, "Re: Smith v. Jones: settlement", In_Reply_To=first, References=first)
    office.sync()
    carol = logged(office.engine, reply)
    assert carol is not None and "matter:10802" in carol.filed_under  # no Bcc: the thread carries it
    assert carol.activity.direction == "received" and carol.activity.thread_id == activity.activity.thread_id

    again = office.alice_sends(CAROL, "Re: Smith v. Jones: settlement", In_Reply_To=reply,
                               References=f"{first} {reply}")
    office.sync()
    follow_up = logged(office.engine, again)
    assert follow_up is not None and "matter:10802" in follow_up.filed_under
    requests, units = _per_message(before, office.provider.usage(), 3)
    print(f"\nper logged message: {requests:.2f} HTTP requests, {units:.2f} quota units")
    # each: a history page and the raw download; the opening also its headers (the Bcc), but no thread read: it
    # opened its Gmail thread, and its page held the rest of it (nothing)
    page, read = quota.UNITS["gmail.users.history.list"], quota.UNITS["gmail.users.messages.get"]
    assert requests <= 7 / 3 and units <= (3 * (page + read) + read) / 3

    office.emulator.reset_request_log()
    office.emulator.expire_access_tokens(ALICE)  # an hour later: google-auth refreshes, the row keeps it
    stored = office.mailbox().credentials
    unrelated = office.external_sends("deals@shop.example", "Weekly deals")
    office.sync()
    assert logged(office.engine, unrelated) is None
    [gmail_id] = office.gmail_ids(unrelated)
    gets = [c for c in office.emulator.request_log(ALICE) if c.path.endswith(f"/messages/{gmail_id}")]
    assert len(gets) == 1  # it opened a thread nobody logged: its headers (no edited-subject reply), no download
    assert office.mailbox().credentials != stored
    assert count(office.engine, Activity) == 3
    assert all(step.ok for step in office.steps)


def test_an_expired_history_id_resyncs_without_losing_or_repeating_mail(office: Office) -> None:
    first = office.alice_sends(CAROL, "Engagement letter", Bcc=DROPBOX)
    office.sync()
    assert logged(office.engine, first) is not None

    reply = office.external_sends(CAROL, "Re: Engagement letter", In_Reply_To=first, References=first)
    second = office.alice_sends(CAROL, "Conflict check", Bcc=DROPBOX)
    office.emulator.expire_history(ALICE)  # Gmail dropped the history behind our cursor
    office.sync()
    assert office.steps[-1].action == "resync" and office.mailbox().state == "resync"
    office.sync()  # the bounded re-read of recent mail
    row = office.mailbox()
    assert row.state == "incremental" and row.attempts == 0
    for message_id in (first, reply, second):
        found = logged(office.engine, message_id)
        assert found is not None and "matter:10802" in found.filed_under
        assert found.sources == {("gmail", ALICE)}
    assert count(office.engine, Activity) == 3  # the already logged message was not logged twice

    later = office.external_sends(CAROL, "Re: Conflict check", In_Reply_To=second, References=second)
    office.sync()  # back on history, from the cursor the resync took first
    assert logged(office.engine, later) is not None and count(office.engine, Activity) == 4


def test_a_quota_storm_makes_the_mailbox_back_off_then_catch_up(office: Office) -> None:
    office.emulator.quota_storm(next_n=2, retry_after=30, methods=[HISTORY_LIST], user=ALICE)
    first = office.alice_sends(CAROL, "Deposition schedule", Bcc=DROPBOX)
    office.sync()
    row = office.mailbox()
    assert (row.last_error_kind, row.attempts) == ("rate_limited", 1)
    assert row.next_sync_at is not None and row.next_sync_at.replace(tzinfo=UTC) > office.clock()

    reply = office.external_sends(CAROL, "Re: Deposition schedule", In_Reply_To=first, References=first)
    assert office.sync() == []  # a push does not cut the wait short
    office.clock.advance(31)
    assert [r.action for r in office.sync()] == ["rate_limited"]  # the storm is still on
    assert office.sync() == []
    office.clock.advance(31)
    assert [r.ok for r in office.sync()] == [True]
    assert logged(office.engine, first) is not None and logged(office.engine, reply) is not None
    calls = [c.status for c in office.emulator.request_log(ALICE) if c.method == HISTORY_LIST]
    assert calls[-3:] == [429, 429, 200]  # one call per allowed attempt: no hammering
    assert office.mailbox().attempts == 0


def test_a_stranger_writing_as_alice_in_a_logged_thread_is_refused(office: Office) -> None:
    first = office.alice_sends(CAROL, "Smith v. Jones: settlement", Bcc=DROPBOX)
    office.sync()
    assert logged(office.engine, first) is not None
    msg = EmailMessage()  # the envelope sender is a stranger; only the From lies
    msg["From"], msg["To"], msg["Cc"] = f"Alice Archer <{ALICE}>", ALICE, DROPBOX
    msg["Subject"], msg["In-Reply-To"], msg["References"] = "Re: Smith v. Jones: settlement", first, first
    msg["Message-ID"] = make_msgid(domain="evil.example")
    msg.set_content("Please wire the settlement to the new account.")
    forged = office.post_office.send("mallory@evil.example", msg.as_bytes())
    office.sync()
    assert logged(office.engine, forged) is None  # not filed as mail Alice sent
    assert "forged_sender" in audit_reasons(office.engine, "refused")
