"""The Graph emulator, driven only through the real msal and msgraph-sdk (plus raw HTTP where a test
needs the wire itself, e.g. the JSON batching shapes)."""

from __future__ import annotations

import asyncio
import datetime as dt
from email import message_from_bytes
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.generated.users.item.messages.item.forward.forward_post_request_body import ForwardPostRequestBody
from msgraph.generated.users.item.messages.item.message_item_request_builder import MessageItemRequestBuilder
from msgraph.generated.users.item.messages.item.reply.reply_post_request_body import ReplyPostRequestBody
from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

from tests.shapes import assert_documented_shape

from .conftest import (
    CLIENT_ID,
    REDIRECT_URI,
    TENANT,
    Receiver,
    Seeded,
    app_token,
    authorize,
    graph_client,
    http_session,
    msal_app,
    run,
    sign_in,
)

DROPBOX = "acme+10802@bcc.example.com"


def recipients(*addresses: str) -> list[Recipient]:
    return [Recipient(email_address=EmailAddress(address=a)) for a in addresses]


def mail(subject: str, to: list[str], bcc: list[str] = (), text: str = "Hello") -> SendMailPostRequestBody:  # type: ignore[assignment]
    message = Message(subject=subject, body=ItemBody(content_type=BodyType.Text, content=text),
                      to_recipients=recipients(*to), bcc_recipients=recipients(*bcc))
    return SendMailPostRequestBody(message=message, save_to_sent_items=True)


def external(subject: str, to: str, sender: str = "client@example.org", extra: str = "") -> bytes:
    return (f"From: Client <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}"
            "Content-Type: text/plain\r\n\r\nbody\r\n").encode()


def in_future(minutes: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)


# --- identity --------------------------------------------------------------------------------------
def test_consent_approved_code_flow_with_pkce_signs_the_user_in(seeded: Seeded) -> None:
    app = msal_app(seeded.urls)
    flow = app.initiate_auth_code_flow(["Mail.Read"], redirect_uri=REDIRECT_URI, login_hint="alice@contoso.com",
                                       response_mode="form_post")
    assert "code_challenge=" in flow["auth_uri"] and "code_challenge_method=S256" in flow["auth_uri"]
    reply = authorize(seeded.urls, flow)
    assert reply["state"] == flow["state"] and reply["code"]
    result = app.acquire_token_by_auth_code_flow(flow, reply)
    claims = result["id_token_claims"]
    assert claims["oid"] == seeded.alice.id and claims["tid"] == TENANT
    assert claims["preferred_username"] == "alice@contoso.com" and claims["aud"] == CLIENT_ID
    assert claims["iss"] == f"{seeded.urls.authority_host}/{TENANT}/v2.0" and claims["nonce"]
    assert app.get_accounts()[0]["username"] == "alice@contoso.com"

    async def me() -> Any:
        return await graph_client(seeded.urls, result["access_token"]).me.get()

    assert run(me()).user_principal_name == "alice@contoso.com"
    # The code cannot be redeemed twice.
    again = app.acquire_token_by_authorization_code(reply["code"], ["Mail.Read"], redirect_uri=REDIRECT_URI)
    assert again["error"] == "invalid_grant" and again["error_codes"] == [54005]
    assert {"timestamp", "trace_id", "correlation_id"} <= again.keys()


def test_consent_denied_comes_back_as_access_denied(seeded: Seeded) -> None:
    seeded.emulator.set_consent("deny")
    app = msal_app(seeded.urls)
    flow = app.initiate_auth_code_flow(["Mail.Read"], redirect_uri=REDIRECT_URI, login_hint="bob@contoso.com",
                                       response_mode="form_post")
    reply = authorize(seeded.urls, flow)
    assert reply["error"] == "access_denied" and "AADSTS65004" in reply["error_description"]
    assert app.acquire_token_by_auth_code_flow(flow, reply)["error"] == "access_denied"


def test_consent_page_is_served_when_no_knob_decides(seeded: Seeded) -> None:
    seeded.emulator.set_consent("page")
    flow = msal_app(seeded.urls).initiate_auth_code_flow(["Mail.Read"], redirect_uri=REDIRECT_URI,
                                                         response_mode="form_post")
    page = http_session(seeded.urls).get(flow["auth_uri"], allow_redirects=False)
    assert page.status_code == 200 and 'value="approve"' in page.text and "alice@contoso.com" in page.text
    assert "Emulated Microsoft sign-in" in page.text and "not Microsoft" in page.text  # nobody mistakes it
    assert "<li>Read your mail</li>" in page.text  # the scopes in the words of Microsoft's consent screen


