"""Importing an archive: folders of .eml and .msg files and mbox files, filed once, resumable, summarized."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from connector.config import Settings, get_settings
from connector.models import Activity, AuditEntry, ImportCheckpoint
from connector.planner_statistics import planned_rows
from connector.services import archive_sources
from connector.services.archive import Summary, import_archive
from tests import inspect_db as db
from tests.conftest import World
from tests.connector.services.outlook_files import outlook_msg
from tests.mailbuilder import mail

ALICE, MATTER = "Alice Archer <alice@acme-law.com>", "acme+10802@bcc.example.com"
SENT = datetime(2026, 3, 9, 14, 30, tzinfo=UTC)
PDF = ("brief.pdf", "application/pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n")


def mbox(messages: list[bytes]) -> bytes:
    """An mboxrd file: 'From ' lines in bodies escaped with one more '>'."""
    out = b""
    for raw in messages:
        body = b"\n".join(b">" + line if line.lstrip(b">").startswith(b"From ") else line
                          for line in raw.replace(b"\r\n", b"\n").split(b"\n"))
        out += b"From alice@acme-law.com Mon Mar  9 14:30:00 2026\n" + body.rstrip(b"\n") + b"\n\n"
    return out


def sent_item(number: int, **extra: object) -> bytes:
    return outlook_msg(subject=f"Outlook item {number}", sender=("Alice Archer", "alice@acme-law.com"),
                       recipients=[("Carol Client", "carol@clientco.com", 1), ("", MATTER, 3)],
                       body=f"Body of item {number}.\n", sent=SENT, message_id=f"<msg{number}@acme-law.com>",
                       **extra)  # type: ignore[arg-type]


def an_archive(root: Path) -> Path:
    """A firm's export: a folder of .eml and .msg files, a sub-folder with an mbox, a few broken things."""
    folder = root / "export"
    (folder / "2025").mkdir(parents=True)
    for n in range(3):
        (folder / f"m{n}.eml").write_bytes(mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject=f"Mail {n}",
                                                message_id=f"<eml{n}@acme-law.com>"))
    (folder / "sent.msg").write_bytes(sent_item(1, attachments=[PDF], html="<p>Body of <b>item 1</b></p>"))
    headers = ("Received: from mx.clientco.com by mx.acme-law.com; Mon, 9 Mar 2026 14:31:00 +0000\r\n"
               "From: Bob Baker <bob@acme-law.com>\r\nTo: alice@acme-law.com\r\nCc: notes@bcc.example.com\r\n"
               "Subject: Re: Outlook item 1\r\nDate: Mon, 9 Mar 2026 14:31:00 +0000\r\n"
               "Message-ID: <reply1@acme-law.com>\r\nIn-Reply-To: <msg1@acme-law.com>\r\n"
               "MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n\tboundary=\"xyz\"\r\n")
    (folder / "received.msg").write_bytes(outlook_msg(
        subject="Re: Outlook item 1", sender=("Bob Baker", "bob@acme-law.com"),
        recipients=[("Alice", "alice@acme-law.com", 1)], body="Thanks, Alice.\n", sent=SENT,
        message_id="<reply1@acme-law.com>", transport_headers=headers))
    (folder / "broken.msg").write_bytes(b"this is not an OLE file" * 100)
    stranger = mail("Zed <zed@stranger.example>", ["carol@clientco.com"], bcc=[MATTER], subject="Spam",
                    message_id="<zed@stranger.example>")
    other_company = mail(ALICE, ["carol@clientco.com"], bcc=["globex+1@bcc.example.com"], subject="Elsewhere",
                         message_id="<other@acme-law.com>")
    quoted = mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject="Quoting",
                  body="From the minutes:\nFrom here on, we agree.\n", message_id="<quoted@acme-law.com>")
    (folder / "2025" / "Inbox.mbox").write_bytes(mbox([stranger, quoted, other_company]))
    return folder


