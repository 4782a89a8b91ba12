"""The `bcc-capture` command. Every error prints one clear line and exits non-zero.

common.py   the Typer apps, one-line errors, the database session, the company option
company.py  db, secret, tenant, role, user (addresses, senders), exclude, record
mail.py     ingest, log, unassigned, audit
running.py  status, worker, serve, smtp
mailboxes.py  sync (now)
records.py  export, audit verify
walls.py    wall add|remove|list, visibility policy|set
webhooks.py  webhook add, list, log, redeliver (event webhooks to the host system)
retention.py  retention rule|run|register, hold, erase person, record close

Other installed distributions may add commands through the ``bcc_capture.commands`` entry point
(``bcc-capture emulate`` comes from bcc-capture-emulators).
"""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from connector.app.cli import company, mail, mailboxes, quarantine, records, retention, running, walls, webhooks  # noqa: F401
from connector.app.cli.common import app, fails_cleanly

__all__ = ["app", "main"]


def _add_plugin_commands() -> None:
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