def test_pkce_verifier_must_match(seeded: Seeded) -> None:
    app = msal_app(seeded.urls)
    flow = app.initiate_auth_code_flow(["Mail.Read"], redirect_uri=REDIRECT_URI, login_hint="alice@contoso.com",
                                       response_mode="form_post")
    reply = authorize(seeded.urls, flow)
    result = app.acquire_token_by_authorization_code(
        reply["code"], ["Mail.Read"], redirect_uri=REDIRECT_URI, data={"code_verifier": "not-the-verifier"})
    assert result["error"] == "invalid_grant" and result["error_codes"] == [501481]


def test_refresh_rotates_and_revocation_gives_invalid_grant_and_401(seeded: Seeded) -> None:
    app = msal_app(seeded.urls)
    first = sign_in(seeded, seeded.alice, app=app)
    account = app.get_accounts()[0]
    refreshed = app.acquire_token_silent(["Mail.Read"], account, force_refresh=True)
    assert refreshed and refreshed["access_token"] != first["access_token"]
    assert refreshed["refresh_token"] != first["refresh_token"]  # rotated
    by_token = app.acquire_token_by_refresh_token(first["refresh_token"], ["Mail.Read"])
    assert "access_token" in by_token  # Entra keeps the previous refresh token valid

    seeded.emulator.revoke_grant("alice@contoso.com")
    dead = app.acquire_token_silent_with_error(["Mail.Read"], account, force_refresh=True)
    assert dead and dead["error"] == "invalid_grant" and dead["error_codes"] == [50173]

    async def read_with_revoked_token() -> ODataError:
        client = graph_client(seeded.urls, refreshed["access_token"])
        with pytest.raises(ODataError) as caught:
            await client.me.messages.get()
        return caught.value

    error = run(read_with_revoked_token())
    assert error.response_status_code == 401 and error.error.code == "InvalidAuthenticationToken"


def test_app_only_needs_admin_consent_then_reads_any_mailbox_of_its_tenant(seeded: Seeded) -> None:
    before = app_token(seeded)
    consent = http_session(seeded.urls).get(
        f"{seeded.urls.authority(TENANT)}/adminconsent",
        params={"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "state": "xyz"}, allow_redirects=False)
    answer = parse_qs(urlparse(consent.headers["Location"]).query)
    assert answer == {"admin_consent": ["True"], "tenant": [TENANT], "state": ["xyz"]}
    after = app_token(seeded)
    delegated = sign_in(seeded, seeded.alice)["access_token"]

    async def scenario() -> list[int]:
        statuses = []
        for token, mailbox in ((before, "bob@contoso.com"), (after, "bob@contoso.com"),
                               (after, "carol@fabrikam.com"), (delegated, "bob@contoso.com")):
            try:
                await graph_client(seeded.urls, token).users.by_user_id(mailbox).messages.get()
                statuses.append(200)
            except ODataError as err:
                statuses.append(err.response_status_code or 0)
        return statuses

    assert run(scenario()) == [403, 200, 403, 403]


def test_scopes_are_enforced(seeded: Seeded) -> None:
    token = sign_in(seeded, seeded.alice, ["Mail.Read"])["access_token"]

    async def scenario() -> ODataError:
        with pytest.raises(ODataError) as caught:
            await graph_client(seeded.urls, token).me.send_mail.post(mail("No Mail.Send", ["bob@contoso.com"]))
        return caught.value

    error = run(scenario())
    assert error.response_status_code == 403 and error.error.code == "ErrorAccessDenied"


# --- mail ------------------------------------------------------------------------------------------
def test_bcc_is_kept_only_on_the_senders_sent_items_copy(seeded: Seeded) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]
    bob_token = sign_in(seeded, seeded.bob)["access_token"]

    async def scenario() -> tuple[Message, Message]:
        alice = graph_client(seeded.urls, token)
        await alice.me.send_mail.post(mail("Matter 10802", ["bob@contoso.com"], [DROPBOX]))
        sent = await alice.me.mail_folders.by_mail_folder_id("sentitems").messages.get()
        received = await graph_client(seeded.urls, bob_token).me.mail_folders.by_mail_folder_id("inbox").messages.get()
        return sent.value[0], received.value[0]

    sent, received = run(scenario())
    assert [r.email_address.address for r in sent.bcc_recipients] == [DROPBOX]
    assert received.bcc_recipients == [] and received.subject == "Matter 10802"
    assert sent.internet_message_id == received.internet_message_id
    assert sent.is_read is True and received.is_read is False
    assert [d.mailbox for d in seeded.emulator.post_office.external] == [DROPBOX]


def test_reply_lands_in_the_same_conversation_with_thread_headers(seeded: Seeded) -> None:
    alice_token = sign_in(seeded, seeded.alice)["access_token"]
    bob_token = sign_in(seeded, seeded.bob)["access_token"]

    async def scenario() -> tuple[list[Message], Message]:
        alice, bob = graph_client(seeded.urls, alice_token), graph_client(seeded.urls, bob_token)
        await alice.me.send_mail.post(mail("Kick-off", ["bob@contoso.com"], [DROPBOX]))
        original = (await bob.me.mail_folders.by_mail_folder_id("inbox").messages.get()).value[0]
        await bob.me.messages.by_message_id(original.id).reply.post(ReplyPostRequestBody(comment="Agreed."))
        sent = (await alice.me.mail_folders.by_mail_folder_id("sentitems").messages.get()).value[0]
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
            filter=f"conversationId eq '{sent.conversation_id}'", select=["subject", "internetMessageHeaders"])
        thread = await alice.me.messages.get(RequestConfiguration(query_parameters=query))
        return thread.value, sent

    thread, sent = run(scenario())
    assert sorted(m.subject for m in thread) == ["Kick-off", "RE: Kick-off"]
    reply = next(m for m in thread if m.subject == "RE: Kick-off")
    headers = {h.name: h.value for h in reply.internet_message_headers}
    assert headers["In-Reply-To"] == sent.internet_message_id
    assert sent.internet_message_id in headers["References"]


