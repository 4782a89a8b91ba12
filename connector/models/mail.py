"""Logged mail: threads, activities, participants, sources, attachments, unassigned mail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, Text
from sqlmodel import Field, SQLModel, UniqueConstraint

from connector.models._types import created_at, json_list, timestamp


class Thread(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    subject: str = ""
    created_at: datetime = created_at()


class ThreadKey(SQLModel, table=True):
    """A key that finds a thread: a provider thread key or an RFC 5322 message-id in it (F13)."""

    __table_args__ = (UniqueConstraint("tenant_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    thread_id: int = Field(foreign_key="thread.id", index=True)
    kind: str  # "provider" | "message_id"
    key: str


class ThreadTarget(SQLModel, table=True):
    """The records every message of the thread is filed under."""

    thread_id: int = Field(foreign_key="thread.id", primary_key=True)
    record_id: int = Field(foreign_key="record.id", primary_key=True)


class Activity(SQLModel, table=True):
    """One logged email, stored once per tenant whatever the number of copies seen (F15)."""

    # a thread's messages in order, and a page of the Communications tab from the index alone (migration 0018;
    # full-text search: services/search.py)
    __table_args__ = (UniqueConstraint("tenant_id", "internet_message_id"),
                      Index("ix_activity_thread_sent", "thread_id", "sent_at"),
                      Index("ix_activity_timeline", "tenant_id", "id", "thread_id", "sent_at", "unlogged_at"))
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    internet_message_id: str
    thread_id: int = Field(foreign_key="thread.id", index=True)
    type: str
    status: str
    performed_by: str
    direction: str
    subject: str
    text: str = Field(default="", sa_type=Text)
    html: str | None = Field(default=None, sa_type=Text)
    sent_at: datetime | None = timestamp()
    from_email: str = ""
    from_name: str = ""
    owner_user_id: int | None = Field(default=None, foreign_key="user.id")
    customer_id: int | None = Field(default=None, foreign_key="record.id")
    notes: list[str] = json_list()
    unlogged_at: datetime | None = timestamp()
    logged_at: datetime = created_at()


class ActivityLink(SQLModel, table=True):
    """A record the activity is filed under (matter, project, contact, customer, case, …)."""

    __table_args__ = (Index("ix_activitylink_record_activity", "record_id", "activity_id"),)  # a record's mail
    activity_id: int = Field(foreign_key="activity.id", primary_key=True)
    record_id: int = Field(foreign_key="record.id", primary_key=True, index=True)
    reason: str = ""  # which rule linked it: address, thread, reference, contact, customer


class Participant(SQLModel, table=True):
    # a person's timeline finds their mail by address and role without reading the rows (migration 0018)
    __table_args__ = (UniqueConstraint("activity_id", "email", "role"),
                      Index("ix_participant_email_role", "email", "role", "activity_id"))
    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", index=True)
    email: str = Field(index=True)  # migration 0012
    name: str = ""
    role: str  # from | to | cc | bcc | forwarded
    kind: str  # owner | user | contact | external
    user_id: int | None = Field(default=None, foreign_key="user.id")
    record_id: int | None = Field(default=None, foreign_key="record.id")


class ActivitySource(SQLModel, table=True):
    """Where a copy of the message was seen (which mailbox, which provider id)."""

    __table_args__ = (UniqueConstraint("activity_id", "source", "mailbox"),)
    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", index=True)
    source: str
    mailbox: str = ""
    provider_message_id: str = ""
    seen_at: datetime = created_at()


class Blob(SQLModel, table=True):
    """Raw-message and attachment content of one company, once per distinct content within it (never shared
    across companies), sealed with the company's key: in ``content`` (location "database") or in the object
    the location names (``s3://bucket/key``). Written and read only through `connector.storage`."""

    tenant_id: int = Field(foreign_key="tenant.id", primary_key=True)
    sha256: str = Field(primary_key=True)
    size: int  # of the plaintext
    location: str = "database"
    content: bytes | None = Field(default=None, sa_type=LargeBinary)


class RawMessage(SQLModel, table=True):
    """The message exactly as first received (RFC 5322 bytes in a blob of the activity's company): what an
    export hands back."""

    activity_id: int = Field(foreign_key="activity.id", primary_key=True)
    sha256: str = Field(index=True)


class Attachment(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("activity_id", "name", "sha256"),)
    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", index=True)
    name: str
    content_type: str
    size: int
    sha256: str = Field(index=True)  # a blob of the activity's company
    record_id: int | None = Field(default=None, foreign_key="record.id")  # a project's file (F2)


class Unassigned(SQLModel, table=True):
    """Mail to the shared address that matched no contact, waiting to be linked (F12)."""

    __table_args__ = (UniqueConstraint("tenant_id", "internet_message_id"),)
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id")
    internet_message_id: str
    from_email: str
    from_name: str = ""
    subject: str
    sent_at: datetime | None = timestamp()
    text: str = Field(default="", sa_type=Text)
    html: str | None = Field(default=None, sa_type=Text)
    recipients: list[str] = json_list()
    reason: str = ""
    activity_id: int | None = Field(default=None, foreign_key="activity.id")
    linked_at: datetime | None = timestamp()
    created_at: datetime = created_at()
