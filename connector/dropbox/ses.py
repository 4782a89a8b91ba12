"""Amazon SES receiving through an SNS topic: the SNS message's signature verified, then the SES notification's
inline ``content`` is the raw message (the receipt rule's SNS action, for mail up to 150 KB).

SNS signs what it sends with a key whose certificate it publishes at ``SigningCertURL``. That URL is believed
only when it is https on an ``sns.<region>.amazonaws.com`` host and names a ``.pem`` (anybody could otherwise
point us at a certificate of their own); it is fetched through the injected ``fetch`` (production: httpx,
which checks the server's certificate) and cached. The signature (SHA1withRSA for SignatureVersion 1,
SHA256withRSA for 2) covers the fields AWS lists for each message type. SNS signs every topic's messages
with the same key, so the topic must also be one of ``inbound.ses_topic_arns``: otherwise anybody with an
AWS account could publish mail to us.

* SubscriptionConfirmation of an allowed topic: its SubscribeURL (same host rules) is visited once.
* Notification: ``notificationType: Received`` with ``content`` (UTF-8 or BASE64, as the action's
  ``encoding`` says) is a delivery; so is one of the S3 action (mail over 150 KB, no ``content``), whose
  message is read from the ``bucketName``/``objectKey`` it names (`ses_s3`). SES's set-up test notification is
  answered and ignored.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connector.config import InboundSettings
from connector.dropbox.inbound import Delivery, Refused, envelope_sender, fresh, json_object

Fetch = Callable[[str], bytes]  # GET an https URL; raises on failure
ObjectFetch = Callable[[str, str, str], bytes]  # (topic ARN, bucket, key) → the S3 action's object
_SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
_SIGNED = {"Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
           "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                                        "Type")}
_SIGNED["UnsubscribeConfirmation"] = _SIGNED["SubscriptionConfirmation"]


class Unavailable(Exception):
    """AWS could not be reached (the certificate, the subscription URL): SNS should try again."""


@dataclass(frozen=True)
class Handled:
    """A call answered without a message to store (a subscription confirmed, a test notification)."""

    what: str


def https_fetch(url: str) -> bytes:
    response = httpx.get(url, timeout=10, follow_redirects=False)
    response.raise_for_status()
    return response.content


def sns_url(url: str, *, certificate: bool) -> str:
    """``url`` if it is an https URL of an SNS endpoint (and, for a certificate, a .pem); else refused."""
    parts = urlsplit(url)
    good = (parts.scheme == "https" and parts.username is None and parts.port in (None, 443)
            and _SNS_HOST.fullmatch(parts.hostname or "") is not None
            and (not certificate or parts.path.endswith(".pem")))
    if not good:
        raise Refused("bad_sns_url", url[:200], forged=True)
    return url


def string_to_sign(message: dict) -> bytes:
    """The fields SNS signs, in order, each as ``name\\nvalue\\n`` (Subject only when present)."""
    fields = _SIGNED.get(str(message.get("Type")))
    if fields is None:
        raise Refused("malformed", f"unknown SNS message type {str(message.get('Type'))[:40]!r}")
    return "".join(f"{name}\n{message[name]}\n" for name in fields if message.get(name) is not None).encode()


class SnsVerifier:
    def __init__(self, fetch: Fetch = https_fetch) -> None:
        self.fetch = fetch
        self._certificates: dict[str, x509.Certificate] = {}
        self._lock = threading.Lock()

    def verify(self, message: dict) -> None:
        version = str(message.get("SignatureVersion"))
        if version not in ("1", "2"):
            raise Refused("bad_signature", f"SignatureVersion {version[:8]!r}", forged=True)
        certificate = self._certificate(sns_url(str(message.get("SigningCertURL") or ""), certificate=True))
        key = certificate.public_key()
        now = datetime.now(UTC)
        if not isinstance(key, rsa.RSAPublicKey) or not (
                certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc):
            raise Refused("bad_signature", "the signing certificate is not a valid RSA certificate", forged=True)
        try:
            signature = base64.b64decode(str(message.get("Signature") or ""), validate=True)
            key.verify(signature, string_to_sign(message), padding.PKCS1v15(),
                       hashes.SHA1() if version == "1" else hashes.SHA256())  # SNS's version 1 is SHA1withRSA
        except (InvalidSignature, binascii.Error, ValueError) as exc:
            raise Refused("bad_signature", "the SNS signature does not verify", forged=True) from exc

    def _certificate(self, url: str) -> x509.Certificate:
        with self._lock:
            cached = self._certificates.get(url)
        if cached is not None:
            return cached
        try:
            pem = self.fetch(url)
        except Exception as exc:
            raise Unavailable(f"signing certificate {url}: {type(exc).__name__}") from exc
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise Refused("bad_signature", "the signing certificate is not PEM", forged=True) from exc
        with self._lock:
            self._certificates[url] = certificate
        return certificate


def ses(inbound: InboundSettings, verifier: SnsVerifier, body: bytes, now: float,
        objects: ObjectFetch | None = None) -> Delivery | Handled:
    message = json_object(body)
    verifier.verify(message)
    if str(message.get("TopicArn")) not in inbound.ses_topic_arns:
        raise Refused("unknown_topic", str(message.get("TopicArn"))[:200], forged=True)
    timestamp = str(message.get("Timestamp") or "")
    try:
        signed_at = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise Refused("malformed", "Timestamp is not ISO 8601") from exc
    fresh("ses", str(signed_at), now)
    kind = message["Type"]
    if kind == "SubscriptionConfirmation":
        try:
            verifier.fetch(sns_url(str(message.get("SubscribeURL") or ""), certificate=False))
        except Refused:
            raise
        except Exception as exc:
            raise Unavailable(f"confirming the subscription: {type(exc).__name__}") from exc
        return Handled("subscription_confirmed")
    if kind == "UnsubscribeConfirmation":
        return Handled("unsubscribed")
    return _received(message, objects)


def _received(message: dict, objects: ObjectFetch | None) -> Delivery | Handled:
    notification = json_object(str(message.get("Message") or "").encode())
    if notification.get("notificationType") != "Received":
        return Handled(str(notification.get("notificationType") or "notification")[:60])
    receipt = notification.get("receipt") if isinstance(notification.get("receipt"), dict) else {}
    action = receipt.get("action") if isinstance(receipt.get("action"), dict) else {}
    content = notification.get("content")
    if isinstance(content, str):
        try:
            raw = base64.b64decode(content, validate=True) if action.get("encoding") == "BASE64" else content.encode()
        except binascii.Error as exc:
            raise Refused("malformed", "content is not base64") from exc
    elif action.get("type") == "S3" and action.get("bucketName") and action.get("objectKey") and objects:
        raw = objects(str(message.get("TopicArn")), str(action["bucketName"]), str(action["objectKey"]))
    else:
        raise Refused("no_content", f"neither content nor an S3 object (action {str(action.get('type'))[:20]!r})")
    mail = notification.get("mail") if isinstance(notification.get("mail"), dict) else {}
    recipients = receipt.get("recipients") if isinstance(receipt.get("recipients"), list) else []
    return Delivery("ses", f"ses:{message.get('MessageId')}", raw, envelope_sender(str(mail.get("source") or "")),
                    tuple(str(r) for r in recipients))
