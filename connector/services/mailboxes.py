"""Connected mailboxes: connect, reconnect, disconnect, pause with the user's capture switch, health.

Each state change is an event of the mailbox state machine (`connector.sync.states`), which says
what the state becomes and which columns change with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, col, select

from connector.crypto import TokenCipher
from connector.db import utcnow
from connector.errors import NotFound
from connector.models import Mailbox, MailboxState, User
from connector.routing.repository import SqlRepository
from connector.routing.senders import enablement_problem
from connector.sync.states import Event, transition


def connect(session: Session, user: User, provider: str, credentials: str, cipher: TokenCipher, *,
            address: str | None = None, provider_user_id: str = "", app_only: bool = False) -> Mailbox:
    """Create or refresh the user's mailbox for ``provider``; a reconnect clears needs-reconnect."""
    address = (address or user.email).lower()
    # A worker may be recording the old grant's failure at this moment (needs_reconnect). The row is locked as it
    # is read (PostgreSQL), and every column of the move is written even where it equals what was read: an UPDATE
    # of the changed columns only would leave that failure standing beside the new grant (SQLite, which locks no
    # row, then writes the reconnect over it).
    mailbox = session.exec(select(Mailbox).where(Mailbox.provider == provider, Mailbox.address == address)
                           .with_for_update()).first()
    if mailbox is None:
        mailbox = Mailbox(tenant_id=user.tenant_id, user_id=user.id, provider=provider, address=address)
    mailbox.credentials = cipher.encrypt(credentials) if credentials else ""
    mailbox.provider_user_id = provider_user_id or mailbox.provider_user_id
    mailbox.app_only = app_only
    now = utcnow()
    event = Event.CONNECTED if mailbox.id is None else Event.RECONNECTED
    moved = transition(mailbox, event, now)
    moved.apply_to(mailbox)
    if mailbox.id is not None:
        for name in moved.values:
            flag_modified(mailbox, name)
    if enablement_problem(user, SqlRepository(session)) is not None:
        transition(mailbox, Event.CAPTURE_OFF, now).apply_to(mailbox)
    session.add(mailbox)
    session.flush()
    return mailbox


def disconnect(session: Session, mailbox: Mailbox) -> None:
    """Stop reading the mailbox; connecting it again later captures from then on, not the gap."""
    transition(mailbox, Event.DISCONNECTED, utcnow()).apply_to(mailbox)
    session.add(mailbox)
    session.flush()


def follow_capture_switch(session: Session, user: User) -> None:
    """Pause a user's mailboxes when capture is off for them; restart them from 'now' when it is on."""
    event = Event.CAPTURE_ON if enablement_problem(user, SqlRepository(session)) is None else Event.CAPTURE_OFF
    now = utcnow()
    for mailbox in session.exec(select(Mailbox).where(Mailbox.user_id == user.id)):
        transition(mailbox, event, now).apply_to(mailbox)
        session.add(mailbox)
    session.flush()


@dataclass(frozen=True)
class Health:
    mailbox_id: int
    address: str
    provider: str
    state: str
    status: str  # synced | syncing | retrying | resyncing | needs_reconnect | paused | failing | connecting
    last_success_at: datetime | None
    last_error: str
    backlog: int
    pending_since: datetime | None
    subscription_expires_at: datetime | None
    messages_logged: int


def health(mailbox: Mailbox) -> Health:
    """A status that never says 'synced' while work is pending or the last attempt failed."""
    if mailbox.state in (MailboxState.NEEDS_RECONNECT.value, MailboxState.PAUSED.value, MailboxState.FAILING.value):
        status = mailbox.state
    elif mailbox.state == MailboxState.RESYNC.value:
        status = "resyncing"
    elif mailbox.attempts:  # a first sync that keeps failing is not "connecting": its last error shows why
        status = "retrying"
    elif mailbox.state == MailboxState.INITIAL.value:
        status = "connecting"
    elif mailbox.pending_since is not None or mailbox.backlog:
        status = "syncing"
    else:
        status = "synced"
    assert mailbox.id is not None
    return Health(mailbox.id, mailbox.address, mailbox.provider, mailbox.state, status, mailbox.last_success_at,
                  mailbox.last_error, mailbox.backlog, mailbox.pending_since, mailbox.subscription_expires_at,
                  mailbox.messages_logged)


def all_health(session: Session, tenant_id: int | None = None) -> list[Health]:
    statement = select(Mailbox).order_by(col(Mailbox.id))
    if tenant_id is not None:
        statement = statement.where(Mailbox.tenant_id == tenant_id)
    return [health(m) for m in session.exec(statement)]


def get_mailbox(session: Session, mailbox_id: int, tenant_id: int | None = None) -> Mailbox:
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is None or (tenant_id is not None and mailbox.tenant_id != tenant_id):
        raise NotFound(f"no mailbox {mailbox_id}")
    return mailbox


def sync_now(session: Session, tenant_id: int | None, addresses: list[str], now: datetime) -> list[Health]:
    """Ask for an immediate sync of the named mailboxes (all of the company's when none is named).

    Paused and needs-reconnect mailboxes are left as they are (their health says why), and a mailbox backing
    off after errors keeps its wait: Microsoft and Google throttle a caller that does not.
    """
    from connector.sync import intake

    statement = select(Mailbox).order_by(col(Mailbox.id))
    if tenant_id is not None:
        statement = statement.where(Mailbox.tenant_id == tenant_id)
    if addresses:
        statement = statement.where(col(Mailbox.address).in_([a.lower() for a in addresses]))
    found = list(session.exec(statement))
    named = {m.address for m in found}
    missing = [a for a in addresses if a.lower() not in named]
    if missing:
        raise NotFound(f"no connected mailbox {', '.join(missing)}")
    for mailbox in found:
        assert mailbox.id is not None
        intake.wake(session, mailbox.id, now)
    session.flush()
    for mailbox in found:
        session.refresh(mailbox)
    return [health(m) for m in found]
