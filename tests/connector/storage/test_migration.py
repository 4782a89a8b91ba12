"""Migration 0014 on a database with mail: content two companies shared becomes a sealed copy for each, and
content nothing refers to is dropped (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, insert, inspect, text
from sqlalchemy.engine import Engine

from connector.config import load_settings
from connector.crypto import CompanyCipher
from connector.db import make_engine, upgrade

SHARED = b"%PDF-1.4 the same letterhead in both firms' mail"


@pytest.fixture(params=["sqlite", "postgresql"])
def at_0013(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    url = (f"sqlite:///{tmp_path / 'old.db'}" if request.param == "sqlite"
           else request.getfixturevalue("fresh_pg_url"))
    engine = make_engine(url)
    upgrade(engine, "0013")
    return engine


def old_row(engine: Engine, table: str, **given: Any) -> Any:
    """A row of the schema at 0013: the values given, a plain one for every other required column."""
    columns = Table(table, MetaData(), autoload_with=engine)
    values = dict(given)
    for column in columns.columns:
        if column.name in values or column.nullable or column.server_default is not None or (
                column.primary_key and column.name == "id"):
            continue
        kind = str(column.type).upper()
        values[column.name] = (0 if "INT" in kind else False if "BOOL" in kind else datetime.now(UTC)
                               if "TIME" in kind else [] if "JSON" in kind else "x")
    with engine.begin() as conn:
        return conn.execute(insert(columns).returning(*columns.primary_key.columns), values).first()[0]


def test_shared_content_becomes_each_companys_own_sealed_copy(at_0013: Engine) -> None:
    digest = hashlib.sha256(SHARED).hexdigest()
    old_row(at_0013, "blob", sha256=digest, size=len(SHARED), content=SHARED)
    old_row(at_0013, "blob", sha256=hashlib.sha256(b"orphan").hexdigest(), size=6, content=b"orphan")
    companies = []
    for n in (1, 2):
        tenant = old_row(at_0013, "tenant", name=f"Firm {n}", slug=f"firm{n}")
        activity = old_row(at_0013, "activity", tenant_id=tenant, internet_message_id=f"<m{n}@firm>",
                           thread_id=old_row(at_0013, "thread", tenant_id=tenant))
        old_row(at_0013, "attachment", activity_id=activity, name="letterhead.pdf", content_type="application/pdf",
                size=len(SHARED), sha256=digest)
        old_row(at_0013, "rawmessage", activity_id=activity, sha256=digest)
        companies.append(tenant)
    upgrade(at_0013)
    with at_0013.connect() as conn:
        rows = conn.execute(text("SELECT tenant_id, sha256, location, content FROM blob ORDER BY tenant_id")).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [(tenant, digest, "database") for tenant in companies]
    cipher = CompanyCipher.from_settings(load_settings())
    assert [cipher.open(r[0], bytes(r[3])) for r in rows] == [SHARED, SHARED]
    assert rows[0][3] != rows[1][3] and SHARED not in bytes(rows[0][3])
    assert [fk["referred_table"] for fk in inspect(at_0013).get_foreign_keys("rawmessage")] == ["activity"]
