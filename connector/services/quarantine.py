"""The quarantine: mail kept whole with its reason, for the user it claims to be from and the admins to judge.

`quarantine()` is the one way in, for every path: the SMTP dropbox puts there mail whose From names an
authorized sender but whose domain does not authenticate it, and any intake that meets a message it
cannot read at all (MIME that does not parse) can put it there with its reason instead of dropping it.
It never parses the message: it reads From, Subject and Message-ID from the header block leniently.

The user the message claims to come from sees it, and so do the company's administrators; either can
release it (it is then filed through the capture pipeline, route → apply, in the same transaction that
marks it released) or delete it (the bytes are dropped, the row stays as the audit's receipt). Every
step is in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from sqlmodel import Session, col, select

from connector.config import Settings
from connector.db import utcnow
from connector.dropbox import notices
from connector.errors import InputError, MimeError, NotFound
from connector.events.outbox import EventType, emit
from connector.mail.envelope import Address, Envelope, Source
from connector.mail.mime import parse
from connector.models import AuditEntry, QuarantinedMessage, User
from connector.routing.apply import Applied, apply
from connector.routing.core import Router
from connector.routing.repository import SqlRepository
from connector.services.permissions import is_admin

UNAUTHENTICATED = "unauthenticated_sender"  # the From domain does not vouch for the message (SPF/DKIM/DMARC)
UNREADABLE = "unreadable_message"  # the MIME cannot be parsed at all
UNFILEABLE = "unfileable"  # filing failed again and again: kept for a person to look at

_HEADER_LIMIT = 64 * 1024  # enough for any real header block; a hostile one is cut, not parsed whole


def quarantine(session: Session, raw: bytes, reason: str, *, source: str = "", tenant_id: int | None = None,
               user_id: int | None = None, verdict: str = "", envelope_recipients: Iterable[str] = (),
               detail: dict | None = None, notify: Settings | None = None) -> QuarantinedMessage:
    """Keep ``raw`` with ``reason`` (and audit it) in the caller's transaction.

    ``notify``: the settings to tell the user the message claims to come from by mail (``outbound``), once
    the caller's transaction commits; None: nobody is mailed."""
    message_id, from_email, subject = _peek(raw)
    item = QuarantinedMessage(
        tenant_id=tenant_id, user_id=user_id, source=source, reason=reason, verdict=verdict, raw=bytes(raw),
        envelope_recipients=list(envelope_recipients), internet_message_id=message_id, from_email=from_email,
        subject=subject, detail=dict(detail or {}))
    session.add(item)
    session.flush()
    _audit(session, item, "quarantined", verdict=verdict, **item.detail)
    emit(session, tenant_id, EventType.MESSAGE_QUARANTINED, {
        "quarantine_id": item.id, "reason": reason, "source": source, "internet_message_id": message_id,
        "from": from_email, "subject": subject, "user_id": user_id})
    if notify is not None:
        notices.quarantined(session, notify, item)
    return item


def visible_to(session: Session, user: User, *, include_closed: bool = False) -> list[QuarantinedMessage]:
    """What ``user`` may see: mail claiming to be theirs; an administrator sees the whole company's."""
    statement = select(QuarantinedMessage).where(QuarantinedMessage.tenant_id == user.tenant_id)
    if not is_admin(session, user):
        statement = statement.where(QuarantinedMessage.user_id == user.id)
    if not include_closed:
        statement = statement.where(col(QuarantinedMessage.released_at).is_(None),
                                    col(QuarantinedMessage.deleted_at).is_(None))
    return list(session.exec(statement.order_by(col(QuarantinedMessage.id).desc())).all())


def get_visible(session: Session, user: User, item_id: int) -> QuarantinedMessage:
    """Quarantined message ``item_id`` if ``user`` may see it; anybody else's reads as missing."""
    item = session.get(QuarantinedMessage, item_id)
    if item is None or item.tenant_id != user.tenant_id or (
            item.user_id != user.id and not is_admin(session, user)):
        raise NotFound(f"no quarantined message {item_id}")
    return item


def release(session: Session, user: User, item_id: int, settings: Settings,
            clock: Callable[[], datetime] = utcnow) -> Applied:
    """File the message as if it had authenticated: a person who may vouch for it did."""
    item = _open(session, user, item_id)
    try:
        envelope = with_envelope_recipients(parse(item.raw, source=Source(item.source or Source.SMTP.value),
                                                  mailbox=str(item.detail.get("mailbox", ""))),
                                            item.envelope_recipients)
    except MimeError as exc:
        raise InputError(f"quarantined message {item_id} cannot be read ({exc}); delete it instead") from exc
    decision = Router(SqlRepository(session), settings, clock).route(envelope)
    applied = apply(decision, session, settings)
    item.released_at, item.released_by = clock(), user.id
    session.add(item)
    _audit(session, item, "quarantine_released", by=user.email, outcome=applied.outcome.value,
           activity_id=applied.activity_id)
    return applied


def delete(session: Session, user: User, item_id: int) -> None:
    """Drop the bytes; the row stays as the receipt the audit points at."""
    item = _open(session, user, item_id)
    item.deleted_at, item.deleted_by, item.raw = utcnow(), user.id, b""
    session.add(item)
    _audit(session, item, "quarantine_deleted", by=user.email)


def with_envelope_recipients(envelope: Envelope, addresses: Iterable[str]) -> Envelope:
    """Add the SMTP envelope recipients the headers do not show: on a copy delivered to the dropbox they
    are the Bcc the sender's own copy shows, and they say which dropbox address was used."""
    shown = {a.email for a in envelope.recipients}
    hidden = tuple(Address(a) for a in dict.fromkeys(a.strip().lower() for a in addresses) if a and a not in shown)
    return envelope.with_changes(bcc=envelope.bcc + hidden) if hidden else envelope


def _open(session: Session, user: User, item_id: int) -> QuarantinedMessage:
    item = get_visible(session, user, item_id)
    if item.released_at is not None or item.deleted_at is not None:
        raise InputError(f"quarantined message {item_id} was already {'released' if item.released_at else 'deleted'}")
    return item


def _peek(raw: bytes) -> tuple[str, str, str]:
    """Message-ID, From address and Subject, read leniently; "" for whatever is not there or not readable."""
    try:
        headers = BytesHeaderParser().parsebytes(bytes(raw[:_HEADER_LIMIT]))
        from_values = getaddresses([str(v) for v in headers.get_all("From", [])])
        return (str(headers.get("Message-ID", "") or "").strip()[:998],
                next((a.lower() for _, a in from_values if "@" in a), "")[:320],
                " ".join(str(headers.get("Subject", "") or "").split())[:998])
    except Exception:  # hostile bytes: the row is still kept, just without these three
        return "", "", ""


def _audit(session: Session, item: QuarantinedMessage, action: str, **detail: object) -> None:
    session.add(AuditEntry(
        tenant_id=item.tenant_id, action=action, reason=item.reason, internet_message_id=item.internet_message_id,
        source=item.source, detail={"quarantine_id": item.id, "from": item.from_email, "subject": item.subject,
                                    "envelope_recipients": list(item.envelope_recipients), **detail}))
