"""Key rotation for the token encryption: re-encrypt every stored secret with the newest key."""

from __future__ import annotations

from sqlmodel import Session, col, select

from connector.crypto import TokenCipher
from connector.models import Mailbox, WebhookEndpoint


def rotate(session: Session, cipher: TokenCipher) -> int:
    """Re-encrypt the stored mailbox credentials and webhook secrets with the first key; how many.

    Run after putting a new key first in ``BCC_CAPTURE_SECRET_KEY`` (the old ones after it); once it
    has run, the old keys can be removed.
    """
    rows = session.exec(select(Mailbox).where(col(Mailbox.credentials) != "").with_for_update()).all()
    for mailbox in rows:
        mailbox.credentials = cipher.rotate(mailbox.credentials)
        session.add(mailbox)
    endpoints = session.exec(select(WebhookEndpoint).with_for_update()).all()  # event webhooks' signing secrets
    for endpoint in endpoints:
        endpoint.secret = cipher.rotate(endpoint.secret)
        session.add(endpoint)
    session.flush()
    return len(rows) + len(endpoints)
