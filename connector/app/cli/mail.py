"""Mail by hand and what became of it: ingest files, the Communications tab, the unassigned list, the audit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from connector.app.cli.common import (
    JsonOpt,
    TenantOpt,
    app,
    company,
    console,
    engine,
    fails_cleanly,
    session,
    settings,
    unassigned_app,
)
from connector.errors import InputError, MimeError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from connector.config import Settings
    from connector.mail.envelope import Envelope
    from connector.models import Record, Tenant

MessageOpt = Annotated[str | None, typer.Option(
    "--message", help="Only what concerns one e-mail (its Message-ID): what became of it, who read it.")]


# --------------------------------------------------------------------------------------------- ingest
def _read_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    import mailbox

    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        for child in sorted(path.glob("*.eml")):
            yield str(child), child.read_bytes()
        return
    if path.suffix.lower() in (".mbox", ".mbx") or path.read_bytes()[:5] == b"From ":
        for index, message in enumerate(mailbox.mbox(path)):
            yield f"{path}#{index + 1}", message.as_bytes()
        return
    yield str(path), path.read_bytes()


def ingest_files(paths: list[Path], mailbox_owner: str | None, engine: Engine,
                 settings: Settings) -> list[dict[str, Any]]:
    import dataclasses

    from connector.mail.envelope import Source
    from connector.mail.mime import parse
    from connector.services.capture import Capture

    source = Source.FILE if mailbox_owner else Source.SMTP
    envelopes: list[tuple[str, Envelope]] = []
    report: list[dict[str, Any]] = []
    for path in paths:
        try:  # one unreadable file is reported, and the others are still read
            for label, raw in _read_messages(path):
                try:
                    envelopes.append((label, parse(raw, source=source, mailbox=(mailbox_owner or "").lower())))
                except MimeError as exc:
                    report.append({"message": label, "outcome": "unreadable", "reason": str(exc)})
        except (InputError, OSError) as exc:
            report.append({"message": str(path), "outcome": "unreadable", "reason": str(exc)})
    results = Capture(engine, settings).process_all(e for _, e in envelopes)
    for (label, envelope), (_, applied) in zip(envelopes, results, strict=True):
        report.append({"message": label, "internet_message_id": envelope.internet_message_id,
                       **{k: str(v) if v is not None else None for k, v in dataclasses.asdict(applied).items()}})
    return report


@app.command("ingest")
@fails_cleanly
def ingest(paths: list[Path],
           mailbox_owner: Annotated[str | None, typer.Option(
               "--mailbox", help="Read as if from this user's connected mailbox (else: as sent to the dropbox).")]
           = None,
           as_json: JsonOpt = False) -> None:
    """Capture .eml files, directories of them or mbox files; print what happened to each."""
    from rich.text import Text

    from connector import render
    from connector.render import clean

    report = ingest_files(paths, mailbox_owner, engine(), settings())
    if as_json:
        typer.echo(render.as_json(report))
        return
    for row in report:
        colour = {"logged": "green", "unassigned": "yellow", "refused": "red", "ignored": "white"}.get(
            str(row["outcome"]), "red")
        line = f"{row['outcome']:>10} {row['reason']:<22} {clean(str(row['message']))}"
        console.print(Text(line, style=colour))


# --------------------------------------------------------------------------------------------- import
class _Bar:
    """The archive import's progress on stderr: messages, their rate and the time left (by bytes read)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("importing"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                 TextColumn("{task.fields[messages]:,} messages"),
                                 TextColumn("{task.fields[rate]:,.0f} msg/s"), TimeElapsedColumn(),
                                 TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True))
        self.task = self.progress.add_task("import", total=None, messages=0, rate=0.0)
        self.messages = 0

    def start(self, total_bytes: int, done_bytes: int) -> None:
        import time

        self.started = time.monotonic()
        self.progress.update(self.task, total=max(total_bytes, 1), completed=done_bytes)
        self.progress.start()

    def advance(self, messages: int, size: int) -> None:
        import time

        self.messages += messages
        rate = self.messages / max(time.monotonic() - self.started, 1e-6)
        self.progress.update(self.task, advance=size, messages=self.messages, rate=rate)


