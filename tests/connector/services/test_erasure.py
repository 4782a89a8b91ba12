"""Erasure of a person: no trace of her address, its local part or her name in any column of any table, the
audit chain still verifies, mail under a legal hold is kept whole, and a hold on her contact refuses it."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import select

from connector.db import transaction
from connector.models import Activity, Attachment, AuditEntry, Participant, Record, User
from connector.models.audit import chains, verify
from connector.models.mail import RawMessage
from connector.services import holds
from connector.services.capture import Capture
from connector.services.erasure import erase_person
from tests.conftest import World
from tests.connector.services.erasure_world import (
    STATEMENT,
    TRACES,
    ZELDA,
    file_zelda_everywhere,
    stored_traces,
    traces,
)


def test_erasure_leaves_no_trace_of_the_person_in_any_column_and_the_audit_chain_still_verifies(
        world: World, capture: Capture) -> None:
    filed = file_zelda_everywhere(world, capture)
    before = traces(world.engine)
    assert {t.split(".")[0] for t in before} >= {"activity", "participant", "record", "unassigned", "auditentry",
                                                 "quarantine", "spool", "user", "threadkey"}, before
    assert len(stored_traces(world.engine)) >= 3  # her mail, her reply, her statement
    with transaction(world.engine) as session:
        report = erase_person(session, world.tenant, ZELDA, by="ada@acme-law.com")
    assert traces(world.engine) == [] and stored_traces(world.engine) == []
    assert report.originals == 3 and report.attachments == 1 and report.raw_dropped == 2 and not report.held
    assert report.suppressions == ["never-file list of bob@acme-law.com"]
    with world.session() as session:
        people = session.exec(select(Participant).where(Participant.activity_id == filed.to_matter)).all()
        assert sorted(p.email for p in people) == sorted(["alice@acme-law.com", report.pseudonym,
                                                          "carol@clientco.com"])  # one correspondent, unnamed
        assert session.exec(select(Attachment.name).where(Attachment.activity_id == filed.to_matter)).all() == [
            "brief.pdf"]  # her statement went; the brief, which does not name her, stays
        carol = session.get(Activity, filed.carol_only)
        assert carol is not None and carol.subject == "Fees"  # mail without her is untouched, original kept
        assert session.get(RawMessage, filed.carol_only) is not None
        assert session.get(Activity, filed.mention).text == "[erased] will testify."  # type: ignore[union-attr]
        bob = session.get(User, world.bob.id)
        assert bob is not None and bob.never_file == ["@family.example"]
        erased = session.exec(select(AuditEntry).where(AuditEntry.action == "erased")).one()
        assert erased.detail["pseudonym"] == report.pseudonym and erased.detail["by"] == "ada@acme-law.com"
    with world.engine.connect() as connection:
        checked = [verify(connection, chain) for chain in chains(connection)]
    with world.session() as session:
        vouched = [row for e in session.exec(select(AuditEntry).where(AuditEntry.action == "redacted"))
                   for row in e.detail["rows"]]
    assert all(c.ok for c in checked) and sum(c.redacted for c in checked) == len(vouched) >= 5, checked


def test_an_edited_redacted_entry_is_still_caught(world: World, capture: Capture) -> None:
    file_zelda_everywhere(world, capture)
    with transaction(world.engine) as session:
        erase_person(session, world.tenant, ZELDA)
    with world.session() as session:
        listed = session.exec(select(AuditEntry).where(AuditEntry.action == "redacted",
                                                       AuditEntry.tenant_id == world.tenant.id)).one()
        victim = listed.detail["rows"][0][0]
    with world.engine.begin() as connection:
        entry = connection.execute(select(AuditEntry.__table__).where(AuditEntry.__table__.c.id == victim)).one()
        connection.execute(AuditEntry.__table__.update().where(AuditEntry.__table__.c.id == victim)
                           .values(detail={**entry.detail, "by": "somebody else"}))
    with world.engine.connect() as connection:
        chain = verify(connection, world.tenant.id)
    assert (chain.ok, chain.broken_at, chain.problem) == (False, victim, "its content was changed")


def test_a_dry_run_reports_the_same_and_changes_nothing(world: World, capture: Capture) -> None:
    file_zelda_everywhere(world, capture)
    before = traces(world.engine)
    with transaction(world.engine) as session:
        dry = erase_person(session, world.tenant, ZELDA, dry_run=True)
    assert traces(world.engine) == before
    with transaction(world.engine) as session:
        done = erase_person(session, world.tenant, ZELDA)
    assert (dry.rows, dry.originals, dry.attachments, dry.raw_dropped, dry.suppressions) == (
        done.rows, done.originals, done.attachments, done.raw_dropped, done.suppressions)


def test_a_hold_on_the_matter_keeps_its_mail_whole_and_a_hold_on_her_contact_refuses_erasure(
        world: World, capture: Capture) -> None:
    filed = file_zelda_everywhere(world, capture)
    with transaction(world.engine) as session:
        contact = session.exec(select(Record).where(Record.email == ZELDA)).one()
        hold = holds.place(session, world.tenant, contact, "Quist v. Acme: litigation expected", "ada@acme-law.com")
    with transaction(world.engine) as session, pytest.raises(holds.OnHold, match=f"legal hold {hold.id}"):
        erase_person(session, world.tenant, ZELDA)
    with transaction(world.engine) as session:
        holds.release(session, world.tenant, hold.id or 0, "ada@acme-law.com")
        matter_hold = holds.place(session, world.tenant, world.matter, "Smith v. Jones: preservation order", "ada")
    with transaction(world.engine) as session:
        report = erase_person(session, world.tenant, ZELDA)
    assert set(report.held) >= {filed.to_matter, filed.mention} and set(report.held.values()) == {matter_hold.id}
    with world.session() as session:
        kept = session.exec(select(Participant.email).where(Participant.activity_id == filed.to_matter)).all()
        assert ZELDA in kept and session.get(RawMessage, filed.to_matter) is not None
        statement = session.exec(select(func.count()).select_from(Attachment).where(
            Attachment.activity_id == filed.to_matter, Attachment.name == STATEMENT[0])).one()
        assert statement == 1
    left = {t.split(":")[0] for t in traces(world.engine, TRACES)}
    assert "unassigned.from_email" not in left and "quarantine.raw" not in left and "record.email" not in left
    with world.engine.connect() as connection:
        assert verify(connection, world.tenant.id).ok
