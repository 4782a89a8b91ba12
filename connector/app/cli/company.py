"""Setting a company up: the schema, the key, companies, roles, users and their addresses, exclusions, records."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from connector.app.cli.common import (
    JsonOpt,
    TenantOpt,
    address_app,
    company,
    db_app,
    engine,
    exclude_app,
    fails_cleanly,
    record_app,
    role_app,
    secret_app,
    sender_app,
    session,
    settings,
    tenant_app,
    user_app,
)
from connector.errors import InputError

if TYPE_CHECKING:
    from connector.ports import Directory


# --------------------------------------------------------------------------------------------- db
@db_app.command("upgrade")
@fails_cleanly
def db_upgrade() -> None:
    """Create or migrate the schema to the version this code needs."""
    from connector.db import upgrade

    database = engine(check=False)
    upgrade(database)
    typer.echo(f"database {database.url.render_as_string(hide_password=True)} is up to date")


# --------------------------------------------------------------------------------------------- secrets
@secret_app.command("new")
@fails_cleanly
def secret_new() -> None:
    """Print a new token-encryption key (put it first in BCC_CAPTURE_SECRET_KEY, the old one after a comma)."""
    from connector.crypto import new_key

    typer.echo(new_key())


@secret_app.command("rotate")
@fails_cleanly
def secret_rotate() -> None:
    """Re-encrypt every stored token and message with the first key of BCC_CAPTURE_SECRET_KEY; then drop the old
    keys."""
    from connector.crypto import TokenCipher
    from connector.services import secrets
    from connector.storage.factory import reseal_all

    with session() as db:
        count = secrets.rotate(db, TokenCipher.from_settings(settings()))
        blobs = reseal_all(settings(), db)
    typer.echo(f"{count} stored token(s) and {blobs} stored message part(s) re-encrypted with the newest key; the "
               "older keys can now be removed")


# --------------------------------------------------------------------------------------------- tenants
@tenant_app.command("create")
@fails_cleanly
def tenant_create(name: str, slug: Annotated[str, typer.Option(help="Used in addresses: slug+10802@…")],
                  domain: Annotated[str | None, typer.Option(help="The company's mail domain to verify.")] = None,
                  timezone: str = "UTC") -> None:
    from connector.services import tenants

    with session() as db:
        tenant = tenants.create_tenant(db, name, slug, domain, timezone)
        typer.echo(f"company {tenant.name!r} created with slug {tenant.slug}")
        if domain:
            typer.echo(f"publish this TXT record on {tenant.domain}: {tenants.txt_record(tenant)}")


@tenant_app.command("verify")
@fails_cleanly
def tenant_verify(slug: str, nameserver: Annotated[list[str] | None, typer.Option()] = None,
                  port: int = 53) -> None:
    """Check the TXT record and mark the domain verified."""
    from connector.services import tenants
    from connector.services.dns_verify import DnsPythonResolver

    with session() as db:
        tenant = tenants.get_tenant(db, slug)
        tenants.verify_domain(db, tenant, DnsPythonResolver(nameserver, port))
        typer.echo(f"{tenant.domain} verified for {tenant.slug}")


@tenant_app.command("access")
@fails_cleanly
def tenant_access_cmd(slug: str, provider: Annotated[str, typer.Argument(help="graph | gmail")],
                      graph_tenant: Annotated[str | None, typer.Option(help="Microsoft 365 tenant id that consented")]
                      = None,
                      disable: Annotated[bool, typer.Option("--disable")] = False) -> None:
    """Record tenant-wide access (Microsoft admin consent / Google domain-wide delegation)."""
    from connector.crypto import TokenCipher
    from connector.services import tenant_access, tenants

    cipher = TokenCipher.from_settings(settings())
    with session() as db:
        tenant = tenants.get_tenant(db, slug)
        if provider == "graph":
            if disable:
                tenant.graph_tenant_id = None
                db.add(tenant)
                count = 0
            else:
                count = tenant_access.grant_graph(db, tenant, graph_tenant or "", cipher, _directory())
        elif provider == "gmail":
            count = tenant_access.set_gmail_domain_wide(db, tenant, not disable, cipher,
                                                        settings().gmail.service_account_file)
        else:
            raise InputError(f"tenant-wide access for graph or gmail, not {provider!r}")
    state = "off" if disable else f"on; {count} mailbox(es) connected"
    typer.echo(f"tenant-wide {provider} access for {slug}: {state}")


def _directory() -> Directory | None:
    """Microsoft's directory through the Graph adapter, when Microsoft is configured (asked by tenant access)."""
    import importlib

    from connector.app.assembly import PROVIDERS
    from connector.ports import Directory

    graph = settings().graph
    if not (graph.enabled and graph.client_id):
        return None
    found = importlib.import_module(PROVIDERS["graph"]).consent_flow(settings())
    return found if isinstance(found, Directory) else None


