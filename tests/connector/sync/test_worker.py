"""Workers: idle threads are roused by a wake-up at once; a failing step never undoes a reconnect."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.errors import GrantRevoked
from connector.models import Mailbox
from connector.ports import ApiUsage, ChangePage, MailboxRef
from connector.services import mailboxes, users
from connector.sync import intake, leases
from connector.sync.engine import SyncEngine
from connector.sync.wakeups import WakeSignal
from tests.conftest import World

KEY = b"q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="


def _connect(world: World, credentials: str) -> int:
    with transaction(world.engine) as session:
        box = mailboxes.connect(session, users.get_user(session, "alice@acme-law.com"), "graph", credentials,
                                TokenCipher(KEY))
        assert box.id is not None
        return box.id


def test_a_wake_up_rouses_idle_workers_at_once_on_postgresql(world: World) -> None:
    if world.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no NOTIFY: its idle workers poll")
    mailbox_id = _connect(world, "{}")
    signal, stop = WakeSignal(world.engine), threading.Event()
    signal.start(stop)
    try:
        deadline = time.monotonic() + 30
        while signal.generation == 0 and time.monotonic() < deadline:  # the listener is up
            time.sleep(0.05)
        seen = signal.generation
        with transaction(world.engine) as session:
            intake.wake(session, mailbox_id, datetime.now(UTC))
        signal.wait(seen, timeout=60)  # an idle thread's sleep: a minute unless the wake-up is announced
        assert signal.generation != seen
    finally:
        stop.set()


class _Graph:
    """The part of a Graph provider a step touches besides reading (see the stories below)."""

    name = "graph"
    push_settle_seconds = 0.0

    def usage(self) -> ApiUsage:
        return ApiUsage()

    def take_credential_updates(self) -> dict[int, str]:
        return {}


class ReconnectedMeanwhile(_Graph):
    """A Microsoft that refuses the old grant, while the user reconnects during the very step."""

    def __init__(self, world: World) -> None:
        self.world = world

    def recent(self, mailbox: MailboxRef, since: datetime) -> ChangePage:
        _connect(self.world, '{"grant": "new"}')
        raise GrantRevoked(f"invalid_grant for {mailbox.address}")


def test_a_step_failing_on_the_old_grant_does_not_undo_a_reconnect_made_meanwhile(
        world: World, settings: Settings) -> None:
    mailbox_id = _connect(world, '{"grant": "old"}')
    sync = SyncEngine(world.engine, settings, {"graph": ReconnectedMeanwhile(world)}, TokenCipher(KEY))  # type: ignore[dict-item]
    assert leases.claim(world.engine, mailbox_id, "w1", datetime.now(UTC), ttl=60)

    result = sync.step(mailbox_id, "w1")

    assert result.action == "needs_reconnect"  # the step saw the refusal…
    with Session(world.engine) as session:
        row = session.get(Mailbox, mailbox_id)
        assert row is not None
        assert row.state != "needs_reconnect" and row.next_sync_at is not None  # …but the new grant is synced
        assert TokenCipher(KEY).decrypt(row.credentials) == '{"grant": "new"}'


class WokenMeanwhile(_Graph):
    """A mailbox read during which another transaction wakes the mailbox, stamped before the step began
    (its clock was read early, its commit came late: a backfill request from a long commit does this)."""

    def __init__(self, world: World, mailbox_id: int, stamp: datetime) -> None:
        self.world, self.mailbox_id, self.stamp = world, mailbox_id, stamp

    def recent(self, mailbox: MailboxRef, since: datetime) -> ChangePage:
        with transaction(self.world.engine) as session:
            intake.wake(session, self.mailbox_id, self.stamp)
        return ChangePage([], cursor="after-the-first-page")


def test_a_wake_up_committed_during_a_step_is_kept_whatever_time_it_carries(
        world: World, settings: Settings) -> None:
    mailbox_id = _connect(world, "{}")
    early = datetime.now(UTC) - timedelta(seconds=5)
    sync = SyncEngine(world.engine, settings, {"graph": WokenMeanwhile(world, mailbox_id, early)},  # type: ignore[dict-item]
                      TokenCipher(KEY))
    assert leases.claim(world.engine, mailbox_id, "w1", datetime.now(UTC), ttl=60)

    assert sync.step(mailbox_id, "w1").ok

    with Session(world.engine) as session:
        row = session.get(Mailbox, mailbox_id)
        assert row is not None and row.cursor == "after-the-first-page"
        assert row.next_sync_at is not None and row.next_sync_at <= datetime.now(UTC)  # due again now, not in 15 min
        assert row.pending_since is not None
