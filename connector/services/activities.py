"""Logged e-mails (activities): finding one, unlogging it, downloading its attachments.

Every look-up takes the tenant and answers NotFound for another tenant's ids, so a guessed id in a
URL reads exactly like one that does not exist; an unlogged e-mail reads as missing too, and so does one
the reader may not read (an ethical wall, its visibility: `connector/services/visibility.py`).
"""

from __future__ import annotations

from sqlmodel import Session

from connector.db import utcnow
from connector.errors import InputError, NotFound
from connector.events.outbox import EventType, emit
from connector.models import Activity, Attachment, AuditEntry, Tenant, User
from connector.services import holds
from connector.services.visibility import COMPANY, Reader, can_read, reader_for
from connector.storage.factory import deployment_store
from connector.storage.ports import BlobMissing, BlobStore


def get_activity(session: Session, tenant: Tenant, activity_id: int, reader: Reader = COMPANY) -> Activity:
    activity = session.get(Activity, activity_id)
    if (activity is None or activity.tenant_id != tenant.id or activity.unlogged_at is not None
            or not can_read(session, reader, activity_id)):
        raise NotFound(f"no logged e-mail {activity_id}")
    return activity


def unlog(session: Session, tenant: Tenant, activity_id: int, by: str, user: User | None = None,
          reader: Reader | None = None) -> Activity:
    """Take a mail off its records: kept (and audited) but hidden, never deleted.

    Who asks: the console's ``user``, or ``reader`` (an API token: the company itself, or the user it acts for).
    A user may unlog only mail they own, unless they administer the company.
    """
    reader = reader or reader_for(session, user)
    activity = get_activity(session, tenant, activity_id, reader)
    require_owner_or_admin(activity, reader, "unlog it")
    holds.refuse_if_held(session, activity.tenant_id, activity_id, "unlogged")
    activity.unlogged_at = utcnow()
    session.add(activity)
    session.add(AuditEntry(
        tenant_id=tenant.id, action="unlogged", reason="by_user", internet_message_id=activity.internet_message_id,
        detail={"by": by, "activity_id": activity.id, "subject": activity.subject, "from": activity.from_email}))
    emit(session, tenant.id, EventType.ACTIVITY_UNLOGGED, {
        "activity_id": activity.id, "internet_message_id": activity.internet_message_id, "subject": activity.subject,
        "by": by, "unlogged_at": activity.unlogged_at})
    session.flush()
    return activity


def require_owner_or_admin(activity: Activity, reader: Reader, to_do: str) -> None:
    if reader.user_id is not None and activity.owner_user_id != reader.user_id and not reader.admin:
        raise InputError(f"only the user who logged this e-mail or an administrator can {to_do}")


def get_attachment(session: Session, tenant: Tenant, attachment_id: int, reader: Reader = COMPANY,
                   store: BlobStore | None = None) -> tuple[Attachment, bytes, Activity]:
    """The attachment, its content and its e-mail, if that e-mail is logged in ``tenant`` and ``reader`` may read it."""
    found = session.get(Attachment, attachment_id)
    if found is None:
        raise NotFound(f"no attachment {attachment_id}")
    activity = get_activity(session, tenant, found.activity_id, reader)  # tenant, unlogged, walls, visibility
    try:
        content = (store or deployment_store(session)).get(activity.tenant_id, found.sha256)
    except BlobMissing as exc:
        raise NotFound(f"no attachment {attachment_id}") from exc
    return found, content, activity
