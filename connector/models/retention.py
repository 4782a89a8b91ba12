"""How long mail is kept: retention rules, the disposal register, and legal holds.

A rule says how long the mail filed under records of one kind is kept, counted from the record's close
(`Record.closed_at`) or from its last activity. The scheduled disposal (`connector.services.retention`)
drops the bodies, attachments and original MIME of what is due and writes one `DisposalRecord` per
message: what, when, under which rule — never the content. A legal hold on a record (a matter, a contact)
stops disposal, unlogging and erasure of its mail until it is released; released holds stay as history.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel, UniqueConstraint

from connector.models._types import created_at, json_list, timestamp


class RetentionTrigger(StrEnum):
    AFTER_CLOSE = "after_close"  # counted from Record.closed_at; an open record's mail is kept
    AFTER_LAST_ACTIVITY = "after_last_activity"  # counted from the newest mail filed under the record


class RetentionRule(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("tenant_id", "kind"),)  # one rule per record kind: no conflicting periods
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    kind: str  # a RecordKind value
    years: int = 0
    days: int = 0
    trigger: str = RetentionTrigger.AFTER_CLOSE.value
    created_by: str = ""
    created_at: datetime = created_at()


class DisposalRecord(SQLModel, table=True):
    """One message whose content was disposed of: the register an auditor reads, without the content."""

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    activity_id: int = Field(foreign_key="activity.id", index=True, unique=True)
    internet_message_id: str
    rule_id: int | None = Field(default=None, foreign_key="retentionrule.id")
    rule: str  # the rule as it read then ("matter: 7 years after close"): rules change, the register does not
    record_id: int | None = Field(default=None, foreign_key="record.id")  # the record whose period ran out
    disposed: list[str] = json_list()  # what went: body, attachments (n), original MIME
    disposed_by: str = ""  # schedule | cli | console …
    disposed_at: datetime = created_at()


class LegalHold(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    record_id: int = Field(foreign_key="record.id", index=True)
    reason: str
    placed_by: str
    placed_at: datetime = created_at()
    released_by: str = ""
    released_at: datetime | None = timestamp()
