"""Forged Gmail pushes and Graph notifications, posted to the app's own webhooks: tokens signed with no
algorithm, with Google's public certificate as an HMAC secret (key confusion), with another key, for
another audience or issuer, expired, for another service account or an unverified one; Graph calls with
a guessed clientState or subscription. Each is refused with its reason, wakes no mailbox, and is counted
in the audit's sample. (tests/providers/gmail/test_push.py checks the parser itself on the emulator's
real pushes.)"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from connector.crypto import TokenCipher
from connector.db import transaction
from connector.models import AuditEntry, Mailbox, User
from connector.services import mailboxes
from connector.web.app import create_app
from connector.web.context import AppContext
from providers.gmail.push import PushParser
from providers.graph.push import GraphNotificationParser
from tests.connector.web.conftest import Site, sqlite_only

pytestmark = sqlite_only  # the refusals happen before any query; the intake's queries run on both elsewhere
URL = "http://testserver/webhooks/gmail"  # Pub/Sub's default audience: the endpoint it pushes to
STATE = "the-client-state-graph-and-we-share"


@pytest.fixture
def hooks(site: Site) -> TestClient:
    """The app with both webhook parsers, and Alice's Gmail and Outlook mailboxes waiting for news."""
    with transaction(site.engine) as session:
        alice = session.get(User, site.world.alice.id)
        assert alice is not None
        cipher = TokenCipher.from_settings(site.settings)
        mailboxes.connect(session, alice, "gmail", "{}", cipher)
        graph = mailboxes.connect(session, alice, "graph", "{}", cipher)
        graph.subscription_id, graph.client_state = "sub-alice", STATE
        session.add(graph)
        for box in session.exec(select(Mailbox)):
            box.pending_since = None
            session.add(box)
    parsers = {"gmail": PushParser(site.settings.gmail), "graph": GraphNotificationParser()}
    return TestClient(create_app(AppContext(site.engine, site.settings, parsers, clock=site.context.clock)))


def claims(site: Site, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    found = {"aud": URL, "iss": "https://accounts.google.com", "email": site.settings.gmail.push_service_account,
             "email_verified": True, "iat": now, "exp": now + 3600, "sub": "1234567890", "azp": "1234567890"}
    found.update(changes)
    return {k: v for k, v in found.items() if v is not None}


def segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def unsigned(payload: dict[str, Any], kid: str) -> str:
    return f"{segment({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{segment(payload)}."


def hmac_with_public_key(payload: dict[str, Any], kid: str, pem: str) -> str:
    """HS256 keyed with Google's public certificate: forgeable by anyone who reads the certificate."""
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{segment(payload)}"
    signature = hmac.new(pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def push(address: str = "alice@acme-law.com") -> dict[str, Any]:
    data = base64.b64encode(json.dumps({"emailAddress": address, "historyId": "99"}).encode()).decode()
    return {"message": {"data": data, "messageId": "1", "publishTime": "2026-03-10T09:00:00Z"},
            "subscription": "projects/bcc-capture-sandbox/subscriptions/gmail"}


def woken(site: Site) -> list[str]:
    with Session(site.engine) as session:
        return sorted(m.provider for m in session.exec(select(Mailbox)) if m.pending_since is not None)


def audited(site: Site) -> dict[tuple[str, str], int]:
    with Session(site.engine) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.action == "webhook_rejected")).all()
    counted: dict[tuple[str, str], int] = {}
    for row in rows:
        counted[(row.source, row.reason)] = counted.get((row.source, row.reason), 0) + row.detail["count"]
    return counted


