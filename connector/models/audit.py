"""The audit log: every routing decision and every rejected call, with a machine-readable reason.

The log is hash-chained, one chain per company (tenant-less entries form chain 0): each entry stores
its position (`seq`), the previous entry's hash and the SHA-256 of the previous hash and its own content.
Per company, because that is the unit an administrator verifies, exports and answers for, and because
companies' workers then never wait on each other. Entries are chained when their transaction commits
(`_seal_on_commit`), whoever wrote them — ORM objects or the batch writer's multi-row INSERTs — so no writer
has to know about the chain. On PostgreSQL the sealing step holds a transaction-level advisory lock per
chain, so two transactions committing at once append one after the other instead of both claiming the
same position; SQLite serializes writing transactions already. Rejection samples (services/rejections.py)
are counters updated in place by design: they stay outside the chain.

Erasure of a person (GDPR art. 17) must rewrite entries that name them. Their stored `hash` stays (so every
link, and any head recorded elsewhere, still holds); a later chained `redacted` entry lists each rewritten
entry as [id, hash as chained, content hash after the rewrite]. `verify` accepts an entry whose content no
longer matches its hash only when such an entry, later in the same chain, vouches for exactly its content now.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Index, Table, bindparam, event, select, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from connector.models._types import created_at, json_dict

UNCHAINED_ACTIONS = ("webhook_rejected", "request_rejected")  # rejection samples: their count changes
_LOCK_CLASS = 0x41554454  # "AUDT": the advisory-lock namespace of the chains
_PENDING = "audit_unsealed"  # connection.info flag: this connection inserted audit entries
REDACTED = "redacted"  # an entry vouching for entries rewritten by an erasure (detail: rows [[id, was, now]])


class AuditEntry(SQLModel, table=True):
    # The audit page and API filter a company's entries by action, newest first (`views.audit`); sealing reads the
    # end of a company's chain and its entries not chained yet (`seal`).
    __table_args__ = (Index("ix_auditentry_tenant_action_id", "tenant_id", "action", "id"),
                      Index("ix_auditentry_tenant_seq", "tenant_id", "seq"))

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int | None = Field(default=None, foreign_key="tenant.id", index=True)
    at: datetime = created_at()
    action: str  # logged | duplicate | unassigned | refused | linked | unlogged | webhook_rejected …
    reason: str = ""  # machine-readable: unauthorized_sender, missing_subject, …
    internet_message_id: str = ""
    mailbox: str = ""
    source: str = ""
    detail: dict = json_dict()
    seq: int | None = Field(default=None, index=True)  # position in its company's chain; None until sealed
    prev_hash: str = ""
    hash: str = ""


def _table() -> Table:
    return AuditEntry.__table__  # type: ignore[attr-defined, no-any-return]


def content_hash(prev_hash: str, row: Any) -> str:
    """SHA-256 of the previous hash and the entry's content (every column but the chain's own)."""
    content = {"id": row.id, "tenant_id": row.tenant_id, "at": row.at.isoformat() if row.at else None,
               "action": row.action, "reason": row.reason, "internet_message_id": row.internet_message_id,
               "mailbox": row.mailbox, "source": row.source, "detail": row.detail, "seq": row.seq}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def _chain_filter(tenant_id: int | None) -> Any:
    table = _table()
    belongs = table.c.tenant_id.is_(None) if tenant_id is None else table.c.tenant_id == tenant_id
    return belongs & table.c.action.not_in(UNCHAINED_ACTIONS)


def seal(connection: Connection) -> int:
    """Chain every entry this transaction can see that is not chained yet; the number chained."""
    table = _table()
    unsealed = table.c.seq.is_(None) & table.c.action.not_in(UNCHAINED_ACTIONS)
    chains = {t for (t,) in connection.execute(select(table.c.tenant_id).where(unsealed).distinct())}
    sealed = 0
    for tenant_id in sorted(chains, key=lambda t: t or 0):  # one lock order: no deadlock between sealers
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": _LOCK_CLASS, "k": tenant_id or 0})
        where = _chain_filter(tenant_id)
        last = connection.execute(select(table.c.seq, table.c.hash).where(where & table.c.seq.is_not(None))
                                  .order_by(table.c.seq.desc()).limit(1)).first()
        seq, prev = (last[0], last[1]) if last else (0, "")
        changes = []
        for row in connection.execute(select(table).where(where & table.c.seq.is_(None)).order_by(table.c.id)):
            seq += 1
            entry = row._asdict() | {"seq": seq}
            digest = content_hash(prev, _Row(entry))
            changes.append({"_id": row.id, "seq": seq, "prev_hash": prev, "hash": digest})
            prev = digest
        if changes:
            connection.execute(update(table).where(table.c.id == bindparam("_id"))
                               .values(seq=bindparam("seq"), prev_hash=bindparam("prev_hash"),
                                       hash=bindparam("hash")), changes)
        sealed += len(changes)
    return sealed


class _Row:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


@event.listens_for(Engine, "after_cursor_execute")
def _note_audit_insert(conn: Connection, _cursor: object, statement: str, *_: object) -> None:
    if statement.lstrip()[:22].upper() == "INSERT INTO AUDITENTRY":
        conn.info[_PENDING] = True


@event.listens_for(Session, "before_commit")
def _seal_on_commit(session: Session) -> None:
    session.flush()  # ORM-added entries reach the database first
    connection = session.connection()
    if connection.info.pop(_PENDING, False):
        seal(connection)


@dataclass(frozen=True)
class ChainReport:
    tenant_id: int | None
    entries: int  # chained entries checked
    head: str  # the last entry's hash: record it elsewhere to detect removal of the newest entries too
    pending: int  # entries written but not chained yet (a transaction still open, or a writer outside a Session)
    broken_at: int | None = None  # the id of the first entry that does not match its chain
    problem: str = ""
    redacted: int = 0  # entries rewritten by an erasure, each vouched for by a later `redacted` entry

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify(connection: Connection, tenant_id: int | None) -> ChainReport:
    """Walk one chain from its start: positions without gaps, each link and each content hash."""
    table = _table()
    where = _chain_filter(tenant_id)
    pending = len(connection.execute(select(table.c.id).where(where & table.c.seq.is_(None))).all())
    vouched = _redactions(connection, where)
    rows = connection.execute(select(table).where(where & table.c.seq.is_not(None)).order_by(table.c.seq))
    count, prev, redacted = 0, "", 0
    for row in rows:
        count += 1
        changed = content_hash(prev, row) != row.hash
        if changed and _vouched_for(vouched.get(row.id, []), row, prev):
            changed, redacted = False, redacted + 1
        problem = ("a missing or reordered entry before it" if row.seq != count
                   else "its link to the previous entry was changed" if row.prev_hash != prev
                   else "its content was changed" if changed else "")
        if problem:
            return ChainReport(tenant_id, count, prev, pending, broken_at=row.id, problem=problem, redacted=redacted)
        prev = row.hash
    return ChainReport(tenant_id, count, prev, pending, redacted=redacted)


def _redactions(connection: Connection, where: Any) -> dict[int, list[tuple[int, str, str]]]:
    """Entry id → (seq of the vouching entry, hash before, content hash after), in chain order."""
    table = _table()
    found: dict[int, list[tuple[int, str, str]]] = {}
    for seq, detail in connection.execute(select(table.c.seq, table.c.detail).where(
            where & (table.c.action == REDACTED) & table.c.seq.is_not(None)).order_by(table.c.seq)):
        for entry_id, was, now in (detail or {}).get("rows", []):
            found.setdefault(int(entry_id), []).append((seq, str(was), str(now)))
    return found


def _vouched_for(redactions: list[tuple[int, str, str]], row: Any, prev: str) -> bool:
    """The first redaction started from the hash as chained, the last one vouches for the content now, and
    every one comes later in the chain than the entry (a redaction cannot vouch for what was written after it)."""
    return bool(redactions) and redactions[0][1] == row.hash and redactions[-1][2] == content_hash(prev, row) \
        and all(seq > row.seq for seq, _, _ in redactions)


def chains(connection: Connection) -> list[int | None]:
    """Every chain that has entries: the companies', and chain 0 (tenant-less) when present."""
    table = _table()
    found = {t for (t,) in connection.execute(select(table.c.tenant_id).distinct()
                                              .where(table.c.action.not_in(UNCHAINED_ACTIONS)))}
    return sorted(found, key=lambda t: t or 0)
