"""A client's reply with an edited subject: Gmail files it in a new thread (it threads by References *and*
subject), so the reply's thread is unknown; it is still filed, because its In-Reply-To/References name a
logged message. Everything runs through the real googleapiclient against the emulator."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from connector.models import ParkedReply
from tests.inspect_db import logged

from .office import ALICE, CAROL, MATTER, Office

pytestmark = pytest.mark.timeout(120)


def test_a_reply_with_an_edited_subject_lands_in_a_new_gmail_thread_and_is_filed(office: Office) -> None:
    _, first = office.alice_sends(CAROL, "Smith v. Jones: settlement", Bcc=MATTER)
    office.sync()
    opening = logged(office.engine, first)
    assert opening is not None and "matter:10802" in opening.filed_under

    reply = office.external_sends(CAROL, "Counter-offer (was: settlement)", In_Reply_To=first, References=first)
    assert office.copy_of(reply)["threadId"] != office.copy_of(first)["threadId"]  # Gmail: a new thread
    office.sync()
    filed = logged(office.engine, reply)
    assert filed is not None and "matter:10802" in filed.filed_under
    assert filed.activity.thread_id == opening.activity.thread_id  # one conversation in the record

    again = office.external_sends(CAROL, "Re: Counter-offer (was: settlement)", In_Reply_To=reply,
                                  References=f"{first} {reply}")
    assert office.copy_of(again)["threadId"] == office.copy_of(reply)["threadId"]
    office.sync()
    follow_up = logged(office.engine, again)
    assert follow_up is not None and "matter:10802" in follow_up.filed_under


def test_a_new_thread_naming_no_logged_message_is_read_for_its_headers_only(office: Office) -> None:
    _, first = office.alice_sends(CAROL, "Smith v. Jones: settlement", Bcc=MATTER)
    office.sync()
    office.emulator.reset_request_log()
    stranger = office.external_sends("deals@shop.example", "Counter-offer", References="<other@shop.example>")
    office.sync()
    assert logged(office.engine, stranger) is None and logged(office.engine, first) is not None
    [gmail_id] = office.emulator.mailbox(ALICE).by_rfc822[stranger]
    reads = [c for c in office.emulator.request_log(ALICE) if c.path.endswith(f"/messages/{gmail_id}")]
    assert len(reads) == 1  # its headers; the download never happens


def test_a_reply_with_an_edited_subject_read_before_its_conversation_was_logged_is_filed_once_it_is(
        office: Office) -> None:
    """The reply (a new Gmail thread, naming the Bcc'd message) comes in the same history page as Alice's Bcc:
    judged before the Bcc is filed, it names nothing logged, so it is parked, not forgotten; filing the Bcc
    brings it back, and it is filed in the same sync."""
    _, first = office.alice_sends(CAROL, "Smith v. Jones: settlement", Bcc=MATTER)
    reply = office.external_sends(CAROL, "Counter-offer (was: settlement)", In_Reply_To=first, References=first)
    assert office.copy_of(reply)["threadId"] != office.copy_of(first)["threadId"]
    office.sync()
    opening, filed = logged(office.engine, first), logged(office.engine, reply)
    assert opening is not None and filed is not None and "matter:10802" in filed.filed_under
    assert filed.activity.thread_id == opening.activity.thread_id
    with Session(office.engine) as session:
        assert session.exec(select(ParkedReply)).all() == []  # nothing kept once it served


def test_a_parked_reference_keeps_only_a_digest_and_expires(office: Office) -> None:
    stranger = office.external_sends("deals@shop.example", "Counter-offer", References="<other@shop.example>")
    office.sync()
    with Session(office.engine) as session:
        [row] = session.exec(select(ParkedReply)).all()
        assert row.internet_message_id == stranger and "other@shop.example" not in row.ref_hash
    office.clock.offset += timedelta(days=15)
    office.external_sends("deals@shop.example", "Another offer", References="<more@shop.example>")
    office.sync()
    with Session(office.engine) as session:  # the old one is forgotten when the mailbox parks again
        assert [r.internet_message_id for r in session.exec(select(ParkedReply))] != [stranger]
        assert stranger not in [r.internet_message_id for r in session.exec(select(ParkedReply))]


def test_an_edited_subject_reply_found_by_a_resync_beside_the_mail_it_answers_is_filed(office: Office) -> None:
    """Gmail expired the history id: the resync lists Alice's Bcc, Carol's reply and Alice's answer under an
    edited subject together, header-only. The answer names only messages not logged yet when they are judged,
    so it is parked, and the Bcc's filing brings it back."""
    _, first = office.alice_sends(CAROL, "Smith v. Jones: settlement", Bcc=MATTER)
    reply = office.external_sends(CAROL, "Re: Smith v. Jones: settlement", In_Reply_To=first, References=first)
    _, revised = office.alice_sends(CAROL, "Re: Smith v. Jones: settlement (revised)", In_Reply_To=reply,
                                    References=f"{first} {reply}")
    office.emulator.expire_history(ALICE)
    with contextlib.suppress(AssertionError):
        office.sync()  # the step meets the expired history id: the mailbox resyncs
    for _ in range(3):
        office.worker.run_once()
    for message in (first, reply, revised):
        found = logged(office.engine, message)
        assert found is not None and "matter:10802" in found.filed_under


def test_bccing_a_reply_under_an_edited_subject_files_the_conversation_before_it(office: Office) -> None:
    """Alice and Carol talk under one subject; Alice's answer edits it and Bccs the matter. Gmail put the answer
    in a new thread, but the mail it answers (named by its References) is filed too, and so is Carol's next
    reply in the old thread."""
    _, first = office.alice_sends(CAROL, "Smith v. Jones: settlement")
    reply = office.external_sends(CAROL, "Re: Smith v. Jones: settlement", In_Reply_To=first, References=first)
    office.sync()
    assert logged(office.engine, first) is None and logged(office.engine, reply) is None
    _, revised = office.alice_sends(CAROL, "Re: Smith v. Jones: settlement (revised)", Bcc=MATTER,
                                    In_Reply_To=reply, References=f"{first} {reply}")
    assert office.copy_of(revised)["threadId"] != office.copy_of(first)["threadId"]  # Gmail: a new thread
    office.sync()
    opening = logged(office.engine, revised)
    assert opening is not None and "matter:10802" in opening.filed_under
    for earlier in (first, reply):
        found = logged(office.engine, earlier)
        assert found is not None and "matter:10802" in found.filed_under
        assert found.activity.thread_id == opening.activity.thread_id
    later = office.external_sends(CAROL, "Re: Smith v. Jones: settlement", In_Reply_To=reply,
                                  References=f"{first} {reply}")
    assert office.copy_of(later)["threadId"] == office.copy_of(first)["threadId"]  # the old thread
    office.sync()
    assert logged(office.engine, later) is not None


def test_two_replies_in_a_new_gmail_thread_read_in_one_page_are_both_filed(office: Office) -> None:
    """Carol edits the subject (a new Gmail thread) and writes twice in it before Alice's mailbox is read: the
    second names only the first, which nobody had logged when the page was judged."""
    _, first = office.alice_sends(CAROL, "Smith v. Jones: settlement", Bcc=MATTER)
    office.sync()
    reply = office.external_sends(CAROL, "Counter-offer (was: settlement)", In_Reply_To=first, References=first)
    again = office.external_sends(CAROL, "Re: Counter-offer (was: settlement)", In_Reply_To=reply,
                                  References=reply)
    assert office.copy_of(again)["threadId"] == office.copy_of(reply)["threadId"] != office.copy_of(first)["threadId"]
    office.sync()
    for message in (reply, again):
        found = logged(office.engine, message)
        assert found is not None and "matter:10802" in found.filed_under, message


def test_a_colleague_adding_the_client_to_an_internal_aside_is_filed(office: Office) -> None:
    """Alice asks Bob about the matter under a subject of her own (Gmail: a new thread). That aside is among
    colleagues only, so it is not filed, but its thread is followed: when Bob answers there and copies Carol, his
    reply — received by Alice in the aside's thread, which no filed message opened — is filed."""
    bob = "bob@acme-law.com"
    _, first = office.alice_sends(CAROL, "Smith v. Jones: settlement", Bcc=MATTER)
    office.sync()
    _, aside = office.alice_sends(bob, "Our position on Smith (internal)", In_Reply_To=first, References=first)
    assert office.copy_of(aside)["threadId"] != office.copy_of(first)["threadId"]
    office.sync()
    assert logged(office.engine, aside) is None
    assert office.audited(aside) == ["refused:internal_only"]

    answer = office.external_sends(bob, "Re: Our position on Smith (internal)", Cc=CAROL, In_Reply_To=aside,
                                   References=f"{first} {aside}")
    assert office.copy_of(answer)["threadId"] == office.copy_of(aside)["threadId"]  # the aside's thread
    office.sync()
    filed = logged(office.engine, answer)
    assert filed is not None and "matter:10802" in filed.filed_under
    assert filed.activity.thread_id == logged(office.engine, first).activity.thread_id
