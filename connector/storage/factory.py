"""The store the settings choose, bound to the caller's connection (its transaction). The cipher and the
S3 client are made once per settings and shared: both are thread-safe."""

from __future__ import annotations

import threading

from sqlalchemy import Connection
from sqlmodel import Session

from connector.config import Settings, get_settings
from connector.crypto import CompanyCipher
from connector.errors import ConfigError
from connector.storage.database import DatabaseStore
from connector.storage.objects import Objects, s3_client
from connector.storage.ports import BlobStore
from connector.storage.s3 import S3Store
from connector.storage.settings import StorageBackend, StorageSettings

_SHARED: dict[tuple[str | None, StorageSettings], tuple[CompanyCipher, Objects | None]] = {}
_LOCK = threading.Lock()


def _shared(settings: Settings) -> tuple[CompanyCipher, Objects | None]:
    key = (settings.secret_key, settings.storage)
    with _LOCK:
        if key not in _SHARED:
            _SHARED[key] = (CompanyCipher.from_settings(settings), _objects(settings.storage))
        return _SHARED[key]


def _objects(storage: StorageSettings) -> Objects | None:
    if storage.backend is StorageBackend.S3 and not storage.bucket:
        raise ConfigError("storage.bucket", "is required when storage.backend is s3")
    if not storage.bucket:  # with a bucket, also when the backend is the database: what S3 holds stays readable
        return None
    client = s3_client(storage.endpoint_url, storage.region, storage.access_key_id, storage.secret_access_key,
                       threads=storage.put_threads + 2)
    return Objects(client, storage.bucket, storage.prefix, storage.put_threads)


def blob_store(settings: Settings, where: Connection | Session) -> BlobStore:
    connection = where.connection() if isinstance(where, Session) else where
    cipher, objects = _shared(settings)
    if settings.storage.backend is StorageBackend.S3:
        assert objects is not None
        return S3Store(connection, cipher, objects)
    return DatabaseStore(connection, cipher, objects)


def deployment_store(where: Connection | Session) -> BlobStore:
    """The store of the process's own settings (`get_settings`), for a reader that was handed none."""
    return blob_store(get_settings(), where)


def reseal_all(settings: Settings, where: Connection | Session) -> int:
    """Every stored blob sealed again with the newest key (`connector.storage.rotation`)."""
    from connector.storage.rotation import reseal

    cipher, objects = _shared(settings)
    return reseal(where.connection() if isinstance(where, Session) else where, cipher, objects)
