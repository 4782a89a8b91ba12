"""An Outlook firm for story tests: the Graph emulator, Alice and Bob connected through the real consent,
the webhook served, a worker syncing — and Alice's own Outlook (msgraph-sdk with her delegated token) to
write mail, drafts and replies the way her client would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from msgraph import GraphServiceClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.config import Settings, load_settings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.models import Activity, AuditEntry
from connector.ports import Connected
from connector.services import mailboxes, users
from connector.sync.engine import SyncEngine
from connector.sync.worker import Worker
from connector.web.context import AppContext
from connector.web.server import free_port, serving
from emulators.graph import EmulatorUrls, GraphEmulator
from providers.graph.adapter import GraphProvider
from providers.graph.push import GraphNotificationParser
from tests.conftest import MovableClock, build_world
from tests.providers.graph.conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, TENANT, authorize, graph_client
from tests.providers.graph.conftest import msal_app as _msal_app

KEY = b"q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="
MATTER = "acme+10802@bcc.example.com"
ALICE, BOB, CAROL = "alice@acme-law.com", "bob@acme-law.com", "carol@clientco.com"
CLIENT_SCOPES = ["Mail.ReadWrite", "Mail.Send"]  # what Outlook itself may do in Alice's mailbox
T = TypeVar("T")


def delegated_token(urls: EmulatorUrls, address: str, scopes: list[str] = CLIENT_SCOPES) -> str:
    """A user's own token through msal's auth-code flow (consent approved by the emulator's knob)."""
    app = _msal_app(urls, TENANT)
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT_URI, login_hint=address, response_mode="form_post")
    result = app.acquire_token_by_auth_code_flow(flow, authorize(urls, flow))
    assert "access_token" in result, result
    return str(result["access_token"])


@dataclass
class Office:
    emulator: GraphEmulator
    provider: GraphProvider
    worker: Worker
    engine: Engine
    alice_token: str
    clock: MovableClock

    def later(self, minutes: float) -> None:
        """Time passes, for Exchange and for the connector alike."""
        self.clock.advance(minutes * 60)
        self.emulator.clock.advance(minutes * 60)

    def send(self, sender: str, raw: bytes) -> str:
        return self.emulator.post_office.send(sender, raw)

    def as_alice(self, scenario: Callable[[GraphServiceClient], Coroutine[Any, Any, T]]) -> T:
        """Run ``scenario`` with Alice's Outlook (a client made inside the coroutine's own loop)."""
        assert self.emulator.urls is not None
        urls, token = self.emulator.urls, self.alice_token

        async def run() -> T:
            return await scenario(graph_client(urls, token))

        return asyncio.run(run())

    def settle(self, timeout: float = 15) -> None:
        """Run the worker until every mailbox is idle (notifications arrive asynchronously)."""
        deadline = time.monotonic() + timeout
        idle_rounds = 0
        while time.monotonic() < deadline and idle_rounds < 3:
            idle_rounds = 0 if self.worker.run_once() else idle_rounds + 1
            time.sleep(0.2)

    def texts(self) -> list[str]:
        with Session(self.engine) as session:
            return [a.text for a in session.exec(select(Activity))]

    def audited(self, internet_message_id: str) -> list[str]:
        """Every audit action about one message (logged, refused, unassigned …)."""
        with Session(self.engine) as session:
            rows = session.exec(select(AuditEntry).where(AuditEntry.internet_message_id == internet_message_id)
                                .order_by(col(AuditEntry.id)))
            return [f"{a.action}:{a.reason}" for a in rows]


def connector_settings(urls: EmulatorUrls, port: int) -> Settings:
    """The connector pointed at the Graph emulator, its webhooks on ``port``."""
    return load_settings(
        graph={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "tenant": TENANT,
               "authority_host": urls.authority_host, "graph_url": urls.graph_url, "ca_bundle": urls.ca_path},
        sync={"public_url": f"http://127.0.0.1:{port}"})


def connect_by_consent(engine: Engine, provider: GraphProvider, urls: EmulatorUrls, address: str,
                       cipher: TokenCipher, login_hint: str | None = None) -> Connected:
    """The user's consent through msal and the emulator's page, stored as the console's OAuth callback stores it."""
    url, state = provider.auth.begin(REDIRECT_URI, login_hint=login_hint or address)
    connected = provider.auth.finish(state, authorize(urls, {"auth_uri": url}))
    with transaction(engine) as session:
        mailboxes.connect(session, users.get_user(session, connected.address), "graph", connected.credentials,
                          cipher, provider_user_id=connected.provider_user_id)
    return connected


@contextmanager
def open_office(engine: Engine) -> Iterator[Office]:
    build_world(engine)
    emulator = GraphEmulator(seed=3)
    urls = emulator.start()
    for address, name in ((ALICE, "Alice Archer"), (BOB, "Bob Baker")):
        emulator.add_user(address, name, TENANT)
    emulator.register_app(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
    emulator.set_consent("approve")
    port = free_port()
    settings = connector_settings(urls, port)
    clock = MovableClock()
    provider = GraphProvider(settings, clock=clock)
    cipher = TokenCipher(KEY)
    for address in (ALICE, BOB):
        connect_by_consent(engine, provider, urls, address, cipher)
    sync = SyncEngine(engine, settings, {"graph": provider}, cipher)
    worker = Worker(engine, settings, sync, {"graph": provider}, owner="test-worker")
    context = AppContext(engine, settings, {"graph": GraphNotificationParser()})
    try:
        with serving(context, port):
            assert worker.tick_schedules() == 2  # subscriptions created, validation handshake answered
            worker.run_once()  # initial cursors
            yield Office(emulator, provider, worker, engine, delegated_token(urls, ALICE), clock)
    finally:
        emulator.stop()
