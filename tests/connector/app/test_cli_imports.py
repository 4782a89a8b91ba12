"""`bcc-capture` starts quickly because a command loads only what it needs: a command that reads the database
loads no web framework, no provider SDK, no migration tool and no emulator; a command's --help loads no
database layer either; only the top-level help looks for plugin commands; a read-only command builds only the tables
it uses (and what they refer to), and what it writes is still sealed into the audit chain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import SQLModel

import connector.models as models
from connector.config import load_settings
from connector.db import make_engine, upgrade
from connector.services.capture import Capture
from tests.conftest import build_world
from tests.mailbuilder import mail, to_dropbox

# prints the top-level packages the command loaded, whatever way it exits
PROBE = ("import atexit, sys; atexit.register(lambda: print('LOADED', ' '.join(sorted({m.split('.')[0] "
         "for m in sys.modules})))); sys.argv = ['bcc-capture', *sys.argv[1:]]; "
         "from connector.app.cli import main; main()")
TABLES = ("import atexit, sys; from sqlmodel import SQLModel; "
          "atexit.register(lambda: print('TABLES', ' '.join(sorted(SQLModel.metadata.tables)))); "
          "sys.argv = ['bcc-capture', *sys.argv[1:]]; from connector.app.cli import main; main()")
NOT_FOR_A_DATABASE_COMMAND = {"fastapi", "starlette", "uvicorn", "jinja2", "msal", "msgraph", "googleapiclient",
                              "google_auth_oauthlib", "alembic", "inscriptis", "boto3", "botocore", "emulators",
                              "providers", "httpx", "aiosmtpd"}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'cli.db'}"
    engine = make_engine(url)
    upgrade(engine)
    build_world(engine)
    Capture(engine, load_settings()).process(to_dropbox(mail(  # one e-mail on the matter for `log` to show
        "Alice Archer <alice@acme-law.com>", ["carol@clientco.com"], bcc=["acme+10802@bcc.example.com"],
        subject="Terms", message_id="<terms@acme-law.com>")))
    engine.dispose()
    return url


def loaded(database: str, *argv: str, probe: str = PROBE) -> set[str]:
    done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "BCC_CAPTURE_DATABASE__URL": database}, cwd=Path(__file__).parents[3])
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith(("LOADED", "TABLES")))
    return set(line.split()[1:])


@pytest.mark.parametrize("argv", [["record", "list"], ["log", "--contact", "carol@clientco.com"], ["status"],
                                  ["audit"], ["unassigned"], ["quarantine", "list", "--as", "alice@acme-law.com"],
                                  ["user", "address", "show", "alice@acme-law.com"]], ids=" ".join)
def test_a_database_command_loads_no_web_framework_sdk_migrations_or_emulator(database: str,
                                                                               argv: list[str]) -> None:
    modules = loaded(database, *argv)
    assert "sqlalchemy" in modules  # it did read the database
    assert not modules & NOT_FOR_A_DATABASE_COMMAND, modules & NOT_FOR_A_DATABASE_COMMAND


def test_a_commands_help_loads_no_database_layer_and_looks_for_no_plugins(database: str) -> None:
    modules = loaded(database, "serve", "--help")
    assert not modules & {"sqlalchemy", "sqlmodel", "uvicorn", "fastapi", "emulators"}


def test_the_top_level_help_still_lists_the_plugin_commands(database: str) -> None:
    done = subprocess.run([sys.executable, "-m", "connector.app.cli", "--help"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "BCC_CAPTURE_DATABASE__URL": database, "COLUMNS": "200"})
    assert done.returncode == 0 and "emulate" in done.stdout


def test_a_read_only_command_builds_only_the_tables_it_uses_and_still_seals_what_it_audits(database: str) -> None:
    assert loaded(database, "audit", "verify", probe=TABLES) == {"auditentry", "directoryversion", "tenant", "role",
                                                                 "rolepermission"}
    sealed = chained(database)
    tab = loaded(database, "log", "--matter", "10802", probe=TABLES)  # shows the e-mail: writes one view entry
    assert {"activity", "record", "auditentry"} <= tab and not tab & {"mailbox", "webhookendpoint", "importjob",
                                                                       "apitoken", "quarantinedmessage"}
    assert chained(database) == sealed + 1


def chained(database: str) -> int:
    """How many entries `audit verify` finds chained; none may be left unsealed."""
    verified = subprocess.run([sys.executable, "-m", "connector.app.cli", "audit", "verify"], capture_output=True,
                              text=True, timeout=60, env={**os.environ, "BCC_CAPTURE_DATABASE__URL": database})
    assert verified.returncode == 0 and "unbroken;" in verified.stdout and "not sealed" not in verified.stdout
    return int(verified.stdout.split(" entries unbroken")[0].split()[-1])


def test_a_command_that_writes_builds_every_table(database: str) -> None:
    assert len(loaded(database, "record", "create", "matter", "--number", "777", "--title", "Probe",
                      probe=TABLES)) == len(SQLModel.metadata.tables)


def test_a_table_built_on_demand_brings_every_table_its_foreign_keys_name() -> None:
    """What `connector.models` loads with a module must hold the tables its rows point at: the ORM looks them up
    when it writes (on demand, a missing one fails the write)."""
    home = {obj.__table__.name: name.rsplit(".", 1)[1] for name, module in list(sys.modules.items())
            if name.startswith("connector.models.") for obj in vars(module).values()
            if getattr(obj, "__module__", None) == name and hasattr(obj, "__table__")}
    for table in SQLModel.metadata.tables.values():
        brought, todo = {home[table.name]}, [home[table.name]]
        while todo:
            for other in models._REFERS_TO.get(todo.pop(), ()):
                brought.add(other)
                todo.append(other)
        assert {home[fk.column.table.name] for fk in table.foreign_keys} <= brought, table.name