def test_an_archive_is_filed_once_with_a_summary_of_every_message(world: World, settings: Settings,
                                                                   tmp_path: Path) -> None:
    folder = an_archive(tmp_path)
    summary = import_archive(world.engine, settings, "acme", [folder, tmp_path / "missing"])
    assert summary.messages == 9
    assert summary.tally == {"logged/addressed": 5, "unassigned/no_matching_contact": 1,
                             "refused/unauthorized_sender": 1, "refused/unknown_address": 1,
                             "unreadable/unparseable": 1, "unreadable/no_such_path": 1}
    assert {Path(which).name for which, _ in summary.unreadable} == {"broken.msg", "missing"}
    sent = db.logged(world.engine, "<msg1@acme-law.com>")
    assert sent is not None and sent.filed_under == {"matter:10802"}  # the Bcc only a sent item shows
    assert [a.name for a in sent.attachments] == ["brief.pdf"]
    assert ("carol@clientco.com", "to", "contact") in sent.participants
    quoted = db.logged(world.engine, "<quoted@acme-law.com>")
    assert quoted is not None and "From the minutes:\nFrom here on" in quoted.activity.text
    kept = db.unassigned(world.engine)[0]  # the received item: its transport headers say notes@, no contact on it
    assert (kept.internet_message_id, kept.from_email) == ("<reply1@acme-law.com>", "bob@acme-law.com")
    again = import_archive(world.engine, settings, "acme", [folder])
    assert (again.messages, sorted(again.already_imported)) == (0, sorted(str(p) for p in (folder, folder / "2025"
                                                                                           / "Inbox.mbox")))
    assert sum(again.earlier.values()) == 9


def test_an_interrupted_import_resumes_after_its_last_batch_and_files_nothing_twice(
        world: World, settings: Settings, tmp_path: Path) -> None:
    raws = [mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject=f"Item {n}", message_id=f"<i{n}@acme-law.com>")
            for n in range(7)]
    (tmp_path / "big.mbox").write_bytes(mbox(raws))

    class Interrupt:
        def __init__(self) -> None:
            self.batches = 0

        def start(self, total_bytes: int, done_bytes: int) -> None:
            self.started = (total_bytes, done_bytes)

        def advance(self, messages: int, size: int) -> None:
            self.batches += 1
            if self.batches == 2:
                raise KeyboardInterrupt  # Ctrl-C after the second batch committed

    first = Interrupt()
    with pytest.raises(KeyboardInterrupt):
        import_archive(world.engine, settings, "acme", [tmp_path / "big.mbox"], batch=3, progress=first)
    with Session(world.engine) as session:
        mark = session.exec(select(ImportCheckpoint)).one()
        assert (mark.messages, mark.finished_at) == (6, None)
    second = Interrupt()
    summary = import_archive(world.engine, settings, "acme", [tmp_path / "big.mbox"], batch=3, progress=second)
    assert second.started[1] == int(mark.position) and summary.resumed == [str(tmp_path / "big.mbox")]
    assert (summary.messages, dict(summary.tally), dict(summary.earlier)) == (1, {"logged/addressed": 1},
                                                                             {"logged/addressed": 6})
    with Session(world.engine) as session:
        assert len(session.exec(select(Activity)).all()) == 7
        audited = [a.internet_message_id for a in session.exec(select(AuditEntry)) if a.internet_message_id]
    assert sorted(audited) == sorted(f"<i{n}@acme-law.com>" for n in range(7))  # each message decided once


def test_read_as_a_users_mailbox_and_only_for_the_company_named(world: World, settings: Settings,
                                                                tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject="Mine",
                                          message_id="<mine@acme-law.com>"))
    summary = import_archive(world.engine, settings, "acme", [tmp_path], mailbox="Alice@acme-law.com")
    assert summary.tally == {"logged/addressed": 1}
    found = db.logged(world.engine, "<mine@acme-law.com>")
    assert found is not None and found.sources == {("file", "alice@acme-law.com")}
    with pytest.raises(Exception, match="not a user of acme"):
        import_archive(world.engine, settings, "acme", [tmp_path], mailbox="nobody@acme-law.com")
    other = build_other_company(world.engine)
    summary = import_archive(world.engine, settings, other, [tmp_path], again=True)
    assert summary.tally == {"refused/other_company": 1}


