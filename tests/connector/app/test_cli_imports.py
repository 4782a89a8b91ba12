"""`bcc-capture` starts quickly because a command loads only what it needs: a command that reads the database
loads no web framework, no provider SDK, no migration tool and no emulator; a command's --help loads no
database layer either; only the top-level help looks for plugin commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connector.db import make_engine, upgrade
from tests.conftest import build_world

# prints the top-level packages the command loaded, whatever way it exits
PROBE = ("import atexit, sys; atexit.register(lambda: print('LOADED', ' '.join(sorted({m.split('.')[0] "
         "for m in sys.modules})))); sys.argv = ['bcc-capture', *sys.argv[1:]]; "
         "from connector.app.cli import main; main()")
NOT_FOR_A_DATABASE_COMMAND = {"fastapi", "starlette", "uvicorn", "jinja2", "msal", "msgraph", "googleapiclient",
                              "google_auth_oauthlib", "alembic", "inscriptis", "boto3", "botocore", "emulators",
                              "providers", "httpx", "aiosmtpd"}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'cli.db'}"
    engine = make_engine(url)
    upgrade(engine)
    build_world(engine)
    engine.dispose()
    return url


def loaded(database: str, *argv: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "BCC_CAPTURE_DATABASE__URL": database}, cwd=Path(__file__).parents[3])
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("LOADED"))
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
