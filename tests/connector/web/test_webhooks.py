"""The webhook intake as Microsoft's and Google's servers meet it: handshake, genuine, forged, malformed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.models import AuditEntry, Mailbox
from connector.services import mailboxes, users
from connector.sync.schedule import due_for_renewal
from connector.web.app import create_app
from connector.web.context import AppContext
from providers.graph.push import GraphNotificationParser
from tests.conftest import World

KEY = b"q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="
SECRET_STATE = "a-client-state-only-graph-and-we-know"


@pytest.fixture
def subscribed(world: World) -> Mailbox:
    with transaction(world.engine) as session:
        box = mailboxes.connect(session, users.get_user(session, "alice@acme-law.com"), "graph", "{}", TokenCipher(KEY))
        box.subscription_id, box.client_state, box.pending_since = "sub-42", SECRET_STATE, None
        box.subscription_expires_at = datetime(2026, 3, 12, tzinfo=UTC)
        session.add(box)
    return box


@pytest.fixture
def client(world: World, settings: Settings) -> TestClient:
    return TestClient(create_app(AppContext(world.engine, settings, {"graph": GraphNotificationParser()})))


def notification(client_state: str) -> dict[str, object]:
    return {"value": [{"subscriptionId": "sub-42", "clientState": client_state, "changeType": "created",
                       "resource": "Users/x/Messages/y", "tenantId": "t",
                       "subscriptionExpirationDateTime": "2026-03-12T00:00:00Z",
                       "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "id": "y"}}]}


def test_the_validation_handshake_echoes_the_token_as_plain_text(client: TestClient) -> None:
    reply = client.post("/webhooks/graph?validationToken=Validation%3A%20Testing%20client%20application")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    assert reply.text == "Validation: Testing client application"


def test_a_genuine_notification_wakes_the_mailbox_and_answers_202(client: TestClient, world: World,
                                                                  subscribed: Mailbox) -> None:
    reply = client.post("/webhooks/graph", json=notification(SECRET_STATE))
    assert reply.status_code == 202
    with Session(world.engine) as session:
        assert session.get(Mailbox, subscribed.id).pending_since is not None


def test_a_forged_notification_is_refused_audited_and_wakes_nothing(client: TestClient, world: World,
                                                                    subscribed: Mailbox) -> None:
    reply = client.post("/webhooks/graph", json=notification("guessed"))
    malformed = client.post("/webhooks/graph", content=b"not json", headers={"content-type": "application/json"})
    assert (reply.status_code, malformed.status_code) == (403, 400)
    with Session(world.engine) as session:
        assert session.get(Mailbox, subscribed.id).pending_since is None
        reasons = [a.reason for a in session.exec(select(AuditEntry).where(AuditEntry.action == "webhook_rejected"))]
    assert sorted(reasons) == ["client_state_mismatch", "malformed"]
    assert json.loads(reply.text) == {"error": "client_state_mismatch"}


def test_subscriptions_are_due_for_renewal_a_day_before_they_expire(world: World, settings: Settings,
                                                                    subscribed: Mailbox) -> None:
    expires = datetime(2026, 3, 12, tzinfo=UTC)  # a fixed clock, no waiting
    assert due_for_renewal(world.engine, expires - timedelta(days=2), settings) == []
    assert due_for_renewal(world.engine, expires - timedelta(hours=23), settings) == [subscribed.id]
