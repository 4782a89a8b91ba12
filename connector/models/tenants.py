"""Tenants (companies), their roles and the permissions a role grants (F7)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel, UniqueConstraint

from connector.models._types import created_at, json_list, timestamp

USE_EMAIL_CAPTURE = "use_email_capture"


class Tenant(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    slug: str = Field(unique=True, index=True)  # the [companydomain] in acme+10802@… (F1)
    domain: str | None = Field(default=None)  # the company's own mail domain, proven by DNS TXT
    txt_token: str | None = None
    verified_at: datetime | None = timestamp()
    enabled: bool = False  # level 1 of F7: admin enabled capture for the company
    timezone: str = "UTC"
    # Tenant-wide access (issue-free for users: no consent screen each): the Microsoft 365 tenant that
    # granted admin consent, and whether the Workspace admin authorized domain-wide delegation.
    graph_tenant_id: str | None = None
    gmail_domain_wide: bool = False
    # What is never captured (connector/routing/privacy.py, docs/records.md): all off means the most private.
    file_internal_mail: bool = False  # thread replies/forwards among colleagues only are filed
    headers_only: bool = False  # who, when, subject, filed under: no body, attachments or raw MIME
    blocked_labels: list[str] = json_list()  # Purview label names (or GUIDs) whose mail is never filed
    headers_only_labels: list[str] = json_list()  # Purview labels whose mail is filed as headers only
    # Dropbox mail's sender authentication for this company (required | domain_policy | off); None: smtp settings.
    sender_authentication: str | None = None
    created_at: datetime = created_at()


class Role(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str


class RolePermission(SQLModel, table=True):
    """Level 2 of F7: a role holding `use_email_capture` may enable capture."""

    role_id: int = Field(foreign_key="role.id", primary_key=True)
    permission: str = Field(primary_key=True)
