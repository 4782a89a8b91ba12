"""Shared fixtures: a real database on SQLite and PostgreSQL, and a small company to file mail in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from weakref import WeakKeyDictionary

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import connector.models  # noqa: F401
from bench.common import PG_ADMIN, postgres_database
from connector import planner_statistics
from connector.config import Settings, load_settings
from connector.db import make_engine, transaction, upgrade
from connector.models import Record, Tenant, User
from connector.services import records, tenants, users
from connector.services.capture import Capture


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"no PostgreSQL server answers at {PG_ADMIN}: {exc}"


@contextmanager
def _throwaway_database() -> Iterator[str]:
    reason = _pg_available()
    if reason:
        pytest.skip(reason)
    with postgres_database("bcc_test") as url:
        yield url


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One PostgreSQL database for the whole run (tests empty it before they start)."""
    with _throwaway_database() as url:
        yield url


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own, for tests that run other processes against it."""
    with _throwaway_database() as url:
        yield url


@pytest.fixture(scope="session")
def _engines() -> dict[str, Engine]:
    return {}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, _engines: dict[str, Engine],
           tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """A migrated database, emptied before each test (created once per backend per run)."""
    backend = request.param
    if backend not in _engines:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        else:
            url = request.getfixturevalue("pg_url")
        created = make_engine(url)
        upgrade(created)
        _engines[backend] = created
    found = _engines[backend]
    _empty(found)
    return found


@pytest.fixture
def refresh_planner_after(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """PostgreSQL's planner statistics refreshed after ``n`` e-mails filed, counted from zero in a database whose
    statistics know it is empty (the engine outlives the test, and so would the count)."""
    def refresh_after(count: int) -> None:
        monkeypatch.setattr(planner_statistics, "FIRST_AFTER", count)
        monkeypatch.setattr(planner_statistics, "_growth", WeakKeyDictionary())
        with engine.begin() as connection:
            connection.execute(text(f"ANALYZE {', '.join(planner_statistics.GROWN)}"))
    return refresh_after


def _empty(engine: Engine) -> None:
    """DELETE children before parents: on these tiny tables it is far faster than TRUNCATE."""
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as conn:
        for table in tables:
            conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def settings() -> Settings:
    return load_settings()


FIXED_NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def capture(engine: Engine, settings: Settings) -> Capture:
    return Capture(engine, settings, clock=lambda: FIXED_NOW)


class MovableClock:
    """Real time that a story jumps forward (a rate-limit wait, the safety net, days of parking)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


class StaticTxt:
    """A resolver answering from a dict, standing in for DNS (the TxtResolver interface)."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = records

    def txt(self, name: str) -> list[str]:
        from connector.errors import DnsVerificationError

        if name not in self.records:
            raise DnsVerificationError(f"{name} does not exist (NXDOMAIN)")
        return self.records[name]


@dataclass
class World:
    engine: Engine
    tenant: Tenant
    alice: User
    bob: User
    matter: Record
    project: Record
    globex: Record
    initech: Record
    opportunity: Record

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def enabled_company(session: Session, name: str, slug: str, domain: str) -> Tenant:
    """A company whose domain is verified, with capture enabled and the Standard User role allowed to use it."""
    tenant = tenants.create_tenant(session, name, slug, domain=domain)
    tenants.verify_domain(session, tenant, StaticTxt({domain: [tenants.txt_record(tenant)]}))
    tenants.set_enabled(session, tenant, True)
    tenants.grant(session, tenants.get_role(session, tenant, "Standard User"))
    return tenant


def build_world(engine: Engine) -> World:
    """Acme Law: verified and enabled, two users with capture on, a matter, a project, customers, contacts."""
    with transaction(engine) as session:
        tenant = enabled_company(session, "Acme Law", "acme", "acme-law.com")
        alice = users.create_user(session, tenant, "alice@acme-law.com", "Alice Archer", timezone="Europe/Helsinki")
        bob = users.create_user(session, tenant, "bob@acme-law.com", "Bob Baker")
        for user in (alice, bob):
            users.set_capture(session, user, True)
        matter = records.create_record(session, tenant, "matter", number="10802", title="Smith v. Jones")
        project = records.create_record(session, tenant, "project", number="1001", title="Website relaunch")
        globex = records.create_record(session, tenant, "customer", number="C-1", title="Globex")
        initech = records.create_record(session, tenant, "customer", number="C-2", title="Initech")
        records.create_record(session, tenant, "contact", email="carol@clientco.com", name="Carol Client")
        records.create_record(session, tenant, "contact", email="hank@globex.com", name="Hank Scorpio",
                              customer="Globex")
        records.create_record(session, tenant, "contact", email="mindy@globex.com", name="Mindy Moss",
                              customer="Globex")
        records.create_record(session, tenant, "contact", email="peter@initech.com", name="Peter Gibbons",
                              customer="Initech")
        opportunity = records.create_record(session, tenant, "opportunity", number="CO34322",
                                            title="Globex renewal")
    return World(engine, tenant, alice, bob, matter, project, globex, initech, opportunity)
