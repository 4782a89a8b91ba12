"""Users, their authorized sender addresses (F8), exclusion lists and retired dropbox tokens."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, Index, SQLModel, UniqueConstraint

from connector.models._types import created_at, json_list, timestamp, updated_at


class User(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("tenant_id", "external_id"), Index("ix_user_tenant_updated", "tenant_id",
                                                                          "updated_at", "id"))
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    email: str = Field(unique=True, index=True)  # login address, always authorized (F8)
    name: str = ""
    role_id: int | None = Field(default=None, foreign_key="role.id")
    capture_enabled: bool = False  # level 3 of F7: the user enabled capture for themselves
    dropbox_token: str = Field(unique=True, index=True)  # personal address dropbox-<token>@… (F3)
    timezone: str = "UTC"
    search_pattern: str | None = None  # F10 override; None → settings default
    create_as: str | None = None
    active: bool = True
    # Carried by the session cookie and checked on every request: raising it ends every session at once
    # (sign-out, role change, deactivation).
    session_epoch: int = 0
    # Verification codes issued in the current 24-hour window: removing and re-adding an address must not
    # buy fresh guesses without limit.
    codes_sent: int = 0
    codes_since: datetime | None = timestamp()
    # The user's own privacy: mail with any of these addresses (`x@y.com`) or domains (`@y.com`) is never
    # filed from their mailbox or by their hand; header-only keeps no body or attachments of their mail.
    never_file: list[str] = json_list()
    headers_only: bool = False
    created_at: datetime = created_at()
    external_id: str | None = None  # the host system's id for the person (the API's PUT /users/{external_id})
    updated_at: datetime = updated_at()  # moves when the host-visible fields change (email, name, role, active)


class SenderAddress(SQLModel, table=True):
    """An extra address a user sends from; authorized once verified (at most 5 per user)."""

    __table_args__ = (UniqueConstraint("user_id", "email"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    email: str = Field(index=True)
    code_hash: str = ""  # scrypt with a salt of its own: "scrypt$<salt>$<digest>"
    code_attempts: int = 0  # wrong codes entered for the current code
    code_expires_at: datetime | None = timestamp()
    verified_at: datetime | None = timestamp()
    created_at: datetime = created_at()


class Exclusion(SQLModel, table=True):
    """An address (`info@x.com`) or a whole domain (`@x.com`) never treated as a contact (F9)."""

    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "pattern"),)
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id")  # None: company-wide
    pattern: str


class RetiredAddress(SQLModel, table=True):
    """Dropbox tokens a user regenerated away from: mail to them is refused as retired (F3, F17)."""

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(unique=True, index=True)
    user_id: int = Field(foreign_key="user.id")
    retired_at: datetime = created_at()
