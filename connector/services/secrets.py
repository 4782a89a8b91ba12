"""Key rotation for the token encryption: re-encrypt every stored secret with the newest key."""

from __future__ import annotations

from sqlmodel import Session, col, select

from connector.crypto import TokenCipher
from connector.models import Mailbox


def rotate(session: Session, cipher: TokenCipher) -> int:
    """Re-encrypt the stored mailbox credentials with the first key; returns how many were rewritten.

    Run after putting a new key first in ``BCC_CAPTURE_SECRET_KEY`` (the old ones after it); once it
    has run, the old keys can be removed.
    """
    rows = session.exec(select(Mailbox).where(col(Mailbox.credentials) != "").with_for_update()).all()
    for mailbox in rows:
        mailbox.credentials = cipher.rotate(mailbox.credentials)
        session.add(mailbox)
    session.flush()
    return len(rows)
