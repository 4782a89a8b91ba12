"""`S3Store`: content sealed in objects of an S3-compatible bucket, the catalogue rows naming them.

Every object of a batch is put before any row is inserted, and all of it before the caller commits: a crash
or a failed put leaves at most an object no row names, never a row without its object. Content the catalogue
already has is put again too (same key, sealed afresh): a deleter that removed the object and then failed to
commit left a row whose object is gone, and this put restores it before anything new refers to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from connector.crypto import CompanyCipher
from connector.storage.database import DATABASE, DatabaseStore
from connector.storage.objects import Objects
from connector.storage.ports import BlobKey


class S3Store(DatabaseStore):
    def __init__(self, connection: Connection, cipher: CompanyCipher, objects: Objects) -> None:
        super().__init__(connection, cipher, objects)
        self.bucket = objects

    def row(self, tenant_id: int, sha256: str, content: bytes) -> dict[str, Any]:
        return {"tenant_id": tenant_id, "sha256": sha256, "size": len(content),
                "location": self.bucket.location(tenant_id, sha256), "content": None}

    def store_objects(self, existing: Mapping[BlobKey, str], contents: Mapping[BlobKey, bytes]) -> None:
        items = []
        for (tenant_id, sha256), content in sorted(contents.items()):
            location = existing.get((tenant_id, sha256)) or self.bucket.location(tenant_id, sha256)
            if location != DATABASE:  # content kept in a row before the switch to S3 stays there
                items.append((location, self.cipher.seal(tenant_id, content)))
        self.bucket.put_all(items)
