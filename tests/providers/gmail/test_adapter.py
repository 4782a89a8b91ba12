"""The Gmail adapter against the emulator, through the real googleapiclient / google-auth / oauthlib."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httplib2
import pytest
from googleapiclient.errors import HttpError

from connector.config import Settings
from connector.errors import CursorExpired, GrantRevoked, Throttled, TransientError
from connector.mail.envelope import Address, Direction
from connector.ports import ChangePage, MailboxRef
from emulators.gmail import GmailEmulator
from providers.gmail.adapter import GmailProvider, build
from providers.gmail.auth import READONLY, Consent, ConsentDenied, ScopeNotGranted, StateMismatch
from providers.gmail.client import translate
from providers.gmail.mapping import full_envelope, ids_only_envelope

from .conftest import (
    ANN,
    BOB,
    DROPBOX,
    PROJECT,
    TOPIC,
    PushReceiver,
    connect,
    consent_callback,
    mailbox_ref,
    send,
)

pytestmark = pytest.mark.timeout(60)
HISTORY_LIST = "gmail.users.history.list"


@pytest.fixture
def provider(connector_settings: Settings) -> GmailProvider:
    return build(connector_settings, lambda: datetime.now(UTC))[0]


@pytest.fixture
def ann(connector_settings: Settings) -> MailboxRef:
    return mailbox_ref(connect(connector_settings, ANN))


def drain(provider: GmailProvider, ref: MailboxRef, cursor: str) -> tuple[list[ChangePage], str]:
    pages = [provider.read_changes(ref, cursor)]
    while pages[-1].more:
        pages.append(provider.read_changes(ref, pages[-1].cursor))
    return pages, pages[-1].cursor


# -- consent --------------------------------------------------------------------------------------
def test_a_user_connects_gmail_and_we_learn_the_address(connector_settings: Settings,
                                                        emulator: GmailEmulator) -> None:
    connected = connect(connector_settings, ANN)
    assert connected.address == ANN
    assert connected.provider_user_id == emulator.mailbox(ANN).sub
    stored = json.loads(connected.credentials)
    assert stored["refresh_token"] and READONLY in stored["scopes"]
    assert "client_secret" not in stored  # the secret stays in settings


def test_cancelled_consent_forged_state_and_unticked_gmail_are_refused(connector_settings: Settings,
                                                                       emulator: GmailEmulator) -> None:
    emulator.set_consent("deny")
    flow_state, params = consent_callback(connector_settings, ANN)
    assert params["error"] == "access_denied"
    with pytest.raises(ConsentDenied):
        Consent(connector_settings.gmail).finish(flow_state, params)

    emulator.set_consent("approve")
    flow_state, params = consent_callback(connector_settings, ANN)
    other_state, _ = consent_callback(connector_settings, ANN)
    with pytest.raises(StateMismatch):  # a callback that belongs to another sign-in
        Consent(connector_settings.gmail).finish(other_state, params)

    emulator.set_consent("approve", scopes=["openid", "https://www.googleapis.com/auth/userinfo.email"])
    flow_state, params = consent_callback(connector_settings, ANN)
    with pytest.raises(ScopeNotGranted):
        Consent(connector_settings.gmail).finish(flow_state, params)


# -- tokens ---------------------------------------------------------------------------------------
def test_the_access_token_expires_and_google_auth_refreshes_it(provider: GmailProvider, ann: MailboxRef,
                                                               emulator: GmailEmulator) -> None:
    cursor = provider.start_cursor(ann)
    emulator.expire_access_tokens(ANN)
    assert provider.read_changes(ann, cursor).envelopes == []
    statuses = [c.status for c in emulator.request_log() if c.method == HISTORY_LIST]
    assert statuses == [401, 200]  # refreshed with the refresh token, then replayed
    assert provider.usage().by_endpoint["oauth2.token"] == 1

    [(mailbox_id, refreshed)] = provider.take_credential_updates().items()  # the engine stores these
    assert mailbox_id == ann.mailbox_id and json.loads(refreshed)["token"] != json.loads(ann.credentials)["token"]
    assert provider.take_credential_updates() == {}
    stored = MailboxRef(ann.mailbox_id, ANN, credentials=refreshed)  # the next step reads the stored copy
    assert provider.read_changes(stored, cursor).envelopes == []
    assert provider.usage().by_endpoint["oauth2.token"] == 1  # no second refresh


def test_a_revoked_grant_means_reconnect(provider: GmailProvider, ann: MailboxRef, emulator: GmailEmulator) -> None:
    cursor = provider.start_cursor(ann)
    emulator.revoke_grant(ANN)
    with pytest.raises(GrantRevoked):
        provider.read_changes(ann, cursor)


def test_workspace_mailboxes_are_read_through_domain_wide_delegation(
        connector_settings: Settings, emulator: GmailEmulator, tmp_path: Any) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(emulator.new_service_account(f"capture@{PROJECT}.iam.gserviceaccount.com", "1047")))
    settings = connector_settings.model_copy(update={"gmail": connector_settings.gmail.model_copy(
        update={"service_account_file": str(key_file)})})
    provider = build(settings, lambda: datetime.now(UTC))[0]
    ann = MailboxRef(7, ANN, app_only=True)
    emulator.authorize_domain_wide_delegation("firm.example", "1047", [READONLY])
    assert json.loads(provider.start_cursor(ann))["history_id"].isdigit()
    emulator.revoke_domain_wide_delegation("firm.example", "1047")
    with pytest.raises(GrantRevoked):
        build(settings, lambda: datetime.now(UTC))[0].start_cursor(ann)  # a new process: no cached token


# -- reading --------------------------------------------------------------------------------------
def test_history_names_the_message_its_thread_and_direction_without_reading_it(
        provider: GmailProvider, ann: MailboxRef, emulator: GmailEmulator, service_for) -> None:
    cursor = provider.start_cursor(ann)
    gmail_id, _ = send(service_for(ANN), ANN, BOB, "Smith v. Jones", Bcc=DROPBOX)
    emulator.reset_request_log()
    [stub] = provider.read_changes(ann, cursor).envelopes
    assert stub.ids_only and not stub.complete and stub.internet_message_id == "" and stub.bcc == ()
    assert (stub.provider_message_id, stub.mailbox, stub.direction) == (gmail_id, ANN, Direction.SENT)
    assert stub.thread_key == f"gmail:{ANN}:{emulator.mailbox(ANN).messages[gmail_id].thread_id}"
    assert [c.method for c in emulator.request_log()] == [HISTORY_LIST]  # 2 units, nothing else


def test_the_bcc_on_the_sent_copy_is_visible_without_downloading_the_message(
        provider: GmailProvider, ann: MailboxRef, service_for) -> None:
    cursor = provider.start_cursor(ann)
    gmail_id, message_id = send(service_for(ANN), ANN, BOB, "Smith v. Jones", Bcc=DROPBOX)
    [envelope] = provider.headers(ann, provider.read_changes(ann, cursor).envelopes)
    assert envelope.complete is False and envelope.ids_only is False and envelope.text == ""
    assert envelope.bcc == (Address(DROPBOX),) and envelope.to == (Address(BOB),)
    assert envelope.direction is Direction.SENT and envelope.internet_message_id == message_id
    assert envelope.provider_message_id == gmail_id and envelope.mailbox == ANN
    assert envelope.thread_key.startswith(f"gmail:{ANN}:")


def test_a_reply_without_bcc_carries_the_same_thread_key(provider: GmailProvider, ann: MailboxRef,
                                                         service_for) -> None:
    cursor = provider.start_cursor(ann)
    _, first_id = send(service_for(ANN), ANN, BOB, "Smith v. Jones", Bcc=DROPBOX)
    send(service_for(BOB), BOB, ANN, "Re: Smith v. Jones", In_Reply_To=first_id, References=first_id)
    stubs = provider.read_changes(ann, cursor).envelopes
    sent, reply = provider.headers(ann, stubs)
    assert [s.thread_key for s in stubs] == [sent.thread_key] * 2
    assert reply.direction is Direction.RECEIVED and reply.bcc == ()
    assert reply.thread_key == sent.thread_key and reply.in_reply_to == (first_id,)
    earlier = provider.thread(ann, reply)  # what the engine asks when a thread opens
    assert [e.internet_message_id for e in earlier] == [first_id]


def test_history_pages_continue_through_the_cursor(connector_settings: Settings, ann: MailboxRef,
                                                   service_for) -> None:
    provider = GmailProvider(connector_settings.gmail, page_size=2)
    cursor = provider.start_cursor(ann)
    subjects = [f"Update {n}" for n in range(5)]
    for subject in subjects:
        send(service_for(ANN), ANN, BOB, subject)
    pages, last = drain(provider, ann, cursor)
    assert [p.more for p in pages] == [True, True, False]
    assert [e.subject for p in pages for e in provider.headers(ann, p.envelopes)] == subjects
    assert "page_token" in json.loads(pages[0].cursor) and "page_token" not in json.loads(last)
    assert provider.read_changes(ann, last).envelopes == []


def test_expired_history_is_reported_then_recent_returns_the_missed_mail_once(
        provider: GmailProvider, ann: MailboxRef, emulator: GmailEmulator, service_for) -> None:
    cursor = provider.start_cursor(ann)
    since = datetime.now(UTC) - timedelta(minutes=5)
    missed = [send(service_for(BOB), BOB, ANN, f"Missed {n}")[1] for n in range(2)]
    emulator.expire_history(ANN)
    with pytest.raises(CursorExpired):
        provider.read_changes(ann, cursor)
    resync = provider.recent(ann, since)
    assert [e.internet_message_id for e in resync.envelopes] == missed  # oldest first
    assert provider.read_changes(ann, resync.cursor).envelopes == []


def test_a_resync_the_quota_stops_part_way_goes_on_where_it_stopped(
        provider: GmailProvider, ann: MailboxRef, emulator: GmailEmulator, service_for) -> None:
    """Six missed messages, a minute's quota for three header reads: the first attempt is throttled, the next
    minute's reads only the other three (begun again from the top, it would be stopped at the same place for
    ever), and the resync returns all six once."""
    since = datetime.now(UTC) - timedelta(minutes=5)
    missed = [send(service_for(BOB), BOB, ANN, f"Missed {n}")[1] for n in range(6)]
    emulator.expire_history(ANN)
    units = emulator.quota.units
    listing = units["gmail.users.getProfile"] + units["gmail.users.messages.list"]
    emulator.set_quota(per_user_per_minute=listing + 3 * units["gmail.users.messages.get"])
    emulator.advance_clock(61)
    emulator.reset_request_log()
    with pytest.raises(Throttled):
        provider.recent(ann, since)
    emulator.advance_clock(61)  # the next minute
    resync = provider.recent(ann, since)
    assert [e.internet_message_id for e in resync.envelopes] == missed
    reads = [c for c in emulator.request_log(ANN) if c.method == "gmail.users.messages.get" and c.units]
    assert len(reads) == 6  # each header read once, over the two attempts


def test_fetch_full_downloads_bodies_in_one_batch(provider: GmailProvider, ann: MailboxRef,
                                                  emulator: GmailEmulator, service_for) -> None:
    cursor = provider.start_cursor(ann)
    message_ids = [send(service_for(ANN), ANN, BOB, f"Brief {n}", body=f"Body {n}", Bcc=DROPBOX)[1]
                   for n in range(3)]
    headers = provider.read_changes(ann, cursor).envelopes  # ids-only: everything else comes from the raw
    emulator.reset_request_log()
    full = provider.fetch_full(ann, headers)
    assert [e.text.strip() for e in full] == ["Body 0", "Body 1", "Body 2"]
    assert all(e.complete and not e.ids_only and e.bcc == (Address(DROPBOX),) for e in full)
    assert [e.internet_message_id for e in full] == message_ids and all(e.to == (Address(BOB),) for e in full)
    assert [e.thread_key for e in full] == [e.thread_key for e in headers]
    log = emulator.request_log()
    assert [c.method for c in log if not c.in_batch] == ["batch"]
    assert [c.method for c in log if c.in_batch] == ["gmail.users.messages.get"] * 3

    emulator.store.delete(ANN, headers[1].provider_message_id)  # deleted before we got to it
    assert [e.subject for e in provider.fetch_full(ann, headers)] == ["Brief 0", "Brief 2"]
    emulator.quota_storm(next_n=1, retry_after=9, methods=["gmail.users.messages.get"])
    with pytest.raises(Throttled) as throttled:  # one throttled call in the batch: retry the page later
        provider.fetch_full(ann, headers)
    assert throttled.value.retry_after == 9


def test_an_unreadable_download_of_an_ids_only_message_stays_addressable() -> None:
    stub = ids_only_envelope({"id": "18c0ffee", "threadId": "18c0ffee", "labelIds": ["INBOX"]}, ANN)
    full = full_envelope(b"", stub)  # Gmail answered without a usable raw
    assert full.complete and not full.ids_only and full.direction is Direction.RECEIVED
    assert full.internet_message_id == "<18c0ffee@gmail.bcc-capture.invalid>" and full.thread_key == stub.thread_key


def test_worker_threads_can_share_one_provider(provider: GmailProvider, connector_settings: Settings,
                                               service_for) -> None:
    refs = [mailbox_ref(connect(connector_settings, address), n) for n, address in enumerate((ANN, BOB))]
    cursors = {ref.address: provider.start_cursor(ref) for ref in refs}
    for n in range(3):
        send(service_for(ANN), ANN, BOB, f"Busy {n}", Bcc=DROPBOX)
    with ThreadPoolExecutor(max_workers=8) as pool:  # httplib2 is not thread-safe: one Http per call
        pages = list(pool.map(lambda ref: provider.read_changes(ref, cursors[ref.address]), refs * 8))
    assert [len(page.envelopes) for page in pages] == [3] * 16


# -- failures -------------------------------------------------------------------------------------
def test_a_quota_storm_is_throttled_with_the_servers_retry_after(provider: GmailProvider, ann: MailboxRef,
                                                                 emulator: GmailEmulator) -> None:
    cursor = provider.start_cursor(ann)
    emulator.quota_storm(next_n=1, retry_after=7, methods=[HISTORY_LIST])
    with pytest.raises(Throttled) as storm:
        provider.read_changes(ann, cursor)
    assert storm.value.retry_after == 7 and storm.value.status == 429

    emulator.quota_storm(next_n=1, status=403, retry_after=12)  # 403 userRateLimitExceeded
    with pytest.raises(Throttled) as user_limit:
        provider.read_changes(ann, cursor)
    assert user_limit.value.retry_after == 12 and user_limit.value.status == 403

    emulator.fail_requests(503, next_n=1)
    with pytest.raises(TransientError):
        provider.read_changes(ann, cursor)
    assert provider.read_changes(ann, cursor).envelopes == []


@pytest.mark.parametrize(("status", "headers", "message", "wait"), [
    (429, {}, "User-rate limit exceeded.  Retry after 2026-03-10T09:00:40.000Z", 40.0),
    (429, {"retry-after": "Tue, 10 Mar 2026 09:01:00 GMT"}, "Rate Limit Exceeded", 60.0),
    (403, {}, "User Rate Limit Exceeded", 30.0),  # nothing said: the default
])
def test_retry_after_comes_from_the_header_the_message_or_a_default(status: int, headers: dict[str, str],
                                                                    message: str, wait: float) -> None:
    reason = "rateLimitExceeded" if status == 429 else "userRateLimitExceeded"
    body = {"error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}}
    error = HttpError(httplib2.Response({"status": status, **headers}), json.dumps(body).encode())
    translated = translate(error, HISTORY_LIST, datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    assert isinstance(translated, Throttled) and translated.retry_after == wait


# -- watch ----------------------------------------------------------------------------------------
def test_watch_is_created_renewed_and_stopped(provider: GmailProvider, ann: MailboxRef, emulator: GmailEmulator,
                                              receiver: PushReceiver) -> None:
    emulator.configure_push(TOPIC, receiver.url)
    now = datetime.now(UTC)
    watch = provider.subscribe(ann, receiver.url, now, client_state="")
    assert watch.subscription_id == f"watch:{ANN}"
    assert timedelta(days=6, hours=23) < watch.expires_at - now <= timedelta(days=7, minutes=1)
    watched = emulator.watches.watches[ANN]
    assert (watched.label_ids, watched.behavior) == (("DRAFT", "CHAT"), "exclude")  # filtered mail has no INBOX
    assert provider.renew(ann, watch, now).expires_at >= watch.expires_at
    provider.unsubscribe(ann, watch)
    assert ANN not in emulator.watches.watches



def test_find_returns_this_mailboxs_copy_of_a_message_by_its_message_id(provider: GmailProvider, ann: MailboxRef,
                                                                       service_for) -> None:
    _, message_id = send(service_for(BOB), BOB, ANN, "Smith v. Jones")
    found = provider.find(ann, message_id)
    assert found is not None and found.provider_message_id != "" and found.internet_message_id == message_id
    assert provider.find(ann, "<nobody-sent-this@example.org>") is None