def test_forward_quotes_the_original_and_copies_attachments(seeded: Seeded) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]
    seeded.emulator.send("client@example.org", external("Offer", "alice@contoso.com"))
    original = seeded.emulator.messages("alice@contoso.com", "inbox")[0]

    async def scenario() -> None:
        client = graph_client(seeded.urls, token)
        attachment = FileAttachment(odata_type="#microsoft.graph.fileAttachment", name="terms.txt",
                                    content_type="text/plain", content_bytes=b"terms")
        await client.me.send_mail.post(SendMailPostRequestBody(message=Message(
            subject="With file", to_recipients=recipients("bob@contoso.com"), attachments=[attachment],
            body=ItemBody(content_type=BodyType.Html, content="<p>see file</p>"))))
        await client.me.messages.by_message_id(original.id).forward.post(
            ForwardPostRequestBody(comment="FYI", to_recipients=recipients(DROPBOX)))

    run(scenario())
    forwarded = message_from_bytes(seeded.emulator.post_office.external[-1].raw)
    text = forwarded.get_payload(decode=True).decode()
    assert forwarded["Subject"] == "FW: Offer" and "From: Client <client@example.org>" in text
    assert forwarded["In-Reply-To"] == original.parsed.message_id
    bob_copy = seeded.emulator.messages("bob@contoso.com", "inbox")[0]
    assert [(a.name, a.content) for a in bob_copy.parsed.attachments] == [("terms.txt", b"terms")]


