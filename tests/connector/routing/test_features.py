"""F1–F17, each as a short story of what a user sees after sending or receiving mail."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from connector.models import Activity
from connector.routing.decision import Outcome, Reason
from connector.services import tenants, unassigned, users
from connector.services.capture import Capture
from tests import inspect_db as db
from tests.conftest import World
from tests.mailbuilder import in_mailbox, mail, to_dropbox

ALICE, BOB = "Alice Archer <alice@acme-law.com>", "Bob Baker <bob@acme-law.com>"
MATTER = "acme+10802@bcc.example.com"
NOTES = "notes@bcc.example.com"
PDF = ("brief.pdf", "application/pdf", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")


def personal(world: World, user: str = "alice") -> str:
    return f"dropbox-{getattr(world, user).dropbox_token}@bcc.example.com"


def action(world: World, name: str) -> str:
    return f"{name}-{world.alice.dropbox_token}@bcc.example.com"


# ---------------------------------------------------------------------------------------------- F1
def test_f1_matter_bcc_files_the_mail_under_the_matter(world: World, capture: Capture) -> None:
    raw = mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject="Settlement draft", message_id="<m1@acme>")
    applied = capture.process(to_dropbox(raw))
    assert (applied.outcome, applied.reason) == (Outcome.LOGGED, Reason.ADDRESSED)
    found = db.logged(world.engine, "<m1@acme>")
    assert found is not None
    assert found.filed_under == {"matter:10802"}
    assert ("carol@clientco.com", "to", "contact") in found.participants
    assert found.activity.direction == "sent"


def test_f1_unknown_matter_number_is_refused_not_dropped(world: World, capture: Capture) -> None:
    raw = mail(ALICE, ["carol@clientco.com"], bcc=["acme+99999@bcc.example.com"], message_id="<m2@acme>")
    applied = capture.process(to_dropbox(raw))
    assert (applied.outcome, applied.reason) == (Outcome.REFUSED, Reason.UNKNOWN_MATTER)
    assert db.audit_reasons(world.engine, "refused") == ["unknown_matter"]
    assert db.logged(world.engine, "<m2@acme>") is None


# ---------------------------------------------------------------------------------------------- F2
def test_f2_project_address_links_the_project_and_its_attachments_become_project_files(
        world: World, capture: Capture) -> None:
    raw = mail(BOB, ["hank@globex.com"], bcc=["1001.acme@bcc.example.com"], subject="Kickoff agenda",
               message_id="<p1@acme>", attachments=[PDF])
    capture.process(to_dropbox(raw))
    found = db.logged(world.engine, "<p1@acme>")
    assert found is not None
    assert "project:1001" in found.filed_under
    assert [(a.name, a.record_id) for a in found.attachments] == [("brief.pdf", world.project.id)]


def test_f2_company_address_logs_without_a_project_but_with_the_customer(world: World, capture: Capture) -> None:
    raw = mail(BOB, ["hank@globex.com"], bcc=["acme@bcc.example.com"], message_id="<c1@acme>")
    capture.process(to_dropbox(raw))
    found = db.logged(world.engine, "<c1@acme>")
    assert found is not None
    assert found.filed_under == {"customer:C-1"}


# ---------------------------------------------------------------------------------------------- F3
def test_f3_personal_address_files_under_recipients_creating_missing_contacts(world: World, capture: Capture) -> None:
    raw = mail(ALICE, ["carol@clientco.com", "New Person <new@prospect.example>"], bcc=[personal(world)],
               message_id="<d1@acme>")
    capture.process(to_dropbox(raw))
    found = db.logged(world.engine, "<d1@acme>")
    assert found is not None
    assert found.filed_under == {"contact:carol@clientco.com", "contact:new@prospect.example"}
    created = db.people(world.engine, "contact")["new@prospect.example"]
    assert (created.last_name, created.created_by) == ("new@prospect.example", "Email Capture")


def test_f3_regenerated_address_refuses_the_old_one(world: World, capture: Capture) -> None:
    old = personal(world)
    with world.session() as session:
        alice = users.get_user(session, "alice@acme-law.com")
        users.regenerate_address(session, alice)
        session.commit()
        new = f"dropbox-{alice.dropbox_token}@bcc.example.com"
    refused = capture.process(to_dropbox(mail(ALICE, ["carol@clientco.com"], bcc=[old], message_id="<o@a>")))
    accepted = capture.process(to_dropbox(mail(ALICE, ["carol@clientco.com"], bcc=[new], message_id="<n@a>")))
    assert (refused.outcome, refused.reason) == (Outcome.REFUSED, Reason.RETIRED_ADDRESS)
    assert accepted.outcome is Outcome.LOGGED


def test_f3_vcard_carries_the_personal_address(world: World, settings) -> None:
    card = users.vcard(world.alice, settings)
    assert card.startswith("BEGIN:VCARD")
    assert f"EMAIL;TYPE=INTERNET:{personal(world)}" in card


# ---------------------------------------------------------------------------------------------- F4
def test_f4_shared_address_files_under_every_matching_contact(world: World, capture: Capture) -> None:
    raw = mail(ALICE, ["hank@globex.com"], cc=["peter@initech.com"], bcc=[NOTES], message_id="<s1@acme>")
    capture.process(to_dropbox(raw))
    found = db.logged(world.engine, "<s1@acme>")
    assert found is not None
    assert found.filed_under == {"contact:hank@globex.com", "contact:peter@initech.com"}


def test_f4_shared_address_only_matches_to_and_cc_and_creates_nobody(world: World, capture: Capture) -> None:
    raw = mail(ALICE, ["stranger@nowhere.example"], bcc=[NOTES, "hank@globex.com"], message_id="<s2@acme>")
    applied = capture.process(to_dropbox(raw))
    assert (applied.outcome, applied.reason) == (Outcome.UNASSIGNED, Reason.NO_MATCHING_CONTACT)
    assert "stranger@nowhere.example" not in db.people(world.engine, "contact")


# ---------------------------------------------------------------------------------------------- F5
def test_f5_case_and_opportunity_addresses_create_records(world: World, capture: Capture) -> None:
    capture.process(to_dropbox(mail(ALICE, ["carol@clientco.com"], bcc=[action(world, "case")],
                                    subject="Printer on fire", message_id="<case@a>")))
    capture.process(to_dropbox(mail(ALICE, ["hank@globex.com"], bcc=[action(world, "opportunity")],
                                    subject="Upsell 50 seats", message_id="<opp@a>")))
    case = db.logged(world.engine, "<case@a>")
    opp = db.logged(world.engine, "<opp@a>")
    assert case is not None and opp is not None
    cases = [k for k in case.filed_under if k.startswith("case:CA")]
    assert len(cases) == 1 and "contact:carol@clientco.com" in case.filed_under
    assert len([k for k in opp.filed_under if k.startswith("opportunity:CO")]) == 1


def test_f5_task_addresses_set_due_dates_in_the_users_time_zone(world: World, capture: Capture) -> None:
    # 23:30 UTC on 9 March is already 10 March in Helsinki, Alice's time zone.
    sent = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    for name in ("task", "task-today", "task-tomorrow"):
        capture.process(to_dropbox(mail(ALICE, ["carol@clientco.com"], bcc=[action(world, name)],
                                        subject=f"Call back ({name})", date=sent, message_id=f"<{name}@a>")))
    tasks = {r.title: r.due_date for r in db.people_by_kind(world.engine, "task")}
    assert tasks == {"Call back (task)": None, "Call back (task-today)": date(2026, 3, 10),
                     "Call back (task-tomorrow)": date(2026, 3, 11)}


# ---------------------------------------------------------------------------------------------- F6
def test_f6_reference_tag_updates_the_existing_opportunity_instead_of_creating_one(
        world: World, capture: Capture) -> None:
    capture.process(to_dropbox(mail(ALICE, ["hank@globex.com"], bcc=[action(world, "opportunity")],
                                    subject="Renewal pricing #CO34322", message_id="<r1@a>")))
    found = db.logged(world.engine, "<r1@a>")
    assert found is not None
    assert [k for k in found.filed_under if k.startswith("opportunity:")] == ["opportunity:CO34322"]
    assert len(db.people_by_kind(world.engine, "opportunity")) == 1


def test_f6_reference_in_the_body_works_on_any_dropbox_address(world: World, capture: Capture) -> None:
    capture.process(to_dropbox(mail(ALICE, ["hank@globex.com"], bcc=[NOTES], body="Re our deal #co34322, see below",
                                    message_id="<r2@a>")))
    found = db.logged(world.engine, "<r2@a>")
    assert found is not None and "opportunity:CO34322" in found.filed_under


# ---------------------------------------------------------------------------------------------- F7
@pytest.mark.parametrize(("breakage", "reason"), [
    ("unverified", Reason.DOMAIN_NOT_VERIFIED),
    ("company_off", Reason.TENANT_NOT_ENABLED),
    ("role", Reason.NO_PERMISSION),
    ("user_off", Reason.CAPTURE_DISABLED),
])
def test_f7_each_missing_level_refuses_with_its_own_reason(world: World, capture: Capture, breakage: str,
                                                           reason: Reason) -> None:
    with world.session() as session:
        tenant = tenants.get_tenant(session, "acme")
        alice = users.get_user(session, "alice@acme-law.com")
        if breakage == "unverified":
            tenants.set_domain(session, tenant, "acme-law.com")
        elif breakage == "company_off":
            tenants.set_enabled(session, tenant, False)
        elif breakage == "role":
            tenants.revoke(session, tenants.get_role(session, tenant, "Standard User"))
        else:
            users.set_capture(session, alice, False)
        session.commit()
    applied = capture.process(to_dropbox(mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], message_id="<e@a>")))
    assert (applied.outcome, applied.reason) == (Outcome.REFUSED, reason)


def test_f7_a_user_cannot_enable_capture_before_the_company_and_role_allow_it(world: World) -> None:
    from connector.errors import InputError

    with world.session() as session:
        tenant = tenants.get_tenant(session, "acme")
        tenants.revoke(session, tenants.get_role(session, tenant, "Standard User"))
        bob = users.get_user(session, "bob@acme-law.com")
        with pytest.raises(InputError, match=r"permission \(level 2\)"):
            users.set_capture(session, bob, True)


# ---------------------------------------------------------------------------------------------- F8
def test_f8_extra_sender_address_is_authorized_only_after_verification(
        world: World, capture: Capture, settings) -> None:
    raw = mail("Alice <alice.archer@gmail.com>", ["carol@clientco.com"], bcc=[MATTER], message_id="<x@gmail>")
    with world.session() as session:
        alice = users.get_user(session, "alice@acme-law.com")
        _, code = users.add_sender(session, alice, "alice.archer@gmail.com", settings)
        session.commit()
    assert capture.process(to_dropbox(raw)).reason is Reason.UNAUTHORIZED_SENDER
    with world.session() as session:
        users.verify_sender(session, users.get_user(session, "alice@acme-law.com"), "alice.archer@gmail.com", code)
        session.commit()
    assert capture.process(to_dropbox(raw)).outcome is Outcome.LOGGED


def test_f8_at_most_five_extra_addresses(world: World, settings) -> None:
    from connector.errors import InputError

    with world.session() as session:
        alice = users.get_user(session, "alice@acme-law.com")
        for n in range(5):
            users.add_sender(session, alice, f"alice{n}@example.org", settings)
        with pytest.raises(InputError, match="at most 5"):
            users.add_sender(session, alice, "alice6@example.org", settings)
        assert len(users.senders(session, alice)) == 5


# ---------------------------------------------------------------------------------------------- F9
def test_f9_own_colleague_and_excluded_addresses_never_become_contacts(world: World, capture: Capture) -> None:
    with world.session() as session:
        tenant = tenants.get_tenant(session, "acme")
        users.add_exclusion(session, tenant, "info@clientco.com")
        users.add_exclusion(session, tenant, "@newsletters.example")
        session.commit()
    raw = mail(ALICE, ["new@prospect.example", BOB, "info@clientco.com", "x@newsletters.example"],
               bcc=[personal(world)], message_id="<f9@a>")
    capture.process(to_dropbox(raw))
    found = db.logged(world.engine, "<f9@a>")
    assert found is not None
    assert found.filed_under == {"contact:new@prospect.example"}
    contacts = db.people(world.engine, "contact")
    assert {"bob@acme-law.com", "info@clientco.com", "x@newsletters.example"}.isdisjoint(contacts)
    assert ("bob@acme-law.com", "to", "user") in found.participants


def test_f9_bulk_mail_never_creates_contacts(world: World, capture: Capture) -> None:
    raw = mail("News <news@vendor.example>", ["alice@acme-law.com"], cc=[personal(world)], message_id="<b@v>",
               headers={"List-Unsubscribe": "<mailto:unsub@vendor.example>"})
    # Forwarded by Alice so that the sender is authorized:
    fwd = mail(ALICE, [personal(world)], subject="Fwd: Newsletter", message_id="<bf@a>",
               body="---------- Forwarded message ---------\nFrom: News <news@vendor.example>\n"
                    "Date: Mon, 9 Mar 2026 10:00:00 +0000\nSubject: Newsletter\nTo: <alice@acme-law.com>\n\nDeals!",
               headers={"Auto-Submitted": "auto-generated"})
    capture.process(to_dropbox(raw))
    capture.process(to_dropbox(fwd))
    assert "news@vendor.example" not in db.people(world.engine, "contact")


# ---------------------------------------------------------------------------------------------- F10
@pytest.mark.parametrize(("pattern", "create_as", "kind"), [
    ("contacts_only", None, "contact"),
    ("leads_only", None, "lead"),
    ("contacts_then_leads", "lead", "lead"),
])
def test_f10_search_pattern_decides_what_is_created(world: World, capture: Capture, pattern: str,
                                                    create_as: str | None, kind: str) -> None:
    with world.session() as session:
        users.set_search_pattern(session, users.get_user(session, "alice@acme-law.com"), pattern, create_as)
        session.commit()
    capture.process(to_dropbox(mail(ALICE, ["charless@zillum.com"], bcc=[personal(world)], message_id="<z@a>")))
    created = db.people(world.engine, kind)["charless@zillum.com"]
    assert (created.email, created.last_name) == ("charless@zillum.com", "charless@zillum.com")


def test_f10_contacts_then_leads_finds_an_existing_lead(world: World, capture: Capture) -> None:
    from connector.services import records

    with world.session() as session:
        records.create_record(session, tenants.get_tenant(session, "acme"), "lead", email="lead@prospect.example")
        session.commit()
    capture.process(to_dropbox(mail(ALICE, ["lead@prospect.example"], bcc=[personal(world)], message_id="<l@a>")))
    found = db.logged(world.engine, "<l@a>")
    assert found is not None and found.filed_under == {"lead:lead@prospect.example"}
    assert "lead@prospect.example" not in db.people(world.engine, "contact")


# ---------------------------------------------------------------------------------------------- F11
def test_f11_received_mail_is_owned_by_a_recipient_user_and_others_participate(
        world: World, capture: Capture) -> None:
    raw = mail("Hank <hank@globex.com>", ["bob@acme-law.com", "alice@acme-law.com"], cc=[MATTER],
               message_id="<own@globex>")
    capture.process(in_mailbox(raw, "bob@acme-law.com"))  # a stranger's Cc of the matter does not count…
    assert db.logged(world.engine, "<own@globex>") is None
    sent = mail(BOB, ["hank@globex.com"], bcc=[MATTER], message_id="<start@acme>", subject="Kickoff")
    capture.process(in_mailbox(sent, "bob@acme-law.com"))
    reply = mail("Hank <hank@globex.com>", ["bob@acme-law.com", "alice@acme-law.com"], subject="Re: Kickoff",
                 message_id="<own2@globex>", in_reply_to="<start@acme>")
    capture.process(in_mailbox(reply, "alice@acme-law.com"))  # …but a reply in a logged thread does
    found = db.logged(world.engine, "<own2@globex>")
    assert found is not None
    with world.session() as session:
        activity = session.get(Activity, found.activity.id)
        assert activity is not None and activity.owner_user_id == world.bob.id
        assert activity.direction == "received" and activity.customer_id == world.globex.id
    assert ("bob@acme-law.com", "to", "owner") in found.participants
    assert ("alice@acme-law.com", "to", "user") in found.participants
    assert ("hank@globex.com", "from", "contact") in found.participants


def test_f11_contacts_of_several_customers_link_no_customer_and_are_external(world: World, capture: Capture) -> None:
    capture.process(to_dropbox(mail(ALICE, ["hank@globex.com", "peter@initech.com"], bcc=[MATTER],
                                    message_id="<multi@a>")))
    found = db.logged(world.engine, "<multi@a>")
    assert found is not None
    assert found.filed_under == {"matter:10802"}
    assert ("hank@globex.com", "to", "external") in found.participants
    assert ("peter@initech.com", "to", "external") in found.participants


# ---------------------------------------------------------------------------------------------- F12
def test_f12_unmatched_shared_mail_waits_in_the_unassigned_list_until_linked(
        world: World, capture: Capture, settings) -> None:
    capture.process(to_dropbox(mail(ALICE, ["newperson@unknown.example"], bcc=[NOTES], subject="Nice to meet you",
                                    body="Lovely chatting today.", message_id="<u1@a>")))
    waiting = db.unassigned(world.engine)
    assert [(u.from_email, u.subject, u.text.strip()) for u in waiting] == [
        ("alice@acme-law.com", "Nice to meet you", "Lovely chatting today.")]
    with world.session() as session:
        activity_id = unassigned.link(session, tenants.get_tenant(session, "acme"), waiting[0].id,
                                      ["carol@clientco.com", "hank@globex.com"], settings)
        session.commit()
    found = db.logged(world.engine, "<u1@a>")
    assert found is not None and found.activity.id == activity_id
    assert found.filed_under == {"contact:carol@clientco.com", "contact:hank@globex.com", "customer:C-1"}
    assert db.unassigned(world.engine)[0].linked_at is not None


# ---------------------------------------------------------------------------------------------- F13
def _f13_thread() -> list[bytes]:
    first = mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject="Draft", message_id="<t1@acme>")
    reply = mail("Carol <carol@clientco.com>", ["alice@acme-law.com"], subject="Re: Draft",
                 message_id="<t2@client>", in_reply_to="<t1@acme>", references=["<t1@acme>"])
    forward = mail(ALICE, ["bob@acme-law.com"], subject="Fwd: Re: Draft", message_id="<t3@acme>",
                   references=["<t1@acme>", "<t2@client>"])
    unrelated = mail("Carol <carol@clientco.com>", ["alice@acme-law.com"], subject="Lunch?", message_id="<u@c>")
    return [first, reply, forward, unrelated]


def test_f13_replies_in_a_logged_thread_are_logged_without_the_bcc_but_not_a_forward_among_colleagues(
        world: World, capture: Capture) -> None:
    for raw in _f13_thread():
        capture.process(in_mailbox(raw, "alice@acme-law.com"))
    for imid in ("<t1@acme>", "<t2@client>"):
        found = db.logged(world.engine, imid)
        assert found is not None and "matter:10802" in found.filed_under, imid
    # "What do you think of this client?" to a colleague only: not filed unless the company opts in.
    assert db.logged(world.engine, "<t3@acme>") is None
    assert "internal_only" in db.audit_reasons(world.engine, "refused")
    assert db.logged(world.engine, "<u@c>") is None
    assert len(db.snapshot(world.engine)["threads"]) == 1  # type: ignore[arg-type]


def test_f13_a_company_that_opts_in_files_forwards_among_colleagues_too(world: World, capture: Capture) -> None:
    from connector.services import privacy

    with world.session() as session:
        privacy.set_company_policy(session, tenants.get_tenant(session, "acme"), file_internal_mail=True,
                                   by="admin@acme-law.com")
        session.commit()
    for raw in _f13_thread():
        capture.process(in_mailbox(raw, "alice@acme-law.com"))
    found = db.logged(world.engine, "<t3@acme>")
    assert found is not None and "matter:10802" in found.filed_under


def test_f13_provider_thread_key_follows_a_conversation_without_references(world: World, capture: Capture) -> None:
    first = mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject="Draft", message_id="<k1@acme>")
    later = mail("Carol <carol@clientco.com>", ["alice@acme-law.com"], subject="Re: Draft", message_id="<k2@c>")
    capture.process(in_mailbox(first, "alice@acme-law.com", thread_key="graph:alice:AAQkAGI2"))
    capture.process(in_mailbox(later, "alice@acme-law.com", thread_key="graph:alice:AAQkAGI2"))
    assert db.logged(world.engine, "<k2@c>") is not None


def test_f13_earlier_messages_are_logged_when_the_dropbox_is_added_late(world: World, capture: Capture) -> None:
    earlier = mail("Carol <carol@clientco.com>", ["alice@acme-law.com"], subject="Question", message_id="<e1@c>")
    answer = mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject="Re: Question", message_id="<e2@a>",
                  in_reply_to="<e1@c>", references=["<e1@c>"])
    results = capture.process_all([in_mailbox(earlier, "alice@acme-law.com"),
                                   in_mailbox(answer, "alice@acme-law.com")])
    assert [a.outcome for _, a in results] == [Outcome.LOGGED, Outcome.LOGGED]


# ---------------------------------------------------------------------------------------------- F14
def test_f14_a_received_mail_forwarded_to_the_dropbox_files_the_original(world: World, capture: Capture) -> None:
    body = ("FYI\n\n________________________________\nFrom: Peter Gibbons <peter@initech.com>\n"
            "Sent: Monday, March 9, 2026 10:12 AM\nTo: Alice Archer <alice@acme-law.com>\n"
            "Cc: Mindy Moss <mindy@globex.com>\nSubject: TPS report cover sheets\n\nDid you get the memo?\n")
    capture.process(to_dropbox(mail(ALICE, [NOTES], subject="FW: TPS report cover sheets", body=body,
                                    message_id="<fw@a>")))
    found = db.logged(world.engine, "<fw@a>")
    assert found is not None
    assert found.activity.subject == "TPS report cover sheets"
    assert found.activity.direction == "received" and found.activity.from_email == "peter@initech.com"
    assert {"contact:peter@initech.com", "contact:mindy@globex.com"} <= found.filed_under
    assert ("peter@initech.com", "from", "external") in found.participants


# ---------------------------------------------------------------------------------------------- F15
def test_f15_stored_as_an_email_activity_by_email_capture_with_html_as_text(world: World, capture: Capture) -> None:
    html = "<html><style>p{color:red}</style><script>alert(1)</script><p>Hello <b>Hank</b></p></html>"
    capture.process(to_dropbox(mail(BOB, ["hank@globex.com"], bcc=[MATTER], body="", html=html,
                                    message_id="<h@a>")))
    found = db.logged(world.engine, "<h@a>")
    assert found is not None
    activity = found.activity
    assert (activity.type, activity.performed_by, activity.status) == ("Email", "Email Capture", "Completed")
    assert "Hello Hank" in activity.text and "alert" not in activity.text and "color" not in activity.text
    assert activity.html is not None and "<b>Hank</b>" in activity.html


# ---------------------------------------------------------------------------------------------- F16
def test_f16_subject_is_mandatory(world: World, capture: Capture) -> None:
    applied = capture.process(to_dropbox(mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject="",
                                              message_id="<ns@a>")))
    assert (applied.outcome, applied.reason) == (Outcome.REFUSED, Reason.MISSING_SUBJECT)


def test_f16_attachments_over_10_mb_are_skipped_with_a_note_and_the_mail_is_still_logged(
        world: World, capture: Capture) -> None:
    big = ("scan.tiff", "image/tiff", b"\0" * (10 * 1024 * 1024 + 1))
    capture.process(to_dropbox(mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], message_id="<big@a>",
                                    attachments=[big])))
    found = db.logged(world.engine, "<big@a>")
    assert found is not None and found.attachments == []
    assert "over the 10 MB limit" in found.activity.notes[0]


# ---------------------------------------------------------------------------------------------- F17
def test_f17_mail_from_strangers_to_a_leaked_address_is_refused_and_audited(world: World, capture: Capture) -> None:
    for n, address in enumerate((MATTER, personal(world), NOTES)):
        applied = capture.process(to_dropbox(mail("mallory@evil.example", [address], subject="WIN $$$",
                                                  message_id=f"<spam{n}@evil>")))
        assert (applied.outcome, applied.reason) == (Outcome.REFUSED, Reason.UNAUTHORIZED_SENDER)
    assert db.count(world.engine, Activity) == 0
    assert db.audit_reasons(world.engine, "refused") == ["unauthorized_sender"] * 3


def test_f17_a_colleague_cannot_use_someone_elses_personal_address(world: World, capture: Capture) -> None:
    applied = capture.process(to_dropbox(mail(BOB, ["carol@clientco.com"], bcc=[personal(world, "alice")],
                                              message_id="<bob@a>")))
    assert applied.reason is Reason.UNAUTHORIZED_SENDER


# ---------------------------------------------------------------------------------------------- exactly once
def test_a_message_seen_in_two_mailboxes_is_logged_once_with_both_sources(world: World, capture: Capture) -> None:
    raw = mail(ALICE, ["bob@acme-law.com", "carol@clientco.com"], bcc=[MATTER], message_id="<both@a>")
    bob_copy = mail(ALICE, ["bob@acme-law.com", "carol@clientco.com"], message_id="<both@a>")
    capture.process(in_mailbox(raw, "alice@acme-law.com"))
    capture.process(in_mailbox(bob_copy, "bob@acme-law.com"))
    capture.process(to_dropbox(raw))
    found = db.logged(world.engine, "<both@a>")
    assert found is not None
    assert found.sources == {("file", "alice@acme-law.com"), ("file", "bob@acme-law.com"), ("smtp", "")}
    assert db.count(world.engine, Activity) == 1


def test_unknown_dropbox_address_is_refused(world: World, capture: Capture) -> None:
    applied = capture.process(to_dropbox(mail(ALICE, ["nobody+1@bcc.example.com"], message_id="<nb@a>")))
    assert (applied.outcome, applied.reason) == (Outcome.REFUSED, Reason.UNKNOWN_ADDRESS)



def test_a_mail_with_an_unreadable_part_is_filed_with_a_note_saying_what_was_not_read(world: World,
                                                                                      capture: Capture) -> None:
    ids = [f"<r{n}@x.example>" for n in range(200)]
    raw = mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], message_id="<flood@a>", references=ids)
    capture.process(to_dropbox(raw))
    found = db.logged(world.engine, "<flood@a>")
    assert found is not None and found.filed_under == {"matter:10802"}
    with world.session() as session:
        activity = session.get(Activity, found.activity.id)
        assert activity is not None and any("200 References" in note for note in activity.notes)
