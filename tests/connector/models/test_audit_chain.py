"""The audit log is hash-chained per company: an edited, removed or forged entry is found and named."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from connector.app.cli import app
from connector.config import get_settings
from connector.models import AuditEntry
from connector.models.audit import chains, verify
from connector.services.capture import Capture
from tests.conftest import World
from tests.mailbuilder import in_mailbox, mail, to_dropbox

ALICE = "Alice Archer <alice@acme-law.com>"


def file_some_mail(capture: Capture) -> None:
    for n in range(3):
        capture.process(to_dropbox(mail(ALICE, ["carol@clientco.com"], bcc=["acme+10802@bcc.example.com"],
                                        subject=f"Update {n}", message_id=f"<a{n}@acme>")))
    capture.process(to_dropbox(mail(ALICE, ["carol@clientco.com"], bcc=["acme+99999@bcc.example.com"],
                                    message_id="<refused@acme>")))  # refused: unknown matter, audited too
    capture.process(in_mailbox(mail(ALICE, ["carol@clientco.com"], subject="Update 0", message_id="<a0@acme>"),
                               "alice@acme-law.com"))  # another copy: a 'duplicate' entry


def entry_ids(engine: Engine, tenant_id: int | None) -> list[int]:
    with Session(engine) as session:
        return [e.id for e in session.exec(select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
                                           .order_by(col(AuditEntry.seq))) if e.id is not None]


def test_every_entry_is_chained_and_an_edited_entry_is_named(world: World, capture: Capture) -> None:
    file_some_mail(capture)
    with world.engine.connect() as conn:
        report = verify(conn, world.tenant.id)
    ids = entry_ids(world.engine, world.tenant.id)
    assert report.ok and report.entries == len(ids) == 5 and report.pending == 0
    with world.engine.begin() as conn:  # somebody hides that a message was refused
        conn.execute(text("UPDATE auditentry SET reason = 'addressed' WHERE id = :id"), {"id": ids[3]})
    with world.engine.connect() as conn:
        report = verify(conn, world.tenant.id)
    assert (report.ok, report.broken_at, report.problem) == (False, ids[3], "its content was changed")


def test_a_removed_entry_breaks_the_chain_at_the_next_one(world: World, capture: Capture) -> None:
    file_some_mail(capture)
    ids = entry_ids(world.engine, world.tenant.id)
    with world.engine.begin() as conn:
        conn.execute(text("DELETE FROM auditentry WHERE id = :id"), {"id": ids[1]})
    with world.engine.connect() as conn:
        report = verify(conn, world.tenant.id)
    assert (report.broken_at, report.problem) == (ids[2], "a missing or reordered entry before it")


def test_a_recomputed_hash_without_the_link_is_still_caught(world: World, capture: Capture) -> None:
    file_some_mail(capture)
    ids = entry_ids(world.engine, world.tenant.id)
    with world.engine.begin() as conn:  # a forger rewrites one entry's link to hide an earlier change
        conn.execute(text("UPDATE auditentry SET prev_hash = 'forged' WHERE id = :id"), {"id": ids[2]})
    with world.engine.connect() as conn:
        assert verify(conn, world.tenant.id).broken_at == ids[2]


def test_concurrent_writers_extend_one_unbroken_chain(world: World) -> None:
    """Eight sessions commit at once (on PostgreSQL truly in parallel): no two entries claim one position."""
    def write(worker: int) -> None:
        for n in range(5):
            with Session(world.engine) as session:
                session.add(AuditEntry(tenant_id=world.tenant.id, action="linked", reason=f"w{worker}-{n}"))
                session.add(AuditEntry(tenant_id=None, action="sync_error", reason=f"w{worker}-{n}"))
                session.commit()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    with world.engine.connect() as conn:
        reports = [verify(conn, chain) for chain in chains(conn)]
    assert [(r.tenant_id, r.ok, r.entries, r.pending) for r in reports] == [(None, True, 40, 0),
                                                                            (world.tenant.id, True, 40, 0)]
    with Session(world.engine) as session:
        ours = select(AuditEntry).where(AuditEntry.tenant_id == world.tenant.id)
        seqs = sorted(e.seq or 0 for e in session.exec(ours))
    assert seqs == list(range(1, 41))


def test_bcc_capture_audit_verify_proves_the_chain_or_names_the_altered_entry(
        world: World, capture: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCC_CAPTURE_DATABASE__URL", world.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        file_some_mail(capture)
        runner = CliRunner()
        good = runner.invoke(app, ["audit", "verify"])
        assert good.exit_code == 0 and "5 entries unbroken" in good.output, good.output
        ids = entry_ids(world.engine, world.tenant.id)
        with world.engine.begin() as conn:
            conn.execute(text("UPDATE auditentry SET detail = :d WHERE id = :id"), {"d": "{}", "id": ids[0]})
        bad = runner.invoke(app, ["audit", "verify", "--tenant", "acme"])
        assert bad.exit_code == 1 and f"BROKEN at entry {ids[0]}: its content was changed" in bad.output
        listed = runner.invoke(app, ["audit", "--action", "refused", "--json"])  # the listing is still there
        assert listed.exit_code == 0 and [e["reason"] for e in json.loads(listed.output)] == ["unknown_matter"]
    finally:
        get_settings.cache_clear()
