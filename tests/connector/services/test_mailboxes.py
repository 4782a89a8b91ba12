"""Connecting a mailbox again: the new grant wins over whatever a worker was concluding about the old one."""

from __future__ import annotations

import threading
import time

from cryptography.fernet import Fernet
from sqlalchemy import update
from sqlmodel import Session, col

from connector.crypto import TokenCipher
from connector.db import transaction
from connector.models import Mailbox, MailboxState
from connector.services import mailboxes, users
from tests.conftest import World

CIPHER = TokenCipher(Fernet.generate_key())


def test_a_reconnect_made_while_a_worker_records_the_revoked_grant_leaves_the_mailbox_syncing(world: World) -> None:
    with transaction(world.engine) as session:
        box = mailboxes.connect(session, users.get_user(session, "alice@acme-law.com"), "graph", '{"old": 1}', CIPHER)
        mailbox_id, old_credentials = box.id, box.credentials
    # A worker's step found the old grant revoked and is writing so (guarded on the credentials it started from,
    # as the engine does), its transaction not yet committed ...
    worker = Session(world.engine)
    worker.exec(update(Mailbox).where(col(Mailbox.id) == mailbox_id, col(Mailbox.credentials) == old_credentials)
                .values(state=MailboxState.NEEDS_RECONNECT.value, next_sync_at=None,
                        last_error="GrantRevoked: AADSTS50173"))  # type: ignore[call-overload]

    def alice_reconnects() -> None:  # ... when Alice's consent comes back
        with transaction(world.engine) as session:
            mailboxes.connect(session, users.get_user(session, "alice@acme-law.com"), "graph", '{"new": 2}', CIPHER)

    reconnect = threading.Thread(target=alice_reconnects)
    reconnect.start()
    time.sleep(0.5)  # the reconnect has read the mailbox (SQLite) or waits for the worker's row lock (PostgreSQL)
    worker.commit()
    worker.close()
    reconnect.join(timeout=30)
    with Session(world.engine) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        assert mailbox is not None and CIPHER.decrypt(mailbox.credentials) == '{"new": 2}'
        assert mailbox.state != MailboxState.NEEDS_RECONNECT.value and mailbox.next_sync_at is not None
        assert mailbox.last_error == ""
