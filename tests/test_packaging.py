"""The product wheel as an IT team installs it: built from this tree, installed alone, migrating a database."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(ROOT)], check=True, cwd=out, timeout=300)
    [built] = out.glob("bcc_capture-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, timeout=300)
    yield target


def _cli(target: Path, cwd: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`bcc-capture …` from the installed wheel alone: no site processing, so the source checkout's
    editable install is invisible; the dependencies come from this environment's site-packages."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]]),
           "BCC_CAPTURE_DATABASE__URL": database_url}
    code = "import sys; from connector.app.cli import app; sys.argv[0] = 'bcc-capture'; app()"
    return subprocess.run([sys.executable, "-S", "-c", code, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_wheel_ships_the_migrations_and_no_emulator_or_test(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "connector/migrations/env.py" in names and "connector/migrations/script.py.mako" in names
    shipped = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("connector/migrations/versions/"))
    assert shipped == sorted(p.name for p in (ROOT / "alembic" / "versions").glob("*.py"))
    assert not [n for n in names if n.startswith(("emulators/", "tests/", "bench/"))]


def test_the_installed_wheel_migrates_an_empty_database_from_any_directory(installed: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgraded = _cli(installed, tmp_path, url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "is up to date" in upgraded.stdout
    created = _cli(installed, tmp_path, url, "tenant", "create", "Acme Law", "--slug", "acme")
    assert created.returncode == 0 and "created with slug acme" in created.stdout


def test_the_installed_wheel_upgrades_postgresql_from_the_previous_revision(installed: Path, tmp_path: Path,
                                                                            fresh_pg_url: str) -> None:
    from connector.db import make_engine, upgrade

    versions = sorted(p.stem for p in (ROOT / "alembic" / "versions").glob("*.py"))
    upgrade(make_engine(fresh_pg_url), versions[-2].split("_", 1)[0])  # the schema as the last release left it
    upgraded = _cli(installed, tmp_path, fresh_pg_url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert _cli(installed, tmp_path, fresh_pg_url, "status").returncode == 0
