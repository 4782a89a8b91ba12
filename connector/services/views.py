"""Read models: the Communications tab (threads and messages of a record), unassigned mail, the audit."""

from __future__ import annotations

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from connector.models import Activity, AuditEntry, Tenant, Unassigned, User
from connector.services import access_log
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
          limit: int = 200, message: str | None = None) -> list[AuditEntry]:
    statement = select(AuditEntry)
    if tenant is not None:
        statement = statement.where((AuditEntry.tenant_id == tenant.id) | (col(AuditEntry.tenant_id).is_(None)))
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    return _newest(session, statement, limit, message)


def tenant_audit(session: Session, tenant: Tenant, action: str | None = None, limit: int = 200,
                 visible_to: User | None = None, reader: Reader = COMPANY, message: str | None = None
                 ) -> list[AuditEntry]:
    """The company's own audit entries, newest first (never the tenant-less ones: those name no company).

    ``visible_to`` narrows it to what concerns one user: mail from or read in their addresses, or their acts;
    ``reader`` leaves out the entries about mail they may not read (an ethical wall, its visibility), and the
    e-mails they may not read from the views that list several; ``message`` keeps what concerns one e-mail
    (who read it, what became of it).
    """
    statement = select(AuditEntry).where(AuditEntry.tenant_id == tenant.id)
    if not reader.is_company:
        assert tenant.id is not None
        # an entry naming no message ("": about several, or none) is never hidden by it; said inside the subquery,
        # not as an OR beside it, which made SQLite evaluate the subquery anew for every entry read
        hidden = hidden_message_ids(reader, tenant.id).where(col(Activity.internet_message_id) != "")
        statement = statement.where(col(AuditEntry.internet_message_id).not_in(hidden))
    if action:
        statement = statement.where(AuditEntry.action == action)
    fetched = limit * 5 if visible_to else limit  # room for the entries filtered out below
    entries = _newest(session, statement, fetched, message)
    if visible_to is not None:
        mine = own_addresses(session, visible_to)
        entries = [e for e in entries if e.mailbox in mine or e.detail.get("from") in mine
                   or e.detail.get("by") == visible_to.email][:limit]
    if not reader.is_company:
        assert tenant.id is not None
        entries = _without_hidden(session, entries, reader, tenant.id)
        if message:  # a view entry may concern it only through an e-mail this reader may not read
            entries = [e for e in entries if access_log.concerns(e, message)]
    return entries


def _newest(session: Session, statement: SelectOfScalar[AuditEntry], limit: int, message: str | None
            ) -> list[AuditEntry]:
    if not message:
        return list(session.exec(statement.order_by(col(AuditEntry.id).desc()).limit(limit)))
    # The JSON preselection can match a longer id that contains this one: confirmed row by row, read in pages.
    statement = statement.where(access_log.about_message(message)).order_by(col(AuditEntry.id).desc())
    found: list[AuditEntry] = []
    for entry in session.exec(statement.execution_options(yield_per=limit)):
        if access_log.concerns(entry, message):
            found.append(entry)
            if len(found) == limit:
                break
    return found


def _without_hidden(session: Session, entries: list[AuditEntry], reader: Reader, tenant_id: int
                    ) -> list[AuditEntry]:
    """The view entries that list several e-mails, narrowed to those ``reader`` may read (dropped if none)."""
    listed = {m for e in entries for _, m in access_log.shown_in(e) if not e.internet_message_id}
    if not listed:
        return entries
    hidden = set(session.exec(hidden_message_ids(reader, tenant_id)
                              .where(col(Activity.internet_message_id).in_(listed))))
    kept = []
    for entry in entries:
        shown = access_log.shown_in(entry)
        visible = [(a, m) for a, m in shown if m not in hidden]
        if entry.internet_message_id or len(visible) == len(shown):
            kept.append(entry)
        elif visible:
            kept.append(access_log.narrowed(entry, visible))
    return kept
