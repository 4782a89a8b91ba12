"""A real S3-compatible server on loopback (moto's, in server mode) for the stories that store mail in a
bucket or read SES deliveries from one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from connector.config import Settings
from connector.storage.settings import StorageBackend, StorageSettings

REGION = "eu-west-1"
KEYS = {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "example-secret"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Bucket:
    """A fresh bucket of this test's own, and a boto3 client to look inside it directly."""

    endpoint: str
    name: str
    client: Any

    def object_keys(self) -> list[str]:
        return sorted(o["Key"] for o in self.client.list_objects_v2(Bucket=self.name).get("Contents", []))

    def read(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())

    def storing(self, settings: Settings) -> Settings:
        """``settings`` with raw messages and attachments kept in this bucket."""
        storage = StorageSettings(backend=StorageBackend.S3, bucket=self.name, endpoint_url=self.endpoint,
                                  region=REGION, access_key_id=KEYS["aws_access_key_id"],
                                  secret_access_key=KEYS["aws_secret_access_key"])
        return settings.model_copy(update={"storage": storage})


@pytest.fixture
def bucket(s3_endpoint: str) -> Bucket:
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION, **KEYS)
    name = f"mail-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return Bucket(s3_endpoint, name, client)
