"""The Gmail emulator driven only through the real Google client libraries (googleapiclient,
google-auth, google-auth-oauthlib) — never stubs — plus shape checks against examples from the
public Gmail reference and guides."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import google.auth.transport.requests
import httpx
import pytest
from google.auth.exceptions import RefreshError
from google.oauth2 import id_token, service_account
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError

from emulators.gmail import GmailEmulator, GmailUrls
from emulators.gmail.oauth import DEFAULT_PROJECT
from tests.shapes import assert_documented_shape, documented, shape_problems

from .conftest import ANN, BOB, DROPBOX, MAIL_SCOPE, METADATA, READONLY, PushReceiver, gmail, raw_message

CLIENT_ID = "1234-emulated.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-emulated-secret"
REDIRECT = "http://127.0.0.1:9/oauth/google/callback"  # never contacted: tests read the Location header
SCOPES = ["openid", "https://www.googleapis.com/auth/userinfo.email", READONLY]
SA_EMAIL = "capture@bcc-capture.iam.gserviceaccount.com"
SA_CLIENT_ID = "104857600000000000001"
TOPIC = f"projects/{DEFAULT_PROJECT}/topics/gmail"  # the project of the emulator's own tokens (service_for)


def _error(exc: HttpError) -> dict[str, Any]:
    return json.loads(exc.content)["error"]


def _flow(urls: GmailUrls, **kwargs: Any) -> Flow:
    config = {"web": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "auth_uri": urls.auth_uri,
                      "token_uri": urls.token_uri, "redirect_uris": [REDIRECT]}}
    return Flow.from_client_config(config, scopes=SCOPES, redirect_uri=REDIRECT, **kwargs)


def _consent(urls: GmailUrls) -> tuple[dict[str, list[str]], str, str]:
    """authorization_url → follow the consent redirect; return (callback query, state, verifier)."""
    flow = _flow(urls)
    url, state = flow.authorization_url(access_type="offline", prompt="consent", login_hint=ANN)
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query), state, flow.code_verifier


@pytest.fixture
def oauth_client(emulator: GmailEmulator) -> None:
    emulator.register_oauth_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT])


def _connected_credentials(urls: GmailUrls):
    query, state, verifier = _consent(urls)
    # A new Flow, as after the browser round trip: state and code_verifier were persisted.
    flow = _flow(urls, state=state, code_verifier=verifier)
    flow.fetch_token(code=query["code"][0])
    return flow.credentials


# -- OAuth ---------------------------------------------------------------------------------------
@pytest.mark.usefixtures("oauth_client")
def test_consent_approve_then_pkce_exchange_and_id_token(emulator: GmailEmulator, urls: GmailUrls) -> None:
    query, state, _ = _consent(urls)
    assert query["state"] == [state]
    assert query["scope"][0].split() == SCOPES
    creds = _connected_credentials(urls)
    assert creds.refresh_token and creds.token
    assert gmail(urls, creds).users().getProfile(userId="me").execute()["emailAddress"] == ANN
    claims = id_token.verify_token(creds.id_token, google.auth.transport.requests.Request(),
                                   audience=CLIENT_ID, certs_url=urls.certs_url)
    assert claims["email"] == ANN and claims["iss"] == "https://accounts.google.com" and claims["hd"] == "firm.example"
    userinfo = httpx.get(urls.userinfo_uri, headers={"Authorization": f"Bearer {creds.token}"}).json()
    assert userinfo["email"] == ANN and userinfo["sub"] == claims["sub"]

    # As at Google: a repeat consent without prompt=consent brings no new refresh token.
    again = _flow(urls)
    url, _ = again.authorization_url(access_type="offline", login_hint=ANN)
    again.fetch_token(code=parse_qs(urlsplit(httpx.get(url).headers["location"]).query)["code"][0])
    assert again.credentials.token and again.credentials.refresh_token is None


@pytest.mark.usefixtures("oauth_client")
def test_consent_denied_and_missing_code_verifier(emulator: GmailEmulator, urls: GmailUrls) -> None:
    emulator.set_consent("deny")
    url, state = _flow(urls).authorization_url(access_type="offline")
    query = parse_qs(urlsplit(httpx.get(url).headers["location"]).query)
    assert query == {"error": ["access_denied"], "state": [state]}

    emulator.set_consent("approve")
    query, state, _ = _consent(urls)
    forgetful = _flow(urls, state=state, autogenerate_code_verifier=False)  # verifier not persisted
    with pytest.raises(InvalidGrantError, match="Missing code verifier"):
        forgetful.fetch_token(code=query["code"][0])


@pytest.mark.usefixtures("oauth_client")
def test_interactive_consent_page(emulator: GmailEmulator, urls: GmailUrls) -> None:
    emulator.set_consent("interactive")
    flow = _flow(urls)
    url, _ = flow.authorization_url(login_hint=BOB)
    page = httpx.get(url)
    assert page.status_code == 200 and "submit_approve_access" in page.text
    assert "Emulated Google sign-in — not Google" in page.text  # nobody takes it for Google's own page
    assert f'value="{BOB}" checked' in page.text and f'value="{ANN}">' in page.text  # the hint is preselected
    assert "View your email messages and settings" in page.text  # gmail.readonly, in plain words
    ticket = page.text.split('name="ticket" value="')[1].split('"')[0]
    answer = httpx.post(f"{urls.base}/o/oauth2/consent", data={"ticket": ticket, "decision": "allow", "account": ANN})
    assert answer.status_code == 302 and "code=" in answer.headers["location"]
    flow.fetch_token(code=parse_qs(urlsplit(answer.headers["location"]).query)["code"][0])
    # The account picked in the chooser signed in, not the hinted one.
    assert id_token.verify_token(flow.credentials.id_token, google.auth.transport.requests.Request(),
                                 audience=CLIENT_ID, certs_url=urls.certs_url)["email"] == ANN


@pytest.mark.usefixtures("oauth_client")
def test_refresh_after_expiry_then_revocation(emulator: GmailEmulator, urls: GmailUrls) -> None:
    creds = _connected_credentials(urls)
    service = gmail(urls, creds)
    first = creds.token
    emulator.expire_access_tokens(ANN)
    # 401 → google-auth-httplib2 refreshes with the refresh token and replays the call.
    assert service.users().getProfile(userId="me").execute()["emailAddress"] == ANN
    assert creds.token != first
    statuses = [c.status for c in emulator.request_log() if c.method == "gmail.users.getProfile"]
    assert statuses == [401, 200]

    emulator.revoke_grant(ANN, CLIENT_ID)
    with pytest.raises(RefreshError) as raised:
        creds.refresh(google.auth.transport.requests.Request())
    assert "invalid_grant" in str(raised.value) and "Token has been expired or revoked." in str(raised.value)
    with pytest.raises(RefreshError):
        service.users().getProfile(userId="me").execute()


@pytest.mark.usefixtures("oauth_client")
def test_revoke_endpoint_kills_the_grant(urls: GmailUrls) -> None:
    creds = _connected_credentials(urls)
    assert httpx.post(urls.revoke_uri, params={"token": creds.token}).status_code == 200
    with pytest.raises(RefreshError, match="invalid_grant"):
        creds.refresh(google.auth.transport.requests.Request())
    assert httpx.post(urls.revoke_uri, params={"token": creds.token}).json()["error"] == "invalid_token"


def test_service_account_domain_wide_delegation(emulator: GmailEmulator, urls: GmailUrls) -> None:
    info = emulator.new_service_account(SA_EMAIL, SA_CLIENT_ID)
    base = service_account.Credentials.from_service_account_info(info, scopes=[READONLY])

    with pytest.raises(RefreshError) as refused:
        gmail(urls, base.with_subject(ANN)).users().getProfile(userId="me").execute()
    assert "unauthorized_client" in str(refused.value)
    assert "Client is unauthorized to retrieve access tokens using this method" in str(refused.value)

    emulator.authorize_domain_wide_delegation("firm.example", SA_CLIENT_ID, [READONLY])
    profile = gmail(urls, base.with_subject(ANN)).users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == ANN

    wider = service_account.Credentials.from_service_account_info(info, scopes=[READONLY, MAIL_SCOPE])
    with pytest.raises(RefreshError, match="unauthorized_client"):
        wider.with_subject(ANN).refresh(google.auth.transport.requests.Request())
    with pytest.raises(RefreshError, match="Invalid email or User ID"):
        base.with_subject("nobody@firm.example").refresh(google.auth.transport.requests.Request())
    with pytest.raises(HttpError) as no_subject:  # the service account's own token has no mailbox
        gmail(urls, base).users().getProfile(userId="me").execute()
    assert no_subject.value.status_code == 400 and _error(no_subject.value)["status"] == "FAILED_PRECONDITION"


def test_bad_token_answers_googles_401(urls: GmailUrls) -> None:
    response = httpx.get(f"{urls.base}/gmail/v1/users/me/profile", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == 401 and error["status"] == "UNAUTHENTICATED"
    assert error["errors"][0]["reason"] == "authError"


def test_scopes_are_enforced(service_for, emulator: GmailEmulator) -> None:
    service_for(ANN).users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, "Hi")}).execute()
    metadata_only = service_for(ANN, (METADATA,))
    message_id = metadata_only.users().messages().list(userId="me").execute()["messages"][0]["id"]
    metadata_only.users().messages().get(userId="me", id=message_id, format="metadata").execute()
    with pytest.raises(HttpError) as full:
        metadata_only.users().messages().get(userId="me", id=message_id, format="full").execute()
    assert full.value.status_code == 403
    with pytest.raises(HttpError) as search:
        metadata_only.users().messages().list(userId="me", q="in:sent").execute()
    assert search.value.status_code == 403
    with pytest.raises(HttpError) as send:
        service_for(ANN, (READONLY,)).users().messages().send(userId="me", body={"raw": "eA"}).execute()
    assert _error(send.value)["errors"][0]["reason"] == "insufficientPermissions"
    with pytest.raises(HttpError) as other:
        service_for(ANN).users().getProfile(userId=BOB).execute()
    assert other.value.status_code == 403 and "Delegation denied" in _error(other.value)["message"]


# -- mail ----------------------------------------------------------------------------------------
def test_bcc_kept_on_the_senders_sent_copy_only(service_for, emulator: GmailEmulator, post_office) -> None:
    ann, bob = service_for(ANN), service_for(BOB)
    sent = ann.users().messages().send(
        userId="me", body={"raw": raw_message(ANN, BOB, "Draft agreement", bcc=DROPBOX)}
    ).execute()
    assert sent["labelIds"] == ["SENT"]
    mine = ann.users().messages().get(userId="me", id=sent["id"], format="metadata",
                                      metadataHeaders=["Bcc"]).execute()
    assert mine["payload"]["headers"] == [{"name": "Bcc", "value": DROPBOX}]

    listed = bob.users().messages().list(userId="me", labelIds=["INBOX"]).execute()
    assert listed["resultSizeEstimate"] == 1
    theirs = bob.users().messages().get(userId="me", id=listed["messages"][0]["id"], format="metadata",
                                        metadataHeaders=["Bcc", "Subject"]).execute()
    assert theirs["payload"]["headers"] == [{"name": "Subject", "value": "Draft agreement"}]
    assert set(theirs["labelIds"]) == {"INBOX", "UNREAD"}
    assert theirs["id"] != sent["id"]  # every mailbox has its own ids
    assert [d.mailbox for d in post_office.external] == [DROPBOX]


def test_full_format_raw_format_attachments_and_media_upload(service_for) -> None:
    ann = service_for(ANN)
    sent = ann.users().messages().send(
        userId="me", body={"raw": raw_message(ANN, BOB, "Files", "See attached", attachment=("a.pdf", b"%PDF-1"))}
    ).execute()
    full = ann.users().messages().get(userId="me", id=sent["id"]).execute()
    assert full["payload"]["mimeType"] == "multipart/mixed" and full["payload"]["partId"] == ""
    text, pdf = full["payload"]["parts"]
    assert text["partId"] == "0" and text["body"]["data"] and text["body"]["size"] > 0
    assert pdf["filename"] == "a.pdf" and "data" not in pdf["body"]
    attachment = ann.users().messages().attachments().get(
        userId="me", messageId=sent["id"], id=pdf["body"]["attachmentId"]
    ).execute()
    assert attachment == {"size": 6, "data": "JVBERi0x"}
    raw = ann.users().messages().get(userId="me", id=sent["id"], format="raw").execute()
    assert "payload" not in raw and raw["raw"]
    minimal = ann.users().messages().get(userId="me", id=sent["id"], format="minimal").execute()
    assert set(minimal) == {"id", "threadId", "labelIds", "snippet", "sizeEstimate", "historyId", "internalDate"}



def test_send_through_the_upload_endpoint(emulator: GmailEmulator, urls: GmailUrls) -> None:
    # googleapiclient keeps https for media URLs (it swaps only the host), so this speaks HTTP directly.
    token = emulator.issue_access_token(ANN, [MAIL_SCOPE])
    raw = base64.urlsafe_b64decode(raw_message(ANN, BOB, "Uploaded"))
    url = f"{urls.base}/upload/gmail/v1/users/me/messages/send"
    headers = {"Authorization": f"Bearer {token}"}
    simple = httpx.post(url, params={"uploadType": "media"}, content=raw,
                        headers={**headers, "Content-Type": "message/rfc822"})
    assert simple.status_code == 200 and simple.json()["labelIds"] == ["SENT"]
    related = (b"--xyz\r\nContent-Type: application/json\r\n\r\n{}\r\n"
               b"--xyz\r\nContent-Type: message/rfc822\r\n\r\n" + raw + b"\r\n--xyz--\r\n")
    multipart = httpx.post(url, params={"uploadType": "multipart"}, content=related,
                           headers={**headers, "Content-Type": 'multipart/related; boundary="xyz"'})
    assert multipart.status_code == 200, multipart.text


def test_reply_with_thread_id_stays_in_the_thread(service_for, emulator: GmailEmulator) -> None:
    ann, bob = service_for(ANN), service_for(BOB)
    first = ann.users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, "Matter 10802")}).execute()
    headers = ann.users().messages().get(userId="me", id=first["id"], format="metadata",
                                         metadataHeaders=["Message-ID"]).execute()["payload"]["headers"]
    original = headers[0]["value"]
    bob_copy = bob.users().messages().list(userId="me", q=f"rfc822msgid:{original}").execute()["messages"][0]
    reply = bob.users().messages().send(userId="me", body={
        "threadId": bob_copy["threadId"],
        "raw": raw_message(BOB, ANN, "Re: Matter 10802", in_reply_to=original, references=original),
    }).execute()
    assert reply["threadId"] == bob_copy["threadId"]
    thread = ann.users().threads().get(userId="me", id=first["threadId"], format="metadata").execute()
    assert [m["labelIds"] for m in thread["messages"]] == [["SENT"], ["INBOX", "UNREAD"]]

    # Gmail's rule: without References/In-Reply-To the requested threadId is not honoured.
    loose = bob.users().messages().send(userId="me", body={
        "threadId": bob_copy["threadId"], "raw": raw_message(BOB, ANN, "Re: Matter 10802")}).execute()
    assert loose["threadId"] != bob_copy["threadId"]
    with pytest.raises(HttpError) as unknown:
        bob.users().messages().send(userId="me", body={
            "threadId": "ffffffffffffffff", "raw": raw_message(BOB, ANN, "x")}).execute()
    assert unknown.value.status_code == 404


def test_messages_list_queries_and_paging(service_for, emulator: GmailEmulator) -> None:
    ann = service_for(ANN)
    ids = [ann.users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, f"N{i}")}).execute()["id"]
           for i in range(3)]
    service_for(BOB).users().messages().send(userId="me", body={"raw": raw_message(BOB, ANN, "Back")}).execute()
    assert ann.users().messages().list(userId="me", q="in:sent").execute()["resultSizeEstimate"] == 3
    assert ann.users().messages().list(userId="me", q="in:inbox newer_than:1d").execute()["resultSizeEstimate"] == 1
    assert ann.users().messages().list(userId="me", q="after:2001/01/01 -in:inbox").execute()["resultSizeEstimate"] == 3
    assert "messages" not in ann.users().messages().list(userId="me", q="before:2001/01/01").execute()
    seen, request = [], ann.users().messages().list(userId="me", q="in:sent", maxResults=2)
    while request is not None:
        page = request.execute()
        seen += [m["id"] for m in page.get("messages", [])]
        request = ann.users().messages().list_next(request, page)
    assert seen == list(reversed(ids))  # newest first
    slim = ann.users().messages().list(userId="me", q="in:sent", maxResults=1, fields="messages(id)").execute()
    assert slim == {"messages": [{"id": ids[-1]}]}  # partial response: Google's `fields` mask
    labels = {label["id"] for label in ann.users().labels().list(userId="me").execute()["labels"]}
    assert {"INBOX", "SENT", "UNREAD", "TRASH"} <= labels


# -- history -------------------------------------------------------------------------------------
def test_history_paging_types_and_label_filter(service_for, emulator: GmailEmulator) -> None:
    bob = service_for(BOB)
    start = bob.users().getProfile(userId="me").execute()["historyId"]
    ann = service_for(ANN)
    for i in range(3):
        ann.users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, f"H{i}")}).execute()
    first = bob.users().messages().list(userId="me").execute()["messages"][-1]["id"]
    bob.users().messages().modify(userId="me", id=first, body={"removeLabelIds": ["UNREAD"]}).execute()
    bob.users().messages().modify(userId="me", id=first, body={"addLabelIds": ["STARRED"]}).execute()

    records, request = [], bob.users().history().list(userId="me", startHistoryId=start, maxResults=2)
    pages = 0
    while request is not None:
        page = request.execute()
        pages += 1
        records += page.get("history", [])
        request = bob.users().history().list_next(request, page)
    assert pages == 3 and len(records) == 5
    assert [int(r["id"]) for r in records] == sorted(int(r["id"]) for r in records)
    assert page["historyId"] == bob.users().getProfile(userId="me").execute()["historyId"]

    added = bob.users().history().list(userId="me", startHistoryId=start, historyTypes=["messageAdded"]).execute()
    assert [list(r) for r in added["history"]] == [["id", "messages", "messagesAdded"]] * 3
    changed = bob.users().history().list(userId="me", startHistoryId=start,
                                         historyTypes=["labelAdded", "labelRemoved"]).execute()["history"]
    assert changed[0]["labelsRemoved"][0]["labelIds"] == ["UNREAD"]
    assert changed[1]["labelsAdded"][0]["labelIds"] == ["STARRED"]
    starred = bob.users().history().list(userId="me", startHistoryId=start, labelId="STARRED").execute()
    assert len(starred["history"]) == 1
    latest = bob.users().history().list(userId="me", startHistoryId=page["historyId"]).execute()
    assert "history" not in latest and latest["historyId"] == page["historyId"]


def test_history_names_each_added_message_with_its_thread_and_honours_fields(service_for) -> None:
    bob = service_for(BOB)
    start = bob.users().getProfile(userId="me").execute()["historyId"]
    sent = service_for(ANN).users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, "T")}).execute()
    [copy] = bob.users().messages().list(userId="me").execute()["messages"]
    fields = "history(messagesAdded(message(id,threadId,labelIds))),nextPageToken,historyId"
    page = bob.users().history().list(userId="me", startHistoryId=start, historyTypes=["messageAdded"],
                                      fields=fields).execute()
    assert set(page) == {"history", "historyId"}  # no nextPageToken: the last page
    assert page["history"] == [{"messagesAdded": [{"message": {
        "id": copy["id"], "threadId": copy["threadId"], "labelIds": ["INBOX", "UNREAD"]}}]}]
    assert copy["id"] != sent["id"]  # Bob's copy has an id of its own
    bare = bob.users().history().list(userId="me", startHistoryId=start, fields="history(id)").execute()
    assert [set(r) for r in bare["history"]] == [{"id"}]


def test_quota_units_per_method_follow_googles_table(service_for, emulator: GmailEmulator,
                                                     receiver: PushReceiver) -> None:
    emulator.configure_push(TOPIC, receiver.url)
    ann = service_for(ANN)
    message_id = _send_some(ann, 1)[0]
    emulator.reset_request_log()
    users = ann.users()
    thread_id = users.messages().get(userId="me", id=message_id, format="raw").execute()["threadId"]
    users.messages().get(userId="me", id=message_id, format="metadata").execute()
    users.threads().get(userId="me", id=thread_id, format="metadata").execute()
    users.messages().list(userId="me").execute()
    start = users.getProfile(userId="me").execute()["historyId"]
    users.history().list(userId="me", startHistoryId=start).execute()
    users.watch(userId="me", body={"topicName": TOPIC, "labelIds": ["INBOX"]}).execute()
    # https://developers.google.com/workspace/gmail/api/reference/quota since May 2026: a message read costs 20
    # units whatever its format, a thread read 40
    assert emulator.quota_units() == {"gmail.users.messages.get": 40, "gmail.users.threads.get": 40,
                                      "gmail.users.messages.list": 5, "gmail.users.getProfile": 1,
                                      "gmail.users.history.list": 2, "gmail.users.watch": 100}


def test_expired_start_history_id_answers_404(service_for, emulator: GmailEmulator) -> None:
    ann = service_for(ANN)
    old = ann.users().getProfile(userId="me").execute()["historyId"]
    emulator.expire_history(ANN)
    with pytest.raises(HttpError) as expired:
        ann.users().history().list(userId="me", startHistoryId=old).execute()
    assert expired.value.status_code == 404
    assert json.loads(expired.value.content) == {"error": {
        "code": 404, "message": "Requested entity was not found.",
        "errors": [{"message": "Requested entity was not found.", "domain": "global", "reason": "notFound"}],
        "status": "NOT_FOUND"}}
    fresh = ann.users().getProfile(userId="me").execute()["historyId"]  # after a full sync: valid again
    assert ann.users().history().list(userId="me", startHistoryId=fresh).execute()["historyId"] == fresh


def test_history_retention_expires_old_ids(service_for, emulator: GmailEmulator) -> None:
    ann = service_for(ANN)
    old = ann.users().getProfile(userId="me").execute()["historyId"]
    ann.users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, "x")}).execute()
    emulator.set_history_retention(3600)
    emulator.advance_clock(2 * 3600)
    with pytest.raises(HttpError) as expired:
        service_for(ANN).users().history().list(userId="me", startHistoryId=old).execute()
    assert expired.value.status_code == 404


# -- push ----------------------------------------------------------------------------------------
def test_watch_push_delivery_and_oidc_token(service_for, emulator: GmailEmulator, urls: GmailUrls,
                                            receiver: PushReceiver) -> None:
    subscription = emulator.configure_push(TOPIC, receiver.url)
    bob = service_for(BOB)
    watch = bob.users().watch(userId="me", body={"topicName": TOPIC, "labelIds": ["INBOX"]}).execute()
    assert set(watch) == {"historyId", "expiration"} and int(watch["expiration"]) > int(watch["historyId"])
    service_for(ANN).users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, "Ping")}).execute()
    push = receiver.wait_for(1)[0]
    assert push.body["subscription"] == subscription
    assert push.data["emailAddress"] == BOB and int(push.data["historyId"]) > int(watch["historyId"])
    assert push.body["message"]["messageId"] == push.body["message"]["message_id"]
    request = google.auth.transport.requests.Request()
    claims = id_token.verify_token(push.bearer, request, audience=receiver.url, certs_url=urls.certs_url)
    assert claims["iss"] == "https://accounts.google.com" and claims["email_verified"] is True
    assert claims["email"].endswith(".iam.gserviceaccount.com")
    assert id_token.verify_token(push.bearer, request, audience=receiver.url, certs_url=urls.jwks_url)
    changes = bob.users().history().list(userId="me", startHistoryId=watch["historyId"]).execute()
    assert changes["history"][0]["messagesAdded"][0]["message"]["labelIds"] == ["INBOX", "UNREAD"]

    # Ann's sent copy does not carry INBOX: the include filter of Bob's watch is not involved,
    # and Ann has no watch — nothing more arrives.
    bob.users().stop(userId="me").execute()
    service_for(ANN).users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, "Again")}).execute()
    assert emulator.wait_push_idle() and len(receiver.pushes) == 1


def test_watch_errors_and_label_filter(service_for, emulator: GmailEmulator, receiver: PushReceiver) -> None:
    ann = service_for(ANN)
    with pytest.raises(HttpError) as unknown:
        ann.users().watch(userId="me", body={"topicName": TOPIC}).execute()
    assert unknown.value.status_code == 404
    with pytest.raises(HttpError) as malformed:
        ann.users().watch(userId="me", body={"topicName": "gmail"}).execute()
    assert malformed.value.status_code == 400
    emulator.configure_push(TOPIC, receiver.url, gmail_can_publish=False)
    with pytest.raises(HttpError) as forbidden:
        ann.users().watch(userId="me", body={"topicName": TOPIC}).execute()
    assert forbidden.value.status_code == 403

    emulator.configure_push(TOPIC, receiver.url)
    ann.users().watch(userId="me", body={"topicName": TOPIC, "labelIds": ["SENT"],
                                         "labelFilterBehavior": "exclude"}).execute()
    ann.users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, "Out")}).execute()
    assert emulator.wait_push_idle() and receiver.pushes == []
    service_for(BOB).users().messages().send(userId="me", body={"raw": raw_message(BOB, ANN, "In")}).execute()
    assert len(receiver.wait_for(1)) == 1


def test_a_watch_on_a_topic_of_another_cloud_project_is_refused(emulator: GmailEmulator, urls: GmailUrls,
                                                                receiver: PushReceiver) -> None:
    # A topic Gmail may publish to, but in the project of another OAuth client than the caller's: users.watch
    # requires the topic's project to be "your Google developer project id (the one executing this watch request)"
    # (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users/watch).
    emulator.configure_push(TOPIC, receiver.url)
    client = "42-other.apps.googleusercontent.com"
    emulator.register_oauth_client(client, "secret", [], project_id="other-project")
    other = gmail(urls, Credentials(emulator.issue_access_token(ANN, [MAIL_SCOPE], client)))
    with pytest.raises(HttpError) as refused:
        other.users().watch(userId="me", body={"topicName": TOPIC}).execute()
    assert refused.value.status_code == 400
    assert _error(refused.value) == {
        "code": 400, "message": "Invalid topicName does not match projects/other-project/topics/*",
        "status": "INVALID_ARGUMENT", "errors": [{"message": "Invalid topicName does not match "
                                                  "projects/other-project/topics/*", "domain": "global",
                                                  "reason": "invalidArgument"}]}
    assert emulator.wait_push_idle() and receiver.pushes == []
    emulator.configure_push("projects/other-project/topics/gmail", receiver.url)  # the same client, its own project
    assert other.users().watch(userId="me", body={"topicName": "projects/other-project/topics/gmail"}).execute()


def test_push_redelivery_and_pushes_over_one_a_second_dropped(service_for, emulator: GmailEmulator,
                                                               receiver: PushReceiver) -> None:
    emulator.configure_push(TOPIC, receiver.url, min_backoff=0.05)
    service_for(BOB).users().watch(userId="me", body={"topicName": TOPIC}).execute()
    receiver.statuses.extend([503, 500])
    ann = service_for(ANN)
    ann.users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, "one")}).execute()
    pushes = receiver.wait_for(3)
    assert len({p.body["message"]["messageId"] for p in pushes}) == 1  # the same message, redelivered
    assert emulator.wait_push_idle()  # the attempt is recorded after the receiver answered
    assert [a.status for a in emulator.push_attempts] == [503, 500, 204]

    # https://developers.google.com/workspace/gmail/api/guides/push#notification_limits: at most one
    # notification per second per user, "any user notifications above that rate will be dropped".
    emulator.advance_clock(2)
    emulator.set_time_scale(0.01)  # the burst fits in one emulated second whatever the machine's load
    before = len(receiver.pushes)
    for i in range(4):
        ann.users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, f"burst {i}")}).execute()
    assert emulator.wait_push_idle()
    assert len(receiver.pushes) - before == 1 and emulator.dropped_pushes(BOB) == 3
    latest = int(service_for(BOB).users().getProfile(userId="me").execute()["historyId"])
    assert int(receiver.pushes[-1].data["historyId"]) < latest  # the first change's: nothing coalesced into it
    emulator.set_time_scale(1)
    emulator.advance_clock(1)
    ann.users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, "after a second")}).execute()
    assert len(receiver.wait_for(before + 2)) == before + 2


def test_push_faults_drop_duplicate_reorder(service_for, emulator: GmailEmulator, receiver: PushReceiver) -> None:
    emulator.configure_push(TOPIC, receiver.url)
    emulator.set_push_interval(0)
    service_for(BOB).users().watch(userId="me", body={"topicName": TOPIC}).execute()
    ann = service_for(ANN)

    def send(subject: str, wait: bool = True) -> None:
        ann.users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, subject)}).execute()
        assert not wait or emulator.wait_push_idle()

    emulator.drop_pushes(next_n=1)
    send("lost")
    assert receiver.pushes == []
    emulator.duplicate_pushes(next_n=1)
    send("twice")
    assert len(receiver.pushes) == 2 and receiver.pushes[0].body == receiver.pushes[1].body
    emulator.reorder_pushes(2)
    send("a", wait=False)
    send("b")
    emulator.reorder_pushes(0)
    last_two = [int(p.data["historyId"]) for p in receiver.wait_for(4)[2:]]
    assert last_two == sorted(last_two, reverse=True)
    emulator.delay_pushes(0.3, next_n=1)
    started = time.monotonic()
    send("late", wait=False)
    receiver.wait_for(5)
    assert len(receiver.pushes) == 5 and time.monotonic() - started >= 0.3


# -- batch and quota -----------------------------------------------------------------------------
def _send_some(service, count: int) -> list[str]:
    return [service.users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, f"B{i}")}).execute()["id"]
            for i in range(count)]


def test_batch_of_message_gets(service_for, emulator: GmailEmulator, urls: GmailUrls) -> None:
    ann = service_for(ANN)
    ids = _send_some(ann, 5)
    emulator.reset_request_log()
    results: dict[str, Any] = {}

    def collect(request_id: str, response: Any, exception: Exception | None) -> None:
        results[request_id] = exception or response

    batch = BatchHttpRequest(callback=collect, batch_uri=urls.batch_uri)
    for message_id in ids:
        batch.add(ann.users().messages().get(userId="me", id=message_id, format="metadata",
                                             metadataHeaders=["Subject"]), request_id=message_id)
    batch.add(ann.users().messages().get(userId="me", id="0000000000000000"), request_id="missing")
    batch.execute()
    assert [results[i]["payload"]["headers"][0]["value"] for i in ids] == [f"B{i}" for i in range(5)]
    assert isinstance(results["missing"], HttpError) and results["missing"].status_code == 404
    assert emulator.request_counts()["gmail.users.messages.get"] == 6
    assert emulator.quota_units()["gmail.users.messages.get"] == 6 * 20  # the 404 is charged too
    assert all(c.in_batch for c in emulator.request_log() if c.method == "gmail.users.messages.get")


def test_large_batch_draws_concurrency_429s(service_for, emulator: GmailEmulator, urls: GmailUrls) -> None:
    ann = service_for(ANN)
    message_id = _send_some(ann, 1)[0]
    emulator.set_batch_overload(threshold=50, probability=1.0)
    failures: list[HttpError] = []

    def collect(_: str, __: Any, exception: Exception | None) -> None:
        if isinstance(exception, HttpError):
            failures.append(exception)

    batch = BatchHttpRequest(callback=collect, batch_uri=urls.batch_uri)
    for _ in range(60):
        batch.add(ann.users().messages().get(userId="me", id=message_id, format="minimal"))
    batch.execute()
    assert len(failures) == 10
    overloaded = {(_error(f)["message"], f.status_code) for f in failures}
    assert overloaded == {("Too many concurrent requests for user.", 429)}

    too_big = BatchHttpRequest(batch_uri=urls.batch_uri)
    for _ in range(101):
        too_big.add(ann.users().messages().get(userId="me", id=message_id, format="minimal"))
    with pytest.raises(HttpError) as refused:
        too_big.execute()
    assert refused.value.status_code == 400


def test_quota_exhaustion_and_storms(service_for, emulator: GmailEmulator) -> None:
    # https://developers.google.com/workspace/gmail/api/reference/quota: 6,000 units per user per minute
    # for projects created since May 2026; over it 403 userRateLimitExceeded (guides/handle-errors).
    assert emulator.quota.per_user_per_minute == 6_000
    ann = service_for(ANN)
    message_id = _send_some(ann, 1)[0]  # 100 units
    emulator.set_quota(per_user_per_minute=180)
    for _ in range(4):  # 20 units each
        ann.users().messages().get(userId="me", id=message_id, format="minimal").execute()
    with pytest.raises(HttpError) as user_limit:
        ann.users().messages().get(userId="me", id=message_id, format="minimal").execute()
    assert user_limit.value.status_code == 403 and user_limit.value.reason == "User Rate Limit Exceeded"
    assert _error(user_limit.value) == {
        "code": 403, "message": "User Rate Limit Exceeded", "status": "PERMISSION_DENIED",
        "errors": [{"message": "User Rate Limit Exceeded", "domain": "usageLimits", "reason": "userRateLimitExceeded"}]}
    emulator.set_quota(per_user_per_minute=180, error_status=429)
    with pytest.raises(HttpError) as exhausted:
        ann.users().messages().get(userId="me", id=message_id).execute()
    assert exhausted.value.status_code == 429 and int(exhausted.value.resp["retry-after"]) > 0
    assert _error(exhausted.value)["errors"][0]["reason"] == "rateLimitExceeded"
    emulator.advance_clock(61)  # the per-minute window slides
    ann.users().messages().get(userId="me", id=message_id).execute()
    emulator.set_quota(units={"gmail.users.messages.get": 50})  # a figure Google changes: one setting
    ann.users().messages().get(userId="me", id=message_id).execute()
    assert emulator.request_log()[-1].units == 50

    emulator.set_quota(per_user_per_minute=15_000)
    emulator.quota_storm(next_n=2, retry_after=7, methods=["gmail.users.history.list"])
    for _ in range(2):
        with pytest.raises(HttpError) as storm:
            ann.users().history().list(userId="me", startHistoryId="1").execute()
        assert storm.value.status_code == 429 and storm.value.resp["retry-after"] == "7"
    ann.users().history().list(userId="me", startHistoryId="1").execute()
    emulator.fail_requests(503, next_n=1)
    with pytest.raises(HttpError) as unavailable:
        ann.users().getProfile(userId="me").execute()
    assert unavailable.value.status_code == 503


# -- shapes from the public documentation ---------------------------------------------------------
def test_shapes_match_the_public_reference(service_for, emulator: GmailEmulator, urls: GmailUrls,
                                           receiver: PushReceiver) -> None:
    emulator.configure_push("projects/myproject/topics/mytopic", receiver.url,
                            subscription_name="projects/myproject/subscriptions/mysubscription")
    client = "1-myproject.apps.googleusercontent.com"  # the documented topic is in "myproject": so is the client
    emulator.register_oauth_client(client, "secret", [], project_id="myproject")
    bob = gmail(urls, Credentials(emulator.issue_access_token(BOB, [MAIL_SCOPE], client)))
    start = bob.users().watch(userId="me", body={"topicName": "projects/myproject/topics/mytopic"}).execute()
    ann = service_for(ANN)
    sent = ann.users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, "Shape", bcc=DROPBOX)}).execute()
    message = ann.users().messages().get(userId="me", id=sent["id"], format="metadata",
                                         metadataHeaders=["Subject", "Bcc"]).execute()
    assert_documented_shape("gmail/message_metadata.json", message, exact=True)

    ann.users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, "Shape 2")}).execute()
    history = bob.users().history().list(userId="me", startHistoryId=start["historyId"], maxResults=1).execute()
    assert_documented_shape("gmail/history_list.json", history, exact=True)

    push = receiver.wait_for(1)[0]
    assert_documented_shape("gmail/pubsub_push.json", push.body)  # Pub/Sub may add attributes, orderingKey …
    data = documented("gmail/pubsub_push.json")["message"]["data"]
    assert shape_problems(json.loads(base64.b64decode(data)), push.data, exact=True) == []
