"""Deleting content nothing refers to any more: deleters check references (there is no reference count, so
the bulk writer stays insert-only).

Erasure and retention delete a company's attachments and raw messages, then call `release` with their
digests in the same transaction. Each blob row is locked (FOR UPDATE on PostgreSQL; SQLite has one writer at
a time) before its references are counted, so a writer filing the same content concurrently either commits
its reference first (the blob is kept) or waits for this transaction and stores the content again.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, exists, select, union_all

from connector.models import Activity, Attachment
from connector.models.mail import RawMessage
from connector.storage.database import BLOB
from connector.storage.ports import BlobStore


def release(connection: Connection, store: BlobStore, tenant_id: int, digests: Iterable[str]) -> list[str]:
    """Delete the company's blobs among ``digests`` that no attachment or raw message of its mail refers to;
    returns the digests deleted."""
    released = []
    for sha256 in sorted(set(digests)):
        locked = connection.execute(select(BLOB.c.sha256).where(BLOB.c.tenant_id == tenant_id, BLOB.c.sha256 == sha256)
                                    .with_for_update()).first()
        if locked is None or referenced(connection, tenant_id, sha256):
            continue
        store.delete(tenant_id, sha256)
        released.append(sha256)
    return released


def referenced(connection: Connection, tenant_id: int, sha256: str) -> bool:
    """Whether an attachment or a raw message of the company's mail (logged or unlogged) is this content."""
    users = union_all(*(select(model.activity_id).where(model.sha256 == sha256)  # type: ignore[attr-defined]
                        for model in (Attachment, RawMessage))).subquery()
    return bool(connection.execute(select(exists().where(
        Activity.id == users.c.activity_id, Activity.tenant_id == tenant_id))).scalar())
