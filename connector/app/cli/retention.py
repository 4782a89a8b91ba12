"""`bcc-capture retention`, `hold`, `erase` and `record close`: how long mail is kept, legal holds that stop
disposal, unlogging and erasure, and the erasure of a person (GDPR art. 17). Every change is audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from connector.app.cli.common import JsonOpt, TenantOpt, app, company, console, fails_cleanly, record_app, session

retention_app = typer.Typer(help="How long mail is kept: rules per record kind, the disposal and its register.",
                            no_args_is_help=True)
rule_app = typer.Typer(help="Retention rules, one per record kind.", no_args_is_help=True)
hold_app = typer.Typer(help="Legal holds: a held record's mail is neither disposed of, unlogged nor erased.",
                       no_args_is_help=True)
erase_app = typer.Typer(help="Erasure of a person (GDPR art. 17).", no_args_is_help=True)
app.add_typer(retention_app, name="retention")
retention_app.add_typer(rule_app, name="rule")
app.add_typer(hold_app, name="hold")
app.add_typer(erase_app, name="erase")
By = Annotated[str, typer.Option("--by", help="Who is acting (kept in the audit).")]
Kind = Annotated[str, typer.Argument(help="Record kind: matter, project, contact, lead, case …")]
Key = Annotated[str, typer.Argument(help="The record's number (matter, project, case …) or address (contact, lead).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Say what would happen; change nothing.")]


@rule_app.command("add")
@fails_cleanly
def rule_add(kind: Kind, years: int = 0, days: int = 0,
             trigger: Annotated[str, typer.Option(help="after_close | after_last_activity")] = "after_close",
             by: By = "cli", tenant: TenantOpt = None) -> None:
    """Keep mail filed under records of KIND this long (replaces the kind's rule)."""
    from connector.services import retention

    with session() as db:
        rule = retention.set_rule(db, company(db, tenant), kind, years=years, days=days, trigger=trigger, by=by)
        console.print(f"retention rule: {retention.describe(rule)}")


@rule_app.command("remove")
@fails_cleanly
def rule_remove(kind: Kind, by: By = "cli", tenant: TenantOpt = None) -> None:
    """Keep mail filed under records of KIND for ever again."""
    from connector.services import retention

    with session() as db:
        retention.remove_rule(db, company(db, tenant), kind, by=by)
    console.print(f"no retention rule for {kind} any more")


@rule_app.command("list")
@fails_cleanly
def rule_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    from connector import render
    from connector.services import retention

    with session() as db:
        rows = [{"kind": r.kind, "years": r.years, "days": r.days, "trigger": r.trigger, "rule": retention.describe(r)}
                for r in retention.rules(db, company(db, tenant))]
    if as_json:
        typer.echo(render.as_json(rows))
    for row in [] if as_json else rows:
        console.print(row["rule"])
    if not rows and not as_json:
        console.print("no retention rules: mail is kept for ever")


@retention_app.command("run")
@fails_cleanly
def retention_run(dry_run: DryRun = False, tenant: TenantOpt = None) -> None:
    """Dispose of what is due now (the worker does it daily): bodies, attachments, original MIME."""
    from connector.services import retention

    with session() as db:
        report = retention.run(db, company(db, tenant), datetime.now(UTC), dry_run=dry_run, by="cli")
    verb = "would dispose of" if dry_run else "disposed of"
    console.print(f"{verb} {len(report.due)} messages; {len(report.held)} kept by a legal hold")
    for item in report.due:
        console.print(f"  {item.internet_message_id}  {retention.describe(item.rule)}")


@retention_app.command("register")
@fails_cleanly
def retention_register(tenant: TenantOpt = None, limit: int = 200, as_json: JsonOpt = False) -> None:
    """What was disposed of, when, under which rule (never the content)."""
    from connector import render
    from connector.services import retention

    with session() as db:
        rows = [{"at": r.disposed_at, "message_id": r.internet_message_id, "rule": r.rule, "disposed": r.disposed,
                 "by": r.disposed_by} for r in retention.register(db, company(db, tenant), limit)]
    if as_json:
        typer.echo(render.as_json(rows))
        return
    for row in rows:
        console.print(f"{render.when(row['at'])}  {row['message_id']}  {row['rule']}  ({', '.join(row['disposed'])})")


@record_app.command("close")
@fails_cleanly
def record_close(kind: Kind, key: Key, on: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: now)")] = None,
                 reopen: bool = False, tenant: TenantOpt = None) -> None:
    """Close a record (retention 'after close' counts from then), or --reopen it."""
    from connector.services import holds, retention

    when = None if reopen else (datetime.strptime(on, "%Y-%m-%d").replace(tzinfo=UTC) if on else datetime.now(UTC))
    with session() as db:
        tenant_row = company(db, tenant)
        record = retention.close(db, tenant_row, holds.record_named(db, tenant_row, kind, key), when, by="cli")
    console.print(f"{record.label}: {'closed ' + when.date().isoformat() if when else 'open again'}")


@hold_app.command("place")
@fails_cleanly
def hold_place(kind: Kind, key: Key, reason: Annotated[str, typer.Option(help="Why: the case, the request.")],
               by: By = "cli", tenant: TenantOpt = None) -> None:
    from connector.services import holds

    with session() as db:
        tenant_row = company(db, tenant)
        record = holds.record_named(db, tenant_row, kind, key)
        hold = holds.place(db, tenant_row, record, reason, by)
        console.print(f"legal hold {hold.id} on {record.kind} {record.label}")


@hold_app.command("release")
@fails_cleanly
def hold_release(hold_id: int, by: By = "cli", tenant: TenantOpt = None) -> None:
    from connector.services import holds

    with session() as db:
        holds.release(db, company(db, tenant), hold_id, by)
    console.print(f"legal hold {hold_id} released")


@hold_app.command("list")
@fails_cleanly
def hold_list(all_holds: Annotated[bool, typer.Option("--all", help="Released holds too.")] = False,
              tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    from connector import render
    from connector.services import holds

    with session() as db:
        rows = [{"id": h.id, "record": f"{r.kind} {r.label}", "reason": h.reason, "placed_by": h.placed_by,
                 "placed_at": h.placed_at, "released_at": h.released_at}
                for h, r in holds.holds(db, company(db, tenant), active_only=not all_holds)]
    if as_json:
        typer.echo(render.as_json(rows))
        return
    for row in rows:
        released = f", released {render.when(row['released_at'])}" if row["released_at"] else ""
        console.print(f"{row['id']}  {row['record']}  {row['reason']}  ({row['placed_by']}{released})")
    if not rows:
        console.print("no legal holds")


@erase_app.command("person")
@fails_cleanly
def erase_person(address: str, name: Annotated[list[str] | None, typer.Option(
                     "--name", help="Another name the person went by (their records' and display names are found).")
                 ] = None, dry_run: DryRun = False, by: By = "cli", tenant: TenantOpt = None,
                 as_json: JsonOpt = False) -> None:
    """Remove or pseudonymise everything that identifies ADDRESS; mail under a legal hold is kept and reported."""
    from connector import render
    from connector.services.erasure import erase_person as erase

    with session() as db:
        report = erase(db, company(db, tenant), address, names=name or (), by=by, dry_run=dry_run)
    if as_json:
        typer.echo(render.as_json(report.summary()))
        return
    for line in report.lines():
        console.print(line)
