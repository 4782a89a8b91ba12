"""Replies with an edited subject that arrive before their conversation is logged.

A provider that threads by subject puts such a reply in a thread of its own (Gmail starts a new thread when
the subject changes; Outlook a new conversation, with a new conversationIndex root). Read before the message
it answers is logged, it names nothing known and is skipped; the backfill of the conversation, which reads
the provider thread, never meets it. So a thread-opening message whose In-Reply-To/References name unknown
messages is *parked*: its own Message-ID and digests of the ids it names, nothing else, for
``sync.parked_reply_days``. When a message it names is filed, the parked row becomes a backlog request to its
mailbox (find the copy by Message-ID, file it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from connector.mail.envelope import Envelope, normalize_message_id
from connector.models import ParkedReply


def reference_hash(message_id: str) -> str:
    return hashlib.sha256(normalize_message_id(message_id).encode()).hexdigest()


def worth_parking(envelope: Envelope) -> bool:
    """A message its headers did not tie to anything logged, that may still answer a later-logged one."""
    return envelope.opens_thread and bool(envelope.related_message_ids)


def park(session: Session, tenant_id: int, mailbox_id: int, envelopes: Sequence[Envelope], now: datetime,
         days: float) -> None:
    """Keep the parked references of these messages (once each) and forget this mailbox's expired ones."""
    session.exec(delete(ParkedReply).where(  # type: ignore[call-overload]
        col(ParkedReply.mailbox_id) == mailbox_id, col(ParkedReply.seen_at) < now - timedelta(days=days)))
    for envelope in envelopes:
        hashes = {reference_hash(m) for m in envelope.related_message_ids}
        known = set(session.exec(select(ParkedReply.ref_hash).where(
            ParkedReply.mailbox_id == mailbox_id, ParkedReply.internet_message_id == envelope.internet_message_id)))
        for digest in sorted(hashes - known):
            session.add(ParkedReply(tenant_id=tenant_id, mailbox_id=mailbox_id, ref_hash=digest, seen_at=now,
                                    internet_message_id=envelope.internet_message_id))


def unpark(session: Session, tenant_id: int, filed: Iterable[str]) -> list[tuple[int, str]]:
    """(mailbox id, Message-ID) of the parked replies that name one of the ``filed`` messages; their rows go."""
    hashes = sorted({reference_hash(m) for m in filed})
    if not hashes:
        return []
    rows = session.exec(select(ParkedReply).where(ParkedReply.tenant_id == tenant_id,
                                                  col(ParkedReply.ref_hash).in_(hashes))).all()
    found = sorted({(row.mailbox_id, row.internet_message_id) for row in rows})
    if found:
        mailboxes = sorted({m for m, _ in found})
        replies = sorted({r for _, r in found})
        session.exec(delete(ParkedReply).where(  # type: ignore[call-overload]
            col(ParkedReply.mailbox_id).in_(mailboxes), col(ParkedReply.internet_message_id).in_(replies)))
    return found
