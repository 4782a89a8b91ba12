"""The `bcc-capture` command. Every error prints one clear line and exits non-zero.

common.py   the Typer apps, one-line errors, the database session, the company option
company.py  db, secret, tenant, role, user (addresses, senders), exclude, record
mail.py     ingest, log, unassigned, audit
running.py  status, worker, serve, smtp
mailboxes.py  sync (now)
records.py  export, audit verify
webhooks.py  webhook add, list, log, redeliver (event webhooks to the host system)
retention.py  retention rule|run|register, hold, erase person, record close
walls.py    wall add|remove|list, visibility policy|set

Other installed distributions may add commands through the ``bcc_capture.commands`` entry point
(``bcc-capture emulate`` comes from bcc-capture-emulators). They are looked up only when the command line
names none of the product's own commands (or asks for help): reading the installed distributions' metadata
costs a tenth of the start-up of every other command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

# Pydantic looks for plugins in every installed distribution's metadata the first time a model is built:
# a twentieth of a second at each start, and the product uses none. PYDANTIC_DISABLE_PLUGINS= (empty) asks again.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer

from connector.app.cli import company, mail, mailboxes, quarantine, records, retention, running, walls, webhooks  # noqa: F401 (they register)
from connector.app.cli.common import app, fails_cleanly

__all__ = ["add_plugin_commands", "app", "main"]


def add_plugin_commands() -> None:
    from importlib.metadata import entry_points

    for entry in entry_points(group="bcc_capture.commands"):
        try:
            command = entry.load()
        except ImportError as exc:  # a half-installed plugin must not take the product's CLI down with it
            typer.echo(f"warning: command {entry.name!r} unavailable ({exc})", err=True)
            continue
        app.command(entry.name)(fails_cleanly(command))


def builtin_command(argv: Sequence[str]) -> bool:
    """The command line names one of the product's own commands (so no plugin can be meant)."""
    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    words = [a for a in argv if not a.startswith("-")]
    return bool(words) and words[0] in names


def main() -> None:  # pragma: no cover - console entry point
    if not builtin_command(sys.argv[1:]):
        add_plugin_commands()
    app()