@tenant_app.command("enable")
@fails_cleanly
def tenant_enable(slug: str, disable: Annotated[bool, typer.Option("--disable")] = False) -> None:
    from connector.services import tenants

    with session() as db:
        tenants.set_enabled(db, tenants.get_tenant(db, slug), not disable)
        typer.echo(f"email capture {'disabled' if disable else 'enabled'} for {slug}")


# --------------------------------------------------------------------------------------------- roles
@role_app.command("grant")
@fails_cleanly
def role_grant(role: str, tenant: TenantOpt = None) -> None:
    from connector.services import tenants

    with session() as db:
        tenants.grant(db, tenants.get_role(db, company(db, tenant), role))
        typer.echo(f"role {role!r} may now use email capture")


@role_app.command("revoke")
@fails_cleanly
def role_revoke(role: str, tenant: TenantOpt = None) -> None:
    from connector.services import tenants

    with session() as db:
        tenants.revoke(db, tenants.get_role(db, company(db, tenant), role))
        typer.echo(f"role {role!r} may no longer use email capture")


# --------------------------------------------------------------------------------------------- users
@user_app.command("create")
@fails_cleanly
def user_create(email: str, tenant: TenantOpt = None, name: str = "", role: str = "Standard User",
                timezone: str = "UTC") -> None:
    from connector.services import users

    with session() as db:
        user = users.create_user(db, company(db, tenant), email, name, role, timezone)
        typer.echo(f"user {user.email} created; personal dropbox {users.dropbox_address(user, settings())}")


@user_app.command("role")
@fails_cleanly
def user_role(email: str, role: str) -> None:
    """Move a user to another role of their company (e.g. Administrator); their sessions end."""
    from connector.models import Tenant
    from connector.services import tenants, users

    with session() as db:
        user = users.get_user(db, email)
        firm = db.get(Tenant, user.tenant_id)
        assert firm is not None and user.id is not None
        _, found = users.set_role(db, firm, user.id, tenants.get_role(db, firm, role).id or 0)
    typer.echo(f"{user.email} now has the role {found.name}")


@user_app.command("enable")
@fails_cleanly
def user_enable(email: str) -> None:
    from connector.crypto import TokenCipher
    from connector.services import tenant_access, users

    cipher = TokenCipher.from_settings(settings())  # a bad key fails here, before anything is written
    with session() as db:
        user = users.get_user(db, email)
        users.set_capture(db, user, True)
        connected = [m.provider for m in tenant_access.connect_user(db, user, cipher, _directory())]
    typer.echo(f"email capture enabled for {email}")  # said once it is committed
    for provider in connected:
        typer.echo(f"{provider} mailbox connected through the company's tenant-wide access")


@user_app.command("disable")
@fails_cleanly
def user_disable(email: str) -> None:
    from connector.services import users

    with session() as db:
        users.set_capture(db, users.get_user(db, email), False)
        typer.echo(f"email capture disabled for {email}")


@user_app.command("pattern")
@fails_cleanly
def user_pattern(email: str, pattern: str, create_as: str | None = None) -> None:
    """Where a personal dropbox looks for people: contacts_only | leads_only | contacts_then_leads."""
    from connector.services import users

    with session() as db:
        try:
            users.set_search_pattern(db, users.get_user(db, email), pattern, create_as)
        except ValueError as exc:
            raise InputError(f"unknown pattern {pattern!r}") from exc
        typer.echo(f"search pattern of {email}: {pattern}")


