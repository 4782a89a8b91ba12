"""Signing outbound events as Standard Webhooks does (https://www.standardwebhooks.com/, the specification at
https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):

* headers ``webhook-id`` (the event id: the same on every attempt, for de-duplication), ``webhook-timestamp``
  (Unix seconds of this attempt) and ``webhook-signature: v1,<base64 signature>``;
* the signature is HMAC-SHA256 over ``{id}.{timestamp}.{body}`` keyed with the secret's bytes: the secret reads
  ``whsec_<base64 of 24 random bytes>`` and the key is the base64-decoded part after ``whsec_``.

Receivers verify with any Standard Webhooks library or the ten lines in docs/integration.md, and refuse a
timestamp more than five minutes from their clock (replays).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"webhook-id": event_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret, event_id, timestamp, body), "content-type": "application/json"}
