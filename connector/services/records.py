"""Records mail is filed under: matters, projects, customers, contacts, leads, cases, opportunities."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, or_, select
from sqlmodel.sql.expression import SelectOfScalar

from connector.config import Settings
from connector.errors import InputError, NotFound
from connector.models import Record, RecordKind, Tenant
from connector.routing.addresses import company_address, matter_address, project_address
from connector.services.visibility import COMPANY, Reader, can_see_record, record_filter


def create_record(session: Session, tenant: Tenant, kind: str, *, number: str | None = None, title: str = "",
                  email: str | None = None, name: str = "", customer: str | None = None) -> Record:
    record_kind = checked_kind(kind, number, email)
    if number and find_record(session, tenant, record_kind, number) is not None:
        raise InputError(f"{kind} {number} already exists")
    if email and (same := _with_email(session, tenant, record_kind, email)) is not None:
        # one contact per address: a second would split the person's mail between two timelines
        raise InputError(f"{kind} {same.email} already exists (record {same.id}): not created again")
    first, _, last = name.strip().rpartition(" ")
    record = Record(tenant_id=tenant.id, kind=record_kind.value, number=number, title=title or name,
                    email=email.strip().lower() if email else None, first_name=first, last_name=last or name,
                    customer_id=_customer_id(session, tenant, customer), status="open")
    session.add(record)
    session.flush()
    return record


def checked_kind(kind: str, number: str | None, email: str | None) -> RecordKind:
    """The kind named, once the fields it cannot do without are there."""
    try:
        record_kind = RecordKind(kind)
    except ValueError as exc:
        raise InputError(f"unknown record kind {kind!r}: one of {', '.join(k.value for k in RecordKind)}") from exc
    if record_kind in (RecordKind.MATTER, RecordKind.PROJECT, RecordKind.CASE, RecordKind.OPPORTUNITY) and not number:
        raise InputError(f"a {kind} needs a number")
    if record_kind in (RecordKind.CONTACT, RecordKind.LEAD) and not email:
        raise InputError(f"a {kind} needs an e-mail address")
    return record_kind


def _customer_id(session: Session, tenant: Tenant, customer: str | None) -> int | None:
    if not customer:
        return None
    found = session.exec(select(Record).where(
        Record.tenant_id == tenant.id, Record.kind == RecordKind.CUSTOMER.value,
        (Record.number == customer) | (Record.title == customer))).first()
    if found is None:
        raise NotFound(f"no customer {customer!r}")
    return found.id


def _with_email(session: Session, tenant: Tenant, kind: RecordKind, email: str) -> Record | None:
    return session.exec(select(Record).where(Record.tenant_id == tenant.id, Record.kind == kind.value,
                                             Record.email == email.strip().lower())).first()


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


def get_record(session: Session, tenant: Tenant, record_id: int, reader: Reader = COMPANY) -> Record:
    """Record ``record_id`` of ``tenant``; another tenant's, and one ``reader`` is walled from, read as missing."""
    record = session.get(Record, record_id)
    if record is None or record.tenant_id != tenant.id or not can_see_record(session, reader, record_id):
        raise NotFound(f"no record {record_id}")
    return record


def customer_of(session: Session, record: Record) -> Record | None:
    return session.get(Record, record.customer_id) if record.customer_id else None


def find_records(session: Session, tenant: Tenant, kind: str | None = None, query: str = "",
                 limit: int = 200, reader: Reader = COMPANY) -> list[Record]:
    """Records of one kind (or all) whose title, number, address or name contains ``query``."""
    statement = records_matching(tenant, kind, query, reader=reader)
    return list(session.exec(statement.order_by(col(Record.kind), col(Record.number), col(Record.id)).limit(limit)))


def records_matching(tenant: Tenant, kind: str | None = None, query: str = "",
                     include_archived: bool = False, reader: Reader = COMPANY) -> SelectOfScalar[Record]:
    """The query every record listing starts from: the company's records of one kind (or all) whose title,
    number, address or name contains ``query``; listings add their order and page. Archived records (the host
    system archived them) are left out unless asked for; records behind ``reader``'s walls always are."""
    statement = select(Record).where(Record.tenant_id == tenant.id, record_filter(reader))
    if not include_archived:
        statement = statement.where(col(Record.archived_at).is_(None))
    if kind:
        if kind not in {k.value for k in RecordKind}:
            raise InputError(f"unknown record kind {kind!r}")
        statement = statement.where(Record.kind == kind)
    if query.strip():
        # autoescape: a typed % or _ is a character to find, not a wildcard matching every record
        text = query.strip().lower()
        statement = statement.where(or_(*(col(field).icontains(text, autoescape=True) for field in (
            Record.title, Record.number, Record.email, Record.last_name, Record.first_name))))
    return statement


@dataclass(frozen=True)
class RecordAddress:
    address: str | None  # Bcc this to file mail under the record
    hint: str


def record_address(record: Record, tenant: Tenant, settings: Settings) -> RecordAddress:
    """How a user files mail under ``record``: the dropbox address to Bcc (if any) and a hint saying so."""
    domain, schemes = settings.dropbox.domains[0], settings.dropbox.schemes
    if record.kind == RecordKind.MATTER and record.number and schemes.matter:
        return RecordAddress(matter_address(tenant.slug, record.number, domain), "Bcc it to file mail here.")
    if record.kind == RecordKind.PROJECT and record.number and schemes.project:
        return RecordAddress(project_address(tenant.slug, record.number, domain),
                             "Bcc it to file mail here; attachments become files of the project.")
    if record.kind in (RecordKind.CONTACT, RecordKind.LEAD) and schemes.shared:
        shared = f"{settings.dropbox.shared_local_parts[0]}@{domain}"
        return RecordAddress(shared, "Bcc the shared address: mail is filed under every known contact in To/Cc.")
    if record.kind in (RecordKind.CASE, RecordKind.OPPORTUNITY) and record.number:
        return RecordAddress(None, f"Put #{record.number} in the subject when you Bcc your personal address.")
    if record.kind == RecordKind.CUSTOMER and schemes.company:
        return RecordAddress(company_address(tenant.slug, domain),
                             "Mail with this customer's contacts is linked here automatically.")
    return RecordAddress(None, "")
