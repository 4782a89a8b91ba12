"""`bcc-capture webhook`: where the company's events go (docs/integration.md): add an endpoint (its signing
secret printed once), list them, read the delivery log, redeliver an event."""

from __future__ import annotations

from typing import Annotated

import typer

from connector.app.cli.common import JsonOpt, TenantOpt, app, company, console, fails_cleanly, session, settings

webhook_app = typer.Typer(help="Event webhooks to the host system: add, list, log, redeliver.", no_args_is_help=True)
app.add_typer(webhook_app, name="webhook")


@webhook_app.command("add")
@fails_cleanly
def webhook_add(url: str, tenant: TenantOpt = None,
                event: Annotated[list[str] | None, typer.Option("--event", "-e", help="An event type (repeat); "
                                                                                    "none: every type.")] = None,
                description: str = "") -> None:
    """Send the company's events to URL; prints the signing secret (shown only now)."""
    from connector.crypto import TokenCipher
    from connector.services import event_webhooks

    with session() as db:
        endpoint, secret = event_webhooks.add_endpoint(db, company(db, tenant), url, settings(),
                                                       TokenCipher.from_settings(settings()), types=event or [],
                                                       description=description, by="cli")
    typer.echo(f"webhook {endpoint.id}: {endpoint.url} ({', '.join(endpoint.event_types) or 'every event'})")
    typer.echo(f"signing secret (shown only now): {secret}")


@webhook_app.command("list")
@fails_cleanly
def webhook_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """The company's endpoints."""
    from connector import render
    from connector.services import event_webhooks

    with session() as db:
        rows = [{"id": e.id, "url": e.url, "events": e.event_types or ["*"], "active": e.active,
                 "description": e.description} for e in event_webhooks.list_endpoints(db, company(db, tenant))]
    if as_json:
        typer.echo(render.as_json(rows))
        return
    for row in rows:
        state = "" if row["active"] else "  (disabled)"
        console.print(f"{row['id']}  {row['url']}  {', '.join(row['events'])}{state}")


@webhook_app.command("log")
@fails_cleanly
def webhook_log(tenant: TenantOpt = None, endpoint: int | None = None, limit: int = 50,
                as_json: JsonOpt = False) -> None:
    """Deliveries, newest first: status, attempts, the last answer."""
    from connector import render
    from connector.services import event_webhooks

    with session() as db:
        rows = [{"id": r.delivery.id, "event_id": r.delivery.event_id, "type": r.event.type, "url": r.url,
                 "status": r.delivery.status, "attempts": r.delivery.attempts,
                 "response_code": r.delivery.response_code, "last_error": r.delivery.last_error}
                for r in event_webhooks.delivery_log(db, company(db, tenant), endpoint, limit)]
    if as_json:
        typer.echo(render.as_json(rows))
        return
    for row in rows:
        answer = f"HTTP {row['response_code']}" if row["response_code"] else row["last_error"]
        console.print(f"{row['id']}  {row['type']}  {row['event_id']}  {row['status']} after {row['attempts']} "
                      f"attempt(s)  {answer}  → {row['url']}")


@webhook_app.command("redeliver")
@fails_cleanly
def webhook_redeliver(delivery_id: int, tenant: TenantOpt = None) -> None:
    """Send a delivery's event again (same webhook-id) at the worker's next round."""
    from connector.db import utcnow
    from connector.services import event_webhooks

    with session() as db:
        delivery = event_webhooks.redeliver(db, company(db, tenant), delivery_id, utcnow(), by="cli")
    typer.echo(f"delivery {delivery_id}: event {delivery.event_id} queued again")
