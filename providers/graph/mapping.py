"""Graph `message` resources → the core's envelope (header-only from delta, complete from MIME)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient

from connector.envelope import Address, Direction, Envelope, Source, normalize_message_id
from connector.mime import parse

# What delta and list calls ask for: enough to decide, nothing of the body.
SELECT = ["id", "internetMessageId", "conversationId", "subject", "from", "sender", "toRecipients",
          "ccRecipients", "bccRecipients", "replyTo", "sentDateTime", "receivedDateTime",
          "internetMessageHeaders", "parentFolderId"]
_ID = re.compile(r"<[^<>\s]+>")


def thread_key(mailbox: str, conversation_id: str) -> str:
    return f"graph:{mailbox}:{conversation_id}"


def conversation_of(envelope: Envelope) -> str:
    return envelope.thread_key.rsplit(":", 1)[-1]


def _addresses(recipients: Iterable[Recipient] | None) -> tuple[Address, ...]:
    found = []
    for recipient in recipients or []:
        email = recipient.email_address
        if email is not None and email.address:
            found.append(Address(email.address, email.name or ""))
    return tuple(found)


def _one(recipient: Recipient | None) -> Address | None:
    found = _addresses([recipient] if recipient else [])
    return found[0] if found else None


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(normalize_message_id(m) for m in _ID.findall(value or ""))


def is_removed(message: Message) -> bool:
    return "@removed" in (message.additional_data or {})


def header_envelope(message: Message, mailbox: str, *, sent: bool) -> Envelope | None:
    """A header-only envelope, or None for items that are not mail (drafts without an id).

    ``sent`` says whether the message lies in the mailbox's Sent Items: only where Exchange put it
    tells the owner's own mail apart, never the ``from`` a stranger can write.
    """
    if not message.internet_message_id or not message.id:
        return None
    headers = tuple((h.name or "", h.value or "") for h in message.internet_message_headers or [])
    by_name = {name.lower(): value for name, value in headers}
    sender = _one(message.from_)
    return Envelope(
        source=Source.GRAPH, internet_message_id=normalize_message_id(message.internet_message_id),
        subject=message.subject or "", mailbox=mailbox.lower(), provider_message_id=message.id,
        thread_key=thread_key(mailbox.lower(), message.conversation_id or message.id),
        in_reply_to=_ids(by_name.get("in-reply-to")), references=_ids(by_name.get("references")),
        from_=sender, sender=_one(message.sender), reply_to=_addresses(message.reply_to),
        to=_addresses(message.to_recipients), cc=_addresses(message.cc_recipients),
        bcc=_addresses(message.bcc_recipients), sent_at=message.sent_date_time or message.received_date_time,
        direction=Direction.SENT if sent else Direction.RECEIVED, headers=headers, complete=False,
    )


def complete_envelope(raw: bytes, header: Envelope) -> Envelope:
    """The MIME of the message, parsed by the core's parser, keeping what only Graph knows."""
    full = parse(raw, source=Source.GRAPH, mailbox=header.mailbox, provider_message_id=header.provider_message_id,
                 thread_key=header.thread_key, direction=header.direction)
    return full.with_changes(bcc=full.bcc or header.bcc, internet_message_id=header.internet_message_id,
                             in_reply_to=full.in_reply_to or header.in_reply_to,
                             references=full.references or header.references)
