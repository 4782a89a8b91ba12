"""The audit of reading: every time an e-mail's body is shown or an attachment handed out, who, when and what.

`activity.viewed` — one entry per e-mail whose body a page or an API answer showed (the Communications tab
shows every message of its page, so a page read writes one entry per message on it); `attachment.downloaded`
— one per download. Both join the company's hash chain like any other entry (`bcc-capture audit verify`).
``via`` says where: ``console``, ``api`` or ``cli``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session

from connector.db import utcnow
from connector.models import Activity, Attachment, AuditEntry

VIEWED = "activity.viewed"
DOWNLOADED = "attachment.downloaded"


def viewed(session: Session, tenant_id: int | None, by: str, shown: Iterable[tuple[int, str]], via: str,
           **context: object) -> int:
    """Audit the e-mails in ``shown`` (activity id, internet message id) as read by ``by``; how many."""
    at = utcnow()
    entries = [AuditEntry(tenant_id=tenant_id, at=at, action=VIEWED, reason=via, internet_message_id=message_id,
                          detail={"by": by, "activity_id": activity_id, **context})
               for activity_id, message_id in dict(shown).items()]
    session.add_all(entries)
    return len(entries)


def downloaded(session: Session, by: str, attachment: Attachment, activity: Activity, via: str) -> None:
    session.add(AuditEntry(tenant_id=activity.tenant_id, action=DOWNLOADED, reason=via,
                           internet_message_id=activity.internet_message_id,
                           detail={"by": by, "activity_id": activity.id, "attachment_id": attachment.id,
                                   "name": attachment.name, "sha256": attachment.sha256, "size": attachment.size}))
