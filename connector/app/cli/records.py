"""Records: export a matter's or a contact's mail, verify the audit chain.

`audit` becomes a group so `bcc-capture audit verify` sits beside the listing; `bcc-capture audit` with its
options still lists, through the command mail.py defines.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from connector.app.cli import mail
from connector.app.cli.common import JsonOpt, TenantOpt, app, company, console, engine, fails_cleanly, session
from connector.errors import InputError

app.registered_commands[:] = [c for c in app.registered_commands if c.name != "audit"]
audit_app = typer.Typer(help="Every decision (logged, duplicate, unassigned, refused), and the chain that seals it.")
app.add_typer(audit_app, name="audit")


@audit_app.callback(invoke_without_command=True)
def audit(ctx: typer.Context, tenant: TenantOpt = None, action: str | None = None, as_json: JsonOpt = False,
          message: mail.MessageOpt = None) -> None:
    """Every decision: logged, duplicate, unassigned, refused (with its reason)."""
    if ctx.invoked_subcommand is None:
        mail.audit(tenant, action, as_json, message)


@audit_app.command("verify")
@fails_cleanly
def verify(tenant: TenantOpt = None) -> None:
    """Prove the audit chain unbroken (each company's, and the company-less one), or name the first altered entry."""
    from connector.models.audit import chains
    from connector.models.audit import verify as check

    with engine().connect() as connection:
        wanted = chains(connection)
        if tenant:
            with session() as db:
                wanted = [company(db, tenant).id]
        reports = [check(connection, chain) for chain in wanted]
    for report in reports:
        name = f"company {report.tenant_id}" if report.tenant_id is not None else "without a company"
        if report.ok:
            pending = f", {report.pending} not sealed yet" if report.pending else ""
            console.print(f"audit chain {name}: {report.entries} entries unbroken{pending}; head {report.head}")
        else:
            console.print(f"audit chain {name}: BROKEN at entry {report.broken_at}: {report.problem} "
                          f"(the {report.entries - 1} entries before it are intact)")
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InputError(f"{option} takes a date as YYYY-MM-DD, not {value!r}") from None


@app.command("export")
@fails_cleanly
def export(out: Annotated[Path, typer.Option("--out", help="The zip file to write.")],
           matter: Annotated[str | None, typer.Option("--matter", help="Matter number.")] = None,
           contact: Annotated[str | None, typer.Option("--contact", help="A contact's address.")] = None,
           since: Annotated[str | None, typer.Option("--since", help="From this day (YYYY-MM-DD).")] = None,
           until: Annotated[str | None, typer.Option("--until", help="Up to this day, included.")] = None,
           as_user: Annotated[str | None, typer.Option("--as", help="Only what this user may see (ethical walls, "
                                                       "visibility); default: everything.")] = None,
           tenant: TenantOpt = None) -> None:
    """Original .eml of every message, attachments beside them, a CSV and JSON manifest with SHA-256s."""
    from connector.services import users
    from connector.services.export import Scope
    from connector.services.export import export as write
    from connector.services.visibility import reader_for

    scope = Scope(matter=matter, contact=contact, since=_day(since, "--since"), until=_day(until, "--until"))
    partial = out.with_name(out.name + ".part")  # never a half-written zip under the name asked for
    with session() as db, partial.open("wb") as stream:
        firm = company(db, tenant)
        reader = reader_for(db, users.get_user(db, as_user, firm) if as_user else None)
        result = write(db, firm, scope, stream, by=f"cli as {as_user}" if as_user else "cli", reader=reader)
    partial.replace(out)
    console.print(f"{out}: {result.messages} messages, {result.files} files")
    if result.without_raw:
        console.print(f"{len(result.without_raw)} messages were kept without their original MIME (header-only or "
                      "filed before raw messages were kept): listed in the manifest without a .eml")
