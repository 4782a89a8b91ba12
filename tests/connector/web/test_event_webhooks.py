"""Outbound event webhooks, through the API as a host system uses them: register a receiver (a real HTTP server
on loopback), file mail, let the worker's delivery loop run, and check what the receiver got with the
verification code docs/integration.md prints. Time moves by the clock the dispatcher is given, never by sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from connector.crypto import TokenCipher
from connector.db import utcnow
from connector.events.delivery import Dispatcher
from connector.events.settings import EventSettings
from tests.connector.web.conftest import Site, log_matter_mail
from tests.connector.web.receiver import Receiver, documented_verify, receiver
from tests.connector.web.test_api import token_for
from tests.mailbuilder import mail, to_dropbox

LOOPBACK_ALLOWED = EventSettings(allowed_networks=("127.0.0.0/8",), retry_first_seconds=30)


class MovableClock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Hooks:
    site: Site
    clock: MovableClock
    dispatcher: Dispatcher
    headers: dict[str, str]


@pytest.fixture
def hooks(site: Site) -> Hooks:
    """The site with loopback receivers allowed (as in the demo), a movable clock and the worker's dispatcher."""
    site.settings = site.settings.model_copy(update={"events": LOOPBACK_ALLOWED})
    site.context.settings = site.settings
    clock = MovableClock()
    site.context.clock = clock
    dispatcher = Dispatcher(site.engine, LOOPBACK_ALLOWED, TokenCipher.from_settings(site.settings), clock=clock)
    return Hooks(site, clock, dispatcher, token_for(site))


@pytest.fixture
def crm() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