@user_app.command("vcard")
@fails_cleanly
def user_vcard(email: str, out: Annotated[Path | None, typer.Option()] = None) -> None:
    from connector.services import users

    with session() as db:
        card = users.vcard(users.get_user(db, email), settings())
    if out:
        out.write_text(card, encoding="utf-8")
        typer.echo(f"vCard written to {out}")
    else:
        typer.echo(card, nl=False)


@address_app.command("show")
@fails_cleanly
def address_show(email: str) -> None:
    from connector.services import users

    with session() as db:
        user = users.get_user(db, email)
        typer.echo(f"personal: {users.dropbox_address(user, settings())}")
        for action, address in users.action_addresses(user, settings()).items():
            typer.echo(f"{action}: {address}")


@address_app.command("regenerate")
@fails_cleanly
def address_regenerate(email: str) -> None:
    from connector.services import users

    with session() as db:
        user = users.get_user(db, email)
        users.regenerate_address(db, user)
        typer.echo(f"new personal dropbox: {users.dropbox_address(user, settings())} (the old one is refused)")


@sender_app.command("add")
@fails_cleanly
def sender_add(email: str, address: str) -> None:
    from connector.services import users

    with session() as db:
        _, code = users.add_sender(db, users.get_user(db, email), address, settings())
    typer.echo(f"verification code for {address}: {code} (no mail transport is configured, so it is shown here)")


@sender_app.command("verify")
@fails_cleanly
def sender_verify(email: str, address: str, code: str) -> None:
    from connector.services import users

    with session() as db:
        users.verify_sender(db, users.get_user(db, email), address, code)
    typer.echo(f"{address} may now send to {email}'s dropbox addresses")


@sender_app.command("remove")
@fails_cleanly
def sender_remove(email: str, address: str) -> None:
    from connector.services import users

    with session() as db:
        users.remove_sender(db, users.get_user(db, email), address)
    typer.echo(f"{address} removed")


# --------------------------------------------------------------------------------------------- exclusions
@exclude_app.command("add")
@fails_cleanly
def exclude_add(pattern: str, tenant: TenantOpt = None, user: str | None = None) -> None:
    from connector.services import users

    with session() as db:
        owner = users.get_user(db, user) if user else None
        users.add_exclusion(db, company(db, tenant), pattern, owner)
    typer.echo(f"{pattern} will never be treated as a contact")


@exclude_app.command("remove")
@fails_cleanly
def exclude_remove(pattern: str, tenant: TenantOpt = None, user: str | None = None) -> None:
    from connector.services import users

    with session() as db:
        owner = users.get_user(db, user) if user else None
        users.remove_exclusion(db, company(db, tenant), pattern, owner)
    typer.echo(f"{pattern} removed from the exclusion list")


# --------------------------------------------------------------------------------------------- records
@record_app.command("create")
@fails_cleanly
def record_create(kind: str, tenant: TenantOpt = None, number: str | None = None, title: str = "",
                  email: str | None = None, name: str = "", customer: str | None = None) -> None:
    from connector.services import records

    with session() as db:
        record = records.create_record(db, company(db, tenant), kind, number=number, title=title,
                                       email=email, name=name, customer=customer)
        typer.echo(f"{record.kind} {record.label} created")


@record_app.command("list")
@fails_cleanly
def record_list(tenant: TenantOpt = None, kind: str | None = None, query: Annotated[str, typer.Option("--q")] = "",
                as_json: JsonOpt = False) -> None:
    """Records of one kind (or all) whose number, title, name or address contains --q."""
    from connector import render
    from connector.services import records

    with session() as db:
        found = records.find_records(db, company(db, tenant), kind, query)
        rows = [{"id": r.id, "kind": r.kind, "number": r.number, "label": r.label, "email": r.email} for r in found]
    if as_json:
        typer.echo(render.as_json(rows))
        return
    for row in rows:
        typer.echo(f"{row['id']:>6} {row['kind']:<12} {row['label']}")
