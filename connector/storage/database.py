"""`DatabaseStore`: content sealed in the rows of the ``blob`` catalogue, the embedded default.

It also reads what an `S3Store` wrote (a row whose location is an object) when a bucket is still
configured, so switching ``storage.backend`` back to the database keeps every stored message readable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select

from connector.crypto import CompanyCipher
from connector.errors import ConfigError
from connector.models import Blob
from connector.storage.objects import Objects
from connector.storage.ports import BlobKey, BlobMissing

DATABASE = "database"
_CHUNK = 500
BLOB: Table = Blob.__table__  # type: ignore[attr-defined]


class DatabaseStore:
    def __init__(self, connection: Connection, cipher: CompanyCipher, objects: Objects | None = None) -> None:
        self.connection = connection
        self.cipher = cipher
        self.objects = objects  # for rows an S3Store wrote

    # ------------------------------------------------------------------ the port
    def put(self, tenant_id: int, sha256: str, content: bytes) -> None:
        self.put_many({(tenant_id, sha256): content})

    def put_many(self, contents: Mapping[BlobKey, bytes]) -> None:
        """Rows for the content the catalogue lacks: one query for what exists, one multi-row INSERT."""
        existing = self.locations(contents, lock=True)
        new = {key: content for key, content in contents.items() if key not in existing}
        self.store_objects(existing, contents)
        rows = [self.row(tenant_id, sha256, content) for (tenant_id, sha256), content in sorted(new.items())]
        for start in range(0, len(rows), _CHUNK):
            self.connection.execute(insert(BLOB), rows[start:start + _CHUNK])

    def get(self, tenant_id: int, sha256: str) -> bytes:
        found = self.connection.execute(select(BLOB.c.location, BLOB.c.content).where(
            BLOB.c.tenant_id == tenant_id, BLOB.c.sha256 == sha256)).first()
        if found is None:
            raise BlobMissing(f"company {tenant_id} has no content {sha256}")
        location, content = found
        if location == DATABASE:
            return self.cipher.open(tenant_id, bytes(content))
        return self.cipher.open(tenant_id, self._objects(location).get(location))

    def delete(self, tenant_id: int, sha256: str) -> None:
        where = (BLOB.c.tenant_id == tenant_id, BLOB.c.sha256 == sha256)
        location = self.connection.execute(select(BLOB.c.location).where(*where)).scalar()
        self.connection.execute(delete(BLOB).where(*where))
        if location is not None and location != DATABASE:
            # After the row: on SQLite its write lock, on PostgreSQL its row lock, holds off a writer that
            # wants the same content until this transaction ends (then it sees no row and puts it again).
            self._objects(location).delete(location)

    def exists(self, tenant_id: int, sha256: str) -> bool:
        return bool(self.locations([(tenant_id, sha256)]))

    # ------------------------------------------------------------------ what S3Store changes
    def row(self, tenant_id: int, sha256: str, content: bytes) -> dict[str, Any]:
        return {"tenant_id": tenant_id, "sha256": sha256, "size": len(content), "location": DATABASE,
                "content": self.cipher.seal(tenant_id, content)}

    def store_objects(self, existing: Mapping[BlobKey, str], contents: Mapping[BlobKey, bytes]) -> None:
        """Nothing to store outside the rows."""

    # ------------------------------------------------------------------ helpers
    def locations(self, keys: Iterable[BlobKey], *, lock: bool = False) -> dict[BlobKey, str]:
        """Where the catalogue keeps each of ``keys`` it has. ``lock``: FOR SHARE on PostgreSQL, so a deleter
        cannot remove a row this transaction relies on before it commits (SQLite writes one at a time)."""
        found: dict[BlobKey, str] = {}
        for tenant_id, group in groupby(sorted(keys), key=lambda key: key[0]):
            digests = [sha256 for _, sha256 in group]
            for start in range(0, len(digests), _CHUNK):
                statement = select(BLOB.c.sha256, BLOB.c.location).where(
                    BLOB.c.tenant_id == tenant_id, BLOB.c.sha256.in_(digests[start:start + _CHUNK]))
                if lock:
                    statement = statement.with_for_update(read=True)
                found.update(((tenant_id, sha256), location) for sha256, location in self.connection.execute(statement))
        return found

    def _objects(self, location: str) -> Objects:
        if self.objects is None:
            raise ConfigError("storage.bucket", f"stored content is at {location}, but no bucket is configured to "
                                                "read it from")
        return self.objects
