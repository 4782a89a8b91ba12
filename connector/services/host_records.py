"""The host system keeps its records in step: create or update by its own id (`external_id`), archive, and
read what changed since — the use cases behind PUT/DELETE /api/v1/records/{kind}/{external_id}.

Idempotent: the same PUT twice changes nothing the second time (`updated_at` moves only when a field does).
A record the connector already has under the same number (a matter) or address (a contact) and no external
id yet is adopted rather than duplicated; one that another external id holds is a conflict. Archiving never
deletes: the record leaves the lists and pickers, and the mail filed under it stays where it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from connector.errors import Conflict, InputError, NotFound
from connector.models import AuditEntry, Record, RecordKind, Tenant
from connector.services.paging import Page, feed_page
from connector.services.records import checked_kind, records_matching
from connector.services.visibility import COMPANY, Reader, record_filter

MAX_EXTERNAL_ID = 200


@dataclass(frozen=True)
class RecordFields:
    """What the host system says a record is (PUT body)."""

    number: str | None = None
    title: str = ""
    email: str | None = None
    first_name: str = ""
    last_name: str = ""
    status: str = "open"
    customer_external_id: str | None = None  # a contact's or lead's customer, by the host's id
    archived: bool = False


@dataclass(frozen=True)
class Synced:
    record: Record
    created: bool
    changed: list[str] = field(default_factory=list)  # the fields this call changed (empty: nothing did)


def checked_external_id(external_id: str) -> str:
    external_id = external_id.strip()
    if not 1 <= len(external_id) <= MAX_EXTERNAL_ID:
        raise InputError(f"an external id is 1 to {MAX_EXTERNAL_ID} characters")
    return external_id


def by_external_id(session: Session, tenant: Tenant, kind: str, external_id: str) -> Record:
    found = session.exec(select(Record).where(Record.tenant_id == tenant.id, Record.kind == kind,
                                              Record.external_id == external_id.strip())).first()
    if found is None:
        raise NotFound(f"no {kind} with external id {external_id!r}")
    return found


def put_record(session: Session, tenant: Tenant, kind: str, external_id: str, fields: RecordFields,
               now: datetime, by: str) -> Synced:
    """Create or update the record the host system calls ``external_id``."""
    record_kind = checked_kind(kind, fields.number, fields.email)
    external_id = checked_external_id(external_id)
    values = _values(session, tenant, record_kind, fields)
    record = _existing(session, tenant, record_kind, external_id, values)
    _refuse_clashes(session, tenant, record_kind, values, record)
    archived_at = (record.archived_at if record and record.archived_at else now) if fields.archived else None
    if record is None:
        record = Record(tenant_id=tenant.id, kind=record_kind.value, external_id=external_id, created_by=by,
                        created_at=now, updated_at=now, archived_at=archived_at, **values)
        session.add(record)
        session.flush()
        _audit(session, record, "record_created", by, sorted(values))
        return Synced(record, created=True, changed=sorted(values))
    changed = [name for name, value in values.items() if getattr(record, name) != value]
    changed += ["archived"] if (record.archived_at is None) == fields.archived else []
    changed += ["external_id"] if record.external_id != external_id else []  # adopted
    if changed:
        for name, value in values.items():
            setattr(record, name, value)
        record.external_id, record.archived_at, record.updated_at = external_id, archived_at, now
        session.add(record)
        session.flush()
        _audit(session, record, "record_updated", by, changed)
    return Synced(record, created=False, changed=changed)


def archive_record(session: Session, tenant: Tenant, kind: str, external_id: str, now: datetime, by: str) -> Synced:
    """Out of the lists, its mail kept; archiving an archived record changes nothing."""
    record = by_external_id(session, tenant, kind, external_id)
    if record.archived_at is not None:
        return Synced(record, created=False)
    record.archived_at = record.updated_at = now
    session.add(record)
    session.flush()
    _audit(session, record, "record_archived", by, ["archived"])
    return Synced(record, created=False, changed=["archived"])


def changed_records(session: Session, tenant: Tenant, *, kind: str | None = None, query: str = "",
                    updated_since: datetime | None = None, include_archived: bool = False,
                    cursor: str | None = None, limit: int = 100, reader: Reader = COMPANY) -> Page[Record]:
    """The company's records (those ``reader`` is not walled from) oldest change first (`updated_at`, then id),
    one page after ``cursor``."""
    statement = records_matching(tenant, kind, query, include_archived=include_archived).where(record_filter(reader))
    if updated_since is not None:
        statement = statement.where(col(Record.updated_at) >= updated_since)
    return feed_page(session, statement, col(Record.updated_at), col(Record.id), cursor, limit)


def _values(session: Session, tenant: Tenant, kind: RecordKind, fields: RecordFields) -> dict[str, Any]:
    email = fields.email.strip().lower() if fields.email else None
    customer_id = None
    if fields.customer_external_id:
        try:
            customer_id = by_external_id(session, tenant, RecordKind.CUSTOMER.value, fields.customer_external_id).id
        except NotFound as exc:
            raise InputError(f"{exc}: PUT the customer first") from None
    number = fields.number.strip() if fields.number else None
    title = fields.title.strip() or " ".join(p for p in (fields.first_name.strip(), fields.last_name.strip()) if p)
    return {"number": number, "title": title, "email": email, "first_name": fields.first_name.strip(),
            "last_name": fields.last_name.strip(), "status": fields.status.strip(), "customer_id": customer_id}


def _existing(session: Session, tenant: Tenant, kind: RecordKind, external_id: str,
              values: dict[str, Any]) -> Record | None:
    """The record with this external id, else one with the same number or address and no external id yet."""
    try:
        return by_external_id(session, tenant, kind.value, external_id)
    except NotFound:
        pass
    same = _holder(session, tenant, kind, values)
    return same if same is not None and same.external_id is None else None


def _holder(session: Session, tenant: Tenant, kind: RecordKind, values: dict[str, Any]) -> Record | None:
    """The record of this kind holding the number (or, for people, the address) these values name."""
    if values["number"]:
        return session.exec(select(Record).where(Record.tenant_id == tenant.id, Record.kind == kind.value,
                                                 Record.number == values["number"])).first()
    if kind in (RecordKind.CONTACT, RecordKind.LEAD) and values["email"]:
        return session.exec(select(Record).where(Record.tenant_id == tenant.id, Record.kind == kind.value,
                                                 Record.email == values["email"])).first()
    return None


def _refuse_clashes(session: Session, tenant: Tenant, kind: RecordKind, values: dict[str, Any],
                    record: Record | None) -> None:
    holder = _holder(session, tenant, kind, values)
    if holder is not None and (record is None or holder.id != record.id):
        what = f"number {values['number']}" if values["number"] else f"address {values['email']}"
        owner = f"external id {holder.external_id!r}" if holder.external_id else f"record {holder.id}"
        raise Conflict(f"{kind.value} {what} is already {owner}'s")


def _audit(session: Session, record: Record, action: str, by: str, changed: list[str]) -> None:
    session.add(AuditEntry(tenant_id=record.tenant_id, action=action, reason="host_sync",
                           detail={"by": by, "record_id": record.id, "kind": record.kind,
                                   "external_id": record.external_id, "changed": changed}))
