"""A mailbox that can never work fails at once with its reason instead of showing "connecting" for hours."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from connector.config import OutboundSettings
from connector.db import transaction
from connector.models import Mailbox
from connector.sync import intake, leases
from connector.sync.engine import SyncEngine
from connector.sync.worker import Worker
from emulators.mailcatcher import MailCatcher
from emulators.world import Plan, World, build
from tests.conftest import build_world

SECRET = "q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="


@pytest.fixture
def world(fresh_pg_url: str, tmp_path: Path) -> Iterator[World]:
    # Only Alice has an Outlook mailbox; Bob's mail is elsewhere (Gmail, another tenant).
    plan = Plan(fresh_pg_url, people=[("alice@acme-law.com", "Alice Archer", "graph")], secret_key=SECRET,
                migrate=True, webhooks=False, log_dir=tmp_path)
    with build(plan) as world:
        build_world(world.engine)
        yield world


def test_an_outlook_mailbox_for_a_user_microsoft_does_not_know_fails_at_once_with_the_reason(world: World) -> None:
    assert world.grant_tenant_wide("acme") == 2  # both users have capture on: both get an Outlook mailbox
    worker = world.assembly.worker()
    for _ in range(3):
        worker.run_once()
    status = {h.address: h for h in world.health()}
    assert status["alice@acme-law.com"].status == "synced"
    bob = status["bob@acme-law.com"]
    assert bob.status == "failing" and "ErrorInvalidUser" in bob.last_error


def test_a_subscription_that_cannot_be_created_is_retried_after_a_backoff_not_every_tick(world: World) -> None:
    # Nothing answers the webhook URL (webhooks=False): Graph's validation handshake fails every time.
    assert world.grant_tenant_wide("acme") == 2
    worker = world.assembly.worker()
    worker.tick_schedules()
    worker.tick_schedules()  # the same moment: both mailboxes wait out their backoff
    posts = [r for r in world.sandbox.graph.request_log() if r.method == "POST" and r.path.endswith("/subscriptions")]
    assert len(posts) == 2  # one try per mailbox, not one per tick
    assert all(count == 1 for count, _ in worker.renewals.failures.values())


def test_a_user_whose_grant_was_revoked_is_told_by_mail_to_reconnect(fresh_pg_url: str, tmp_path: Path) -> None:
    with MailCatcher() as catcher:
        plan = Plan(fresh_pg_url, people=[("alice@acme-law.com", "Alice Archer", "graph")], secret_key=SECRET,
                    migrate=True, webhooks=False, log_dir=tmp_path)
        with build(plan) as world:
            build_world(world.engine)
            world.connect("alice@acme-law.com", "graph")
            settings = world.settings.model_copy(update={"outbound": OutboundSettings(
                host=catcher.host, port=catcher.port, security="none", sender="capture@bcc.example.com")})
            sync = SyncEngine(world.engine, settings, world.assembly.providers, world.assembly.cipher)
            worker = Worker(world.engine, settings, sync, world.assembly.providers, owner="w")
            worker.run_once()
            world.sandbox.graph.revoke_grant("alice@acme-law.com")
            with transaction(world.engine) as session:  # as a notification would
                for box in session.exec(select(Mailbox)):
                    intake.wake(session, box.id, datetime.now(UTC))
            worker.run_once()
            assert [h.status for h in world.health()] == ["needs_reconnect"]
            [notice] = catcher.wait_for(1)
            assert notice.rcpt_tos == ["alice@acme-law.com"] and "reconnect" in notice.message.get_content().lower()


def test_a_renewal_skipped_because_a_sync_step_held_the_mailbox_is_tried_again_next_round(world: World) -> None:
    world.connect("alice@acme-law.com", "graph")
    worker = world.assembly.worker()
    [mailbox_id] = [h.mailbox_id for h in world.health()]
    assert leases.claim(world.engine, mailbox_id, "a-sync-step", datetime.now(UTC), 60)  # its first sync runs
    worker.tick_schedules()
    assert _subscription_requests(world) == 0 and worker.renewals_pending  # not tried, and it knows
    leases.release(world.engine, mailbox_id, "a-sync-step")
    worker.tick_schedules()
    assert _subscription_requests(world) == 1  # tried at the next round (here it fails: no webhook answers)


def _subscription_requests(world: World) -> int:
    return sum(1 for r in world.sandbox.graph.request_log() if r.method == "POST" and r.path.endswith("/subscriptions"))
