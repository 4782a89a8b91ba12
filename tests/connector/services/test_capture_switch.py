"""The company and permission switches pause and resume mailboxes the same way from the CLI and the console."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlmodel import Session

from connector.crypto import TokenCipher
from connector.db import transaction
from connector.models import Mailbox, MailboxState
from connector.services import mailboxes, tenants, users
from tests.conftest import World

CIPHER = TokenCipher(Fernet.generate_key())


def _connect_alice(world: World) -> int:
    with transaction(world.engine) as session:
        alice = users.get_user(session, "alice@acme-law.com")
        return mailboxes.connect(session, alice, "graph", '{"token": "t"}', CIPHER).id


def _state(world: World, mailbox_id: int) -> str:
    with Session(world.engine) as session:
        return session.get(Mailbox, mailbox_id).state


@pytest.mark.parametrize("switch", ["company", "permission"])
def test_switching_capture_off_and_on_again_resumes_the_mailbox(world: World, switch: str) -> None:
    mailbox_id = _connect_alice(world)

    def flip(on: bool) -> None:  # what `bcc-capture tenant enable [--disable]` / `role grant|revoke` call
        with transaction(world.engine) as session:
            tenant = tenants.get_tenant(session, "acme")
            if switch == "company":
                tenants.set_enabled(session, tenant, on)
            else:
                (tenants.grant if on else tenants.revoke)(session, tenants.get_role(session, tenant, "Standard User"))

    flip(False)
    assert _state(world, mailbox_id) == MailboxState.PAUSED.value
    flip(True)
    assert _state(world, mailbox_id) == MailboxState.INITIAL.value
