"""Engine, sessions and migrations. SQLite is the embedded default; PostgreSQL is production."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

from connector.errors import DatabaseNotMigrated

if TYPE_CHECKING:
    from alembic.config import Config

# An installed wheel carries the migrations as connector/migrations (setup.py); a source checkout has alembic/.
_SHIPPED = Path(__file__).resolve().parent / "migrations"
ALEMBIC_DIR = _SHIPPED if _SHIPPED.is_dir() else Path(__file__).resolve().parent.parent / "alembic"


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC (naive on SQLite) and always hands back timezone-aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL syncs at checkpoints only: an application crash loses nothing, a power cut
    # may roll back the last commits, and each rolls back with its cursor, so they are re-read.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


_REVISION = re.compile(r"^(down_revision|revision)\b[^=]*=\s*['\"]?([\w-]+|None)['\"]?", re.MULTILINE)


def head_revision() -> str:
    """The revision no migration builds on, read from the scripts' own ``revision``/``down_revision`` lines.

    Every command checks the schema before it runs; reading two lines per script keeps Alembic's own
    import (a tenth of a second) for `db upgrade` alone. tests/connector/test_db.py holds it to Alembic's answer.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (ALEMBIC_DIR / "versions").glob("*.py"):
        found = dict((name, value) for name, value in _REVISION.findall(script.read_text(encoding="utf-8")))
        revisions.add(found["revision"])
        parents.add(found.get("down_revision", "None"))
    heads = revisions - parents
    assert len(heads) == 1, f"the migrations must form one line, found heads {sorted(heads)}"
    return heads.pop()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def require_migrated(engine: Engine) -> None:
    """Refuse to run on a schema that is behind (or ahead of) the code."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseNotMigrated(
            f"database {where} is at revision {current or 'none (empty)'}, the code needs {head}: "
            "run `bcc-capture db upgrade`"
        )
