"""The records mail is filed under: one generic table, told apart by `kind`.

Kinds: matter, project, customer, contact, lead, case, opportunity, task. `number` is the
matter/project number or the case/opportunity reference (``CO34322``); contacts and leads carry
`email`; a contact belongs to a customer through `customer_id`. The host system (CRM, practice management)
names its records by `external_id` (unique per company and kind) and keeps them in step through the API;
`updated_at` moves only when a record changes, so it can ask for what changed since.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, Index, SQLModel, UniqueConstraint

from connector.db import UTCDateTime
from connector.models._types import created_at, timestamp, updated_at


class RecordKind(StrEnum):
    MATTER = "matter"
    PROJECT = "project"
    CUSTOMER = "customer"
    CONTACT = "contact"
    LEAD = "lead"
    CASE = "case"
    OPPORTUNITY = "opportunity"
    TASK = "task"


REFERENCE_PREFIX = {RecordKind.CASE: "CA", RecordKind.OPPORTUNITY: "CO"}


class Record(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "number"),
        UniqueConstraint("tenant_id", "kind", "origin_message_id"),
        UniqueConstraint("tenant_id", "kind", "external_id"),
        Index("ix_record_tenant_kind_email", "tenant_id", "kind", "email"),
        Index("ix_record_tenant_updated", "tenant_id", "updated_at", "id"),  # the API's change feed
    )
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    kind: str
    number: str | None = None
    title: str = ""
    email: str | None = None
    first_name: str = ""
    last_name: str = ""
    customer_id: int | None = Field(default=None, foreign_key="record.id")
    owner_user_id: int | None = Field(default=None, foreign_key="user.id")
    due_date: date | None = None
    status: str = ""
    created_by: str = ""  # "Email Capture" when the connector created it
    origin_message_id: str | None = None  # the message that created it: replays never duplicate
    created_at: datetime = created_at()
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # retention counts from here
    external_id: str | None = None  # the host system's id for it
    updated_at: datetime = updated_at()
    archived_at: datetime | None = timestamp()  # archived by the host: out of the lists, its mail kept

    @property
    def label(self) -> str:
        if self.kind in (RecordKind.CONTACT, RecordKind.LEAD):
            name = " ".join(p for p in (self.first_name, self.last_name) if p)
            return f"{name} <{self.email}>" if name and name != self.email else str(self.email)
        return f"{self.number} {self.title}".strip() if self.number else self.title
