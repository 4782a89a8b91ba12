"""Administrators capture mail like anyone: promoting a user leaves every mailbox as it was, and companies made
before administrators had the permission get it with the schema upgrade."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlmodel import Session

from connector.crypto import TokenCipher
from connector.db import make_engine, transaction, upgrade
from connector.models import Mailbox, MailboxState
from connector.services import mailboxes, tenants, users
from tests.conftest import World

CIPHER = TokenCipher(Fernet.generate_key())


def test_promoting_a_user_pauses_no_mailbox(world: World) -> None:
    with transaction(world.engine) as session:
        ids = [mailboxes.connect(session, users.get_user(session, email), "graph", '{"token": "t"}', CIPHER).id
               for email in ("alice@acme-law.com", "bob@acme-law.com")]
    with transaction(world.engine) as session:
        tenant = tenants.get_tenant(session, "acme")
        alice = users.get_user(session, "alice@acme-law.com")
        assert alice.id is not None
        users.set_role(session, tenant, alice.id, tenants.get_role(session, tenant, "Administrator").id or 0)
    with Session(world.engine) as session:
        assert [session.get(Mailbox, i).state for i in ids] == [MailboxState.INITIAL.value] * 2  # type: ignore[union-attr]


def test_an_existing_companys_administrators_get_the_capture_permission(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0011")  # the schema before administrators had the permission
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO tenant (id, name, slug, enabled, timezone, gmail_domain_wide, "
                                "created_at) VALUES (1, 'Old Co', 'old', 1, 'UTC', 0, '2026-01-01')"))
        connection.execute(text("INSERT INTO role (id, tenant_id, name) VALUES (1, 1, 'Administrator'), "
                                "(2, 1, 'Standard User')"))
    upgrade(engine)
    with engine.begin() as connection:
        granted = connection.execute(text("SELECT role_id, permission FROM rolepermission")).all()
    assert granted == [(1, "use_email_capture")]
