"""The console's quarantine: Alice sees mail held in her name, releases what she sent, deletes the rest; Bob sees
none of it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from connector.db import transaction
from connector.services.quarantine import quarantine
from tests.connector.web.conftest import Site, csrf_of, sign_in
from tests.mailbuilder import mail


def _held(site: Site, subject: str) -> int:
    with transaction(site.engine) as session:
        item = quarantine(session, mail("Alice <alice@acme-law.com>", ["carol@clientco.com"], subject=subject,
                                        bcc=["acme+10802@bcc.example.com"]),
                          "unauthenticated_sender", source="smtp", tenant_id=site.world.tenant.id,
                          user_id=site.world.alice.id, envelope_recipients=["acme+10802@bcc.example.com"])
        return item.id or 0


def test_alice_releases_what_she_sent_and_deletes_a_forgery(client: TestClient, site: Site) -> None:
    mine, forged = _held(site, "Sent from my phone"), _held(site, "Wire the money now")
    csrf = sign_in(client, site, "alice@acme-law.com")
    page = client.get("/quarantine").text
    assert "Sent from my phone" in page and "Wire the money now" in page and "unauthenticated_sender" in page
    assert client.post(f"/quarantine/{mine}/release", data={"csrf": csrf}).status_code == 303
    assert client.post(f"/quarantine/{forged}/delete", data={"csrf": csrf_of(client.get("/quarantine").text)}
                       ).status_code == 303
    assert "Nothing is held back." in client.get("/quarantine").text
    assert "Sent from my phone" in client.get(f"/records/{site.world.matter.id}").text  # filed under the matter


def test_bob_sees_nothing_held_in_alices_name(client: TestClient, site: Site) -> None:
    held = _held(site, "Alice's own")
    csrf = sign_in(client, site, "bob@acme-law.com")
    assert "Alice's own" not in client.get("/quarantine").text
    assert client.post(f"/quarantine/{held}/release", data={"csrf": csrf}).status_code == 404