def build_other_company(engine: Engine) -> str:
    from connector.db import transaction
    from connector.services import tenants

    with transaction(engine) as session:
        tenants.create_tenant(session, "Globex", "globex", domain="globex.com")
    return "globex"


def test_the_import_command_shows_the_summary_and_json(world: World, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from connector.app.cli import app

    folder = an_archive(tmp_path)
    monkeypatch.setenv("BCC_CAPTURE_DATABASE__URL", world.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["import", str(folder), "--tenant", "acme"])
        assert result.exit_code == 0, result.output
        assert "logged" in result.output and "addressed 5" in result.output and "broken.msg" in result.output
        again = CliRunner().invoke(app, ["import", str(folder), "--tenant", "acme", "--again", "--json"])
        assert again.exit_code == 0, again.output
        report = json.loads(again.output)
        assert report["tally"]["logged/duplicate"] == 5 and report["messages"] == 9
        missing = CliRunner().invoke(app, ["import", str(folder), "--tenant", "nope"])
        assert missing.exit_code == 1 and "no company 'nope'" in missing.output
    finally:
        get_settings.cache_clear()


# ------------------------------------------------------------------------------------------- mbox
bodies = st.lists(st.sampled_from(["From here on.", ">From a quote.", "Hello", "", ">>From deeper", "From"]),
                  min_size=1, max_size=6).map("\n".join)


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(bodies, min_size=1, max_size=5), resume_after=st.integers(0, 5))
def test_an_mbox_gives_back_each_message_as_written_from_any_resume_point(tmp_path_factory: pytest.TempPathFactory,
                                                                          texts: list[str], resume_after: int) -> None:
    raws = [(f"Subject: n{n}\nMessage-ID: <n{n}@x>\n\nBody:\n{text}".rstrip("\n") + "\n").encode()
            for n, text in enumerate(texts)]
    path = tmp_path_factory.mktemp("mbox") / "a.mbox"
    path.write_bytes(mbox(raws))
    source = archive_sources.Source(path, "mbox", path.stat().st_size)
    items = list(archive_sources.read(source, ""))
    assert [i.raw for i in items] == raws
    assert [i.label for i in items] == [f"{path}#{n + 1}" for n in range(len(raws))]
    assert sum(i.size for i in items) == path.stat().st_size
    cut = min(resume_after, len(items))
    rest = list(archive_sources.read(source, items[cut - 1].position if cut else ""))
    assert [(i.raw, i.label) for i in rest] == [(i.raw, i.label) for i in items[cut:]]


def test_summary_counts_by_outcome() -> None:
    summary = Summary()
    summary.tally.update({"logged/addressed": 2, "logged/thread": 1, "refused/unknown_address": 4})
    assert (summary.count("logged"), summary.count("refused"), summary.count("unassigned")) == (3, 4, 0)


def test_a_long_import_keeps_postgresqls_table_statistics_current(
        world: World, settings: Settings, tmp_path: Path, refresh_planner_after: Callable[[int], None]) -> None:
    """Where autovacuum is off or behind, PostgreSQL would plan every batch's look-ups for the near-empty tables
    the import started with (a look-up by Message-ID then reads every e-mail): the import refreshes them."""
    if world.engine.dialect.name != "postgresql":
        pytest.skip("SQLite plans these look-ups from its indexes alone")
    refresh_planner_after(5)
    raws = [mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject=f"Item {n}", message_id=f"<s{n}@acme-law.com>")
            for n in range(12)]
    (tmp_path / "long.mbox").write_bytes(mbox(raws))
    summary = import_archive(world.engine, settings, "acme", [tmp_path / "long.mbox"], batch=3)
    assert summary.tally == {"logged/addressed": 12}
    with world.engine.connect() as connection:
        assert planned_rows(connection, "activity") == 12  # the planner knows the twelve e-mails the last batch left
