"""A user whose sign-in name (UPN, the tokens' preferred_username) is not her mailbox address connects Outlook:
the mailbox is bound to her Entra object id and to ``mail`` from Graph, and her Bcc is captured."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy.engine import Engine

from connector.crypto import TokenCipher
from connector.db import transaction
from connector.services import user_mailboxes, users
from connector.sync.engine import SyncEngine
from connector.sync.worker import Worker
from connector.web.context import AppContext
from connector.web.server import free_port, serving
from emulators.graph import GraphEmulator
from providers.graph.adapter import GraphProvider
from providers.graph.push import GraphNotificationParser
from tests import inspect_db as db
from tests.conftest import build_world
from tests.mailbuilder import mail
from tests.providers.graph.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    TENANT,
    authorize,
    http_session,
    msal_app,
)
from tests.providers.graph.office import KEY, MATTER, connector_settings

ALICE, UPN, ALIAS = "alice@acme-law.com", "a.archer@acmelaw.onmicrosoft.com", "a.archer@acme-law.com"


def test_a_user_whose_upn_is_not_her_mailbox_connects_and_her_bcc_is_captured(engine: Engine) -> None:
    build_world(engine)
    emulator = GraphEmulator(seed=11)
    urls = emulator.start()
    try:
        user = emulator.add_user(ALICE, "Alice Archer", TENANT, upn=UPN, aliases=(ALIAS,))
        emulator.register_app(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
        emulator.set_consent("approve")
        port = free_port()
        settings = connector_settings(urls, port)
        provider = GraphProvider(settings, clock=datetime.now)
        url, state = provider.auth.begin(REDIRECT_URI, login_hint=UPN)  # she signs in with her UPN
        connected = provider.auth.finish(state, authorize(urls, {"auth_uri": url}))
        assert (connected.address, connected.provider_user_id) == (ALICE, user.id)
        cipher = TokenCipher(KEY)
        with transaction(engine) as session:  # the console's path: only one's own addresses may be connected
            mailbox = user_mailboxes.connect_after_consent(session, users.get_user(session, ALICE), "graph",
                                                           connected.address, connected.credentials, cipher,
                                                           connected.provider_user_id)
            assert mailbox.provider_user_id == user.id
        worker = Worker(engine, settings, SyncEngine(engine, settings, {"graph": provider}, cipher),
                        {"graph": provider}, owner="upn-worker")
        with serving(AppContext(engine, settings, {"graph": GraphNotificationParser()}), port):
            assert worker.tick_schedules() == 1
            worker.run_once()
            emulator.post_office.send(ALICE, mail(f"Alice <{ALICE}>", ["carol@clientco.com"], bcc=[MATTER],
                                                  subject="Engagement letter", message_id="<upn1@acme-law.com>"))
            deadline = time.monotonic() + 15
            while db.logged(engine, "<upn1@acme-law.com>") is None and time.monotonic() < deadline:
                worker.run_once()
                time.sleep(0.2)
        found = db.logged(engine, "<upn1@acme-law.com>")
        assert found is not None and found.filed_under == {"matter:10802"}
        assert found.sources == {("graph", ALICE)}
    finally:
        emulator.stop()


@pytest.fixture
def directory() -> Iterator[tuple[GraphEmulator, str]]:
    emulator = GraphEmulator(seed=12)
    emulator.start()
    user = emulator.add_user(ALICE, "Alice Archer", TENANT, upn=UPN, aliases=(ALIAS,))
    emulator.register_app(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
    emulator.set_consent("approve")
    yield emulator, user.id
    emulator.stop()


def test_the_emulator_signs_her_in_by_upn_and_graph_names_her_mailbox(directory: tuple[GraphEmulator, str]) -> None:
    emulator, oid = directory
    assert emulator.urls is not None
    urls = emulator.urls
    app = msal_app(urls)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI, login_hint=UPN,
                                       response_mode="form_post")
    result = app.acquire_token_by_auth_code_flow(flow, authorize(urls, flow))
    claims = result["id_token_claims"]
    assert (claims["preferred_username"], claims["oid"], claims["tid"]) == (UPN, oid, TENANT)
    me = http_session(urls).get(f"{urls.graph_url}/me", headers={"Authorization": f"Bearer {result['access_token']}"})
    body = me.json()
    assert (body["id"], body["mail"], body["userPrincipalName"]) == (oid, ALICE, UPN)
    assert body["proxyAddresses"] == [f"SMTP:{ALICE}", f"smtp:{ALIAS}"]


def test_tenant_wide_access_finds_her_by_mailbox_address_and_binds_the_mailbox_to_her_object_id(
        engine: Engine, directory: tuple[GraphEmulator, str]) -> None:
    """Graph's ``/users/{key}`` knows her only by id or UPN; the directory is searched by mail and aliases, and a
    colleague the Microsoft tenant does not hold (Bob, on Gmail) is not connected as an Outlook mailbox."""
    from connector.models import Tenant
    from connector.services import tenant_access

    build_world(engine)
    emulator, oid = directory
    assert emulator.urls is not None
    emulator.grant_admin_consent(TENANT, CLIENT_ID)
    graph = GraphProvider(connector_settings(emulator.urls, free_port()), clock=datetime.now).auth
    cipher = TokenCipher(KEY)
    with transaction(engine) as session:
        alice, bob = users.get_user(session, ALICE), users.get_user(session, "bob@acme-law.com")
        tenant = session.get(Tenant, alice.tenant_id)
        assert tenant is not None
        tenant.graph_tenant_id = TENANT
        [connected] = tenant_access.connect_user(session, alice, cipher, graph)
        assert (connected.address, connected.provider_user_id, connected.app_only) == (ALICE, oid, True)
        assert tenant_access.connect_user(session, bob, cipher, graph) == []
    assert graph.user_id(TENANT, ALIAS.upper()) == oid  # an alias, in any case
    assert graph.user_id(TENANT, "o'brien@acme-law.com") is None  # quotes are escaped, nobody found
