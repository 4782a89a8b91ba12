"""The Graph adapter through the real msal and msgraph-sdk against the emulator."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from connector.config import Settings, load_settings
from connector.errors import CursorExpired, GrantRevoked, InputError, Throttled, TransientError
from connector.mail.envelope import Direction, Envelope
from connector.ports import Connected, MailboxRef
from providers.graph.adapter import BATCH_ATTEMPTS, GraphProvider
from providers.graph.mapping import conversation_of
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


def consent(provider: GraphProvider, seeded: Seeded, address: str = "alice@contoso.com") -> Connected:
    url, state = provider.auth.begin(REDIRECT_URI, login_hint=address)
    return provider.auth.finish(state, authorize(seeded.urls, {"auth_uri": url}))


def user_lookups(seeded: Seeded, oid: str) -> list[int]:
    return [r.status for r in seeded.emulator.request_log() if r.path.endswith(f"/users/{oid}")]


def test_a_user_connects_outlook_while_graph_is_briefly_unavailable_then_throttling(provider: GraphProvider,
                                                                                   seeded: Seeded) -> None:
    """Alice clicks "connect" at a bad second: Graph answers the callback's look-up of her mailbox 503, then 429
    with Retry-After: 1. The callback waits as Graph asks and she is connected, to the right mailbox."""
    me = f"/users/{seeded.alice.id}"
    seeded.emulator.faults.inject_http_errors(503, next_n=1, retry_after=None, path_contains=me)
    seeded.emulator.faults.inject_http_errors(429, next_n=1, retry_after=1, path_contains=me)
    started = time.monotonic()
    connected = consent(provider, seeded)
    assert (connected.address, connected.provider_user_id) == ("alice@contoso.com", seeded.alice.id)
    assert user_lookups(seeded, seeded.alice.id) == [503, 429, 200]
    assert time.monotonic() - started >= 1  # the Retry-After was honoured


def test_a_graph_outage_or_a_refusal_at_consent_is_a_transient_error(provider: GraphProvider, seeded: Seeded) -> None:
    """Graph still down after a few tries: the callback gives up with a clear error rather than hang the browser;
    a refusal (403) is not tried again."""
    me = f"/users/{seeded.alice.id}"
    seeded.emulator.faults.inject_http_errors(503, next_n=100, retry_after=0, path_contains=me)
    with pytest.raises(TransientError, match="answered 503"):
        consent(provider, seeded)
    assert user_lookups(seeded, seeded.alice.id) == [503] * 4
    seeded.emulator.faults.clear()
    seeded.emulator.clear_request_log()
    seeded.emulator.faults.inject_http_errors(403, next_n=1, retry_after=None, path_contains=me)
    with pytest.raises(TransientError, match="answered 403"):
        consent(provider, seeded)
    assert user_lookups(seeded, seeded.alice.id) == [403]


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
    # Same topic, same conversationId; the client's reply came without Thread-Index, so its conversationIndex root
    # (and thread key) is new: thread() links it by its In-Reply-To instead.
    assert conversation_of(sent) == conversation_of(reply) and sent.thread_key != reply.thread_key
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


# --- message downloads as JSON $batch ---------------------------------------------------------------
def attachment(n: int) -> bytes:
    return bytes(range(256)) + f"#{n}".encode()  # every byte value: the base64 hop must be lossless


def arrived(provider: GraphProvider, seeded: Seeded, ref: MailboxRef, count: int) -> list[Envelope]:
    """``count`` messages received after the cursor, as the header-only envelopes the engine decides on."""
    cursor = provider.start_cursor(ref)
    for n in range(count):
        send(seeded, mail("client@example.org", ["alice@contoso.com"], subject=f"Matter {n}", body=f"body {n}\n",
                          message_id=f"<b{n}@example.org>", attachments=[("data.bin", "application/octet-stream",
                                                                           attachment(n))]), "client@example.org")
    envelopes = list(provider.read_changes(ref, cursor).envelopes)
    assert len(envelopes) == count and not any(e.complete for e in envelopes)
    return envelopes


def downloads(seeded: Seeded) -> tuple[list[str], list[tuple[str, int]]]:
    """(the HTTP requests, the `$value` items inside batches with their statuses) from the emulator's log."""
    log = seeded.emulator.request_log()
    return ([r.endpoint for r in log if not r.in_batch],
            [(r.path.split("/messages/")[1].split("/")[0], r.status) for r in log if r.in_batch
             and r.path.endswith("/$value")])