def register(client: TestClient, headers: dict[str, str], url: str, *types: str) -> dict[str, object]:
    answer = client.post("/api/v1/webhooks", json={"url": url, "event_types": list(types)}, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_logged_activity_is_delivered_once_signed_as_documented(client: TestClient, hooks: Hooks,
                                                                  crm: Receiver) -> None:
    secret = str(register(client, hooks.headers, crm.url, "activity.logged")["secret"])
    assert secret.startswith("whsec_")
    put = client.put("/api/v1/records/matter/MAT-10802", json={"number": "10802", "title": "Smith v. Jones"},
                     headers=hooks.headers)
    assert put.status_code == 200  # adopted: the matter existed under its number
    activity_id = log_matter_mail(hooks.site)
    log_matter_mail(hooks.site)  # the same message again (another copy): no second event
    hooks.dispatcher.run_once()
    hooks.dispatcher.run_once()
    [got] = crm.received
    event = documented_verify()(secret, got.headers, got.body)
    assert event["type"] == "activity.logged" and event["id"] == got.headers["webhook-id"]
    assert event["data"]["activity_id"] == activity_id and event["data"]["subject"] == "Settlement draft"
    assert {"kind": "matter", "number": "10802", "external_id": "MAT-10802"}.items() <= \
        event["data"]["records"][0].items()
    with pytest.raises(ValueError, match="bad signature"):
        documented_verify()(secret, got.headers, got.body.replace(b"Settlement", b"Settlemint"))


def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(client: TestClient, hooks: Hooks,
                                                                      crm: Receiver) -> None:
    secret = str(register(client, hooks.headers, crm.url)["secret"])
    crm.statuses = [500, 500]
    log_matter_mail(hooks.site)
    assert [s.status for s in hooks.dispatcher.run_once()] == ["pending"]
    assert hooks.dispatcher.run_once() == []  # not due yet: the first retry waits 30 s
    hooks.clock.advance(30)
    assert [s.response_code for s in hooks.dispatcher.run_once()] == [500]
    hooks.clock.advance(59)
    assert hooks.dispatcher.run_once() == []  # the second retry waits twice as long
    hooks.clock.advance(1)
    assert [(s.status, s.response_code) for s in hooks.dispatcher.run_once()] == [("delivered", 200)]
    assert len({r.headers["webhook-id"] for r in crm.received}) == 1 and len(crm.received) == 3
    assert len({r.headers["webhook-timestamp"] for r in crm.received}) == 3  # each attempt signed afresh
    for got in crm.received:
        documented_verify()(secret, got.headers, got.body)
    [logged] = client.get("/api/v1/webhooks/deliveries", headers=hooks.headers).json()
    assert (logged["status"], logged["attempts"], logged["response_code"]) == ("delivered", 3, 200)


def test_an_administrator_redelivers_an_event_by_hand(client: TestClient, hooks: Hooks, crm: Receiver) -> None:
    register(client, hooks.headers, crm.url)
    log_matter_mail(hooks.site)
    hooks.dispatcher.run_once()
    [logged] = client.get("/api/v1/webhooks/deliveries", headers=hooks.headers).json()
    again = client.post(f"/api/v1/webhooks/deliveries/{logged['id']}/redeliver", headers=hooks.headers)
    assert again.status_code == 202 and again.json()["status"] == "pending"
    hooks.dispatcher.run_once()
    first, second = crm.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == logged["event_id"]
    [entry] = client.get("/api/v1/audit", params={"action": "webhook_redelivered"}, headers=hooks.headers).json()
    assert entry["detail"]["event_id"] == logged["event_id"]


def test_a_companys_events_never_go_to_another_companys_endpoint(client: TestClient, hooks: Hooks,
                                                                 crm: Receiver) -> None:
    site = hooks.site
    with receiver() as theirs:
        register(client, hooks.headers, crm.url)
        register(client, token_for(site, site.other.tenant.id), theirs.url)
        log_matter_mail(site)
        site.capture.process(to_dropbox(mail("Oscar Other <oscar@other.example>", ["olga@client.example"],
                                             bcc=["other+777@bcc.example.com"], subject="Other's second brief")))
        hooks.dispatcher.run_once()
        assert [r.event["data"]["subject"] for r in crm.received] == ["Settlement draft"]
        assert [r.event["data"]["subject"] for r in theirs.received] == ["Other's second brief"]
    other_deliveries = client.get("/api/v1/webhooks/deliveries", headers=token_for(site, site.other.tenant.id)).json()
    mine = client.get("/api/v1/webhooks/deliveries", headers=hooks.headers).json()
    assert not {d["id"] for d in mine} & {d["id"] for d in other_deliveries}
    assert client.post(f"/api/v1/webhooks/deliveries/{other_deliveries[0]['id']}/redeliver",
                       headers=hooks.headers).status_code == 404


def test_unassigned_mail_and_an_unlogged_activity_are_events_too(client: TestClient, hooks: Hooks,
                                                                 crm: Receiver) -> None:
    register(client, hooks.headers, crm.url, "unassigned.created", "activity.unlogged")
    activity_id = log_matter_mail(hooks.site)  # logged, but nobody wants activity.logged: no event
    hooks.site.capture.process(to_dropbox(mail("Bob Baker <bob@acme-law.com>", ["quinn@newclient.example"],
                                               bcc=["notes@bcc.example.com"], subject="Intro call")))
    assert client.post(f"/api/v1/activities/{activity_id}/unlog", headers=hooks.headers).status_code == 200
    hooks.dispatcher.run_once()
    assert sorted(r.event["type"] for r in crm.received) == ["activity.unlogged", "unassigned.created"]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_webhook_urls_inside_the_network_are_refused(client: TestClient, site: Site) -> None:
    headers = token_for(site)
    for url, why in (("ftp://crm.example.com/hooks", "https://"), ("http://127.0.0.1:9/hooks", "127.0.0.1"),
                     ("http://169.254.169.254/latest", "link-local"), ("https://user:pw@crm.example.com/", "password")):
        answer = client.post("/api/v1/webhooks", json={"url": url}, headers=headers)
        assert answer.status_code == 422 and why in answer.json()["detail"], (url, answer.text)
    assert client.post("/api/v1/webhooks", json={"url": "https://crm.example.com/", "event_types": ["mail.eaten"]},
                       headers=headers).status_code == 422
    assert client.get("/api/v1/webhooks", headers=headers).json() == []
