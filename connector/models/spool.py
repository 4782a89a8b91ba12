"""The SMTP dropbox's spool: each message as it was received, committed before the sender hears `250`.

A row is written by the listener (`connector.dropbox.listener`) and filed by a spool filer
(`connector.dropbox.filing`), which claims it, files it and marks it in one transaction. The raw
bytes are dropped once the row leaves `pending` (the activity, the quarantine or the audit keeps
what matters), so the table stays a small receipt of what arrived, from where, and what became of it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, LargeBinary, Text
from sqlmodel import Field, SQLModel

from connector.models._types import created_at, json_list, timestamp


class SpoolState(StrEnum):
    PENDING = "pending"  # stored, not filed yet (or filing failed and will be tried again)
    DONE = "done"  # filed, refused, ignored as noise or quarantined: see outcome and reason


class SpooledMessage(SQLModel, table=True):
    __tablename__ = "spool"
    __table_args__ = (Index("ix_spool_state_id", "state", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = created_at()
    raw: bytes = Field(default=b"", sa_type=LargeBinary)
    size: int = 0
    mail_from: str = ""  # the SMTP envelope sender; "" for the null sender <> of bounces
    rcpt_tos: list = json_list()  # the SMTP envelope recipients: the dropbox addresses a Bcc hides
    peer_ip: str = ""
    helo: str = ""
    tls: bool = False
    state: str = Field(default=SpoolState.PENDING.value)
    attempts: int = 0  # failed filing attempts so far
    not_before: datetime | None = timestamp()  # after a failed attempt: not retried before this
    last_error: str = Field(default="", sa_type=Text)
    filed_at: datetime | None = timestamp()
    outcome: str = ""  # logged | unassigned | refused | quarantined
    reason: str = ""  # the machine-readable reason (routing's, a noise kind, or the quarantine's)
    authentication: str = Field(default="", sa_type=Text)  # Authentication-Results-style verdict
    activity_id: int | None = Field(default=None, foreign_key="activity.id")
