"""A console user's own mailboxes: keeping a completed consent (only for the user's own addresses), listing
them with their health, finding one by id. Tenant-wide connections are `tenant_access`'s."""

from __future__ import annotations

from sqlmodel import Session, col, select

from connector.crypto import TokenCipher
from connector.errors import InputError, NotFound
from connector.models import Mailbox, User
from connector.services import mailboxes
from connector.services.mailboxes import Health
from connector.services.permissions import own_addresses


def connect_after_consent(session: Session, user: User, provider: str, address: str, credentials: str,
                          cipher: TokenCipher, provider_user_id: str = "") -> Mailbox:
    """Keep a completed consent, refusing mailboxes that are not the user's to connect."""
    address = address.strip().lower()
    if address not in own_addresses(session, user):
        raise InputError(f"you signed in as {address}, which is neither your login address nor a verified "
                         "sender address: connect your own mailbox, or add and verify that address first")
    taken = session.exec(select(Mailbox).where(Mailbox.provider == provider, Mailbox.address == address)).first()
    if taken is not None and taken.user_id != user.id:
        raise InputError(f"the mailbox {address} is already connected by another user")
    return mailboxes.connect(session, user, provider, credentials, cipher, address=address,
                             provider_user_id=provider_user_id)


def own_mailbox_health(session: Session, user: User) -> list[Health]:
    """The user's mailboxes, oldest connection first, each with its health."""
    rows = session.exec(select(Mailbox).where(Mailbox.user_id == user.id).order_by(col(Mailbox.id)))
    return [mailboxes.health(mailbox) for mailbox in rows]


def get_own_mailbox(session: Session, user: User, mailbox_id: int) -> Mailbox:
    """The user's mailbox ``mailbox_id``; anybody else's reads as missing."""
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is None or mailbox.user_id != user.id:
        raise NotFound(f"no mailbox {mailbox_id}")
    return mailbox