def test_attachments_and_mime_value(seeded: Seeded) -> None:
    raw = (b"From: client@example.org\r\nTo: alice@contoso.com\r\nSubject: Scan\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee\r\n"
           b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n")
    seeded.emulator.send("client@example.org", raw)
    token = sign_in(seeded, seeded.alice)["access_token"]
    message_id = seeded.emulator.messages("alice@contoso.com")[0].id

    async def scenario() -> tuple[Any, Any, bytes]:
        client = graph_client(seeded.urls, token)
        message = await client.me.messages.by_message_id(message_id).get()
        attachments = await client.me.messages.by_message_id(message_id).attachments.get()
        mime = await client.me.messages.by_message_id(message_id).content.get()
        return message, attachments.value, mime

    message, attachments, mime = run(scenario())
    assert message.has_attachments is True
    assert attachments[0].odata_type == "#microsoft.graph.fileAttachment"
    assert attachments[0].name == "a.pdf" and attachments[0].content_bytes == b"%PDF-"
    assert mime.startswith(b"From: client@example.org")


# --- delta -----------------------------------------------------------------------------------------
def test_delta_pages_then_reports_only_changes_including_removed(seeded: Seeded) -> None:
    emulator = seeded.emulator
    for n in range(5):
        emulator.send("client@example.org", external(f"Message {n}", "alice@contoso.com"))
    token = sign_in(seeded, seeded.alice)["access_token"]

    async def scenario() -> tuple[list[int], str, list[Any], list[Any]]:
        client = graph_client(seeded.urls, token)
        config = RequestConfiguration(query_parameters=DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            select=["subject", "isRead", "internetMessageId"]))
        config.headers.add("Prefer", 'odata.maxpagesize=2, IdType="ImmutableId"')
        builder = client.me.mail_folders.by_mail_folder_id("inbox").messages.delta
        pages, page = [], await builder.get(request_configuration=config)
        seen = []
        while True:
            pages.append(len(page.value))
            seen.extend(page.value)
            if page.odata_next_link is None:
                break
            page = await builder.with_url(page.odata_next_link).get(request_configuration=config)
        delta_link = page.odata_delta_link
        inbox = emulator.messages("alice@contoso.com", "inbox")
        emulator.delete_message(inbox[0].id)
        emulator.mark_read(inbox[1].id)
        emulator.send("client@example.org", external("Message 5", "alice@contoso.com"))
        page = await builder.with_url(delta_link).get(request_configuration=config)
        changes = list(page.value)
        while page.odata_next_link:
            page = await builder.with_url(page.odata_next_link).get(request_configuration=config)
            changes.extend(page.value)
        return pages, delta_link, seen, changes

    pages, delta_link, seen, changes = run(scenario())
    assert pages == [2, 2, 1] and "$deltatoken=" in delta_link
    assert {m.subject for m in seen} == {f"Message {n}" for n in range(5)}
    assert seen[0].body is None  # $select honoured
    removed = [m for m in changes if "@removed" in m.additional_data]
    assert len(removed) == 1 and removed[0].additional_data["@removed"] == {"reason": "deleted"}
    assert sorted((m.subject, m.is_read) for m in changes if m not in removed) == [
        ("Message 3", True), ("Message 5", False)]
    counts = seeded.emulator.request_counts()
    assert counts["GET /{user}/mailFolders/{folder}/messages/delta"] == 5  # 3 pages, then 2 pages of changes


def test_expired_delta_token_answers_410_sync_state_not_found(seeded: Seeded) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]

    async def scenario() -> ODataError:
        builder = graph_client(seeded.urls, token).me.mail_folders.by_mail_folder_id("inbox").messages.delta
        link = (await builder.get()).odata_delta_link
        assert seeded.emulator.expire_delta("alice@contoso.com") >= 1
        with pytest.raises(ODataError) as caught:
            await builder.with_url(link).get()
        return caught.value

    error = run(scenario())
    assert error.response_status_code == 410 and error.error.code == "SyncStateNotFound"


# --- subscriptions and notifications -----------------------------------------------------------------
def create_subscription(seeded: Seeded, token: str, receiver: Receiver, **extra: Any) -> Subscription:
    async def scenario() -> Subscription:
        subscription = Subscription(
            change_type="created", resource="me/mailFolders('inbox')/messages",
            notification_url=f"{receiver.url}/notify?tenant=1", client_state="s3cr3t-state",
            expiration_date_time=in_future(3 * 24 * 60), **extra)
        return await graph_client(seeded.urls, token).subscriptions.post(subscription)

    return run(scenario())


def test_subscription_validates_endpoints_and_delivers_notifications(seeded: Seeded, receiver: Receiver) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]
    created = create_subscription(seeded, token, receiver, lifecycle_notification_url=f"{receiver.url}/lifecycle")
    assert len(receiver.validations) == 2 and receiver.validations[0].startswith("Validation: ")
    assert created.client_state == "s3cr3t-state" and created.application_id == CLIENT_ID

    seeded.emulator.send("client@example.org", external("Hello", "alice@contoso.com"))
    [note] = receiver.wait_for(1)
    stored = seeded.emulator.messages("alice@contoso.com", "inbox")[0]
    assert note["subscriptionId"] == created.id and note["clientState"] == "s3cr3t-state"
    assert note["changeType"] == "created" and note["tenantId"] == TENANT
    assert note["resourceData"]["id"] == stored.id
    assert note["resourceData"]["@odata.type"] == "#Microsoft.Graph.Message"
    assert_documented_shape("graph/change_notification_collection.json", {"value": [note]})

    seeded.emulator.send_lifecycle_event(created.id, "reauthorizationRequired")
    [event] = receiver.wait_for(1, lifecycle=True)
    assert event["lifecycleEvent"] == "reauthorizationRequired"
    assert_documented_shape("graph/lifecycle_notification_collection.json", {"value": [event]})
    seeded.emulator.send("client@example.org", external("Lost while paused", "alice@contoso.com"))

    async def reauthorize() -> None:
        await graph_client(seeded.urls, token).subscriptions.by_subscription_id(created.id).reauthorize.post()

    run(reauthorize())
    seeded.emulator.send("client@example.org", external("After reauthorize", "alice@contoso.com"))
    notes = receiver.wait_for(2)
    assert len(notes) == 2 and not seeded.emulator.subscriptions()[0].paused


