"""The Graph emulator answers in the shapes Microsoft documents (tests/fixtures/payloads/graph/, each with its
page): a message, delta pages (nextLink; deltaLink with @removed), a subscription and the notification
collection it delivers, an Inbox rule, a mail folder, and the 429 and 410 SyncStateNotFound error bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.mailbuilder import mail
from tests.providers.graph.conftest import CLIENT_ID, TENANT, Receiver, Seeded, app_token, sign_in
from tests.shapes import assert_documented_shape


class Api:
    def __init__(self, seeded: Seeded, token: str) -> None:
        self.base, self.user = seeded.urls.graph_url, f"/users/{seeded.alice.id}"
        self.http = httpx.Client(trust_env=False, headers={"Authorization": f"Bearer {token}"})

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.http.get(path if path.startswith("http") else self.base + self.user + path, headers=headers)

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(self.base + path, json=body)


@pytest.fixture
def api(seeded: Seeded) -> Api:
    seeded.emulator.grant_admin_consent(TENANT, CLIENT_ID)
    for n in range(3):
        seeded.emulator.send("carol@clientco.com", mail("carol@clientco.com", [seeded.alice.address],
                                                         subject=f"Matter 10802 – {n}"))
    return Api(seeded, app_token(seeded))


def test_a_message_and_the_pages_of_a_delta_round(api: Api) -> None:
    [first, *_] = api.get("/messages").json()["value"]
    assert_documented_shape("graph/message.json", api.get(f"/messages/{first['id']}").json())
    page = api.get("/mailFolders/inbox/messages/delta", Prefer="odata.maxpagesize=2").json()
    assert_documented_shape("graph/delta_page.json", page)
    while "@odata.nextLink" in page:
        page = api.get(page["@odata.nextLink"], Prefer="odata.maxpagesize=2").json()
    api.http.delete(f"{api.base}{api.user}/messages/{first['id']}")
    assert_documented_shape("graph/delta_last_page.json", api.get(page["@odata.deltaLink"]).json())


def test_a_subscription_and_the_notifications_it_delivers(seeded: Seeded, api: Api, receiver: Receiver) -> None:
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    created = api.post("/subscriptions", {"changeType": "created", "notificationUrl": receiver.url,
                                          "resource": f"users/{seeded.alice.id}/messages",
                                          "expirationDateTime": expires, "clientState": "secretClientValue"})
    assert created.status_code == 201, created.text
    assert_documented_shape("graph/subscription.json", created.json())
    seeded.emulator.send("carol@clientco.com", mail("carol@clientco.com", [seeded.alice.address], subject="New"))
    assert_documented_shape("graph/change_notification_collection.json", {"value": receiver.wait_for(1)[:1]})


def test_a_mail_folder_and_an_inbox_rule(seeded: Seeded, api: Api) -> None:
    folder = api.post(f"{api.user}/mailFolders", {"displayName": "Clients"})
    assert_documented_shape("graph/mail_folder.json", folder.json())
    token = sign_in(seeded, seeded.alice, ["MailboxSettings.ReadWrite", "Mail.Read"])["access_token"]
    rule = httpx.post(f"{api.base}/me/mailFolders/inbox/messageRules", trust_env=False,
                      headers={"Authorization": f"Bearer {token}"},
                      json={"displayName": "From partner", "sequence": 2, "isEnabled": True,
                            "conditions": {"senderContains": ["adele"]}, "actions": {"stopProcessingRules": True}})
    assert rule.status_code == 201, rule.text
    assert_documented_shape("graph/message_rule.json", rule.json())


def test_the_throttling_and_expired_delta_error_bodies(seeded: Seeded, api: Api) -> None:
    link = api.get("/mailFolders/inbox/messages/delta").json()["@odata.deltaLink"]
    seeded.emulator.faults.inject_http_errors(429, next_n=1, retry_after=3)
    throttled = api.get("/messages")
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "3"
    assert_documented_shape("graph/error_429.json", throttled.json())
    seeded.emulator.expire_delta(seeded.alice.address)
    gone = api.get(link)
    assert gone.status_code == 410
    assert_documented_shape("graph/error_410_sync_state_not_found.json", gone.json())
    assert gone.json()["error"]["code"] == "SyncStateNotFound"
