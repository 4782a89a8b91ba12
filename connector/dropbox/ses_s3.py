"""The message of an SES receipt rule's S3 action (mail over SNS's 150 KB), read from the bucket and key the
verified notification names (https://docs.aws.amazon.com/ses/latest/dg/receiving-email-action-s3.html).

What a failure means for SNS, which retries a 5xx and not a 4xx
(https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html):
* the object is missing, or S3 failed or could not be reached: `Unavailable` (503), SNS tries again and the
  message is not lost (SES wrote the object before it published the notification);
* a configuration that cannot work (no such bucket, access denied, no credentials, an object the action
  encrypted client-side with KMS, which only the S3 encryption client can open): `Refused`, named, sampled into
  the audit; SNS does not retry, and the message stays in the bucket.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from connector.dropbox.inbound import Refused
from connector.dropbox.ses import Unavailable
from connector.storage.objects import Failure, classify, s3_client
from connector.storage.settings import SesS3Settings

# Metadata the S3 encryption client writes beside what it encrypted (envelope encryption, v1 and v2).
_CLIENT_SIDE = ("x-amz-key", "x-amz-key-v2", "x-amz-cek-alg")


class SesObjects:
    """Reads S3 action objects with ``inbound.ses_s3_…``: one client per region (the topic's, by default)."""

    def __init__(self, settings: SesS3Settings, max_bytes: int) -> None:
        self.settings, self.max_bytes = settings, max_bytes
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, topic_arn: str, bucket: str, key: str) -> bytes:
        where = f"s3://{bucket}/{key}"
        try:
            found = self._client(topic_arn).get_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            failure = classify(exc)
            if failure is Failure.CONFIGURATION:
                raise Refused("s3_unreadable", f"{where}: {exc} (the inbound.ses_s3_* settings, the bucket policy "
                                               "and the receipt rule must agree)") from exc
            raise Unavailable(f"{where}: {failure.value}: {type(exc).__name__}") from exc
        body = found["Body"]
        try:
            metadata = {name.lower() for name in found.get("Metadata") or {}}
            if metadata & set(_CLIENT_SIDE):
                raise Refused("s3_encrypted", f"{where} was encrypted by the S3 action with a KMS key: remove the "
                                              "key from the action (use the bucket's default encryption instead)")
            if int(found.get("ContentLength") or 0) > self.max_bytes:
                raise Refused("too_large", f"{where} is over {self.max_bytes} bytes")
            return bytes(body.read())
        except (BotoCoreError, OSError) as exc:
            raise Unavailable(f"{where}: reading the object: {type(exc).__name__}") from exc
        finally:
            body.close()

    def _client(self, topic_arn: str) -> Any:
        region = self.settings.ses_s3_region or _region(topic_arn)
        with self._lock:
            if region not in self._clients:
                s = self.settings
                self._clients[region] = s3_client(s.ses_s3_endpoint_url, region, s.ses_s3_access_key_id,
                                                  s.ses_s3_secret_access_key)
            return self._clients[region]


def _region(topic_arn: str) -> str:
    """arn:aws:sns:<region>:<account>:<topic>"""
    parts = topic_arn.split(":")
    return parts[3] if len(parts) > 3 else ""
