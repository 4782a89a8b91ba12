"""Gmail push (Cloud Pub/Sub push subscription) → `Notification`s, after the OIDC token checks out.

The token is verified before the body is even read: RS256 signature against Google's certificates
(``settings.gmail.push_certs_url``, cached — the webhook must answer fast), issuer
accounts.google.com, audience (``push_audience``, else the endpoint URL as Pub/Sub defaults it),
and ``email`` = ``push_service_account`` with ``email_verified``. Only then is ``message.data``
(base64 JSON ``{emailAddress, historyId}``) decoded. The push is only a hint that the mailbox has
news; its historyId is ignored, so duplicated, late and reordered pushes are all harmless.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import google.auth.transport.requests
from google.auth import jwt
from google.auth.exceptions import GoogleAuthError

from connector.config import GmailSettings, Settings
from connector.errors import ConfigError, TransientError, WebhookRejected
from connector.ports import Notification

ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CLOCK_SKEW_SECONDS = 30
DEFAULT_CERTS_TTL = 3600.0
MIN_REFETCH_SECONDS = 60.0  # an unknown key id refetches (key rotation), but not on every forged call
_MAX_AGE = re.compile(r"max-age=(\d+)")


class _Certificates:
    """Google's signing certificates (key id → PEM), kept as long as Cache-Control says."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fetches = 0
        self._lock = threading.Lock()
        self._certs: dict[str, str] = {}
        self._fetched_at = float("-inf")
        self._expires_at = float("-inf")
        self._request = google.auth.transport.requests.Request()

    def for_key(self, key_id: str | None) -> dict[str, str]:
        with self._lock:
            now = time.monotonic()
            stale = now >= self._expires_at
            rotated = key_id not in self._certs and now - self._fetched_at >= MIN_REFETCH_SECONDS
            if stale or rotated:
                self._fetch(now)
            return self._certs

    def _fetch(self, now: float) -> None:
        try:
            response = self._request(self.url, method="GET", timeout=10)
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            certs = json.loads(response.data)
            if not isinstance(certs, dict) or "keys" in certs:
                raise ValueError("expected a map of key id → PEM certificate (the oauth2/v1/certs form)")
        except (GoogleAuthError, ValueError) as exc:
            if self._certs:  # keep verifying with the certificates we have; try again in a while
                self._fetched_at, self._expires_at = now, now + MIN_REFETCH_SECONDS
                return
            # Not the caller's fault: answer 5xx so Pub/Sub redelivers.
            raise TransientError(f"cannot read Google's push certificates from {self.url}: {exc}") from exc
        max_age = _MAX_AGE.search(response.headers.get("cache-control", ""))
        self._certs = {str(k): str(v) for k, v in certs.items()}
        self._fetched_at = now
        self._expires_at = now + (float(max_age.group(1)) if max_age else DEFAULT_CERTS_TTL)
        self.fetches += 1


def require_audience(settings: Settings) -> None:
    """Refuse to start when pushes could only ever be rejected: the connector serves plain HTTP, so an
    ``https`` ``sync.public_url`` means a TLS-terminating proxy is in front, and the URL a request reaches the
    app with is not the endpoint whose URL Pub/Sub put in the token's audience
    (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions)."""
    gmail = settings.gmail
    if gmail.topic_name and not gmail.push_audience and settings.sync.public_url.lower().startswith("https:"):
        raise ConfigError("gmail.push_audience", f"required behind the proxy serving {settings.sync.public_url}: "
                          "set it to the audience of the Pub/Sub push subscription (by default its endpoint, "
                          f"{settings.sync.public_url.rstrip('/')}/webhooks/gmail)")


class PushParser:
    def __init__(self, settings: GmailSettings) -> None:
        self.settings = settings
        self.certificates = _Certificates(settings.push_certs_url)

    def handshake(self, query: Mapping[str, str]) -> str | None:
        return None  # Pub/Sub push endpoints are not validated by a request of their own

    def parse(self, headers: Mapping[str, str], body: bytes, url: str) -> list[Notification]:
        claims = self._verified_claims(_bearer(headers))
        audience = self.settings.push_audience or url
        if claims.get("aud") != audience:
            raise WebhookRejected("wrong_audience", f"token audience {claims.get('aud')!r}")
        expected = self.settings.push_service_account.lower()
        if not expected or str(claims.get("email", "")).lower() != expected or \
                claims.get("email_verified") not in (True, "true"):
            raise WebhookRejected("wrong_service_account", f"token of {claims.get('email')!r}")
        return [Notification(address=_address(body))]

    def _verified_claims(self, token: str) -> dict[str, Any]:
        try:
            key_id = jwt.decode_header(token).get("kid")
            certs = self.certificates.for_key(str(key_id) if key_id else None)
            claims = jwt.decode(token, certs=certs, audience=None, clock_skew_in_seconds=CLOCK_SKEW_SECONDS)
        except (ValueError, GoogleAuthError, TypeError) as exc:
            raise WebhookRejected("invalid_token", str(exc)[:200]) from exc
        if claims.get("iss") not in ISSUERS:
            raise WebhookRejected("invalid_token", f"issuer {claims.get('iss')!r}")
        return dict(claims)


def _bearer(headers: Mapping[str, str]) -> str:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise WebhookRejected("missing_token", "no Authorization: Bearer header")
    return token.strip()


def _address(body: bytes) -> str:
    try:
        data = json.loads(body)["message"]["data"]
        padded = data + "=" * (-len(data) % 4)
        decoded = json.loads(base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True))
        address = str(decoded["emailAddress"]).strip().lower()
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise WebhookRejected("malformed", "not a Gmail push: expected message.data = base64 JSON") from exc
    if "@" not in address:
        raise WebhookRejected("malformed", f"emailAddress {address!r}")
    return address
