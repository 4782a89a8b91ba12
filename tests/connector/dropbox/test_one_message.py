"""One message, one activity: the dropbox's SMTP copy and a connected mailbox's copy, in either order."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from connector.crypto import TokenCipher
from connector.db import transaction
from connector.models import Activity, ActivityLink, ActivitySource, AuditEntry, Mailbox, ThreadBackfill
from connector.services import mailboxes, users
from connector.services.capture import Capture
from tests.conftest import FIXED_NOW
from tests.connector.dropbox.conftest import KEYS, MATTER, Dropbox
from tests.mailbuilder import in_mailbox, mail

ALICE = "alice@acme-law.com"


@pytest.mark.parametrize("smtp_first", [True, False], ids=["smtp-first", "mailbox-first"])
def test_the_same_message_by_smtp_and_from_a_mailbox_is_one_activity_with_two_sources(
        dropbox: Dropbox, smtp_first: bool) -> None:
    # Alice's Sent Items copy shows the Bcc; the copy the dropbox receives does not (her server removed it),
    # so only the RCPT TO of the SMTP transaction says which dropbox address she used.
    sent_copy = mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject="Settlement draft",
                     message_id="<draft-1@acme-law.com>")
    delivered = KEYS["acme-law.com"].sign(mail(ALICE, ["carol@clientco.com"], subject="Settlement draft",
                                               message_id="<draft-1@acme-law.com>"))
    capture = Capture(dropbox.world.engine, dropbox.settings, clock=lambda: FIXED_NOW)
    if smtp_first:
        dropbox.send(delivered, [MATTER], ALICE)
        [filed] = dropbox.file()
        mailbox_applied = capture.process(in_mailbox(sent_copy, ALICE))
        assert (filed.outcome, mailbox_applied.created) == ("logged", False)
    else:
        assert capture.process(in_mailbox(sent_copy, ALICE)).created
        dropbox.send(delivered, [MATTER], ALICE)
        [filed] = dropbox.file()
        assert (filed.outcome, filed.reason) == ("logged", "duplicate")  # another copy, merged
    [activity] = dropbox.rows(Activity)
    assert filed.activity_id == activity.id
    sources = {(s.source, s.mailbox) for s in dropbox.rows(ActivitySource)}
    assert sources == {("smtp", ""), ("file", ALICE)}
    assert [link.record_id for link in dropbox.rows(ActivityLink)] == [dropbox.world.matter.id]
    logged = dropbox.rows(AuditEntry, AuditEntry.source == "smtp")
    assert [entry.detail["envelope_recipients"] for entry in logged] == [[MATTER]]


def test_the_rcpt_to_alone_files_a_message_whose_headers_name_no_dropbox(dropbox: Dropbox) -> None:
    delivered = KEYS["acme-law.com"].sign(mail(ALICE, ["carol@clientco.com"], subject="Only the envelope knows"))
    assert MATTER.encode() not in delivered
    dropbox.send(delivered, [MATTER], ALICE)
    [filed] = dropbox.file()
    assert filed.outcome == "logged"
    [link] = dropbox.rows(ActivityLink)
    assert (link.record_id, link.reason) == (dropbox.world.matter.id, "address")


def test_a_thread_the_dropbox_opens_asks_the_users_mailboxes_for_its_earlier_mail(dropbox: Dropbox) -> None:
    # Alice replied from Outlook to Carol's question with the matter in Bcc; the dropbox copy arrives before
    # her mailbox syncs. The sent copy her mailbox reads next is then a duplicate, so the thread's earlier
    # mail (Carol's question, in Alice's inbox) would never be read unless the dropbox asks for it.
    with transaction(dropbox.world.engine) as session:
        alice = users.get_user(session, ALICE)
        box = mailboxes.connect(session, alice, "graph", "{}", TokenCipher(Fernet.generate_key()))
    reply = KEYS["acme-law.com"].sign(mail(ALICE, ["carol@clientco.com"], subject="Re: Question",
                                           message_id="<reply-1@acme-law.com>", in_reply_to="<q-1@clientco.com>"))
    dropbox.send(reply, [MATTER], ALICE)
    [filed] = dropbox.file()
    assert filed.outcome == "logged"
    [request] = dropbox.rows(ThreadBackfill)
    assert (request.mailbox_id, request.internet_message_id) == (box.id, "<reply-1@acme-law.com>")
    [woken] = dropbox.rows(Mailbox)
    assert woken.pending_since is not None  # a worker reads Alice's copy and its conversation next
