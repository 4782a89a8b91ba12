"""Alice's Gmail for story tests: the real consent, the watch, Pub/Sub pushes through the connector's parser
and intake, the SyncEngine and Worker — and Alice's own Gmail client (googleapiclient) to write mail, save
drafts, set up filters and rescue mail from Spam the way she would."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from google.oauth2.credentials import Credentials
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.mail.envelope import normalize_message_id
from connector.models import Activity, AuditEntry
from connector.services import mailboxes, users
from connector.sync import intake
from connector.sync.engine import SyncEngine
from connector.sync.worker import Worker
from emulators.gmail import GmailEmulator, GmailUrls
from emulators.postoffice import PostOffice
from providers.gmail.adapter import GmailProvider, build
from providers.gmail.push import PushParser
from tests.conftest import MovableClock, build_world
from tests.providers.gmail.conftest import MAIL_SCOPE, PUSH_SA, TOPIC, PushReceiver, connect, gmail

ALICE, CAROL = "alice@acme-law.com", "carol@clientco.com"
MATTER = "acme+10802@bcc.example.com"
SETTINGS_SCOPE = "https://www.googleapis.com/auth/gmail.settings.basic"  # filters.create asks for it alone
KEY = b"q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="


def rfc822(sender: str, to: str, subject: str, body: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def encoded(msg: EmailMessage) -> str:
    return base64.urlsafe_b64encode(msg.as_bytes()).decode()


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
    alice_gmail: Any  # Alice's own Gmail client
    alice_settings: Any  # … with gmail.settings.basic, for her filters
    pushes_seen: int = 0

    def sync(self) -> None:
        """Every push Pub/Sub delivered, through the parser and the intake, then one worker round."""
        assert self.emulator.wait_push_idle()
        fresh = self.receiver.pushes[self.pushes_seen:]
        self.pushes_seen += len(fresh)
        for push in fresh:
            notes = self.parser.parse(push.headers, json.dumps(push.body).encode(), self.receiver.url)
            intake.accept(self.engine, "gmail", notes, self.clock())
        assert all(step.ok for step in self.worker.run_once())

    def alice_sends(self, to: str, subject: str, body: str = "Please see below.", thread_id: str | None = None,
                    **headers: str) -> tuple[str, str]:
        """(Gmail id, Message-ID) of what Alice sends with messages.send."""
        msg = rfc822(ALICE, to, subject, body, **headers)
        request: dict[str, Any] = {"raw": encoded(msg), **({"threadId": thread_id} if thread_id else {})}
        sent = self.alice_gmail.users().messages().send(userId="me", body=request).execute()
        return sent["id"], str(msg["Message-ID"])

    def external_sends(self, sender: str, subject: str, **headers: str) -> str:
        return self.post_office.send(sender, rfc822(sender, ALICE, subject, f"{subject}\n\nRegards", **headers)
                                     .as_bytes())

    def copy_of(self, message_id: str) -> dict[str, Any]:
        """Alice's copy of a message, as her Gmail shows it (id, threadId, labelIds)."""
        [gmail_id] = self.emulator.mailbox(ALICE).by_rfc822[message_id]
        return self.alice_gmail.users().messages().get(userId="me", id=gmail_id, format="minimal").execute()

    def texts(self) -> list[str]:
        with Session(self.engine) as session:
            return [a.text for a in session.exec(select(Activity))]

    def audited(self, message_id: str) -> list[str]:
        with Session(self.engine) as session:
            rows = session.exec(select(AuditEntry).where(
                AuditEntry.internet_message_id == normalize_message_id(message_id)).order_by(col(AuditEntry.id)))
            return [f"{a.action}:{a.reason}" for a in rows]


@contextmanager
def open_office(engine: Engine, emulator: GmailEmulator, urls: GmailUrls, post_office: PostOffice,
                settings: Settings, receiver: PushReceiver) -> Iterator[Office]:
    emulator.add_user(ALICE, "Alice Archer")
    emulator.configure_push(TOPIC, receiver.url, service_account_email=PUSH_SA)
    emulator.set_push_interval(0)
    build_world(engine)
    connected = connect(settings, ALICE)  # the real consent flow
    cipher = TokenCipher(KEY)
    with transaction(engine) as session:
        box = mailboxes.connect(session, users.get_user(session, ALICE), "gmail", connected.credentials,
                                cipher, provider_user_id=connected.provider_user_id)
        assert box.id is not None
    clock = MovableClock()
    provider, parser = build(settings, clock)
    sync = SyncEngine(engine, settings, {"gmail": provider}, cipher, clock)
    worker = Worker(engine, settings, sync, {"gmail": provider}, owner="test-worker", clock=clock)
    alice_gmail = gmail(urls, Credentials(emulator.issue_access_token(ALICE, [MAIL_SCOPE])))
    alice_settings = gmail(urls, Credentials(emulator.issue_access_token(ALICE, [MAIL_SCOPE, SETTINGS_SCOPE])))
    office = Office(engine, emulator, post_office, provider, parser, worker, clock, receiver, alice_gmail,
                    alice_settings)
    assert worker.tick_schedules() == 1  # the watch
    office.sync()  # the first step only takes a cursor at "now"
    yield office
