"""Objects in an S3-compatible bucket through boto3: a client from settings, an object's key, and what a
failure means (`classify`): the object is missing, the configuration cannot work, or the store is away.

boto3 and botocore are imported where a bucket is used, not with this module: every command that may read a
blob imports it, and a deployment on the database store (the default) should not pay boto3's start-up."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import Any

from connector.errors import ConfigError
from connector.storage.ports import BlobMissing, StorageUnavailable

_MISSING = {"NoSuchKey", "404", "NotFound"}
_AWAY = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling", "RequestTimeTooSkewed"}


class Failure(StrEnum):
    MISSING = "missing"  # no such object: perhaps not yet, perhaps deleted
    CONFIGURATION = "configuration"  # no bucket, no credentials, access denied: no retry fixes it
    UNAVAILABLE = "unavailable"  # the store failed or could not be reached: a retry may succeed


def classify(exc: Exception) -> Failure:
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError, PartialCredentialsError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _MISSING:
            return Failure.MISSING
        return Failure.UNAVAILABLE if status >= 500 or code in _AWAY else Failure.CONFIGURATION
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | NoRegionError):
        return Failure.CONFIGURATION
    return Failure.UNAVAILABLE


def s3_client(endpoint_url: str, region: str, access_key_id: str | None, secret_access_key: str | None,
              threads: int = 10) -> Any:
    """A thread-safe client; without an access key, boto3's own chain (environment, instance role)."""
    import boto3
    from botocore.config import Config

    credentials = ({"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
                   if access_key_id else {})
    config = Config(max_pool_connections=threads, connect_timeout=5, read_timeout=60,
                    retries={"mode": "standard", "max_attempts": 3})
    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config,
                        **credentials)


class Objects:
    """The deployment's bucket: keys ``<prefix>/<company id>/<sha256>``, named in the catalogue by location
    ``s3://<bucket>/<key>`` (another bucket's rows stay readable with the same credentials)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "", threads: int = 8) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="s3-put")

    def location(self, tenant_id: int, sha256: str) -> str:
        key = f"{self.prefix}/{tenant_id}/{sha256}" if self.prefix else f"{tenant_id}/{sha256}"
        return f"s3://{self.bucket}/{key}"

    def put_all(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Every (location, sealed content), several at once; returns when all are stored."""
        for future in [self._pool.submit(self.put, location, content) for location, content in items]:
            future.result()

    def put(self, location: str, content: bytes) -> None:
        bucket, key = _split(location)
        self._call(location, self.client.put_object, Bucket=bucket, Key=key, Body=content)

    def get(self, location: str) -> bytes:
        bucket, key = _split(location)
        return bytes(self._call(location, self.client.get_object, Bucket=bucket, Key=key)["Body"].read())

    def delete(self, location: str) -> None:
        bucket, key = _split(location)
        self._call(location, self.client.delete_object, Bucket=bucket, Key=key)

    @staticmethod
    def _call(location: str, method: Any, **params: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError  # loaded already: a client exists

        try:
            return method(**params)
        except (ClientError, BotoCoreError) as exc:
            failure = classify(exc)
            if failure is Failure.MISSING:
                raise BlobMissing(f"no object {location}") from exc
            if failure is Failure.CONFIGURATION:
                raise ConfigError("storage", f"the object store refused {location}: {exc}") from exc
            raise StorageUnavailable(f"the object store failed on {location}: {exc}") from exc


def _split(location: str) -> tuple[str, str]:
    bucket, _, key = location.removeprefix("s3://").partition("/")
    return bucket, key
