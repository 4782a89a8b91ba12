"""The calls each inbound-mail service makes, built the way each documents them and signed with the test's own
secrets and keys; and a loopback HTTPS stand-in for AWS serving the SNS signing certificate."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

POSTMARK_PASSWORD = "postmark-webhook-password"
MAILGUN_KEY = "key-mailgun-webhook-signing"
SENDGRID_PASSWORD = "sendgrid-parse-password"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(SENDGRID_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
TOPIC = "arn:aws:sns:eu-west-1:123456789012:bcc-dropbox"
SNS_HOST = "https://sns.eu-west-1.amazonaws.com"
CERT_URL = f"{SNS_HOST}/SimpleNotificationService-0123456789abcdef.pem"


@dataclass
class Call:
    path: str
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None


def _multipart(fields: dict[str, bytes]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", files={name: (None, value) for name, value in fields.items()})
    return request.read(), request.headers["content-type"]


def postmark(raw: bytes, recipient: str, *, message_id: str | None = None, password: str = POSTMARK_PASSWORD,
             raw_included: bool = True, mailbox_hash: str = "") -> Call:
    payload: dict[str, Any] = {
        "MessageID": message_id or str(uuid.uuid4()), "OriginalRecipient": recipient, "MailboxHash": mailbox_hash,
        "From": "alice@acme-law.com", "FromFull": {"Email": "alice@acme-law.com", "Name": "Alice Archer"},
        "To": "carol@clientco.com", "ToFull": [{"Email": "carol@clientco.com", "Name": "", "MailboxHash": ""}],
        "Subject": "Inbound via Postmark", "Date": "Mon, 9 Mar 2026 14:30:00 +0000", "TextBody": "Hello Carol",
        "Headers": [{"Name": "Return-Path", "Value": "<alice@acme-law.com>"},
                    {"Name": "Message-ID", "Value": "<rebuilt-1@acme-law.com>"}]}
    if raw_included:
        payload["RawEmail"] = raw.decode()
    return Call("/webhooks/inbound/postmark", json.dumps(payload).encode(), {"content-type": "application/json"},
                ("postmark", password))


def mailgun(raw: bytes, recipient: str, *, key: str = MAILGUN_KEY, timestamp: int | None = None,
            token: str | None = None) -> Call:
    stamp, token = str(timestamp or int(time.time())), token or uuid.uuid4().hex + uuid.uuid4().hex[:18]
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    body, content_type = _multipart({"timestamp": stamp.encode(), "token": token.encode(),
                                     "signature": signature.encode(), "recipient": recipient.encode(),
                                     "sender": b"alice@acme-law.com", "body-mime": raw})
    return Call("/webhooks/inbound/mailgun/mime", body, {"content-type": content_type})


def sendgrid(raw: bytes, recipient: str, *, signer: ec.EllipticCurvePrivateKey | None = SENDGRID_KEY,
             password: str = SENDGRID_PASSWORD, timestamp: int | None = None) -> Call:
    body, content_type = _multipart({
        "email": raw, "to": recipient.encode(), "sender_ip": b"127.0.0.1",
        "envelope": json.dumps({"to": [recipient], "from": "alice@acme-law.com"}).encode()})
    headers = {"content-type": content_type}
    if signer is not None:
        stamp = str(timestamp or int(time.time()))
        signature = signer.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers |= {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                    "X-Twilio-Email-Event-Webhook-Timestamp": stamp}
    return Call("/webhooks/inbound/sendgrid", body, headers, ("sendgrid", password))


class FakeAws:
    """Plays AWS's certificate host and subscription endpoint on loopback (plain HTTP: `fetch` maps the
    https SNS URLs here, so the product's URL checks still see AWS's)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        self.certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
                            .sign(self.key, hashes.SHA256()))
        self.requests: list[str] = []
        aws = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                aws.requests.append(self.path)
                body = (aws.certificate.public_bytes(serialization.Encoding.PEM) if self.path.endswith(".pem")
                        else b"<ConfirmSubscriptionResponse/>")
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fetch(self, url: str) -> bytes:
        assert url.startswith(SNS_HOST + "/"), url
        response = httpx.get(self.base + url.removeprefix(SNS_HOST), timeout=5)
        response.raise_for_status()
        return response.content

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def sign(self, message: dict[str, str], version: str = "2") -> dict[str, str]:
        """Sign as SNS documents: the listed fields, each 'name\\nvalue\\n', in byte order of their names."""
        names = (["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
                 if message["Type"] == "Notification" else
                 ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"])
        canonical = "".join(f"{n}\n{message[n]}\n" for n in names if n in message).encode()
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(canonical, padding.PKCS1v15(), digest)
        return {**message, "SignatureVersion": version, "Signature": base64.b64encode(signature).decode(),
                "SigningCertURL": CERT_URL}


def _sns_timestamp(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ses(aws: FakeAws, raw: bytes, recipient: str, *, topic: str = TOPIC, message_id: str | None = None,
        at: datetime | None = None, version: str = "2", content: bool = True, bucket: str = "acme-mail",
        key: str = "inbound/abc123") -> Call:
    """A Received notification: the message inline (the SNS action), or only where the S3 action put it."""
    action: dict[str, str] = {"type": "SNS", "topicArn": topic, "encoding": "BASE64"} if content else {
        "type": "S3", "topicArn": topic, "bucketName": bucket, "objectKeyPrefix": key.rpartition("/")[0],
        "objectKey": key}
    notification: dict[str, Any] = {
        "notificationType": "Received",
        "mail": {"source": "alice@acme-law.com", "messageId": uuid.uuid4().hex, "destination": [recipient]},
        "receipt": {"recipients": [recipient], "spfVerdict": {"status": "PASS"}, "action": action}}
    if content:
        notification["content"] = base64.b64encode(raw).decode()
    message = {"Type": "Notification", "MessageId": message_id or str(uuid.uuid4()), "TopicArn": topic,
               "Subject": "Amazon SES Email Receipt Notification", "Message": json.dumps(notification),
               "Timestamp": _sns_timestamp(at), "UnsubscribeURL": f"{SNS_HOST}/?Action=Unsubscribe"}
    return _sns_call(aws.sign(message, version))


def subscription_confirmation(aws: FakeAws, *, topic: str = TOPIC) -> Call:
    subscribe = f"{SNS_HOST}/?Action=ConfirmSubscription&TopicArn={topic}&Token=tok123"
    message = {"Type": "SubscriptionConfirmation", "MessageId": str(uuid.uuid4()), "Token": "tok123",
               "TopicArn": topic, "Message": f"You have chosen to subscribe to the topic {topic}.",
               "SubscribeURL": subscribe, "Timestamp": _sns_timestamp()}
    return _sns_call(aws.sign(message))


def _sns_call(message: dict[str, str]) -> Call:
    return Call("/webhooks/inbound/ses", json.dumps(message).encode(),
                {"content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": message["Type"]})