def _print_summary(summary: Any) -> None:
    from rich.text import Text

    from connector.render import clean

    for outcome, colour in (("logged", "green"), ("unassigned", "yellow"), ("refused", "red"), ("ignored", "white"),
                            ("unreadable", "red")):
        reasons = {k.partition("/")[2]: n for k, n in sorted(summary.tally.items()) if k.startswith(f"{outcome}/")}
        if reasons:
            detail = ", ".join(f"{reason} {n:,}" for reason, n in reasons.items())
            console.print(Text(f"{outcome:>10} {sum(reasons.values()):>8,}  ({detail})", style=colour))
    for which, why in summary.unreadable:
        console.print(Text(f"  unreadable: {clean(which)}: {clean(why)}", style="red"))
    if summary.earlier:
        console.print(f"earlier runs of this import: {sum(summary.earlier.values()):,} messages")
    for path in summary.resumed:
        console.print(Text(f"resumed after an interruption: {clean(path)}"))
    for path in summary.already_imported:
        console.print(Text(f"already imported (use --again to read it again): {clean(path)}"))


@app.command("import")
@fails_cleanly
def import_archive(paths: list[Path],
                   tenant: Annotated[str, typer.Option("--tenant", "-t", help="The company to file the archive for.")],
                   mailbox_owner: Annotated[str | None, typer.Option(
                       "--mailbox", help="Read as this user's mailbox (else: as mail sent to the dropbox).")] = None,
                   again: Annotated[bool, typer.Option(
                       "--again", help="Forget earlier runs' checkpoints of these paths and read them again.")] = False,
                   as_json: JsonOpt = False) -> None:
    """Import an archive: folders of .eml and .msg files, mbox files. Resumable: run it again after an interruption."""
    from connector import render
    from connector.services.archive import import_archive as run

    bar = None if as_json else _Bar()
    try:
        summary = run(engine(), settings(), tenant, paths, mailbox_owner, again=again, progress=bar)
    finally:
        if bar is not None:
            bar.progress.stop()
    if as_json:
        typer.echo(render.as_json(summary.as_dict()))
    else:
        _print_summary(summary)


# --------------------------------------------------------------------------------------------- views
def _record_for(db: Session, tenant: Tenant, matter: str | None, project: str | None,
                contact: str | None) -> Record | None:
    from connector.models import RecordKind
    from connector.services import records

    if matter:
        found = records.find_record(db, tenant, RecordKind.MATTER, matter)
        if found is None:
            raise InputError(f"no matter {matter}")
        return found
    if project:
        found = records.find_record(db, tenant, RecordKind.PROJECT, project)
        if found is None:
            raise InputError(f"no project {project}")
        return found
    return records.person(db, tenant, contact) if contact else None


@app.command("log")
@fails_cleanly
def log(tenant: TenantOpt = None, matter: str | None = None, project: str | None = None,
        contact: str | None = None, as_json: JsonOpt = False) -> None:
    """The Communications tab: threads (newest first) and their messages."""
    import dataclasses

    from connector import render
    from connector.services import access_log, views
    from connector.services.communications import shown

    with session() as db:
        firm = company(db, tenant)
        record = _record_for(db, firm, matter, project, contact)
        threads = views.communications(db, firm, record)
        access_log.viewed(db, firm.id, "cli", shown(threads), "cli", record_id=record.id if record else None)
    title = f"{record.kind} {record.label}" if record else f"{firm.name}: all logged e-mail"
    if as_json:
        typer.echo(render.as_json([dataclasses.asdict(t) for t in threads]))
    else:
        render.communications(console, title, threads)


@unassigned_app.callback()
@fails_cleanly
def unassigned_list(ctx: typer.Context, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List unassigned e-mails (or `unassigned link ID --contact ADDR…`)."""
    from connector import render
    from connector.services import views

    if ctx.invoked_subcommand:
        return
    with session() as db:
        rows = views.unassigned(db, company(db, tenant))
    if as_json:
        typer.echo(render.as_json([r.model_dump() for r in rows]))
    else:
        render.unassigned(console, rows)


@unassigned_app.command("link")
@fails_cleanly
def unassigned_link(unassigned_id: int, contact: Annotated[list[str], typer.Option("--contact")],
                    tenant: TenantOpt = None) -> None:
    from connector.services import unassigned

    with session() as db:
        activity_id = unassigned.link(db, company(db, tenant), unassigned_id, contact, settings())
    typer.echo(f"unassigned e-mail {unassigned_id} logged as activity {activity_id} under {', '.join(contact)}")


@app.command("audit")
@fails_cleanly
def audit(tenant: TenantOpt = None, action: str | None = None, as_json: JsonOpt = False,
          message: MessageOpt = None) -> None:
    """Every decision: logged, duplicate, unassigned, refused (with its reason)."""
    from sqlmodel import select

    from connector import render
    from connector.models import Tenant
    from connector.services import views

    with session() as db:
        firm = db.exec(select(Tenant).where(Tenant.slug == tenant)).first() if tenant else None
        rows = views.audit(db, firm, action, message=message)
    if as_json:
        typer.echo(render.as_json([r.model_dump() for r in rows]))
    else:
        render.audit(console, rows)
