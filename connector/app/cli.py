"""The `bcc-capture` command. Every error prints one clear line and exits non-zero."""

from __future__ import annotations

import dataclasses
import functools
import mailbox
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from connector import render
from connector.config import Settings, get_settings
from connector.db import make_engine, require_migrated, transaction, upgrade
from connector.envelope import Envelope, Source
from connector.errors import ConnectorError, InputError, MimeError
from connector.mime import parse
from connector.models import Record, RecordKind, Tenant
from connector.services import mailboxes, records, tenant_access, tenants, unassigned, users, views
from connector.services.capture import Capture
from connector.services.dns_verify import DnsPythonResolver

app = typer.Typer(help="Email capture: Bcc dropbox addresses and thread following for Outlook and Gmail.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
secret_app = typer.Typer(help="The token-encryption key: make one, rotate to a new one.", no_args_is_help=True)
tenant_app = typer.Typer(help="Companies (level 1 of enablement).", no_args_is_help=True)
role_app = typer.Typer(help="Roles and the 'use email capture' permission (level 2).", no_args_is_help=True)
user_app = typer.Typer(help="Users (level 3), dropbox addresses, sender addresses.", no_args_is_help=True)
address_app = typer.Typer(help="A user's personal dropbox address.", no_args_is_help=True)
sender_app = typer.Typer(help="Authorized sender addresses (up to 5 besides the login).", no_args_is_help=True)
exclude_app = typer.Typer(help="Addresses and @domains never treated as contacts.", no_args_is_help=True)
record_app = typer.Typer(help="Matters, projects, customers, contacts, leads, cases, opportunities.",
                         no_args_is_help=True)
unassigned_app = typer.Typer(help="Mail that matched no contact (F12).", invoke_without_command=True)
for sub, name in ((db_app, "db"), (secret_app, "secret"), (tenant_app, "tenant"), (role_app, "role"),
                  (user_app, "user"), (exclude_app, "exclude"), (record_app, "record"), (unassigned_app, "unassigned")):
    app.add_typer(sub, name=name)
user_app.add_typer(address_app, name="address")
user_app.add_typer(sender_app, name="sender")

console = Console()
F = TypeVar("F", bound=Callable[..., Any])
TenantOpt = Annotated[str | None, typer.Option("--tenant", "-t", help="Company slug (default: the only one).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fails_cleanly(func: F) -> F:
    """Turn the connector's errors into one line on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConnectorError as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from None
        except DBAPIError as exc:  # the database is unreachable or refused the statement
            where = make_url(_settings().database.url).render_as_string(hide_password=True)
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            typer.secho(f"error: database {where}: {reason}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    return get_settings()


def _engine(check: bool = True) -> Engine:
    engine = make_engine(_settings().database.url)
    if check:
        require_migrated(engine)
    return engine


@contextmanager
def _session() -> Iterator[Session]:
    with transaction(_engine()) as session:
        yield session


def _tenant(session: Session, slug: str | None) -> Tenant:
    if slug:
        return tenants.get_tenant(session, slug)
    found = session.exec(select(Tenant).order_by(col(Tenant.id)).limit(2)).all()
    if len(found) != 1:
        raise InputError("name the company with --tenant SLUG" if found else "no company yet: `tenant create`")
    return found[0]


# --------------------------------------------------------------------------------------------- db
@db_app.command("upgrade")
@fails_cleanly
def db_upgrade() -> None:
    """Create or migrate the schema to the version this code needs."""
    engine = _engine(check=False)
    upgrade(engine)
    typer.echo(f"database {engine.url.render_as_string(hide_password=True)} is up to date")


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
    """Re-encrypt every stored token with the first key of BCC_CAPTURE_SECRET_KEY; then drop the old keys."""
    from connector.crypto import TokenCipher
    from connector.services import secrets

    with _session() as session:
        count = secrets.rotate(session, TokenCipher.from_settings(_settings()))
    typer.echo(f"{count} stored token(s) re-encrypted with the newest key; the older keys can now be removed")


# --------------------------------------------------------------------------------------------- tenants
@tenant_app.command("create")
@fails_cleanly
def tenant_create(name: str, slug: Annotated[str, typer.Option(help="Used in addresses: slug+10802@…")],
                  domain: Annotated[str | None, typer.Option(help="The company's mail domain to verify.")] = None,
                  timezone: str = "UTC") -> None:
    with _session() as session:
        tenant = tenants.create_tenant(session, name, slug, domain, timezone)
        typer.echo(f"company {tenant.name!r} created with slug {tenant.slug}")
        if domain:
            typer.echo(f"publish this TXT record on {tenant.domain}: {tenants.txt_record(tenant)}")


@tenant_app.command("verify")
@fails_cleanly
def tenant_verify(slug: str, nameserver: Annotated[list[str] | None, typer.Option()] = None,
                  port: int = 53) -> None:
    """Check the TXT record and mark the domain verified."""
    with _session() as session:
        tenant = tenants.get_tenant(session, slug)
        tenants.verify_domain(session, tenant, DnsPythonResolver(nameserver, port))
        typer.echo(f"{tenant.domain} verified for {tenant.slug}")


@tenant_app.command("access")
@fails_cleanly
def tenant_access_cmd(slug: str, provider: Annotated[str, typer.Argument(help="graph | gmail")],
                      graph_tenant: Annotated[str | None, typer.Option(help="Microsoft 365 tenant id that consented")]
                      = None,
                      disable: Annotated[bool, typer.Option("--disable")] = False) -> None:
    """Record tenant-wide access (Microsoft admin consent / Google domain-wide delegation)."""
    from connector.crypto import TokenCipher

    cipher = TokenCipher.from_settings(_settings())
    with _session() as session:
        tenant = tenants.get_tenant(session, slug)
        if provider == "graph":
            if disable:
                tenant.graph_tenant_id = None
                session.add(tenant)
                count = 0
            else:
                count = tenant_access.grant_graph(session, tenant, graph_tenant or "", cipher)
        elif provider == "gmail":
            count = tenant_access.set_gmail_domain_wide(session, tenant, not disable, cipher)
        else:
            raise InputError(f"tenant-wide access for graph or gmail, not {provider!r}")
    state = "off" if disable else f"on; {count} mailbox(es) connected"
    typer.echo(f"tenant-wide {provider} access for {slug}: {state}")


@tenant_app.command("enable")
@fails_cleanly
def tenant_enable(slug: str, disable: Annotated[bool, typer.Option("--disable")] = False) -> None:
    with _session() as session:
        tenants.set_enabled(session, tenants.get_tenant(session, slug), not disable)
        typer.echo(f"email capture {'disabled' if disable else 'enabled'} for {slug}")


# --------------------------------------------------------------------------------------------- roles
@role_app.command("grant")
@fails_cleanly
def role_grant(role: str, tenant: TenantOpt = None) -> None:
    with _session() as session:
        tenants.grant(session, tenants.get_role(session, _tenant(session, tenant), role))
        typer.echo(f"role {role!r} may now use email capture")


@role_app.command("revoke")
@fails_cleanly
def role_revoke(role: str, tenant: TenantOpt = None) -> None:
    with _session() as session:
        tenants.revoke(session, tenants.get_role(session, _tenant(session, tenant), role))
        typer.echo(f"role {role!r} may no longer use email capture")


# --------------------------------------------------------------------------------------------- users
@user_app.command("create")
@fails_cleanly
def user_create(email: str, tenant: TenantOpt = None, name: str = "", role: str = "Standard User",
                timezone: str = "UTC") -> None:
    with _session() as session:
        user = users.create_user(session, _tenant(session, tenant), email, name, role, timezone)
        typer.echo(f"user {user.email} created; personal dropbox {users.dropbox_address(user, _settings())}")


@user_app.command("enable")
@fails_cleanly
def user_enable(email: str) -> None:
    from connector.crypto import TokenCipher

    cipher = TokenCipher.from_settings(_settings())  # a bad key fails here, before anything is written
    with _session() as session:
        user = users.get_user(session, email)
        users.set_capture(session, user, True)
        connected = [m.provider for m in tenant_access.connect_user(session, user, cipher)]
    typer.echo(f"email capture enabled for {email}")  # said once it is committed
    for provider in connected:
        typer.echo(f"{provider} mailbox connected through the company's tenant-wide access")


@user_app.command("disable")
@fails_cleanly
def user_disable(email: str) -> None:
    with _session() as session:
        users.set_capture(session, users.get_user(session, email), False)
        typer.echo(f"email capture disabled for {email}")


@user_app.command("pattern")
@fails_cleanly
def user_pattern(email: str, pattern: str, create_as: str | None = None) -> None:
    """Contact search pattern: contacts_only | leads_only | contacts_then_leads (F10)."""
    with _session() as session:
        try:
            users.set_search_pattern(session, users.get_user(session, email), pattern, create_as)
        except ValueError as exc:
            raise InputError(f"unknown pattern {pattern!r}") from exc
        typer.echo(f"search pattern of {email}: {pattern}")


@user_app.command("vcard")
@fails_cleanly
def user_vcard(email: str, out: Annotated[Path | None, typer.Option()] = None) -> None:
    with _session() as session:
        card = users.vcard(users.get_user(session, email), _settings())
    if out:
        out.write_text(card, encoding="utf-8")
        typer.echo(f"vCard written to {out}")
    else:
        typer.echo(card, nl=False)


@address_app.command("show")
@fails_cleanly
def address_show(email: str) -> None:
    with _session() as session:
        user = users.get_user(session, email)
        typer.echo(f"personal: {users.dropbox_address(user, _settings())}")
        for action, address in users.action_addresses(user, _settings()).items():
            typer.echo(f"{action}: {address}")


@address_app.command("regenerate")
@fails_cleanly
def address_regenerate(email: str) -> None:
    with _session() as session:
        user = users.get_user(session, email)
        users.regenerate_address(session, user)
        typer.echo(f"new personal dropbox: {users.dropbox_address(user, _settings())} (the old one is refused)")


@sender_app.command("add")
@fails_cleanly
def sender_add(email: str, address: str) -> None:
    with _session() as session:
        _, code = users.add_sender(session, users.get_user(session, email), address, _settings())
    typer.echo(f"verification code for {address}: {code} (no mail transport is configured, so it is shown here)")


@sender_app.command("verify")
@fails_cleanly
def sender_verify(email: str, address: str, code: str) -> None:
    with _session() as session:
        users.verify_sender(session, users.get_user(session, email), address, code)
    typer.echo(f"{address} may now send to {email}'s dropbox addresses")


@sender_app.command("remove")
@fails_cleanly
def sender_remove(email: str, address: str) -> None:
    with _session() as session:
        users.remove_sender(session, users.get_user(session, email), address)
    typer.echo(f"{address} removed")


# --------------------------------------------------------------------------------------------- exclusions
@exclude_app.command("add")
@fails_cleanly
def exclude_add(pattern: str, tenant: TenantOpt = None, user: str | None = None) -> None:
    with _session() as session:
        owner = users.get_user(session, user) if user else None
        users.add_exclusion(session, _tenant(session, tenant), pattern, owner)
    typer.echo(f"{pattern} will never be treated as a contact")


@exclude_app.command("remove")
@fails_cleanly
def exclude_remove(pattern: str, tenant: TenantOpt = None, user: str | None = None) -> None:
    with _session() as session:
        owner = users.get_user(session, user) if user else None
        users.remove_exclusion(session, _tenant(session, tenant), pattern, owner)
    typer.echo(f"{pattern} removed from the exclusion list")


# --------------------------------------------------------------------------------------------- records
@record_app.command("create")
@fails_cleanly
def record_create(kind: str, tenant: TenantOpt = None, number: str | None = None, title: str = "",
                  email: str | None = None, name: str = "", customer: str | None = None) -> None:
    with _session() as session:
        record = records.create_record(session, _tenant(session, tenant), kind, number=number, title=title,
                                       email=email, name=name, customer=customer)
        typer.echo(f"{record.kind} {record.label} created")


# --------------------------------------------------------------------------------------------- ingest
def _read_messages(path: Path) -> Iterator[tuple[str, bytes]]:
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
    source = Source.FILE if mailbox_owner else Source.SMTP
    envelopes: list[tuple[str, Envelope]] = []
    report: list[dict[str, Any]] = []
    for path in paths:
        for label, raw in _read_messages(path):
            try:
                envelopes.append((label, parse(raw, source=source, mailbox=(mailbox_owner or "").lower())))
            except MimeError as exc:
                report.append({"message": label, "outcome": "unreadable", "reason": str(exc)})
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
    report = ingest_files(paths, mailbox_owner, _engine(), _settings())
    if as_json:
        typer.echo(render.as_json(report))
        return
    for row in report:
        colour = {"logged": "green", "unassigned": "yellow", "refused": "red", "ignored": "white"}.get(
            str(row["outcome"]), "red")
        console.print(f"[{colour}]{row['outcome']:>10}[/] {row['reason']:<22} {row['message']}")


# --------------------------------------------------------------------------------------------- views
def _record_for(session: Session, tenant: Tenant, matter: str | None, project: str | None,
                contact: str | None) -> Record | None:
    if matter:
        found = records.find_record(session, tenant, RecordKind.MATTER, matter)
        if found is None:
            raise InputError(f"no matter {matter}")
        return found
    if project:
        found = records.find_record(session, tenant, RecordKind.PROJECT, project)
        if found is None:
            raise InputError(f"no project {project}")
        return found
    return records.person(session, tenant, contact) if contact else None


@app.command("log")
@fails_cleanly
def log(tenant: TenantOpt = None, matter: str | None = None, project: str | None = None,
        contact: str | None = None, as_json: JsonOpt = False) -> None:
    """The Communications tab: threads (newest first) and their messages."""
    with _session() as session:
        company = _tenant(session, tenant)
        record = _record_for(session, company, matter, project, contact)
        threads = views.communications(session, company, record)
    title = f"{record.kind} {record.label}" if record else f"{company.name}: all logged e-mail"
    if as_json:
        typer.echo(render.as_json([dataclasses.asdict(t) for t in threads]))
    else:
        render.communications(console, title, threads)


@unassigned_app.callback()
@fails_cleanly
def unassigned_list(ctx: typer.Context, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List unassigned e-mails (or `unassigned link ID --contact ADDR…`)."""
    if ctx.invoked_subcommand:
        return
    with _session() as session:
        rows = views.unassigned(session, _tenant(session, tenant))
    if as_json:
        typer.echo(render.as_json([r.model_dump() for r in rows]))
    else:
        render.unassigned(console, rows)


@unassigned_app.command("link")
@fails_cleanly
def unassigned_link(unassigned_id: int, contact: Annotated[list[str], typer.Option("--contact")],
                    tenant: TenantOpt = None) -> None:
    with _session() as session:
        activity_id = unassigned.link(session, _tenant(session, tenant), unassigned_id, contact, _settings())
    typer.echo(f"unassigned e-mail {unassigned_id} logged as activity {activity_id} under {', '.join(contact)}")


@app.command("audit")
@fails_cleanly
def audit(tenant: TenantOpt = None, action: str | None = None, as_json: JsonOpt = False) -> None:
    """Every decision: logged, duplicate, unassigned, refused (with its reason)."""
    with _session() as session:
        company = session.exec(select(Tenant).where(Tenant.slug == tenant)).first() if tenant else None
        rows = views.audit(session, company, action)
    if as_json:
        typer.echo(render.as_json([r.model_dump() for r in rows]))
    else:
        render.audit(console, rows)


# --------------------------------------------------------------------------------------------- sync
@app.command("status")
@fails_cleanly
def status(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Every connected mailbox: state, last successful sync, last error, backlog."""
    with _session() as session:
        company = tenants.get_tenant(session, tenant) if tenant else None
        rows = mailboxes.all_health(session, company.id if company else None)
    if as_json:
        typer.echo(render.as_json([dataclasses.asdict(r) for r in rows]))
    else:
        render.mailboxes(console, rows)
    if any(r.status in ("failing", "needs_reconnect") for r in rows):
        raise typer.Exit(2)


@app.command("worker")
@fails_cleanly
def worker(once: Annotated[bool, typer.Option(help="One round, then exit.")] = False,
           probe_port: Annotated[int | None, typer.Option(help="Serve /healthz /readyz /metrics here "
                                                          "(default: sync.probe_port; 0: not at all).")] = None,
           ) -> None:
    """Claim due mailboxes under a lease and sync them (run as many as you like on PostgreSQL)."""
    from connector import logs
    from connector.app.assembly import assemble
    from connector.sync import probes

    logs.configure()
    assembly = assemble(_settings())
    runner = assembly.worker()
    port = assembly.settings.sync.probe_port if probe_port is None else probe_port
    if port and not once:  # ready while the loop goes round (a step beats too; a slow one can take minutes)
        allowed = max(300.0, 2 * assembly.settings.sync.lease_seconds)
        probes.serve(assembly.engine, runner.heartbeat, "0.0.0.0", port, allowed)
        typer.echo(f"probes on http://0.0.0.0:{port}/healthz /readyz /metrics")
    if once:
        results = runner.run_once()
        typer.echo(f"{len(results)} step(s), {sum(r.logged for r in results)} message(s) logged")
        return
    typer.echo(f"worker {runner.owner} started; Ctrl-C to stop")
    stop = threading.Event()
    _stop_on_signals(stop)
    runner.run_forever(stop)
    typer.echo(f"worker {runner.owner} stopped; its mailboxes are released")


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM (an orchestrator) and SIGINT (Ctrl-C) let every thread finish its step and release its leases."""
    import signal

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())


@app.command("serve")
@fails_cleanly
def serve(host: str = "127.0.0.1", port: int = 8080,
          workers: Annotated[int, typer.Option(help="In-process sync workers.")] = 1) -> None:
    """The web app (webhooks, health, metrics) plus in-process workers: the one-machine default."""
    import uvicorn

    from connector import logs
    from connector.app.assembly import assemble
    from connector.web.app import create_app

    logs.configure()
    assembly = assemble(_settings())
    stop = threading.Event()
    threads = [threading.Thread(target=assembly.worker().run_forever, args=(stop,), daemon=True)
               for _ in range(workers)]
    for thread in threads:
        thread.start()
    typer.echo(f"serving on http://{host}:{port} with {workers} worker(s)")
    try:  # uvicorn shuts down gracefully on SIGTERM/SIGINT; then the workers finish their steps
        uvicorn.run(create_app(assembly.app_context()), host=host, port=port, log_level="warning",
                    log_config=None)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=assembly.settings.sync.lease_seconds)


@app.command("smtp")
@fails_cleanly
def smtp(filing_only: Annotated[bool, typer.Option("--filing-only", help="Only file spooled mail.")] = False,
         once: Annotated[bool, typer.Option(help="File what is spooled now, then exit.")] = False,
         port: Annotated[int | None, typer.Option(help="Listen on this port instead of smtp.port (0: any).")] = None,
         ) -> None:
    """The dropbox's SMTP listener (the MX of the dropbox domain) and the filers of the mail it spools."""
    from connector import logs
    from connector.dropbox.server import run

    logs.configure()
    run(_engine(), _settings(), filing_only=filing_only, once=once, port=port, echo=typer.echo)


def _add_plugin_commands() -> None:
    """Commands other installed distributions contribute (``bcc-capture emulate`` from bcc-capture-emulators)."""
    for entry in entry_points(group="bcc_capture.commands"):
        try:
            command = entry.load()
        except ImportError as exc:  # a half-installed plugin must not take the product's CLI down with it
            typer.echo(f"warning: command {entry.name!r} unavailable ({exc})", err=True)
            continue
        app.command(entry.name)(fails_cleanly(command))


_add_plugin_commands()


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
