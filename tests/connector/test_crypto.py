"""Key rotation: a new key is added first, stored tokens stay readable, `secret rotate` rewrites them."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from connector.crypto import TokenCipher, new_key
from connector.db import transaction
from connector.errors import ConfigError
from connector.models import Mailbox
from connector.services import mailboxes, secrets, users
from tests.conftest import World


def test_rotating_to_a_new_key_keeps_every_mailbox_connected(world: World) -> None:
    old, new = new_key(), new_key()
    with transaction(world.engine) as session:
        alice = users.get_user(session, "alice@acme-law.com")
        mailbox_id = mailboxes.connect(session, alice, "graph", '{"refresh_token": "r1"}', TokenCipher(old.encode())).id
    both = TokenCipher(f"{new},{old}".encode())
    with transaction(world.engine) as session:
        assert secrets.rotate(session, both) == 1
    with Session(world.engine) as session:
        stored = session.get(Mailbox, mailbox_id).credentials
    assert TokenCipher(new.encode()).decrypt(stored) == '{"refresh_token": "r1"}'  # the old key is no longer needed
    with pytest.raises(ConfigError, match="key changed"):
        TokenCipher(old.encode()).decrypt(stored)


def test_a_malformed_key_names_the_command_that_makes_one() -> None:
    with pytest.raises(ConfigError, match="bcc-capture secret new"):
        TokenCipher(b"not-a-key")
