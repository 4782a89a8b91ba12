"""Postmark, Mailgun and SendGrid: each service's call verified and read into a `Delivery` (`inbound` has the
common rules, `ses` the Amazon one). Nothing here touches the database.

* Postmark (inbound webhook, JSON): basic auth in the webhook URL is its documented protection. The raw
  message is ``RawEmail`` ("Include raw email content in JSON payload"); without it the message is put back
  together from the parsed fields, which no DKIM signature survives (an authorized sender's mail is then
  quarantined, not lost). The dropbox address is ``OriginalRecipient``, or ``MailboxHash`` on the first
  dropbox domain when mail reaches Postmark's own ``<hash>+acme+10802@inbound.postmarkapp.com``.
* Mailgun (a route's ``forward()`` to a URL ending in ``mime``: the raw message in ``body-mime``): the
  HMAC-SHA256 of timestamp + token with the HTTP webhook signing key, the timestamp within the retry
  period, the token once. The dropbox address is ``recipient`` (the RCPT TO the route matched).
* SendGrid (Inbound Parse, "POST the raw, full MIME message": ``email``): basic auth in the URL and/or the
  security policy's signature; the dropbox address is the ``envelope``'s ``to``, and ``sender_ip`` lets SPF
  be evaluated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import getaddresses

from connector.config import DropboxSettings, InboundSettings
from connector.dropbox.inbound import (
    Delivery,
    Refused,
    basic_auth_ok,
    digest,
    ecdsa_ok,
    envelope_sender,
    form_fields,
    fresh,
    in_dropbox,
    ip_or_empty,
    json_object,
    text,
)

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"


# --------------------------------------------------------------------------------------------- Postmark
def postmark(inbound: InboundSettings, dropbox: DropboxSettings, headers: Mapping[str, str], body: bytes) -> Delivery:
    if not basic_auth_ok(headers.get("authorization", ""), inbound.postmark_username, inbound.postmark_password or ""):
        raise Refused("unauthorized", "wrong or missing basic auth", forged=True)
    payload = json_object(body)
    message_id = str(payload.get("MessageID") or "")
    if not message_id:
        raise Refused("malformed", "no MessageID")
    raw = payload.get("RawEmail")
    message = raw.encode("utf-8") if isinstance(raw, str) and raw.strip() else _rebuilt(payload)
    named = {str(h.get("Name", "")).lower(): str(h.get("Value", "")) for h in _list(payload.get("Headers"))}
    sender = envelope_sender(named["return-path"]) if "return-path" in named else _email(payload.get("FromFull"))
    return Delivery("postmark", f"postmark:{message_id}", message, sender, _postmark_recipients(payload, dropbox))


def _postmark_recipients(payload: dict, dropbox: DropboxSettings) -> tuple[str, ...]:
    original = str(payload.get("OriginalRecipient") or "").strip().lower()
    mailbox_hash = str(payload.get("MailboxHash") or "").strip().lower()
    if mailbox_hash and "@" not in mailbox_hash and not in_dropbox([original], dropbox):
        return (f"{mailbox_hash}@{dropbox.domains[0]}",)  # Postmark's own address, the dropbox's after the +
    if original:
        return (original,)
    shown = [_email(a) for field in ("ToFull", "CcFull", "BccFull") for a in _list(payload.get(field))]
    return tuple(in_dropbox(shown, dropbox))


def _rebuilt(payload: dict) -> bytes:
    """The message from Postmark's parsed fields, when the raw content was not included."""
    message = EmailMessage()
    own = {"from", "to", "cc", "subject", "date", "mime-version", "content-type", "content-transfer-encoding"}
    for field in ("From", "To", "Cc", "Subject", "Date"):
        if payload.get(field):
            message[field] = " ".join(str(payload[field]).split())
    for header in _list(payload.get("Headers")):
        name, value = str(header.get("Name", "")), " ".join(str(header.get("Value", "")).split())
        if name and name.lower() not in own:
            try:
                message[name] = value
            except (ValueError, TypeError):
                continue  # a header the email package will not write: the message is still kept
    message.set_content(str(payload.get("TextBody") or ""))
    if payload.get("HtmlBody"):
        message.add_alternative(str(payload["HtmlBody"]), subtype="html")
    for attachment in _list(payload.get("Attachments")):
        maintype, _, subtype = str(attachment.get("ContentType") or "application/octet-stream").partition("/")
        try:
            content = base64.b64decode(str(attachment.get("Content") or ""), validate=True)
        except ValueError as exc:
            raise Refused("malformed", "an attachment is not base64") from exc
        message.add_attachment(content, maintype=maintype, subtype=subtype or "octet-stream",
                               filename=str(attachment.get("Name") or "attachment"))
    return message.as_bytes()


def _list(value: object) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _email(value: object) -> str:
    return str(value.get("Email") or "").strip().lower() if isinstance(value, dict) else ""


# --------------------------------------------------------------------------------------------- Mailgun
def mailgun(inbound: InboundSettings, headers: Mapping[str, str], body: bytes, now: float) -> Delivery:
    fields = form_fields(headers.get("content-type", ""), body)
    timestamp, token, signature = text(fields, "timestamp"), text(fields, "token"), text(fields, "signature")
    expected = hmac.new((inbound.mailgun_signing_key or "").encode(), f"{timestamp}{token}".encode(),
                        hashlib.sha256).hexdigest()
    if not (timestamp and token and hmac.compare_digest(expected.encode(), signature.encode())):
        raise Refused("bad_signature", "the HMAC of timestamp and token does not match", forged=True)
    fresh("mailgun", timestamp, now)
    raw = fields.get("body-mime")
    if not raw:
        raise Refused("malformed", "no body-mime: the route must forward to a URL ending in 'mime'")
    recipients = tuple(a for _, a in getaddresses([text(fields, "recipient")]) if a)
    return Delivery("mailgun", f"mailgun:{token}", raw, envelope_sender(text(fields, "sender")), recipients)


# --------------------------------------------------------------------------------------------- SendGrid
def sendgrid(inbound: InboundSettings, headers: Mapping[str, str], body: bytes, now: float) -> Delivery:
    if inbound.sendgrid_password and not basic_auth_ok(headers.get("authorization", ""), inbound.sendgrid_username,
                                                       inbound.sendgrid_password):
        raise Refused("unauthorized", "wrong or missing basic auth", forged=True)
    key = digest(body)
    if inbound.sendgrid_public_key:
        signature, timestamp = headers.get(SIGNATURE_HEADER, ""), headers.get(TIMESTAMP_HEADER, "")
        if not (signature and timestamp and ecdsa_ok(inbound.sendgrid_public_key, signature,
                                                     timestamp.encode() + body)):
            raise Refused("bad_signature", "the ECDSA signature over timestamp and body does not verify", forged=True)
        fresh("sendgrid", timestamp, now)
        key = digest(signature.encode())
    fields = form_fields(headers.get("content-type", ""), body)
    raw = fields.get("email")
    if not raw:
        raise Refused("malformed", "no email field: turn on 'POST the raw, full MIME message'")
    try:
        envelope = json.loads(fields.get("envelope") or b"{}")
    except ValueError as exc:
        raise Refused("malformed", "the envelope is not JSON") from exc
    envelope = envelope if isinstance(envelope, dict) else {}
    recipients = envelope.get("to") if isinstance(envelope.get("to"), list) else []
    return Delivery("sendgrid", f"sendgrid:{key}", raw, envelope_sender(str(envelope.get("from") or "")),
                    tuple(str(r) for r in recipients), ip_or_empty(text(fields, "sender_ip")))
