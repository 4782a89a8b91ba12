"""Retention: a matter's mail is disposed of once its period after close has run out, the register says what
went under which rule (never the content), and a legal hold stops disposal and unlogging until released."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from connector.app.cli import app
from connector.db import transaction
from connector.models import Activity, Attachment, AuditEntry, DisposalRecord
from connector.models.mail import RawMessage
from connector.services import activities, holds, retention
from connector.services.capture import Capture
from tests.conftest import World
from tests.mailbuilder import mail, to_dropbox

ALICE = "Alice Archer <alice@acme-law.com>"
PDF = ("brief.pdf", "application/pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
CLOSED = datetime(2026, 3, 31, tzinfo=UTC)


def file_mail(capture: Capture) -> dict[str, int]:
    def filed(bcc: str, message_id: str, **kw: object) -> int:
        applied = capture.process(to_dropbox(mail(ALICE, ["carol@clientco.com"], bcc=[bcc], message_id=message_id,
                                                  body="Privileged advice.\n", **kw)))  # type: ignore[arg-type]
        assert applied.activity_id is not None, applied
        return applied.activity_id
    return {"advice": filed("acme+10802@bcc.example.com", "<a1@acme>", attachments=[PDF]),
            "later": filed("acme+10802@bcc.example.com", "<a2@acme>", subject="Later"),
            "project": filed("1001.acme@bcc.example.com", "<p1@acme>", attachments=[PDF])}


def seven_years_after_close(world: World) -> None:
    with transaction(world.engine) as session:
        retention.set_rule(session, world.tenant, "matter", years=7, by="ada")
        retention.close(session, world.tenant, world.matter, CLOSED, by="ada")


def run(world: World, now: datetime, dry_run: bool = False) -> retention.RetentionReport:
    with transaction(world.engine) as session:
        return retention.run(session, world.tenant, now, dry_run=dry_run, by="test")


def test_a_closed_matters_mail_is_disposed_of_after_its_period_and_registered(world: World,
                                                                              capture: Capture) -> None:
    ids = file_mail(capture)
    seven_years_after_close(world)
    assert run(world, CLOSED + timedelta(days=7 * 365)).due == []  # 2033-03-30: a day short of seven years
    assert [d.activity_id for d in run(world, datetime(2033, 4, 1, tzinfo=UTC), dry_run=True).due] == [
        ids["advice"], ids["later"]]
    report = run(world, datetime(2033, 4, 1, tzinfo=UTC))
    assert ([d.activity_id for d in report.due], report.attachments, report.originals) == (
        [ids["advice"], ids["later"]], 1, 2)
    with world.session() as session:
        advice = session.get(Activity, ids["advice"])
        assert advice is not None and (advice.text, advice.html, advice.subject) == ("", None, "Status update")
        assert session.exec(select(Attachment).where(Attachment.activity_id == ids["advice"])).all() == []
        assert session.get(RawMessage, ids["advice"]) is None
        project = session.get(Activity, ids["project"])  # projects have no rule: kept whole
        assert project is not None and project.text and session.get(RawMessage, ids["project"]) is not None
        rows = session.exec(select(DisposalRecord).order_by(col(DisposalRecord.activity_id))).all()
        assert [(r.internet_message_id, r.rule, r.disposed) for r in rows] == [
            ("<a1@acme>", "matter: 7 years after close", ["body", "attachments (1)", "original MIME"]),
            ("<a2@acme>", "matter: 7 years after close", ["body", "original MIME"])]
        logged = session.exec(select(AuditEntry).where(AuditEntry.action == "retention_run")).one()
        assert logged.detail["disposed"] == 2 and logged.detail["rules"] == ["matter: 7 years after close"]
    assert run(world, datetime(2034, 1, 1, tzinfo=UTC)).due == []  # nothing is disposed of twice


def test_an_open_matter_keeps_its_mail_and_the_last_activity_trigger_counts_from_the_newest_mail(
        world: World, capture: Capture) -> None:
    file_mail(capture)
    with transaction(world.engine) as session:
        retention.set_rule(session, world.tenant, "matter", years=7, by="ada")
    assert run(world, datetime(2099, 1, 1, tzinfo=UTC)).due == []  # never closed
    with transaction(world.engine) as session:
        retention.set_rule(session, world.tenant, "project", days=30, trigger="after_last_activity")
    assert run(world, datetime(2026, 4, 8, tzinfo=UTC)).due == []  # the project's mail is of 2026-03-09 14:30
    assert [d.internet_message_id for d in run(world, datetime(2026, 4, 9, tzinfo=UTC)).due] == ["<p1@acme>"]


def test_a_legal_hold_stops_disposal_and_unlogging_until_it_is_released(world: World, capture: Capture) -> None:
    ids = file_mail(capture)
    seven_years_after_close(world)
    with transaction(world.engine) as session:
        hold = holds.place(session, world.tenant, world.matter, "Smith v. Jones: preservation letter", "ada")
    report = run(world, datetime(2040, 1, 1, tzinfo=UTC))
    assert report.due == [] and report.held == {ids["advice"]: hold.id, ids["later"]: hold.id}
    with transaction(world.engine) as session, pytest.raises(holds.OnHold, match=f"legal hold {hold.id}"):
        activities.unlog(session, world.tenant, ids["advice"], by="alice@acme-law.com")
    with world.session() as session:
        advice = session.get(Activity, ids["advice"])
        assert advice is not None and advice.text and advice.unlogged_at is None
    with transaction(world.engine) as session:
        holds.release(session, world.tenant, hold.id or 0, "ada")
    assert len(run(world, datetime(2040, 1, 1, tzinfo=UTC)).due) == 2
    with world.session() as session:
        assert [a for a, _ in [(e.action, e) for e in session.exec(select(AuditEntry).where(
            col(AuditEntry.action).in_(["hold_placed", "hold_released"])).order_by(col(AuditEntry.id)))]] == [
            "hold_placed", "hold_released"]


def test_the_worker_runs_disposal_once_a_day(world: World, capture: Capture) -> None:
    file_mail(capture)
    seven_years_after_close(world)
    now = datetime(2040, 1, 1, tzinfo=UTC)
    first = retention.run_if_due(world.engine, now)
    assert first is not None and len(first[0].due) == 2
    assert retention.run_if_due(world.engine, now + timedelta(hours=23)) is None
    assert retention.run_if_due(world.engine, now + timedelta(days=1)) == [
        retention.RetentionReport(world.tenant.id or 0, False)]


def test_the_cli_sets_rules_closes_holds_runs_and_erases(world: World, capture: Capture, cli_on: CliRunner) -> None:
    file_mail(capture)

    def cli(*args: str) -> str:
        result = cli_on.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output
    assert "matter: 7 years after close" in cli("retention", "rule", "add", "matter", "--years", "7")
    cli("record", "close", "matter", "10802", "--on", "2018-01-31")
    held = cli("hold", "place", "matter", "10802", "--reason", "Smith v. Jones: preservation letter")
    assert "would dispose of 0 messages; 2 kept by a legal hold" in cli("retention", "run", "--dry-run")
    cli("hold", "release", held.split()[2])
    assert "disposed of 2 messages" in cli("retention", "run")
    register = json.loads(cli("retention", "register", "--json"))
    assert {r["message_id"] for r in register} == {"<a1@acme>", "<a2@acme>"}
    assert "Would erase" in cli("erase", "person", "carol@clientco.com", "--dry-run")
    erased = json.loads(cli("erase", "person", "carol@clientco.com", "--json"))
    assert erased["pseudonym"].endswith("@erased.invalid") and erased["rows"]["participant"] == 3
    refused = cli_on.invoke(app, ["erase", "person", "alice@acme-law.com"])
    assert refused.exit_code == 1 and "a user's address" in refused.output
