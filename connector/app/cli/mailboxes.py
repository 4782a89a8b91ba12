"""Connected mailboxes on request: `bcc-capture sync` asks for a sync now instead of at the next notification."""

from __future__ import annotations

import typer

from connector.app.cli.common import TenantOpt, app, fails_cleanly, session


@app.command("sync")
@fails_cleanly
def sync_now(addresses: list[str] = typer.Argument(None, help="Mailbox addresses (default: all of the company's)"),
             tenant: TenantOpt = None) -> None:
    """Sync now: the workers read the named mailboxes at once (a mailbox backing off after errors keeps its wait)."""
    from datetime import UTC, datetime

    from connector.services import mailboxes, tenants

    with session() as db:
        firm = tenants.get_tenant(db, tenant) if tenant else None
        rows = mailboxes.sync_now(db, firm.id if firm else None, addresses or [], datetime.now(UTC))
    for row in rows:
        typer.echo(f"{row.address}: {'sync requested' if row.status == 'syncing' else row.status}")
