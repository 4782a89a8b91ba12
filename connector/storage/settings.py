"""The settings of S3 access: the `storage:` section, and the `inbound:` keys the SES endpoint reads an S3
action's bucket with (kept here beside the stores; `connector.config` reads them with the rest)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class StorageBackend(StrEnum):
    DATABASE = "database"  # the database's own blob table: nothing else to run (the embedded default)
    S3 = "s3"  # an S3-compatible bucket (AWS S3, MinIO, Ceph…); the database keeps the catalogue


class StorageSettings(BaseModel):
    """Where raw messages and attachments are kept, encrypted with each company's key (docs/records.md).
    Credentials come from the environment (or ``…_FILE``); none: boto3's own chain (an instance role)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: StorageBackend = StorageBackend.DATABASE
    bucket: str = ""  # required for s3
    prefix: str = "bcc-capture"  # objects are <prefix>/<company id>/<sha256>
    endpoint_url: str = ""  # an S3-compatible server's URL; "": AWS
    region: str = ""  # "": boto3's default (AWS_REGION, ~/.aws/config)
    access_key_id: str | None = None  # env: BCC_CAPTURE_STORAGE__ACCESS_KEY_ID
    secret_access_key: str | None = None  # env: BCC_CAPTURE_STORAGE__SECRET_ACCESS_KEY
    put_threads: int = Field(default=8, ge=1, le=64)  # objects of one batch stored at once


class SesS3Settings(BaseModel):
    """Mail over 150 KB reaches SES's endpoint through the receipt rule's S3 action: the bucket the notification
    names is read with these (``inbound.ses_s3_…``; docs/dropbox.md)."""

    ses_s3_endpoint_url: str = ""  # an S3-compatible server's URL; "": AWS
    ses_s3_region: str = ""  # "": the region of the notification's SNS topic
    ses_s3_access_key_id: str | None = None  # env: BCC_CAPTURE_INBOUND__SES_S3_ACCESS_KEY_ID; none: boto3's chain
    ses_s3_secret_access_key: str | None = None  # env: BCC_CAPTURE_INBOUND__SES_S3_SECRET_ACCESS_KEY