def test_notifications_close_together_arrive_in_one_post(seeded: Seeded, receiver: Receiver) -> None:
    """Graph batches: one changeNotificationCollection carries every notification due for the URL."""
    token = sign_in(seeded, seeded.alice)["access_token"]
    create_subscription(seeded, token, receiver)
    for n in range(3):
        seeded.emulator.send("client@example.org", external(f"burst {n}", "alice@contoso.com"))
    assert len(receiver.wait_for(3)) == 3 and seeded.emulator.wait_for_notifications()
    [post] = [a for a in seeded.emulator.notification_attempts() if a.lifecycle is None]
    assert post.outcome == "delivered" and len(post.payload["value"]) == 3
    assert_documented_shape("graph/change_notification_collection.json", post.payload)


def test_subscription_with_a_wrong_validation_answer_is_refused(seeded: Seeded, receiver: Receiver) -> None:
    receiver.validation = "encoded"  # echoes the token still URL-encoded
    token = sign_in(seeded, seeded.alice)["access_token"]
    with pytest.raises(ODataError) as caught:
        create_subscription(seeded, token, receiver)
    assert caught.value.response_status_code == 400 and caught.value.error.code == "ValidationError"
    assert seeded.emulator.subscriptions() == []


def test_subscription_expiration_must_be_45_minutes_ahead(seeded: Seeded, receiver: Receiver) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]

    async def scenario() -> ODataError:
        with pytest.raises(ODataError) as caught:
            await graph_client(seeded.urls, token).subscriptions.post(Subscription(
                change_type="created", resource="me/messages", notification_url=f"{receiver.url}/n",
                expiration_date_time=in_future(30)))
        return caught.value

    assert run(scenario()).response_status_code == 400
    assert receiver.validations == []


def test_failed_notifications_are_retried_on_a_compressed_schedule(seeded: Seeded, receiver: Receiver) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]
    create_subscription(seeded, token, receiver)
    seeded.emulator.clock.set_scale(600)  # the 60 s and 120 s retry delays pass in 0.1 s and 0.2 s
    receiver.fail_next = 2
    seeded.emulator.send("client@example.org", external("Retry me", "alice@contoso.com"))
    receiver.wait_for(1)
    assert seeded.emulator.wait_for_notifications()  # the delivery is recorded once its answer is back
    outcomes = [a.outcome for a in seeded.emulator.notification_attempts()]
    assert outcomes == ["retry", "retry", "delivered"]


def test_notifications_failing_for_four_hours_are_dropped_with_a_missed_event(
    seeded: Seeded, receiver: Receiver
) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]
    create_subscription(seeded, token, receiver, lifecycle_notification_url=f"{receiver.url}/lifecycle")
    receiver.fail_next = 1000
    seeded.emulator.clock.set_scale(36_000)  # Graph's 4 hours of retries in 0.4 s
    seeded.emulator.send("client@example.org", external("Unlucky", "alice@contoso.com"))
    events = receiver.wait_for(2, lifecycle=True)
    # The hour-long token also ran out meanwhile: Graph asks for reauthorization too (routine, not revocation).
    assert sorted(e["lifecycleEvent"] for e in events) == ["missed", "reauthorizationRequired"]
    outcomes = [a.outcome for a in seeded.emulator.notification_attempts() if a.lifecycle is None]
    assert outcomes[-1] == "dropped" and set(outcomes[:-1]) == {"retry"} and len(outcomes) > 5


def test_slow_endpoints_get_notifications_dropped(seeded: Seeded, receiver: Receiver) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]
    create_subscription(seeded, token, receiver)
    notifier = seeded.emulator.notifier
    notifier.slow_min_samples, notifier.slow_threshold = 3, 0.05  # instead of 100 and 2.9 s
    receiver.delay = 0.1
    for n in range(3):
        seeded.emulator.send("client@example.org", external(f"slow {n}", "alice@contoso.com"))
        receiver.wait_for(n + 1)
    seeded.emulator.send("client@example.org", external("dropped", "alice@contoso.com"))
    assert seeded.emulator.wait_for_notifications()
    assert [a.outcome for a in seeded.emulator.notification_attempts()][-1] == "dropped"
    assert len(receiver.notifications) == 3


