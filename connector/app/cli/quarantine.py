"""`bcc-capture quarantine`: mail held back with its reason (a forged From, unreadable bytes), as the user it
claims to come from (or an administrator) sees it; release files it, delete drops its bytes. Both are audited."""

from __future__ import annotations

from typing import Annotated

import typer

from connector.app.cli.common import JsonOpt, app, fails_cleanly, session, settings

quarantine_app = typer.Typer(help="Mail held back with its reason: list, release, delete.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
AsUser = Annotated[str, typer.Option("--as", help="The user acting: the one the mail claims, or an administrator.")]


@quarantine_app.command("list")
@fails_cleanly
def quarantine_list(as_user: AsUser, as_json: JsonOpt = False) -> None:
    """What this user may see: mail in their name (an administrator: the company's)."""
    from rich.table import Table
    from rich.text import Text

    from connector import render
    from connector.app.cli.common import console
    from connector.services import quarantine, users

    with session() as db:
        rows = [(q.id, q.created_at, q.reason, q.from_email, q.subject, q.verdict)
                for q in quarantine.visible_to(db, users.get_user(db, as_user))]
    if as_json:
        typer.echo(render.as_json([dict(zip(("id", "at", "reason", "from", "subject", "verdict"), r, strict=True))
                                   for r in rows]))
        return
    table = Table(title="Quarantined e-mail", title_justify="left")
    for column in ("id", "when", "reason", "from", "subject"):
        table.add_column(column)
    for item_id, at, reason, sender, subject, _ in rows:
        table.add_row(str(item_id), render.when(at), reason, Text(render.clean(sender)), Text(render.clean(subject)))
    console.print(table)


@quarantine_app.command("release")
@fails_cleanly
def quarantine_release(item_id: int, as_user: AsUser) -> None:
    """File it as if it had authenticated: the person it claims to come from (or an administrator) vouches."""
    from connector.services import quarantine, users

    with session() as db:
        applied = quarantine.release(db, users.get_user(db, as_user), item_id, settings())
    typer.echo(f"quarantined message {item_id} released: {applied.outcome.value} ({applied.reason.value})")


@quarantine_app.command("delete")
@fails_cleanly
def quarantine_delete(item_id: int, as_user: AsUser) -> None:
    """Drop its bytes; the row stays as the receipt the audit points at."""
    from connector.services import quarantine, users

    with session() as db:
        quarantine.delete(db, users.get_user(db, as_user), item_id)
    typer.echo(f"quarantined message {item_id} deleted")
