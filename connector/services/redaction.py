"""Rewriting audit entries that name an erased person, without breaking the chain (connector/models/audit.py).

Each chain touched gets one `redacted` entry listing [entry id, hash as chained, content hash now] for the
entries rewritten; it is chained itself when the transaction commits, so nobody can later edit a redacted
entry, or the list, unnoticed. Entries about mail a legal hold protects are left as they are.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlmodel import Session

from connector.models import AuditEntry
from connector.models.audit import REDACTED, UNCHAINED_ACTIONS, content_hash
from connector.services.scrub import Identity, Place, apply_changes, find_changes, table

_TEXT = ("reason", "internet_message_id", "mailbox", "source")


def redact_audit(session: Session, who: Identity, tenant_id: int, held_message_ids: Collection[str],
                 erasure: str, *, dry_run: bool = False) -> int:
    """Rewrite the company's entries (and the company-less ones) that name ``who``; the number rewritten."""
    total = 0
    for chain, scope in ((tenant_id, "tenant"), (None, "no_tenant")):
        changes = find_changes(session, Place("auditentry", _TEXT, ("detail",), scope=scope), who, tenant_id,
                               lambda row: row["internet_message_id"] in held_message_ids
                               or row["action"] == REDACTED)
        total += len(changes)
        if dry_run or not changes:
            continue
        apply_changes(session, "auditentry", changes)
        chained = {c.key["id"]: c.row["hash"] for c in changes
                   if c.row["seq"] is not None and c.row["action"] not in UNCHAINED_ACTIONS}
        if chained:
            audit = table("auditentry")
            rows = session.execute(select(audit).where(audit.c.id.in_(chained)).order_by(audit.c.seq))
            vouched = [[row.id, chained[row.id], content_hash(row.prev_hash, row)] for row in rows]
            session.add(AuditEntry(tenant_id=chain, action=REDACTED, reason="erasure",
                                   detail={"erasure": erasure, "rows": vouched}))
    session.flush()
    return total
