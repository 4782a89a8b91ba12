"""Connected mailboxes: each a small persisted state machine with its cursor, lease and health.

The states are named here (the column stays a plain string); which event moves which state to
which, and what else changes with it, is the one table in `connector.sync.states`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Text
from sqlmodel import Field, Index, SQLModel, UniqueConstraint

from connector.models._types import created_at, timestamp


class MailboxState(StrEnum):
    INITIAL = "initial"  # connected; no cursor yet
    INCREMENTAL = "incremental"  # following the provider's change feed from its cursor
    RESYNC = "resync"  # the cursor expired: a bounded re-read of recent mail, then incremental
    NEEDS_RECONNECT = "needs_reconnect"  # the grant was revoked: nothing is retried until the user reconnects
    PAUSED = "paused"  # the user (or company) switched capture off
    FAILING = "failing"  # repeated permanent errors: visible, retried slowly


ACTIVE_STATES = (MailboxState.INITIAL, MailboxState.INCREMENTAL, MailboxState.RESYNC, MailboxState.FAILING)


class Mailbox(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("provider", "address"),
        Index("ix_mailbox_due", "next_sync_at"),
        Index("ix_mailbox_subscription", "subscription_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    provider: str  # graph | gmail
    address: str
    provider_user_id: str = ""
    app_only: bool = False  # tenant-wide access (admin consent / domain-wide delegation)
    credentials: str = Field(default="", sa_type=Text)  # encrypted at rest (connector.crypto)
    state: str = MailboxState.INITIAL.value
    cursor: str = Field(default="", sa_type=Text)
    # Mail from this moment on is captured: set when the user connects or switches capture back on,
    # so whatever arrives before the first sync is read too, and nothing from a paused period is.
    sync_from: datetime | None = timestamp()
    # Work waiting: set by every wake-up (many collapse into one), cleared when a sync drains the feed.
    pending_since: datetime | None = timestamp()
    next_sync_at: datetime | None = timestamp()
    # Counts wake-ups. A step compares it at its end with what it read at its start: a wake-up
    # committed meanwhile (whatever its clock said) must not be overwritten by the step's schedule.
    wakeups: int = 0
    backlog: int = 0  # pages known to be waiting after the last step
    attempts: int = 0  # consecutive failed steps
    last_success_at: datetime | None = timestamp()
    last_error: str = ""
    last_error_kind: str = ""
    last_error_at: datetime | None = timestamp()
    resync_started_at: datetime | None = timestamp()
    resyncs: int = 0  # cursor expiries in the current day: a loop guard
    subscription_id: str | None = None
    subscription_expires_at: datetime | None = timestamp()
    client_state: str = ""
    lease_owner: str | None = None
    lease_expires_at: datetime | None = timestamp()
    messages_logged: int = 0
    created_at: datetime = created_at()


class ThreadBackfill(SQLModel, table=True):
    """A thread's earlier messages, waiting to be read from one mailbox (its thread backlog).

    Written in the transaction that opened the thread, served by that mailbox's step outside any
    transaction (`connector.sync.step`), so no provider call ever runs inside a commit. Two kinds:

    * the mailbox's own copy opened the thread (``provider_message_id`` set): pull its provider thread;
    * a participant's request: find your copy of this message by Message-ID, then pull your thread,
      so a reply only the other participant received is logged even if their mailbox synced it first.
    """

    __table_args__ = (UniqueConstraint("mailbox_id", "internet_message_id"),)
    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailbox.id", index=True)
    internet_message_id: str
    # This mailbox's copy, when it is already known: its thread is read without a lookup.
    provider_message_id: str = ""
    thread_key: str = Field(default="", sa_type=Text)
    created_at: datetime = created_at()


class ParkedReply(SQLModel, table=True):
    """A received message that opened a provider thread of its own and names, in In-Reply-To/References, messages
    nobody has logged (yet): a reply with an edited subject that arrived before its conversation was logged.

    Only the message's own Message-ID and SHA-256 digests of the ids it names are kept, for
    ``sync.parked_reply_days``; when a message it names is filed, the row becomes a backlog request to that
    mailbox (find the copy, file it) and is deleted (`connector.sync.parked`).
    """

    __table_args__ = (UniqueConstraint("mailbox_id", "internet_message_id", "ref_hash"),)
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    mailbox_id: int = Field(foreign_key="mailbox.id", index=True)
    internet_message_id: str
    ref_hash: str = Field(index=True)  # sha256 of a Message-ID it names, normalized as thread keys are
    seen_at: datetime = created_at()
