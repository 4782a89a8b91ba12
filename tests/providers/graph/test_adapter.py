"""The Graph adapter through the real msal and msgraph-sdk against the emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from connector.config import Settings, load_settings
from connector.envelope import Direction
from connector.errors import CursorExpired, GrantRevoked, InputError
from providers.base import MailboxRef
from providers.graph.adapter import GraphProvider
from tests.mailbuilder import mail
from tests.providers.graph.conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, TENANT, Seeded, authorize

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def graph_settings(seeded: Seeded) -> Settings:
    urls = seeded.urls
    return load_settings(graph={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "tenant": TENANT,
                                "authority_host": urls.authority_host, "graph_url": urls.graph_url,
                                "ca_bundle": urls.ca_path})


@pytest.fixture
def provider(seeded: Seeded) -> GraphProvider:
    return GraphProvider(graph_settings(seeded), clock=lambda: NOW)


def connect(provider: GraphProvider, seeded: Seeded, address: str, mailbox_id: int = 1) -> MailboxRef:
    url, state = provider.auth.begin(REDIRECT_URI, login_hint=address)
    connected = provider.auth.finish(state, authorize(seeded.urls, {"auth_uri": url}))
    assert connected.address == address
    return MailboxRef(mailbox_id, address, "", connected.credentials)


def send(seeded: Seeded, raw: bytes, sender: str) -> None:
    seeded.emulator.post_office.send(sender, raw)


def test_a_user_connects_outlook_through_consent(provider: GraphProvider, seeded: Seeded) -> None:
    ref = connect(provider, seeded, "alice@contoso.com")
    assert json.loads(ref.credentials)["tenant_id"] == TENANT


def test_denied_consent_is_a_clear_error(provider: GraphProvider, seeded: Seeded) -> None:
    seeded.emulator.set_consent("deny")
    url, state = provider.auth.begin(REDIRECT_URI, login_hint="alice@contoso.com")
    with pytest.raises(InputError, match="did not grant access"):
        provider.auth.finish(state, authorize(seeded.urls, {"auth_uri": url}))


def test_a_bcc_on_sent_items_is_seen_in_metadata_and_replies_share_the_thread(
        provider: GraphProvider, seeded: Seeded) -> None:
    ref = connect(provider, seeded, "alice@contoso.com")
    cursor = provider.start_cursor(ref)
    send(seeded, mail("alice@contoso.com", ["client@example.org"], bcc=["acme+10802@bcc.example.com"],
                      subject="Draft", message_id="<d1@contoso.com>"), "alice@contoso.com")
    send(seeded, mail("client@example.org", ["alice@contoso.com"], subject="Re: Draft", message_id="<d2@example.org>",
                      in_reply_to="<d1@contoso.com>", references=["<d1@contoso.com>"]), "client@example.org")
    page = provider.read_changes(ref, cursor)
    by_id = {e.internet_message_id: e for e in page.envelopes}
    sent, reply = by_id["<d1@contoso.com>"], by_id["<d2@example.org>"]
    assert [a.email for a in sent.bcc] == ["acme+10802@bcc.example.com"] and sent.direction is Direction.SENT
    assert reply.bcc == () and reply.direction is Direction.RECEIVED and not reply.complete
    assert reply.in_reply_to == ("<d1@contoso.com>",)
    assert sent.thread_key == reply.thread_key
    full = provider.fetch_full(ref, [sent])
    assert full[0].complete and "update" in full[0].text
    assert [a.email for a in full[0].bcc] == ["acme+10802@bcc.example.com"]
    assert [e.internet_message_id for e in provider.thread(ref, sent)] == ["<d2@example.org>"]
    assert provider.find(ref, "<d2@example.org>") is not None
    assert provider.read_changes(ref, page.cursor).envelopes == []


def test_an_expired_delta_token_is_cursor_expired_and_recent_mail_is_reread(
        provider: GraphProvider, seeded: Seeded) -> None:
    ref = connect(provider, seeded, "alice@contoso.com")
    cursor = provider.start_cursor(ref)
    send(seeded, mail("client@example.org", ["alice@contoso.com"], subject="Hi", message_id="<x1@example.org>"),
         "client@example.org")
    seeded.emulator.expire_delta("alice@contoso.com")
    with pytest.raises(CursorExpired):
        provider.read_changes(ref, cursor)
    page = provider.recent(ref, since=datetime.now(UTC) - timedelta(hours=1))
    assert [e.internet_message_id for e in page.envelopes] == ["<x1@example.org>"]
    assert provider.read_changes(ref, page.cursor).envelopes == []


def test_a_revoked_grant_is_reported_as_such(provider: GraphProvider, seeded: Seeded) -> None:
    ref = connect(provider, seeded, "alice@contoso.com")
    seeded.emulator.revoke_grant("alice@contoso.com")
    with pytest.raises(GrantRevoked):
        provider.start_cursor(MailboxRef(2, ref.address, "", ref.credentials))


def test_delta_reports_deleted_messages_as_removed(provider: GraphProvider, seeded: Seeded) -> None:
    ref = connect(provider, seeded, "alice@contoso.com")
    cursor = provider.start_cursor(ref)
    send(seeded, mail("client@example.org", ["alice@contoso.com"], subject="Spam?", message_id="<r1@example.org>"),
         "client@example.org")
    page = provider.read_changes(ref, cursor)
    [envelope] = page.envelopes
    seeded.emulator.delete_message(envelope.provider_message_id, permanently=True)
    after = provider.read_changes(ref, page.cursor)
    assert after.envelopes == [] and list(after.removed) == [envelope.provider_message_id]


def test_a_429_storm_surfaces_as_throttled_with_the_servers_retry_after(provider: GraphProvider,
                                                                       seeded: Seeded) -> None:
    from connector.errors import Throttled

    ref = connect(provider, seeded, "alice@contoso.com")
    cursor = provider.start_cursor(ref)
    seeded.emulator.faults.inject_http_errors(429, next_n=3, retry_after=7)
    with pytest.raises(Throttled) as caught:
        provider.read_changes(ref, cursor)
    assert caught.value.retry_after == 7  # the SDK's own retries are off: the engine schedules the wait


def test_a_subscription_is_created_with_the_handshake_and_renewed_before_it_expires(
        provider: GraphProvider, seeded: Seeded, receiver) -> None:
    ref = connect(provider, seeded, "alice@contoso.com")
    now = datetime.now(UTC)
    made = provider.subscribe(ref, receiver.url, now, client_state="s" * 64)
    assert receiver.validations and made.expires_at > now + timedelta(days=6)
    later = now + timedelta(minutes=30)  # a fixed clock: renewal extends from "now", not from creation
    renewed = provider.renew(ref, made, later)
    assert renewed.subscription_id == made.subscription_id and renewed.expires_at > made.expires_at