def test_notification_fault_knobs_drop_and_duplicate(seeded: Seeded, receiver: Receiver) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]
    create_subscription(seeded, token, receiver)
    seeded.emulator.faults.drop_notifications(next_n=1)
    seeded.emulator.faults.duplicate_notifications(next_n=1)
    for subject in ("dropped", "duplicated"):
        seeded.emulator.send("client@example.org", external(subject, "alice@contoso.com"))
    notes = receiver.wait_for(2)
    assert seeded.emulator.wait_for_notifications()
    ids = {m.id: m.parsed.subject for m in seeded.emulator.messages("alice@contoso.com")}
    assert [ids[n["resourceData"]["id"]] for n in notes] == ["duplicated", "duplicated"]


def test_notification_fault_knobs_reorder_and_delay(seeded: Seeded, receiver: Receiver) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]
    create_subscription(seeded, token, receiver)
    emulator = seeded.emulator
    emulator.faults.reorder_notifications(next_n=2)
    for subject in ("first", "second"):
        emulator.send("client@example.org", external(subject, "alice@contoso.com"))
    notes = receiver.wait_for(2)
    subjects = {m.id: m.parsed.subject for m in emulator.messages("alice@contoso.com")}
    assert [subjects[n["resourceData"]["id"]] for n in notes] == ["second", "first"]
    emulator.clock.set_scale(100)
    emulator.faults.delay_notifications(100, next_n=1)  # 100 emulated seconds = 1 s here
    emulator.send("client@example.org", external("late", "alice@contoso.com"))
    assert len(receiver.notifications) == 2
    assert len(receiver.wait_for(3)) == 3


def test_subscription_renew_list_and_delete(seeded: Seeded, receiver: Receiver) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]
    created = create_subscription(seeded, token, receiver)

    async def scenario() -> tuple[Subscription, list[Subscription], list[Subscription]]:
        client = graph_client(seeded.urls, token)
        renewed = await client.subscriptions.by_subscription_id(created.id).patch(
            Subscription(expiration_date_time=in_future(6 * 24 * 60)))
        listed = (await client.subscriptions.get()).value
        await client.subscriptions.by_subscription_id(created.id).delete()
        return renewed, listed, (await client.subscriptions.get()).value

    renewed, listed, after = run(scenario())
    assert renewed.expiration_date_time > created.expiration_date_time
    assert [s.id for s in listed] == [created.id] and after == []


# --- throttling, faults, batching ------------------------------------------------------------------
def test_429_storm_carries_retry_after_and_the_sdk_honours_it(seeded: Seeded) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]
    seeded.emulator.faults.inject_http_errors(429, next_n=1, retry_after=120)

    async def scenario() -> tuple[ODataError, str]:
        client = graph_client(seeded.urls, token)
        no_retry = RequestConfiguration(options=[RetryHandlerOption(max_retries=0)])
        with pytest.raises(ODataError) as caught:
            await client.me.messages.get(request_configuration=no_retry)
        seeded.emulator.faults.inject_http_errors(429, next_n=1, retry_after=1)
        me = await client.me.get()  # the SDK's RetryHandler waits Retry-After, then succeeds
        return caught.value, me.user_principal_name

    error, upn = run(scenario())
    assert error.response_status_code == 429 and error.error.code == "TooManyRequests"
    assert {k.lower(): v for k, v in error.response_headers.items()}["retry-after"] == "120"
    assert upn == "alice@contoso.com"
    assert [r.status for r in seeded.emulator.request_log()] == [429, 429, 200]


def test_503_fault_and_concurrency_limit(seeded: Seeded) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{seeded.urls.graph_url}/me/messages"
    seeded.emulator.faults.inject_http_errors(503, next_n=1, retry_after=3)
    reply = httpx.get(url, headers=headers, trust_env=False)
    assert reply.status_code == 503 and reply.headers["Retry-After"] == "3"
    seeded.emulator.set_throttle_limits(concurrency=2)
    seeded.emulator.faults.delay_responses(1.0, next_n=4)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(trust_env=False, headers=headers) as client:
            return list(await asyncio.gather(*(client.get(url) for _ in range(4))))

    replies = run(burst())
    throttled = [r for r in replies if r.status_code == 429]
    assert throttled and {r.status_code for r in replies} == {200, 429}
    assert throttled[0].json()["error"]["code"] == "ApplicationThrottled"
    assert throttled[0].headers["Retry-After"]


