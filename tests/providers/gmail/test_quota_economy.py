"""What Gmail quota each kind of mail costs: two Gmail mailboxes of one firm, the real adapter, SyncEngine
and Worker, every call counted in the emulator's request log.

History names added messages with their thread and labels (2 units a page). From that alone the
routing core skips received replies in threads it does not know, downloads mail in logged threads at
once (no metadata read first) and reads the headers of sent mail (the Bcc is visible there) and of
received mail opening a thread (a reply whose edited subject started one names a logged message).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.models import Activity
from connector.services import mailboxes, users
from connector.sync import intake
from connector.sync.engine import StepResult, SyncEngine
from connector.sync.worker import Worker
from emulators.gmail import GmailEmulator
from emulators.postoffice import PostOffice
from providers.gmail.adapter import build
from tests.conftest import build_world
from tests.inspect_db import count, logged
from tests.mailbuilder import mail

from .conftest import connect

pytestmark = pytest.mark.timeout(120)
ALICE, BOB = "alice@acme-law.com", "bob@acme-law.com"
CAROL = "carol@clientco.com"
DROPBOX = "acme+10802@bcc.example.com"
KEY = b"q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="
GET = "gmail.users.messages.get"


@dataclass
class Firm:
    engine: Engine
    emulator: GmailEmulator
    post_office: PostOffice
    worker: Worker
    mailbox_ids: dict[str, int]

    def send(self, sender: str, to: list[str], subject: str, **options: object) -> str:
        return self.post_office.send(sender, mail(sender, to, subject=subject, **options))  # type: ignore[arg-type]

    def sync(self, *addresses: str) -> list[StepResult]:
        """Wake these mailboxes (a push would) and run the worker once."""
        with transaction(self.engine) as session:
            for address in addresses:
                intake.wake(session, self.mailbox_ids[address], datetime.now(UTC))
        results = self.worker.run_once()
        assert all(r.ok for r in results), results
        return results

    def gets(self, address: str, message_id: str | None = None, *formats: str) -> int:
        """messages.get calls on ``address``'s mailbox, for one message (by Message-ID) or for any; only those
        asking one of ``formats`` when given."""
        wanted = self.emulator.mailbox(address).by_rfc822[message_id] if message_id else None
        return sum(1 for c in self.emulator.request_log(address) if c.method == GET
                   and (wanted is None or any(c.path.endswith(f"/messages/{i}") for i in wanted))
                   and (not formats or c.format in formats))


@pytest.fixture
def firm(engine: Engine, emulator: GmailEmulator, post_office: PostOffice,
         connector_settings: Settings) -> Iterator[Firm]:
    build_world(engine)
    cipher = TokenCipher(KEY)
    ids: dict[str, int] = {}
    for address, name in ((ALICE, "Alice Archer"), (BOB, "Bob Baker")):
        emulator.add_user(address, name)
        connected = connect(connector_settings, address)
        with transaction(engine) as session:
            box = mailboxes.connect(session, users.get_user(session, address), "gmail", connected.credentials,
                                    cipher, provider_user_id=connected.provider_user_id)
            assert box.id is not None
            ids[address] = box.id
    provider = build(connector_settings, lambda: datetime.now(UTC))[0]
    sync = SyncEngine(engine, connector_settings, {"gmail": provider}, cipher)
    # one round serves every mailbox that is due (and only those): the stories choose who syncs when
    worker = Worker(engine, connector_settings, sync, {"gmail": provider}, owner="test-worker", batch=10)
    found = Firm(engine, emulator, post_office, worker, ids)
    assert len(worker.run_once()) == 2  # first steps: cursors at "now"
    emulator.reset_request_log()
    yield found


def test_unrelated_received_mail_is_never_downloaded(firm: Firm) -> None:
    newsletter = firm.send("deals@shop.example", [ALICE], "Weekly deals")
    lunch = firm.send(ALICE, ["friend@elsewhere.example"], "Lunch?")  # sent: only its headers are read
    firm.sync(ALICE)
    assert logged(firm.engine, newsletter) is None and logged(firm.engine, lunch) is None
    # It opened a Gmail thread, so it might be a reply with an edited subject: its headers say it is not.
    assert firm.gets(ALICE, newsletter) == 1
    assert firm.gets(ALICE, lunch) == 1
    follow_up = firm.send("deals@shop.example", [ALICE], "Re: Weekly deals", in_reply_to=newsletter,
                          references=[newsletter])
    firm.sync(ALICE)
    assert firm.gets(ALICE, follow_up) == 0  # in that unknown thread: history named it, nothing is read
    assert count(firm.engine, Activity) == 0


def test_a_reply_in_a_logged_thread_is_downloaded_without_a_metadata_read(firm: Firm) -> None:
    first = firm.send(ALICE, [CAROL], "Smith v. Jones: settlement", bcc=[DROPBOX], message_id="<s1@acme-law.com>")
    firm.sync(ALICE)
    assert logged(firm.engine, first) is not None
    firm.emulator.reset_request_log()

    reply = firm.send(CAROL, [ALICE], "Re: Smith v. Jones: settlement", body="Agreed.",
                      message_id="<r1@clientco.com>", in_reply_to=first, references=[first])
    firm.sync(ALICE)
    found = logged(firm.engine, reply)
    assert found is not None and "matter:10802" in found.filed_under and "Agreed." in found.activity.text
    assert firm.gets(ALICE, reply) == 1 and firm.gets(ALICE) == 1  # the raw download, nothing else
    assert firm.emulator.quota_units(ALICE)[GET] == 20  # one message read (2026 table)


def test_a_sent_message_with_the_dropbox_in_bcc_is_read_and_logged_once(firm: Firm) -> None:
    sent = firm.send(ALICE, [CAROL], "Engagement letter", bcc=[DROPBOX], message_id="<e1@acme-law.com>")
    firm.sync(ALICE)
    found = logged(firm.engine, sent)
    assert found is not None and found.filed_under >= {"matter:10802"}
    assert found.sources == {("gmail", ALICE)} and found.activity.direction == "sent"
    assert firm.gets(ALICE, sent) == 2  # its headers (the Bcc), then the raw download

    firm.sync(ALICE)  # nothing new: nothing read again, nothing logged twice
    assert firm.gets(ALICE, sent) == 2 and count(firm.engine, Activity) == 1


def test_a_thread_the_page_opened_is_backfilled_from_the_page_without_reading_the_thread(firm: Firm) -> None:
    # Alice Bccs the matter; Carol answers before Alice's mailbox is synced: one page holds both.
    first = firm.send(ALICE, [CAROL], "Smith v. Jones: offer", bcc=[DROPBOX], message_id="<o1@acme-law.com>")
    reply = firm.send(CAROL, [ALICE], "Re: Smith v. Jones: offer", body="We accept.", message_id="<o2@clientco.com>",
                      in_reply_to=first, references=[first])
    firm.sync(ALICE)
    found = logged(firm.engine, reply)
    assert logged(firm.engine, first) is not None and found is not None and "We accept." in found.activity.text
    # The sent copy opened the Gmail thread, so the page's other message in it is the whole rest of the thread:
    # no threads.get (40 units); its headers alone are read (20), then it is downloaded.
    assert firm.emulator.request_counts(ALICE)["gmail.users.threads.get"] == 0
    assert firm.gets(ALICE, reply, "metadata") == 1 and firm.gets(ALICE, reply, "raw") == 1
    assert count(firm.engine, Activity) == 2 and len(firm.emulator.request_log(ALICE)) == 5  # and a history page


def test_a_colleagues_answer_in_a_thread_the_page_opened_is_judged_on_its_headers_not_downloaded(firm: Firm) -> None:
    first = firm.send(ALICE, [CAROL], "Smith v. Jones: fees", cc=[BOB], bcc=[DROPBOX], message_id="<f1@acme-law.com>")
    internal = firm.send(BOB, [ALICE], "Re: Smith v. Jones: fees", body="Between us: too low.",
                         message_id="<f2@acme-law.com>", in_reply_to=first, references=[first])
    firm.sync(ALICE)  # one page: Alice's Bcc opens the thread, Bob's answer to her alone is in it
    assert logged(firm.engine, first) is not None and logged(firm.engine, internal) is None
    # The page held the whole thread: Bob's answer alone has its headers read (no threads.get), and mail among
    # colleagues is refused on them, so its body is never downloaded.
    assert firm.gets(ALICE, internal, "metadata") == 1 and firm.gets(ALICE, internal, "raw", "full") == 0
    assert firm.emulator.request_counts(ALICE)["gmail.users.threads.get"] == 0


def test_a_reply_synced_before_its_thread_opened_elsewhere_is_logged_through_the_backfill(firm: Firm) -> None:
    first = firm.send(ALICE, [CAROL], "Smith v. Jones: draft", cc=[BOB], bcc=[DROPBOX],
                      message_id="<d1@acme-law.com>")
    reply = firm.send(CAROL, [BOB], "Re: Smith v. Jones: draft", message_id="<d2@clientco.com>",
                      in_reply_to=first, references=[first])
    firm.sync(BOB)  # both received, in a thread nobody logged yet: skipped
    assert logged(firm.engine, first) is None and logged(firm.engine, reply) is None
    assert firm.gets(BOB, first) == 1 and firm.gets(BOB) == 1  # the headers of the thread's opening only

    firm.sync(ALICE)  # Alice's sent copy opens the thread and asks Bob's mailbox for its copies
    assert logged(firm.engine, first) is not None and logged(firm.engine, reply) is None
    firm.emulator.reset_request_log()
    firm.sync()  # Bob's mailbox, woken by the backfill request
    # Bob's copy found by Message-ID, its thread read once (the copy's headers with it), the reply downloaded
    assert [c.method for c in firm.emulator.request_log(BOB) if c.method != "gmail.users.history.list"] == [
        "gmail.users.messages.list", "gmail.users.threads.get", GET]
    found = logged(firm.engine, reply)
    assert found is not None and "matter:10802" in found.filed_under
    assert found.sources == {("gmail", BOB)}
    opening = logged(firm.engine, first)
    assert opening is not None and opening.sources == {("gmail", ALICE), ("gmail", BOB)}

    firm.sync(ALICE, BOB)
    assert count(firm.engine, Activity) == 2  # each message once
