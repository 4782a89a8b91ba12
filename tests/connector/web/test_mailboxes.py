"""Connecting Outlook and Gmail through the providers' real consent redirects (the adapters' flows, the
emulators' consent screens): denied consent, forged or stale answers, somebody else's mailbox, a revoked
grant found by the sync engine, reconnecting and disconnecting."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlmodel import select

from connector.crypto import TokenCipher
from connector.models import Mailbox, MailboxState
from connector.sync import leases
from connector.sync.engine import SyncEngine
from providers.gmail.adapter import build
from tests.connector.web.conftest import Site, back_from_idp, csrf_of, flash_of, sign_in, sqlite_only, text_of

pytestmark = sqlite_only  # flows and pages; the mailbox queries run on both databases in the API stories


def connect_gmail(client: TestClient, site: Site, csrf: str, as_user: str, mode: str = "approve") -> list[str]:
    """Click Connect Gmail, answer Google's consent screen as ``as_user``; the messages shown afterwards."""
    site.idps.gmail.set_consent(mode, user=as_user)
    started = client.post("/mailboxes/connect/gmail", data={"csrf": csrf})
    assert started.status_code == 303, started.text
    assert "access_type=offline" in started.headers["location"]
    back = back_from_idp(client, site.idps, started.headers["location"])
    assert back.headers["location"] == "/mailboxes"
    return flash_of(client.get("/mailboxes").text)


def alices_mailbox(site: Site) -> Mailbox:
    with site.world.session() as session:
        return session.exec(select(Mailbox).where(Mailbox.user_id == site.world.alice.id)).one()


def test_alice_connects_gmail_and_sees_its_health(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    assert "No mailbox is connected yet." in client.get("/mailboxes").text
    assert connect_gmail(client, site, csrf, "alice@acme-law.com") == [
        "Gmail mailbox alice@acme-law.com is connected. New mail is captured from now on."]
    mailbox = alices_mailbox(site)
    assert (mailbox.provider, mailbox.state) == ("gmail", MailboxState.INITIAL.value)
    assert "refresh_token" not in mailbox.credentials  # encrypted at rest…
    assert "refresh_token" in TokenCipher.from_settings(site.settings).decrypt(mailbox.credentials)  # …and usable
    text = text_of(client.get("/mailboxes").text)
    assert "Gmail alice@acme-law.com Status Connecting Last sync — Backlog 0 pages Logged 0 messages" in text


def test_bob_connects_outlook(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "bob@acme-law.com")
    site.idps.graph.set_consent("approve")  # picks the login_hint the console sends: Bob
    started = client.post("/mailboxes/connect/graph", data={"csrf": csrf})
    assert "login_hint=bob%40acme-law.com" in started.headers["location"]
    back_from_idp(client, site.idps, started.headers["location"])
    assert flash_of(client.get("/mailboxes").text) == [
        "Outlook mailbox bob@acme-law.com is connected. New mail is captured from now on."]
    site.idps.graph.set_consent("deny")
    back_from_idp(client, site.idps, client.post("/mailboxes/connect/graph", data={"csrf": csrf}).headers["location"])
    assert flash_of(client.get("/mailboxes").text)[0].startswith(
        "Outlook was not connected: Microsoft sign-in did not grant access: AADSTS65004")


def test_declined_forged_and_stale_consents_connect_nothing(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    assert connect_gmail(client, site, csrf, "alice@acme-law.com", mode="deny") == [
        "Gmail was not connected: Gmail access was not granted"]
    client.post("/mailboxes/connect/gmail", data={"csrf": csrf})
    client.get("/oauth/gmail/callback?state=forged&code=4/0stolen")
    assert flash_of(client.get("/mailboxes").text) == [
        "Gmail was not connected: the sign-in does not match this session; start connecting Gmail again"]
    client.get("/oauth/gmail/callback?state=forged&code=4/0stolen")  # nothing pending any more
    assert flash_of(client.get("/mailboxes").text) == [
        "This Gmail connection was not started here, or it has expired. Please click Connect again."]
    assert "No mailbox is connected yet." in client.get("/mailboxes").text


def test_somebody_elses_mailbox_cannot_be_connected(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    assert connect_gmail(client, site, csrf, "bob@acme-law.com") == [
        "Gmail was not connected: you signed in as bob@acme-law.com, which is neither your login address nor a "
        "verified sender address: connect your own mailbox, or add and verify that address first"]


def test_a_revoked_grant_asks_alice_to_reconnect_and_reconnecting_resumes(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    connect_gmail(client, site, csrf, "alice@acme-law.com")
    site.idps.gmail.oauth.revoke_grants("alice@acme-law.com")  # e.g. she removed the app in her Google account
    provider, _ = build(site.settings, lambda: datetime.now(UTC))
    sync = SyncEngine(site.engine, site.settings, {"gmail": provider}, TokenCipher.from_settings(site.settings))
    mailbox_id = alices_mailbox(site).id
    assert mailbox_id and leases.claim(site.engine, mailbox_id, "test-worker", datetime.now(UTC), ttl=60)
    sync.step(mailbox_id, "test-worker")
    assert alices_mailbox(site).state == MailboxState.NEEDS_RECONNECT.value
    page = client.get("/mailboxes").text
    assert "Access revoked — reconnect" in page and "Nothing is captured until you reconnect." in page
    assert connect_gmail(client, site, csrf, "alice@acme-law.com")[0].startswith("Gmail mailbox alice@acme-law.com")
    assert alices_mailbox(site).state == MailboxState.INITIAL.value


def test_alice_disconnects_her_mailbox(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    connect_gmail(client, site, csrf, "alice@acme-law.com")
    mailbox_id = alices_mailbox(site).id
    client.post(f"/mailboxes/{mailbox_id}/disconnect", data={"csrf": csrf_of(client.get("/mailboxes").text)})
    assert flash_of(client.get("/mailboxes").text) == [
        "alice@acme-law.com is disconnected: no more mail is read from it."]
    mailbox = alices_mailbox(site)
    assert (mailbox.state, mailbox.credentials) == (MailboxState.PAUSED.value, "")  # the tokens are gone
    assert "Disconnected. Connect it again to resume capture." in client.get("/mailboxes").text
