"""Outlook end to end: consent, subscription with validation, notifications, delta, routing, rows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client import generate_latest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connector.config import load_settings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.models import Mailbox, Tenant
from connector.ports import ChangePage, MailboxRef
from connector.services import users
from connector.sync.engine import SyncEngine
from connector.sync.worker import Worker
from emulators.graph import GraphEmulator
from providers.graph.adapter import GraphProvider
from tests import inspect_db as db
from tests.conftest import build_world
from tests.mailbuilder import mail
from tests.providers.graph.conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, TENANT
from tests.providers.graph.office import Office, open_office

KEY = b"q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="
MATTER = "acme+10802@bcc.example.com"


@pytest.fixture
def office(engine: Engine) -> Iterator[Office]:
    with open_office(engine) as opened:
        yield opened


def test_outlook_bcc_reply_and_unrelated_mail(office: Office) -> None:
    office.send("alice@acme-law.com", mail("Alice <alice@acme-law.com>", ["carol@clientco.com", "bob@acme-law.com"],
                                           bcc=[MATTER], subject="Draft", message_id="<g1@acme-law.com>"))
    office.send("carol@clientco.com", mail("Carol <carol@clientco.com>", ["alice@acme-law.com"], subject="Re: Draft",
                                           message_id="<g2@clientco.com>", in_reply_to="<g1@acme-law.com>",
                                           references=["<g1@acme-law.com>"]))
    office.send("carol@clientco.com", mail("Carol <carol@clientco.com>", ["alice@acme-law.com"], subject="Lunch?",
                                           message_id="<g3@clientco.com>"))
    office.settle()
    first, reply = db.logged(office.engine, "<g1@acme-law.com>"), db.logged(office.engine, "<g2@clientco.com>")
    assert first is not None and first.filed_under == {"matter:10802"}
    assert first.sources == {("graph", "alice@acme-law.com"), ("graph", "bob@acme-law.com")}  # logged once
    assert reply is not None and "matter:10802" in reply.filed_under
    assert db.logged(office.engine, "<g3@clientco.com>") is None
    fetched = [r.path for r in office.emulator.request_log() if r.path.endswith("/$value")]
    assert len(fetched) == 2  # the two logged messages only: unrelated mail is never downloaded
    with Session(office.engine) as session:
        states = {m.address: m.state for m in session.exec(select(Mailbox))}
    assert states == {"alice@acme-law.com": "incremental", "bob@acme-law.com": "incremental"}
    exported = generate_latest().decode()
    assert 'bcc_capture_api_calls_total{endpoint="/users/{id}/messages/{id}/$value",provider="graph"}' in exported


def test_with_tenant_wide_access_a_user_who_enables_capture_is_connected_without_consent(engine: Engine) -> None:
    from connector.services import tenant_access

    build_world(engine)
    emulator = GraphEmulator(seed=5)
    urls = emulator.start()
    try:
        emulator.add_user("bob@acme-law.com", "Bob Baker", TENANT)
        emulator.register_app(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
        emulator.grant_admin_consent(TENANT, CLIENT_ID)  # the Global Administrator consented
        settings = load_settings(
            graph={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "tenant": TENANT,
                   "authority_host": urls.authority_host, "graph_url": urls.graph_url, "ca_bundle": urls.ca_path})
        cipher = TokenCipher(KEY)
        with transaction(engine) as session:
            bob = users.get_user(session, "bob@acme-law.com")
            users.set_capture(session, bob, False)
            tenant = session.get(Tenant, bob.tenant_id)
            assert tenant_access.grant_graph(session, tenant, TENANT, cipher) == 1  # alice had capture on
            users.set_capture(session, bob, True)
            [connected] = tenant_access.connect_user(session, bob, cipher)
            assert connected.app_only and connected.provider == "graph"
        provider = GraphProvider(settings, clock=datetime.now)
        worker = Worker(engine, settings, SyncEngine(engine, settings, {"graph": provider}, cipher),
                        {"graph": provider}, owner="w")
        emulator.post_office.send("bob@acme-law.com", mail("Bob <bob@acme-law.com>", ["carol@clientco.com"],
                                                           bcc=[MATTER], subject="Tenant-wide",
                                                           message_id="<tw1@acme-law.com>"))
        for _ in range(3):
            worker.run_once()
            with transaction(engine) as session:  # no webhook here: make the mailboxes due again
                for box in session.exec(select(Mailbox)):
                    box.next_sync_at = datetime.now(UTC)
                    session.add(box)
        found = db.logged(engine, "<tw1@acme-law.com>")
        assert found is not None and found.sources == {("graph", "bob@acme-law.com")}
    finally:
        emulator.stop()


def test_a_notification_arriving_during_a_sync_step_is_not_lost(office: Office) -> None:
    from connector.sync import intake

    with Session(office.engine) as session:
        alice = session.exec(select(Mailbox).where(Mailbox.address == "alice@acme-law.com")).one()
    real_read = office.provider.read_changes

    def read_while_notified(ref: MailboxRef, cursor: str) -> ChangePage:  # the real adapter + a notification
        page = real_read(ref, cursor)
        with transaction(office.engine) as session:
            intake.wake(session, alice.id, datetime.now(UTC))
        return page

    office.provider.read_changes = read_while_notified  # type: ignore[method-assign]
    with transaction(office.engine) as session:
        intake.wake(session, alice.id, datetime.now(UTC))
    office.worker.run_once()
    office.provider.read_changes = real_read  # type: ignore[method-assign]
    with Session(office.engine) as session:
        row = session.get(Mailbox, alice.id)
        assert row is not None and row.pending_since is not None  # still pending: the news was not dropped
        assert row.next_sync_at is not None and row.next_sync_at <= datetime.now(UTC)  # due again at once


def test_a_stranger_writing_as_alice_is_refused_not_filed_as_her_mail(office: Office) -> None:
    forged = mail("Alice Archer <alice@acme-law.com>", ["alice@acme-law.com"], cc=[MATTER],
                  subject="Please wire the settlement", message_id="<forged1@evil.example>")
    office.send("mallory@evil.example", forged)  # the envelope sender is the stranger; only the From lies
    office.settle()
    assert db.logged(office.engine, "<forged1@evil.example>") is None
    assert "forged_sender" in db.audit_reasons(office.engine, "refused")


def test_a_colleagues_only_aside_in_a_logged_thread_is_refused_on_its_headers_and_never_downloaded(
        office: Office) -> None:
    """Internal-only mail (the company files none by default) is refused and audited as such; its headers decide,
    so its body never leaves Microsoft."""
    office.send("alice@acme-law.com", mail("Alice <alice@acme-law.com>", ["carol@clientco.com"], bcc=[MATTER],
                                           subject="Offer", message_id="<io1@acme-law.com>"))
    office.settle()
    office.send("alice@acme-law.com", mail("Alice <alice@acme-law.com>", ["bob@acme-law.com"],
                                           subject="FW: Offer", message_id="<io2@acme-law.com>",
                                           in_reply_to="<io1@acme-law.com>", references=["<io1@acme-law.com>"]))
    office.settle()
    assert db.logged(office.engine, "<io1@acme-law.com>") is not None
    assert db.logged(office.engine, "<io2@acme-law.com>") is None
    assert "refused:internal_only" in office.audited("<io2@acme-law.com>")
    aside = {m.id for address in ("alice@acme-law.com", "bob@acme-law.com")
             for m in office.emulator.messages(address) if m.parsed.message_id.strip() == "<io2@acme-law.com>"}
    fetched = [r.path for r in office.emulator.request_log() if r.path.endswith("/$value")]
    assert aside and not [p for p in fetched if any(i in p for i in aside)]


def test_a_routine_reauthorization_renews_the_same_subscription_on_a_newly_issued_token(office: Office) -> None:
    """Graph asks for reauthorization ten minutes before the token a subscription was made with expires. The
    connector renews that subscription (it made a second one and left the first behind) with a token issued for
    it (renewed with the cached one, it would be asked again at once)."""
    office.settle()
    alice = office.emulator.world.user("alice@acme-law.com")
    assert alice is not None
    [subscription] = [s for s in office.emulator.subscriptions() if s.user_id == alice.id]
    office.emulator.clock.advance(office.emulator.tokens.access_token_lifetime - 599)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (subscription.warned_token == 0 or subscription.paused):
        office.worker.tick_schedules()
        office.worker.run_once()
        time.sleep(0.2)
    assert subscription.warned_token and not subscription.paused  # asked, and reauthorized
    assert subscription.token_expires > office.emulator.clock.now() + 1800  # on a token with its life ahead
    assert [s.id for s in office.emulator.subscriptions() if s.user_id == alice.id] == [subscription.id]
