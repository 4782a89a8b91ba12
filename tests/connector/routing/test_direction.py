"""Sent or received: mail the firm writes as a mailbox that is nobody's login is still the firm's outgoing mail.

Outlook Send As a shared mailbox (From: the shared address, the copy in the user's Sent Items), Send on Behalf
(Sender: the user), Gmail "send mail as" (From: the alias, the copy labelled SENT), and a shared mailbox at the
company's own verified domain. The Graph round trip through the SDK is in tests/connector/sync.
"""

from __future__ import annotations

from connector.mail.envelope import Direction, Envelope, Source
from connector.mail.mime import parse
from connector.routing.decision import Outcome
from connector.services.capture import Capture
from tests import inspect_db as db
from tests.conftest import World
from tests.mailbuilder import mail, to_dropbox

ALICE, BOB, CAROL = "Alice Archer <alice@acme-law.com>", "bob@acme-law.com", "carol@clientco.com"
MATTER = "acme+10802@bcc.example.com"
FRONT_DESK = "Acme Front Desk <front-desk@acme-group.example>"  # a shared mailbox at a domain nobody verified
INFO = "Acme Law Info <info@acme-law.com>"  # a shared mailbox at the company's verified domain


def read(raw: bytes, mailbox: str, direction: Direction, source: Source = Source.GRAPH) -> Envelope:
    """A copy as a provider hands it over: where it was filed (Sent Items / SENT label, or not) is known."""
    return parse(raw, source=source, mailbox=mailbox, thread_key=f"{mailbox}:conv", direction=direction)


def direction(world: World, message_id: str) -> str:
    found = db.logged(world.engine, message_id)
    assert found is not None, message_id
    return found.activity.direction


def open_the_matter_thread(capture: Capture) -> None:
    capture.process(to_dropbox(mail(ALICE, [CAROL], [BOB], [MATTER], subject="Smith v. Jones",
                                    message_id="<open@acme>")))


def reply_in_thread(sender: str, **headers: str) -> bytes:
    return mail(sender, [CAROL], [BOB], subject="Re: Smith v. Jones", message_id=f"<{len(headers)}r@acme>",
                in_reply_to="<open@acme>", references=["<open@acme>"], headers=headers)


def test_alice_sending_as_a_shared_mailbox_from_her_sent_items_files_sent_mail(world: World, capture: Capture) -> None:
    raw = mail(FRONT_DESK, [CAROL], bcc=[MATTER], subject="Your appointment", message_id="<as@acme>")
    applied = capture.process(read(raw, "alice@acme-law.com", Direction.SENT))
    assert applied.outcome is Outcome.LOGGED
    assert direction(world, "<as@acme>") == "sent"
    assert db.logged(world.engine, "<as@acme>").activity.owner_user_id == world.alice.id  # type: ignore[union-attr]


def test_gmail_send_mail_as_an_alias_labelled_sent_is_sent_mail(world: World, capture: Capture) -> None:
    raw = mail("Alice Archer <alice.archer@gmail.com>", [CAROL], bcc=[MATTER], subject="From my phone",
               message_id="<alias@gmail>")
    capture.process(read(raw, "alice@acme-law.com", Direction.SENT, Source.GMAIL))
    assert direction(world, "<alias@gmail>") == "sent"


def test_a_reply_sent_on_alices_behalf_read_from_bobs_inbox_is_sent(world: World, capture: Capture) -> None:
    open_the_matter_thread(capture)
    capture.process(read(reply_in_thread(FRONT_DESK, Sender=ALICE), "bob@acme-law.com", Direction.RECEIVED))
    assert direction(world, "<1r@acme>") == "sent"


def test_the_same_reply_without_a_sender_from_a_mailbox_nobody_verified_is_received(
        world: World, capture: Capture) -> None:
    open_the_matter_thread(capture)
    capture.process(read(reply_in_thread(FRONT_DESK), "bob@acme-law.com", Direction.RECEIVED))
    assert direction(world, "<0r@acme>") == "received"


def test_alices_sent_items_copy_read_after_bobs_inbox_copy_makes_the_reply_sent(
        world: World, capture: Capture) -> None:
    open_the_matter_thread(capture)
    raw = reply_in_thread(FRONT_DESK)
    capture.process(read(raw, "bob@acme-law.com", Direction.RECEIVED))  # Bob's copy first: nothing says "sent"
    capture.process(read(raw, "alice@acme-law.com", Direction.SENT))  # then the copy in Alice's Sent Items
    assert direction(world, "<0r@acme>") == "sent"
    assert len(db.logged(world.engine, "<0r@acme>").sources) == 2  # type: ignore[union-attr]


def test_a_shared_mailbox_at_the_companys_verified_domain_writes_the_firms_mail(world: World, capture: Capture) -> None:
    open_the_matter_thread(capture)
    capture.process(read(reply_in_thread(INFO), "bob@acme-law.com", Direction.RECEIVED))
    assert direction(world, "<0r@acme>") == "sent"


def test_a_clients_mail_forwarded_to_the_dropbox_from_alices_sent_items_files_the_original_as_received(
        world: World, capture: Capture) -> None:
    body = ("FYI\n\n________________________________\nFrom: Peter Gibbons <peter@initech.com>\n"
            "Sent: Monday, March 9, 2026 10:12 AM\nTo: Alice Archer <alice@acme-law.com>\n"
            "Subject: TPS report cover sheets\n\nDid you get the memo?\n")
    raw = mail(ALICE, ["notes@bcc.example.com"], subject="FW: TPS report cover sheets", body=body,
               message_id="<fw@acme>")
    capture.process(read(raw, "alice@acme-law.com", Direction.SENT))
    assert direction(world, "<fw@acme>") == "received"  # Peter wrote the original; Alice only forwarded it
