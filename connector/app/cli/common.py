"""What every command shares: the Typer apps, one-line errors, the database session, the company option.

Commands import what they need inside their bodies, so `bcc-capture --help` and light commands start
without loading the ORM, the MIME parser or the web app.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from connector.config import Settings, get_settings
from connector.errors import ConnectorError, InputError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from connector.models import Tenant

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
unassigned_app = typer.Typer(help="Mail that matched no contact, to link to contacts by hand.",
                             invoke_without_command=True)
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
    """Turn the connector's errors and database failures into one line on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConnectorError as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from None
        except Exception as exc:
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import DBAPIError

            if isinstance(exc, DBAPIError):
                where = make_url(settings().database.url).render_as_string(hide_password=True)
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                typer.secho(f"error: database {where}: {reason}", err=True, fg=typer.colors.RED)
            else:  # a bug: still one line, and the traceback kept for the report
                typer.secho(f"error: unexpected {type(exc).__name__}: {exc} (traceback in {_keep_traceback()})",
                            err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _keep_traceback() -> str:
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="bcc-capture-error-", suffix=".txt", delete=False) as kept:
        kept.write(traceback.format_exc())
        return kept.name


def settings() -> Settings:
    return get_settings()


def engine(check: bool = True) -> Engine:
    from connector.db import make_engine, require_migrated

    made = make_engine(settings().database.url)
    if check:
        require_migrated(made)
    return made


@contextmanager
def session() -> Iterator[Session]:
    from connector.db import transaction

    with transaction(engine()) as opened:
        yield opened


def company(opened: Session, slug: str | None) -> Tenant:
    """The company named by --tenant, or the only one there is."""
    from sqlmodel import col, select

    from connector.models import Tenant

    if slug:
        from connector.services import tenants  # (with the mailbox services: only when a slug is named)

        return tenants.get_tenant(opened, slug)
    found = opened.exec(select(Tenant).order_by(col(Tenant.id)).limit(2)).all()
    if len(found) != 1:
        raise InputError("name the company with --tenant SLUG" if found else "no company yet: `tenant create`")
    return found[0]
