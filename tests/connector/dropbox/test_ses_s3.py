"""Amazon SES with an S3 action: mail over SNS's 150 KB is written to a bucket (here a real S3-compatible server
on loopback) and the SNS notification names it; the endpoint reads it from there and files it like inline mail.
An object not there (yet) is answered so that SNS tries again, and nothing is lost."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlmodel import col

from connector.models import Activity, AuditEntry
from tests.conftest import World
from tests.connector.conftest import KEYS as S3_KEYS
from tests.connector.conftest import Bucket
from tests.connector.dropbox import inbound_calls as calls
from tests.connector.dropbox.conftest import KEYS, MATTER, DnsServer
from tests.connector.dropbox.inbound_front import ALICE, Front, inbound_settings, start_front
from tests.mailbuilder import mail

DRAWINGS = ("drawings.pdf", "application/pdf", bytes(range(256)) * 800)  # 200 KB: over SNS's 150 KB


@pytest.fixture
def front(world: World, dns_server: DnsServer, aws: calls.FakeAws, bucket: Bucket) -> Iterator[Front]:
    """Every inbound service configured, SES reading S3 action objects from the test's S3 server."""
    settings = inbound_settings(dns_server)
    inbound = settings.inbound.model_copy(update={
        "ses_s3_endpoint_url": bucket.endpoint, "ses_s3_access_key_id": S3_KEYS["aws_access_key_id"],
        "ses_s3_secret_access_key": S3_KEYS["aws_secret_access_key"]})
    yield from start_front(world, settings.model_copy(update={"inbound": inbound}), aws)


def large_mail(subject: str) -> bytes:
    """Alice's mail with a 200 KB attachment, DKIM-signed by her firm as it leaves."""
    return KEYS["acme-law.com"].sign(mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject=subject,
                                          message_id=f"<{uuid.uuid4().hex}@acme-law.com>", attachments=[DRAWINGS]))


def test_a_200_kb_message_delivered_through_s3_is_filed(front: Front, bucket: Bucket) -> None:
    raw = large_mail("Site drawings")
    assert len(raw) > 200_000
    bucket.client.put_object(Bucket=bucket.name, Key="inbound/m1", Body=raw)  # what SES's S3 action does
    response = front.post(calls.ses(front.aws, raw, MATTER, content=False, bucket=bucket.name, key="inbound/m1"))
    assert (response.status_code, response.json()["status"]) == (200, "stored")
    [row] = front.spooled()
    assert row.raw.endswith(raw) and row.rcpt_tos == [MATTER]  # after our Received line: every byte
    [filed] = front.file()
    assert filed.outcome == "logged"
    [activity] = front.rows(Activity)
    assert activity.subject == "Site drawings"


def test_an_s3_object_not_there_yet_asks_sns_to_retry_and_the_retry_files_it(front: Front, bucket: Bucket) -> None:
    raw = large_mail("Drawings, second set")
    call = calls.ses(front.aws, raw, MATTER, content=False, bucket=bucket.name, key="inbound/m2")
    first = front.post(call)
    assert (first.status_code, first.json()["error"]) == (503, "not stored; retry")  # SNS retries a 5xx
    assert front.spooled() == []
    bucket.client.put_object(Bucket=bucket.name, Key="inbound/m2", Body=raw)
    assert front.post(call).status_code == 200  # SNS's retry: the same signed message, the same MessageId
    assert [filed.outcome for filed in front.file()] == ["logged"]


def test_a_bucket_the_endpoint_cannot_read_is_refused_with_its_name(front: Front, bucket: Bucket) -> None:
    call = calls.ses(front.aws, large_mail("Elsewhere"), MATTER, content=False, bucket=bucket.name + "-other",
                     key="inbound/m3")
    response = front.post(call)
    assert (response.status_code, response.json()["error"]) == (403, "s3_unreadable")  # no retry can fix it
    [sample] = front.rows(AuditEntry, col(AuditEntry.reason) == "s3_unreadable")
    assert f"s3://{bucket.name}-other/inbound/m3" in sample.detail["last"]
    assert front.spooled() == []


def test_an_object_the_s3_action_encrypted_with_kms_is_refused_naming_the_fix(front: Front, bucket: Bucket) -> None:
    # The S3 encryption client's envelope metadata, as SES writes it when the action names a KMS key.
    bucket.client.put_object(Bucket=bucket.name, Key="inbound/m4", Body=b"\x8a\x01ciphertext",
                             Metadata={"x-amz-key-v2": "AQIDAHh...", "x-amz-cek-alg": "AES/GCM/NoPadding"})
    response = front.post(calls.ses(front.aws, b"", MATTER, content=False, bucket=bucket.name, key="inbound/m4"))
    assert (response.status_code, response.json()["error"]) == (403, "s3_encrypted")
    [sample] = front.rows(AuditEntry, col(AuditEntry.reason) == "s3_encrypted")
    assert "remove the key from the action" in sample.detail["last"]