def test_json_batch_runs_items_separately(seeded: Seeded) -> None:
    seeded.emulator.send("client@example.org", external("Batched", "alice@contoso.com"))
    message = seeded.emulator.messages("alice@contoso.com")[0]
    token = sign_in(seeded, seeded.alice)["access_token"]
    seeded.emulator.faults.inject_http_errors(429, next_n=1, retry_after=5, path_contains="/mailFolders/")
    body = {"requests": [
        {"id": "1", "method": "GET", "url": "/me"},
        {"id": "2", "method": "GET", "url": f"/me/messages/{message.id}?$select=subject"},
        {"id": "3", "method": "GET", "url": "/me/mailFolders/inbox"},
        {"id": "4", "method": "GET", "url": f"/me/messages/{message.id}/$value", "dependsOn": ["3"]},
        {"id": "5", "method": "GET", "url": "/users/bob@contoso.com/messages"},
    ]}
    reply = httpx.post(f"{seeded.urls.graph_url}/$batch", json=body, trust_env=False,
                       headers={"Authorization": f"Bearer {token}"})
    responses = {r["id"]: r for r in reply.json()["responses"]}
    assert reply.status_code == 200
    assert responses["1"]["body"]["userPrincipalName"] == "alice@contoso.com"
    assert responses["2"]["body"]["subject"] == "Batched" and "body" not in responses["2"]["body"]
    assert responses["3"]["status"] == 429 and responses["3"]["headers"]["Retry-After"] == "5"
    assert responses["4"]["status"] == 424
    assert responses["5"]["status"] == 403
    batched = [r for r in seeded.emulator.request_log() if r.in_batch]
    assert len(batched) == 4  # item 4 never ran
    too_many = httpx.post(f"{seeded.urls.graph_url}/$batch", trust_env=False,
                          json={"requests": [{"id": str(i), "method": "GET", "url": "/me"} for i in range(21)]},
                          headers={"Authorization": f"Bearer {token}"})
    assert too_many.status_code == 400


def test_json_batch_item_urls_must_be_relative_to_the_version_root(seeded: Seeded) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{seeded.urls.graph_url}/$batch"
    absolute = httpx.post(url, trust_env=False, headers=headers, json={"requests": [
        {"id": "1", "method": "GET", "url": f"{seeded.urls.graph_url}/me"}]})
    assert absolute.status_code == 400 and absolute.json()["error"]["message"] == "Invalid batch payload format."
    versioned = httpx.post(url, trust_env=False, headers=headers, json={"requests": [
        {"id": "1", "method": "GET", "url": "/v1.0/me"}, {"id": "2", "method": "GET", "url": "me"}]})
    answers = {r["id"]: r for r in versioned.json()["responses"]}
    assert answers["1"]["status"] == 400 and "segment 'v1.0'" in answers["1"]["body"]["error"]["message"]
    assert answers["2"]["status"] == 200


def test_message_list_supports_select_top_filter_and_paging(seeded: Seeded) -> None:
    for n in range(3):
        seeded.emulator.send("client@example.org", external(f"M{n}", "alice@contoso.com"))
    token = sign_in(seeded, seeded.alice)["access_token"]

    async def scenario() -> tuple[Any, Any, ODataError]:
        client = graph_client(seeded.urls, token)
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(select=["subject"], top=2)
        first = await client.me.messages.get(RequestConfiguration(query_parameters=query))
        second = await client.me.messages.with_url(first.odata_next_link).get()
        bad = MessageItemRequestBuilder.MessageItemRequestBuilderGetQueryParameters(select=["nope"])
        with pytest.raises(ODataError) as caught:
            await client.me.messages.by_message_id(first.value[0].id).get(RequestConfiguration(query_parameters=bad))
        return first, second, caught.value

    first, second, error = run(scenario())
    assert [m.subject for m in first.value + second.value] == ["M2", "M1", "M0"]
    assert second.odata_next_link is None and first.value[0].to_recipients is None
    assert error.response_status_code == 400


