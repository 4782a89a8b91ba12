"""The audit log: every routing decision and every rejected call, with a machine-readable reason."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from connector.models._types import created_at, json_dict


class AuditEntry(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int | None = Field(default=None, foreign_key="tenant.id", index=True)
    at: datetime = created_at()
    action: str  # logged | duplicate | unassigned | refused | linked | unlogged | webhook_rejected …
    reason: str = ""  # machine-readable: unauthorized_sender, missing_subject, …
    internet_message_id: str = ""
    mailbox: str = ""
    source: str = ""
    detail: dict = json_dict()
