"""Gmail `Message` resources → envelopes.

A ``format=metadata`` message becomes a header-only envelope by parsing its headers with the same
`connector.mail.mime.parse` that reads the raw download later, so both envelopes of one message agree
on the message-id, addresses and dates the routing core keys on. Gmail hands header values
unfolded and RFC 2047-decoded; a decoded display name with a comma can split into a stray
name-only entry, which carries no address and is dropped — the raw download is exact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from connector.errors import MimeError
from connector.mail import mime
from connector.mail.envelope import Direction, Envelope, Source

METADATA_HEADERS = ["From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Delivered-To", "Subject", "Date",
                    "Message-ID", "In-Reply-To", "References", "List-Id", "List-Unsubscribe", "Precedence",
                    "Auto-Submitted"]
# Every message is mail except drafts, chats, spam and trash: filters archive mail (no INBOX) or file it
# under user labels and categories on arrival, so INBOX/SENT cannot be what makes mail.
NOT_MAIL = frozenset({"DRAFT", "CHAT", "SPAM", "TRASH"})
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 field name: printable ASCII except ":"
_LINE_BREAKS = re.compile(r"[\r\n]+")


def thread_key(address: str, thread_id: str) -> str:
    return f"gmail:{address.lower()}:{thread_id}"


def thread_id_of(envelope: Envelope) -> str | None:
    """The Gmail threadId inside a key made by `thread_key` for this mailbox, else None."""
    prefix = f"gmail:{envelope.mailbox.lower()}:"
    if not envelope.thread_key.startswith(prefix):
        return None
    return envelope.thread_key[len(prefix):] or None


def is_mail(label_ids: Sequence[str]) -> bool:
    return not NOT_MAIL.intersection(label_ids)


def became_mail(entry: Mapping[str, Any]) -> bool:
    """A ``labelsRemoved`` history entry that turned a message into mail: "Not spam", out of the trash."""
    message = entry.get("message") or {}
    return bool(NOT_MAIL.intersection(entry.get("labelIds") or ())) and is_mail(message.get("labelIds") or ())


def direction(label_ids: Sequence[str]) -> Direction:
    return Direction.SENT if "SENT" in label_ids else Direction.RECEIVED


def _internal_date(message: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(message["internalDate"]) / 1000, UTC)
    except (KeyError, TypeError, ValueError):
        return None


def ids_only_envelope(message: Mapping[str, Any], mailbox: str) -> Envelope:
    """A history record's message (``id``, ``threadId``, ``labelIds`` on arrival) → ids-only envelope.

    A thread's id is the id of its first message, so ``threadId == id`` says the message opened a thread.
    """
    thread_id = str(message.get("threadId") or message["id"])
    return Envelope(source=Source.GMAIL, internet_message_id="", mailbox=mailbox.lower(),
                    provider_message_id=message["id"], thread_key=thread_key(mailbox, thread_id),
                    direction=direction(message.get("labelIds") or ()), complete=False, ids_only=True,
                    opens_thread=thread_id == message["id"])


def header_envelope(message: Mapping[str, Any], mailbox: str) -> Envelope:
    """A ``format=metadata`` message (requested with `METADATA_HEADERS`) → header-only envelope."""
    labels = list(message.get("labelIds") or ())
    ids: dict[str, Any] = {"source": Source.GMAIL, "mailbox": mailbox.lower(), "provider_message_id": message["id"],
                           "thread_key": thread_key(mailbox, str(message.get("threadId") or message["id"])),
                           "direction": direction(labels)}
    headers = (message.get("payload") or {}).get("headers") or []
    block = "".join(f"{h['name']}: {_LINE_BREAKS.sub(' ', str(h.get('value', '')))}\r\n"
                    for h in headers if _HEADER_NAME.match(str(h.get("name", ""))))
    try:
        envelope = mime.parse(block.encode() + b"\r\n", **ids)
    except MimeError:  # nothing to route on (no From, recipients, id or subject): keep it addressable
        envelope = Envelope(internet_message_id=_placeholder_id(message["id"]), **ids)
    return envelope.with_changes(complete=False, sent_at=envelope.sent_at or _internal_date(message),
                                 opens_thread=str(message.get("threadId") or message["id"]) == message["id"])


def _placeholder_id(gmail_id: str) -> str:
    return f"<{gmail_id}@gmail.bcc-capture.invalid>"


def full_envelope(raw: bytes, header_only: Envelope) -> Envelope:
    """The raw RFC 822 download → complete envelope with the header-only (or ids-only) one's ids."""
    try:
        full = mime.parse(raw, source=Source.GMAIL, mailbox=header_only.mailbox,
                          provider_message_id=header_only.provider_message_id,
                          thread_key=header_only.thread_key, direction=header_only.direction)
    except MimeError as exc:  # unreadable bytes: file what the headers told us rather than block the mailbox
        note = (*header_only.problems, f"the message could not be read: {exc}")
        if header_only.ids_only:  # they told us nothing: keep it addressable, like header_envelope
            return header_only.with_changes(internet_message_id=_placeholder_id(header_only.provider_message_id),
                                            ids_only=False, complete=True, problems=note)
        return header_only.with_changes(complete=True, problems=note)
    if header_only.ids_only:  # nothing was decided on headers: everything comes from the raw
        return full
    # The id the core decided on must stay (it differs only for messages without a Message-ID).
    changes: dict[str, object] = {"internet_message_id": header_only.internet_message_id}
    if not full.bcc and header_only.bcc:  # the sender's copy may lose Bcc in the raw form
        changes["bcc"] = header_only.bcc
    return full.with_changes(**changes)
