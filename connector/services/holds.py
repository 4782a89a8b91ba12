"""Legal holds: while a matter or a contact is on hold, its mail is neither disposed of, unlogged nor erased.

A hold covers every message filed under the record and, for a contact, every message the contact took part in
(`Participant.record_id`). Placing and releasing are audited; a released hold stays as history.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from connector.db import utcnow
from connector.errors import InputError, NotFound
from connector.models import ActivityLink, AuditEntry, LegalHold, Participant, Record, RecordKind, Tenant
from connector.services.owned import company_row
from connector.services.records import find_record, person


class OnHold(InputError):
    """What was asked would destroy or hide mail under a legal hold."""


def record_named(session: Session, tenant: Tenant, kind: str, key: str) -> Record:
    """A record by its kind and its number (matter, project, case …) or address (contact, lead)."""
    try:
        wanted = RecordKind(kind)
    except ValueError as exc:
        raise InputError(f"unknown record kind {kind!r}") from exc
    found = person(session, tenant, key) if wanted in (RecordKind.CONTACT, RecordKind.LEAD) \
        else find_record(session, tenant, wanted, key)
    if found is None or found.kind != wanted.value:
        raise NotFound(f"no {kind} {key}")
    return found


def place(session: Session, tenant: Tenant, record: Record, reason: str, by: str) -> LegalHold:
    if record.tenant_id != tenant.id:
        raise NotFound(f"no record {record.id}")
    if not reason.strip():
        raise InputError("say why the hold is placed (a case, a request): the reason is what an auditor reads")
    assert record.id is not None
    hold = LegalHold(tenant_id=tenant.id, record_id=record.id, reason=reason.strip(), placed_by=by)
    session.add(hold)
    session.flush()
    session.add(AuditEntry(tenant_id=tenant.id, action="hold_placed", reason=record.kind,
                           detail={"hold": hold.id, "record": record.id, "label": record.label, "by": by}))
    return hold


def release(session: Session, tenant: Tenant, hold_id: int, by: str) -> LegalHold:
    hold = company_row(session, LegalHold, hold_id, tenant, "legal hold")
    if hold.released_at is not None:
        raise InputError(f"legal hold {hold_id} was already released")
    hold.released_at, hold.released_by = utcnow(), by
    session.add(hold)
    session.add(AuditEntry(tenant_id=tenant.id, action="hold_released", reason="",
                           detail={"hold": hold.id, "record": hold.record_id, "by": by}))
    session.flush()
    return hold


def holds(session: Session, tenant: Tenant, *, active_only: bool = False) -> list[tuple[LegalHold, Record]]:
    statement = select(LegalHold, Record).join(Record, col(Record.id) == col(LegalHold.record_id)) \
        .where(LegalHold.tenant_id == tenant.id)
    if active_only:
        statement = statement.where(col(LegalHold.released_at).is_(None))
    return [(h, r) for h, r in session.exec(statement.order_by(col(LegalHold.placed_at).desc(), col(LegalHold.id)))]


def held_records(session: Session, tenant_id: int) -> dict[int, int]:
    """Record id → the id of an active hold on it."""
    rows = session.exec(select(LegalHold.record_id, LegalHold.id).where(
        LegalHold.tenant_id == tenant_id, col(LegalHold.released_at).is_(None)))
    return {record_id: hold_id for record_id, hold_id in rows if hold_id is not None}


def held_activities(session: Session, tenant_id: int, activity_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Activity id → the id of an active hold that covers it (of ``activity_ids``, or of the whole company)."""
    records = held_records(session, tenant_id)
    if not records:
        return {}
    wanted = None if activity_ids is None else list(activity_ids)
    found: dict[int, int] = {}
    for model in (ActivityLink, Participant):
        statement = select(model.activity_id, model.record_id).where(col(model.record_id).in_(list(records)))
        if wanted is not None:
            statement = statement.where(col(model.activity_id).in_(wanted))
        for activity_id, record_id in session.exec(statement):
            if record_id is not None:
                found.setdefault(activity_id, records[record_id])
    return found


def refuse_if_held(session: Session, tenant_id: int, activity_id: int, what: str) -> None:
    hold = held_activities(session, tenant_id, [activity_id]).get(activity_id)
    if hold is not None:
        raise OnHold(f"this e-mail is under legal hold {hold}: it cannot be {what} until the hold is released")
