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
from connector.services.scrub import Change, Identity, Place, apply_changes, find_changes, table

_TEXT = ("reason", "internet_message_id", "mailbox", "source")


def redact_audit(session: Session, who: Identity, tenant_id: int, held_message_ids: Collection[str],
                 erasure: str, *, dry_run: bool = False) -> int:
    """Rewrite the company's entries (and the company-less ones) that name ``who``; the number rewritten."""
    total = 0
    for chain, scope in ((tenant_id, "tenant"), (None, "no_tenant")):
        changes = find_changes(session, Place("auditentry", _TEXT, ("detail",), scope=scope), who, tenant_id,
                               lambda row: row["internet_message_id"] in held_message_ids
                               or row["action"] == REDACTED)
        changes = [c for c in changes if _keep_held(c, held_message_ids)]
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


def _keep_held(change: Change, held_message_ids: Collection[str]) -> bool:
    """A view entry lists the e-mails a page showed: those a legal hold protects keep their ids as written (as a
    one-message entry about held mail is kept whole), the rest of the entry is rewritten. False: nothing left
    to rewrite."""
    was = (change.row.get("detail") or {}).get("shown")
    now = change.values.get("detail")
    if not was or not held_message_ids or now is None:
        return True
    shown = [old if old[1] in held_message_ids else new for old, new in zip(was, now["shown"], strict=True)]
    change.values["detail"] = now = {**now, "shown": shown}
    if now == change.row["detail"]:
        del change.values["detail"]
    return bool(change.values)
