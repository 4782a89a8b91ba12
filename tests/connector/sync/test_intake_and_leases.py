"""Wake-ups are durable and collapse; leases keep two workers off one mailbox; errors map to actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.errors import (
    CursorExpired,
    GrantRevoked,
    PermanentError,
    Throttled,
    TransientError,
    WebhookRejected,
)
from connector.models import AuditEntry, Mailbox
from connector.ports import Notification
from connector.services import mailboxes, users
from connector.sync import intake, leases, policy
from tests.conftest import World

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
TEST_KEY = b"q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="


@pytest.fixture
def mailbox(world: World, settings: Settings) -> Mailbox:
    with transaction(world.engine) as session:
        alice = users.get_user(session, "alice@acme-law.com")
        box = mailboxes.connect(session, alice, "graph", '{"refresh_token": "r"}', TokenCipher(TEST_KEY))
        box.subscription_id, box.client_state = "sub-1", "s3cret-client-state"
        box.next_sync_at, box.pending_since = NOW + timedelta(minutes=15), None
        session.add(box)
    return box


def TokenCipher_key() -> bytes:
    return b"q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="


def _row(engine: Engine, mailbox_id: int) -> Mailbox:
    with Session(engine) as session:
        found = session.get(Mailbox, mailbox_id)
        assert found is not None
        return found


def test_a_flood_of_notifications_collapses_into_one_pending_sync(world: World, mailbox: Mailbox) -> None:
    note = Notification(subscription_id="sub-1", client_state="s3cret-client-state")
    for n in range(50):
        intake.accept(world.engine, "graph", [note], NOW + timedelta(seconds=n))
    row = _row(world.engine, mailbox.id)
    assert row.pending_since == NOW  # the first wake-up is remembered, not the last
    assert row.next_sync_at == NOW + timedelta(seconds=49)
    assert leases.claim_due(world.engine, "w1", NOW + timedelta(minutes=1), 10, 60) == [mailbox.id]


def test_a_forged_notification_is_rejected_audited_and_wakes_nothing(world: World, mailbox: Mailbox) -> None:
    with pytest.raises(WebhookRejected, match="client_state_mismatch"):
        intake.accept(world.engine, "graph", [Notification(subscription_id="sub-1", client_state="guess")], NOW)
    row = _row(world.engine, mailbox.id)
    assert row.pending_since is None
    with Session(world.engine) as session:
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "webhook_rejected")).all()
    assert [a.reason for a in audit] == ["client_state_mismatch"]


def test_a_wake_up_does_not_cut_short_a_rate_limit_wait(world: World, mailbox: Mailbox) -> None:
    with transaction(world.engine) as session:
        row = session.get(Mailbox, mailbox.id)
        assert row is not None
        row.attempts, row.next_sync_at = 1, NOW + timedelta(seconds=30)
        session.add(row)
    intake.accept(world.engine, "graph", [Notification(subscription_id="sub-1", client_state="s3cret-client-state")],
                  NOW)
    assert _row(world.engine, mailbox.id).next_sync_at == NOW + timedelta(seconds=30)


def test_two_workers_never_hold_the_same_mailbox_and_a_dead_ones_lease_expires(
        world: World, mailbox: Mailbox) -> None:
    due = NOW + timedelta(hours=1)
    assert leases.claim_due(world.engine, "w1", due, 10, ttl=60) == [mailbox.id]
    assert leases.claim_due(world.engine, "w2", due, 10, ttl=60) == []
    assert not leases.claim(world.engine, mailbox.id, "w2", due, ttl=60)
    later = due + timedelta(seconds=61)  # w1 was killed: its lease runs out
    assert leases.claim_due(world.engine, "w2", later, 10, ttl=60) == [mailbox.id]
    assert not leases.renew(world.engine, mailbox.id, "w1", later, ttl=60)


def test_pausing_capture_pauses_the_mailbox_and_resuming_restarts_it_from_now(world: World, mailbox: Mailbox) -> None:
    with transaction(world.engine) as session:
        users.set_capture(session, users.get_user(session, "alice@acme-law.com"), False)
    assert _row(world.engine, mailbox.id).state == "paused"
    with transaction(world.engine) as session:
        users.set_capture(session, users.get_user(session, "alice@acme-law.com"), True)
    row = _row(world.engine, mailbox.id)
    assert (row.state, row.cursor) == ("initial", "")


@pytest.mark.parametrize(("error", "action"), [
    (Throttled(retry_after=7), policy.Action.RATE_LIMITED),
    (TransientError("502"), policy.Action.RETRY),
    (CursorExpired("410"), policy.Action.RESYNC),
    (GrantRevoked("invalid_grant"), policy.Action.NEEDS_RECONNECT),
    (PermanentError("400"), policy.Action.FAIL),
    (ValueError("bug"), policy.Action.FAIL),
])
def test_every_failure_maps_to_one_action(error: Exception, action: policy.Action) -> None:
    assert policy.action_for(error) is action


def test_retry_after_is_honoured_and_backoff_grows_with_a_cap() -> None:
    assert policy.delay_for(Throttled(retry_after=7), 1, cap=900) == 7
    delays = [policy.delay_for(TransientError(), n, cap=60) for n in (1, 3, 6, 12)]
    assert delays[0] <= 2 and 4 <= delays[1] <= 5 and delays[3] == 60


def test_a_long_step_keeps_its_lease_through_the_heartbeat(world: World, mailbox: Mailbox) -> None:
    import time

    def clock() -> datetime:
        return datetime.now(UTC)

    assert leases.claim(world.engine, mailbox.id, "w1", clock(), ttl=0.6)
    with leases.heartbeat(world.engine, mailbox.id, "w1", 0.6, clock):
        time.sleep(1.5)  # longer than the TTL: without the heartbeat, w2 could take it over
        assert not leases.claim(world.engine, mailbox.id, "w2", clock(), ttl=0.6)
    time.sleep(0.7)  # the beats stopped (as when a worker is killed): the lease runs out
    assert leases.claim(world.engine, mailbox.id, "w2", clock(), ttl=0.6)


def test_a_reconnect_after_a_revoked_grant_keeps_capturing_from_the_first_connection(
        world: World, mailbox: Mailbox) -> None:
    first = _row(world.engine, mailbox.id).sync_from
    with transaction(world.engine) as session:
        row = session.get(Mailbox, mailbox.id)
        assert row is not None and row.cursor == ""  # revoked before its first sync ever succeeded
        row.state = "needs_reconnect"
        session.add(row)
    with transaction(world.engine) as session:
        mailboxes.connect(session, users.get_user(session, "alice@acme-law.com"), "graph", "{}", TokenCipher(TEST_KEY))
    row = _row(world.engine, mailbox.id)
    assert (row.state, row.sync_from) == ("initial", first)  # mail since the first connection is still read