def test_ordering_by_a_property_the_filter_does_not_lead_with_is_refused_as_inefficient(seeded: Seeded) -> None:
    """Graph: a property in $orderby must be in $filter, before any other (user-list-messages, "Using filter and
    orderby in the same query"); the newest mail since a time, newest first, is a query it answers."""
    seeded.emulator.send("client@example.org", external("Newest", "alice@contoso.com"))
    token = sign_in(seeded, seeded.alice)["access_token"]
    with httpx.Client(trust_env=False, headers={"Authorization": f"Bearer {token}"},
                      base_url=seeded.urls.graph_url) as client:
        refused = client.get("/me/messages", params={"$filter": "isRead eq false",
                                                     "$orderby": "receivedDateTime desc"})
        answered = client.get("/me/messages", params={"$filter": "receivedDateTime ge 2000-01-01T00:00:00Z",
                                                      "$orderby": "receivedDateTime desc"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "InefficientFilter"
    assert answered.status_code == 200 and [m["subject"] for m in answered.json()["value"]] == ["Newest"]


# --- shapes against the public documentation ------------------------------------------------------------
def test_responses_have_the_documented_keys_and_types(seeded: Seeded) -> None:
    raw = (b"From: Adele Vance <adelev@contoso.com>\r\nTo: Alice Adams <alice@contoso.com>\r\n"
           b"Subject: concert\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>The group.</p>\r\n")
    seeded.emulator.send("adelev@contoso.com", raw)
    token = sign_in(seeded, seeded.alice)["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Prefer": "odata.maxpagesize=2"}
    message_id = seeded.emulator.messages("alice@contoso.com")[0].id
    with httpx.Client(trust_env=False, headers=headers, base_url=seeded.urls.graph_url) as client:
        message = client.get(f"/me/messages/{message_id}").json()
        first = client.get("/me/mailFolders/inbox/messages/delta", params={"$select": "subject,sender,isRead"},
                           headers={"Prefer": 'odata.maxpagesize=2, IdType="ImmutableId"'})
        delta = first.json()
        seeded.emulator.delete_message(message_id)
        removed = client.get(delta["@odata.deltaLink"]).json()
    assert_documented_shape("graph/message.json", message)
    assert_documented_shape("graph/delta_last_page_selected.json", delta)
    assert first.headers["Preference-Applied"] == 'odata.maxpagesize=2, IdType="ImmutableId"'
    assert_documented_shape("graph/delta_last_page.json", removed)
    assert removed["value"][0]["@removed"] == {"reason": "deleted"}
    # Graph sends no internetMessageHeaders or uniqueBody unless $select'ed.
    assert "internetMessageHeaders" not in message and "uniqueBody" not in message


def test_request_log_counts_calls_by_endpoint(seeded: Seeded) -> None:
    token = sign_in(seeded, seeded.alice)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(trust_env=False, verify=seeded.urls.ca_path, headers=headers) as client:
        client.get(f"{seeded.urls.graph_url}/me")
        client.get(f"{seeded.urls.graph_url}/me/mailFolders('inbox')/messages")
        client.get(f"{seeded.urls.graph_tls_url}/me")  # the same API over TLS
    counts = seeded.emulator.request_counts()
    assert counts["GET /{user}"] == 2 and counts["GET /{user}/mailFolders/{folder}/messages"] == 1
    seeded.emulator.clear_request_log()
    assert seeded.emulator.request_log() == []


def test_reauthorization_is_asked_for_routinely_before_the_subscriptions_token_expires(
        seeded: Seeded, receiver: Receiver) -> None:
    """Not only on revocation: ten minutes before the token it was made with expires, the subscription asks to be
    reauthorized and pauses; a renewal with a fresh token resumes it, and one token is warned about once."""
    token = sign_in(seeded, seeded.alice)["access_token"]
    created = create_subscription(seeded, token, receiver, lifecycle_notification_url=f"{receiver.url}/lifecycle")
    assert seeded.emulator.reauthorization.check() == 0  # the token has an hour left
    seeded.emulator.clock.advance(seeded.emulator.tokens.access_token_lifetime - 599)
    [event] = receiver.wait_for(1, lifecycle=True, timeout=5)
    assert (event["lifecycleEvent"], event["subscriptionId"]) == ("reauthorizationRequired", created.id)
    assert seeded.emulator.subscriptions()[0].paused
    assert seeded.emulator.reauthorization.check() == 0  # once per token

    fresh = sign_in(seeded, seeded.alice)["access_token"]

    async def reauthorize() -> None:
        await graph_client(seeded.urls, fresh).subscriptions.by_subscription_id(created.id).reauthorize.post()

    run(reauthorize())
    assert not seeded.emulator.subscriptions()[0].paused
    assert seeded.emulator.reauthorization.check() == 0  # the fresh token has an hour again
