"""Read models: the Communications tab (threads and messages of a record), unassigned mail, the audit."""

from __future__ import annotations

from sqlmodel import Session, col, select

from connector.models import AuditEntry, Tenant, Unassigned, User
from connector.services.communications import (
    PAGE_SIZE,
    CommunicationsPage,
    MessageRow,
    ThreadRow,
    communications,
    communications_page,
)
from connector.services.permissions import own_addresses
from connector.services.visibility import COMPANY, Reader, hidden_message_ids

__all__ = ["PAGE_SIZE", "CommunicationsPage", "MessageRow", "ThreadRow", "audit", "communications",
           "communications_page", "tenant_audit", "unassigned"]


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
                 visible_to: User | None = None, reader: Reader = COMPANY) -> list[AuditEntry]:
    """The company's own audit entries, newest first (never the tenant-less ones: those name no company).

    ``visible_to`` narrows it to what concerns one user: mail from or read in their addresses, or their acts;
    ``reader`` leaves out the entries about mail they may not read (an ethical wall, its visibility).
    """
    statement = select(AuditEntry).where(AuditEntry.tenant_id == tenant.id)
    if not reader.is_company:
        assert tenant.id is not None
        statement = statement.where(col(AuditEntry.internet_message_id).not_in(hidden_message_ids(reader, tenant.id)))
    if action:
        statement = statement.where(AuditEntry.action == action)
    fetched = limit * 5 if visible_to else limit  # room for the entries filtered out below
    entries = list(session.exec(statement.order_by(col(AuditEntry.id).desc()).limit(fetched)))
    if visible_to is not None:
        mine = own_addresses(session, visible_to)
        entries = [e for e in entries if e.mailbox in mine or e.detail.get("from") in mine
                   or e.detail.get("by") == visible_to.email][:limit]
    return entries
