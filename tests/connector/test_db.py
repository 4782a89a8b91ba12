"""Migrations build the schema from empty, and the service refuses a schema that is behind."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from connector.db import current_revision, head_revision, make_engine, require_migrated, upgrade
from connector.errors import DatabaseNotMigrated


def test_migrations_create_every_table_from_empty(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"tenant", "user", "record", "activity", "threadkey", "unassigned", "auditentry", "blob"} <= tables
    require_migrated(engine)


def test_an_empty_database_is_refused_until_upgraded(tmp_path) -> None:
    fresh = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(DatabaseNotMigrated, match="bcc-capture db upgrade"):
        require_migrated(fresh)
    upgrade(fresh)
    require_migrated(fresh)


def test_the_schema_check_agrees_with_alembic_about_the_head_revision() -> None:
    from alembic.script import ScriptDirectory

    from connector.db import alembic_config

    script = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))
    assert head_revision() == script.get_current_head()


def test_the_migrations_build_exactly_the_schema_the_models_declare(engine: Engine) -> None:
    """A model change without its migration (an index, a column) would pass every test on a fresh schema built
    from the models and fail on a customer's upgraded one. Full-text search is the migrations' own (virtual
    tables on SQLite, generated `search` columns on PostgreSQL): no model declares it."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import connector.models  # noqa: F401  (every table on the metadata)

    def searching(diff: tuple) -> bool:
        names = [getattr(part, "name", part) for part in diff[1:] if part is not None]
        return any(isinstance(name, str) and "search" in name for name in names)

    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert [d for d in diffs if not searching(d)] == []
