"""Logged e-mails (activities): finding one, unlogging it, downloading its attachments.

Every look-up takes the tenant and answers NotFound for another tenant's ids, so a guessed id in a
URL reads exactly like one that does not exist; an unlogged e-mail reads as missing too.
"""

from __future__ import annotations

from sqlmodel import Session

from connector.db import utcnow
from connector.errors import InputError, NotFound
from connector.events.outbox import EventType, emit
from connector.models import Activity, Attachment, AuditEntry, Blob, Tenant, User
from connector.services import holds
from connector.services.permissions import is_admin


def get_activity(session: Session, tenant: Tenant, activity_id: int) -> Activity:
    activity = session.get(Activity, activity_id)
    if activity is None or activity.tenant_id != tenant.id or activity.unlogged_at is not None:
        raise NotFound(f"no logged e-mail {activity_id}")
    return activity


def unlog(session: Session, tenant: Tenant, activity_id: int, by: str, user: User | None = None) -> Activity:
    """Take a mail off its records: kept (and audited) but hidden, never deleted.

    ``user`` is the console user asking (only the owner or an administrator may); None is an API token.
    """
    activity = get_activity(session, tenant, activity_id)
    if user is not None and activity.owner_user_id != user.id and not is_admin(session, user):
        raise InputError("only the user who logged this e-mail or an administrator can unlog it")
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


def get_attachment(session: Session, tenant: Tenant, attachment_id: int) -> tuple[Attachment, Blob]:
    """The attachment and its content, if its e-mail is logged in ``tenant``."""
    found = session.get(Attachment, attachment_id)
    if found is None:
        raise NotFound(f"no attachment {attachment_id}")
    get_activity(session, tenant, found.activity_id)  # the tenant check (and hidden once unlogged)
    blob = session.get(Blob, found.sha256)
    if blob is None:
        raise NotFound(f"no attachment {attachment_id}")
    return found, blob
