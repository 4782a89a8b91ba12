"""Per-tenant API tokens for the JSON API: only a hash of each token is stored."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from connector.models._types import created_at, timestamp


class ApiToken(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str
    token_hash: str = Field(unique=True, index=True)
    hint: str  # the first characters, so an admin can tell tokens apart
    created_by: str = ""
    created_at: datetime = created_at()
    last_used_at: datetime | None = timestamp()
    revoked_at: datetime | None = timestamp()
