"""What is never captured: automated mail, internal-only threads, mail marked private, header-only mode."""

from __future__ import annotations

import pytest
from sqlmodel import select

from connector.models import Tenant, User
from connector.models.mail import RawMessage
from connector.routing.decision import Outcome, Reason
from connector.services import privacy
from connector.services.capture import Capture
from tests import inspect_db as db
from tests.conftest import World
from tests.mailbuilder import in_mailbox, mail, to_dropbox

ALICE, CAROL = "Alice Archer <alice@acme-law.com>", "Carol Client <carol@clientco.com>"
MATTER = "acme+10802@bcc.example.com"
PDF = ("brief.pdf", "application/pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
LABEL = "MSIP_Label_{guid}_Enabled=true; MSIP_Label_{guid}_SetDate=2026-03-09T14:00:00Z; MSIP_Label_{guid}_Name={name}"


def open_thread(capture: Capture) -> None:
    """Alice Bccs the matter on mail to Carol: the thread is logged from now on."""
    first = mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject="Settlement", message_id="<t1@acme>")
    assert capture.process(in_mailbox(first, "alice@acme-law.com")).outcome is Outcome.LOGGED


def in_thread(sender: str, to: list[str], message_id: str, **kw: object) -> bytes:
    return mail(sender, to, subject="Re: Settlement", message_id=message_id, in_reply_to="<t1@acme>",
                references=["<t1@acme>"], **kw)  # type: ignore[arg-type]


def company(world: World, **policy: object) -> None:
    with world.session() as session:
        privacy.set_company_policy(session, session.get(Tenant, world.tenant.id), by="admin", **policy)  # type: ignore[arg-type]
        session.commit()


def user(world: World, email: str, **policy: object) -> None:
    with world.session() as session:
        found = session.exec(select(User).where(User.email == email)).one()
        privacy.set_user_policy(session, found, **policy)  # type: ignore[arg-type]
        session.commit()


@pytest.mark.parametrize("automated", [
    {"headers": {"Auto-Submitted": "auto-replied"}},
    {"headers": {"List-Id": "<clients.lists.clientco.com>"}},
    {"headers": {"Precedence": "bulk"}},
    {"headers": {"X-Autoreply": "yes"}},
    {"sender": "Notifications <no-reply@clientco.com>"},
    {"sender": "Mail Delivery Subsystem <mailer-daemon@clientco.com>"},
], ids=["auto-submitted", "list-id", "precedence", "x-autoreply", "no-reply", "bounce"])
def test_automated_mail_in_a_logged_thread_is_refused_with_its_reason(
        world: World, capture: Capture, automated: dict[str, object]) -> None:
    open_thread(capture)
    raw = in_thread(str(automated.get("sender", CAROL)), ["alice@acme-law.com"], "<auto@client>",
                    headers=automated.get("headers"))
    applied = capture.process(in_mailbox(raw, "alice@acme-law.com"))
    assert (applied.outcome, applied.reason) == (Outcome.REFUSED, Reason.AUTOMATED)
    assert db.logged(world.engine, "<auto@client>") is None
    assert db.audit_reasons(world.engine, "refused") == ["automated_mail"]


def test_a_dropbox_address_still_files_automated_mail_but_a_no_reply_address_never_becomes_a_contact(
        world: World, capture: Capture) -> None:
    personal = f"dropbox-{world.alice.dropbox_token}@bcc.example.com"
    raw = mail(ALICE, ["no-reply@bank.example", "dave@newclient.example"], bcc=[personal], subject="Statement",
               message_id="<nr@acme>")
    assert capture.process(to_dropbox(raw)).outcome is Outcome.LOGGED
    assert set(db.people(world.engine, "contact")) >= {"dave@newclient.example"}
    assert "no-reply@bank.example" not in db.people(world.engine, "contact")
    found = db.logged(world.engine, "<nr@acme>")
    assert found is not None and ("no-reply@bank.example", "to", "external") in found.participants
    notice = mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject="Out of office", message_id="<oof@acme>",
                  headers={"Auto-Submitted": "auto-replied"})
    assert capture.process(to_dropbox(notice)).outcome is Outcome.LOGGED  # the user asked for it by address


def test_an_internal_forward_in_a_logged_thread_is_not_filed_until_the_company_opts_in(
        world: World, capture: Capture) -> None:
    open_thread(capture)
    colleagues = in_thread(ALICE, ["bob@acme-law.com"], "<fw1@acme>", body="What do you think of this client?")
    applied = capture.process(in_mailbox(colleagues, "alice@acme-law.com"))
    assert (applied.outcome, applied.reason) == (Outcome.REFUSED, Reason.INTERNAL_ONLY)
    assert db.logged(world.engine, "<fw1@acme>") is None
    with_client = in_thread(ALICE, ["carol@clientco.com"], "<r1@acme>", cc=["bob@acme-law.com"])
    assert capture.process(in_mailbox(with_client, "alice@acme-law.com")).outcome is Outcome.LOGGED
    company(world, file_internal_mail=True)
    again = in_thread(ALICE, ["bob@acme-law.com"], "<fw2@acme>", body="Second thoughts?")
    assert capture.process(in_mailbox(again, "alice@acme-law.com")).outcome is Outcome.LOGGED
    assert db.audit_reasons(world.engine, "refused") == ["internal_only"]


