"""What the JSON API answers with (these shapes are the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connector.models import AuditEntry, Record, Unassigned
from connector.services.mailboxes import Health
from connector.services.reasons import explain_reason
from connector.services.views import MessageRow, ThreadRow


class RecordOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": 12, "kind": "matter", "number": "10802", "title": "Smith v. Jones", "email": None,
         "label": "10802 Smith v. Jones", "customer_id": None, "status": "open",
         "dropbox_address": "acme+10802@bcc.example.com", "external_id": "MAT-10802", "archived": False,
         "updated_at": "2026-03-10T09:00:00+00:00"}]})
    id: int
    kind: str = Field(description="matter, project, customer, contact, lead, case, opportunity or task")
    number: str | None
    title: str
    email: str | None
    label: str
    customer_id: int | None
    status: str
    dropbox_address: str | None = Field(description="Bcc this address to file mail under the record")
    external_id: str | None = Field(default=None, description="the host system's id (PUT /records/{kind}/{id})")
    archived: bool = False
    updated_at: datetime | None = Field(default=None, description="when it last changed; the change feed's order")

    @classmethod
    def of(cls, record: Record, address: str | None) -> RecordOut:
        assert record.id is not None
        return cls(id=record.id, kind=record.kind, number=record.number, title=record.title, email=record.email,
                   label=record.label, customer_id=record.customer_id, status=record.status,
                   dropbox_address=address, external_id=record.external_id,
                   archived=record.archived_at is not None, updated_at=record.updated_at)


class ParticipantOut(BaseModel):
    email: str
    role: str = Field(description="from, to, cc, bcc or forwarded")
    kind: str = Field(description="owner, user, contact or external")


class AttachmentOut(BaseModel):
    id: int
    name: str
    size: int
    url: str


class MessageOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    activity_id: int
    internet_message_id: str
    direction: str = Field(description="sent or received")
    subject: str
    sent_at: datetime | None
    sender: str = Field(alias="from")
    owner: str
    participants: list[ParticipantOut]
    filed_under: list[str]
    text: str
    html: str | None = Field(description="the original HTML: untrusted, render only sandboxed")
    attachments: list[AttachmentOut]
    sources: list[str]
    notes: list[str]
    type: str
    performed_by: str
    status: str

    @classmethod
    def of(cls, row: MessageRow) -> MessageOut:
        return cls(
            activity_id=row.activity_id, internet_message_id=row.internet_message_id, direction=row.direction,
            subject=row.subject, sent_at=row.sent_at, sender=row.from_, owner=row.owner,
            participants=[ParticipantOut(email=e, role=r, kind=k) for e, r, k in row.participants],
            filed_under=row.filed_under, text=row.text, html=row.html,
            attachments=[AttachmentOut(id=i, name=n, size=s, url=f"/api/v1/attachments/{i}")
                         for i, n, s in row.attachments],
            sources=row.sources, notes=row.notes, type=row.type, performed_by=row.performed_by, status=row.status)


class ThreadOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"thread_id": 41, "subject": "Settlement draft",
        "messages": [{"activity_id": 101, "internet_message_id": "<m1@acme-law.com>", "direction": "sent",
                      "subject": "Settlement draft", "sent_at": "2026-03-10T09:00:00+00:00",
                      "from": "Alice Archer <alice@acme-law.com>", "owner": "alice@acme-law.com",
                      "participants": [{"email": "carol@clientco.com", "role": "to", "kind": "contact"}],
                      "filed_under": ["matter 10802 Smith v. Jones"], "text": "Carol, the draft is attached.",
                      "html": None, "attachments": [{"id": 7, "name": "draft.pdf", "size": 48213,
                                                     "url": "/api/v1/attachments/7"}],
                      "sources": ["dropbox"], "notes": [], "type": "Email", "performed_by": "Email Capture",
                      "status": "Completed"}]}]})
    thread_id: int
    subject: str
    messages: list[MessageOut] = Field(description="oldest first")

    @classmethod
    def of(cls, row: ThreadRow) -> ThreadOut:
        return cls(thread_id=row.thread_id, subject=row.subject, messages=[MessageOut.of(m) for m in row.messages])


class UnassignedOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 5, "internet_message_id": "<intro@acme-law.com>", "from_email": "bob@acme-law.com",
        "from_name": "Bob Baker", "subject": "Intro call", "sent_at": "2026-03-10T09:00:00+00:00",
        "text": "Nice to meet you.", "recipients": ["quinn@newclient.example"], "reason": "no_contact_found",
        "created_at": "2026-03-10T09:00:05+00:00"}]})
    id: int
    internet_message_id: str
    from_email: str
    from_name: str
    subject: str
    sent_at: datetime | None
    text: str
    recipients: list[str]
    reason: str
    created_at: datetime

    @classmethod
    def of(cls, row: Unassigned) -> UnassignedOut:
        assert row.id is not None
        return cls(id=row.id, internet_message_id=row.internet_message_id, from_email=row.from_email,
                   from_name=row.from_name, subject=row.subject, sent_at=row.sent_at, text=row.text,
                   recipients=list(row.recipients), reason=row.reason, created_at=row.created_at)


class LinkIn(BaseModel):
    contacts: list[str] = Field(min_length=1, description="addresses of existing contacts or leads")


class LinkOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"activity_id": 102}]})
    activity_id: int


class UnlogOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"activity_id": 101,
                                                                "unlogged_at": "2026-03-10T10:00:00+00:00"}]})
    activity_id: int
    unlogged_at: datetime


class MailboxOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 3, "address": "alice@acme-law.com", "provider": "graph", "state": "incremental", "status": "synced",
        "last_success_at": "2026-03-10T09:00:00+00:00", "last_error": "", "backlog": 0, "pending_since": None,
        "subscription_expires_at": "2026-03-12T09:00:00+00:00", "messages_logged": 42}]})
    id: int
    address: str
    provider: str
    state: str
    status: str = Field(description="synced, syncing, retrying, resyncing, connecting, needs_reconnect, paused "
                                    "or failing; never 'synced' while work is pending")
    last_success_at: datetime | None
    last_error: str
    backlog: int
    pending_since: datetime | None
    subscription_expires_at: datetime | None
    messages_logged: int

    @classmethod
    def of(cls, h: Health) -> MailboxOut:
        return cls(id=h.mailbox_id, address=h.address, provider=h.provider, state=h.state, status=h.status,
                   last_success_at=h.last_success_at, last_error=h.last_error, backlog=h.backlog,
                   pending_since=h.pending_since, subscription_expires_at=h.subscription_expires_at,
                   messages_logged=h.messages_logged)


class AuditOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 900, "at": "2026-03-10T09:00:00+00:00", "action": "refused", "reason": "unauthorized_sender",
        "explanation": "The sender is not an authorized address of an enabled user.",
        "internet_message_id": "<x@stranger.example>", "mailbox": "", "source": "dropbox",
        "detail": {"from": "stranger@elsewhere.example", "subject": "Hello"}}]})
    id: int
    at: datetime
    action: str
    reason: str
    explanation: str
    internet_message_id: str
    mailbox: str
    source: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        assert entry.id is not None
        return cls(id=entry.id, at=entry.at, action=entry.action, reason=entry.reason,
                   explanation=explain_reason(entry.reason) if entry.reason else "",
                   internet_message_id=entry.internet_message_id, mailbox=entry.mailbox, source=entry.source,
                   detail=dict(entry.detail))