def test_forged_gmail_pushes_are_refused_with_their_reason(site: Site, hooks: TestClient) -> None:
    keys = site.idps.gmail.keys
    [(kid, pem)] = keys.pem_certs().items()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forgeries = {
        "no token": (None, 401, "missing_token"),
        "alg=none": (unsigned(claims(site), kid), 401, "invalid_token"),
        "HS256 keyed with the public certificate": (hmac_with_public_key(claims(site), kid, pem), 401,
                                                    "invalid_token"),
        "another key under Google's key id": (jwt.encode(claims(site), stranger, algorithm="RS256",
                                                         headers={"kid": kid}), 401, "invalid_token"),
        "another issuer": (keys.sign(claims(site, iss="https://accounts.evil.example")), 401, "invalid_token"),
        "expired": (keys.sign(claims(site, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)), 401,
                    "invalid_token"),
        "another audience": (keys.sign(claims(site, aud="https://attacker.example/hook")), 403, "wrong_audience"),
        "another service account": (keys.sign(claims(site, email="pusher@evil.iam.gserviceaccount.com")), 403,
                                    "wrong_service_account"),
        "an unverified service account": (keys.sign(claims(site, email_verified=False)), 403,
                                          "wrong_service_account"),
    }
    for name, (token, status, reason) in forgeries.items():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer = hooks.post("/webhooks/gmail", json=push(), headers=headers)
        assert (answer.status_code, answer.json()) == (status, {"error": reason}), name
    assert woken(site) == []
    assert audited(site) == {("gmail", "missing_token"): 1, ("gmail", "invalid_token"): 5,
                             ("gmail", "wrong_audience"): 1, ("gmail", "wrong_service_account"): 2}
    genuine = hooks.post("/webhooks/gmail", json=push(), headers={"Authorization": f"Bearer {keys.sign(claims(site))}"})
    assert (genuine.status_code, genuine.json()) == (202, {"accepted": 1})  # the same push, signed by Google
    assert woken(site) == ["gmail"]


def test_a_genuine_token_does_not_carry_a_push_for_a_mailbox_nobody_connected(site: Site, hooks: TestClient) -> None:
    token = site.idps.gmail.keys.sign(claims(site))
    answer = hooks.post("/webhooks/gmail", json=push("ceo@elsewhere.example"), headers={
        "Authorization": f"Bearer {token}"})
    assert (answer.status_code, answer.json()) == (404, {"error": "unknown_subscription"})
    assert woken(site) == []


def test_forged_graph_notifications_are_refused_with_their_reason(site: Site, hooks: TestClient) -> None:
    def note(subscription: str, state: str, **extra: str) -> dict[str, Any]:
        return {"value": [{"subscriptionId": subscription, "clientState": state, "changeType": "created",
                           "resource": "Users/x/Messages/y", **extra}]}

    forgeries = {
        "a guessed clientState": (note("sub-alice", "guessed"), 403, "client_state_mismatch"),
        "no clientState": (note("sub-alice", ""), 403, "client_state_mismatch"),
        "a guessed subscription": (note("sub-guessed", STATE), 404, "unknown_subscription"),
        "a forged lifecycle event": (note("sub-alice", "guessed", lifecycleEvent="subscriptionRemoved"), 403,
                                     "client_state_mismatch"),
        "a NUL in the subscription": (note("sub-alice\x00", STATE), 400, "malformed"),
        "not a notification": ({"value": "nope"}, 400, "malformed"),
    }
    for name, (body, status, reason) in forgeries.items():
        answer = hooks.post("/webhooks/graph", json=body)
        assert (answer.status_code, answer.json()) == (status, {"error": reason}), name
    lifecycle = hooks.post("/webhooks/graph/lifecycle", json=note("sub-alice", "guessed",
                                                                  lifecycleEvent="subscriptionRemoved"))
    assert lifecycle.status_code == 403
    assert woken(site) == []
    with Session(site.engine) as session:
        graph = session.exec(select(Mailbox).where(Mailbox.provider == "graph")).one()
    assert graph.subscription_id == "sub-alice"  # the forged "subscriptionRemoved" removed nothing
    assert audited(site) == {("graph", "client_state_mismatch"): 4, ("graph", "unknown_subscription"): 1,
                             ("graph", "malformed"): 2}
    assert hooks.post("/webhooks/graph", json=note("sub-alice", STATE)).status_code == 202
    assert woken(site) == ["graph"]