@pytest.mark.parametrize("sensitivity", ["Private", "Company-Confidential"])
def test_mail_marked_private_is_never_filed_not_even_by_a_bcc(
        world: World, capture: Capture, sensitivity: str) -> None:
    open_thread(capture)
    reply = in_thread(CAROL, ["alice@acme-law.com"], "<p1@client>", headers={"Sensitivity": sensitivity})
    assert capture.process(in_mailbox(reply, "alice@acme-law.com")).reason is Reason.MARKED_PRIVATE
    bcc = mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject="Personal", message_id="<p2@acme>",
               headers={"Sensitivity": sensitivity})
    assert capture.process(to_dropbox(bcc)).reason is Reason.MARKED_PRIVATE
    assert db.logged(world.engine, "<p1@client>") is None and db.logged(world.engine, "<p2@acme>") is None
    assert db.audit_reasons(world.engine, "refused") == ["marked_private", "marked_private"]


def test_purview_labels_the_company_chose_block_filing_or_keep_headers_only(world: World, capture: Capture) -> None:
    company(world, blocked_labels=["Highly Confidential"], headers_only_labels=["Confidential"])

    def labelled(name: str, message_id: str) -> bytes:
        guid = "3c2b8a1e-1b2c-4d5e-8f90-a1b2c3d4e5f6" if name != "General" else "00000000-1b2c-4d5e-8f90-a1b2c3d4e5f6"
        return mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject=f"{name} memo", message_id=message_id,
                    body="The strategy.", attachments=[PDF],
                    headers={"msip_labels": LABEL.format(guid=guid, name=name)})

    assert capture.process(to_dropbox(labelled("Highly Confidential", "<l1@acme>"))).reason is Reason.PROTECTED_LABEL
    assert capture.process(to_dropbox(labelled("General", "<l2@acme>"))).outcome is Outcome.LOGGED
    assert capture.process(to_dropbox(labelled("Confidential", "<l3@acme>"))).outcome is Outcome.LOGGED
    assert db.logged(world.engine, "<l1@acme>") is None
    general, confidential = db.logged(world.engine, "<l2@acme>"), db.logged(world.engine, "<l3@acme>")
    assert general is not None and "The strategy." in general.activity.text and general.attachments
    assert confidential is not None and confidential.filed_under == {"matter:10802"}
    assert (confidential.activity.text, confidential.activity.html, confidential.attachments) == ("", None, [])
    assert db.audit_reasons(world.engine, "refused") == ["protected_label"]


def test_a_users_never_file_list_keeps_their_mail_with_those_people_out(world: World, capture: Capture) -> None:
    user(world, "alice@acme-law.com", never_file=["doctor@clinic.example", "family.example"])
    first = mail(ALICE, ["carol@clientco.com", "mum@family.example"], bcc=[MATTER], subject="Weekend",
                 message_id="<n1@acme>")
    assert capture.process(to_dropbox(first)).reason is Reason.NEVER_FILE
    second = mail("Doctor <doctor@clinic.example>", ["alice@acme-law.com"], cc=["carol@clientco.com"],
                  subject="Re: Settlement", message_id="<n2@c>", references=["<t1@acme>"])
    open_thread(capture)
    assert capture.process(in_mailbox(second, "alice@acme-law.com")).reason is Reason.NEVER_FILE
    bobs = mail("Bob Baker <bob@acme-law.com>", ["mum@family.example"], bcc=[MATTER], subject="Bob's",
                message_id="<n3@a>")
    assert capture.process(to_dropbox(bobs)).outcome is Outcome.LOGGED  # Alice's list is hers alone
    assert db.audit_reasons(world.engine, "refused") == ["never_file_address", "never_file_address"]


def test_header_only_mode_keeps_who_when_subject_and_filed_under_but_no_body(world: World, capture: Capture) -> None:
    user(world, "bob@acme-law.com", headers_only=True)
    bobs = mail("Bob Baker <bob@acme-law.com>", ["carol@clientco.com"], bcc=[MATTER], subject="Fees",
                message_id="<h1@acme>", body="Our fee proposal.", html="<p>Our fee proposal.</p>", attachments=[PDF])
    alices = mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject="Agenda", message_id="<h2@acme>",
                  body="The agenda.", attachments=[PDF])
    for raw in (bobs, alices):
        assert capture.process(to_dropbox(raw)).outcome is Outcome.LOGGED
    bob, alice = db.logged(world.engine, "<h1@acme>"), db.logged(world.engine, "<h2@acme>")
    assert bob is not None and alice is not None
    assert (bob.activity.subject, bob.activity.from_email, bob.activity.sent_at is not None) == (
        "Fees", "bob@acme-law.com", True)
    assert bob.filed_under == {"matter:10802"} and ("carol@clientco.com", "to", "contact") in bob.participants
    assert (bob.activity.text, bob.activity.html, bob.attachments) == ("", None, [])
    assert "The agenda." in alice.activity.text and alice.attachments
    with world.session() as session:
        kept = {r.activity_id for r in session.exec(select(RawMessage))}
    assert kept == {alice.activity.id}  # no raw MIME for header-only mail either
    company(world, headers_only=True)
    later = mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject="Later", message_id="<h3@acme>", body="Body.")
    capture.process(to_dropbox(later))
    found = db.logged(world.engine, "<h3@acme>")
    assert found is not None and found.activity.text == ""
