"""`bcc-capture wall add|remove|list` (ethical walls) and `bcc-capture visibility policy|set` (who sees logged
mail). Each change is audited as the console's are; docs/records.md explains both to an administrator."""

from __future__ import annotations

from typing import Annotated

import typer

from connector.app.cli.common import JsonOpt, TenantOpt, app, company, console, fails_cleanly, session

wall_app = typer.Typer(help="Ethical walls: keep a user away from a matter, project or contact.",
                       no_args_is_help=True)
visibility_app = typer.Typer(help="Who sees logged mail: the company's policy, one e-mail's own.",
                             no_args_is_help=True)
app.add_typer(wall_app, name="wall")
app.add_typer(visibility_app, name="visibility")
By = Annotated[str, typer.Option("--by", help="Who makes the change, for the audit.")]


@wall_app.command("add")
@fails_cleanly
def wall_add(record: Annotated[str, typer.Argument(help="matter:NUMBER, project:NUMBER, contact:ADDRESS or #ID.")],
             user: Annotated[str, typer.Argument(help="The login of the user to wall off.")],
             reason: Annotated[str, typer.Option("--reason", help="Why (kept with the wall).")] = "",
             by: By = "cli", tenant: TenantOpt = None) -> None:
    """The user no longer sees the record or its mail anywhere; mail they send there is refused."""
    from connector.services import walls

    with session() as db:
        row = walls.add_wall(db, company(db, tenant), record, user, by=by, reason=reason)
        typer.echo(f"wall {row.wall.id}: {row.user.email} is walled from {row.record.kind} {row.record.label}")


@wall_app.command("remove")
@fails_cleanly
def wall_remove(wall_id: int, by: By = "cli", tenant: TenantOpt = None) -> None:
    from connector.services import walls

    with session() as db:
        row = walls.remove_wall(db, company(db, tenant), wall_id, by=by)
        typer.echo(f"wall {wall_id} removed: {row.user.email} sees {row.record.kind} {row.record.label} again")


@wall_app.command("list")
@fails_cleanly
def wall_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    from rich.table import Table

    from connector import render
    from connector.services import walls

    with session() as db:
        found = walls.list_walls(db, company(db, tenant))
    if as_json:
        typer.echo(render.as_json([{"id": w.wall.id, "user": w.user.email, "record_id": w.record.id,
                                    "record": f"{w.record.kind} {w.record.label}", "reason": w.wall.reason,
                                    "by": w.wall.created_by, "at": w.wall.created_at} for w in found]))
        return
    table = Table(title="Ethical walls", title_justify="left")
    for column in ("id", "user", "walled from", "reason", "added"):
        table.add_column(column)
    for w in found:
        table.add_row(str(w.wall.id), w.user.email, render.clean(f"{w.record.kind} {w.record.label}"),
                      render.clean(w.wall.reason), f"{render.when(w.wall.created_at)} {w.wall.created_by}")
    console.print(table)


@visibility_app.command("policy")
@fails_cleanly
def policy(value: Annotated[str | None, typer.Argument(help="owner, team or company; none: show it.")] = None,
           by: By = "cli", tenant: TenantOpt = None) -> None:
    """The company's default for mail whose owner did not choose (applies to mail already logged too)."""
    from connector.services import visibility_policy
    from connector.services.visibility import company_visibility

    with session() as db:
        firm = company(db, tenant)
        chosen = (visibility_policy.set_company_visibility(db, firm, value, by) if value
                  else company_visibility(db, firm.id))
    typer.echo(f"{chosen.value}: mail is visible to {visibility_policy.DESCRIBED[chosen.value]} unless its owner chose")


@visibility_app.command("set")
@fails_cleanly
def set_one(activity_id: int,
            value: Annotated[str, typer.Argument(help="owner, team, company, or policy (the company's default).")],
            as_user: Annotated[str, typer.Option("--as", help="The e-mail's owner, or an administrator.")],
            tenant: TenantOpt = None) -> None:
    from connector.services import users, visibility_policy
    from connector.services.visibility import reader_for

    with session() as db:
        firm = company(db, tenant)
        reader = reader_for(db, users.get_user(db, as_user, firm))
        visibility_policy.set_activity_visibility(db, firm, activity_id, value, reader=reader, by=reader.email)
    typer.echo(f"e-mail {activity_id}: visible to {value}")
