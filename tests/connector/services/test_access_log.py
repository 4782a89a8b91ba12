"""The audit of reading: a page read is one chained entry that lists every e-mail it showed, and the audit still
answers who read a given e-mail, hides from a reader the mail they may not read, and is erased like the rest."""

from __future__ import annotations

from sqlmodel import Session, select

from connector.db import transaction
from connector.models import AuditEntry, Record, Tenant
from connector.models.audit import verify
from connector.services import access_log, holds, users, views, visibility_policy
from connector.services.capture import Capture
from connector.services.communications import shown
from connector.services.erasure import erase_person
from connector.services.visibility import reader_for
from tests.conftest import World
from tests.mailbuilder import mail, to_dropbox

ALICE = "Alice Archer <alice@acme-law.com>"
MATTER, PROJECT = "acme+10802@bcc.example.com", "1001.acme@bcc.example.com"


def log(capture: Capture, subject: str, message_id: str, bcc: str = MATTER, to: str = "carol@clientco.com") -> int:
    applied = capture.process(to_dropbox(mail(ALICE, [to], bcc=[bcc], subject=subject, message_id=message_id)))
    assert applied.activity_id is not None
    return applied.activity_id


def read_tab(world: World, by: str, record: Record) -> int:
    """``by`` opens the record's Communications tab, as the console does: the page, then its audit."""
    with transaction(world.engine) as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        reader = reader_for(session, users.get_user(session, by))
        page = views.communications_page(session, tenant, record, reader=reader)
        return access_log.viewed(session, tenant.id, by, shown(page.threads), "console", record_id=record.id)


def audit_of(world: World, by: str | None = None, **filters: object) -> list[AuditEntry]:
    with world.session() as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        if by is None:
            return views.tenant_audit(session, tenant, **filters)  # type: ignore[arg-type]
        user = users.get_user(session, by)
        found = views.tenant_audit(session, tenant, visible_to=user, reader=reader_for(session, user),
                                   **filters)  # type: ignore[arg-type]
        session.commit()  # whatever the reading did to the entries would be written now
        return found


def chain_ok(world: World) -> bool:
    with world.engine.connect() as connection:
        return verify(connection, world.tenant.id).ok


def test_a_page_read_is_one_entry_and_the_audit_still_says_who_read_each_email(
        world: World, capture: Capture) -> None:
    ids = {m: log(capture, f"Terms {n}", m) for n, m in enumerate(["<t1@acme-law.com>", "<t2@acme-law.com>",
                                                                   "<t3@acme-law.com>"])}
    assert read_tab(world, "alice@acme-law.com", world.matter) == 3
    [entry] = audit_of(world, action=access_log.VIEWED)
    assert sorted(access_log.shown_in(entry)) == sorted((a, m) for m, a in ids.items())
    assert (entry.detail["by"], entry.reason, entry.detail["record_id"]) == ("alice@acme-law.com", "console",
                                                                             world.matter.id)
    with transaction(world.engine) as session:  # an entry written one a message, before pages were one entry
        session.add(AuditEntry(tenant_id=world.tenant.id, action=access_log.VIEWED, reason="api",
                               internet_message_id="<t2@acme-law.com>",
                               detail={"by": "bob@acme-law.com", "activity_id": ids["<t2@acme-law.com>"]}))

    about_t2 = audit_of(world, message="<t2@acme-law.com>")
    assert [(e.action, e.detail.get("by")) for e in about_t2] == [
        ("activity.viewed", "bob@acme-law.com"), ("activity.viewed", "alice@acme-law.com"), ("logged", None)]
    assert audit_of(world, message="t2@acme-law.com") == []  # a Message-ID is matched whole, not as a fragment
    assert entry.seq is not None and chain_ok(world)


def test_a_reader_sees_only_the_emails_of_a_page_they_may_still_read(world: World, capture: Capture) -> None:
    private, public = log(capture, "Settlement", "<s1@acme-law.com>"), log(capture, "Fees", "<f1@acme-law.com>")
    assert read_tab(world, "bob@acme-law.com", world.matter) == 2
    with transaction(world.engine) as session:  # Alice keeps hers to herself after Bob read the page
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        visibility_policy.set_activity_visibility(session, tenant, private, "owner", by="alice@acme-law.com",
                                                  reader=reader_for(session, world.alice))

    [bobs] = audit_of(world, "bob@acme-law.com", action=access_log.VIEWED)
    assert access_log.shown_in(bobs) == [(public, "<f1@acme-law.com>")]
    assert audit_of(world, "bob@acme-law.com", message="<s1@acme-law.com>") == []
    [stored] = audit_of(world, action=access_log.VIEWED)  # the company's view, and the entry as chained
    assert sorted(access_log.shown_in(stored)) == sorted([(private, "<s1@acme-law.com>"),
                                                           (public, "<f1@acme-law.com>")])
    assert chain_ok(world)


def test_erasure_rewrites_her_message_ids_in_a_page_read_but_not_those_under_a_legal_hold(
        world: World, capture: Capture) -> None:
    zelda = "zelda.quist@clientco.com"
    held = log(capture, "Statement", "<zelda.quist.1@clientco.com>", to=zelda)
    free = log(capture, "Invoice", "<zelda.quist.2@clientco.com>", bcc=PROJECT, to=zelda)
    with transaction(world.engine) as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        access_log.viewed(session, tenant.id, "alice@acme-law.com",
                          [(held, "<zelda.quist.1@clientco.com>"), (free, "<zelda.quist.2@clientco.com>")], "api")
        holds.place(session, tenant, world.matter, "Smith v. Jones: preservation order", "ada@acme-law.com")
    with transaction(world.engine) as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        erase_person(session, tenant, zelda)

    with Session(world.engine) as session:
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == access_log.VIEWED)).all()
    assert access_log.shown_in(entry) == [(held, "<zelda.quist.1@clientco.com>"), (free, "<[erased].2@clientco.com>")]
    assert entry.detail["by"] == "alice@acme-law.com" and chain_ok(world)
