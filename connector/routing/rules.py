"""Filing rules that read the message itself: reference tags (F6), ownership and customer (F11),
the attachment limit (F16) and what a forward to the dropbox logs (F14)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from connector.mail.envelope import Address, Attachment, Envelope
from connector.models import REFERENCE_PREFIX, Record, RecordKind, User

_REFERENCE = re.compile(r"#(?P<prefix>CA|CO)(?P<digits>\d{1,12})\b", re.IGNORECASE)
_KIND_BY_PREFIX = {prefix: kind for kind, prefix in REFERENCE_PREFIX.items()}
_FORWARD_PREFIX = re.compile(r"^\s*((fwd?|fw|wg|tr|vb|rv)\s*:\s*)+", re.IGNORECASE)


def reference_tags(subject: str, text: str) -> list[tuple[RecordKind, str]]:
    """``#CO34322`` / ``#CA120`` in the subject or body, in order of appearance (F6)."""
    found: dict[tuple[RecordKind, str], None] = {}
    if "#" not in subject and "#" not in text:  # most mail: no scan (the case-blind pattern has no fast prefix)
        return []
    for match in _REFERENCE.finditer(f"{subject}\n{text}"):
        prefix = match.group("prefix").upper()
        found[(_KIND_BY_PREFIX[prefix], f"{prefix}{match.group('digits')}")] = None
    return list(found)


@dataclass(frozen=True)
class MessageView:
    """The message as it will be filed: the envelope itself, or the original inside a forward."""

    from_: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    subject: str
    sent_at: datetime | None
    is_forwarded_original: bool = False


def message_view(envelope: Envelope, forwarder_addresses: set[str], dropbox_domains: Sequence[str]) -> MessageView:
    """A forward sent only to the dropbox files the forwarded original, with its participants (F14)."""
    own = MessageView(envelope.from_, envelope.to, envelope.cc, envelope.bcc, envelope.subject.strip(),
                      envelope.sent_at)
    if not envelope.forwarded:
        return own
    others = [a for a in envelope.to + envelope.cc
              if a.domain not in dropbox_domains and a.email not in forwarder_addresses]
    if others:
        return own  # forwarded to a person, with the dropbox copied: log the forward itself
    original = envelope.forwarded[0]
    subject = original.subject.strip() or _FORWARD_PREFIX.sub("", envelope.subject).strip()
    return MessageView(original.from_, original.to, original.cc, (), subject,
                       original.sent_at or envelope.sent_at, is_forwarded_original=True)


def choose_owner(view: MessageView, users: dict[str, User]) -> User | None:
    """The sender if a user; else the first user among To, Cc, Bcc (F11)."""
    candidates = ([view.from_] if view.from_ else []) + list(view.to + view.cc + view.bcc)
    return next((users[a.email] for a in candidates if a.email in users), None)


def customers_of(people: Sequence[Record]) -> set[int]:
    """The customers the matched contacts belong to: one links the activity to it, several none (F11)."""
    return {c.customer_id for c in people if c.kind == RecordKind.CONTACT and c.customer_id}


def within_limit(attachments: Sequence[Attachment], max_total: int) -> tuple[tuple[Attachment, ...], str | None]:
    """All attachments, or none with a note when their total is over the limit (F16)."""
    total = sum(a.size for a in attachments)
    if total <= max_total:
        return tuple(attachments), None
    mb = 1024 * 1024
    names = ", ".join(a.name for a in attachments)
    note = (f"attachments not stored: {len(attachments)} file(s) ({names}) total {total / mb:.1f} MB, "
            f"over the {max_total / mb:.0f} MB limit")
    return (), note
