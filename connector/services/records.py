"""Records mail is filed under: matters, projects, customers, contacts, leads, cases, opportunities."""

from __future__ import annotations

from sqlmodel import Session, select

from connector.errors import InputError, NotFound
from connector.models import Record, RecordKind, Tenant


def create_record(session: Session, tenant: Tenant, kind: str, *, number: str | None = None, title: str = "",
                  email: str | None = None, name: str = "", customer: str | None = None) -> Record:
    try:
        record_kind = RecordKind(kind)
    except ValueError as exc:
        raise InputError(f"unknown record kind {kind!r}: one of {', '.join(k.value for k in RecordKind)}") from exc
    if record_kind in (RecordKind.MATTER, RecordKind.PROJECT, RecordKind.CASE, RecordKind.OPPORTUNITY) and not number:
        raise InputError(f"a {kind} needs a number")
    if record_kind in (RecordKind.CONTACT, RecordKind.LEAD) and not email:
        raise InputError(f"a {kind} needs an e-mail address")
    if number and find_record(session, tenant, record_kind, number) is not None:
        raise InputError(f"{kind} {number} already exists")
    first, _, last = name.strip().rpartition(" ")
    record = Record(tenant_id=tenant.id, kind=record_kind.value, number=number, title=title or name,
                    email=email.strip().lower() if email else None, first_name=first, last_name=last or name,
                    customer_id=_customer_id(session, tenant, customer), status="open")
    session.add(record)
    session.flush()
    return record


def _customer_id(session: Session, tenant: Tenant, customer: str | None) -> int | None:
    if not customer:
        return None
    found = session.exec(select(Record).where(
        Record.tenant_id == tenant.id, Record.kind == RecordKind.CUSTOMER.value,
        (Record.number == customer) | (Record.title == customer))).first()
    if found is None:
        raise NotFound(f"no customer {customer!r}")
    return found.id


def find_record(session: Session, tenant: Tenant, kind: RecordKind, number: str) -> Record | None:
    return session.exec(select(Record).where(
        Record.tenant_id == tenant.id, Record.kind == kind.value, Record.number == number)).first()


def person(session: Session, tenant: Tenant, email: str) -> Record:
    """The contact (or else lead) with this address."""
    for kind in (RecordKind.CONTACT, RecordKind.LEAD):
        found = session.exec(select(Record).where(
            Record.tenant_id == tenant.id, Record.kind == kind.value, Record.email == email.strip().lower())).first()
        if found is not None:
            return found
    raise NotFound(f"no contact or lead with address {email}")
