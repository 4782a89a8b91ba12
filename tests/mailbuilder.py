"""Builds real RFC 5322 messages for tests, parsed by the real MIME parser into envelopes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from hashlib import sha1

from connector.mail.envelope import Envelope, Source
from connector.mail.mime import parse

DATE = datetime(2026, 3, 9, 14, 30, tzinfo=UTC)


def mail(sender: str, to: Sequence[str] = (), cc: Sequence[str] = (), bcc: Sequence[str] = (), *,
         subject: str = "Status update", body: str = "Hello,\n\nhere is the update.\n", html: str | None = None,
         message_id: str | None = None, in_reply_to: str | None = None, references: Sequence[str] = (),
         date: datetime = DATE, attachments: Sequence[tuple[str, str, bytes]] = (),
         headers: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    if to:
        msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if bcc:
        msg["Bcc"] = ", ".join(bcc)
    if subject:
        msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    digest = sha1(f"{sender}|{subject}|{body}|{date}".encode()).hexdigest()[:16]
    msg["Message-ID"] = message_id or f"<{digest}@test.example>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        msg[name] = value
    if html is not None and body:
        msg.set_content(body)
        msg.add_alternative(html, subtype="html")
    elif html is not None:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
    for name, content_type, content in attachments:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def to_dropbox(raw: bytes) -> Envelope:
    """As delivered to the dropbox itself (an SMTP mailbox, or `bcc-capture ingest`)."""
    return parse(raw, source=Source.SMTP)


def in_mailbox(raw: bytes, mailbox: str, thread_key: str = "") -> Envelope:
    """As read from a user's connected mailbox."""
    return parse(raw, source=Source.FILE, mailbox=mailbox, thread_key=thread_key)
