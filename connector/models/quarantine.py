"""Quarantined mail: kept whole with its reason, never filed silently and never dropped silently.

Anything that must not be filed as it stands but must not vanish either ends here: dropbox mail
whose From names an authorized sender but whose domain does not authenticate it (SPF/DKIM/DMARC),
and messages nobody can read (MIME that does not parse), from any path. The user the mail claims
to come from and the company's administrators see it, and release it (it is then filed through the
capture pipeline) or delete it (the bytes are dropped; the row stays as the audit's receipt).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, Text
from sqlmodel import Field, SQLModel

from connector.models._types import created_at, json_dict, json_list, timestamp


class QuarantinedMessage(SQLModel, table=True):
    __tablename__ = "quarantine"
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int | None = Field(default=None, foreign_key="tenant.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True)  # the user it claims to be from
    source: str = ""  # smtp | graph | gmail | file: the path it came in by (Envelope.source)
    reason: str  # machine-readable: unauthenticated_sender, unreadable_message, …
    verdict: str = Field(default="", sa_type=Text)  # Authentication-Results-style summary
    raw: bytes = Field(default=b"", sa_type=LargeBinary)
    envelope_recipients: list = json_list()  # the SMTP RCPT TO addresses (the dropbox addresses used)
    internet_message_id: str = ""
    from_email: str = ""
    subject: str = ""
    detail: dict = json_dict()
    created_at: datetime = created_at()
    released_at: datetime | None = timestamp()
    released_by: int | None = Field(default=None, foreign_key="user.id")
    deleted_at: datetime | None = timestamp()
    deleted_by: int | None = Field(default=None, foreign_key="user.id")
