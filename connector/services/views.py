"""Read models: the Communications tab (threads and messages of a record), unassigned mail, the audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from connector.models import (
    Activity,
    ActivityLink,
    ActivitySource,
    Attachment,
    AuditEntry,
    Participant,
    Record,
    Tenant,
    Thread,
    Unassigned,
    User,
)
from connector.services.permissions import own_addresses


@dataclass
class MessageRow:
    activity_id: int
    internet_message_id: str
    direction: str
    subject: str
    sent_at: datetime | None
    from_: str
    owner: str
    participants: list[tuple[str, str, str]]  # (email, role, kind)
    filed_under: list[str]
    text: str
    html: str | None
    attachments: list[tuple[int, str, int]]  # (id, name, size)
    sources: list[str]
    notes: list[str]
    type: str
    performed_by: str
    status: str


@dataclass
class ThreadRow:
    thread_id: int
    subject: str
    messages: list[MessageRow] = field(default_factory=list)

    @property
    def latest(self) -> datetime | None:
        return max((m.sent_at for m in self.messages if m.sent_at), default=None)


def communications(session: Session, tenant: Tenant, record: Record | None = None) -> list[ThreadRow]:
    """Threads (newest first) and their messages (oldest first), for a record or the whole company."""
    statement = select(Activity).where(Activity.tenant_id == tenant.id, col(Activity.unlogged_at).is_(None))
    if record is not None:
        statement = statement.join(ActivityLink, col(ActivityLink.activity_id) == col(Activity.id)).where(
            ActivityLink.record_id == record.id)
    activities = list(session.exec(statement))
    threads: dict[int, ThreadRow] = {}
    for activity in activities:
        if activity.thread_id not in threads:
            thread = session.get(Thread, activity.thread_id)
            threads[activity.thread_id] = ThreadRow(activity.thread_id, thread.subject if thread else "")
        threads[activity.thread_id].messages.append(_message_row(session, activity))
    for row in threads.values():
        row.messages.sort(key=lambda m: (m.sent_at is None, m.sent_at, m.activity_id))
    return sorted(threads.values(), key=lambda t: (t.latest is not None, t.latest, t.thread_id), reverse=True)


def _message_row(session: Session, activity: Activity) -> MessageRow:
    assert activity.id is not None
    participants = session.exec(select(Participant).where(Participant.activity_id == activity.id)
                                .order_by(col(Participant.id))).all()
    links = session.exec(select(Record, ActivityLink.reason).join(
        ActivityLink, col(ActivityLink.record_id) == col(Record.id)).where(
        ActivityLink.activity_id == activity.id).order_by(col(Record.id))).all()
    attachments = session.exec(select(Attachment).where(Attachment.activity_id == activity.id)).all()
    sources = session.exec(select(ActivitySource).where(ActivitySource.activity_id == activity.id)
                           .order_by(col(ActivitySource.id))).all()
    owner = session.get(User, activity.owner_user_id) if activity.owner_user_id else None
    return MessageRow(
        activity_id=activity.id, internet_message_id=activity.internet_message_id, direction=activity.direction,
        subject=activity.subject, sent_at=activity.sent_at,
        from_=f"{activity.from_name} <{activity.from_email}>" if activity.from_name else activity.from_email,
        owner=owner.email if owner else "",
        participants=[(p.email, p.role, p.kind) for p in participants],
        filed_under=[f"{r.kind} {r.label}" + ("" if reason in ("address", "contact") else f" ({reason})")
                     for r, reason in links],
        text=activity.text, html=activity.html,
        attachments=[(a.id or 0, a.name, a.size) for a in attachments],
        sources=[f"{s.source}:{s.mailbox}" if s.mailbox else s.source for s in sources],
        notes=list(activity.notes), type=activity.type, performed_by=activity.performed_by, status=activity.status)


def unassigned(session: Session, tenant: Tenant, include_linked: bool = False) -> list[Unassigned]:
    statement = select(Unassigned).where(Unassigned.tenant_id == tenant.id)
    if not include_linked:
        statement = statement.where(col(Unassigned.linked_at).is_(None))
    return list(session.exec(statement.order_by(col(Unassigned.id))))


def audit(session: Session, tenant: Tenant | None = None, action: str | None = None,
          limit: int = 200) -> list[AuditEntry]:
    statement = select(AuditEntry)
    if tenant is not None:
        statement = statement.where((AuditEntry.tenant_id == tenant.id) | (col(AuditEntry.tenant_id).is_(None)))
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    return list(session.exec(statement.order_by(col(AuditEntry.id).desc()).limit(limit)))


def tenant_audit(session: Session, tenant: Tenant, action: str | None = None, limit: int = 200,
                 visible_to: User | None = None) -> list[AuditEntry]:
    """The company's own audit entries, newest first (never the tenant-less ones: those name no company).

    ``visible_to`` narrows it to what concerns one user: mail from or read in their addresses, or their acts.
    """
    statement = select(AuditEntry).where(AuditEntry.tenant_id == tenant.id)
    if action:
        statement = statement.where(AuditEntry.action == action)
    fetched = limit * 5 if visible_to else limit  # room for the entries filtered out below
    entries = list(session.exec(statement.order_by(col(AuditEntry.id).desc()).limit(fetched)))
    if visible_to is not None:
        mine = own_addresses(session, visible_to)
        entries = [e for e in entries if e.mailbox in mine or e.detail.get("from") in mine
                   or e.detail.get("by") == visible_to.email][:limit]
    return entries
