"""The audit of reading: every time an e-mail's body is shown or an attachment handed out, who, when and what.

`activity.viewed` — one entry per page or API answer that showed e-mail bodies, listing every e-mail it showed
(``detail["shown"]``: [activity id, internet message id] pairs). One entry a page rather than one a message,
because a full Communications page shows 200 messages and 200 chained entries were the largest part of the
page's time (bench/analysis.md §7); the question the audit answers — who read message X, when — is asked
through `about_message`/`shown_in`, which read both this shape and the older one-entry-a-message shape
(``detail["activity_id"]`` and the entry's `internet_message_id`). An entry that shows a single e-mail also
carries its message id in `internet_message_id`, as every other entry about one message does.
`attachment.downloaded` — one per download. Both join the company's hash chain like any other entry
(`bcc-capture audit verify`). ``via`` says where: ``console``, ``api`` or ``cli``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Text, cast
from sqlmodel import Session, col

from connector.db import utcnow
from connector.models import Activity, Attachment, AuditEntry

VIEWED = "activity.viewed"
DOWNLOADED = "attachment.downloaded"


def viewed(session: Session, tenant_id: int | None, by: str, shown: Iterable[tuple[int, str]], via: str,
           **context: object) -> int:
    """Audit the e-mails in ``shown`` (activity id, internet message id) as read by ``by``, in one entry; how
    many e-mails it lists (none shown: no entry)."""
    listed = [[activity_id, message_id] for activity_id, message_id in dict(shown).items()]
    if listed:
        session.add(AuditEntry(tenant_id=tenant_id, at=utcnow(), action=VIEWED, reason=via,
                               internet_message_id=listed[0][1] if len(listed) == 1 else "",
                               detail={"by": by, "shown": listed, **context}))
    return len(listed)


def shown_in(entry: AuditEntry) -> list[tuple[int, str]]:
    """(activity id, internet message id) of every e-mail a view entry records, whichever shape it was written in."""
    detail = entry.detail or {}
    if "shown" in detail:
        return [(int(activity_id), str(message_id)) for activity_id, message_id in detail["shown"]]
    if entry.action == VIEWED and "activity_id" in detail:  # written before views were one entry a page
        return [(int(detail["activity_id"]), entry.internet_message_id)]
    return []


def about_message(message_id: str) -> Any:
    """A WHERE clause for the entries that may concern ``message_id``: its own, and the views that list it (a
    preselection on the JSON's text: confirm with `concerns`)."""
    return (col(AuditEntry.internet_message_id) == message_id) | (
        (col(AuditEntry.action) == VIEWED) & cast(col(AuditEntry.detail), Text).contains(message_id, autoescape=True))


def concerns(entry: AuditEntry, message_id: str) -> bool:
    return entry.internet_message_id == message_id or any(m == message_id for _, m in shown_in(entry))


def narrowed(entry: AuditEntry, keep: Iterable[tuple[int, str]]) -> AuditEntry:
    """A copy of a view entry that lists only ``keep`` (what its reader may see); the stored entry is untouched,
    as a chained entry must be (the copy belongs to no session, so nothing writes it back)."""
    detail = {**(entry.detail or {}), "shown": [list(pair) for pair in keep]}
    return AuditEntry(**(entry.model_dump() | {"detail": detail}))


def downloaded(session: Session, by: str, attachment: Attachment, activity: Activity, via: str) -> None:
    session.add(AuditEntry(tenant_id=activity.tenant_id, action=DOWNLOADED, reason=via,
                           internet_message_id=activity.internet_message_id,
                           detail={"by": by, "activity_id": activity.id, "attachment_id": attachment.id,
                                   "name": attachment.name, "sha256": attachment.sha256, "size": attachment.size}))
