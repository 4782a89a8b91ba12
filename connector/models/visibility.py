"""Who may read logged mail: ethical walls, the company's visibility policy, and an owner's choice per e-mail.

Kept in tables of their own (not columns on Activity or Tenant) so that an e-mail nobody restricted, and a
company that never set a policy, cost no row: the absence of a row is the default, "the whole company".
`connector/services/visibility.py` turns these rows into the one query filter every read path uses.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel, UniqueConstraint

from connector.models._types import created_at


class Visibility(StrEnum):
    OWNER = "owner"  # the user who owns the e-mail (and administrators)
    TEAM = "team"  # also the users on the e-mail and the team of each matter/project/case it is filed under
    COMPANY = "company"  # every user of the company


class Wall(SQLModel, table=True):
    """An ethical wall: ``user_id`` never sees ``record_id`` or any mail filed under it or involving it."""

    __table_args__ = (UniqueConstraint("record_id", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    record_id: int = Field(foreign_key="record.id", index=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    created_by: str = ""
    reason: str = ""
    created_at: datetime = created_at()


class VisibilityPolicy(SQLModel, table=True):
    """The company's default visibility for mail whose owner did not choose one (no row: company)."""

    tenant_id: int = Field(foreign_key="tenant.id", primary_key=True)
    visibility: str = Visibility.COMPANY.value
    changed_by: str = ""
    changed_at: datetime = created_at()


class ActivityVisibility(SQLModel, table=True):
    """The owner's (or an administrator's) own choice for one e-mail; it overrides the company's policy."""

    activity_id: int = Field(foreign_key="activity.id", primary_key=True)
    visibility: str
    set_by: str = ""
    set_at: datetime = created_at()
