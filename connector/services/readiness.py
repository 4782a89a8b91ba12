"""Whether the app can serve: the database answers and its schema is the one the code needs."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

from connector.db import require_migrated
from connector.errors import DatabaseNotMigrated


def readiness_problem(engine: Engine) -> str | None:
    """Why the app is not ready (for /readyz and the orchestrator), or None when it is."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        require_migrated(engine)
    except DatabaseNotMigrated as exc:
        return str(exc)
    except Exception as exc:  # any database failure means not ready; its type is enough to say which
        return type(exc).__name__
    return None
