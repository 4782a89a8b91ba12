"""Dropping stored mail content: the original MIME and attachments of activities, for retention and erasure.

Content lives in the company's blob store (connector/storage/), once per distinct content within the company,
so a blob goes only when none of the company's mail refers to it any more: `discard_blobs` hands the digests
to the store's `release` once the references are gone, in the caller's transaction. ``store``: the store of
the caller's settings (the console's, the worker's); by default the process's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlmodel import Session, col, select

from connector.models import Activity, Attachment
from connector.models.mail import RawMessage
from connector.storage.factory import deployment_store
from connector.storage.ports import BlobMissing, BlobStore
from connector.storage.release import release


def read(session: Session, tenant_id: int, sha256: str, store: BlobStore | None = None) -> bytes:
    """The content (b"" when the store has none: nothing there to find or to drop)."""
    try:
        return (store or deployment_store(session)).get(tenant_id, sha256)
    except BlobMissing:
        return b""


def drop_originals(session: Session, activity_ids: Iterable[int], store: BlobStore | None = None) -> int:
    """Delete the original MIME of these activities; the number of originals deleted."""
    deleted = 0
    for chunk in chunks(activity_ids):
        rows = session.exec(select(RawMessage, Activity.tenant_id)
                            .join(Activity, col(Activity.id) == col(RawMessage.activity_id))
                            .where(col(RawMessage.activity_id).in_(chunk))).all()
        for row, _ in rows:
            session.delete(row)
        session.flush()
        for tenant_id in {t for _, t in rows}:
            discard_blobs(session, tenant_id, {r.sha256 for r, t in rows if t == tenant_id}, store)
        deleted += len(rows)
    return deleted


def drop_attachments(session: Session, tenant_id: int, attachments: Iterable[Attachment],
                     store: BlobStore | None = None) -> int:
    """Delete these attachments (all of ``tenant_id``'s mail); the number deleted."""
    items = list(attachments)
    for attachment in items:
        session.delete(attachment)
    session.flush()
    discard_blobs(session, tenant_id, {a.sha256 for a in items}, store)
    return len(items)


def discard_blobs(session: Session, tenant_id: int, shas: Iterable[str], store: BlobStore | None = None) -> int:
    """Delete the company's blobs among ``shas`` that none of its mail refers to any more."""
    return len(release(session.connection(), store or deployment_store(session), tenant_id, shas))


def chunks(ids: Iterable[int], size: int = 500) -> Iterator[list[int]]:
    """``ids`` in lists short enough for an IN clause."""
    items = list(ids)
    for start in range(0, len(items), size):
        yield items[start:start + size]