def test_25_messages_to_log_are_downloaded_with_2_batch_requests_intact(provider: GraphProvider,
                                                                       seeded: Seeded) -> None:
    ref = connect(provider, seeded, "alice@contoso.com")
    wanted = arrived(provider, seeded, ref, 25)
    seeded.emulator.clear_request_log()
    before = provider.usage()
    full = provider.fetch_full(ref, wanted)
    after = provider.usage()
    requests, items = downloads(seeded)
    assert requests == ["POST /$batch", "POST /$batch"] and len(items) == 25  # 20 + 5, not 25 GETs
    assert after.http_requests - before.http_requests == 2 and after.bytes_downloaded > before.bytes_downloaded
    assert after.by_endpoint["/$batch"] - before.by_endpoint.get("/$batch", 0) == 2
    assert after.by_endpoint["/users/{id}/messages/{id}/$value"] == 25  # calls, as the metric counts them
    assert [e.provider_message_id for e in full] == [e.provider_message_id for e in wanted]
    for envelope in full:
        n = int(envelope.subject.split()[-1])
        assert envelope.complete and envelope.text.strip() == f"body {n}"
        assert [a.read() for a in envelope.attachments] == [attachment(n)]


def test_a_throttled_item_is_sent_again_after_its_retry_after_and_arrives_once(provider: GraphProvider,
                                                                             seeded: Seeded) -> None:
    ref = connect(provider, seeded, "alice@contoso.com")
    wanted = arrived(provider, seeded, ref, 3)
    target = wanted[1].provider_message_id
    seeded.emulator.faults.inject_http_errors(429, next_n=1, retry_after=1, path_contains=target)
    seeded.emulator.clear_request_log()
    started = time.monotonic()
    full = provider.fetch_full(ref, wanted)
    assert time.monotonic() - started >= 1  # the item's Retry-After was honoured
    requests, items = downloads(seeded)
    assert requests == ["POST /$batch", "GET /{user}/messages/{message}/$value"]  # only it went again, alone: no
    assert [status for message_id, status in items if message_id == target] == [429]  # $batch of one
    assert len(items) == 3
    assert [e.provider_message_id for e in full] == [e.provider_message_id for e in wanted]


def test_a_long_retry_after_is_left_to_the_engine(provider: GraphProvider, seeded: Seeded) -> None:
    ref = connect(provider, seeded, "alice@contoso.com")
    wanted = arrived(provider, seeded, ref, 2)
    target = wanted[0].provider_message_id
    seeded.emulator.faults.inject_http_errors(429, next_n=1, retry_after=120, path_contains=target)
    seeded.emulator.clear_request_log()
    with pytest.raises(Throttled) as caught:
        provider.fetch_full(ref, wanted)
    assert caught.value.retry_after == 120 and downloads(seeded)[0] == ["POST /$batch"]  # no waiting in the step


def test_a_message_deleted_after_the_decision_is_skipped_and_the_others_arrive(provider: GraphProvider,
                                                                             seeded: Seeded) -> None:
    ref = connect(provider, seeded, "alice@contoso.com")
    wanted = arrived(provider, seeded, ref, 3)
    seeded.emulator.delete_message(wanted[0].provider_message_id, permanently=True)
    seeded.emulator.delete_message(wanted[1].provider_message_id)  # to Deleted Items: the immutable id still works
    full = provider.fetch_full(ref, wanted)
    assert [e.provider_message_id for e in full] == [e.provider_message_id for e in wanted[1:]]


def test_a_batch_that_keeps_failing_raises_a_transient_error_and_loses_nothing(provider: GraphProvider,
                                                                              seeded: Seeded) -> None:
    ref = connect(provider, seeded, "alice@contoso.com")
    wanted = arrived(provider, seeded, ref, 2)
    seeded.emulator.faults.inject_http_errors(500, next_n=100, retry_after=None, path_contains="/$value")
    seeded.emulator.clear_request_log()
    with pytest.raises(TransientError):  # the engine retries the step: the cursor did not move
        provider.fetch_full(ref, wanted)
    assert downloads(seeded)[0] == ["POST /$batch"] * BATCH_ATTEMPTS
    seeded.emulator.faults.clear()
    assert len(provider.fetch_full(ref, wanted)) == 2


def test_a_batch_refused_for_an_expired_token_is_sent_again_with_a_fresh_one(provider: GraphProvider,
                                                                            seeded: Seeded) -> None:
    ref = connect(provider, seeded, "alice@contoso.com")
    wanted = arrived(provider, seeded, ref, 2)
    seeded.emulator.expire_access_tokens()
    seeded.emulator.clear_request_log()
    assert len(provider.fetch_full(ref, wanted)) == 2
    assert [(r.method, r.path, r.status) for r in seeded.emulator.request_log() if not r.in_batch] == [
        ("POST", "/$batch", 401), ("POST", "/$batch", 200)]
