"""What the core asks of a place that keeps mail content: `BlobStore`, and the errors it raises."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from connector.errors import NotFound

BlobKey = tuple[int, str]  # (company id, SHA-256 of the plaintext, hex)


class BlobMissing(NotFound):
    """The catalogue or the object store has no such content for that company."""


class StorageUnavailable(ConnectionError):
    """The object store could not be reached or failed (5xx, timeout): nothing was committed; try again.
    A ConnectionError, so the sync policy retries it like any other dropped connection."""


class BlobStore(Protocol):
    """One company's content by its SHA-256, within the caller's transaction. ``put`` is idempotent; every
    call names the company, and one company's content is never another's."""

    def put(self, tenant_id: int, sha256: str, content: bytes) -> None: ...

    def put_many(self, contents: Mapping[BlobKey, bytes]) -> None:
        """``put`` of a batch, in as few round trips as the store allows (the bulk writer's path)."""

    def get(self, tenant_id: int, sha256: str) -> bytes:
        """The plaintext; BlobMissing when there is none."""

    def delete(self, tenant_id: int, sha256: str) -> None:
        """Gone from the catalogue and the store (idempotent). It does not look for references: see `release`."""

    def exists(self, tenant_id: int, sha256: str) -> bool: ...
