"""Sync now: a user who just sent a mail does not wait for the next notification or safety-net round."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlmodel import Session

from connector.crypto import TokenCipher
from connector.db import transaction
from connector.errors import NotFound
from connector.models import Mailbox
from connector.services import mailboxes, users
from tests.conftest import World

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
CIPHER = TokenCipher(Fernet.generate_key())


def _connected(world: World, address: str, **state: object) -> int:
    with transaction(world.engine) as session:
        box = mailboxes.connect(session, users.get_user(session, address), "graph", "{}", CIPHER)
        for name, value in {"next_sync_at": NOW + timedelta(minutes=15), **state}.items():
            setattr(box, name, value)
        session.add(box)
        session.flush()
        return box.id


def test_sync_now_makes_the_named_mailbox_due_at_once(world: World) -> None:
    alice = _connected(world, "alice@acme-law.com", state="incremental")
    bob = _connected(world, "bob@acme-law.com", state="incremental")
    with transaction(world.engine) as session:
        [row] = mailboxes.sync_now(session, world.tenant.id, ["Alice@acme-law.com"], NOW)
    assert (row.mailbox_id, row.status) == (alice, "syncing")
    with Session(world.engine) as session:
        assert session.get(Mailbox, alice).next_sync_at == NOW
        assert session.get(Mailbox, bob).next_sync_at == NOW + timedelta(minutes=15)  # not asked for


def test_sync_now_leaves_a_paused_mailbox_paused_and_names_an_unknown_one(world: World) -> None:
    paused = _connected(world, "alice@acme-law.com", state="paused")
    with transaction(world.engine) as session:
        [row] = mailboxes.sync_now(session, world.tenant.id, [], NOW)
        assert (row.mailbox_id, row.status) == (paused, "paused")
        with pytest.raises(NotFound, match=r"nobody@acme-law\.com"):
            mailboxes.sync_now(session, world.tenant.id, ["nobody@acme-law.com"], NOW)
