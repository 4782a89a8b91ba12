"""`bcc-capture secret rotate` for stored mail: every blob sealed again with the newest key, so the old keys
can be dropped (rows rewritten in place; objects read, sealed afresh and put again under the same key)."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from connector.crypto import CompanyCipher
from connector.storage.database import BLOB, DATABASE
from connector.storage.objects import Objects

_CHUNK = 200


def reseal(connection: Connection, cipher: CompanyCipher, objects: Objects | None) -> int:
    """How many blobs were sealed again with the first key. A blob in an object store needs ``objects``."""
    count = 0
    after: tuple[int, str] = (-1, "")
    while True:
        rows = connection.execute(select(BLOB.c.tenant_id, BLOB.c.sha256, BLOB.c.location, BLOB.c.content)
                                  .where((BLOB.c.tenant_id > after[0])
                                         | ((BLOB.c.tenant_id == after[0]) & (BLOB.c.sha256 > after[1])))
                                  .order_by(BLOB.c.tenant_id, BLOB.c.sha256).limit(_CHUNK)).all()
        for tenant_id, sha256, location, content in rows:
            if location == DATABASE:
                connection.execute(update(BLOB).where(BLOB.c.tenant_id == tenant_id, BLOB.c.sha256 == sha256)
                                   .values(content=cipher.reseal(tenant_id, bytes(content))))
            elif objects is not None:
                objects.put(location, cipher.reseal(tenant_id, objects.get(location)))
            else:
                raise ValueError(f"{location} is in an object store, and no storage.bucket is configured")
            count += 1
        if len(rows) < _CHUNK:
            return count
        after = (rows[-1][0], rows[-1][1])
