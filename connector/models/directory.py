"""The directory's version: bumped in the transaction of every change to a company's users, their addresses, its
records or its rules, so that a process may keep what it read of them across transactions and know the moment it
went stale (`connector.routing.directory`).

Every change made through a Session is seen here (`after_flush` for the ORM's unit of work, `do_orm_execute` for
UPDATE/DELETE statements run through the session); a writer that inserts on a bare connection bumps itself
(`bump`, as `routing.apply.Writer` does for the contacts it creates). A version is a random number, not a count:
a database emptied and filled again (a test, a restore) can never repeat one a process still remembers.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlmodel import Field, SQLModel

EVERY_COMPANY = 0  # the row bumped by changes that look-ups by address see (users, their addresses, roles…)
BUMPED = "directory_bumped"  # session.info: the scopes this transaction changed (its reads of them are its own)
# Tables whose rows routing reads: a change to the first kind moves the company's version and every company's
# (the look-ups by address and by id know no company beforehand), to the second the company's alone.
_EVERYONE = {"user", "senderaddress", "retiredaddress", "tenant", "role", "rolepermission", "wall"}
_COMPANY = {"record", "exclusion"}


class DirectoryVersion(SQLModel, table=True):
    tenant_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})  # no foreign key: 0 is global
    version: int = Field(default=0, sa_type=BigInteger)


def bump(connection: Connection, tenant_ids: Iterable[int | None], info: dict[Any, Any] | None = None) -> None:
    """New versions for these companies (None: every company), in the caller's transaction."""
    scopes = sorted({EVERY_COMPANY if t is None else t for t in tenant_ids})  # one order: no deadlock between two
    if not scopes:
        return
    # imported here, of the database in use: a command on SQLite then never loads the PostgreSQL dialect (its
    # import was a twentieth of a CLI command's start-up)
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql as dialect
    else:
        from sqlalchemy.dialects import sqlite as dialect  # type: ignore[no-redef]
    for scope in scopes:
        statement = dialect.insert(DirectoryVersion.__table__).values(  # type: ignore[attr-defined]
            tenant_id=scope, version=secrets.randbits(62))
        connection.execute(statement.on_conflict_do_update(index_elements=["tenant_id"],
                                                           set_={"version": statement.excluded.version}))
    if info is not None:
        info.setdefault(BUMPED, set()).update(scopes)


def _scopes(instance: object) -> set[int | None]:
    table = getattr(instance, "__tablename__", "")
    tenant_id = instance.id if table == "tenant" else getattr(instance, "tenant_id", None)  # type: ignore[attr-defined]
    if table in _EVERYONE:
        return {None, tenant_id}
    return {tenant_id} if table in _COMPANY else set()


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush: UOWTransaction) -> None:
    changed: set[int | None] = set()
    for instance in (*session.new, *session.deleted):
        changed |= _scopes(instance)
    for instance in session.dirty:
        if session.is_modified(instance):
            changed |= _scopes(instance)
    if changed:
        bump(session.connection(), changed, session.info)


@event.listens_for(Session, "do_orm_execute")
def _on_statement(state: ORMExecuteState) -> None:
    """An UPDATE or DELETE run through the session: which company it touches is not known, so every one."""
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", "") in _EVERYONE | _COMPANY:
        bump(state.session.connection(), [None], state.session.info)
